"""Escalation and handoff in the core: cases, the silent bot, counselor replies through the outbox."""

from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta

import pytest

from handlers.handoff import (
    EscalationPolicy,
    HandoffError,
    check_waiting,
    claim_case,
    post_counselor_reply,
    reopen_case,
    resolve_case,
)
from handlers.models import CaseOutcome, CasePriority, CaseStatus, ConversationState, Counselor
from handlers.triage import Core, handle_incoming
from tests.conftest import CRISIS, SCAM, action, text
from tests.fakes import InMemoryStore, InMemoryUnitOfWork

ANNA = Counselor(id=1, name="anna", role="counselor")
BINH = Counselor(id=2, name="binh", role="counselor")


def only_case(store: InMemoryStore):  # type: ignore[no-untyped-def]
    (case,) = store.cases.values()
    return case


class TestStudentSide:
    async def test_asking_for_a_person_opens_one_waiting_case(self, core: Core, store: InMemoryStore) -> None:
        await handle_incoming(text("u", "/start"), core=core)
        turn = await handle_incoming(action("u", "talk_to_counselor"), core=core)
        assert "đọc cuộc trò chuyện này" in turn.replies[-1].text
        assert [b.action for b in turn.replies[-1].buttons] == ["cancel_case", "call_111"]
        again = await handle_incoming(action("u", "talk_to_counselor"), core=core)
        assert "gửi yêu cầu rồi" in again.replies[-1].text
        case = only_case(store)
        assert case.status is CaseStatus.WAITING and case.priority is CasePriority.NORMAL
        (conversation,) = store.conversations.values()
        assert conversation.state is ConversationState.AWAITING_COUNSELOR
        assert conversation.escalated_at is not None  # kept past the retention limit

    async def test_crisis_opens_an_urgent_case_by_itself(self, core: Core, store: InMemoryStore) -> None:
        turn = await handle_incoming(text("u", CRISIS), core=core)
        (only,) = turn.replies  # the crisis, the numbers and the notice in one message
        assert only.buttons[0].action == "call_111" and "cancel_case" in [b.action for b in only.buttons]
        assert "counselor" in only.parts
        assert only_case(store).priority is CasePriority.URGENT

    async def test_cancel_while_waiting(self, core: Core, store: InMemoryStore) -> None:
        await handle_incoming(action("u", "talk_to_counselor"), core=core)
        turn = await handle_incoming(action("u", "cancel_case"), core=core)
        assert "kết thúc" in turn.replies[-1].text and only_case(store).status is CaseStatus.CANCELLED
        nothing = await handle_incoming(action("u", "cancel_case"), core=core)
        assert "không chờ" in nothing.replies[-1].text

    async def test_off_duty_is_said_honestly(self, core: Core) -> None:
        closed = replace(core, escalation=EscalationPolicy(opens=time(8), closes=time(8, 0, 1)))
        turn = await handle_incoming(action("u", "talk_to_counselor"), core=closed)
        assert "chưa trực" in turn.replies[-1].text and "111" in turn.replies[-1].text


class TestCounselorSide:
    async def test_claim_talk_resolve(self, core: Core, store: InMemoryStore) -> None:
        await handle_incoming(text("u", SCAM), core=core)
        await handle_incoming(action("u", "talk_to_counselor"), core=core)
        case = only_case(store)
        async with InMemoryUnitOfWork(store) as uow:
            await claim_case(case.id, ANNA, uow=uow, lib=core.library, now=core.clock())
            await uow.commit()
        assert "tư vấn viên đã vào" in list(store.outbox.values())[-1].text.lower()
        silent = await handle_incoming(text("u", "chị ơi em sợ lắm"), core=core)
        assert silent.replies == ()  # the bot stays silent while a counselor has the chat
        assert any(m.text == "chị ơi em sợ lắm" for m in store.messages.values())
        async with InMemoryUnitOfWork(store) as uow:
            await post_counselor_reply(
                case.id, ANNA, "Chị ở đây rồi, em kể chị nghe nhé.", uow=uow, now=core.clock()
            )
            await uow.commit()
        assert list(store.outbox.values())[-1].text == "Chị ở đây rồi, em kể chị nghe nhé."
        assert any(m.author == "counselor:1" for m in store.messages.values())
        async with InMemoryUnitOfWork(store) as uow:
            await resolve_case(
                case.id, ANNA, CaseOutcome.ADVICE_GIVEN, uow=uow, lib=core.library, now=core.clock()
            )
            await uow.commit()
        assert (
            only_case(store).status is CaseStatus.RESOLVED
            and only_case(store).outcome is CaseOutcome.ADVICE_GIVEN
        )
        back = await handle_incoming(text("u", SCAM), core=core)
        assert back.analysis is not None and back.replies  # the bot answers again

    async def test_two_claims_one_wins_and_replies_need_the_claim(
        self, core: Core, store: InMemoryStore
    ) -> None:
        await handle_incoming(action("u", "talk_to_counselor"), core=core)
        case = only_case(store)
        async with InMemoryUnitOfWork(store) as uow:
            with pytest.raises(HandoffError, match="not_yours"):
                await post_counselor_reply(case.id, ANNA, "xin chào", uow=uow, now=core.clock())
            await claim_case(case.id, ANNA, uow=uow, lib=core.library, now=core.clock())
            with pytest.raises(HandoffError, match="taken"):
                await claim_case(case.id, BINH, uow=uow, lib=core.library, now=core.clock())
            with pytest.raises(HandoffError, match="too_long"):
                await post_counselor_reply(case.id, ANNA, "x" * 1_000_000, uow=uow, now=core.clock())
            with pytest.raises(HandoffError, match="empty"):
                await post_counselor_reply(case.id, ANNA, "   ", uow=uow, now=core.clock())
            await resolve_case(case.id, ANNA, CaseOutcome.OTHER, uow=uow, lib=core.library, now=core.clock())
            with pytest.raises(HandoffError, match="closed"):
                await post_counselor_reply(case.id, ANNA, "còn đó không", uow=uow, now=core.clock())
            with pytest.raises(HandoffError, match="not_found"):
                await claim_case(999, ANNA, uow=uow, lib=core.library, now=core.clock())

    async def test_student_ends_a_claimed_chat(self, core: Core, store: InMemoryStore) -> None:
        await handle_incoming(action("u", "talk_to_counselor"), core=core)
        async with InMemoryUnitOfWork(store) as uow:
            await claim_case(only_case(store).id, ANNA, uow=uow, lib=core.library, now=core.clock())
            await uow.commit()
        turn = await handle_incoming(text("u", "/ketthuc"), core=core)
        assert "kết thúc" in turn.replies[-1].text and only_case(store).status is CaseStatus.CANCELLED

    async def test_nobody_claims_in_time(self, core: Core, store: InMemoryStore) -> None:
        await handle_incoming(action("u", "talk_to_counselor"), core=core)
        later = core.clock() + timedelta(minutes=6)
        async with InMemoryUnitOfWork(store) as uow:
            assert await check_waiting(uow=uow, lib=core.library, policy=EscalationPolicy(), now=later) == 1
            assert await check_waiting(uow=uow, lib=core.library, policy=EscalationPolicy(), now=later) == 0
            await uow.commit()
        notice = list(store.outbox.values())[-1]
        assert "chưa ai nhận" in notice.text and "111" in notice.text


