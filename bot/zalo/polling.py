"""Long polling into the inbox (`notalone run zalo`): each update Zalo hands out is stored before the
next getUpdates, then handled exactly as a webhook's update is.

Zalo's getUpdates has no offset: an update is Zalo's to forget once it is handed out. So a database
outage holds polling until the update is stored (Zalo keeps the next ones), and only a stop during
such an outage loses the one update in hand (logged as an error). A process killed between getting
and storing an update loses that update; one stored is handled on restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.inbox import Inbox, pause, store_patiently
from bot.main import StartupError
from bot.zalo.channel import UNAUTHORIZED, ZaloChannel
from bot.zalo.client import ZaloError, ZaloRateLimited, ZaloUnauthorized
from handlers.models import Channel

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0


async def poll(channel: ZaloChannel, inbox: Inbox, stop: asyncio.Event) -> None:
    """getUpdates until `stop` is set, each update stored in the inbox before the next call; a refused
    token ends it with a StartupError. 403, 5xx and timeouts back off; a 429 waits out its quiet time."""
    backoff = 1.0
    timeout = channel.app.settings.zalo.poll_timeout_s
    while not stop.is_set():
        getting = asyncio.create_task(channel.client.get_updates(timeout))
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if getting not in done:
            getting.cancel()
            with contextlib.suppress(asyncio.CancelledError, ZaloError):
                await getting
            break
        try:
            payload = getting.result()
        except ZaloUnauthorized:
            raise StartupError(UNAUTHORIZED) from None
        except ZaloRateLimited as exc:
            await pause(stop, exc.retry_after)
            continue
        except ZaloError as exc:
            log.warning("zalo getUpdates failed", extra={"channel": "zalo", "error": type(exc).__name__})
            await pause(stop, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            continue
        backoff = 1.0
        update = channel.accepts(payload) if payload is not None else None
        if update is None:
            continue
        chat_id, delivery_id = channel.address(update)
        if not await store_patiently(inbox, Channel.ZALO, chat_id, delivery_id, payload, stop):
            log.error(
                "zalo update lost: stopped while the database was down", extra={"channel": "zalo", "count": 1}
            )
            return
