"""Delivering the outbox (counselors' messages, notices) to Telegram: retried until sent, sent once."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.main import App
from bot.telegram.render import keyboard
from handlers.models import Channel

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
BATCH = 50
MAX_BACKOFF_S = 300


async def deliver_due(app: App, bot: Any, public_base_url: str | None, *, now: datetime | None = None) -> int:
    """Send what is due now; each item is leased first, so two workers never send the same one."""
    core = app.core
    now = now or core.clock()
    async with core.uow() as uow:
        items = await uow.outbox.take_due(Channel.TELEGRAM, now, now + LEASE, BATCH)
        chats = {i.user_id: (await uow.users.get(i.user_id)) for i in items}
        await uow.commit()
    sent = 0
    for item in items:
        user = chats.get(item.user_id)
        async with core.uow() as uow:
            if user is None or user.chat_id is None:
                await uow.outbox.give_up(item.id)
            else:
                try:
                    await bot.send_message(
                        int(user.chat_id), item.text, reply_markup=keyboard(item.buttons, public_base_url)
                    )
                except (Forbidden, BadRequest):
                    log.warning(
                        "outbox item undeliverable", extra={"user": item.user_id, "channel": "telegram"}
                    )
                    await uow.outbox.give_up(item.id)
                except (RetryAfter, NetworkError) as exc:
                    wait = min(MAX_BACKOFF_S, 2 ** min(item.attempts, 8))
                    log.warning(
                        "outbox send failed; will retry",
                        extra={"user": item.user_id, "error": type(exc).__name__},
                    )
                    await uow.outbox.retry_at(item.id, now + timedelta(seconds=wait))
                else:
                    # Marked sent in its own transaction right after Telegram accepted it.
                    await uow.outbox.mark_sent(item.id, core.clock())
                    sent += 1
            await uow.commit()
    return sent


async def outbox_loop(app: App, bot: Any, public_base_url: str | None, every_s: float = 1.0) -> None:
    """Deliver the outbox and check waiting cases while the channel runs (a restart resumes it)."""
    while True:
        try:
            await deliver_due(app, bot, public_base_url)
            await app.check_waiting()
        except Exception:  # the loop must survive a database hiccup; the error is logged with its type
            log.exception("outbox loop failed; retrying", extra={"channel": "telegram"})
        await asyncio.sleep(every_s)
