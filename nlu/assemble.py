"""From label probabilities to an Analysis: thresholds, the crisis net, and evidence quoted from the text.

Shared by every backend, so that they differ only in where the probabilities come from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from handlers.models import Analysis, Evidence, Tactic
from nlu.data import LABEL_ORDER, TACTICS
from nlu.lexicon import MAX_QUOTE

GATE = "any"
# Columns of a probability vector: the labels, then the "any tactic" gate.
COLUMNS = (*LABEL_ORDER, GATE)
MIN_SEGMENT_WORDS = 4
MAX_SEGMENTS = 12
# A clause holding a cue phrase of the tactic is preferred as the quote, unless the model disagrees.
CUE_BONUS = 0.15
# Crisis found only by the lexicon is reported with this score.
CUE_CRISIS_SCORE = 0.95
SCENARIO_MIN = 0.15
UNSURE_MARGIN = 0.15
# How much weaker another clause may show a tactic and still be quoted instead of a clause already used.
SWITCH_MARGIN = 0.35
_PIECE = re.compile(r"[^.!?;…\n]+[.!?;…]*")


@dataclass(frozen=True)
class Segment:
    start: int
    end: int


def segments(text: str) -> list[Segment]:
    """Sentence-like pieces of the text (short ones merged into the next), as spans."""
    merged: list[list[int]] = []
    for m in _PIECE.finditer(text):
        if not m.group().strip():
            continue
        if merged and len(text[merged[-1][0] : merged[-1][1]].split()) < MIN_SEGMENT_WORDS:
            merged[-1][1] = m.end()
        else:
            merged.append([m.start(), m.end()])
    out = []
    for start, end in merged[:MAX_SEGMENTS]:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            out.append(Segment(start, end))
    return out or [Segment(0, len(text))]


def _cap(text: str, seg: Segment) -> Segment:
    """At most about MAX_QUOTE characters of a segment, cut at a word boundary."""
    if seg.end - seg.start <= MAX_QUOTE:
        return seg
    end = seg.start + MAX_QUOTE
    while end > seg.start and not text[end].isspace():
        end -= 1
    return Segment(seg.start, end if end > seg.start else seg.start + MAX_QUOTE)


def _ranked(
    label: str, cues: dict[str, list[Evidence]], pieces: list[tuple[Segment, np.ndarray]]
) -> list[tuple[float, float, Segment]]:
    """Clauses by how well they show `label`: (score with cue bonus, model probability, clause)."""
    j = COLUMNS.index(label)
    cue_spans = cues.get(label, [])
    ranked = []
    for seg, p in pieces:
        has_cue = any(c.start < seg.end and seg.start < c.end for c in cue_spans)
        ranked.append((float(p[j]) + (CUE_BONUS if has_cue else 0.0), float(p[j]), seg))
    return sorted(ranked, key=lambda r: -r[0])


def _evidence(text: str, label: str, seg: Segment, cues: dict[str, list[Evidence]]) -> Evidence:
    inside = [c for c in cues.get(label, []) if seg.start <= c.start and c.end <= seg.end]
    if seg.end - seg.start > MAX_QUOTE and inside:
        return inside[0]
    capped = _cap(text, seg)
    return Evidence(tactic=label, start=capped.start, end=capped.end, text=text[capped.start : capped.end])


def quote(
    text: str, label: str, cues: dict[str, list[Evidence]], pieces: list[tuple[Segment, np.ndarray]]
) -> Evidence:
    """The clause that best shows `label`: the model's favourite clause, cue clauses preferred."""
    if not pieces:
        if cues.get(label):
            return cues[label][0]
        return _evidence(text, label, segments(text)[0], cues)
    return _evidence(text, label, _ranked(label, cues, pieces)[0][2], cues)


def quotes(
    text: str,
    labels: list[str],
    thresholds: dict[str, float],
    cues: dict[str, list[Evidence]],
    pieces: list[tuple[Segment, np.ndarray]],
) -> dict[str, Evidence]:
    """One quote per label, each label taking a clause not already quoted when another clause
    shows that label nearly as well (so "fear" and "control" do not quote the same words)."""
    if not pieces:
        return {label: quote(text, label, cues, pieces) for label in labels}
    ranked = {label: _ranked(label, cues, pieces) for label in labels}
    chosen: dict[str, Evidence] = {}
    used: set[Segment] = set()
    for label in sorted(labels, key=lambda lb: -ranked[lb][0][0]):
        best_score = ranked[label][0][0]
        pick = ranked[label][0][2]
        for score, prob, seg in ranked[label]:
            if (
                seg not in used
                and score >= best_score - SWITCH_MARGIN
                and prob >= thresholds.get(label, 0.5) / 2
            ):
                pick = seg
                break
        used.add(pick)
        chosen[label] = _evidence(text, label, pick, cues)
    return chosen


def build_analysis(
    text: str,
    p: np.ndarray,
    *,
    thresholds: dict[str, float],
    cues: dict[str, list[Evidence]],
    pieces: list[tuple[Segment, np.ndarray]],
    scenario: tuple[str | None, float],
    backend: str,
    readable: bool = True,
) -> Analysis:
    """An Analysis from the probability vector `p` (columns COLUMNS) of a whole message."""
    if not readable:
        # Nothing a model can read (empty, emoji, punctuation): only the crisis lexicon may speak.
        p = np.zeros(len(COLUMNS))
    scores = {t: round(float(p[j]), 4) for j, t in enumerate(TACTICS)}
    # A tactic is reported when its head and the "any tactic" gate both agree.
    gate_open = p[COLUMNS.index(GATE)] >= thresholds[GATE]
    tactics = tuple(Tactic(t) for j, t in enumerate(TACTICS) if gate_open and p[j] >= thresholds[t])
    crisis_p = float(p[COLUMNS.index("crisis")])
    crisis_cue = bool(cues.get("crisis"))
    crisis = crisis_p >= thresholds["crisis"] or crisis_cue
    quoted = quotes(text, [t.value for t in tactics], thresholds, cues, pieces)
    evidence = [quoted[t.value] for t in tactics]
    if crisis:
        evidence.append(cues["crisis"][0] if crisis_cue else quote(text, "crisis", cues, pieces))
    near = any(thresholds[t] - UNSURE_MARGIN <= p[j] < thresholds[t] for j, t in enumerate(TACTICS))
    slug, slug_p = scenario
    return Analysis(
        tactics=tactics,
        scores=scores,
        crisis=crisis,
        crisis_score=round(max(crisis_p, CUE_CRISIS_SCORE if crisis_cue else 0.0), 4),
        evidence=tuple(evidence),
        scenario=slug if (tactics or crisis) and slug_p >= SCENARIO_MIN else None,
        unsure=not tactics and not crisis and near,
        backend=backend,
    )
