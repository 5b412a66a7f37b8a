"""Handing a conversation to a human counselor: cases, the silent bot, replies through the outbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.models import (
    Case,
    CaseOutcome,
    CasePriority,
    CaseStatus,
    Conversation,
    ConversationState,
    Counselor,
    Direction,
    MessageKind,
    Reply,
)
from handlers.ports import GuidanceLibrary, UnitOfWork
from handlers.replies import buttons

log = logging.getLogger(__name__)
MAX_COUNSELOR_REPLY = 4000


class HandoffError(Exception):
    """A counselor action that cannot be done; `code` says why (for the API's status codes)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class EscalationPolicy:
    """How long a student waits before being told honestly, and when counselors are on duty."""

    claim_timeout: timedelta = timedelta(minutes=5)
    opens: time = time(0, 0)
    closes: time = time(23, 59, 59)
    timezone: str = "Asia/Ho_Chi_Minh"

    def on_duty(self, now: datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.timezone)).time()
        if self.opens <= self.closes:
            return self.opens <= local <= self.closes
        return local >= self.opens or local <= self.closes


async def _set_state(uow: UnitOfWork, conversation_id: int, state: ConversationState, now: datetime) -> None:
    await uow.conversations.set_state(conversation_id, state, now)


async def open_case(
    conversation: Conversation,
    *,
    priority: CasePriority,
    opened_by: str,
    uow: UnitOfWork,
    lib: GuidanceLibrary,
    policy: EscalationPolicy,
    now: datetime,
) -> list[Reply]:
    """Open a case (or reuse the open one) and tell the student what happens now, honestly."""
    case = await uow.cases.active_for(conversation.id)
    if case is not None:
        return [
            Reply(text=lib.text("counselor_already_waiting"), buttons=buttons(lib, "cancel_case", "call_111"))
        ]
    case = await uow.cases.open(conversation.id, priority, opened_by, now)
    await _set_state(uow, conversation.id, ConversationState.AWAITING_COUNSELOR, now)
    log.info("case opened", extra={"conversation": conversation.id, "kind": priority.value})
    key = "counselor_requested" if policy.on_duty(now) else "counselor_off_duty"
    if opened_by == "crisis":
        key = "counselor_alerted" if policy.on_duty(now) else "counselor_off_duty"
    return [Reply(text=lib.text(key), buttons=buttons(lib, "cancel_case", "call_111"))]


async def student_ends(
    conversation: Conversation, *, uow: UnitOfWork, lib: GuidanceLibrary, now: datetime
) -> Reply:
    """The student cancels a waiting case or ends a chat with a counselor."""
    case = await uow.cases.active_for(conversation.id)
    if case is None:
        return Reply(text=lib.text("counselor_nothing_to_end"), buttons=buttons(lib, "call_111"))
    await uow.cases.close(case.id, CaseStatus.CANCELLED, None, now)
    await _set_state(uow, conversation.id, ConversationState.BOT, now)
    return Reply(
        text=lib.text("counselor_ended_by_student"), buttons=buttons(lib, "talk_to_counselor", "call_111")
    )


async def _notify(uow: UnitOfWork, case: Case, reply: Reply, now: datetime) -> None:
    """Queue a message to the case's student, on the student's own channel."""
    conversation = await _conversation(uow, case)
    user = await uow.users.get(conversation.user_id)
    if user is None:
        return  # the student deleted their data
    await uow.messages.add(
        conversation_id=case.conversation_id,
        direction=Direction.OUT,
        kind=MessageKind.TEXT,
        now=now,
        text=reply.text,
        buttons=reply.buttons,
    )
    await uow.outbox.add(user.id, user.channel, reply.text, reply.buttons, now)


async def _conversation(uow: UnitOfWork, case: Case) -> Conversation:
    found = await uow.conversations.by_id(case.conversation_id)
    if found is None:
        raise HandoffError("not_found")
    return found


async def _open_case(uow: UnitOfWork, case_id: int) -> Case:
    case = await uow.cases.get(case_id)
    if case is None:
        raise HandoffError("not_found")
    if case.status in (CaseStatus.RESOLVED, CaseStatus.CANCELLED):
        raise HandoffError("closed")
    return case


