"""Normalising teen Vietnamese for understanding only: every token keeps its span in the original text.

NFC, lower case, diacritics folded (đ -> d), repeated letters squeezed, teencode expanded from
nlu/teencode.yml, and URLs, phone numbers, amounts of money and other numbers turned into tokens.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

TEENCODE_FILE = Path(__file__).resolve().parent / "teencode.yml"

URL_TOKEN = "__url__"  # noqa: S105 - placeholder words, not secrets
PHONE_TOKEN = "__phone__"  # noqa: S105
MONEY_TOKEN = "__money__"  # noqa: S105
NUMBER_TOKEN = "__num__"  # noqa: S105

_TLDS = (
    r"(?:com|vn|net|org|info|top|xyz|site|online|shop|store|club|link|app|io|me|ly|cc|gg|biz|live|fun"
    r"|asia|pro|tk|ml|ga|cf|icu|vip)"
)
_TOKEN_RE = re.compile(
    r"(?P<url>(?:h[tx]{2}ps?://|www\.)\S+|(?<![\w@])[a-z0-9][\w-]*(?:(?:\.|\[\.\]|\(\.\))[\w-]+)*(?:\.|\[\.\]|\(\.\))"
    + _TLDS
    + r"\b(?:/\S*)?)"
    r"|(?P<phone>(?<!\d)(?:\+?84|0)(?:[ .-]?\d){8,10}(?!\d))"
    r"|(?P<money>(?<!\w)\d+(?:[.,]\d+)*\s?(?:k|tr|triệu|trieu|củ|cu|nghìn|ngàn|nghin|ngan|đ|d|vnd|vnđ|đồng|dong|usd|\$)(?!\w))"
    r"|(?P<number>\d+(?:[.,]\d+)*)"
    r"|(?P<word>[^\W\d_]+)",
    re.IGNORECASE,
)
_REPEATS = re.compile(r"(.)\1+")
MAX_TEENCODE_SOURCE = 8


@dataclass(frozen=True)
class Token:
    """One normalised word and the span of the original text it came from."""

    norm: str
    start: int
    end: int


def fold(text: str) -> str:
    """Lower case without diacritics: 'Chuyển khoản' -> 'chuyen khoan'."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return stripped.replace("đ", "d")


def squeeze(word: str) -> str:
    """Squeeze letters repeated for emphasis: 'ngayyyy' -> 'ngay', 'oiii' -> 'oi' (keeps 'oo')."""
    return _REPEATS.sub(
        lambda m: m.group(0)[:2] if m.group(1) == "o" and len(m.group(0)) == 2 else m.group(1), word
    )


@lru_cache(maxsize=65536)
def _fold_word(word: str) -> str:
    return squeeze(fold(word))


@lru_cache(maxsize=1)
def teencode() -> dict[str, tuple[str, ...]]:
    """The teencode dictionary: folded short form -> folded words it stands for."""
    data = yaml.safe_load(TEENCODE_FILE.read_text(encoding="utf-8"))
    return {fold(str(k)): tuple(fold(str(v)).split()) for k, v in data["teencode"].items()}


def tokenize(text: str) -> list[Token]:
    """Normalised tokens of `text`, each pointing back into `text` (expansions share one span)."""
    text = unicodedata.normalize("NFC", text)
    codes = teencode()
    tokens: list[Token] = []
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup
        start, end = m.span()
        if kind == "url":
            tokens.append(Token(URL_TOKEN, start, end))
        elif kind == "phone":
            tokens.append(Token(PHONE_TOKEN, start, end))
        elif kind == "money":
            tokens.append(Token(MONEY_TOKEN, start, end))
        elif kind == "number":
            tokens.append(Token(NUMBER_TOKEN, start, end))
        else:
            word = _fold_word(m.group())
            # Teencode is short; a long run of letters squeezed down ("aaaa…") is not an abbreviation.
            parts = codes.get(word, (word,)) if end - start <= MAX_TEENCODE_SOURCE else (word,)
            for part in parts:
                tokens.append(Token(part, start, end))
    return tokens


def normalize(text: str) -> str:
    """The normalised form of `text` as one space-separated string."""
    return " ".join(t.norm for t in tokenize(text))
