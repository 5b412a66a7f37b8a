"""Cue phrases matched on normalised tokens, with spans in the original text."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from nlu.normalize import MONEY_TOKEN, NUMBER_TOKEN, PHONE_TOKEN, URL_TOKEN, Token, fold, squeeze, tokenize

SPECIAL_TOKENS = frozenset({MONEY_TOKEN, NUMBER_TOKEN, PHONE_TOKEN, URL_TOKEN})

LEXICON_FILE = Path(__file__).resolve().parent / "lexicon.yml"
# The tactics' cue phrases, used for quoting only (not part of what the model is trained with).
EVIDENCE_FILE = Path(__file__).resolve().parent / "evidence.yml"
TACTIC_LABELS = ("fear", "manipulation", "control")
_CLAUSE_BREAK = re.compile(r"[.!?;…]+(?=\s|$)|\n+|,\s|\s[-–]\s")
MAX_QUOTE = 140
# Between two words, the end of a sentence or of a chat line: no phrase runs across it ("cứu 🙏 |
# Tôi: …" is not "cứu tôi").
_SENTENCE_GAP = re.compile(r"[!?;|\n…]|\.(?:\s|$)")


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
    """Phrases as normalised word tuples (folded, teencode expanded), longest first; the normaliser's
    own tokens ("__money__") stand for themselves."""
    tuples = {
        (str(p),) if str(p) in SPECIAL_TOKENS else tuple(t.norm for t in tokenize(str(p))) for p in items
    }
    return tuple(sorted((t for t in tuples if t), key=len, reverse=True))


@lru_cache(maxsize=4)
def load_lexicon(path: Path = LEXICON_FILE) -> dict[str, MarkedPhrases]:
    """Label -> cue phrases with their marks, longest first (combination groups excluded). Crisis
    phrases are grouped by kind and get labels like "crisis/self_harm"."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    lexicon: dict[str, MarkedPhrases] = {}
    for label, phrases in data.items():
        if label == COMBOS:
            continue
        if isinstance(phrases, dict):
            for kind, group in phrases.items():
                lexicon[f"{label}{KIND_SEP}{kind}"] = marked_phrases(group)
        else:
            lexicon[label] = marked_phrases(phrases)
    return lexicon


# A phrase word: its folded form, and its form with marks when written with them ("chuyển").
MarkedWord = tuple[str, str | None]
MarkedPhrases = tuple[tuple[MarkedWord, ...], ...]


def _as_written(word: str) -> str:
    return squeeze(unicodedata.normalize("NFC", word.lower()))


@lru_cache(maxsize=65536)
def _with_marks(word: str) -> str | None:
    lower = squeeze(unicodedata.normalize("NFC", word.lower()))
    return lower if fold(lower) != lower else None


def marked_phrases(items: list[str], *, exact: bool = False) -> MarkedPhrases:
    """Phrases whose words keep their marks, longest first: a message written with marks must match
    them ("chuyển" asks for money, "chuyện" is a story), one written without matches the folded form.
    `exact`: a word written without marks is matched as written too ("me" is not "mẹ", "con" not
    "còn"), for short function words."""
    phrases: set[tuple[MarkedWord, ...]] = set()
    for item in items:
        if str(item) in SPECIAL_TOKENS:
            phrases.add(((str(item), None),))
            continue
        written = str(item).split()
        tokens = tokenize(str(item))
        if len(tokens) == len(written):
            phrases.add(
                tuple(
                    (t.norm, _as_written(w) if exact else _with_marks(w))
                    for t, w in zip(tokens, written, strict=True)
                )
            )
        elif tokens:  # teencode expanded ("ck" -> "chuyển khoản"): the folded words only
            phrases.add(tuple((t.norm, None) for t in tokens))
    return tuple(sorted(phrases, key=len, reverse=True))


# Phrase lists are built once and kept (lru_cache); their index by first word is kept beside them,
# found by identity (a tuple of tuples is hashed anew on every lookup).
_FIRST_WORD_INDEX: dict[int, tuple[MarkedPhrases, dict[str, list[tuple[MarkedWord, ...]]]]] = {}


