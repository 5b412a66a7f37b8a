"""The classifier itself: TF-IDF features of normalised text, one logistic head per label plus an "any
tactic" gate and a scenario head, with thresholds chosen on out-of-fold predictions.

Shared by the embedded model (nlu/model.py) and the Rasa component (nlu/rasa/notalone_component.py),
so both backends learn the same way. It runs inside Rasa's own venv too (Python 3.10, scikit-learn
1.1, numpy 1.23): it imports nothing of notalone, and nothing newer than those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion
from threadpoolctl import threadpool_limits

GATE = "any"
SCENARIO = "scenario"
# Crisis must not be missed: the threshold keeps at least this out-of-fold recall for the detector the
# bot uses (the model's crisis head OR the crisis lexicon).
CRISIS_RECALL = 0.975
# An imminent crisis (the crisis turn and an urgent case for the counselors) needs a score from which
# out-of-fold crises, with the lexicon's, are right at least this often; between the recall threshold
# above (kept as CRISIS_LOW) and this one, a message may be "serious": the answer puts 111 first and
# offers a counselor, without the crisis turn or an urgent case.
CRISIS_PRECISION = 0.75
CRISIS_LOW = "crisis_low"
# The severity heads (Layout.word_only) read the word n-grams only, with weaker regularisation:
# character n-grams make a two-word message ("đang tới") look like "em đang đứng trên sân thượng". On
# the dev set words alone rank crises better (average precision 0.95 against 0.91 with characters) and
# serious messages too (0.88 against 0.84); the tactic heads keep both (docs/nlu.md).
WORD_ONLY_C = 20.0
# The "any tactic" gate is set so that at most this share of out-of-fold benign training messages is
# flagged; kept below the 8% goal because new writers' messages are harder than held-out training ones.
BENIGN_FLAG_TARGET = 0.06
# A scenario's guide is shown only when the scenario head is at least this sure on out-of-fold messages
# with a tactic or crisis: a confident wrong card misleads, the tactics' own guidance never does. The
# training data is full of deliberately ambiguous messages (an OTP asked "for a game skin", a kidnapping
# that starts as a fake police call), so 0.85 out-of-fold is about 0.95 on new messages (docs/nlu.md).
SCENARIO_PRECISION = 0.85
# The follow-up head's class for a message to judge (not a reply after an answer).
NO_FOLLOWUP = "none"
# The vectorizers, by name, in the order of the feature columns.
VECTORIZERS = ("chars", "words")


@dataclass
class TrainOptions:
    c: float = 5.0
    folds: int = 5
    seed: int = 13


@dataclass(frozen=True)
class Layout:
    """Which columns of the label matrix are the tactics (the gate's) and which one is crisis."""

    labels: tuple[str, ...]
    tactics: tuple[str, ...]
    crisis: str
    # Labels whose head reads the word n-grams only (the severity labels).
    word_only: tuple[str, ...] = ()

    @property
    def tactic_columns(self) -> list[int]:
        return [self.labels.index(t) for t in self.tactics]

    @property
    def crisis_column(self) -> int:
        return self.labels.index(self.crisis)


@dataclass
class Heads:
    """A trained classifier: the features, one sigmoid column per label then the gate, thresholds
    (per label, the gate, the scenario), and the multinomial scenario head.

    Prediction is plain arithmetic on one sparse feature matrix: sklearn's per-call checks would cost
    more than the arithmetic.
    """

    vectorizer: FeatureUnion
    thresholds: dict[str, float]
    weights: np.ndarray  # (features, labels + gate)
    bias: np.ndarray
    scenario_weights: np.ndarray | None = None  # (features, scenarios)
    scenario_bias: np.ndarray | None = None
    scenario_classes: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    # Which follow-up intent a reply is (NO_FOLLOWUP for a message to judge), multinomial.
    followup_weights: np.ndarray | None = None  # (features, classes)
    followup_bias: np.ndarray | None = None
    followup_classes: tuple[str, ...] = ()

    def features(self, normalised: Sequence[str]) -> Any:
        return features(self.vectorizer, normalised)

    def followups(self, x: Any) -> np.ndarray:
        """Per row of features: the follow-up classes' probabilities (columns `followup_classes`)."""
        if self.followup_weights is None or self.followup_bias is None:
            return np.zeros((x.shape[0], 0))
        return softmax(x @ self.followup_weights + self.followup_bias)

    def predict(self, normalised: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per text: the label and gate probabilities, and the scenario probabilities (columns
        `scenario_classes`; none without a scenario head)."""
        return predict(
            self.features(normalised), self.weights, self.bias, self.scenario_weights, self.scenario_bias
        )


def vectorizer() -> FeatureUnion:
    """TF-IDF of character n-grams (2–5, word-bounded, min_df 2) and word uni/bigrams."""
    return FeatureUnion(
        [
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)),
            (
                "words",
                TfidfVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"\S+", sublinear_tf=True),  # noqa: S106
            ),
        ]
    )


def features(vec: FeatureUnion, normalised: Sequence[str]) -> Any:
    """The sparse TF-IDF features of already normalised texts (without FeatureUnion's per-call checks)."""
    docs = list(normalised)
    return sparse.hstack([tfidf(v, docs) for _, v in vec.transformer_list], format="csr")


def tfidf(v: TfidfVectorizer, docs: list[str]) -> Any:
    """What `v.transform(docs)` gives, computed from the counts without the input checks sklearn
    makes on every call (they cost as much as the counting for one short message)."""
    x = CountVectorizer.transform(v, docs).astype(np.float64)
    if v.sublinear_tf:
        np.log(x.data, out=x.data)
        x.data += 1.0
    x.data *= v.idf_[x.indices]
    if v.norm != "l2":
        return v.transform(docs)  # not a layout this project trains
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    norms = np.sqrt(np.bincount(rows, weights=x.data**2, minlength=x.shape[0]))
    if x.nnz:
        x.data /= norms[rows]
    return x


def predict(
    x: Any,
    weights: np.ndarray,
    bias: np.ndarray,
    scenario_weights: np.ndarray | None,
    scenario_bias: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sigmoid label probabilities and softmax scenario probabilities of a feature matrix."""
    probs = 1.0 / (1.0 + np.exp(-(x @ weights + bias)))
    if scenario_weights is None or scenario_bias is None:
        return probs, np.zeros((x.shape[0], 0))
    return probs, softmax(x @ scenario_weights + scenario_bias)


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def best_followup(proba: np.ndarray, classes: Sequence[str]) -> tuple[str | None, float, bool]:
    """The likeliest follow-up intent of one row of follow-up probabilities, its probability, and
    whether it beats NO_FOLLOWUP."""
    intents = [k for k, name in enumerate(classes) if name != NO_FOLLOWUP]
    if not intents:
        return None, 0.0, False
    k = max(intents, key=lambda i: proba[i])
    none = classes.index(NO_FOLLOWUP) if NO_FOLLOWUP in classes else None
    return classes[k], float(proba[k]), none is None or proba[k] > proba[none]


def followup_head(c: float) -> LogisticRegression:
    # Balanced: a few hundred replies against thousands of messages to judge.
    return LogisticRegression(C=c, max_iter=3000, tol=1e-3, class_weight="balanced")


def rescale(p: np.ndarray | float, threshold: float) -> np.ndarray:
    """Probabilities mapped piecewise linearly so that `threshold` becomes 0.5 (0 and 1 stay): a
    decision at 0.5 on the result is the decision at `threshold` on `p`."""
    p = np.asarray(p, dtype=float)
    t = min(max(threshold, 1e-6), 1 - 1e-6)
    return np.where(p < t, 0.5 * p / t, 0.5 + 0.5 * (p - t) / (1 - t))


def head(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, class_weight="balanced", max_iter=3000)


def words_from(vec: FeatureUnion) -> int:
    """Where the word block starts in the features (after the character n-grams)."""
    return len(vec.transformer_list[0][1].vocabulary_)


def fit_head(x: Any, y: np.ndarray, column: int, layout: Layout, start: int, c: float) -> LogisticRegression:
    """One column's head; a word-only label's head on the word block (its weights padded with zeros over
    the character block, so every head reads the same feature vector)."""
    if column >= len(layout.labels) or layout.labels[column] not in layout.word_only:
        return head(c).fit(x, y)
    fitted = head(WORD_ONLY_C).fit(x[:, start:], y)
    fitted.coef_ = np.hstack([np.zeros((1, start)), fitted.coef_])
    fitted.n_features_in_ = x.shape[1]
    return fitted


def precision_threshold(
    y: np.ndarray, p: np.ndarray, precision: float, caught: np.ndarray, floor: float
) -> float:
    """The lowest threshold (not under `floor`) whose detections with those `caught` by other means are
    right at least `precision` of the time."""
    positives = y == 1
    for t in np.arange(floor, 0.96, 0.01):
        flagged = (p >= t) | caught
        if flagged.any() and positives[flagged].mean() >= precision:
            return float(round(t, 2))
    return 0.95


def scenario_head(c: float) -> LogisticRegression:
    # Trained on messages with a tactic or crisis only: the scenario picks the guide of a trap, and
    # ordinary messages labelled with a scenario's topic only blur that choice (and slow training).
    return LogisticRegression(C=c, max_iter=3000, tol=1e-3)


def gate_threshold(
    y: np.ndarray, oof: np.ndarray, tactic_columns: list[int], tactic_thresholds: np.ndarray
) -> float:
    """The lowest gate that flags at most BENIGN_FLAG_TARGET of the benign training messages."""
    benign = y[:, tactic_columns].sum(axis=1) == 0
    flagged_by_heads = (oof[:, tactic_columns] >= tactic_thresholds).any(axis=1)
    for gate in np.arange(0.3, 0.9, 0.02):
        flagged = flagged_by_heads & (oof[:, -1] >= gate)
        if not benign.any() or flagged[benign].mean() <= BENIGN_FLAG_TARGET:
            return float(gate)
    return 0.9


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    grid = np.arange(0.2, 0.91, 0.02)
    scores = []
    for t in grid:
        pred = p >= t
        tp = float((pred & (y == 1)).sum())
        denom = float(pred.sum() + (y == 1).sum())
        scores.append(2 * tp / denom if denom else 0.0)
    return float(grid[int(np.argmax(scores))])


def recall_threshold(y: np.ndarray, p: np.ndarray, recall: float, caught: np.ndarray | None = None) -> float:
    """The highest threshold whose detections, with those `caught` by other means, keep `recall`."""
    caught = np.zeros_like(y, dtype=bool) if caught is None else caught
    positives = y == 1
    if not positives.any():
        return 0.5
    for t in np.arange(0.5, 0.04, -0.01):
        if ((p >= t) | caught)[positives].mean() >= recall:
            return float(round(t, 2))
    return 0.05


def scenario_threshold(
    picked: list[tuple[str, float]], gold: Sequence[str | None], flagged: np.ndarray
) -> float:
    """The lowest probability from which out-of-fold scenario guesses on flagged messages are right at
    least SCENARIO_PRECISION of the time."""
    rows = [(p, s == g) for (s, p), g, f in zip(picked, gold, flagged, strict=True) if f and g]
    for t in np.arange(0.1, 0.96, 0.02):
        kept = [ok for p, ok in rows if p >= t]
        if kept and sum(kept) / len(kept) >= SCENARIO_PRECISION:
            return float(round(t, 2))
    return 0.95


def _flagged(y: np.ndarray, layout: Layout) -> np.ndarray:
    """Rows with a tactic or a crisis (the ones an answer shows a scenario's guide for)."""
    return np.asarray(y[:, layout.tactic_columns].any(axis=1) | (y[:, layout.crisis_column] == 1), dtype=bool)


def out_of_fold(
    texts: list[str],
    y: np.ndarray,
    layout: Layout,
    options: TrainOptions,
    scenarios: Sequence[str | None] | None = None,
) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """Out-of-fold probabilities for every column of `y`, and the scenario head's guess with its
    probability, for choosing thresholds honestly."""
    oof = np.zeros(y.shape, dtype=float)
    picked: list[tuple[str, float]] = [("", 0.0)] * len(texts)
    strata = y @ (2 ** np.arange(y.shape[1]))
    counts = np.bincount(strata)
    strata = np.where(counts[strata] >= options.folds, strata, -1)
    folds = StratifiedKFold(n_splits=options.folds, shuffle=True, random_state=options.seed)
    array = np.array(texts, dtype=object)
    flagged = _flagged(y, layout)
    for train_idx, test_idx in folds.split(array, strata):
        vec = vectorizer()
        a = vec.fit_transform(list(array[train_idx]))
        b = vec.transform(list(array[test_idx]))
        for j in range(y.shape[1]):
            fitted = fit_head(a, y[train_idx, j], j, layout, words_from(vec), options.c)
            oof[test_idx, j] = fitted.predict_proba(b)[:, 1]
        if scenarios is not None:
            rows = [k for k, i in enumerate(train_idx) if scenarios[i] and flagged[i]]
            if len({scenarios[train_idx[k]] for k in rows}) < 2:
                continue
            fitted = scenario_head(options.c).fit(a[rows], [scenarios[train_idx[k]] for k in rows])
            proba = fitted.predict_proba(b)
            for k, i in enumerate(test_idx):
                best = int(proba[k].argmax())
                picked[i] = (str(fitted.classes_[best]), float(proba[k, best]))
    return oof, picked


def fit(
    texts: list[str],
    labels: np.ndarray,
    layout: Layout,
    *,
    scenarios: Sequence[str | None] | None = None,
    crisis_caught: np.ndarray | None = None,
    options: TrainOptions | None = None,
    replies: Sequence[tuple[str, str]] = (),
) -> Heads:
    """Fit the vectorizer, the label heads and the gate, their thresholds, and the scenario head; with
    `replies` ((normalised text, follow-up intent) of replies after an answer), the follow-up head too.

    `labels` is the 0/1 matrix of the labels of each (normalised) text, columns `layout.labels`;
    `crisis_caught` marks the texts the crisis lexicon already catches (the crisis threshold keeps
    CRISIS_RECALL for head OR lexicon)."""
    # One BLAS thread: the heads are small sparse problems, and OpenBLAS's threads fighting over two
    # cores made each fit twenty times slower (3 s instead of 0.15 s).
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(texts, labels, layout, scenarios, crisis_caught, options or TrainOptions(), replies)


def _fit(
    texts: list[str],
    labels: np.ndarray,
    layout: Layout,
    scenarios: Sequence[str | None] | None,
    crisis_caught: np.ndarray | None,
    options: TrainOptions,
    replies: Sequence[tuple[str, str]],
) -> Heads:
    tactic_columns = layout.tactic_columns
    y = np.column_stack([labels, labels[:, tactic_columns].any(axis=1)]).astype(int)
    oof, picked = out_of_fold(texts, y, layout, options, scenarios)
    thresholds = {
        label: (
            recall_threshold(y[:, j], oof[:, j], CRISIS_RECALL, caught=crisis_caught)
            if label == layout.crisis
            else best_f1_threshold(y[:, j], oof[:, j])
        )
        for j, label in enumerate(layout.labels)
    }
    thresholds[GATE] = gate_threshold(
        y, oof, tactic_columns, np.array([thresholds[t] for t in layout.tactics])
    )
    j = layout.crisis_column
    thresholds[CRISIS_LOW] = thresholds[layout.crisis]
    caught = crisis_caught if crisis_caught is not None else np.zeros(len(texts), dtype=bool)
    thresholds[layout.crisis] = precision_threshold(
        y[:, j], oof[:, j], CRISIS_PRECISION, caught, floor=thresholds[CRISIS_LOW]
    )
    flagged = _flagged(y, layout)
    thresholds[SCENARIO] = scenario_threshold(picked, scenarios, flagged) if scenarios is not None else 0.5
    vec = vectorizer()
    # The vocabulary holds the replies' words too ("cảm ơn", "sợ mẹ mắng"); the label heads learn from
    # the messages only.
    vec.fit(list(texts) + [t for t, _ in replies])
    x = features(vec, texts)
    fitted = [fit_head(x, y[:, j], j, layout, words_from(vec), options.c) for j in range(y.shape[1])]
    heads = Heads(
        vectorizer=vec,
        thresholds=thresholds,
        weights=np.column_stack([h.coef_[0] for h in fitted]),
        bias=np.array([h.intercept_[0] for h in fitted]),
    )
    with_scenario = [(i, s) for i, s in enumerate(scenarios or ()) if s and flagged[i]]
    if len({s for _, s in with_scenario}) > 2:
        rows = [i for i, _ in with_scenario]
        sc = scenario_head(options.c).fit(x[rows], [s for _, s in with_scenario])
        heads.scenario_weights = sc.coef_.T.copy()
        heads.scenario_bias = sc.intercept_.copy()
        heads.scenario_classes = tuple(str(c) for c in sc.classes_)
    if replies:
        # Every message to judge is NO_FOLLOWUP; the replies are their intents.
        names = [NO_FOLLOWUP] * len(texts) + [intent for _, intent in replies]
        fu = followup_head(options.c).fit(features(vec, list(texts) + [t for t, _ in replies]), names)
        heads.followup_weights = fu.coef_.T.copy()
        heads.followup_bias = fu.intercept_.copy()
        heads.followup_classes = tuple(str(c) for c in fu.classes_)
    return heads


def export_vectorizer(vec: FeatureUnion) -> dict[str, Any]:
    """The fitted vectorizer as plain data (vocabulary and idf per part), for storing without pickle."""
    return {
        name: {"vocabulary": {k: int(v) for k, v in part.vocabulary_.items()}, "idf": part.idf_.tolist()}
        for name, part in vec.transformer_list
    }


def import_vectorizer(data: dict[str, Any]) -> FeatureUnion:
    """The vectorizer `export_vectorizer` stored, ready to transform."""
    vec = vectorizer()
    for name, part in vec.transformer_list:
        part.vocabulary = data[name]["vocabulary"]
        part.idf_ = np.asarray(data[name]["idf"], dtype=float)
    return vec
