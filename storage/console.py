"""Storage for the counselor console: password logins, sessions, notes and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.models import Counselor
from storage.models import AuditRow, CaseNoteRow, ConsoleSessionRow, CounselorRow, MessageRow, RelabelRow


@dataclass(frozen=True)
class Login:
    counselor: Counselor
    password_hash: str | None
    failed_logins: int
    locked_until: datetime | None


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
    counselor: str
    case_id: int | None
    action: str
    created_at: datetime


class ConsoleStore:
    """Everything the console keeps that is not a case: one session per `async with` of the caller."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def set_password(self, name: str, role: str, password_hash: str, now: datetime) -> None:
        """Create the counselor or replace their password (and unlock them)."""
        row = (
            await self.session.execute(select(CounselorRow).where(CounselorRow.name == name))
        ).scalar_one_or_none()
        if row is None:
            self.session.add(
                CounselorRow(
                    name=name, role=role, password_hash=password_hash, created_at=now, failed_logins=0
                )
            )
        else:
            row.password_hash, row.role, row.failed_logins, row.locked_until = password_hash, role, 0, None
        await self.session.flush()

    async def login(self, name: str) -> Login | None:
        row = (
            await self.session.execute(select(CounselorRow).where(CounselorRow.name == name))
        ).scalar_one_or_none()
        if row is None:
            return None
        return Login(
            Counselor.model_validate(row, from_attributes=True),
            row.password_hash,
            row.failed_logins,
            row.locked_until,
        )

    async def failed(self, counselor_id: int, now: datetime, lock_after: int, lock_for: timedelta) -> None:
        """Count a failed login; lock the account after `lock_after` in a row."""
        row = await self.session.get(CounselorRow, counselor_id)
        assert row is not None
        row.failed_logins += 1
        if row.failed_logins >= lock_after:
            row.locked_until, row.failed_logins = now + lock_for, 0

    async def succeeded(self, counselor_id: int) -> None:
        await self.session.execute(
            update(CounselorRow)
            .where(CounselorRow.id == counselor_id)
            .values(failed_logins=0, locked_until=None)
        )

    async def open_session(
        self, token_hash: str, counselor_id: int, csrf: str, now: datetime, ttl: timedelta
    ) -> None:
        self.session.add(
            ConsoleSessionRow(
                token_hash=token_hash,
                counselor_id=counselor_id,
                csrf=csrf,
                created_at=now,
                expires_at=now + ttl,
            )
        )
        await self.session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.expires_at < now))

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

    async def audit(self, counselor_id: int, case_id: int | None, action: str, now: datetime) -> None:
        self.session.add(AuditRow(counselor_id=counselor_id, case_id=case_id, action=action, created_at=now))

    async def audit_log(self, limit: int = 200) -> list[AuditEntry]:
        stmt = (
            select(AuditRow, CounselorRow.name)
            .join(CounselorRow, CounselorRow.id == AuditRow.counselor_id)
            .order_by(AuditRow.id.desc())
            .limit(limit)
        )
        return [
            AuditEntry(name, r.case_id, r.action, r.created_at)
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
