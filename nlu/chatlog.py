"""Pasted chat transcripts: "[08:15] Thu Hà: … | Tôi: …", "Me: … / Anh Tuấn: …", Zalo or Messenger copies
and OCR of a screenshot with names and times are split into turns, so the tactics and quotes come from the
other party's lines, never from the student's own."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A turn starts a line, or follows a separator ("|", "/", two spaces) or a time: an optional time, a
# speaker's name of at most MAX_NAME_WORDS words, a colon.
_TIME = r"(?:\[?\d{1,2}[:h]\d{2}(?::\d{2})?\]?\s*)"
_TURN = re.compile(
    r"(?:^|\n|\s[|/]\s|\s{2,}|(?<=\s)(?=\[?\d{1,2}[:h]\d{2})|(?<=\s)(?=Zalo\s))\s*"
    r"(?:Zalo\s+)?" + _TIME + r"?(?P<name>[^\s:|\[\]][^:|\[\]\n]{0,40}?)\s*:\s"
)
MAX_NAME_WORDS = 7
# Names a student's own lines carry in a copied chat (Messenger and Zalo write "Bạn" for the owner).
# Only as written by an app, with marks: "Minh" and "Ban" are names.
OWN_NAMES = frozenset({"tôi", "me", "mình", "em", "bạn", "t", "tao", "tớ", "you"})
MIN_TURNS = 2


@dataclass(frozen=True)
class Turn:
    speaker: str
    # Where the whole turn starts (its time and name) and where its words start and end.
    head: int
    start: int
    end: int
    own: bool


@dataclass(frozen=True)
class Chat:
    turns: tuple[Turn, ...]

    def other_text(self, text: str) -> str:
        """The other party's lines, one after another."""
        return ". ".join(text[t.start : t.end].strip() for t in self.turns if not t.own)

    def not_theirs(self) -> tuple[tuple[int, int], ...]:
        """Spans that are never the other party's words: the student's turns and every turn's head."""
        spans = [(t.head, t.start) for t in self.turns]
        spans += [(t.start, t.end) for t in self.turns if t.own]
        return tuple(spans)


def split_chat(text: str) -> Chat | None:
    """The turns of a pasted transcript, or None when the text is not one (fewer than two turns, one
    speaker only, or no line of the student's and of someone else's)."""
    heads = [
        m
        for m in _TURN.finditer(text)
        if len(m.group("name").split()) <= MAX_NAME_WORDS and " / " not in m.group("name")
    ]
    if len(heads) < MIN_TURNS:
        return None
    turns = []
    for n, m in enumerate(heads):
        end = heads[n + 1].start() if n + 1 < len(heads) else len(text)
        name = m.group("name").strip()
        own = name.lower() in OWN_NAMES
        turns.append(Turn(name, m.start("name") if m.group(0).strip() else m.start(), m.end(), end, own))
    speakers = {t.speaker for t in turns}
    if len(speakers) < 2 or all(t.own for t in turns) or not any(t.own for t in turns):
        # A dialogue needs two people, and a known side of the student: otherwise quotes stay whole.
        return None
    # The first turn's head starts at the time before the name, when there is one.
    return Chat(tuple(turns))
