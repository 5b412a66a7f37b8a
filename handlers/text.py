"""Cleaning what a student typed before it is stored or analysed."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

_KEEP_CONTROLS = {"\n", "\t"}


@dataclass(frozen=True)
class CleanText:
    text: str
    truncated: bool


def clean_text(raw: str | None, *, max_chars: int) -> CleanText:
    """NFC-normalise, drop control characters (keeping newlines and tabs) and cap the length."""
    if not raw:
        return CleanText("", False)
    text = unicodedata.normalize("NFC", raw).replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(
        c for c in text if c in _KEEP_CONTROLS or unicodedata.category(c) not in ("Cc", "Cs", "Co", "Cn")
    )
    if len(text) > max_chars:
        return CleanText(text[:max_chars], True)
    return CleanText(text, False)


def is_blank(text: str) -> bool:
    """True for text that holds nothing but white space or invisible characters."""
    return not any(unicodedata.category(c)[0] not in ("Z", "C") for c in text)


def shorten(text: str, limit: int) -> str:
    """Cut a quote at a word boundary so it fits `limit` characters, marking the cut with '…'."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]
    return cut + "…"
