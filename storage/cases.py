"""Repositories for cases, the outbox and counselors."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import ColumnElement, bindparam, case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from handlers.models import (
    Button,
    Case,
    CaseOutcome,
    CasePriority,
    CaseStatus,
    Channel,
    Counselor,
    OutboxItem,
    Referral,
    RiskAssessment,
)
from storage.models import Base, CaseRow, ConversationRow, CounselorRow, OutboxRow, UtcDateTime

OPEN = (CaseStatus.WAITING.value, CaseStatus.CLAIMED.value)
# Rows written on every turn are inserted through their tables (Core): the ORM's unit of work costs
# several times as much CPU for a row nobody reads back.
OUTBOX = Base.metadata.tables["outbox"]
_NOW = bindparam("b_now", type_=UtcDateTime())
_ADD = insert(OUTBOX).returning(OUTBOX.c.id)
_EARLIER = OUTBOX.alias("earlier")
_PENDING = (
    select(_EARLIER.c.id)
    .where(
        _EARLIER.c.user_id == bindparam("b_user"),
        _EARLIER.c.channel == bindparam("b_channel"),
        _EARLIER.c.audience == "student",
        _EARLIER.c.status == "pending",
    )
    .exists()
)
# A turn's message, leased to the worker that stores it unless one of the student's is pending:
# decided in the INSERT itself (one statement, where asking and leasing after cost three).
_ADD_LEASED = (
    insert(OUTBOX)
    .values(
        user_id=bindparam("b_user"),
        channel=bindparam("b_channel"),
        audience="student",
        text=bindparam("b_text"),
        buttons=bindparam("b_buttons", type_=OUTBOX.c.buttons.type),
        status="pending",
        attempts=case((_PENDING, 0), else_=1),
        next_attempt_at=case((_PENDING, _NOW), else_=bindparam("b_until", type_=UtcDateTime())),
        created_at=_NOW,
    )
    .returning(OUTBOX.c.id, OUTBOX.c.attempts)
)
_MARK_SENT = update(OUTBOX).where(OUTBOX.c.id == bindparam("b_id")).values(status="sent", sent_at=_NOW)


def _case(row: CaseRow) -> Case:
    return Case.model_validate(row, from_attributes=True)


class SqlAlchemyCaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open(self, conversation_id: int, priority: CasePriority, opened_by: str, now: datetime) -> Case:
        """Open a waiting case for a conversation."""
        row = CaseRow(
            conversation_id=conversation_id,
            priority=priority.value,
            status=CaseStatus.WAITING.value,
            opened_by=opened_by,
            created_at=now,
        )
        self.session.add(row)
        # An escalated conversation is kept past the retention limit (counselors' records).
        await self.session.execute(
            update(ConversationRow)
            .where(ConversationRow.id == conversation_id, ConversationRow.escalated_at.is_(None))
            .values(escalated_at=now)
        )
        await self.session.flush()
        return _case(row)

    async def active_for(self, conversation_id: int) -> Case | None:
        """The conversation's waiting or claimed case, if any."""
        stmt = select(CaseRow).where(CaseRow.conversation_id == conversation_id, CaseRow.status.in_(OPEN))
        row = (await self.session.execute(stmt.order_by(CaseRow.id.desc()).limit(1))).scalar_one_or_none()
        return _case(row) if row else None

    async def raise_priority(self, case_id: int, priority: CasePriority) -> None:
        """Make an open case urgent (a conversation that got worse)."""
        await self.session.execute(
            update(CaseRow)
            .where(CaseRow.id == case_id, CaseRow.status.in_(OPEN))
            .values(priority=priority.value)
        )

    async def get(self, case_id: int) -> Case | None:
        """One case."""
        row = await self.session.get(CaseRow, case_id)
        return _case(row) if row else None

    async def listed(self, status: CaseStatus | None = None, limit: int = 200, offset: int = 0) -> list[Case]:
        """Cases, urgent first, then serious, then the longest waiting."""
        stmt = select(CaseRow)
        if status is not None:
            stmt = stmt.where(CaseRow.status == status.value)
        stmt = (
            stmt.order_by(
                (CaseRow.priority == CasePriority.URGENT.value).desc(),
                (CaseRow.priority == CasePriority.SERIOUS.value).desc(),
                CaseRow.created_at,
                CaseRow.id,
            )
            .limit(limit)
            .offset(offset)
        )
        return [_case(r) for r in (await self.session.execute(stmt)).scalars()]

    async def count(self, status: CaseStatus | None = None) -> int:
        """How many cases there are (with this status)."""
        stmt = select(func.count()).select_from(CaseRow)
        if status is not None:
            stmt = stmt.where(CaseRow.status == status.value)
        return int(await self.session.scalar(stmt) or 0)

    async def claim(self, case_id: int, counselor_id: int, now: datetime) -> bool:
        """Claim a waiting case; False when someone else got it first (one atomic UPDATE)."""
        result = await self.session.execute(
            update(CaseRow)
            .where(CaseRow.id == case_id, CaseRow.status == CaseStatus.WAITING.value)
            .values(status=CaseStatus.CLAIMED.value, counselor_id=counselor_id, claimed_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    async def release(self, case_id: int, counselor_id: int) -> bool:
        """Put a claimed case back in the queue; only its counselor can."""
        result = await self.session.execute(
            update(CaseRow)
            .where(
                CaseRow.id == case_id,
                CaseRow.status == CaseStatus.CLAIMED.value,
                CaseRow.counselor_id == counselor_id,
            )
            .values(status=CaseStatus.WAITING.value, counselor_id=None, claimed_at=None)
        )
        return bool(getattr(result, "rowcount", 0))

    async def close(
        self,
        case_id: int,
        status: CaseStatus,
        outcome: CaseOutcome | None,
        now: datetime,
        *,
        referral: Referral | None = None,
        follow_up_on: date | None = None,
    ) -> bool:
        """Resolve or cancel an open case (with where it was referred and a follow-up day); False
        when it was already closed."""
        result = await self.session.execute(
            update(CaseRow)
            .where(CaseRow.id == case_id, CaseRow.status.in_(OPEN))
            .values(
                status=status.value,
                outcome=outcome.value if outcome else None,
                closed_at=now,
                referral=referral.value if referral else None,
                follow_up_on=follow_up_on,
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def set_risk(self, case_id: int, risk: RiskAssessment) -> None:
        """Record the case's risk checklist as the counselor filled it in now."""
        await self.session.execute(
            update(CaseRow).where(CaseRow.id == case_id).values(risk=risk.model_dump(mode="json"))
        )

    async def transfer(self, case_id: int, from_id: int | None, to_id: int) -> bool:
        """Hand a claimed case to another counselor (from `from_id`, or from anyone when None)."""
        stmt = update(CaseRow).where(CaseRow.id == case_id, CaseRow.status == CaseStatus.CLAIMED.value)
        if from_id is not None:
            stmt = stmt.where(CaseRow.counselor_id == from_id)
        result = await self.session.execute(stmt.values(counselor_id=to_id))
        return bool(getattr(result, "rowcount", 0))

    async def follow_ups_due(self, today: date) -> list[Case]:
        """Resolved cases whose follow-up day has come and that nobody has reopened yet."""
        stmt = (
            select(CaseRow)
            .where(CaseRow.follow_up_on <= today, CaseRow.followed_up_at.is_(None))
            .order_by(CaseRow.follow_up_on, CaseRow.id)
        )
        return [_case(r) for r in (await self.session.execute(stmt)).scalars()]

    async def mark_followed_up(self, case_id: int, now: datetime) -> None:
        """The case's follow-up was taken (it leaves the queue)."""
        await self.session.execute(update(CaseRow).where(CaseRow.id == case_id).values(followed_up_at=now))

    async def waiting_since(self, cutoff: datetime) -> list[Case]:
        """Waiting cases opened before `cutoff` whose student was not yet told about the wait."""
        stmt = select(CaseRow).where(
            CaseRow.status == CaseStatus.WAITING.value,
            CaseRow.created_at < cutoff,
            CaseRow.timeout_notified_at.is_(None),
        )
        return [_case(r) for r in (await self.session.execute(stmt)).scalars()]

    async def mark_timeout_notified(self, case_id: int, now: datetime) -> None:
        """Remember that the student was told nobody has claimed the case yet."""
        await self.session.execute(
            update(CaseRow).where(CaseRow.id == case_id).values(timeout_notified_at=now)
        )

    async def mark_alerted(self, case_id: int, now: datetime) -> None:
        """Remember when counselors were last alerted about the case."""
        await self.session.execute(update(CaseRow).where(CaseRow.id == case_id).values(last_alert_at=now))

    async def urgent_alerted_before(self, cutoff: datetime) -> list[Case]:
        """Urgent waiting cases whose last alert to counselors was before `cutoff`."""
        stmt = select(CaseRow).where(
            CaseRow.status == CaseStatus.WAITING.value,
            CaseRow.priority == CasePriority.URGENT.value,
            CaseRow.last_alert_at < cutoff,
        )
        return [_case(r) for r in (await self.session.execute(stmt)).scalars()]

    async def by_alert_thread(self, thread_id: int) -> Case | None:
        """The case whose topic in the counselors' group is `thread_id` (the newest, if reused)."""
        stmt = select(CaseRow).where(CaseRow.alert_thread_id == thread_id).order_by(CaseRow.id.desc())
        row = (await self.session.execute(stmt.limit(1))).scalar_one_or_none()
        return _case(row) if row else None

    async def set_alert_thread(self, case_id: int, thread_id: int) -> None:
        """Remember the case's topic in the counselors' group."""
        await self.session.execute(
            update(CaseRow).where(CaseRow.id == case_id).values(alert_thread_id=thread_id)
        )


def _due(channel: Channel, audience: str, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Pending, due by `now`, and the oldest pending item of its student and audience: a later one
    never overtakes one that is being retried or is leased by another worker, so order is kept."""
    earlier = aliased(OutboxRow)
    blocked = (
        select(earlier.id)
        .where(
            earlier.user_id == OutboxRow.user_id,
            earlier.audience == OutboxRow.audience,
            earlier.status == "pending",
            earlier.id < OutboxRow.id,
        )
        .exists()
    )
    return (
        OutboxRow.channel == channel.value,
        OutboxRow.audience == audience,
        OutboxRow.status == "pending",
        OutboxRow.next_attempt_at <= now,
        ~blocked,
    )


class SqlAlchemyOutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        user_id: str,
        channel: Channel,
        text: str,
        buttons: tuple[Button, ...],
        now: datetime,
        *,
        audience: str = "student",
        case_id: int | None = None,
    ) -> int:
        """Queue a message for a student (or, audience "counselors", for the case's topic)."""
        values = {
            "user_id": user_id,
            "channel": channel.value,
            "audience": audience,
            "case_id": case_id,
            "text": text,
            "buttons": [b.model_dump() for b in buttons],
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        return int((await self.session.execute(_ADD, values)).one()[0])

    async def add_turn(
        self,
        user_id: str,
        channel: Channel,
        replies: Sequence[tuple[str, tuple[Button, ...]]],
        now: datetime,
        lease_until: datetime,
    ) -> list[OutboxItem] | None:
        """Queue a turn's messages for a student in one statement, leased to the caller until
        `lease_until`, unless a message of theirs is already pending: then they are queued unleased
        (they wait their turn behind it) and None is returned. The leased items, oldest first."""
        if not replies:
            return []
        (text, buttons), *more = replies
        params = {
            "b_user": user_id,
            "b_channel": channel.value,
            "b_text": text,
            "b_buttons": [b.model_dump() for b in buttons],
            "b_now": now,
            "b_until": lease_until,
        }
        first, attempts = (await self.session.execute(_ADD_LEASED, params)).one()
        leased = attempts == 1
        added = [first]
        for text, buttons in more:  # the turn's next ones follow the first, leased as it is
            values = {
                "user_id": user_id,
                "channel": channel.value,
                "audience": "student",
                "text": text,
                "buttons": [b.model_dump() for b in buttons],
                "status": "pending",
                "attempts": 1 if leased else 0,
                "next_attempt_at": lease_until if leased else now,
                "created_at": now,
            }
            added.append(int((await self.session.execute(_ADD, values)).one()[0]))
        if not leased:
            return None
        return [
            OutboxItem(
                id=item_id,
                user_id=user_id,
                channel=channel,
                text=text,
                buttons=buttons,
                attempts=1,
                created_at=now,
            )
            for item_id, (text, buttons) in zip(added, replies, strict=True)
        ]

    async def take_due(
        self,
        channel: Channel,
        now: datetime,
        lease_until: datetime,
        limit: int,
        audience: str = "student",
        user_id: str | None = None,
    ) -> list[OutboxItem]:
        """Lease due messages to this worker (others skip them until the lease ends).

        Only the oldest pending message of each student (per audience) is due: a later one never
        overtakes one that is being retried or is leased by another worker, so order is kept.
        """
        stmt = (
            select(OutboxRow)
            .where(*_due(channel, audience, now))
            .order_by(OutboxRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if user_id is None:
            rows = list((await self.session.execute(stmt)).scalars())
        else:
            rows = await self._student_due(channel, audience, user_id, now, limit)
        for row in rows:
            row.next_attempt_at = lease_until
            row.attempts += 1
        await self.session.flush()
        return [OutboxItem.model_validate(r, from_attributes=True) for r in rows]

    async def students_due(self, channel: Channel, now: datetime, limit: int) -> list[str]:
        """Students with a message due for them now, oldest first (nothing is leased)."""
        stmt = (
            select(OutboxRow.user_id)
            .where(*_due(channel, "student", now))
            .order_by(OutboxRow.id)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def _student_due(
        self, channel: Channel, audience: str, user_id: str, now: datetime, limit: int
    ) -> list[OutboxRow]:
        """One student's pending items from the oldest on, while they are due. The rows are locked
        with waiting (not skipped): another worker's lease is seen, and nothing overtakes it."""
        stmt = (
            select(OutboxRow)
            .where(
                OutboxRow.channel == channel.value,
                OutboxRow.audience == audience,
                OutboxRow.status == "pending",
                OutboxRow.user_id == user_id,
            )
            .order_by(OutboxRow.id)
            .limit(limit)
            .with_for_update()
        )
        rows = list((await self.session.execute(stmt)).scalars())
        return list(itertools.takewhile(lambda row: row.next_attempt_at <= now, rows))

    async def mark_sent(self, item_id: int, now: datetime) -> None:
        """Delivered: never sent again."""
        await self.session.execute(_MARK_SENT, {"b_id": item_id, "b_now": now})

    async def retry_at(self, item_id: int, when: datetime) -> None:
        """Not delivered this time: try again at `when`."""
        await self.session.execute(
            update(OutboxRow).where(OutboxRow.id == item_id).values(next_attempt_at=when)
        )

    async def extend_lease(self, item_ids: list[int], until: datetime) -> None:
        """Items leased and still waiting their turn to be sent: keep them leased until `until`."""
        if item_ids:
            await self.session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(item_ids), OutboxRow.status == "pending")
                .values(next_attempt_at=until)
            )

    async def give_up(self, item_id: int) -> None:
        """Undeliverable (the student blocked the bot or deleted the chat)."""
        await self.session.execute(update(OutboxRow).where(OutboxRow.id == item_id).values(status="failed"))

    async def purge_done_before(self, cutoff: datetime) -> int:
        """Forget items sent or given up before `cutoff` (the transcript keeps what was said)."""
        result = await self.session.execute(
            delete(OutboxRow).where(OutboxRow.status != "pending", OutboxRow.next_attempt_at < cutoff)
        )
        return int(getattr(result, "rowcount", 0) or 0)


class SqlAlchemyCounselorRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, name: str, role: str, token_hash: str | None, now: datetime, expires_at: datetime | None = None
    ) -> Counselor:
        """Create a counselor (with an API token that expires at `expires_at`)."""
        row = CounselorRow(
            name=name, role=role, token_hash=token_hash, token_expires_at=expires_at, created_at=now
        )
        self.session.add(row)
        await self.session.flush()
        return Counselor.model_validate(row, from_attributes=True)

    async def by_name(self, name: str) -> Counselor | None:
        """A counselor by name."""
        row = (
            await self.session.execute(select(CounselorRow).where(CounselorRow.name == name))
        ).scalar_one_or_none()
        return Counselor.model_validate(row, from_attributes=True) if row else None

    async def set_token(self, counselor_id: int, token_hash: str, expires_at: datetime) -> None:
        """Replace a counselor's API token (the old one stops working)."""
        await self.session.execute(
            update(CounselorRow)
            .where(CounselorRow.id == counselor_id)
            .values(token_hash=token_hash, token_expires_at=expires_at)
        )

    async def by_telegram_user(self, telegram_user_id: int) -> Counselor | None:
        """The counselor who linked this Telegram account."""
        stmt = select(CounselorRow).where(CounselorRow.telegram_user_id == telegram_user_id)
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        return Counselor.model_validate(row, from_attributes=True) if row else None

    async def link_telegram(self, counselor_id: int, telegram_user_id: int | None) -> None:
        """Link (or, with None, unlink) the counselor's Telegram account; another holder loses it."""
        if telegram_user_id is not None:
            await self.session.execute(
                update(CounselorRow)
                .where(CounselorRow.telegram_user_id == telegram_user_id)
                .values(telegram_user_id=None)
            )
        await self.session.execute(
            update(CounselorRow)
            .where(CounselorRow.id == counselor_id)
            .values(telegram_user_id=telegram_user_id)
        )

    async def by_token_hash(self, token_hash: str, now: datetime) -> Counselor | None:
        """The counselor holding this API token, unless it expired."""
        stmt = select(CounselorRow).where(
            CounselorRow.token_hash == token_hash, CounselorRow.token_expires_at > now
        )
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        return Counselor.model_validate(row, from_attributes=True) if row else None
