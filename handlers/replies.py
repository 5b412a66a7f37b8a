"""Turning an analysis into replies; every word comes from the guidance library."""

from __future__ import annotations

from collections.abc import Callable

from handlers.models import Analysis, Button, RedFlag, Reply
from handlers.ports import GuidanceLibrary
from handlers.text import shorten

QUOTE_LIMIT = 160
MAX_RED_FLAGS = 8
ANSWER_ACTIONS = ("call_111", "learn_more", "share_with_adult", "talk_to_counselor")
# Which calm crisis guide fits a crisis seen in which scenario.
CRISIS_KIND = {
    "self_harm": "self_harm",
    "sextortion": "sextortion_now",
    "cyberbullying_threat": "sextortion_now",
    "online_kidnapping": "kidnapping_now",
    "police_impersonation": "kidnapping_now",
    "stranger_meeting": "meeting_now",
    "idol_meeting": "meeting_now",
    "grooming": "meeting_now",
    "romance": "meeting_now",
    "model_casting": "meeting_now",
}


def buttons(lib: GuidanceLibrary, *actions: str) -> tuple[Button, ...]:
    """Buttons for action ids, labelled from the library."""
    return tuple(Button(label=lib.label(a), action=a) for a in actions)


def unsure_reply(lib: GuidanceLibrary) -> Reply:
    """The honest answer when nothing clear was found: never 'safe', always a way to a person."""
    return Reply(text=lib.text("unsure"), buttons=buttons(lib, "call_111", "talk_to_counselor", "learn_more"))


def error_reply(lib: GuidanceLibrary) -> Reply:
    """What a student gets when something broke: an apology and the hotline, never silence."""
    return Reply(text=lib.text("temporary_error"), buttons=buttons(lib, "call_111"))


def feedback_reply(lib: GuidanceLibrary) -> Reply:
    """The helpful / not helpful question after an analysis answer."""
    return Reply(text=lib.text("feedback_ask"), buttons=buttons(lib, "helpful", "not_helpful"))


def crisis_reply(analysis: Analysis, lib: GuidanceLibrary) -> Reply:
    """Safety first: the calm guide for this kind of danger (or the general one), 111 as first button."""
    kind = CRISIS_KIND.get(analysis.scenario or "")
    guide = lib.crisis_guidance(kind) if kind else None
    text = f"{lib.text('crisis_intro')}\n{guide}" if guide else lib.text("crisis")
    return Reply(text=text, buttons=buttons(lib, "call_111", "talk_to_counselor"))


def red_flag_reply(flags: tuple[RedFlag, ...], lib: GuidanceLibrary) -> Reply | None:
    """The dangerous details in plain words; every link shown is already defanged."""
    if not flags:
        return None
    lines = [lib.text("redflags_intro")]
    for flag in flags[:MAX_RED_FLAGS]:
        reasons = [_reason(code, lib) for code in flag.reasons]
        lines.append(
            lib.text(
                "redflag_line",
                what=lib.text(f"redflag_{flag.kind.value}"),
                shown=flag.shown,
                why="; ".join(r for r in reasons if r) or lib.text("reason_unknown"),
            )
        )
    lines.append(lib.text("redflags_advice"))
    return Reply(text="\n".join(lines))


def _reason(code: str, lib: GuidanceLibrary) -> str:
    """A reason code ("shortener", "lookalike:vietcombank") in words; unknown codes say nothing."""
    key, _, name = code.partition(":")
    try:
        return lib.text(f"reason_{key}", name=name) if name else lib.text(f"reason_{key}")
    except KeyError:
        return ""


def analysis_replies(
    analysis: Analysis, lib: GuidanceLibrary, defang: Callable[[str], str] | None = None
) -> list[Reply]:
    """Crisis first, then the tactics with the student's own words (links defanged), the red flags,
    then what to do and how to get out."""
    replies: list[Reply] = []
    if analysis.crisis:
        replies.append(crisis_reply(analysis, lib))
    if analysis.tactics:
        lines = [lib.text("analysis_intro")]
        for tactic in analysis.tactics:
            found = analysis.evidence_for(tactic.value)
            name = lib.tactic_name(tactic)
            if found:
                quote = shorten(found[0].text, QUOTE_LIMIT)
                quote = defang(quote) if defang else quote
                lines.append(lib.text("analysis_tactic_line", name=name, quote=quote))
            else:
                lines.append(lib.text("analysis_tactic_line_noquote", name=name))
        lines.append(guide_for(analysis, lib) or lib.text("analysis_next_steps"))
        lines.append(lib.text("not_your_fault"))
        replies.append(Reply(text="\n".join(lines), buttons=buttons(lib, *ANSWER_ACTIONS)))
    elif not analysis.crisis:
        replies.append(unsure_reply(lib))
    flagged = red_flag_reply(analysis.red_flags, lib)
    if flagged is not None:
        replies.append(flagged)
    if analysis.tactics:
        replies.append(feedback_reply(lib))
    return replies


def guide_for(analysis: Analysis, lib: GuidanceLibrary) -> str | None:
    """The scenario's guide, only when the message shows no tactic that scenario does not: a guide
    for the wrong kind of trap would mislead, the general steps never do."""
    if not analysis.scenario:
        return None
    if not set(analysis.tactics) <= lib.scenario_tactics(analysis.scenario):
        return None
    return lib.scenario_guidance(analysis.scenario)


SENTENCE_ENDS = (". ", "! ", "? ", "… ", ".\u00a0")


def _cut_at(line: str, limit: int) -> int:
    """Where to cut a too-long line: after the last sentence that fits, else the last space, else hard."""
    window = line[: limit + 1]
    sentence = max(window.rfind(end) for end in SENTENCE_ENDS)
    if sentence > limit // 3:
        return sentence + 1
    space = window.rfind(" ")
    return space if space > 0 else limit


def fit(replies: list[Reply], limit: int) -> list[Reply]:
    """Split replies longer than a channel allows at line breaks, then sentence ends; the buttons
    stay on the last part."""
    out: list[Reply] = []
    for reply in replies:
        if len(reply.text) <= limit:
            out.append(reply)
            continue
        parts: list[str] = []
        current = ""
        for line in reply.text.split("\n"):
            while len(line) > limit:  # a line longer than the limit: cut after a sentence, or at a space
                cut = _cut_at(line, limit)
                chunk, line = line[:cut].rstrip(), line[cut:].lstrip()
                if current:
                    parts.append(current)
                    current = ""
                parts.append(chunk)
            candidate = f"{current}\n{line}" if current else line
            if len(candidate) > limit:
                parts.append(current)
                current = line
            else:
                current = candidate
        if current:
            parts.append(current)
        out += [Reply(text=p) for p in parts[:-1]]
        out.append(Reply(text=parts[-1], buttons=reply.buttons))
    return out
