"""Long polling into the inbox (`notalone run telegram`): an update is confirmed to Telegram (by the
next getUpdates' offset) only once it is stored, then handled exactly as a webhook's update is.

A process killed after fetching updates loses nothing: what was not stored is not confirmed and
Telegram sends it again; what was stored is handled on restart (the inbox drops the repeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Bot, Update
from telegram.error import InvalidToken, TelegramError

from bot.inbox import Inbox, pause, store_patiently
from bot.main import StartupError
from bot.web import telegram_chat
from handlers.models import Channel

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0


async def poll(bot: Bot, inbox: Inbox, stop: asyncio.Event, timeout_s: int) -> None:
    """getUpdates until `stop` is set, each update stored in the inbox before the next offset
    confirms it; a refused token ends it with a StartupError."""
    offset: int | None = None
    backoff = 1.0
    while not stop.is_set():
        getting = asyncio.create_task(
            bot.get_updates(offset=offset, timeout=timeout_s, allowed_updates=Update.ALL_TYPES)
        )
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if getting not in done:
            getting.cancel()  # what it would have fetched is not confirmed: Telegram keeps it
            with contextlib.suppress(asyncio.CancelledError, TelegramError):
                await getting
            break
        try:
            updates = getting.result()
        except InvalidToken:
            raise StartupError("Telegram refused the bot token: check NOTALONE_TELEGRAM__TOKEN") from None
        except TelegramError as exc:  # network, timeout, 5xx, or another process polling (Conflict)
            log.warning(
                "telegram getUpdates failed", extra={"channel": "telegram", "error": type(exc).__name__}
            )
            await pause(stop, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            continue
        backoff = 1.0
        for update in updates:
            stored = await store_patiently(
                inbox, Channel.TELEGRAM, telegram_chat(update), f"u{update.update_id}", update.to_dict(), stop
            )
            if not stored:
                return  # stopping while the database is down: the rest comes again next time
            offset = update.update_id + 1
    if offset is not None:
        # Confirm the last stored updates (otherwise Telegram sends them again and the inbox drops them).
        with contextlib.suppress(TelegramError):
            await bot.get_updates(offset=offset, timeout=0, limit=1)
