"""Delivering the outbox, for any channel: counselors' messages and notices to students, alerts to the
counselors' group. Each item is leased, sent, and marked sent or retried; a student's items keep
their order (only the oldest pending one is due) and each is sent once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.main import App
from handlers.models import Channel, OutboxItem

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
BATCH = 50
# Rounds per call: only the oldest pending item of a student is due, so a burst takes several rounds.
ROUNDS = 20
MAX_BACKOFF_S = 300


class Undeliverable(Exception):
    """The item can never be delivered (the student blocked the bot, deleted their data, ...)."""


class TryLater(Exception):
    """The platform could not take the item now (rate limit, outage, timeout)."""


Send = Callable[[OutboxItem, Any], Awaitable[None]]


async def deliver_items(
    app: App,
    channel: Channel,
    audience: str,
    send: Send,
    *,
    now: datetime | None = None,
    rounds: int = ROUNDS,
) -> int:
    """Lease what is due, send it with `send(item, user)`, and record the result."""
    core = app.core
    now = now or core.clock()
    sent = 0
    for _ in range(rounds):
        async with core.uow() as uow:
            items = await uow.outbox.take_due(channel, now, now + LEASE, BATCH, audience=audience)
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
        except Undeliverable as exc:
            log.warning(
                "outbox item undeliverable",
                extra={"user": item.user_id, "channel": item.channel.value, "error": str(exc)[:80]},
            )
            await uow.outbox.give_up(item.id)
            sent = 0
        except TryLater as exc:
            wait = min(MAX_BACKOFF_S, 2 ** min(item.attempts, 8))
            log.warning(
                "outbox send failed; will retry",
                extra={"user": item.user_id, "channel": item.channel.value, "error": str(exc)[:80]},
            )
            await uow.outbox.retry_at(item.id, now + timedelta(seconds=wait))
            sent = 0
        else:
            # Marked sent in its own transaction right after the platform accepted it.
            await uow.outbox.mark_sent(item.id, core.clock())
            sent = 1
        await uow.commit()
    return sent
