"""The Bot API retry policy: which errors are tried again, how often, and which are raised at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.telegram import calls
from bot.telegram.calls import call_api, retry_after_s

# PTB warns that `retry_after` will become a timedelta: retry_after_s takes both.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class Script:
    """A Bot API call that fails with the scripted errors, then answers "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.count = 0

    async def __call__(self) -> str:
        self.count += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(calls.asyncio, "sleep", sleep)
    return waits


async def test_a_blip_is_tried_again_with_growing_waits(no_waiting: list[float]) -> None:
    call = Script(TimedOut(), NetworkError("502 Bad Gateway"))
    assert await call_api(call, attempts=3) == "ok"
    assert call.count == 3
    assert no_waiting == [0.5, 1.0]


async def test_an_outage_longer_than_the_attempts_raises_the_last_error() -> None:
    call = Script(*[NetworkError("500") for _ in range(3)])
    with pytest.raises(NetworkError):
        await call_api(call, attempts=3)
    assert call.count == 3


@pytest.mark.parametrize("error", [BadRequest("chat not found"), Forbidden("bot was blocked by the user")])
async def test_a_refusal_is_never_tried_again(error: Exception) -> None:
    call = Script(error)
    with pytest.raises(type(error)):
        await call_api(call, attempts=4, max_wait_s=60)
    assert call.count == 1


async def test_a_rate_limit_is_waited_out_only_within_the_budget(no_waiting: list[float]) -> None:
    within = Script(RetryAfter(3))
    assert await call_api(within, attempts=4, max_wait_s=60) == "ok"
    assert no_waiting == [3.0]
    beyond = Script(RetryAfter(3))
    with pytest.raises(RetryAfter):
        await call_api(beyond, attempts=4, max_wait_s=0)
    assert beyond.count == 1


def test_retry_after_in_seconds_as_an_int_today_or_a_timedelta_later(monkeypatch: pytest.MonkeyPatch) -> None:
    exc = RetryAfter(timedelta(seconds=2.5))
    monkeypatch.setenv("PTB_TIMEDELTA", "false")
    assert not isinstance(exc.retry_after, timedelta)
    assert retry_after_s(exc) == 2.5
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # what PTB will give in a future major version
    assert isinstance(exc.retry_after, timedelta)
    assert retry_after_s(exc) == 2.5
