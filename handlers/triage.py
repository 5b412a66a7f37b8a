"""The main use case: store what a student sent, understand it, answer with guidance."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from handlers.actions import answer_action, answer_command
from handlers.models import (
    Analysis,
    Channel,
    Direction,
    Incoming,
    MessageKind,
    Reply,
    Turn,
)
from handlers.ports import Classifier, ClassifierUnavailable, GuidanceLibrary, UnitOfWork
from handlers.replies import analysis_replies, buttons, unsure_reply
from handlers.text import clean_text, is_blank

log = logging.getLogger(__name__)
SMALL_TALK_WORDS = 3


@dataclass(frozen=True)
class Limits:
    """How much of a message is stored and analysed."""

    max_chars: int = 8000
    retention_days: int = 30


@dataclass(frozen=True)
class Core:
    """The core's dependencies, wired once by the composition root."""

    classifier: Classifier
    library: GuidanceLibrary
    uow: Callable[[], UnitOfWork]
    pseudonym: Callable[[Channel, str], str]
    clock: Callable[[], datetime]
    limits: Limits = Limits()


_KIND_TEXT_KEYS = {
    MessageKind.IMAGE: "image_not_supported_yet",
    MessageKind.STICKER: "sticker_received",
    MessageKind.VOICE: "voice_not_supported",
    MessageKind.FILE: "file_not_supported",
    MessageKind.LOCATION: "location_received",
    MessageKind.OTHER: "unsupported_message",
}


async def handle_incoming(msg: Incoming, *, core: Core) -> Turn:
    """Store the incoming message first, then answer it; every reply is stored as it is produced."""
    now = msg.received_at or core.clock()
    user_id = core.pseudonym(msg.channel, msg.platform_user_id)
    cleaned = clean_text(msg.text, max_chars=core.limits.max_chars)
    async with core.uow() as uow:
        first_contact = await uow.users.get(user_id) is None
        await uow.users.touch(user_id, msg.channel, msg.chat_id, now)
        conversation = await uow.conversations.current(user_id) or await uow.conversations.open(user_id, now)
        incoming_id = await uow.messages.add(
            conversation_id=conversation.id,
            direction=Direction.IN,
            kind=msg.kind,
            now=now,
            text=cleaned.text or None,
            action=msg.action,
        )
        await uow.commit()
    log.info("message in", extra={"user": user_id, "conversation": conversation.id, "kind": msg.kind.value})

    lib = core.library
    if msg.kind is MessageKind.ACTION and msg.action == "delete_confirm":
        return await _delete_everything(user_id, core)
    replies: list[Reply] = []
    analysis: Analysis | None = None
    if first_contact:
        replies.append(Reply(text=lib.text("welcome", retention_days=str(core.limits.retention_days))))
    if msg.kind is MessageKind.ACTION:
        async with core.uow() as uow:
            history = await uow.messages.list_for(conversation.id)
        replies += answer_action(msg.action or "", lib, history)
    elif msg.kind is MessageKind.COMMAND:
        replies += answer_command(msg.text or "", lib)
    elif msg.kind is MessageKind.TEXT:
        if is_blank(cleaned.text):
            replies.append(Reply(text=lib.text("empty_message"), buttons=buttons(lib, "call_111")))
        else:
            analysis = await _analyze(cleaned.text, core.classifier, user_id)
            if cleaned.truncated:
                replies.append(Reply(text=lib.text("message_truncated", limit=str(core.limits.max_chars))))
            if _is_small_talk(cleaned.text, analysis):
                replies.append(Reply(text=lib.text("start_prompt"), buttons=buttons(lib, "call_111")))
            else:
                replies += analysis_replies(analysis, lib)
    else:
        replies.append(Reply(text=lib.text(_KIND_TEXT_KEYS[msg.kind]), buttons=buttons(lib, "call_111")))

    async with core.uow() as uow:
        if analysis is not None:
            await uow.messages.attach_analysis(incoming_id, analysis)
        for reply in replies:
            await uow.messages.add(
                conversation_id=conversation.id,
                direction=Direction.OUT,
                kind=MessageKind.TEXT,
                now=core.clock(),
                text=reply.text,
                buttons=reply.buttons,
            )
        await uow.commit()
    return Turn(replies=tuple(replies), analysis=analysis, user_id=user_id)


def _is_small_talk(text: str, analysis: Analysis) -> bool:
    """A greeting or a word or two with nothing found: invite the message instead of judging it."""
    return not analysis.tactics and not analysis.crisis and len(text.split()) <= SMALL_TALK_WORDS


async def _delete_everything(user_id: str, core: Core) -> Turn:
    """Delete every stored trace of the student; the confirmation itself is not stored."""
    async with core.uow() as uow:
        await uow.users.delete(user_id)
        await uow.commit()
    log.info("user data deleted", extra={"user": user_id})
    return Turn(replies=(Reply(text=core.library.text("deleted")),), user_id=user_id)


async def _analyze(text: str, classifier: Classifier, user_id: str) -> Analysis:
    """Ask the classifier; when it cannot answer, the student still gets the honest unsure answer."""
    try:
        return await classifier.analyze(text)
    except ClassifierUnavailable:
        log.warning("classifier unavailable; answering unsure", extra={"user": user_id})
        return Analysis(unsure=True, backend="unavailable")


__all__ = ["Core", "Limits", "handle_incoming", "unsure_reply"]
