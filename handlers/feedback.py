"""Helpful / not helpful on an analysis answer, with an optional reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers.models import Reply
from handlers.outcome import Outcome
from handlers.ports import GuidanceLibrary, UnitOfWork
from handlers.replies import buttons

REASON_LIMIT = 500
AWAITING = "feedback_for"


async def record(
    action: str,
    conversation_id: int,
    context: dict[str, Any],
    uow: UnitOfWork,
    lib: GuidanceLibrary,
    now: datetime,
) -> Outcome:
    """Store the student's verdict on the last answer, once; ask why when it did not help."""
    last = await uow.messages.last_analysed(conversation_id)
    if last is None:
        return Outcome(replies=[Reply(text=lib.text("feedback_nothing"))])
    if not await uow.feedback.record(last.id, action == "helpful", now):
        return Outcome(replies=[Reply(text=lib.text("feedback_already"))])
    if action == "helpful":
        return Outcome(replies=[Reply(text=lib.text("feedback_thanks"))])
    return Outcome(
        replies=[Reply(text=lib.text("feedback_reason_ask"), buttons=buttons(lib, "feedback_skip"))],
        context={**context, AWAITING: last.id},
    )


async def reason(text: str, context: dict[str, Any], uow: UnitOfWork, lib: GuidanceLibrary) -> Outcome:
    """Keep the reason the student typed (cut to REASON_LIMIT characters)."""
    await uow.feedback.set_reason(int(context[AWAITING]), text.strip()[:REASON_LIMIT])
    rest = {k: v for k, v in context.items() if k != AWAITING}
    return Outcome(replies=[Reply(text=lib.text("feedback_reason_thanks"))], context=rest)


def skip(context: dict[str, Any], lib: GuidanceLibrary) -> Outcome:
    """No reason given; that is fine."""
    rest = {k: v for k, v in context.items() if k != AWAITING}
    return Outcome(replies=[Reply(text=lib.text("feedback_thanks"))], context=rest)
