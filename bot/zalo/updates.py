"""Zalo Bot Platform updates -> the core's Incoming messages.

Webhooks post an update either flat (`{"event_name", "message"}`) or wrapped like getUpdates
(`{"ok": true, "result": {...}}`); both are accepted. Real updates differ in details: the sender's
name is `display_name` or `first_name` (never stored), ids are strings or numbers, an image comes as
`photo_url`, or `photo` as a link, an object or a list of them, or as an image attachment.

`message.unsupported.received` comes *instead of* a message Zalo hides from bots: every message of a
young user, and some kinds (link cards). When it still carries a link card's address, the address is
what the student sent (the bot can check a link); otherwise it is a HIDDEN message, answered as such.
Anything without a sender and a chat is refused with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.models import Channel, Incoming, MessageKind

TEXT = "message.text.received"
IMAGE = "message.image.received"
STICKER = "message.sticker.received"
VOICE = "message.voice.received"
LINK = "message.link.received"
UNSUPPORTED = "message.unsupported.received"
MAX_ID = 64
# Where a photo's or a link card's address may be, in the shapes integrations have met.
_URL_KEYS = ("url", "photo_url", "photoUrl", "src", "image_url", "imageUrl", "download_url", "href", "link")
_NESTED = ("payload", "data", "preview", "link")
MAX_LINKS = 5


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
    # Link cards' addresses (and titles) read from an update that has no text.
    links: str | None = None


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
        raise BadUpdate("hidden message without a sender" if event == UNSUPPORTED else "message missing")
    sender = message.get("from")
    chat = message.get("chat")
    if not isinstance(sender, dict):
        raise BadUpdate("message.from missing")
    user_id = _id(sender.get("id"), "message.from.id")
    chat_id = _id(chat.get("id"), "message.chat.id") if isinstance(chat, dict) else user_id
    chat_type = str(chat.get("chat_type", "PRIVATE")) if isinstance(chat, dict) else "PRIVATE"
    text = message.get("text") if isinstance(message.get("text"), str) else None
    caption = message.get("caption") if isinstance(message.get("caption"), str) else None
    message_id = message.get("message_id")
    return ZaloUpdate(
        event=event,
        user_id=user_id,
        chat_id=chat_id,
        private=chat_type.upper() != "GROUP",
        message_id=_id(message_id, "message.message_id") if message_id not in (None, "") else None,
        text=text if event == TEXT else caption,
        photo_url=photo_url(message),
        from_bot=sender.get("is_bot") is True,
        links=link_text(message) if event in (UNSUPPORTED, LINK) else None,
    )


def photo_url(message: dict[str, Any]) -> str | None:
    """A photo's address: `photo_url`, or `photo` as a link, an object or a list (the largest one
    when sizes are given, else the first), or an image attachment."""
    for key in ("photo_url", "photoUrl", "photo"):
        found = _best_url(message.get(key))
        if found:
            return found
    attachments = message.get("attachments")
    if isinstance(attachments, list):
        for attachment in attachments:
            if isinstance(attachment, dict) and _typed(attachment, ("image", "photo")):
                found = _url_of(attachment)
                if found:
                    return found
    return None


def link_text(message: dict[str, Any]) -> str | None:
    """The links a link card carried (title and address), one per line; None when there are none."""
    cards: list[Any] = [message.get("link")]
    if isinstance(message.get("links"), list):
        cards += message["links"]
    if isinstance(message.get("attachments"), list):
        cards += [a for a in message["attachments"] if isinstance(a, dict) and _typed(a, ("link",))]
    lines: list[str] = []
    for card in cards[: MAX_LINKS + 1]:
        if isinstance(card, str) and _is_url(card):
            line = card.strip()
        elif isinstance(card, dict) and (url := _url_of(card)):
            title = str(card.get("title") or "").strip() if isinstance(card.get("title"), str) else ""
            line = f"{title}\n{url}" if title else url
        else:
            continue
        if line not in lines:
            lines.append(line)
    if not lines and _is_url(message.get("url")):
        lines.append(str(message["url"]).strip())
    return "\n".join(lines[:MAX_LINKS]) or None


def _best_url(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() if _is_url(value) else None
    if isinstance(value, dict):
        return _url_of(value)
    if isinstance(value, list):
        sized = [v for v in value if isinstance(v, dict) and _area(v) > 0 and _url_of(v)]
        if sized:
            return _url_of(max(sized, key=_area))
        for entry in value:
            found = _best_url(entry)
            if found:
                return found
    return None


def _url_of(record: dict[str, Any], depth: int = 0) -> str | None:
    for key in _URL_KEYS:
        if _is_url(record.get(key)):
            return str(record[key]).strip()
    if depth < 2:
        for key in _NESTED:
            nested = record.get(key)
            if isinstance(nested, dict) and (found := _url_of(nested, depth + 1)):
                return found
    return None


def _area(record: dict[str, Any]) -> int:
    width, height = record.get("width"), record.get("height")
    if isinstance(width, int) and isinstance(height, int) and not isinstance(width | height, bool):
        return max(0, width) * max(0, height)
    return 0


def _typed(record: dict[str, Any], kinds: tuple[str, ...]) -> bool:
    """Whether an attachment says it is one of `kinds` (one that says nothing may be anything)."""
    hint = " ".join(str(record.get(key) or "") for key in ("type", "media_type")).lower().strip()
    return not hint or any(kind in hint for kind in kinds)


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(("https://", "http://"))


def to_incoming(update: ZaloUpdate) -> Incoming:
    """What the student sent, as the core understands it; a photo's caption goes with the photo."""
    if update.event == IMAGE:
        kind, text = MessageKind.IMAGE, update.text or ""  # the caption goes with the photo
    elif update.event == TEXT:
        text = update.text or ""
        kind = MessageKind.COMMAND if text.lstrip().startswith("/") else MessageKind.TEXT
    elif update.event == STICKER:
        kind, text = MessageKind.STICKER, ""
    elif update.event == VOICE:
        kind, text = MessageKind.VOICE, ""
    elif update.event in (UNSUPPORTED, LINK) and update.links:
        kind, text = MessageKind.TEXT, update.links  # a link card: its address is what was sent
    elif update.event == UNSUPPORTED:
        kind, text = MessageKind.HIDDEN, ""
    else:  # events this version does not know
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
