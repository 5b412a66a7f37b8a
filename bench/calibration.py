"""Calibration of the severity heads on held-out folds: the reliability table in docs/nlu.md.

    .venv/bin/python bench/calibration.py

Every training message is scored by heads that never saw it (the same 5 folds the thresholds are
chosen on). For the crisis and serious heads, the table bins the scores and prints, per bin, how
many messages fall in it, their mean score and how often they truly carry the label; then what the
thresholds the model chose give on those folds (the crisis lexicon counted, as the bot counts it).
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlu.cues import cue_evidence  # noqa: E402
from nlu.data import LABEL_ORDER, SERIOUS, TRAINING_DIR, load_examples  # noqa: E402
from nlu.heads import CRISIS_LOW, TrainOptions, out_of_fold  # noqa: E402
from nlu.model import LAYOUT, label_matrix, train  # noqa: E402
from nlu.normalize import normalize  # noqa: E402

BINS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def reliability(name: str, truth: np.ndarray, scores: np.ndarray) -> None:
    print(f"\n{name}: {int(truth.sum())} of {len(truth)} training messages carry the label")
    print(f"{'score':<12}{'messages':>10}{'mean score':>12}{'observed':>10}")
    for low, high in zip(BINS, BINS[1:], strict=False):
        inside = (scores >= low) & ((scores < high) if high < 1.0 else (scores <= high))
        if inside.any():
            print(
                f"[{low:.2f}, {high:.2f}{')' if high < 1.0 else ']'}{int(inside.sum()):>10}"
                f"{scores[inside].mean():>12.2f}{truth[inside].mean():>10.2f}"
            )


def at(name: str, truth: np.ndarray, flagged: np.ndarray) -> None:
    hit = int((flagged & truth).sum())
    print(
        f"{name}: recall {hit / max(1, truth.sum()):.3f}, precision {hit / max(1, flagged.sum()):.3f} "
        f"({int(flagged.sum())} flagged)"
    )


def main() -> None:
    started = time.perf_counter()
    examples = load_examples(TRAINING_DIR)
    texts = [normalize(e.text) for e in examples]
    labels = label_matrix(examples)
    y = np.column_stack([labels, labels[:, :3].any(axis=1)]).astype(int)
    oof, _ = out_of_fold(texts, y, LAYOUT, TrainOptions())
    thresholds = train(examples, "calibration").thresholds
    crisis_col, serious_col = LABEL_ORDER.index("crisis"), LABEL_ORDER.index(SERIOUS)
    crisis, serious = y[:, crisis_col] == 1, y[:, serious_col] == 1
    cues = np.array([bool(cue_evidence(e.text).get("crisis")) for e in examples])
    reliability("crisis head (imminent)", crisis, oof[:, crisis_col])
    reliability("serious head", serious, oof[:, serious_col])
    print(
        f"\nthresholds: crisis {thresholds['crisis']:.2f}, crisis_low {thresholds[CRISIS_LOW]:.2f}, "
        f"serious {thresholds[SERIOUS]:.2f}"
    )
    at(
        "imminent (model or lexicon) on held-out folds",
        crisis,
        (oof[:, crisis_col] >= thresholds["crisis"]) | cues,
    )
    at("crisis lexicon alone", crisis, cues)
    at("serious head alone", serious, oof[:, serious_col] >= thresholds[SERIOUS])
    print(f"\n{len(examples)} messages, {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    with threadpool_limits(limits=1, user_api="blas"):
        main()
