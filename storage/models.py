"""ORM rows; they never leave storage/ (repositories return handlers.models)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Id = BigInteger().with_variant(Integer, "sqlite")
# SQLite's AUTOINCREMENT: without it a deleted row's id (the highest) goes to the next row, and the
# audit log's or a log line's "case 9" would name another student's case after a /xoa. PostgreSQL's
# sequences never hand out an id twice.
NEVER_REUSED: dict[str, Any] = {"sqlite_autoincrement": True}


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always read back timezone-aware, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: dict[Any, Any] = {datetime: UtcDateTime, dict[str, Any]: JSON}


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    # The platform's chat id, kept only because replies must be delivered there; stored encrypted,
    # hence wider than any platform's id.
    chat_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class ConversationRow(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_user", "user_id", "id"),
        Index("ix_conversations_updated", "updated_at"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(40), ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(32))
    # Sub-state of the conversation: a practice round in progress, a feedback reason awaited.
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    # Set when the conversation was handed to a counselor; such conversations are kept past retention.
    escalated_at: Mapped[datetime | None]
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation", "conversation_id", "id"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(Id, ForeignKey("conversations.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str | None] = mapped_column(String(64))
    buttons: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Who wrote an outgoing message: None for the bot, "counselor:<id>" for a counselor.
    author: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]


class FeedbackRow(Base):
    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("message_id", name="uq_feedback_message"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(Id, ForeignKey("messages.id", ondelete="CASCADE"))
    helpful: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class CounselorRow(Base):
    __tablename__ = "counselors"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # SHA-256 of the API token (the token itself is shown once and never stored), and when it expires.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[datetime | None]
    # The counselor's Telegram account, for replying from the counselors' group (`counselor telegram`).
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    created_at: Mapped[datetime]


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status", "status", "priority", "created_at"),
        Index("ix_cases_conversation", "conversation_id", "id"),
        Index("ix_cases_alert_thread", "alert_thread_id"),
        Index("ix_cases_follow_up", "follow_up_on", "followed_up_at"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(Id, ForeignKey("conversations.id", ondelete="CASCADE"))
    priority: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12))
    opened_by: Mapped[str] = mapped_column(String(12))
    counselor_id: Mapped[int | None] = mapped_column(Id, ForeignKey("counselors.id"))
    outcome: Mapped[str | None] = mapped_column(String(24))
    created_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    timeout_notified_at: Mapped[datetime | None]
    # The case's forum topic in the counselors' Telegram group (0: posted without a topic).
    alert_thread_id: Mapped[int | None] = mapped_column(BigInteger)
    last_alert_at: Mapped[datetime | None]
    # The counselor's risk checklist, the referral on resolution, and a follow-up day.
    risk: Mapped[dict[str, str] | None] = mapped_column(JSON)
    referral: Mapped[str | None] = mapped_column(String(24))
    follow_up_on: Mapped[date | None] = mapped_column(Date)
    followed_up_at: Mapped[datetime | None]


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "channel", "audience", "status", "next_attempt_at"),
        Index("ix_outbox_queue", "user_id", "audience", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(40), ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    # "student" (to the student's chat) or "counselors" (to the case's topic in the counselors' group).
    audience: Mapped[str] = mapped_column(String(10), default="student", server_default="student")
    case_id: Mapped[int | None] = mapped_column(Id, ForeignKey("cases.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class ConsoleSessionRow(Base):
    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    counselor_id: Mapped[int] = mapped_column(Id, ForeignKey("counselors.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class CaseNoteRow(Base):
    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(Id, ForeignKey("cases.id", ondelete="CASCADE"))
    counselor_id: Mapped[int] = mapped_column(Id, ForeignKey("counselors.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class CaseReadRow(Base):
    """How far each counselor has read a case's transcript (the queue's unread count)."""

    __tablename__ = "case_reads"

    case_id: Mapped[int] = mapped_column(Id, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    counselor_id: Mapped[int] = mapped_column(
        Id, ForeignKey("counselors.id", ondelete="CASCADE"), primary_key=True
    )
    last_message_id: Mapped[int] = mapped_column(Id)
    read_at: Mapped[datetime]


class AuditRow(Base):
    """Who did what to which case, through which door. A failed login under an unknown name has no
    counselor (the name typed is not kept: it may be a mistyped password)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    counselor_id: Mapped[int | None] = mapped_column(Id, ForeignKey("counselors.id"))
    case_id: Mapped[int | None] = mapped_column(Id)
    action: Mapped[str] = mapped_column(String(32))
    # "console", "api", "telegram" (the counselors' group) or "cli"; the client address for logins.
    via: Mapped[str | None] = mapped_column(String(8))
    address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class LoginThrottleRow(Base):
    """Failed logins per client address and per name (keyed by a hash, for names that exist or not):
    past a few, each next try waits longer."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    blocked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(index=True)


class RelabelRow(Base):
    __tablename__ = "relabels"
    __table_args__ = (UniqueConstraint("message_id", name="uq_relabels_message"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(Id, ForeignKey("messages.id", ondelete="CASCADE"))
    counselor_id: Mapped[int] = mapped_column(Id, ForeignKey("counselors.id"))
    tactics: Mapped[list[str]] = mapped_column(JSON)
    crisis: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]


class DeliveryRow(Base):
    """Platform delivery ids already handled (a replayed webhook or update is answered once)."""

    __tablename__ = "deliveries"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)
    # The message it brought, and whether its replies are stored: a delivery repeated after a stop
    # between the two is answered then.
    message_id: Mapped[int | None] = mapped_column(Id)
    answered: Mapped[bool] = mapped_column(Boolean, default=False, server_default=true())


class InboxRow(Base):
    """A platform update stored before it is acknowledged; its payload is dropped once handled."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "delivery_id", name="uq_inbox_delivery"),
        Index("ix_inbox_queue", "status", "chat_key", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    delivery_id: Mapped[str] = mapped_column(String(64))
    # A keyed hash of the platform's chat id: a chat's updates are handled in order.
    chat_key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    # "pending" or "done".
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_until: Mapped[datetime | None]
    received_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class FingerprintRow(Base):
    """A suspicious message's MinHash fingerprint (never its text), kept a week for "not alone"."""

    __tablename__ = "fingerprints"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(40), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    scenario: Mapped[str | None] = mapped_column(String(40))
    signature: Mapped[list[int]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(index=True)


class FingerprintBandRow(Base):
    """The band keys of a fingerprint, for finding near-duplicates without comparing with all."""

    __tablename__ = "fingerprint_bands"
    __table_args__ = (Index("ix_fingerprint_bands_band", "band", "created_at"),)

    fingerprint_id: Mapped[int] = mapped_column(
        Id, ForeignKey("fingerprints.id", ondelete="CASCADE"), primary_key=True
    )
    band: Mapped[str] = mapped_column(String(24), primary_key=True)
    created_at: Mapped[datetime]


class WebOpenRow(Base):
    """How often the web chat was opened per day from each place that links to it (`?src=`): a
    count only, never tied to a person."""

    __tablename__ = "web_opens"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    src: Mapped[str] = mapped_column(String(32), primary_key=True)
    opens: Mapped[int] = mapped_column(Integer)