SUPERVISOR = Counselor(id=3, name="sup", role="supervisor")


class TestHonestPolicies:
    """Issue 18 item 8: a counselor could reopen a case the student cancelled (the student was then
    told "a counselor joined") and close an urgent case nobody had claimed (the student was told the
    counselor "ended the chat")."""

    async def test_an_urgent_case_nobody_claimed_is_closed_by_a_supervisor_only(
        self, core: Core, store: InMemoryStore
    ) -> None:
        await handle_incoming(text("u", CRISIS), core=core)
        case = only_case(store)
        async with InMemoryUnitOfWork(store) as uow:
            with pytest.raises(HandoffError) as refused:
                await resolve_case(
                    case.id, ANNA, CaseOutcome.OTHER, uow=uow, lib=core.library, now=core.clock()
                )
            assert refused.value.code == "claim_first"
            await resolve_case(
                case.id, SUPERVISOR, CaseOutcome.NO_RESPONSE, uow=uow, lib=core.library, now=core.clock()
            )
            await uow.commit()
        told = list(store.outbox.values())[-1].text
        assert "chưa có tư vấn viên nào trả lời được bạn" in told and "111" in told
        assert "đã kết thúc cuộc trò chuyện" not in told

    async def test_a_waiting_case_closed_unclaimed_is_told_so(self, core: Core, store: InMemoryStore) -> None:
        await handle_incoming(action("u", "talk_to_counselor"), core=core)
        async with InMemoryUnitOfWork(store) as uow:
            await resolve_case(
                only_case(store).id, ANNA, CaseOutcome.OTHER, uow=uow, lib=core.library, now=core.clock()
            )
            await uow.commit()
        assert "chưa có tư vấn viên nào" in list(store.outbox.values())[-1].text

    async def test_a_cancelled_case_stays_closed_unless_urgent_and_a_supervisor_follows_up(
        self, core: Core, store: InMemoryStore
    ) -> None:
        await handle_incoming(action("u", "talk_to_counselor"), core=core)
        await handle_incoming(action("u", "cancel_case"), core=core)
        normal = only_case(store)
        for who in (ANNA, SUPERVISOR):
            async with InMemoryUnitOfWork(store) as uow:
                with pytest.raises(HandoffError) as refused:
                    await reopen_case(
                        normal.id, who, uow=uow, lib=core.library, policy=core.escalation, now=core.clock()
                    )
                assert refused.value.code == "student_cancelled"
        await handle_incoming(text("v", CRISIS), core=core)
        await handle_incoming(action("v", "cancel_case"), core=core)
        (urgent,) = [c for c in store.cases.values() if c.priority is CasePriority.URGENT]
        assert urgent.status is CaseStatus.CANCELLED
        async with InMemoryUnitOfWork(store) as uow:
            with pytest.raises(HandoffError):
                await reopen_case(
                    urgent.id, ANNA, uow=uow, lib=core.library, policy=core.escalation, now=core.clock()
                )
            await reopen_case(
                urgent.id, SUPERVISOR, uow=uow, lib=core.library, policy=core.escalation, now=core.clock()
            )
            await uow.commit()
        told = list(store.outbox.values())[-1].text
        assert "hỏi thăm giờ bạn thế nào" in told and "đã vào cuộc trò chuyện" not in told
