"""Core replies as Zalo messages: plain text, buttons as numbered options, 111 written out.

The Zalo Bot Platform has no buttons. A turn's options (handlers.choices.numbered) are listed under
its last message; the student answers with the number. `call_111` becomes the hotline's numbers and,
when configured, the link to 111's Zalo account. Texts are split on sentences to stay under Zalo's
2,000-character limit, counted in UTF-16 units as JavaScript counts them (an emoji is two), with a
margin.
"""

from __future__ import annotations

from collections.abc import Sequence

from handlers.choices import numbered
from handlers.models import Reply
from handlers.ports import GuidanceLibrary
from handlers.replies import fit

MAX_TEXT = 2000
# Kept free under MAX_TEXT: how Zalo counts is not documented beyond "2,000 characters".
MARGIN = 100


def utf16_units(text: str) -> int:
    """The length of `text` in UTF-16 code units (a character outside the BMP, like most emoji, is two)."""
    return len(text.encode("utf-16-le")) // 2


def render_turn(replies: Sequence[Reply], lib: GuidanceLibrary, zalo_111_url: str | None) -> list[str]:
    """The texts to send, in order."""
    if not replies:
        return []
    texts = [r.text for r in replies]
    extra: list[str] = []
    if any(b.action == "call_111" for r in replies for b in r.buttons):
        hotline = lib.text("zalo_hotline")
        if zalo_111_url:
            hotline += "\n" + lib.text("zalo_hotline_zalo", url=zalo_111_url)
        extra.append(hotline)
    options = numbered(replies)
    if options:
        lines = [f"{n}. {button.label}" for n, button in enumerate(options, 1)]
        extra.append("\n".join([lib.text("zalo_choose"), *lines]))
    if extra:
        texts[-1] = "\n\n".join([texts[-1], *extra])
    return [part.text for part in fit([Reply(text=t) for t in texts], MAX_TEXT - MARGIN, utf16_units)]
