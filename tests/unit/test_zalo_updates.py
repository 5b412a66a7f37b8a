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
        (update("message.unsupported.received"), MessageKind.HIDDEN, None),
        (update("message.voice.received"), MessageKind.VOICE, None),
        (
            update("message.unsupported.received", link={"title": "Nhận quà", "url": "https://qua.vip/a"}),
            MessageKind.TEXT,
            "Nhận quà\nhttps://qua.vip/a",
        ),
        (
            update(
                "message.link.received", links=["https://a.example/x", {"payload": {"url": "https://b.vn"}}]
            ),
            MessageKind.TEXT,
            "https://a.example/x\nhttps://b.vn",
        ),
        (
            update("message.unsupported.received", attachments=[{"type": "link", "url": "https://c.io"}]),
            MessageKind.TEXT,
            "https://c.io",
        ),
        (update("message.something.new"), MessageKind.OTHER, None),
        (update(text=""), MessageKind.TEXT, None),
    ],
)
def test_kinds(payload: dict[str, Any], kind: MessageKind, text: str | None) -> None:
    msg = to_incoming(parse_update(payload))
    assert (msg.kind, msg.text, msg.numbered, msg.delivery_id) == (kind, text, True, "m1")


@pytest.mark.parametrize(
    ("message", "url"),
    [
        ({"photo_url": "https://cdn/a.jpg"}, "https://cdn/a.jpg"),
        ({"photo": "https://cdn/b.jpg"}, "https://cdn/b.jpg"),
        ({"photo": {"url": "https://cdn/c.jpg", "width": 10}}, "https://cdn/c.jpg"),
        ({"photo": {"photo_url": "https://cdn/d.jpg"}}, "https://cdn/d.jpg"),
        (
            {
                "photo": [
                    {"url": "https://cdn/small.jpg", "width": 90, "height": 160},
                    {"url": "https://cdn/large.jpg", "width": 1080, "height": 1920},
                    {"url": "https://cdn/mid.jpg", "width": 480, "height": 800},
                ]
            },
            "https://cdn/large.jpg",
        ),
        ({"photo": ["https://cdn/e.jpg", "https://cdn/f.jpg"]}, "https://cdn/e.jpg"),
        ({"photo": [{"src": "https://cdn/g.jpg"}]}, "https://cdn/g.jpg"),
        ({"attachments": [{"type": "image", "payload": {"url": "https://cdn/h.jpg"}}]}, "https://cdn/h.jpg"),
        ({"attachments": [{"type": "file", "url": "https://cdn/doc.pdf"}]}, None),
        ({"photo": {"url": "javascript:alert(1)"}}, None),
        ({"photo": 42}, None),
    ],
)
def test_a_photo_in_every_shape_zalo_sends(message: dict[str, Any], url: str | None) -> None:
    parsed = parse_update(update("message.image.received", **message))
    assert parsed.photo_url == url


def test_a_hidden_message_without_a_sender_is_refused_by_that_reason() -> None:
    with pytest.raises(BadUpdate, match="hidden"):
        parse_update({"ok": True, "result": {"event_name": "message.unsupported.received"}})


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
