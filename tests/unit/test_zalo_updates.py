"""Zalo updates as they arrive in the wild: flat or wrapped, names and ids in different shapes."""

from __future__ import annotations

from typing import Any

import pytest

from bot.zalo.updates import BadUpdate, parse_update, to_incoming
from handlers.models import MessageKind


def update(event: str = "message.text.received", **message: Any) -> dict[str, Any]:
    body = {"message_id": "m1", "from": {"id": "u1", "display_name": "An"}, "chat": {"id": "u1"}, **message}
    return {"event_name": event, "message": body}


@pytest.mark.parametrize(
    ("payload", "kind", "text"),
    [
        (update(text="chào"), MessageKind.TEXT, "chào"),
        ({"ok": True, "result": update(text="/start")}, MessageKind.COMMAND, "/start"),
        (update("message.image.received", photo_url="https://x/a.jpg"), MessageKind.IMAGE, None),
        (
            update("message.image.received", photo="https://x/a.jpg", caption="nó dọa em"),
            MessageKind.IMAGE,
            "nó dọa em",
        ),
        (update("message.sticker.received", sticker="s1"), MessageKind.STICKER, None),
        (update("message.unsupported.received"), MessageKind.OTHER, None),
        (update("message.something.new"), MessageKind.OTHER, None),
        (update(text=""), MessageKind.TEXT, None),
    ],
)
def test_kinds(payload: dict[str, Any], kind: MessageKind, text: str | None) -> None:
    msg = to_incoming(parse_update(payload))
    assert (msg.kind, msg.text, msg.numbered, msg.delivery_id) == (kind, text, True, "m1")


def test_first_name_numbers_as_ids_and_no_chat() -> None:
    payload = {
        "event_name": "message.text.received",
        "message": {"from": {"id": 42, "first_name": "B"}, "text": "a"},
    }
    parsed = parse_update(payload)
    assert (parsed.user_id, parsed.chat_id, parsed.message_id, parsed.private) == ("42", "42", None, True)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "text",
        {"ok": False, "result": None},
        {"message": {}},
        {"event_name": "message.text.received"},
        {"event_name": "message.text.received", "message": {"text": "no sender"}},
        {"event_name": "message.text.received", "message": {"from": {"id": True}}},
        {"event_name": "message.text.received", "message": {"from": {"id": "x" * 100}}},
    ],
)
def test_bad_updates_are_refused_with_a_reason(payload: Any) -> None:
    with pytest.raises(BadUpdate):
        parse_update(payload)
