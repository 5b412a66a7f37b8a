"""Cue phrases found in a message: the crisis net and the clauses that can serve as evidence."""

from __future__ import annotations

from handlers.models import Evidence
from nlu.lexicon import clause_around, find_combos, find_cues, load_combos, load_lexicon
from nlu.normalize import Token, tokenize

EXCEPTIONS = "exceptions"
PAST = "past_markers"


def cue_evidence(text: str, tokens: list[Token] | None = None) -> dict[str, list[Evidence]]:
    """Label -> evidence spans (the clause around each cue), strongest cue first, no repeats."""
    found: dict[str, list[Evidence]] = {}
    tokens = tokenize(text) if tokens is None else tokens
    matches = find_cues(tokens, load_lexicon())
    if not any(m.label == PAST for m in matches):
        matches += find_combos(tokens, load_combos())
    ignored = [m for m in matches if m.label == EXCEPTIONS]
    matches = [
        m
        for m in matches
        if m.label not in (EXCEPTIONS, PAST)
        and not any(x.start <= m.start and m.end <= x.end for x in ignored)
    ]
    # Longer cues first: they are more specific and make a better quote.
    for match in sorted(matches, key=lambda m: (m.start - m.end, m.start)):
        start, end = clause_around(text, match.start, match.end)
        spans = found.setdefault(match.label, [])
        if any(e.start <= match.start and match.end <= e.end for e in spans):
            continue
        spans.append(Evidence(tactic=match.label, start=start, end=end, text=text[start:end]))
    return found
