"""The background worker of a running bot: every second, deliver each channel's outbox and tell
students whose case waits too long. One loop per process, whatever channels it serves."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.main import App

log = logging.getLogger(__name__)
Deliver = Callable[[], Awaitable[int]]


async def outbox_loop(app: App, deliverers: Sequence[Deliver], every_s: float = 1.0) -> None:
    """Run until cancelled; a restart resumes where it stopped (the outbox is in the database)."""
    while True:
        try:
            await app.check_waiting()
            for deliver in deliverers:
                await deliver()
        except Exception:  # the loop must survive a database hiccup; the error is logged with its type
            log.exception("outbox loop failed; retrying")
        await asyncio.sleep(every_s)
