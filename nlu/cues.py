"""Cue phrases found in a message: the crisis net and the clauses that can serve as evidence."""

from __future__ import annotations

import re

from handlers.models import Evidence
from nlu.lexicon import (
    CRISIS,
    KIND_SEP,
    Match,
    clause_around,
    find_combos,
    find_cues,
    find_tactic_cues,
    load_combos,
    load_lexicon,
)
from nlu.normalize import Token, tokenize

EXCEPTIONS = "exceptions"
JOKE = re.compile(r"😂|🤣|😆|😝|=\)\)|\b(?:lol|lmao|haha+|hihi+|hehe+|kkk+)\b", re.IGNORECASE)
PAST = "past_markers"


def cue_evidence(text: str, tokens: list[Token] | None = None) -> dict[str, list[Evidence]]:
    """Label -> evidence spans (the clause around each cue), strongest cue first, no repeats.

    Crisis cues are listed under "crisis" and also under their kind ("crisis/self_harm")."""
    found: dict[str, list[Evidence]] = {}
    tokens = tokenize(text) if tokens is None else tokens
    matches = find_cues(text, tokens, load_lexicon()) + find_tactic_cues(text, tokens)
    if not any(m.label == PAST for m in matches):
        matches += find_combos(text, tokens, load_combos())
    ignored = [m for m in matches if m.label == EXCEPTIONS]
    # A crisis cue in a clause that laughs ("i want to die 😂") is a joke to the lexicon: only the
    # model, sure beyond doubt, may still call it a crisis.
    ignored += [
        Match(EXCEPTIONS, *clause_around(text, m.start, m.end))
        for m in matches
        if m.label.startswith(CRISIS) and JOKE.search(text[slice(*clause_around(text, m.start, m.end))])
    ]
    matches = [
        m
        for m in matches
        if m.label not in (EXCEPTIONS, PAST)
        and not any(x.start <= m.start and m.end <= x.end for x in ignored)
    ]
    # Longer cues first: they are more specific and make a better quote.
    for match in sorted(matches, key=lambda m: (m.start - m.end, m.start)):
        start, end = clause_around(text, match.start, match.end)
        labels = [match.label]
        if match.label.startswith(CRISIS + KIND_SEP):
            labels.append(CRISIS)
        for label in labels:
            spans = found.setdefault(label, [])
            if any(e.start <= match.start and match.end <= e.end for e in spans):
                continue
            tactic = CRISIS if label.startswith(CRISIS) else label
            spans.append(Evidence(tactic=tactic, start=start, end=end, text=text[start:end]))
    return found


def cue_phrases(text: str, tokens: list[Token]) -> dict[str, list[tuple[int, int]]]:
    """Tactic -> the spans of its cue phrases themselves (not their clauses), in text order."""
    found: dict[str, list[tuple[int, int]]] = {}
    for match in find_tactic_cues(text, tokens):
        found.setdefault(match.label, []).append((match.start, match.end))
    return {label: sorted(spans) for label, spans in found.items()}
