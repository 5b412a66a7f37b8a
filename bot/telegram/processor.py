"""Updates of one chat are processed in order; different chats concurrently."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.chatlocks import ChatLocks


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """A lock per chat: a student's second message waits for the answer to the first."""

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self._chats = ChatLocks()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the update's handlers while holding its chat's lock."""
        key = update.effective_chat.id if isinstance(update, Update) and update.effective_chat else None
        async with self._chats.hold(key):
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
