"""Conversation features as dialogue tables: input -> expected reply properties (issue: guidance)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from handlers.models import Analysis, Evidence, Tactic
from handlers.practice import CODES, code_of, options
from handlers.retention import purge_expired
from handlers.triage import Core, Limits, handle_incoming
from tests.conftest import CRISIS, action, text
from tests.fakes import FakeClassifier, InMemoryStore, InMemoryUnitOfWork

SEXTORTION = "gui them anh ko t dang len group"
SEXTORTION_ANALYSIS = Analysis(
    tactics=(Tactic.FEAR, Tactic.CONTROL),
    crisis=True,
    crisis_score=0.9,
    evidence=(
        Evidence(tactic="fear", start=15, end=32, text="t dang len group"),
        Evidence(tactic="control", start=0, end=12, text="gui them anh"),
        Evidence(tactic="crisis", start=0, end=32, text=SEXTORTION),
    ),
    scenario="sextortion",
    backend="fake",
)
POLICE = "Cục Cảnh sát báo bạn dính vụ án. Chuyển tiền vào tài khoản tạm giữ ngay"
POLICE_ANALYSIS = Analysis(
    tactics=(Tactic.FEAR, Tactic.CONTROL),
    evidence=(
        Evidence(tactic="fear", start=0, end=32, text="Cục Cảnh sát báo bạn dính vụ án."),
        Evidence(tactic="control", start=33, end=71, text="Chuyển tiền vào tài khoản tạm giữ ngay"),
    ),
    scenario="police_impersonation",
    backend="fake",
)


@pytest.fixture
def chat(core: Core, classifier: FakeClassifier) -> Core:
    classifier.table[SEXTORTION[:12]] = SEXTORTION_ANALYSIS
    classifier.table[POLICE[:12]] = POLICE_ANALYSIS
    return replace(core, rng=random.Random(7), limits=Limits(max_chars=8000, max_reply_chars=2000))


def actions_of(turn) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [[b.action for b in r.buttons] for r in turn.replies]


def all_text(turn) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(r.text for r in turn.replies)


class TestFirstContact:
    async def test_who_what_how_long_who_sees_how_to_delete_then_prompt(self, chat: Core) -> None:
        turn = await handle_incoming(text("new", "/start"), core=chat)
        welcome = turn.replies[0].text
        for needle in ("Không Một Mình", "30 ngày", "tư vấn viên", "/xoa", "111"):
            assert needle in welcome
        assert "Gửi mình tin nhắn bạn thấy lạ nhé" in turn.replies[1].text

    async def test_crisis_as_first_message_puts_safety_before_the_welcome(self, chat: Core) -> None:
        turn = await handle_incoming(text("new", CRISIS), core=chat)
        assert turn.replies[0].buttons[0].action == "call_111"
        assert "111" in turn.replies[0].text
        assert "Không Một Mình 👋" in turn.replies[1].text


class TestAnalysisAnswer:
    async def test_scenario_guidance_follows_the_quotes(self, chat: Core) -> None:
        await handle_incoming(text("u", "/start"), core=chat)
        turn = await handle_incoming(text("u", POLICE), core=chat)
        answer = turn.replies[0].text
        assert (
            "“Cục Cảnh sát báo bạn dính vụ án.”" in answer
            and "“Chuyển tiền vào tài khoản tạm giữ ngay”" in answer
        )
        assert "Giả danh công an" in answer and "Làm ngay:" in answer and "Cách thoát ra:" in answer
        assert actions_of(turn)[0] == ["call_111", "learn_more", "share_with_adult", "talk_to_counselor"]
        assert actions_of(turn)[1] == ["helpful", "not_helpful"]
        assert all(len(r.text) <= 2000 for r in turn.replies)

    async def test_crisis_first_with_the_matching_calm_guide(self, chat: Core) -> None:
        await handle_incoming(text("u", "/start"), core=chat)
        turn = await handle_incoming(text("u", SEXTORTION), core=chat)
        first = turn.replies[0]
        assert first.buttons[0].action == "call_111" and "talk_to_counselor" in [
            b.action for b in first.buttons
        ]
        assert "111" in first.text.split("\n")[1]  # the guide's first step names the hotline
        assert "“gui them anh”" in turn.replies[1].text  # then the tactics with the student's words

    async def test_unsure_never_says_safe_and_offers_a_person(self, chat: Core) -> None:
        await handle_incoming(text("u", "/start"), core=chat)
        turn = await handle_incoming(text("u", "bạn ơi cho mình hỏi cái này có bình thường không"), core=chat)
        assert "Chưa chắc không có nghĩa là an toàn" in turn.replies[0].text
        assert "talk_to_counselor" in actions_of(turn)[0]


class TestShare:
    async def test_summary_names_tactics_and_numbers_but_not_the_message(self, chat: Core) -> None:
        await handle_incoming(text("u", POLICE), core=chat)
        turn = await handle_incoming(action("u", "share_with_adult"), core=chat)
        summary = turn.replies[-1].text
        assert "Gây sợ hãi" in summary and "Kiểm soát hành vi" in summary and "Giả danh công an" in summary
        assert "111" in summary and "113" in summary
        assert "tạm giữ" not in summary and "dính vụ án" not in summary

    async def test_nothing_to_share_yet(self, chat: Core) -> None:
        turn = await handle_incoming(action("u", "share_with_adult"), core=chat)
        assert "chưa thấy tin nhắn nào" in turn.replies[-1].text


class TestFeedback:
    async def test_helpful_is_recorded_once(self, chat: Core, store: InMemoryStore) -> None:
        await handle_incoming(text("u", POLICE), core=chat)
        first = await handle_incoming(action("u", "helpful"), core=chat)
        again = await handle_incoming(action("u", "helpful"), core=chat)
        assert (
            "Cảm ơn" in first.replies[-1].text and "góp ý cho câu trả lời này rồi" in again.replies[-1].text
        )
        assert list(store.feedback.values()) == [(True, None)]

    async def test_not_helpful_asks_why_and_keeps_a_long_reason_short(
        self, chat: Core, store: InMemoryStore
    ) -> None:
        await handle_incoming(text("u", POLICE), core=chat)
        ask = await handle_incoming(action("u", "not_helpful"), core=chat)
        assert actions_of(ask)[-1] == ["feedback_skip"]
        done = await handle_incoming(text("u", "x" * 5000), core=chat)
        assert "góp ý này giúp mình" in done.replies[-1].text
        ((helpful, reason),) = store.feedback.values()
        assert helpful is False and reason is not None and len(reason) == 500
        # The conversation is back to normal: the next message is analysed again.
        after = await handle_incoming(text("u", POLICE), core=chat)
        assert after.analysis is not None

    async def test_skip_and_feedback_without_an_answer(self, chat: Core) -> None:
        none = await handle_incoming(action("u", "helpful"), core=chat)
        assert "chưa trả lời tin nhắn nào" in none.replies[-1].text
        await handle_incoming(text("u", POLICE), core=chat)
        await handle_incoming(action("u", "not_helpful"), core=chat)
        skip = await handle_incoming(action("u", "feedback_skip"), core=chat)
        assert "Cảm ơn" in skip.replies[-1].text


class TestPractice:
    async def test_a_whole_game_scores_the_answers(self, chat: Core) -> None:
        turn = await handle_incoming(text("u", "/luyentap"), core=chat)
        right = 0
        for number in range(1, 6):
            question = turn.replies[-1]
            assert question.text.startswith(f"Câu {number}/5")
            choices = [b.action for b in question.buttons if b.action.startswith("practice:")]
            assert len(choices) == 4
            qid = choices[0].split(":")[1]
            answer = next(q for q in chat.library.practice_questions() if q.id == qid)
            good = f"practice:{qid}:{code_of(answer.tactics)}"
            pick = good if number % 2 else next(c for c in choices if c != good)
            right += pick == good
            turn = await handle_incoming(action("u", pick), core=chat)
            assert ("Đúng rồi" if pick == good else "Chưa đúng") in turn.replies[0].text
        assert f"Bạn đúng {right}/5 câu" in turn.replies[-1].text

    async def test_old_button_and_typed_non_option_get_the_current_question(self, chat: Core) -> None:
        turn = await handle_incoming(text("u", "/luyentap"), core=chat)
        first = [b.action for b in turn.replies[-1].buttons if b.action.startswith("practice:")]
        await handle_incoming(action("u", first[0]), core=chat)
        stale = await handle_incoming(action("u", first[1]), core=chat)
        assert "qua rồi" in stale.replies[0].text and stale.replies[-1].text.startswith("Câu 2/5")
        typed = await handle_incoming(text("u", "7"), core=chat)
        assert "chọn một đáp án" in typed.replies[0].text and typed.replies[-1].text.startswith("Câu 2/5")
        bogus = await handle_incoming(action("u", "practice:p01:zzz"), core=chat)
        assert bogus.replies[-1].text.startswith("Câu 2/5")

    async def test_stop_and_answer_after_the_game(self, chat: Core) -> None:
        turn = await handle_incoming(text("u", "/luyentap"), core=chat)
        choice = next(b.action for b in turn.replies[-1].buttons if b.action.startswith("practice:"))
        stopped = await handle_incoming(action("u", "practice_stop"), core=chat)
        assert "dừng phần luyện tập" in stopped.replies[-1].text
        late = await handle_incoming(action("u", choice), core=chat)
        assert "kết thúc rồi" in late.replies[-1].text

    def test_options_hold_the_right_answer_and_are_stable(self, chat: Core) -> None:
        for question in chat.library.practice_questions():
            choice = options(question)
            assert code_of(question.tactics) in choice and len(set(choice)) == 4 and set(choice) <= set(CODES)
            assert options(question) == choice

    async def test_a_real_message_during_the_game_is_analysed(self, chat: Core) -> None:
        await handle_incoming(text("u", "/luyentap"), core=chat)
        turn = await handle_incoming(text("u", POLICE), core=chat)
        assert turn.analysis is not None and "“Cục Cảnh sát báo bạn dính vụ án.”" in turn.replies[0].text


class TestDeleteAndRetention:
    async def test_delete_twice_and_without_data(self, chat: Core, store: InMemoryStore) -> None:
        await handle_incoming(text("u", POLICE), core=chat)
        await handle_incoming(action("u", "delete_confirm"), core=chat)
        again = await handle_incoming(action("u", "delete_confirm"), core=chat)
        assert "đã xóa hết" in again.replies[0].text and not store.messages and not store.users

    async def test_retention_removes_old_conversations_only(self, chat: Core, store: InMemoryStore) -> None:
        await handle_incoming(text("old", POLICE), core=chat)
        chat.clock.now += timedelta(days=40)  # type: ignore[attr-defined]
        await handle_incoming(text("recent", POLICE), core=chat)
        removed = await purge_expired(uow=lambda: InMemoryUnitOfWork(store), now=chat.clock(), days=30)
        assert removed == 1 and len(store.users) == 1 and len(store.conversations) == 1


class TestChannelLimits:
    async def test_long_replies_are_split_with_buttons_on_the_last_part(self, chat: Core) -> None:
        small = replace(chat, limits=Limits(max_reply_chars=500))
        turn = await handle_incoming(action("u", "learn_more"), core=small)
        assert len(turn.replies) > 1 and all(len(r.text) <= 500 for r in turn.replies)
        assert not any(r.buttons for r in turn.replies[:-1]) and turn.replies[-1].buttons


class TestGuideConsistency:
    async def test_a_guide_for_another_kind_of_trap_is_not_shown(
        self, chat: Core, classifier: FakeClassifier
    ) -> None:
        wrong = POLICE_ANALYSIS.model_copy(update={"scenario": "task_job"})  # task_job shows no fear
        classifier.table[POLICE[:12]] = wrong
        await handle_incoming(text("u", "/start"), core=chat)
        turn = await handle_incoming(text("u", POLICE), core=chat)
        assert "Việc nhẹ lương cao" not in turn.replies[0].text
        assert "Bạn nên làm ngay:" in turn.replies[0].text  # the general steps instead
