"""SQLAlchemy implementations of the core's repository ports."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.models import (
    Analysis,
    Button,
    Channel,
    Conversation,
    ConversationState,
    Direction,
    MessageKind,
    SeenDelivery,
    StoredMessage,
    User,
)
from storage.chat_ids import PREFIX, ChatIdCipher
from storage.models import (
    Base,
    CaseRow,
    ConversationRow,
    DeliveryRow,
    FeedbackRow,
    MessageRow,
    OutboxRow,
    UserRow,
    UtcDateTime,
)

# last_seen_at is kept to the minute: a student's every message need not write the user row.
LAST_SEEN_STEP = timedelta(minutes=1)
# The statements of every turn go through the tables (Core) and are built once, with parameters:
# building a statement and the ORM's unit of work each cost more CPU than running the statement.
USERS = Base.metadata.tables["users"]
CONVERSATIONS = Base.metadata.tables["conversations"]
MESSAGES = Base.metadata.tables["messages"]
DELIVERIES = Base.metadata.tables["deliveries"]
_NOW = bindparam("b_now", type_=UtcDateTime())
_USER = select(USERS).where(USERS.c.id == bindparam("b_id"))
_ADD_USER = insert(USERS)
# A student's newest conversation and their user row in one statement (a turn needs both).
_NEWEST = CONVERSATIONS.alias("newest")
_LATEST = select(func.max(_NEWEST.c.id)).where(_NEWEST.c.user_id == bindparam("b_user")).scalar_subquery()
_CURRENT = (
    select(*(c.label(f"u_{c.name}") for c in USERS.c), *CONVERSATIONS.c)
    .select_from(USERS.outerjoin(CONVERSATIONS, CONVERSATIONS.c.id == _LATEST))
    .where(USERS.c.id == bindparam("b_user"))
)
_SET_CONTEXT = (
    update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == bindparam("b_id"))
    .values(context=bindparam("b_context", type_=CONVERSATIONS.c.context.type), updated_at=_NOW)
)
_TOUCH_CONVERSATION = (
    update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("b_id")).values(updated_at=_NOW)
)
_ADD_MESSAGE = insert(MESSAGES).returning(MESSAGES.c.id)
_ANALYSIS = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("b_id"))
    .values(analysis=bindparam("b_analysis", type_=MESSAGES.c.analysis.type))
)
_RECORD_DELIVERY = {
    "postgresql": postgresql_insert(DELIVERIES).on_conflict_do_nothing().returning(DELIVERIES.c.delivery_id),
    "sqlite": sqlite_insert(DELIVERIES).on_conflict_do_nothing().returning(DELIVERIES.c.delivery_id),
}
_ANSWERED = (
    update(DELIVERIES)
    .where(
        DELIVERIES.c.channel == bindparam("b_channel"), DELIVERIES.c.delivery_id == bindparam("b_delivery")
    )
    .values(answered=True)
)


class SqlAlchemyUserRepository:
    """Users, their chat ids encrypted in the table and in clear in the `User`s returned."""

    def __init__(self, session: AsyncSession, chat_ids: ChatIdCipher) -> None:
        self.session = session
        self.chat_ids = chat_ids
        # What a student wrote was deleted: the unit of work scrubs the database files after commit.
        self.erased = False
        # The rows this unit of work read or wrote (None: there is none): a turn reads its user row
        # twice (get, then touch), which would cost a second SELECT.
        self._rows: dict[str, dict[str, Any] | None] = {}

    def _user(self, row: dict[str, Any]) -> User:
        chat_id = None if row["chat_id"] is None else self.chat_ids.decrypt(row["id"], row["chat_id"])
        return User(
            id=row["id"],
            channel=Channel(row["channel"]),
            chat_id=chat_id,
            created_at=row["created_at"],
            last_seen_at=row["last_seen_at"],
        )

    def remember(self, user_id: str, row: dict[str, Any] | None) -> None:
        """The user's row (None: there is none) as read with their conversation in this unit of work."""
        self._rows[user_id] = row

    async def _row(self, user_id: str) -> dict[str, Any] | None:
        if user_id not in self._rows:
            found = (await self.session.execute(_USER, {"b_id": user_id})).first()
            self._rows[user_id] = None if found is None else dict(found._mapping)
        return self._rows[user_id]

    async def get(self, user_id: str) -> User | None:
        """The user with this pseudonymous id, if any."""
        row = await self._row(user_id)
        return None if row is None else self._user(row)

    async def touch(self, user_id: str, channel: Channel, chat_id: str | None, now: datetime) -> User:
        """Create the user or update when it was last seen (to the minute) and its delivery chat id."""
        row = await self._row(user_id)
        if row is None:
            sealed = None if chat_id is None else self.chat_ids.encrypt(user_id, chat_id)
            row = {
                "id": user_id,
                "channel": channel.value,
                "chat_id": sealed,
                "created_at": now,
                "last_seen_at": now,
            }
            await self.session.execute(_ADD_USER, row)
            self._rows[user_id] = row
            return self._user(row)
        changes: dict[str, Any] = {}
        if now - row["last_seen_at"] >= LAST_SEEN_STEP:
            changes["last_seen_at"] = now
        # Written again only when it changed or is still in clear (a fresh nonce would change it).
        stored = row["chat_id"]
        if chat_id is not None and (
            stored is None
            or not self.chat_ids.encrypted(stored)
            or self.chat_ids.decrypt(user_id, stored) != chat_id
        ):
            changes["chat_id"] = self.chat_ids.encrypt(user_id, chat_id)
        if changes:
            await self.session.execute(update(USERS).where(USERS.c.id == user_id).values(changes))
            row.update(changes)
        return self._user(row)

    async def encrypt_clear_chat_ids(self) -> int:
        """Check that a stored chat id decrypts with this key (ChatIdKeyError otherwise), then encrypt
        the chat ids an older notalone stored in clear; how many there were."""
        sample = await self.session.execute(
            select(UserRow.id, UserRow.chat_id).where(UserRow.chat_id.like(f"{PREFIX}%")).limit(1)
        )
        for user_id, stored in sample:
            if stored is not None:
                self.chat_ids.decrypt(user_id, stored)
        found = await self.session.execute(
            select(UserRow.id, UserRow.chat_id).where(
                UserRow.chat_id.is_not(None), UserRow.chat_id.not_like(f"{PREFIX}%")
            )
        )
        rows = [
            {"user": user_id, "clear": clear, "sealed": self.chat_ids.encrypt(user_id, clear)}
            for user_id, clear in found
            if clear is not None
        ]
        if rows:
            users = Base.metadata.tables["users"]
            # Only where the value is still the clear one (another worker may be starting as well).
            stmt = (
                update(users)
                .where(users.c.id == bindparam("user"), users.c.chat_id == bindparam("clear"))
                .values(chat_id=bindparam("sealed"))
            )
            await self.session.execute(stmt, rows)
        return len(rows)

    async def delete(self, user_id: str) -> bool:
        """Delete the user and everything stored about them; False when there was nothing."""
        conversations = select(ConversationRow.id).where(ConversationRow.user_id == user_id)
        messages = select(MessageRow.id).where(MessageRow.conversation_id.in_(conversations))
        await self.session.execute(delete(FeedbackRow).where(FeedbackRow.message_id.in_(messages)))
        await self.session.execute(delete(OutboxRow).where(OutboxRow.user_id == user_id))
        await self.session.execute(delete(CaseRow).where(CaseRow.conversation_id.in_(conversations)))
        await self.session.execute(delete(MessageRow).where(MessageRow.conversation_id.in_(conversations)))
        await self.session.execute(delete(ConversationRow).where(ConversationRow.user_id == user_id))
        result = await self.session.execute(delete(UserRow).where(UserRow.id == user_id))
        self._rows.pop(user_id, None)
        self.erased = bool(getattr(result, "rowcount", 0))
        return self.erased


