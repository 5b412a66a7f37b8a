"""Delivering the outbox to Telegram: counselors' messages and notices to students, alerts to the
counselors' group. Each item is retried until sent and sent once; a student's items keep their order.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.main import App
from bot.telegram.render import keyboard
from handlers.models import Channel, OutboxItem

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
BATCH = 50
# Rounds per call: only the oldest pending item of a student is due, so a burst takes several rounds.
ROUNDS = 20
MAX_BACKOFF_S = 300

Send = Callable[[OutboxItem, Any], Awaitable[None]]


async def deliver_items(
    app: App, audience: str, send: Send, *, now: datetime | None = None, rounds: int = ROUNDS
) -> int:
    """Lease what is due, send it, and record the result; two workers never send the same item."""
    core = app.core
    now = now or core.clock()
    sent = 0
    for _ in range(rounds):
        async with core.uow() as uow:
            items = await uow.outbox.take_due(Channel.TELEGRAM, now, now + LEASE, BATCH, audience=audience)
            users = {i.user_id: (await uow.users.get(i.user_id)) for i in items}
            await uow.commit()
        if not items:
            break
        for item in items:
            sent += await _deliver_one(app, item, users.get(item.user_id), send, now)
    return sent


async def _deliver_one(app: App, item: OutboxItem, user: Any, send: Send, now: datetime) -> int:
    core = app.core
    async with core.uow() as uow:
        try:
            await send(item, user)
        except (Forbidden, BadRequest, LookupError) as exc:
            log.warning(
                "outbox item undeliverable",
                extra={"user": item.user_id, "channel": "telegram", "error": type(exc).__name__},
            )
            await uow.outbox.give_up(item.id)
            sent = 0
        except (RetryAfter, NetworkError) as exc:
            wait = min(MAX_BACKOFF_S, 2 ** min(item.attempts, 8))
            log.warning(
                "outbox send failed; will retry", extra={"user": item.user_id, "error": type(exc).__name__}
            )
            await uow.outbox.retry_at(item.id, now + timedelta(seconds=wait))
            sent = 0
        else:
            # Marked sent in its own transaction right after Telegram accepted it.
            await uow.outbox.mark_sent(item.id, core.clock())
            sent = 1
        await uow.commit()
    return sent


async def deliver_due(app: App, bot: Any, public_base_url: str | None, *, now: datetime | None = None) -> int:
    """Send students what is due for them now (counselors' replies and notices)."""

    async def send(item: OutboxItem, user: Any) -> None:
        if user is None or user.chat_id is None:
            raise LookupError("the student deleted their data")
        await bot.send_message(
            int(user.chat_id), item.text, reply_markup=keyboard(item.buttons, public_base_url)
        )

    return await deliver_items(app, "student", send, now=now)
