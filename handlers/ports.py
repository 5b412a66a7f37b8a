"""Ports: what the core needs from the outside world, stated as Protocols."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from handlers.models import (
    Analysis,
    Button,
    Channel,
    Conversation,
    ConversationState,
    Direction,
    MessageKind,
    StoredMessage,
    Tactic,
    User,
)

# The texts the core asks the library for, with the placeholders each may use.
TEXT_KEYS: dict[str, frozenset[str]] = {
    "welcome": frozenset({"retention_days"}),
    "start_prompt": frozenset(),
    "help": frozenset(),
    "empty_message": frozenset(),
    "message_truncated": frozenset({"limit"}),
    "image_not_supported_yet": frozenset(),
    "sticker_received": frozenset(),
    "voice_not_supported": frozenset(),
    "file_not_supported": frozenset(),
    "location_received": frozenset(),
    "unsupported_message": frozenset(),
    "unknown_action": frozenset(),
    "unknown_command": frozenset(),
    "unsure": frozenset(),
    "crisis": frozenset(),
    "hotline": frozenset(),
    "counselor_not_available": frozenset(),
    "analysis_intro": frozenset(),
    "analysis_tactic_line": frozenset({"name", "quote"}),
    "analysis_tactic_line_noquote": frozenset({"name"}),
    "analysis_next_steps": frozenset(),
    "temporary_error": frozenset(),
    "delete_confirm": frozenset(),
    "deleted": frozenset(),
    "delete_cancelled": frozenset(),
}
# The action ids a button may carry.
ACTIONS: frozenset[str] = frozenset(
    {"call_111", "talk_to_counselor", "learn_more", "menu", "delete_confirm", "delete_cancel"}
)


class ClassifierUnavailable(Exception):
    """The classifier could not answer (server down, timeout, broken model)."""


class StorageUnavailable(Exception):
    """The database could not be read or written."""


class Classifier(Protocol):
    name: str

    async def analyze(self, text: str) -> Analysis:
        """Return the tactics, crisis flag and evidence found in one message."""
        ...


class GuidanceLibrary(Protocol):
    def text(self, key: str, **values: str) -> str:
        """The teen-facing text stored under `key`, with `{name}` placeholders filled."""
        ...

    def label(self, action: str) -> str:
        """The button label for an action id."""
        ...

    def tactic_name(self, tactic: Tactic) -> str:
        """The short Vietnamese name of a tactic."""
        ...

    def tactic_guidance(self, tactic: Tactic) -> str:
        """How to recognise a tactic and what to do, as one text."""
        ...

    def has(self, key: str) -> bool:
        """True when the library has a text under `key`."""
        ...


class UserRepository(Protocol):
    async def get(self, user_id: str) -> User | None:
        """The user with this pseudonymous id, if any."""
        ...

    async def touch(self, user_id: str, channel: Channel, chat_id: str | None, now: datetime) -> User:
        """Create the user or update when it was last seen (and its delivery chat id)."""
        ...

    async def delete(self, user_id: str) -> bool:
        """Delete the user and everything stored about them; False when there was nothing."""
        ...


class ConversationRepository(Protocol):
    async def current(self, user_id: str) -> Conversation | None:
        """The user's most recent conversation, if any."""
        ...

    async def open(self, user_id: str, now: datetime) -> Conversation:
        """Start a new conversation in state `bot`."""
        ...

    async def set_state(self, conversation_id: int, state: ConversationState, now: datetime) -> None:
        """Move a conversation to another state."""
        ...


class MessageRepository(Protocol):
    async def add(
        self,
        *,
        conversation_id: int,
        direction: Direction,
        kind: MessageKind,
        now: datetime,
        text: str | None = None,
        action: str | None = None,
        buttons: tuple[Button, ...] = (),
    ) -> int:
        """Store one message and return its id."""
        ...

    async def attach_analysis(self, message_id: int, analysis: Analysis) -> None:
        """Record the classifier's analysis on an incoming message."""
        ...

    async def list_for(self, conversation_id: int) -> list[StoredMessage]:
        """All messages of a conversation, oldest first."""
        ...


class UnitOfWork(Protocol):
    @property
    def users(self) -> UserRepository: ...

    @property
    def conversations(self) -> ConversationRepository: ...

    @property
    def messages(self) -> MessageRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None:
        """Make everything done in this unit permanent."""
        ...

    async def rollback(self) -> None:
        """Undo everything not yet committed."""
        ...
