"""Zalo Bot Platform updates -> the core's Incoming messages.

Webhooks post an update either flat (`{"event_name", "message"}`) or wrapped like getUpdates
(`{"ok": true, "result": {...}}`); both are accepted. Real updates differ in details: the sender's
name is `display_name` or `first_name` (never stored), ids are strings or numbers, an image comes as
`photo_url` or `photo`. Anything without a sender and a chat is refused with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.models import Channel, Incoming, MessageKind

TEXT = "message.text.received"
IMAGE = "message.image.received"
STICKER = "message.sticker.received"
UNSUPPORTED = "message.unsupported.received"
MAX_ID = 64


class BadUpdate(ValueError):
    """Not an update we can answer; the message says why (never the content)."""


@dataclass(frozen=True)
class ZaloUpdate:
    event: str
    user_id: str
    chat_id: str
    private: bool
    message_id: str | None
    text: str | None
    photo_url: str | None
    from_bot: bool


def unwrap(payload: Any) -> Any:
    """The update itself, from a flat or an `{ok, result}`-wrapped payload."""
    if isinstance(payload, dict) and "event_name" not in payload and "result" in payload:
        if payload.get("ok") is False:
            raise BadUpdate("an error reply, not an update")
        return payload["result"]
    return payload


def _id(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise BadUpdate(f"{what} missing or not an id")
    found = str(value).strip()
    if len(found) > MAX_ID:
        raise BadUpdate(f"{what} too long")
    return found


def parse_update(payload: Any) -> ZaloUpdate:
    """Parse one update (flat or wrapped)."""
    update = unwrap(payload)
    if not isinstance(update, dict):
        raise BadUpdate("not a JSON object")
    event = update.get("event_name")
    if not isinstance(event, str) or not event:
        raise BadUpdate("event_name missing")
    message = update.get("message")
    if not isinstance(message, dict):
        raise BadUpdate("message missing")
    sender = message.get("from")
    chat = message.get("chat")
    if not isinstance(sender, dict):
        raise BadUpdate("message.from missing")
    user_id = _id(sender.get("id"), "message.from.id")
    chat_id = _id(chat.get("id"), "message.chat.id") if isinstance(chat, dict) else user_id
    chat_type = str(chat.get("chat_type", "PRIVATE")) if isinstance(chat, dict) else "PRIVATE"
    text = message.get("text") if isinstance(message.get("text"), str) else None
    caption = message.get("caption") if isinstance(message.get("caption"), str) else None
    photo = message.get("photo_url") or message.get("photo")
    message_id = message.get("message_id")
    return ZaloUpdate(
        event=event,
        user_id=user_id,
        chat_id=chat_id,
        private=chat_type.upper() != "GROUP",
        message_id=_id(message_id, "message.message_id") if message_id not in (None, "") else None,
        text=text if event == TEXT else caption,
        photo_url=photo if isinstance(photo, str) else None,
        from_bot=sender.get("is_bot") is True,
    )


def to_incoming(update: ZaloUpdate) -> Incoming:
    """What the student sent, as the core understands it; a photo's caption goes with the photo."""
    if update.event == IMAGE:
        kind, text = MessageKind.IMAGE, update.text or ""  # the caption goes with the photo
    elif update.event == TEXT:
        text = update.text or ""
        kind = MessageKind.COMMAND if text.lstrip().startswith("/") else MessageKind.TEXT
    elif update.event == STICKER:
        kind, text = MessageKind.STICKER, ""
    else:  # message.unsupported.received, and events this version does not know
        kind, text = MessageKind.OTHER, ""
    return Incoming(
        channel=Channel.ZALO,
        platform_user_id=update.user_id,
        chat_id=update.chat_id,
        kind=kind,
        text=text or None,
        delivery_id=update.message_id,
        numbered=True,
    )
