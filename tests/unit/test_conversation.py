"""Conversation features as dialogue tables: input -> expected reply properties (issue: guidance)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from handlers.models import Analysis, CrisisKind, Evidence, Tactic
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


def parts_of(turn) -> set[str]:  # type: ignore[no-untyped-def]
    return {p for r in turn.replies for p in r.parts}


class TestFirstContact:
    async def test_start_is_the_prompt_and_the_introduction_in_one_message(self, chat: Core) -> None:
        turn = await handle_incoming(text("new", "/start"), core=chat)
        assert len(turn.replies) == 1 and "intro" in parts_of(turn)
        # The introduction says how long messages are kept and how to delete them.
        assert "30" in turn.replies[0].text and "/xoa" in turn.replies[0].text

    async def test_crisis_as_first_message_is_the_crisis_alone_and_the_intro_comes_next(
        self, chat: Core
    ) -> None:
        turn = await handle_incoming(text("new", CRISIS), core=chat)
        assert len(turn.replies) == 1 and turn.replies[0].buttons[0].action == "call_111"
        assert "intro" not in parts_of(turn) and "111" in turn.replies[0].text
        after = await handle_incoming(text("new", POLICE), core=chat)
        assert "intro" in parts_of(after)
        later = await handle_incoming(text("new", POLICE), core=chat)
        assert "intro" not in parts_of(later)


class TestAnalysisAnswer:
    async def test_one_message_verdict_quotes_card_steps_and_buttons(self, chat: Core) -> None:
        await handle_incoming(text("u", "/start"), core=chat)
        turn = await handle_incoming(text("u", POLICE), core=chat)
        assert len(turn.replies) == 1
        answer = turn.replies[0]
        assert "“Cục Cảnh sát báo bạn dính vụ án.”" in answer.text
        assert "“Chuyển tiền vào tài khoản tạm giữ ngay”" in answer.text
        assert {"card:police_impersonation", "quote:fear", "quote:control", "steps:card"} <= set(answer.parts)
        assert actions_of(turn)[0] == [
            "call_111",
            "talk_to_counselor",
            "learn_more",
            "helpful",
            "not_helpful",
        ]

    async def test_crisis_is_one_calm_message_with_the_kind_of_danger(self, chat: Core) -> None:
        await handle_incoming(text("u", "/start"), core=chat)
        crisis = SEXTORTION_ANALYSIS.model_copy(update={"crisis_kind": CrisisKind.SEXTORTION_NOW})
        chat.classifier.table[SEXTORTION[:12]] = crisis  # type: ignore[attr-defined]
        turn = await handle_incoming(text("u", SEXTORTION), core=chat)
        (only,) = turn.replies
        assert only.buttons[0].action == "call_111" and "learn_more" in [b.action for b in only.buttons]
        assert {"crisis:sextortion_now", "call", "counselor"} <= set(only.parts)
        assert not {"quote:fear", "quote:control", "flags", "steps:card"} & set(only.parts)

    async def test_unsure_offers_a_person_and_never_says_ordinary(
        self, chat: Core, classifier: FakeClassifier
    ) -> None:
        body = "bạn ơi cho mình hỏi cái này có bình thường không"
        classifier.table[body[:12]] = Analysis(unsure=True, backend="fake")
        await handle_incoming(text("u", "/start"), core=chat)
        turn = await handle_incoming(text("u", body), core=chat)
        assert set(turn.replies[0].parts) == {"unsure"}
        assert "talk_to_counselor" in actions_of(turn)[0]

    async def test_sure_nothing_found_says_why_it_looks_ordinary(
        self, chat: Core, classifier: FakeClassifier
    ) -> None:
        body = "mai mẹ đón con ở cổng sau nhé con"
        classifier.table[body[:12]] = Analysis(backend="fake")
        await handle_incoming(text("u", "/start"), core=chat)
        turn = await handle_incoming(text("u", body), core=chat)
        assert set(turn.replies[0].parts) == {"benign"}


class TestShare:
    async def test_summary_names_tactics_and_numbers_but_not_the_message(self, chat: Core) -> None:
        await handle_incoming(text("u", POLICE), core=chat)
        turn = await handle_incoming(action("u", "share_with_adult"), core=chat)
        summary = turn.replies[-1].text
        lib = chat.library
        assert lib.tactic_name(Tactic.FEAR) in summary and lib.tactic_name(Tactic.CONTROL) in summary
        assert lib.scenario_title("police_impersonation") in summary
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
    async def test_a_card_for_another_kind_of_trap_is_not_shown(
        self, chat: Core, classifier: FakeClassifier
    ) -> None:
        wrong = POLICE_ANALYSIS.model_copy(update={"scenario": "task_job"})  # task_job shows no fear
        classifier.table[POLICE[:12]] = wrong
        await handle_incoming(text("u", "/start"), core=chat)
        turn = await handle_incoming(text("u", POLICE), core=chat)
        parts = set(turn.replies[0].parts)
        assert "card:task_job" not in parts and "steps:card" not in parts
        assert "steps:tactics" in parts and parts & {"verdict:strong", "verdict:weak"}  # the tactics' own
