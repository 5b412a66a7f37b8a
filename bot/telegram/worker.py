"""The channel's background worker: the outbox, waiting cases and the counselors' group, every second."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.main import App
from bot.telegram.alerts import deliver_alerts
from bot.telegram.outbox import deliver_due

log = logging.getLogger(__name__)


async def outbox_loop(app: App, bot: Any, public_base_url: str | None, every_s: float = 1.0) -> None:
    """Deliver the outbox and check waiting cases while the channel runs (a restart resumes it)."""
    group_id = app.settings.telegram.counselor_group_id
    while True:
        try:
            await deliver_due(app, bot, public_base_url)
            await app.check_waiting()
            if group_id is not None:
                await deliver_alerts(app, bot, group_id, public_base_url)
        except Exception:  # the loop must survive a database hiccup; the error is logged with its type
            log.exception("outbox loop failed; retrying", extra={"channel": "telegram"})
        await asyncio.sleep(every_s)
