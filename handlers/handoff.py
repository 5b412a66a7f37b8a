"""Handing a conversation to a human counselor: cases, the silent bot, replies through the outbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.choices import NOTICE
from handlers.models import (
    Analysis,
    Button,
    Case,
    CaseOutcome,
    CasePriority,
    CaseStatus,
    Channel,
    Conversation,
    ConversationState,
    Counselor,
    Direction,
    MessageKind,
    Referral,
    Reply,
    RiskAssessment,
)
from handlers.ports import GuidanceLibrary, UnitOfWork
from handlers.replies import buttons

log = logging.getLogger(__name__)
MAX_COUNSELOR_REPLY = 4000
# Outbox audience of alerts: the case's topic in the counselors' Telegram group.
COUNSELORS = "counselors"
# Callback data of the «Nhận ca» button under an alert: the prefix and the case id.
CLAIM_PREFIX = "case_claim:"
# A student's message copied into the topic is cut to this length (Telegram's limit is 4,096).
MIRROR_CHARS = 3500
CLOSED = (CaseStatus.RESOLVED, CaseStatus.CANCELLED)


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
    # Post cases to the counselors' group (a channel that delivers there is configured).
    alerts: bool = False
    # Copy the student's messages of an alerted case into its topic.
    mirror: bool = True

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
    analysis: Analysis | None = None,
) -> list[Reply]:
    """Open a case (or reuse the open one) and tell the student what happens now, honestly.

    `analysis` is what made the case (a crisis message); otherwise the last analysed message is used
    for the counselors' alert.
    """
    case = await uow.cases.active_for(conversation.id)
    if case is not None:
        return [
            Reply(text=lib.text("counselor_already_waiting"), buttons=buttons(lib, "cancel_case", "call_111"))
        ]
    case = await uow.cases.open(conversation.id, priority, opened_by, now)
    await _set_state(uow, conversation.id, ConversationState.AWAITING_COUNSELOR, now)
    log.info("case opened", extra={"conversation": conversation.id, "kind": priority.value})
    if policy.alerts:
        await _alert_new(case, conversation, analysis, uow=uow, lib=lib, now=now)
    key = "counselor_requested" if policy.on_duty(now) else "counselor_off_duty"
    if opened_by == "crisis":
        # One line inside the crisis message (handlers/answer.py), not a message of its own.
        key = "crisis_counselor_on" if policy.on_duty(now) else "crisis_counselor_off"
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
    await _alert(uow, case, lib.text("alert_cancelled", case_id=str(case.id)), now)
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
        author=NOTICE,
    )
    await uow.outbox.add(user.id, user.channel, reply.text, reply.buttons, now)


def _priority(lib: GuidanceLibrary, case: Case) -> str:
    return lib.text(f"alert_priority_{case.priority.value}")


async def _alert_new(
    case: Case,
    conversation: Conversation,
    analysis: Analysis | None,
    *,
    uow: UnitOfWork,
    lib: GuidanceLibrary,
    now: datetime,
) -> None:
    """Tell the counselors' group about a new case: why, how urgent, which tactics (no message text)."""
    if analysis is None:
        last = await uow.messages.last_analysed(conversation.id)
        analysis = last.analysis if last else None
    tactics = sorted(analysis.tactics, key=lambda t: t.value) if analysis else []
    text = lib.text(
        "alert_new",
        case_id=str(case.id),
        priority=_priority(lib, case),
        reason=lib.text(f"alert_reason_{case.opened_by}"),
        tactics=", ".join(lib.tactic_name(t) for t in tactics) or lib.text("alert_no_tactics"),
    )
    await uow.cases.mark_alerted(case.id, now)
    await uow.outbox.add(
        conversation.user_id,
        Channel.TELEGRAM,
        text,
        _claim_button(lib, case),
        now,
        audience=COUNSELORS,
        case_id=case.id,
    )


def _claim_button(lib: GuidanceLibrary, case: Case) -> tuple[Button, ...]:
    return (Button(label=lib.text("alert_claim_button"), action=f"{CLAIM_PREFIX}{case.id}"),)


async def _alert(
    uow: UnitOfWork, case: Case, text: str, now: datetime, buttons: tuple[Button, ...] = ()
) -> None:
    """Queue a message for the case's topic, if the counselors' group was alerted about the case."""
    if case.last_alert_at is None:
        return
    conversation = await _conversation(uow, case)
    await uow.outbox.add(
        conversation.user_id, Channel.TELEGRAM, text, buttons, now, audience=COUNSELORS, case_id=case.id
    )


async def mirror_student_message(
    conversation: Conversation,
    text: str | None,
    *,
    uow: UnitOfWork,
    lib: GuidanceLibrary,
    now: datetime,
    hidden: bool = False,
) -> None:
    """Copy what the student sent into the topic of their alerted case (text cut to MIRROR_CHARS);
    a message the platform hid is said to be hidden."""
    case = await uow.cases.active_for(conversation.id)
    if case is None:
        return
    if hidden:
        body = lib.text("alert_student_hidden")
    elif text:
        body = lib.text("alert_student", text=text[:MIRROR_CHARS])
    else:
        body = lib.text("alert_student_other")
    await _alert(uow, case, body, now)


