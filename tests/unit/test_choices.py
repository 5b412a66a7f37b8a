"""Numbered options for channels without buttons, replayed deliveries, and splitting long replies."""

from __future__ import annotations

from bot.zalo.render import MARGIN, MAX_TEXT, render_turn, utf16_units
from content.loader import Library
from handlers.choices import number_in, numbered
from handlers.handoff import claim_case, post_counselor_reply
from handlers.models import Button, Channel, Counselor, Incoming, MessageKind, Reply
from handlers.replies import fit
from handlers.triage import Core, handle_incoming
from tests.conftest import SCAM
from tests.fakes import InMemoryStore

ANNA = Counselor(id=1, name="anna", role="counselor")


def zalo(body: str, delivery: str | None = None) -> Incoming:
    kind = MessageKind.COMMAND if body.startswith("/") else MessageKind.TEXT
    return Incoming(
        channel=Channel.ZALO, platform_user_id="z1", kind=kind, text=body, numbered=True, delivery_id=delivery
    )


class TestNumberedOptions:
    def test_a_turn_numbers_each_action_once_without_call_111(self) -> None:
        replies = [
            Reply(text="a", buttons=(Button(label="111", action="call_111"), Button(label="A", action="a"))),
            Reply(text="b", buttons=(Button(label="A", action="a"), Button(label="B", action="b"))),
        ]
        assert [b.action for b in numbered(replies)] == ["a", "b"]
        assert [number_in(t) for t in ("2", " 3 ", "1.", "12", "123", "2 ạ", "")] == [
            2,
            3,
            1,
            12,
            None,
            None,
            None,
        ]

    async def test_a_number_picks_an_option_of_the_latest_turn(self, core: Core) -> None:
        turn = await handle_incoming(zalo(SCAM), core=core)
        options = numbered(turn.replies)
        assert options, "the analysis offers options"
        number = next(n for n, b in enumerate(options, 1) if b.action == "learn_more")
        picked = await handle_incoming(zalo(str(number)), core=core)
        await handle_incoming(zalo(SCAM), core=core)
        pressed = Incoming(
            channel=Channel.ZALO, platform_user_id="z1", kind=MessageKind.ACTION, action="learn_more"
        )
        direct = await handle_incoming(pressed, core=core)
        assert picked.replies and picked.replies == direct.replies

    async def test_a_number_out_of_range_lists_the_options_again(self, core: Core) -> None:
        turn = await handle_incoming(zalo(SCAM), core=core)
        count = len(numbered(turn.replies))
        again = await handle_incoming(zalo("9"), core=core)
        assert "số 9" in again.replies[0].text
        assert len(numbered(again.replies)) == count
        assert (await handle_incoming(zalo("1"), core=core)).replies  # still answers the same options

    async def test_without_options_a_number_is_just_text(self, core: Core, store: InMemoryStore) -> None:
        await handle_incoming(zalo("/start"), core=core)
        await handle_incoming(zalo("talk to a person please, a counselor"), core=core)
        await handle_incoming(
            Incoming(
                channel=Channel.ZALO,
                platform_user_id="z1",
                kind=MessageKind.ACTION,
                action="talk_to_counselor",
            ),
            core=core,
        )
        (case,) = store.cases.values()
        async with core.uow() as uow:
            await claim_case(case.id, ANNA, uow=uow, lib=core.library, now=core.clock())
            await post_counselor_reply(
                case.id, ANNA, "Em chấm mức sợ từ 1 đến 5 nhé?", uow=uow, now=core.clock()
            )
            await uow.commit()
        answer = await handle_incoming(zalo("1"), core=core)
        assert answer.replies == ()  # a message to the counselor, not "end the chat"
        (case,) = store.cases.values()
        assert case.status.value == "claimed"


class TestReplayedDeliveries:
    async def test_the_same_delivery_is_answered_once(self, core: Core, store: InMemoryStore) -> None:
        first = await handle_incoming(zalo(SCAM, delivery="m-1"), core=core)
        again = await handle_incoming(zalo(SCAM, delivery="m-1"), core=core)
        assert first.replies and again.replies == () and again.duplicate
        assert sum(1 for m in store.messages.values() if m.text == SCAM) == 1
        assert (await handle_incoming(zalo(SCAM, delivery="m-2"), core=core)).replies


class TestSplitting:
    def test_long_text_is_cut_after_a_sentence(self) -> None:
        sentence = "Đây là một câu khá dài để thử việc cắt tin nhắn. "
        parts = fit([Reply(text=sentence * 60, buttons=(Button(label="A", action="a"),))], 2000)
        assert len(parts) > 1 and all(len(p.text) <= 2000 for p in parts)
        assert all(p.text.rstrip().endswith(".") for p in parts)
        assert parts[-1].buttons and not parts[0].buttons

    def test_zalo_counts_emoji_as_two_units_and_keeps_a_margin(self, library: Library) -> None:
        # 1,500 characters but 3,000 UTF-16 units: one Zalo message if counted by characters.
        sentence = "Mình ở đây 🤗🤗🤗🤗🤗🤗🤗🤗🤗🤗🤗🤗🤗🤗🤗🤗🤗🤗🤗🤗. "
        text = sentence * (1500 // len(sentence))
        assert len(text) <= MAX_TEXT < utf16_units(text)
        parts = render_turn([Reply(text=text)], library, None)
        assert len(parts) > 1 and "".join(parts).replace(" ", "") == text.replace(" ", "")
        assert all(utf16_units(p) <= MAX_TEXT - MARGIN for p in parts)

    def test_a_line_of_emoji_without_spaces_is_cut_between_characters(self) -> None:
        text = "😱" * 1500
        parts = fit([Reply(text=text)], 1900, utf16_units)
        assert [len(p.text) for p in parts] == [950, 550] and "".join(p.text for p in parts) == text
