"""Cue phrases matched on normalised tokens, with spans in the original text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from nlu.normalize import Token, tokenize

LEXICON_FILE = Path(__file__).resolve().parent / "lexicon.yml"
_CLAUSE_BREAK = re.compile(r"[.!?;…]+(?=\s|$)|\n+|,\s|\s[-–]\s")
MAX_QUOTE = 140


@dataclass(frozen=True)
class Match:
    label: str
    start: int
    end: int


Phrases = tuple[tuple[str, ...], ...]
COMBOS = "crisis_combos"


def _phrases(items: list[str]) -> Phrases:
    tuples = {tuple(t.norm for t in tokenize(str(p))) for p in items}
    return tuple(sorted((t for t in tuples if t), key=len, reverse=True))


@lru_cache(maxsize=4)
def load_lexicon(path: Path = LEXICON_FILE) -> dict[str, Phrases]:
    """Label -> cue phrases as normalised word tuples, longest first (combination groups excluded)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {label: _phrases(phrases) for label, phrases in data.items() if label != COMBOS}


@lru_cache(maxsize=4)
def load_combos(path: Path = LEXICON_FILE) -> tuple[tuple[Phrases, ...], ...]:
    """Crisis combinations: each a tuple of phrase groups that must all occur."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(tuple(_phrases(group) for group in combo) for combo in data.get(COMBOS, []))


def _occurs(words: list[str], phrase: tuple[str, ...]) -> int:
    n = len(phrase)
    return next((i for i in range(len(words) - n + 1) if tuple(words[i : i + n]) == phrase), -1)


def find_combos(tokens: list[Token], combos: tuple[tuple[Phrases, ...], ...]) -> list[Match]:
    """A crisis match (spanning the first group's phrase) for every combination fully present."""
    words = [t.norm for t in tokens]
    found: list[Match] = []
    for combo in combos:
        hits = [next(((i, p) for p in group if (i := _occurs(words, p)) >= 0), None) for group in combo]
        if all(h is not None for h in hits):
            i, phrase = hits[0]  # type: ignore[misc]
            found.append(Match("crisis", tokens[i].start, tokens[i + len(phrase) - 1].end))
    return found


@lru_cache(maxsize=8)
def _index(
    lexicon_id: int, items: tuple[tuple[str, Phrases], ...]
) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """First word -> (label, phrase) pairs, longest phrases first."""
    index: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for label, phrases in items:
        for phrase in phrases:
            index.setdefault(phrase[0], []).append((label, phrase))
    return index


def find_cues(tokens: list[Token], lexicon: dict[str, Phrases]) -> list[Match]:
    """Every cue phrase found in the token sequence, as spans of the original text."""
    index = _index(id(lexicon), tuple(lexicon.items()))
    words = [t.norm for t in tokens]
    matches: list[Match] = []
    for i, word in enumerate(words):
        for label, phrase in index.get(word, ()):
            n = len(phrase)
            if tuple(words[i : i + n]) == phrase:
                matches.append(Match(label, tokens[i].start, tokens[i + n - 1].end))
    return matches


def clause_around(text: str, start: int, end: int) -> tuple[int, int]:
    """The clause of `text` that holds [start, end), trimmed, at most about MAX_QUOTE characters."""
    left = 0
    for m in _CLAUSE_BREAK.finditer(text, 0, start):
        left = m.end()
    right_match = _CLAUSE_BREAK.search(text, end)
    right = right_match.start() if right_match else len(text)
    if right - left > MAX_QUOTE:
        left = max(left, start - (MAX_QUOTE - (end - start)) // 2)
        right = min(right, left + MAX_QUOTE)
        # Do not cut words in half.
        while left > 0 and text[left - 1].isalnum() and left < start:
            left += 1
        while right < len(text) and text[right].isalnum() and right > end:
            right -= 1
    while left < right and text[left].isspace():
        left += 1
    while right > left and text[right - 1].isspace():
        right -= 1
    return left, right