async def _conversation(uow: UnitOfWork, case: Case) -> Conversation:
    found = await uow.conversations.by_id(case.conversation_id)
    if found is None:
        raise HandoffError("not_found")
    return found


async def _open_case(uow: UnitOfWork, case_id: int) -> Case:
    case = await uow.cases.get(case_id)
    if case is None:
        raise HandoffError("not_found")
    if case.status in CLOSED:
        raise HandoffError("closed")
    return case


async def claim_case(
    case_id: int, counselor: Counselor, *, uow: UnitOfWork, lib: GuidanceLibrary, now: datetime
) -> Case:
    """A counselor takes a waiting case; two at once: one wins, the other gets `taken`."""
    return await _claim(case_id, counselor, "counselor_joined", uow=uow, lib=lib, now=now)


async def _claim(
    case_id: int, counselor: Counselor, notice: str, *, uow: UnitOfWork, lib: GuidanceLibrary, now: datetime
) -> Case:
    """Claim the case and tell the student, in the words of the text `notice`."""
    case = await _open_case(uow, case_id)
    if not await uow.cases.claim(case_id, counselor.id, now):
        raise HandoffError("taken")
    await _set_state(uow, case.conversation_id, ConversationState.WITH_COUNSELOR, now)
    await _notify(uow, case, Reply(text=lib.text(notice), buttons=buttons(lib, "end_chat")), now)
    await _alert(uow, case, lib.text("alert_claimed", case_id=str(case_id), name=counselor.name), now)
    claimed = await uow.cases.get(case_id)
    assert claimed is not None
    return claimed


async def post_counselor_reply(
    case_id: int, counselor: Counselor, text: str, *, uow: UnitOfWork, now: datetime
) -> None:
    """A counselor's message to the student: stored in the transcript and queued in the outbox."""
    body = _checked_reply(text)
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


def _checked_reply(text: str) -> str:
    body = text.strip()
    if not body:
        raise HandoffError("empty")
    if len(body) > MAX_COUNSELOR_REPLY:
        raise HandoffError("too_long")
    return body


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
    await _alert(uow, case, lib.text("alert_released", case_id=str(case_id), name=counselor.name), now)


async def resolve_case(
    case_id: int,
    counselor: Counselor,
    outcome: CaseOutcome,
    *,
    uow: UnitOfWork,
    lib: GuidanceLibrary,
    now: datetime,
    referral: Referral | None = None,
    follow_up_on: date | None = None,
) -> None:
    """Close a case with its outcome; the student is told and the bot takes over again.

    Policy: a claimed case is closed by its counselor or a supervisor. A case nobody claimed is closed
    without anyone having talked to the student, who is told exactly that (not that a counselor
    "ended the chat"); an urgent one (a crisis) only by a supervisor: a counselor claims it first.
    A follow-up day, if any, is after today: the case comes back to the queue that day."""
    case = await _open_case(uow, case_id)
    if follow_up_on is not None and follow_up_on <= now.date():
        raise HandoffError("follow_up_past")
    supervisor = counselor.role == "supervisor"
    if case.status is CaseStatus.CLAIMED and case.counselor_id != counselor.id and not supervisor:
        raise HandoffError("not_yours")
    if case.status is CaseStatus.WAITING and case.priority is CasePriority.URGENT and not supervisor:
        raise HandoffError("claim_first")
    notice = "counselor_left" if case.status is CaseStatus.CLAIMED else "counselor_closed_unanswered"
    await uow.cases.close(
        case_id, CaseStatus.RESOLVED, outcome, now, referral=referral, follow_up_on=follow_up_on
    )
    await _set_state(uow, case.conversation_id, ConversationState.BOT, now)
    await _notify(
        uow,
        case,
        Reply(text=lib.text(notice), buttons=buttons(lib, "talk_to_counselor", "call_111")),
        now,
    )
    await _alert(uow, case, lib.text("alert_resolved", case_id=str(case_id), name=counselor.name), now)


async def assess_risk(case_id: int, counselor: Counselor, risk: RiskAssessment, *, uow: UnitOfWork) -> None:
    """Record the risk checklist of an open case. Policy: by the counselor who holds it, or a
    supervisor; a waiting case is claimed first (someone is talking to the child)."""
    case = await _open_case(uow, case_id)
    if case.status is CaseStatus.WAITING:
        raise HandoffError("claim_first_risk")
    if case.counselor_id != counselor.id and counselor.role != "supervisor":
        raise HandoffError("not_yours")
    await uow.cases.set_risk(case_id, risk)


async def transfer_case(case_id: int, counselor: Counselor, to: Counselor | None, *, uow: UnitOfWork) -> None:
    """Hand a claimed case to a named colleague. Policy: its holder or a supervisor does it; the
    student keeps talking to "a counselor" and is not told of the change (the handover note is the
    console's)."""
    case = await _open_case(uow, case_id)
    if to is None:
        raise HandoffError("no_colleague")
    if to.id == case.counselor_id:
        raise HandoffError("same_counselor")
    holder = None if counselor.role == "supervisor" else counselor.id
    if not await uow.cases.transfer(case_id, holder, to.id):
        raise HandoffError("not_yours")


