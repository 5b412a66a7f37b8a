"""One retry policy for Bot API calls, used by every send of the Telegram channel.

A network error, a timeout or a 5xx is tried again after a short wait; a 429 is waited out when its
wait fits the caller's budget (`max_wait_s`); a refusal (400, 403) is raised at once. What is still
failing after `attempts` tries is raised to the caller, who decides: the outbox tries it again later,
a reply that has no outbox item is logged by the error handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

T = TypeVar("T")
# The first quick retry waits 0.5 s, the next 1 s, then 2 s ...
BASE_WAIT_S = 0.25


def retry_after_s(exc: RetryAfter) -> float:
    """Telegram's requested wait in seconds (PTB gives an int today and a timedelta in future)."""
    wait = exc.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


async def call_api(call: Callable[[], Awaitable[T]], *, attempts: int, max_wait_s: float = 0.0) -> T:
    """Run `call()`, retrying as above; the last error is raised as PTB raised it."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except (BadRequest, Forbidden):
            raise  # the chat is gone or the request is wrong: trying again changes nothing
        except RetryAfter as exc:
            wait = retry_after_s(exc)
            if wait > max_wait_s or attempt == attempts:
                raise
            await asyncio.sleep(wait)
        except NetworkError:  # also timeouts and 5xx
            if attempt == attempts:
                raise
            await asyncio.sleep(BASE_WAIT_S * 2**attempt)
    raise AssertionError("call_api needs attempts >= 1")
