"""What the background worker delivers on Telegram: students' outbox, and the counselors' group."""

from __future__ import annotations

from functools import partial
from typing import Any

from bot.main import App
from bot.telegram.alerts import deliver_alerts
from bot.telegram.outbox import deliver_due
from bot.worker import Deliver


def telegram_deliverers(app: App, bot: Any, public_base_url: str | None) -> list[Deliver]:
    found: list[Deliver] = [partial(deliver_due, app, bot, public_base_url)]
    group_id = app.settings.telegram.counselor_group_id
    if group_id is not None:
        found.append(partial(deliver_alerts, app, bot, group_id, public_base_url))
    return found
