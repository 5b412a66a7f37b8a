"""The embedded model: TF-IDF character and word n-grams of normalised text, one logistic head per label.

Thresholds are chosen on out-of-fold predictions over the training data (never on the dev set). The
learning itself is nlu/heads.py, which the Rasa component shares.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.pipeline import FeatureUnion

from nlu import heads
from nlu.cues import cue_evidence
from nlu.data import LABEL_ORDER, SERIOUS, TACTICS, Example
from nlu.heads import TrainOptions
from nlu.normalize import normalize

MODEL_VERSION = 9
LAYOUT = heads.Layout(labels=LABEL_ORDER, tactics=TACTICS, crisis="crisis", word_only=("crisis", SERIOUS))


@dataclass
class EmbeddedModel:
    """Everything needed to classify, picklable; `fingerprint` names the data it was trained on.

    At prediction time the label heads and the scenario head are plain weight matrices applied to one
    sparse feature matrix: sklearn's per-call checks would cost more than the arithmetic.
    """

    fingerprint: str
    vectorizer: FeatureUnion
    thresholds: dict[str, float]
    weights: np.ndarray  # (features, labels + gate)
    bias: np.ndarray
    scenario_weights: np.ndarray | None = None  # (features, scenarios)
    scenario_bias: np.ndarray | None = None
    scenario_classes: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    # The follow-up head (issue 17): which follow-up intent a reply is.
    followup_weights: np.ndarray | None = None
    followup_bias: np.ndarray | None = None
    followup_classes: tuple[str, ...] = ()

    def features(self, normalised: list[str]) -> Any:
        """The sparse TF-IDF features of already normalised texts."""
        return heads.features(self.vectorizer, normalised)

    def predict(self, normalised: list[str]) -> tuple[np.ndarray, list[tuple[str | None, float]]]:
        """Probabilities (columns LABEL_ORDER, then the gate) and the likeliest scenario, per text."""
        probs, scenarios, _ = self.predict_all(normalised, slice(0, 0))
        return probs, scenarios

    def predict_all(
        self, normalised: list[str], followup_rows: slice
    ) -> tuple[np.ndarray, list[tuple[str | None, float]], list[tuple[str | None, float, bool]]]:
        """`predict` of every text, and `followups` of the texts in `followup_rows`, from one
        vectorisation."""
        if not normalised:
            return np.zeros((0, self.weights.shape[1])), [], []
        x = self.features(normalised)
        probs, proba = heads.predict(x, self.weights, self.bias, self.scenario_weights, self.scenario_bias)
        replies = self._followups(x[followup_rows], len(normalised[followup_rows]))
        if not proba.shape[1]:
            return probs, [(None, 0.0)] * len(normalised), replies
        best = proba.argmax(axis=1)
        scenarios = [(self.scenario_classes[i], float(proba[row, i])) for row, i in enumerate(best)]
        return probs, scenarios, replies

    def followups(self, normalised: list[str]) -> list[tuple[str | None, float, bool]]:
        """Per text: the likeliest follow-up intent, its probability, and whether it beats "a message to
        judge" (None, 0.0, False without a follow-up head)."""
        if not normalised:
            return []
        return self._followups(self.features(normalised), len(normalised))

    def _followups(self, x: Any, n: int) -> list[tuple[str | None, float, bool]]:
        if self.followup_weights is None or self.followup_bias is None or not n:
            return [(None, 0.0, False)] * n
        proba = heads.softmax(x @ self.followup_weights + self.followup_bias)
        return [heads.best_followup(row, self.followup_classes) for row in proba]

    def probabilities(self, normalised: list[str]) -> np.ndarray:
        """Probabilities only (see `predict`)."""
        return self.predict(normalised)[0]


def label_matrix(examples: list[Example]) -> np.ndarray:
    """0/1 matrix of the labels of each example, columns in LABEL_ORDER."""
    return np.array(
        [
            [
                int(e.crisis if label == "crisis" else e.serious if label == SERIOUS else label in e.tactics)
                for label in LABEL_ORDER
            ]
            for e in examples
        ]
    )


def train(everything: list[Example], fingerprint: str, options: TrainOptions | None = None) -> EmbeddedModel:
    """Fit the vectorizer, the label heads, their thresholds and the scenario head, from the messages;
    the follow-up head from the replies (examples with a follow-up intent) against the messages."""
    examples = [e for e in everything if e.followup is None]
    replies = [(normalize(e.text), e.followup) for e in everything if e.followup is not None]
    fitted = heads.fit(
        [normalize(e.text) for e in examples],
        label_matrix(examples),
        LAYOUT,
        scenarios=[e.scenario for e in examples],
        crisis_caught=np.array([bool(cue_evidence(e.text).get("crisis")) for e in examples]),
        options=options,
        replies=replies,
    )
    return EmbeddedModel(
        fingerprint=fingerprint,
        vectorizer=fitted.vectorizer,
        thresholds=fitted.thresholds,
        weights=fitted.weights,
        bias=fitted.bias,
        scenario_weights=fitted.scenario_weights,
        scenario_bias=fitted.scenario_bias,
        scenario_classes=fitted.scenario_classes,
        followup_weights=fitted.followup_weights,
        followup_bias=fitted.followup_bias,
        followup_classes=fitted.followup_classes,
        meta={"examples": len(examples), "sklearn": sklearn.__version__, "version": MODEL_VERSION},
    )


def save(model: EmbeddedModel, path: Path) -> None:
    """Write the model atomically (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def load(path: Path) -> EmbeddedModel | None:
    """A cached model, or None when missing, unreadable or built by another sklearn/model version."""
    try:
        with path.open("rb") as fh:
            model = pickle.load(fh)  # noqa: S301 - our own cache file under the data directory
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    if not isinstance(model, EmbeddedModel):
        return None
    if model.meta.get("sklearn") != sklearn.__version__ or model.meta.get("version") != MODEL_VERSION:
        return None
    return model
