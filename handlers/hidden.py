"""A message the platform delivered without its content (Zalo hides young users' messages from bots).

The bot cannot read it, so it says so honestly, puts the way to 111 and 113 first (the student may be
in danger), and names the other ways to reach it. It never asks the student to "type it again" as if
that would surely work: a student whose every message is hidden would be asked forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.models import Conversation, ConversationState, Reply
from handlers.outcome import Outcome
from handlers.ports import GuidanceLibrary
from handlers.replies import buttons

HIDDEN_COUNT = "hidden"


@dataclass(frozen=True)
class OtherWays:
    """Other doors to this service, shown to a student whose messages the platform hides."""

    telegram_url: str | None = None
    web_url: str | None = None


def hidden_reply(conversation: Conversation, lib: GuidanceLibrary, other_ways: OtherWays) -> Outcome:
    """The answer to a hidden message: the full one first, a short one after (the same conversation),
    and, while a counselor has the chat, one that says the counselor is there but cannot see it either."""
    context: dict[str, Any] = dict(conversation.context)
    seen = int(context.get(HIDDEN_COUNT, 0))
    context[HIDDEN_COUNT] = seen + 1
    if conversation.state is ConversationState.WITH_COUNSELOR:
        # The counselor is here, not elsewhere: no other ways offered (they would not follow), and no
        # hotline button beside a person already talking with the student (the text names 111, 113).
        reply = Reply(text=lib.text("hidden_with_counselor"))
    else:
        key = "hidden_again" if seen else "hidden_message"
        text = lib.text(key, elsewhere=_elsewhere(lib, other_ways))
        reply = Reply(text=text.rstrip(), buttons=buttons(lib, "call_111"))
    # One calm message; who the bot is can wait for a turn it can read.
    return Outcome(replies=[reply], context=context, hold_intro=True)


def _elsewhere(lib: GuidanceLibrary, ways: OtherWays) -> str:
    lines = []
    if ways.web_url:
        lines.append(lib.text("hidden_elsewhere_web", url=ways.web_url))
    if ways.telegram_url:
        lines.append(lib.text("hidden_elsewhere_telegram", url=ways.telegram_url))
    return "".join(f"\n{line}" for line in lines)