class SqlAlchemyConversationRepository:
    def __init__(self, session: AsyncSession, users: SqlAlchemyUserRepository | None = None) -> None:
        self.session = session
        # The user rows read along with a conversation are handed to the user repository.
        self.users = users
        # Conversations were purged: the unit of work scrubs the database files after commit.
        self.erased = False

    async def current(self, user_id: str) -> Conversation | None:
        """The user's most recent conversation, if any."""
        found = (await self.session.execute(_CURRENT, {"b_user": user_id})).first()
        values = {} if found is None else dict(found._mapping)
        if self.users is not None:
            user = {c.name: values[f"u_{c.name}"] for c in USERS.c} if values else None
            self.users.remember(user_id, user)
        if not values or values["id"] is None:
            return None
        return Conversation.model_validate({c.name: values[c.name] for c in CONVERSATIONS.c})

    async def by_id(self, conversation_id: int) -> Conversation | None:
        """One conversation."""
        row = await self.session.get(ConversationRow, conversation_id)
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

    async def set_context(self, conversation_id: int, context: dict[str, Any], now: datetime) -> None:
        """Replace the conversation's sub-state (practice round, awaited feedback reason)."""
        await self.session.execute(
            _SET_CONTEXT, {"b_id": conversation_id, "b_context": context, "b_now": now}
        )

    async def purge_before(self, cutoff: datetime) -> int:
        """Delete conversations never escalated and untouched since `cutoff`, with their messages,
        feedback, and users left with nothing; return how many conversations went."""
        old = select(ConversationRow.id).where(
            ConversationRow.updated_at < cutoff, ConversationRow.escalated_at.is_(None)
        )
        ids = list((await self.session.execute(old)).scalars())
        if not ids:
            return 0
        messages = select(MessageRow.id).where(MessageRow.conversation_id.in_(ids))
        await self.session.execute(delete(FeedbackRow).where(FeedbackRow.message_id.in_(messages)))
        await self.session.execute(delete(MessageRow).where(MessageRow.conversation_id.in_(ids)))
        await self.session.execute(delete(ConversationRow).where(ConversationRow.id.in_(ids)))
        orphans = select(UserRow.id).where(~exists().where(ConversationRow.user_id == UserRow.id))
        await self.session.execute(delete(UserRow).where(UserRow.id.in_(orphans)))
        self.erased = True
        return len(ids)


class SqlAlchemyMessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._touched: dict[int, datetime] = {}

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
        author: str | None = None,
        touch: bool = True,
    ) -> int:
        """Store one message and return its id; with `touch`, the conversation was active now."""
        values = {
            "conversation_id": conversation_id,
            "direction": direction.value,
            "kind": kind.value,
            "text": text,
            "action": action,
            "author": author,
            "buttons": [b.model_dump() for b in buttons],
            "created_at": now,
        }
        message_id = int((await self.session.execute(_ADD_MESSAGE, values)).one()[0])
        bot_reply = direction is Direction.OUT and author is None
        if touch and not bot_reply and self._touched.get(conversation_id) != now:
            # A turn's replies share one time: the conversation's is set once for them (per transaction).
            # The bot's own replies follow the message that set it, a moment before: not set again.
            await self.session.execute(_TOUCH_CONVERSATION, {"b_id": conversation_id, "b_now": now})
            self._touched[conversation_id] = now
        return message_id

    async def set_text(self, message_id: int, text: str) -> None:
        """Record the text read from an incoming image (the image itself is not kept)."""
        await self.session.execute(update(MessageRow).where(MessageRow.id == message_id).values(text=text))

    async def attach_analysis(self, message_id: int, analysis: Analysis) -> None:
        """Record the classifier's analysis on an incoming message."""
        await self.session.execute(
            _ANALYSIS, {"b_id": message_id, "b_analysis": analysis.model_dump(mode="json")}
        )

    async def last_analysed(self, conversation_id: int) -> StoredMessage | None:
        """The newest incoming message of a conversation that carries an analysis."""
        stmt = (
            select(MessageRow)
            .where(
                MessageRow.conversation_id == conversation_id,
                MessageRow.direction == Direction.IN.value,
                MessageRow.analysis.is_not(None),
            )
            .order_by(MessageRow.id.desc())
            .limit(1)
        )
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        return StoredMessage.model_validate(row, from_attributes=True) if row else None

    async def recent(self, conversation_id: int, limit: int) -> list[StoredMessage]:
        """The conversation's last `limit` messages, oldest first."""
        stmt = (
            select(MessageRow)
            .where(MessageRow.conversation_id == conversation_id)
            .order_by(MessageRow.id.desc())
            .limit(limit)
        )
        rows = (await self.session.execute(stmt)).scalars().all()
        return [StoredMessage.model_validate(r, from_attributes=True) for r in reversed(rows)]

    async def list_for(self, conversation_id: int) -> list[StoredMessage]:
        """All messages of a conversation, oldest first."""
        stmt = select(MessageRow).where(MessageRow.conversation_id == conversation_id).order_by(MessageRow.id)
        rows = (await self.session.execute(stmt)).scalars().all()
        return [StoredMessage.model_validate(r, from_attributes=True) for r in rows]


class SqlAlchemyFeedbackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, message_id: int, helpful: bool, now: datetime) -> bool:
        """Record feedback on an answered message; False when it already had feedback."""
        exists_already = await self.session.execute(
            select(FeedbackRow.id).where(FeedbackRow.message_id == message_id)
        )
        if exists_already.scalar_one_or_none() is not None:
            return False
        self.session.add(FeedbackRow(message_id=message_id, helpful=helpful, created_at=now))
        await self.session.flush()
        return True

    async def set_reason(self, message_id: int, reason: str) -> None:
        """Attach the student's reason to their feedback."""
        await self.session.execute(
            update(FeedbackRow).where(FeedbackRow.message_id == message_id).values(reason=reason)
        )


class SqlAlchemyDeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, channel: Channel, delivery_id: str, message_id: int | None, now: datetime) -> bool:
        """Record a new delivery and its message; False when recorded before (also by another worker)."""
        values = {
            "channel": channel.value,
            "delivery_id": delivery_id,
            "seen_at": now,
            "message_id": message_id,
            "answered": False,
        }
        stmt = _RECORD_DELIVERY[self.session.get_bind().dialect.name]
        return (await self.session.execute(stmt, values)).first() is not None

    async def seen(self, channel: Channel, delivery_id: str) -> SeenDelivery | None:
        """The delivery as recorded before, or None."""
        row = await self.session.get(DeliveryRow, (channel.value, delivery_id))
        return None if row is None else SeenDelivery(message_id=row.message_id, answered=row.answered)

    async def answered(self, channel: Channel, delivery_id: str) -> None:
        """The delivery's replies are stored: a repeat of it needs no answer."""
        await self.session.execute(_ANSWERED, {"b_channel": channel.value, "b_delivery": delivery_id})

    async def purge_before(self, cutoff: datetime) -> int:
        """Forget delivery ids seen before `cutoff`."""
        result = await self.session.execute(delete(DeliveryRow).where(DeliveryRow.seen_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)
