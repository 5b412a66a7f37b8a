"""Turning an analysis into replies; every word comes from the guidance library."""

from __future__ import annotations

from handlers.models import Analysis, Button, Reply
from handlers.ports import GuidanceLibrary
from handlers.text import shorten

QUOTE_LIMIT = 160


def buttons(lib: GuidanceLibrary, *actions: str) -> tuple[Button, ...]:
    """Buttons for action ids, labelled from the library."""
    return tuple(Button(label=lib.label(a), action=a) for a in actions)


def unsure_reply(lib: GuidanceLibrary) -> Reply:
    """The honest answer when nothing clear was found: never 'safe', always a way to a person."""
    return Reply(text=lib.text("unsure"), buttons=buttons(lib, "call_111", "talk_to_counselor", "learn_more"))


def error_reply(lib: GuidanceLibrary) -> Reply:
    """What a student gets when something broke: an apology and the hotline, never silence."""
    return Reply(text=lib.text("temporary_error"), buttons=buttons(lib, "call_111"))


def analysis_replies(analysis: Analysis, lib: GuidanceLibrary) -> list[Reply]:
    """Crisis first (safety and 111 before anything else), then the tactics with the student's words."""
    replies: list[Reply] = []
    if analysis.crisis:
        replies.append(Reply(text=lib.text("crisis"), buttons=buttons(lib, "call_111", "talk_to_counselor")))
    if analysis.tactics:
        lines = [lib.text("analysis_intro")]
        for tactic in analysis.tactics:
            found = analysis.evidence_for(tactic.value)
            name = lib.tactic_name(tactic)
            if found:
                quote = shorten(found[0].text, QUOTE_LIMIT)
                lines.append(lib.text("analysis_tactic_line", name=name, quote=quote))
            else:
                lines.append(lib.text("analysis_tactic_line_noquote", name=name))
        lines.append(lib.text("analysis_next_steps"))
        replies.append(
            Reply(text="\n".join(lines), buttons=buttons(lib, "call_111", "learn_more", "talk_to_counselor"))
        )
    elif not analysis.crisis:
        replies.append(unsure_reply(lib))
    return replies
