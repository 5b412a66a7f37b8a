"""Read-only queries for the console's list pages: search of past cases and statistics."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.models import Case
from storage.models import (
    CaseReadRow,
    CaseRow,
    ConversationRow,
    CounselorRow,
    MessageRow,
    UserRow,
    WebOpenRow,
)

SEARCH_LIMIT = 100


async def search_cases(session: AsyncSession, text: str, status: str | None = None) -> list[Case]:
    """Cases whose number is `text`, or whose conversation contains `text` (newest first)."""
    stmt = select(CaseRow)
    needle = text.strip()
    if needle:
        in_messages = select(MessageRow.conversation_id).where(MessageRow.text.ilike(f"%{needle}%"))
        conditions = [CaseRow.conversation_id.in_(in_messages), cast(CaseRow.outcome, String) == needle]
        if needle.lstrip("#").isdigit():
            conditions.append(CaseRow.id == int(needle.lstrip("#")))
        stmt = stmt.where(or_(*conditions))
    if status:
        stmt = stmt.where(CaseRow.status == status)
    rows = (await session.execute(stmt.order_by(CaseRow.id.desc()).limit(SEARCH_LIMIT))).scalars()
    return [Case.model_validate(r, from_attributes=True) for r in rows]


@dataclass
class Stats:
    days: list[date]
    messages_per_day: dict[date, int] = field(default_factory=dict)
    cases_per_day: dict[date, int] = field(default_factory=dict)
    tactics: Counter[str] = field(default_factory=Counter)
    scenarios: Counter[str] = field(default_factory=Counter)
    crisis: int = 0
    serious: int = 0
    call_111_taps: int = 0
    median_first_reply_minutes: float | None = None
    # Cases closed in the period, by outcome and by referral; time to first reply by priority.
    outcomes: Counter[str] = field(default_factory=Counter)
    referrals: Counter[str] = field(default_factory=Counter)
    first_reply_by_priority: dict[str, float] = field(default_factory=dict)
    # Messages a platform hid from the bot (Zalo: young users), and how many students sent them.
    hidden_messages: int = 0
    hidden_students: int = 0
    # Web chat openings by the place that linked to it (`?src=`; "-": no tag).
    web_opens: Counter[str] = field(default_factory=Counter)

    @property
    def days_messages(self) -> list[tuple[str, int]]:
        return [(d.strftime("%d/%m"), self.messages_per_day.get(d, 0)) for d in self.days]

    @property
    def days_cases(self) -> list[tuple[str, int]]:
        return [(d.strftime("%d/%m"), self.cases_per_day.get(d, 0)) for d in self.days]


async def stats(session: AsyncSession, now: datetime, days: int = 14) -> Stats:
    """Messages and cases per day, tactics and scenarios seen, 111 taps, time to a counselor's first reply."""
    since = now - timedelta(days=days)
    result = Stats(days=[(now - timedelta(days=i)).date() for i in range(days - 1, -1, -1)])
    incoming = await session.execute(
        select(MessageRow.created_at, MessageRow.action, MessageRow.analysis, MessageRow.kind).where(
            MessageRow.direction == "in", MessageRow.created_at >= since
        )
    )
    for created, action, analysis, kind in incoming.all():
        day = created.date()
        result.messages_per_day[day] = result.messages_per_day.get(day, 0) + 1
        result.hidden_messages += kind == "hidden"
        if action == "call_111":
            result.call_111_taps += 1
        if analysis:
            result.tactics.update(analysis.get("tactics") or [])
            result.crisis += bool(analysis.get("crisis"))
            result.serious += analysis.get("severity") == "serious"
            if analysis.get("scenario"):
                result.scenarios[analysis["scenario"]] += 1
    if result.hidden_messages:
        hidden_by = await session.execute(
            select(func.count(func.distinct(ConversationRow.user_id)))
            .join(MessageRow, MessageRow.conversation_id == ConversationRow.id)
            .where(MessageRow.kind == "hidden", MessageRow.direction == "in", MessageRow.created_at >= since)
        )
        result.hidden_students = int(hidden_by.scalar_one())
    opens = await session.execute(
        select(WebOpenRow.src, func.sum(WebOpenRow.opens))
        .where(WebOpenRow.day >= since.date())
        .group_by(WebOpenRow.src)
    )
    result.web_opens = Counter({src: int(count) for src, count in opens.all()})
    cases = (await session.execute(select(CaseRow).where(CaseRow.created_at >= since))).scalars().all()
    waits = []
    by_priority: dict[str, list[float]] = {}
    for case in cases:
        day = case.created_at.date()
        result.cases_per_day[day] = result.cases_per_day.get(day, 0) + 1
        if case.outcome:
            result.outcomes[case.outcome] += 1
        if case.referral:
            result.referrals[case.referral] += 1
        first = await session.execute(
            select(MessageRow.created_at)
            .where(
                MessageRow.conversation_id == case.conversation_id,
                MessageRow.author.like("counselor:%"),
                MessageRow.created_at >= case.created_at,
            )
            .order_by(MessageRow.id)
            .limit(1)
        )
        replied = first.scalar_one_or_none()
        if replied is not None:
            waits.append((replied - case.created_at).total_seconds() / 60)
            by_priority.setdefault(case.priority, []).append(waits[-1])
    result.median_first_reply_minutes = statistics.median(waits) if waits else None
    result.first_reply_by_priority = {p: statistics.median(w) for p, w in by_priority.items()}
    return result


@dataclass(frozen=True)
class QueueDetails:
    """What a queue row shows beside the case: where the student writes from, the start of the
    latest thing they wrote (not a button they tapped), and who holds the case."""

    channel: str
    latest: str | None
    holder: str | None
    # What the student wrote since the case opened that this counselor has not seen on its page.
    unread: int = 0


async def queue_details(
    session: AsyncSession, case_ids: list[int], counselor_id: int | None = None
) -> dict[int, QueueDetails]:
    """Per case: its student's channel, their latest message, its counselor's name and what the
    student wrote that `counselor_id` has not read (one statement)."""
    if not case_ids:
        return {}
    seen = (
        select(CaseReadRow.last_message_id)
        .where(CaseReadRow.case_id == CaseRow.id, CaseReadRow.counselor_id == counselor_id)
        .correlate(CaseRow)
        .scalar_subquery()
    )
    unread = (
        select(func.count(MessageRow.id))
        .where(
            MessageRow.conversation_id == CaseRow.conversation_id,
            MessageRow.direction == "in",
            MessageRow.text.is_not(None),
            MessageRow.created_at >= CaseRow.created_at,
            MessageRow.id > func.coalesce(seen, 0),
        )
        .correlate(CaseRow)
        .scalar_subquery()
    )
    latest = (
        select(MessageRow.text)
        .where(
            MessageRow.conversation_id == CaseRow.conversation_id,
            MessageRow.direction == "in",
            MessageRow.text.is_not(None),
        )
        .order_by(MessageRow.id.desc())
        .limit(1)
        .correlate(CaseRow)
        .scalar_subquery()
    )
    stmt = (
        select(CaseRow.id, UserRow.channel, CounselorRow.name, latest, unread)
        .join(ConversationRow, ConversationRow.id == CaseRow.conversation_id)
        .join(UserRow, UserRow.id == ConversationRow.user_id)
        .outerjoin(CounselorRow, CounselorRow.id == CaseRow.counselor_id)
        .where(CaseRow.id.in_(case_ids))
    )
    rows = (await session.execute(stmt)).all()
    return {
        case_id: QueueDetails(channel, text, holder, int(count or 0))
        for case_id, channel, holder, text, count in rows
    }