async def reopen_case(
    case_id: int,
    counselor: Counselor,
    *,
    uow: UnitOfWork,
    lib: GuidanceLibrary,
    policy: EscalationPolicy,
    now: datetime,
) -> Case:
    """A counselor follows up on a closed case: a new case on the same conversation, claimed by them.

    Policy: the student is told a counselor is writing again about the earlier chat (not that one
    "joined", as if they had asked). A case the student cancelled stays closed, unless it was urgent
    (a crisis) and a supervisor decides to follow up."""
    old = await uow.cases.get(case_id)
    if old is None:
        raise HandoffError("not_found")
    if old.status not in CLOSED or await uow.cases.active_for(old.conversation_id) is not None:
        raise HandoffError("open")
    if old.status is CaseStatus.CANCELLED and not (
        old.priority is CasePriority.URGENT and counselor.role == "supervisor"
    ):
        raise HandoffError("student_cancelled")
    conversation = await _conversation(uow, old)
    if await uow.users.get(conversation.user_id) is None:
        raise HandoffError("student_gone")
    case = await uow.cases.open(old.conversation_id, old.priority, "counselor", now)
    if old.follow_up_on is not None and old.followed_up_at is None:
        await uow.cases.mark_followed_up(old.id, now)
    if policy.alerts:
        await uow.cases.mark_alerted(case.id, now)
        if old.alert_thread_id is not None:
            await uow.cases.set_alert_thread(case.id, old.alert_thread_id)
        case = await uow.cases.get(case.id) or case
    log.info("case reopened", extra={"conversation": case.conversation_id})
    return await _claim(case.id, counselor, "counselor_follow_up", uow=uow, lib=lib, now=now)


@dataclass(frozen=True)
class GroupResult:
    """What a counselor's action in the counselors' group did: for the topic, and for the audit log."""

    notice: str | None = None
    case_id: int | None = None
    done: tuple[str, ...] = ()


async def relay_from_group(
    thread_id: int,
    counselor: Counselor | None,
    telegram_id: int,
    text: str,
    *,
    uow: UnitOfWork,
    lib: GuidanceLibrary,
    now: datetime,
) -> GroupResult:
    """A message in a case's topic of the counselors' group, relayed to the student like a console reply.

    A linked counselor who answers a waiting case claims it by answering. The notice tells the topic
    when the message was not sent or the case changed hands.
    """
    case = await uow.cases.by_alert_thread(thread_id)
    if case is None:
        return GroupResult()  # not a case's topic: ordinary talk among counselors
    if counselor is None:
        return GroupResult(lib.text("relay_not_linked", telegram_id=str(telegram_id)), case.id)
    done: list[str] = []
    notice = None
    try:
        _checked_reply(text)
        if case.status is CaseStatus.WAITING:
            await claim_case(case.id, counselor, uow=uow, lib=lib, now=now)
            done.append("claim")
            notice = lib.text("relay_claimed", case_id=str(case.id))
        await post_counselor_reply(case.id, counselor, text, uow=uow, now=now)
        done.append("reply")
    except HandoffError as exc:
        notice = _relay_notice(exc.code, case, lib)
    return GroupResult(notice, case.id, tuple(done))


async def claim_from_group(
    case_id: int,
    counselor: Counselor | None,
    telegram_id: int,
    *,
    uow: UnitOfWork,
    lib: GuidanceLibrary,
    now: datetime,
) -> GroupResult:
    """The «Nhận ca» button of an alert; the notice is shown to the counselor who tapped it."""
    if counselor is None:
        return GroupResult(lib.text("relay_not_linked", telegram_id=str(telegram_id)), case_id)
    try:
        await claim_case(case_id, counselor, uow=uow, lib=lib, now=now)
    except HandoffError as exc:
        return GroupResult(_relay_notice(exc.code, await uow.cases.get(case_id), lib), case_id)
    return GroupResult(lib.text("relay_claimed", case_id=str(case_id)), case_id, ("claim",))


def _relay_notice(code: str, case: Case | None, lib: GuidanceLibrary) -> str | None:
    case_id = str(case.id) if case else "?"
    if code in ("taken", "not_yours"):
        return lib.text("relay_not_yours", case_id=case_id)
    if code in ("closed", "not_found"):
        return lib.text("relay_closed", case_id=case_id)
    if code == "too_long":
        return lib.text("relay_too_long", limit=str(MAX_COUNSELOR_REPLY))
    if code == "student_gone":
        return lib.text("relay_student_gone")
    return None  # empty: nothing to say


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
    if policy.alerts:
        # Urgent cases are posted again to the counselors' group every claim_timeout until claimed.
        for case in await uow.cases.urgent_alerted_before(now - policy.claim_timeout):
            minutes = int((now - case.created_at).total_seconds() // 60)
            await uow.cases.mark_alerted(case.id, now)
            text = lib.text("alert_again", case_id=str(case.id), minutes=str(minutes))
            await _alert(uow, case, text, now, _claim_button(lib, case))
    return len(overdue)
