"""The main use case against fakes: dialogue tables of input -> reply properties."""

from __future__ import annotations

import pytest

from handlers.models import Channel, Direction, Incoming, MessageKind
from handlers.triage import Core, handle_incoming
from tests.conftest import CRISIS, SCAM, action, text
from tests.fakes import FakeClassifier, InMemoryStore


def actions_of(turn) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [[b.action for b in r.buttons] for r in turn.replies]


class TestFirstContact:
    async def test_first_message_gets_the_answer_then_the_introduction_in_one_message(
        self, core: Core
    ) -> None:
        turn = await handle_incoming(text("u1", SCAM), core=core)
        (only,) = turn.replies
        assert only.text.index("Công an đây.") < only.text.index("/xoa")
        assert only.parts[-1] == "intro"

    async def test_second_message_has_no_introduction(self, core: Core) -> None:
        await handle_incoming(text("u1", "chào"), core=core)
        turn = await handle_incoming(text("u1", SCAM), core=core)
        assert all("intro" not in r.parts for r in turn.replies)


DIALOGUE = [
    # (input, expected tactics, crisis, first-reply must offer 111, text that must appear)
    (SCAM, {"fear", "control"}, False, True, "“Công an đây.”"),
    (CRISIS, set(), True, True, "111"),
    ("hôm nay trời đẹp quá đi mất thôi", set(), False, True, "chưa chắc"),
    ("   \n\t ", set(), False, True, "chưa thấy chữ nào"),
    ("chào bot", set(), False, True, "Gửi mình tin nhắn"),
]


class TestAnalysisAnswer:
    @pytest.mark.parametrize(("body", "tactics", "crisis", "offers_111", "needle"), DIALOGUE)
    async def test_dialogue(
        self, core: Core, body: str, tactics: set[str], crisis: bool, offers_111: bool, needle: str
    ) -> None:
        await handle_incoming(text("u", "/start"), core=core)
        turn = await handle_incoming(text("u", body), core=core)
        got = {t.value for t in turn.analysis.tactics} if turn.analysis else set()
        assert got == tactics
        assert bool(turn.analysis and turn.analysis.crisis) == crisis
        assert ("call_111" in actions_of(turn)[0]) == offers_111
        assert any(needle in r.text for r in turn.replies)

    async def test_crisis_reply_comes_first_with_111_button_first(self, core: Core) -> None:
        turn = await handle_incoming(text("u", CRISIS), core=core)
        replies = [r for r in turn.replies if r.buttons]
        assert replies[0].buttons[0].action == "call_111"
        assert "111" in replies[0].text

    async def test_never_says_safe(self, core: Core) -> None:
        turn = await handle_incoming(text("u", "một tin nhắn bình thường không có gì"), core=core)
        for reply in turn.replies:
            assert "an toàn rồi" not in reply.text
            assert "không phải lừa đảo" not in reply.text

    async def test_classifier_down_still_answers_with_hotline(
        self, core: Core, classifier: FakeClassifier
    ) -> None:
        classifier.fail = True
        turn = await handle_incoming(text("u", SCAM), core=core)
        assert turn.analysis is not None and turn.analysis.unsure
        assert "call_111" in actions_of(turn)[-1]

    async def test_long_text_is_cut_and_the_student_is_told(self, core: Core, store: InMemoryStore) -> None:
        turn = await handle_incoming(text("u", "a " * 1000), core=core)
        assert any("200 ký tự đầu" in r.text for r in turn.replies)
        stored = [m for m in store.messages.values() if m.direction is Direction.IN]
        assert len(stored[0].text or "") == 200

    async def test_control_characters_are_removed_before_storing(
        self, core: Core, store: InMemoryStore
    ) -> None:
        await handle_incoming(text("u", "xin\x00 chào\x1b[31m bạn\x07"), core=core)
        stored = next(m for m in store.messages.values() if m.direction is Direction.IN)
        assert stored.text == "xin chào[31m bạn"


class TestStoreBeforeAnswer:
    async def test_incoming_is_committed_before_the_classifier_runs(
        self, core: Core, store: InMemoryStore, classifier: FakeClassifier
    ) -> None:
        seen_committed: list[bool] = []
        classifier.before = lambda body: seen_committed.append(
            any(m.text == body for m in store.messages.values())
        )
        await handle_incoming(text("u", SCAM), core=core)
        assert seen_committed == [True]

    async def test_replies_and_analysis_are_stored(self, core: Core, store: InMemoryStore) -> None:
        turn = await handle_incoming(text("u", SCAM), core=core)
        outgoing = [m for m in store.messages.values() if m.direction is Direction.OUT]
        assert [m.text for m in outgoing] == [r.text for r in turn.replies]
        incoming = next(m for m in store.messages.values() if m.direction is Direction.IN)
        assert incoming.analysis is not None and incoming.analysis.tactics == turn.analysis.tactics  # type: ignore[union-attr]

    async def test_storage_holds_pseudonym_not_platform_id(self, core: Core, store: InMemoryStore) -> None:
        await handle_incoming(text("0987654321", SCAM), core=core)
        assert list(store.users) != ["0987654321"]
        assert all("0987654321" not in uid for uid in store.users)


