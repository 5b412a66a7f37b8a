"""Scoring a backend on labelled data: per-label P/R/F1, macro-F1 with a bootstrap 95% interval."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handlers.models import Analysis
from nlu.data import LANGS, STYLES, TACTICS, Example

EVAL_LABELS = (*TACTICS, "benign")


@dataclass(frozen=True)
class LabelScore:
    precision: float
    recall: float
    f1: float
    support: int


def _prf(truth: np.ndarray, pred: np.ndarray) -> LabelScore:
    tp = int((truth & pred).sum())
    fp = int((~truth & pred).sum())
    fn = int((truth & ~pred).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return LabelScore(p, r, f, int(truth.sum()))


def _matrices(examples: list[Example], analyses: list[Analysis]) -> tuple[np.ndarray, np.ndarray]:
    """Boolean truth and prediction matrices, columns fear, manipulation, control, benign, crisis."""

    def row(tactics: set[str], crisis: bool) -> list[bool]:
        return [*(t in tactics for t in TACTICS), not tactics, crisis]

    truth = np.array([row(set(e.tactics), e.crisis) for e in examples], dtype=bool)
    pred = np.array([row({t.value for t in a.tactics}, a.crisis) for a in analyses], dtype=bool)
    return truth.reshape(-1, 5), pred.reshape(-1, 5)


def macro_f1(truth: np.ndarray, pred: np.ndarray) -> float:
    """Mean F1 over fear, manipulation, control and benign."""
    return float(np.mean([_prf(truth[:, j], pred[:, j]).f1 for j in range(4)]))


@dataclass
class Report:
    n: int
    labels: dict[str, LabelScore]
    macro: float
    interval: tuple[float, float]
    crisis: LabelScore
    benign_flagged: float
    per_style: dict[str, tuple[float, int]]
    serious: LabelScore | None = None
    per_lang: dict[str, tuple[float, int]] | None = None
    # Messages with no label at all that were called imminent (the goal is none).
    benign_imminent: int = 0

    def render(self, title: str = "") -> str:
        lines = [f"{title}n={self.n}"]
        lines.append(f"{'label':<14}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
        for name, s in [*self.labels.items(), ("crisis", self.crisis)]:
            lines.append(f"{name:<14}{s.precision:>10.3f}{s.recall:>10.3f}{s.f1:>10.3f}{s.support:>10}")
        lines.append(
            f"macro-F1 (fear, manipulation, control, benign): {self.macro:.3f} "
            f"(bootstrap 95% interval {self.interval[0]:.3f}-{self.interval[1]:.3f})"
        )
        lines.append(
            f"imminent (crisis) recall {self.crisis.recall:.3f}, precision {self.crisis.precision:.3f}; "
            f"benign messages called imminent: {self.benign_imminent}"
        )
        if self.serious is not None:
            s = self.serious
            lines.append(f"serious (or imminent) recall {s.recall:.3f}, precision {s.precision:.3f}")
        lines.append(f"benign messages flagged with a tactic: {self.benign_flagged:.1%}")
        styles = ", ".join(f"{s} {f:.3f} (n={n})" for s, (f, n) in self.per_style.items())
        lines.append(f"macro-F1 per style: {styles}")
        if self.per_lang:
            langs = ", ".join(f"{s} {f:.3f} (n={n})" for s, (f, n) in self.per_lang.items())
            lines.append(f"macro-F1 per language: {langs}")
        return "\n".join(lines)


def evaluate(
    examples: list[Example], analyses: list[Analysis], *, resamples: int = 1000, seed: int = 7
) -> Report:
    """Score predictions against gold labels."""
    truth, pred = _matrices(examples, analyses)
    labels = {name: _prf(truth[:, j], pred[:, j]) for j, name in enumerate(EVAL_LABELS)}
    rng = np.random.default_rng(seed)
    n = len(examples)
    boots = [macro_f1(truth[idx], pred[idx]) for idx in (rng.integers(0, n, n) for _ in range(resamples))]
    benign = truth[:, 3]
    flagged = float((~pred[benign, 3]).mean()) if benign.any() else 0.0
    per_style: dict[str, tuple[float, int]] = {}
    for style in STYLES:
        mask = np.array([e.style == style for e in examples], dtype=bool)
        if mask.any():
            per_style[style] = (macro_f1(truth[mask], pred[mask]), int(mask.sum()))
    per_lang: dict[str, tuple[float, int]] = {}
    for lang in LANGS:
        mask = np.array([e.lang == lang for e in examples], dtype=bool)
        if mask.any():
            per_lang[lang] = (macro_f1(truth[mask], pred[mask]), int(mask.sum()))
    # Serious or worse, against the same predicted (the answer with 111 first is owed to both).
    urgent_truth = np.array([e.serious or e.crisis for e in examples], dtype=bool)
    urgent_pred = np.array([a.severity.value != "none" for a in analyses], dtype=bool)
    plain = np.array([not e.tactics and not e.crisis and not e.serious for e in examples], dtype=bool)
    return Report(
        n=n,
        labels=labels,
        macro=macro_f1(truth, pred),
        interval=(float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))),
        crisis=_prf(truth[:, 4], pred[:, 4]),
        benign_flagged=flagged,
        per_style=per_style,
        serious=_prf(urgent_truth, urgent_pred),
        per_lang=per_lang,
        benign_imminent=int((plain & pred[:, 4]).sum()),
    )


@dataclass
class FollowUpReport:
    """How well replies after an answer are read: per follow-up intent, and messages mistaken for one."""

    per_intent: dict[str, LabelScore]
    accuracy: float
    replies: int
    # Messages to judge (scams, ordinary messages) read as a follow-up at the answering threshold.
    messages_taken: float
    messages: int

    def render(self) -> str:
        lines = [f"follow-ups: n={self.replies}, accuracy {self.accuracy:.3f}"]
        lines.append(f"{'intent':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
        for name, s in self.per_intent.items():
            lines.append(f"{name:<16}{s.precision:>10.3f}{s.recall:>10.3f}{s.f1:>10.3f}{s.support:>10}")
        lines.append(f"messages read as a follow-up: {self.messages_taken:.1%} of {self.messages}")
        return "\n".join(lines)


def evaluate_followups(
    replies: list[Example], reply_analyses: list[Analysis], messages: list[Analysis], threshold: float
) -> FollowUpReport:
    """Score the follow-up intents of replies, and count messages the bot would answer as replies."""

    def picked(a: Analysis) -> str | None:
        return a.followup.value if a.followup is not None and a.followup_score >= threshold else None

    got = [picked(a) for a in reply_analyses]
    truth = [e.followup for e in replies]
    per = {}
    for name in sorted({t for t in truth if t}):
        t = np.array([x == name for x in truth], dtype=bool)
        p = np.array([x == name for x in got], dtype=bool)
        per[name] = _prf(t, p)
    accuracy = float(np.mean([g == t for g, t in zip(got, truth, strict=True)])) if truth else 0.0
    taken = float(np.mean([picked(a) is not None for a in messages])) if messages else 0.0
    return FollowUpReport(per, accuracy, len(replies), taken, len(messages))
