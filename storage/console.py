"""Storage for the counselor console: password logins, sessions, notes and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.models import Counselor
from storage.models import (
    AuditRow,
    CaseNoteRow,
    CaseReadRow,
    ConsoleSessionRow,
    CounselorRow,
    LoginThrottleRow,
    MessageRow,
    RelabelRow,
)

# A throttle row untouched this long is forgotten.
THROTTLE_MEMORY = timedelta(days=1)


@dataclass(frozen=True)
class Login:
    counselor: Counselor
    password_hash: str | None


@dataclass(frozen=True)
class Throttle:
    """How a kind of key slows logins: free tries, then waits doubling from one second up to `cap`."""

    free: int
    cap: timedelta

    def wait(self, failures: int) -> timedelta | None:
        if failures < self.free:
            return None
        return min(timedelta(seconds=2 ** min(failures - self.free, 30)), self.cap)


@dataclass(frozen=True)
class Note:
    counselor: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class Relabel:
    text: str
    tactics: tuple[str, ...]
    crisis: bool


@dataclass(frozen=True)
class AuditEntry:
    counselor: str | None
    case_id: int | None
    action: str
    via: str | None
    address: str | None
    created_at: datetime


class ConsoleStore:
    """Everything the console keeps that is not a case: one session per `async with` of the caller."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def set_password(self, name: str, role: str, password_hash: str, now: datetime) -> None:
        """Create the counselor or replace their password and role: a replaced one ends every session
        and the API token (whoever held them must prove themselves again)."""
        row = (
            await self.session.execute(select(CounselorRow).where(CounselorRow.name == name))
        ).scalar_one_or_none()
        if row is None:
            self.session.add(CounselorRow(name=name, role=role, password_hash=password_hash, created_at=now))
        else:
            row.password_hash, row.role = password_hash, role
            await self.end_access(row.id)
        await self.session.flush()

    async def end_access(self, counselor_id: int) -> None:
        """End the counselor's console sessions and API token."""
        await self.session.execute(
            delete(ConsoleSessionRow).where(ConsoleSessionRow.counselor_id == counselor_id)
        )
        await self.session.execute(
            update(CounselorRow)
            .where(CounselorRow.id == counselor_id)
            .values(token_hash=None, token_expires_at=None)
        )

    async def login(self, name: str) -> Login | None:
        row = (
            await self.session.execute(select(CounselorRow).where(CounselorRow.name == name))
        ).scalar_one_or_none()
        if row is None:
            return None
        return Login(Counselor.model_validate(row, from_attributes=True), row.password_hash)

    async def blocked(self, keys: list[str], now: datetime) -> bool:
        """Whether any of the keys (a client address, a name) must wait before its next try."""
        stmt = select(func.count()).where(
            LoginThrottleRow.key.in_(keys), LoginThrottleRow.blocked_until > now
        )
        return bool((await self.session.execute(stmt)).scalar_one())

    async def failed(self, keys: dict[str, Throttle], now: datetime) -> None:
        """Count a failed login against each key; past its free tries, the key waits before the next."""
        insert = pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        for key, throttle in keys.items():
            stmt = (
                insert(LoginThrottleRow)
                .values(key=key, failures=1, updated_at=now)
                .on_conflict_do_update(
                    index_elements=[LoginThrottleRow.key],
                    set_={"failures": LoginThrottleRow.failures + 1, "updated_at": now},
                )
                .returning(LoginThrottleRow.failures)
            )
            failures = (await self.session.execute(stmt)).scalar_one()
            wait = throttle.wait(failures)
            if wait is not None:
                await self.session.execute(
                    update(LoginThrottleRow)
                    .where(LoginThrottleRow.key == key)
                    .values(blocked_until=now + wait)
                )
        await self.session.execute(
            delete(LoginThrottleRow).where(LoginThrottleRow.updated_at < now - THROTTLE_MEMORY)
        )

    async def succeeded(self, keys: list[str]) -> None:
        """A right password: the keys start afresh."""
        await self.session.execute(delete(LoginThrottleRow).where(LoginThrottleRow.key.in_(keys)))

    async def open_session(
        self, token_hash: str, counselor_id: int, csrf: str, now: datetime, ttl: timedelta, cap: int
    ) -> None:
        """A new session; the counselor's oldest ones past `cap` end, and every expired one goes."""
        self.session.add(
            ConsoleSessionRow(
                token_hash=token_hash,
                counselor_id=counselor_id,
                csrf=csrf,
                created_at=now,
                expires_at=now + ttl,
            )
        )
        await self.session.flush()
        await self.session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.expires_at < now))
        keep = (
            select(ConsoleSessionRow.token_hash)
            .where(ConsoleSessionRow.counselor_id == counselor_id)
            .order_by(
                (ConsoleSessionRow.token_hash == token_hash).desc(), ConsoleSessionRow.created_at.desc()
            )
            .limit(cap)
        )
        await self.session.execute(
            delete(ConsoleSessionRow).where(
                ConsoleSessionRow.counselor_id == counselor_id, ConsoleSessionRow.token_hash.not_in(keep)
            )
        )

    async def session_for(self, token_hash: str, now: datetime) -> tuple[Counselor, str] | None:
        """The counselor and CSRF token of a live session (None when unknown or expired)."""
        found = await self.session.get(ConsoleSessionRow, token_hash)
        if found is None or found.expires_at < now:
            return None
        row = await self.session.get(CounselorRow, found.counselor_id)
        assert row is not None
        return Counselor.model_validate(row, from_attributes=True), found.csrf

    async def close_session(self, token_hash: str) -> None:
        await self.session.execute(
            delete(ConsoleSessionRow).where(ConsoleSessionRow.token_hash == token_hash)
        )

    async def colleagues(self) -> list[str]:
        """The names of counselors who can log in (to hand a case to), alphabetically."""
        stmt = (
            select(CounselorRow.name)
            .where(CounselorRow.password_hash.is_not(None))
            .order_by(CounselorRow.name)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def colleague(self, name: str) -> Counselor | None:
        """A counselor who can log in, by name."""
        found = await self.login(name)
        return found.counselor if found is not None and found.password_hash is not None else None

    async def mark_read(self, case_id: int, counselor_id: int, message_id: int, now: datetime) -> None:
        """The counselor has seen the case's transcript up to `message_id`."""
        insert = pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = (
            insert(CaseReadRow)
            .values(case_id=case_id, counselor_id=counselor_id, last_message_id=message_id, read_at=now)
            .on_conflict_do_update(
                index_elements=[CaseReadRow.case_id, CaseReadRow.counselor_id],
                set_={"last_message_id": message_id, "read_at": now},
            )
        )
        await self.session.execute(stmt)

    async def add_note(self, case_id: int, counselor_id: int, text: str, now: datetime) -> None:
        self.session.add(CaseNoteRow(case_id=case_id, counselor_id=counselor_id, text=text, created_at=now))

    async def notes(self, case_id: int) -> list[Note]:
        stmt = (
            select(CaseNoteRow, CounselorRow.name)
            .join(CounselorRow, CounselorRow.id == CaseNoteRow.counselor_id)
            .where(CaseNoteRow.case_id == case_id)
            .order_by(CaseNoteRow.id)
        )
        return [
            Note(name, row.text, row.created_at) for row, name in (await self.session.execute(stmt)).all()
        ]

    async def audit(
        self,
        counselor_id: int | None,
        case_id: int | None,
        action: str,
        now: datetime,
        *,
        via: str,
        address: str | None = None,
    ) -> None:
        self.session.add(
            AuditRow(
                counselor_id=counselor_id,
                case_id=case_id,
                action=action,
                via=via,
                address=address[:64] if address else None,
                created_at=now,
            )
        )

    async def audit_log(self, limit: int = 200) -> list[AuditEntry]:
        stmt = (
            select(AuditRow, CounselorRow.name)
            .outerjoin(CounselorRow, CounselorRow.id == AuditRow.counselor_id)
            .order_by(AuditRow.id.desc())
            .limit(limit)
        )
        return [
            AuditEntry(name, r.case_id, r.action, r.via, r.address, r.created_at)
            for r, name in (await self.session.execute(stmt)).all()
        ]

    async def relabel(
        self, message_id: int, counselor_id: int, tactics: list[str], crisis: bool, now: datetime
    ) -> None:
        """A counselor's labels for a student's message (the latest correction wins)."""
        await self.session.execute(delete(RelabelRow).where(RelabelRow.message_id == message_id))
        self.session.add(
            RelabelRow(
                message_id=message_id,
                counselor_id=counselor_id,
                tactics=sorted(tactics),
                crisis=crisis,
                created_at=now,
            )
        )

    async def relabels(self, case_conversation: int | None = None) -> dict[int, tuple[list[str], bool]]:
        """Corrections by message id (of one conversation, or all)."""
        stmt = select(RelabelRow)
        if case_conversation is not None:
            stmt = stmt.join(MessageRow, MessageRow.id == RelabelRow.message_id).where(
                MessageRow.conversation_id == case_conversation
            )
        return {
            r.message_id: (list(r.tactics), r.crisis) for r in (await self.session.execute(stmt)).scalars()
        }

    async def relabeled_examples(self) -> list[Relabel]:
        """Every corrected message with its text, for exporting as training data."""
        stmt = select(RelabelRow, MessageRow.text).join(MessageRow, MessageRow.id == RelabelRow.message_id)
        return [
            Relabel(text or "", tuple(r.tactics), r.crisis)
            for r, text in (await self.session.execute(stmt)).all()
            if text
        ]