class TestButtonsAndCommands:
    @pytest.mark.parametrize(
        ("name", "needle"),
        [
            ("call_111", "Tổng đài 111"),
            ("talk_to_counselor", "111"),
            ("menu", "Mình có thể"),
            ("delete_cancel", "chưa xóa"),
            ("no_such_button", "không còn dùng được"),
            ("", "không còn dùng được"),
        ],
    )
    async def test_action(self, core: Core, name: str, needle: str) -> None:
        turn = await handle_incoming(action("u", name), core=core)
        assert needle in turn.replies[-1].text

    async def test_learn_more_explains_the_tactics_of_the_last_message(self, core: Core) -> None:
        await handle_incoming(text("u", SCAM), core=core)
        turn = await handle_incoming(action("u", "learn_more"), core=core)
        body = turn.replies[-1].text
        assert "Gây sợ hãi" in body and "Kiểm soát hành vi" in body and "Thao túng" not in body

    @pytest.mark.parametrize(
        ("command", "needle"), [("/start", "Gửi mình"), ("/help", "Mình có thể"), ("/abc", "không biết lệnh")]
    )
    async def test_commands(self, core: Core, command: str, needle: str) -> None:
        turn = await handle_incoming(text("u", command), core=core)
        assert needle in turn.replies[-1].text

    @pytest.mark.parametrize(
        "kind", [MessageKind.STICKER, MessageKind.IMAGE, MessageKind.VOICE, MessageKind.OTHER]
    )
    async def test_non_text_gets_a_friendly_reply(self, core: Core, kind: MessageKind) -> None:
        msg = Incoming(channel=Channel.TELEGRAM, platform_user_id="u", kind=kind)
        turn = await handle_incoming(msg, core=core)
        assert turn.replies[-1].text and "call_111" in actions_of(turn)[-1]


class TestDelete:
    async def test_delete_removes_everything_after_confirmation(
        self, core: Core, store: InMemoryStore
    ) -> None:
        await handle_incoming(text("u", SCAM), core=core)
        ask = await handle_incoming(text("u", "/xoa"), core=core)
        assert actions_of(ask)[-1] == ["delete_confirm", "delete_cancel"]
        assert store.messages  # nothing deleted before the confirmation
        done = await handle_incoming(action("u", "delete_confirm"), core=core)
        assert "đã xóa hết" in done.replies[0].text
        assert not store.users and not store.conversations and not store.messages

    async def test_delete_for_a_user_with_no_data(self, core: Core, store: InMemoryStore) -> None:
        done = await handle_incoming(action("stranger", "delete_confirm"), core=core)
        assert "đã xóa hết" in done.replies[0].text
        assert not store.users


class Killed(BaseException):
    """The process dies here (kill -9): nothing after this point runs."""


class TestStopMidTurn:
    """A worker can die between storing a message and storing its answer; the platform (or the
    inbox) then delivers the same update again, and it must be answered once, fully."""

    def die_once(self, classifier: FakeClassifier) -> None:
        def hook(_text: str) -> None:
            classifier.before = None
            raise Killed

        classifier.before = hook

    async def test_a_delivery_stored_but_unanswered_is_answered_when_repeated(
        self, core: Core, classifier: FakeClassifier, store: InMemoryStore
    ) -> None:
        msg = text("u1", SCAM).model_copy(update={"delivery_id": "u77", "queue_replies": True})
        self.die_once(classifier)
        with pytest.raises(Killed):
            await handle_incoming(msg, core=core)
        assert [m.direction for m in store.messages.values()] == [Direction.IN]  # stored, not answered
        assert not store.outbox

        turn = await handle_incoming(msg, core=core)
        assert not turn.duplicate and turn.queued
        assert "Không Một Mình" in turn.replies[0].text  # still the first contact: welcome kept
        ins = [m for m in store.messages.values() if m.direction is Direction.IN]
        assert len(ins) == 1 and ins[0].analysis is not None  # the stored message got its analysis
        assert [i.text for i in store.outbox.values()] == [r.text for r in turn.replies]

        again = await handle_incoming(msg, core=core)
        assert again.duplicate and not again.replies
        assert len(store.outbox) == len(turn.replies)  # nothing queued twice

    async def test_replies_are_queued_with_the_turn_only_when_asked(
        self, core: Core, store: InMemoryStore
    ) -> None:
        await handle_incoming(text("u1", SCAM), core=core)
        assert not store.outbox
        turn = await handle_incoming(text("u1", SCAM).model_copy(update={"queue_replies": True}), core=core)
        assert turn.queued and len(store.outbox) == len(turn.replies)
