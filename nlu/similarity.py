"""Near-duplicate detection for the training and dev data (original writing, no templated variants)."""

from __future__ import annotations

import re

from nlu.data import Example
from nlu.normalize import fold

NEAR_DUPLICATE = 0.75


def shingles(text: str) -> set[str]:
    """4-character shingles of the folded text."""
    folded = re.sub(r"\W+", " ", fold(text)).strip()
    return {folded[i : i + 4] for i in range(max(1, len(folded) - 3))}


def near_duplicates(examples: list[Example], limit: float = NEAR_DUPLICATE) -> list[tuple[Example, Example]]:
    """Pairs whose shingle sets overlap by `limit` (Jaccard) or more."""
    sets = sorted(((shingles(e.text), i) for i, e in enumerate(examples)), key=lambda x: len(x[0]))
    found = []
    for pos, (a, i) in enumerate(sets):
        for b, j in sets[pos + 1 :]:
            if len(a) < limit * len(b):
                break  # every later set is larger still: the overlap cannot reach the limit
            if a and len(a & b) / len(a | b) >= limit:
                first, second = sorted((i, j))
                found.append((examples[first], examples[second]))
    return found
