"""Numbered options, for channels that cannot show buttons (Zalo): the student answers with a number.

The options of a turn are its buttons in order, each action once, without `call_111` (such channels
print the hotline's numbers instead). A lone number answers the options of the bot's latest turn, or
of the latest notice sent outside a turn; after a counselor's message a number is just text for them.
"""

from __future__ import annotations

from collections.abc import Iterable

from handlers.models import Button, Direction, Reply, StoredMessage

# Author of a message the core sent outside a turn (handoff notices delivered by the outbox).
NOTICE = "notice"
NOT_NUMBERED = frozenset({"call_111"})
# How far back the latest turn is looked for.
RECENT = 12
MAX_DIGITS = 2


def numbered(replies: Iterable[Reply]) -> list[Button]:
    """The options of a turn, numbered from 1 in this order."""
    seen: set[str] = set()
    options: list[Button] = []
    for reply in replies:
        for button in reply.buttons:
            if button.action not in NOT_NUMBERED and button.action not in seen:
                seen.add(button.action)
                options.append(button)
    return options


def offered(messages: list[StoredMessage]) -> list[Button]:
    """The options a number answers now, from the conversation's latest messages (oldest first)."""
    run: list[StoredMessage] = []
    for message in reversed(messages):
        if message.direction is Direction.IN:
            break
        if message.author == NOTICE:
            if not run:
                run.append(message)
            break
        if message.author is not None:
            break  # a counselor's message: a number is an answer to them
        run.append(message)
    return numbered(Reply(text="", buttons=m.buttons) for m in reversed(run))


def number_in(text: str) -> int | None:
    """The number a student typed as their whole message ("2", " 2 "), else None."""
    typed = text.strip().rstrip(".)")
    return int(typed) if typed.isdigit() and len(typed) <= MAX_DIGITS else None
