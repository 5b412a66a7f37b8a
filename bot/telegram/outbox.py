"""Delivering the outbox to students on Telegram (counselors' replies and notices)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.main import App
from bot.outbox import TryLater, Undeliverable, deliver_items, deliver_leased
from bot.telegram.calls import call_api
from bot.telegram.render import keyboard
from handlers.models import Channel, OutboxItem

# A failed send is tried again at once this many times (short waits) before the outbox retries it later.
QUICK_ATTEMPTS = 3


async def translated(call: Callable[[], Awaitable[Any]]) -> None:
    """Run a Bot API call; Telegram's errors become the outbox's (gone for good, or try later).
    A network error or 5xx is retried quickly first: a student waiting for an answer should not
    wait for the next round of the outbox over a blip. (PTB's rate limiter waits out 429s; one that
    still comes through goes back to the outbox, which waits.)"""
    try:
        await call_api(call, attempts=QUICK_ATTEMPTS)
    except (Forbidden, BadRequest) as exc:
        raise Undeliverable(type(exc).__name__) from exc
    except (RetryAfter, NetworkError) as exc:  # NetworkError covers timeouts and 5xx
        raise TryLater(type(exc).__name__) from exc


async def deliver_due(
    app: App,
    bot: Any,
    public_base_url: str | None,
    *,
    now: datetime | None = None,
    user_id: str | None = None,
) -> int:
    """Send students on Telegram what is due for them now (with `user_id`: that student's only)."""

    async def send(item: Any, user: Any) -> None:
        if user is None or user.chat_id is None:
            raise Undeliverable("the student deleted their data")
        markup = keyboard(item.buttons, public_base_url)
        await translated(lambda: bot.send_message(int(user.chat_id), item.text, reply_markup=markup))

    return await deliver_items(app, Channel.TELEGRAM, "student", send, now=now, user_id=user_id)


async def deliver_leased_to(
    app: App, bot: Any, public_base_url: str | None, items: tuple[OutboxItem, ...], chat_id: int
) -> int:
    """Send a turn's leased items to the chat the student wrote from (no lookup of the user row)."""

    async def send(item: OutboxItem, _user: Any) -> None:
        markup = keyboard(item.buttons, public_base_url)
        await translated(lambda: bot.send_message(chat_id, item.text, reply_markup=markup))

    return await deliver_leased(app, items, send)
