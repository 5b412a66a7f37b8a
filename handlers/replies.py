"""Helpers every answer uses: buttons, the error reply, red flags in full, and splitting long replies for
a channel; every word comes from the guidance library."""

from __future__ import annotations

import re
from collections.abc import Callable

from handlers.models import Button, RedFlag, Reply
from handlers.ports import GuidanceLibrary

MAX_RED_FLAGS = 8
# A word that could be a link (a dot before letters): "1.800.000đ" is not one.
_LINKISH = re.compile(r"\S*[\w-]\.[^\W\d_]{2,}\S*")


def defang_links(text: str, defang: Callable[[str], str] | None) -> str:
    """Every word of `text` that could be a link made untappable (hxxps://x[.]com); amounts and the
    rest stay as written."""
    return _LINKISH.sub(lambda m: defang(m.group()), text) if defang is not None else text


def buttons(lib: GuidanceLibrary, *actions: str) -> tuple[Button, ...]:
    """Buttons for action ids, labelled from the library."""
    return tuple(Button(label=lib.label(a), action=a) for a in actions)


def error_reply(lib: GuidanceLibrary) -> Reply:
    """What a student gets when something broke: an apology and the hotline, never silence."""
    return Reply(text=lib.text("temporary_error"), buttons=buttons(lib, "call_111"))


def red_flag_text(flags: tuple[RedFlag, ...], lib: GuidanceLibrary) -> str | None:
    """Every red flag in plain words with why it is one (for the full guide); links already defanged."""
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
    return "\n".join(lines)


def _reason(code: str, lib: GuidanceLibrary) -> str:
    """A reason code ("shortener", "lookalike:vietcombank") in words; unknown codes say nothing."""
    key, _, name = code.partition(":")
    try:
        return lib.text(f"reason_{key}", name=name) if name else lib.text(f"reason_{key}")
    except KeyError:
        return ""


SENTENCE_ENDS = (". ", "! ", "? ", "… ", ".\u00a0")


def _cut_at(line: str, limit: int) -> int:
    """Where to cut a too-long line: after the last sentence that fits, else the last space, else hard."""
    window = line[: limit + 1]
    sentence = max(window.rfind(end) for end in SENTENCE_ENDS)
    if sentence > limit // 3:
        return sentence + 1
    space = window.rfind(" ")
    return space if space > 0 else limit


def _fitting(line: str, limit: int, measure: Callable[[str], int]) -> int:
    """How many characters of `line` fit in `limit` as `measure` counts them."""
    if measure is len:
        return limit
    low, high = 0, min(len(line), limit)  # no measure counts a character as less than one
    while low < high:
        mid = (low + high + 1) // 2
        if measure(line[:mid]) <= limit:
            low = mid
        else:
            high = mid - 1
    return max(low, 1)


def fit(replies: list[Reply], limit: int, measure: Callable[[str], int] = len) -> list[Reply]:
    """Split replies longer than a channel allows at line breaks, then sentence ends; the buttons
    stay on the last part. `measure` counts length as the channel does (e.g. in UTF-16 units)."""
    out: list[Reply] = []
    for reply in replies:
        if measure(reply.text) <= limit:
            out.append(reply)
            continue
        parts: list[str] = []
        current = ""
        for line in reply.text.split("\n"):
            while measure(line) > limit:  # longer than the limit: cut after a sentence, or at a space
                cut = _cut_at(line, _fitting(line, limit, measure))
                chunk, line = line[:cut].rstrip(), line[cut:].lstrip()
                if current:
                    parts.append(current)
                    current = ""
                parts.append(chunk)
            candidate = f"{current}\n{line}" if current else line
            if measure(candidate) > limit:
                parts.append(current)
                current = line
            else:
                current = candidate
        if current:
            parts.append(current)
        out += [Reply(text=p) for p in parts[:-1]]
        out.append(Reply(text=parts[-1], buttons=reply.buttons))
    return out