def _by_first_word(phrases: MarkedPhrases) -> dict[str, list[tuple[MarkedWord, ...]]]:
    """The phrases grouped by their first folded word, each group longest first."""
    kept = _FIRST_WORD_INDEX.get(id(phrases))
    if kept is not None and kept[0] is phrases:
        return kept[1]
    index: dict[str, list[tuple[MarkedWord, ...]]] = {}
    for phrase in phrases:
        index.setdefault(phrase[0][0], []).append(phrase)
    if len(_FIRST_WORD_INDEX) > 256:
        _FIRST_WORD_INDEX.clear()
    _FIRST_WORD_INDEX[id(phrases)] = (phrases, index)
    return index


@lru_cache(maxsize=65536)
def _folded(word: str) -> str:
    return fold(squeeze(word.lower()))


@dataclass(frozen=True)
class Words:
    """A message's words for phrase matching: folded, and as written when written with marks."""

    folded: tuple[str, ...]
    marked: tuple[str | None, ...]
    # A sentence or chat line ends right before this word.
    after_break: tuple[bool, ...] = ()

    @classmethod
    def of(cls, text: str, tokens: list[Token]) -> Words:
        # Teencode expansions share their source's span; a source without marks matches folded.
        marked = [_with_marks(text[t.start : t.end]) for t in tokens]
        # Teencode ("đc" = "được", "ck" = "chuyển khoản") matches by meaning: its source's marks say nothing.
        sharing = Counter(t.start for t in tokens)
        expanded = [sharing[t.start] > 1 or _folded(text[t.start : t.end]) != t.norm for t in tokens]
        breaks = [
            i > 0 and bool(_SENTENCE_GAP.search(text[tokens[i - 1].end : t.start]))
            for i, t in enumerate(tokens)
        ]
        return cls(
            tuple(t.norm for t in tokens),
            tuple(None if e else m for m, e in zip(marked, expanded, strict=True)),
            tuple(breaks),
        )

    def __len__(self) -> int:
        return len(self.folded)

    def match(self, i: int, phrase: tuple[MarkedWord, ...]) -> bool:
        """The phrase starts at word i."""
        if i < 0 or i + len(phrase) > len(self.folded):
            return False
        for k, (folded, marked) in enumerate(phrase):
            if self.folded[i + k] != folded or (k and self.after_break and self.after_break[i + k]):
                return False
            mine = self.marked[i + k]
            if mine is not None and marked is not None and mine != marked:
                return False
        return True

    def find(self, phrases: MarkedPhrases, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        """(first, last+1) of every phrase occurrence within words[start:end], one per position."""
        end = len(self.folded) if end is None else min(end, len(self.folded))
        by_first = _by_first_word(phrases)
        found = []
        for i in range(max(0, start), end):
            for phrase in by_first.get(self.folded[i], ()):
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


Combo = tuple[str, tuple[MarkedPhrases, ...]]


@lru_cache(maxsize=4)
def load_combos(path: Path = LEXICON_FILE) -> tuple[Combo, ...]:
    """Crisis combinations: each a crisis kind and phrase groups that must all occur (a bare list of
    groups is a sextortion combination)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    combos = []
    for combo in data.get(COMBOS, []):
        kind, groups = (combo["kind"], combo["all"]) if isinstance(combo, dict) else (COMBO_KIND, combo)
        combos.append((str(kind), tuple(marked_phrases(group) for group in groups)))
    return tuple(combos)


def find_combos(text: str, tokens: list[Token], combos: tuple[Combo, ...]) -> list[Match]:
    """A crisis match of its kind (spanning the first group's phrase) for every combination fully present."""
    words = Words.of(text, tokens)
    found: list[Match] = []
    for kind, groups in combos:
        hits = [words.find(group) for group in groups]
        if all(hits):
            i, j = hits[0][0]
            found.append(Match(f"{CRISIS}{KIND_SEP}{kind}", tokens[i].start, tokens[j - 1].end))
    return found


def find_cues(text: str, tokens: list[Token], lexicon: dict[str, MarkedPhrases]) -> list[Match]:
    """Every cue phrase found in the text, as spans of the original text; a word written with marks
    must match the cue's marks ("từ từ" is not "tự tử")."""
    words = Words.of(text, tokens)
    matches: list[Match] = []
    for label, phrases in lexicon.items():
        for i, j in words.find(phrases):
            matches.append(Match(label, tokens[i].start, tokens[j - 1].end))
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
