"""Cue phrases matched on normalised tokens, with spans in the original text."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from nlu.normalize import Token, fold, squeeze, tokenize

LEXICON_FILE = Path(__file__).resolve().parent / "lexicon.yml"
# The tactics' cue phrases, used for quoting only (not part of what the model is trained with).
EVIDENCE_FILE = Path(__file__).resolve().parent / "evidence.yml"
TACTIC_LABELS = ("fear", "manipulation", "control")
_CLAUSE_BREAK = re.compile(r"[.!?;…]+(?=\s|$)|\n+|,\s|\s[-–]\s")
MAX_QUOTE = 140


@dataclass(frozen=True)
class Match:
    label: str
    start: int
    end: int


Phrases = tuple[tuple[str, ...], ...]
COMBOS = "crisis_combos"
CRISIS = "crisis"
# Crisis cues carry their kind in the label: "crisis/self_harm".
KIND_SEP = "/"
# The kind a blackmail-now combination stands for.
COMBO_KIND = "sextortion_now"


def phrases_of(items: list[str]) -> Phrases:
    """Phrases as normalised word tuples (folded, teencode expanded), longest first."""
    tuples = {tuple(t.norm for t in tokenize(str(p))) for p in items}
    return tuple(sorted((t for t in tuples if t), key=len, reverse=True))


@lru_cache(maxsize=4)
def load_lexicon(path: Path = LEXICON_FILE) -> dict[str, Phrases]:
    """Label -> cue phrases as normalised word tuples, longest first (combination groups excluded).
    Crisis phrases are grouped by kind and get labels like "crisis/self_harm"."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    lexicon: dict[str, Phrases] = {}
    for label, phrases in data.items():
        if label == COMBOS:
            continue
        if isinstance(phrases, dict):
            for kind, group in phrases.items():
                lexicon[f"{label}{KIND_SEP}{kind}"] = phrases_of(group)
        else:
            lexicon[label] = phrases_of(phrases)
    return lexicon


# A phrase word: its folded form, and its form with marks when written with them ("chuyển").
MarkedWord = tuple[str, str | None]
MarkedPhrases = tuple[tuple[MarkedWord, ...], ...]


def _with_marks(word: str) -> str | None:
    lower = squeeze(unicodedata.normalize("NFC", word.lower()))
    return lower if fold(lower) != lower else None


def marked_phrases(items: list[str]) -> MarkedPhrases:
    """Phrases whose words keep their marks, longest first: a message written with marks must match
    them ("chuyển" asks for money, "chuyện" is a story), one written without matches the folded form."""
    phrases: set[tuple[MarkedWord, ...]] = set()
    for item in items:
        written = str(item).split()
        tokens = tokenize(str(item))
        if len(tokens) == len(written):
            phrases.add(tuple((t.norm, _with_marks(w)) for t, w in zip(tokens, written, strict=True)))
        elif tokens:  # teencode expanded ("ck" -> "chuyển khoản"): the folded words only
            phrases.add(tuple((t.norm, None) for t in tokens))
    return tuple(sorted(phrases, key=len, reverse=True))


@dataclass(frozen=True)
class Words:
    """A message's words for phrase matching: folded, and as written when written with marks."""

    folded: tuple[str, ...]
    marked: tuple[str | None, ...]

    @classmethod
    def of(cls, text: str, tokens: list[Token]) -> Words:
        # Teencode expansions share their source's span; a source without marks matches folded.
        marked = [_with_marks(text[t.start : t.end]) for t in tokens]
        expanded = [sum(1 for u in tokens if u.start == t.start) > 1 for t in tokens]
        return cls(
            tuple(t.norm for t in tokens),
            tuple(None if e else m for m, e in zip(marked, expanded, strict=True)),
        )

    def __len__(self) -> int:
        return len(self.folded)

    def match(self, i: int, phrase: tuple[MarkedWord, ...]) -> bool:
        """The phrase starts at word i."""
        if i < 0 or i + len(phrase) > len(self.folded):
            return False
        for k, (folded, marked) in enumerate(phrase):
            if self.folded[i + k] != folded:
                return False
            mine = self.marked[i + k]
            if mine is not None and marked is not None and mine != marked:
                return False
        return True

    def find(self, phrases: MarkedPhrases, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        """(first, last+1) of every phrase occurrence within words[start:end], one per position."""
        end = len(self.folded) if end is None else min(end, len(self.folded))
        found = []
        for i in range(max(0, start), end):
            for phrase in phrases:
                if i + len(phrase) <= end and self.match(i, phrase):
                    found.append((i, i + len(phrase)))
                    break
        return found

    def ends_at(self, phrases: MarkedPhrases, end: int) -> tuple[int, int] | None:
        """The phrase that ends right before word `end`."""
        for phrase in phrases:
            if self.match(end - len(phrase), phrase):
                return end - len(phrase), end
        return None


@lru_cache(maxsize=2)
def load_tactic_cues(path: Path = EVIDENCE_FILE) -> dict[str, MarkedPhrases]:
    """Tactic -> cue phrases (with their marks), longest first."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {label: marked_phrases(data[label]) for label in TACTIC_LABELS}


def find_tactic_cues(text: str, tokens: list[Token]) -> list[Match]:
    """Every tactic cue phrase in the text, as spans of the original text."""
    words = Words.of(text, tokens)
    found: list[Match] = []
    for label, phrases in load_tactic_cues().items():
        for i, j in words.find(phrases):
            found.append(Match(label, tokens[i].start, tokens[j - 1].end))
    return found


@lru_cache(maxsize=2)
def load_quote_trims(path: Path = EVIDENCE_FILE) -> tuple[Phrases, Phrases, frozenset[str]]:
    """What a quote does not start with: (lead words, control's lead words, control's pay words)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    pay = frozenset(p[0] for p in phrases_of(data["control_pay_words"]))
    return phrases_of(data["lead_words"]), phrases_of(data["control_lead_words"]), pay


@lru_cache(maxsize=4)
def load_combos(path: Path = LEXICON_FILE) -> tuple[tuple[Phrases, ...], ...]:
    """Crisis combinations: each a tuple of phrase groups that must all occur."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(tuple(phrases_of(group) for group in combo) for combo in data.get(COMBOS, []))


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
            found.append(
                Match(f"{CRISIS}{KIND_SEP}{COMBO_KIND}", tokens[i].start, tokens[i + len(phrase) - 1].end)
            )
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