async def claim_case(
    case_id: int, counselor: Counselor, *, uow: UnitOfWork, lib: GuidanceLibrary, now: datetime
) -> Case:
    """A counselor takes a waiting case; two at once: one wins, the other gets `taken`."""
    case = await _open_case(uow, case_id)
    if not await uow.cases.claim(case_id, counselor.id, now):
        raise HandoffError("taken")
    await _set_state(uow, case.conversation_id, ConversationState.WITH_COUNSELOR, now)
    await _notify(uow, case, Reply(text=lib.text("counselor_joined"), buttons=buttons(lib, "end_chat")), now)
    claimed = await uow.cases.get(case_id)
    assert claimed is not None
    return claimed


async def post_counselor_reply(
    case_id: int, counselor: Counselor, text: str, *, uow: UnitOfWork, now: datetime
) -> None:
    """A counselor's message to the student: stored in the transcript and queued in the outbox."""
    body = text.strip()
    if not body:
        raise HandoffError("empty")
    if len(body) > MAX_COUNSELOR_REPLY:
        raise HandoffError("too_long")
    case = await _open_case(uow, case_id)
    if case.status is not CaseStatus.CLAIMED or case.counselor_id != counselor.id:
        raise HandoffError("not_yours")
    conversation = await _conversation(uow, case)
    user = await uow.users.get(conversation.user_id)
    if user is None:
        raise HandoffError("student_gone")
    await uow.messages.add(
        conversation_id=case.conversation_id,
        direction=Direction.OUT,
        kind=MessageKind.TEXT,
        now=now,
        text=body,
        author=f"counselor:{counselor.id}",
    )
    await uow.outbox.add(user.id, user.channel, body, (), now)


async def release_case(
    case_id: int, counselor: Counselor, *, uow: UnitOfWork, lib: GuidanceLibrary, now: datetime
) -> None:
    """A counselor hands the case back to the queue; the student is told someone else will continue."""
    case = await _open_case(uow, case_id)
    if not await uow.cases.release(case_id, counselor.id):
        raise HandoffError("not_yours")
    await _set_state(uow, case.conversation_id, ConversationState.AWAITING_COUNSELOR, now)
    await _notify(
        uow,
        case,
        Reply(text=lib.text("counselor_released"), buttons=buttons(lib, "cancel_case", "call_111")),
        now,
    )


async def resolve_case(
    case_id: int,
    counselor: Counselor,
    outcome: CaseOutcome,
    *,
    uow: UnitOfWork,
    lib: GuidanceLibrary,
    now: datetime,
) -> None:
    """Close a case with its outcome; the student is told and the bot takes over again."""
    case = await _open_case(uow, case_id)
    if (
        case.status is CaseStatus.CLAIMED
        and case.counselor_id != counselor.id
        and counselor.role != "supervisor"
    ):
        raise HandoffError("not_yours")
    await uow.cases.close(case_id, CaseStatus.RESOLVED, outcome, now)
    await _set_state(uow, case.conversation_id, ConversationState.BOT, now)
    await _notify(
        uow,
        case,
        Reply(text=lib.text("counselor_left"), buttons=buttons(lib, "talk_to_counselor", "call_111")),
        now,
    )


async def check_waiting(
    *, uow: UnitOfWork, lib: GuidanceLibrary, policy: EscalationPolicy, now: datetime
) -> int:
    """Tell students nobody claimed in time, honestly, and offer 111 again; re-alert urgent cases."""
    overdue = await uow.cases.waiting_since(now - policy.claim_timeout)
    for case in overdue:
        await _notify(
            uow,
            case,
            Reply(text=lib.text("counselor_timeout"), buttons=buttons(lib, "call_111", "cancel_case")),
            now,
        )
        await uow.cases.mark_timeout_notified(case.id, now)
        if case.priority is CasePriority.URGENT:
            log.warning("urgent case still waiting", extra={"conversation": case.conversation_id})
    return len(overdue)
