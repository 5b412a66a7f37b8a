"""SQLAlchemy implementations of the core's repository ports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.models import (
    Analysis,
    Button,
    Channel,
    Conversation,
    ConversationState,
    Direction,
    MessageKind,
    StoredMessage,
    User,
)
from storage.models import ConversationRow, MessageRow, UserRow


class SqlAlchemyUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: str) -> User | None:
        """The user with this pseudonymous id, if any."""
        row = await self.session.get(UserRow, user_id)
        return User.model_validate(row, from_attributes=True) if row else None

    async def touch(self, user_id: str, channel: Channel, chat_id: str | None, now: datetime) -> User:
        """Create the user or update when it was last seen (and its delivery chat id)."""
        row = await self.session.get(UserRow, user_id)
        if row is None:
            row = UserRow(
                id=user_id, channel=channel.value, chat_id=chat_id, created_at=now, last_seen_at=now
            )
            self.session.add(row)
        else:
            row.last_seen_at = now
            if chat_id is not None:
                row.chat_id = chat_id
        await self.session.flush()
        return User.model_validate(row, from_attributes=True)

    async def delete(self, user_id: str) -> bool:
        """Delete the user and everything stored about them; False when there was nothing."""
        conversations = select(ConversationRow.id).where(ConversationRow.user_id == user_id)
        await self.session.execute(delete(MessageRow).where(MessageRow.conversation_id.in_(conversations)))
        await self.session.execute(delete(ConversationRow).where(ConversationRow.user_id == user_id))
        result = await self.session.execute(delete(UserRow).where(UserRow.id == user_id))
        return bool(getattr(result, "rowcount", 0))


class SqlAlchemyConversationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def current(self, user_id: str) -> Conversation | None:
        """The user's most recent conversation, if any."""
        stmt = (
            select(ConversationRow)
            .where(ConversationRow.user_id == user_id)
            .order_by(ConversationRow.id.desc())
            .limit(1)
        )
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        return Conversation.model_validate(row, from_attributes=True) if row else None

    async def open(self, user_id: str, now: datetime) -> Conversation:
        """Start a new conversation in state `bot`."""
        row = ConversationRow(
            user_id=user_id, state=ConversationState.BOT.value, started_at=now, updated_at=now
        )
        self.session.add(row)
        await self.session.flush()
        return Conversation.model_validate(row, from_attributes=True)

    async def set_state(self, conversation_id: int, state: ConversationState, now: datetime) -> None:
        """Move a conversation to another state."""
        await self.session.execute(
            update(ConversationRow)
            .where(ConversationRow.id == conversation_id)
            .values(state=state.value, updated_at=now)
        )


class SqlAlchemyMessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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
        row = MessageRow(
            conversation_id=conversation_id,
            direction=direction.value,
            kind=kind.value,
            text=text,
            action=action,
            buttons=[b.model_dump() for b in buttons],
            created_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        await self.session.execute(
            update(ConversationRow).where(ConversationRow.id == conversation_id).values(updated_at=now)
        )
        return row.id

    async def attach_analysis(self, message_id: int, analysis: Analysis) -> None:
        """Record the classifier's analysis on an incoming message."""
        await self.session.execute(
            update(MessageRow)
            .where(MessageRow.id == message_id)
            .values(analysis=analysis.model_dump(mode="json"))
        )

    async def list_for(self, conversation_id: int) -> list[StoredMessage]:
        """All messages of a conversation, oldest first."""
        stmt = select(MessageRow).where(MessageRow.conversation_id == conversation_id).order_by(MessageRow.id)
        rows = (await self.session.execute(stmt)).scalars().all()
        return [StoredMessage.model_validate(r, from_attributes=True) for r in rows]
