"""The embedded backend: the trained model plus the crisis lexicon, with evidence quoted from the text."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from handlers.models import Analysis
from nlu.assemble import COLUMNS, SEVERITY_LABELS, Segment, build_analysis, segments
from nlu.chatlog import split_chat
from nlu.cues import cue_evidence
from nlu.data import TRAINING_DIR, data_files, fingerprint, load_examples
from nlu.lexicon import LEXICON_FILE
from nlu.model import MODEL_VERSION, EmbeddedModel, load, save, train
from nlu.normalize import TEENCODE_FILE, normalize, tokenize

log = logging.getLogger(__name__)


class EmbeddedClassifier:
    """Analyses messages in-process: no network, a few milliseconds per message."""

    name = "embedded"

    def __init__(self, model: EmbeddedModel) -> None:
        self.model = model

    async def analyze(self, text: str) -> Analysis:
        """Tactics, crisis and evidence of one message."""
        return self.analyze_batch([text])[0]

    def analyze_batch(self, texts: list[str]) -> list[Analysis]:
        """Analyse many messages at once (one vectorisation for all texts and their clauses)."""
        tokens = [tokenize(t) for t in texts]
        normalised = [" ".join(tok.norm for tok in toks) for toks in tokens]
        cues = [cue_evidence(t, toks) for t, toks in zip(texts, tokens, strict=True)]
        chats = [split_chat(t) for t in texts]
        # A pasted chat's tactics come from the other party's lines; its danger from every line.
        theirs = [
            normalize(c.other_text(t)) if c else n for c, t, n in zip(chats, texts, normalised, strict=True)
        ]
        pieces: list[tuple[int, Segment]] = []
        for i, t in enumerate(texts):
            if normalised[i] and len(segs := segments(t)) > 1:
                pieces += [(i, s) for s in segs]
        # One vectorisation for the messages and their clauses together.
        n = len(texts)
        every, scenarios, replies = self.model.predict_all(
            theirs + normalised + [normalize(texts[i][s.start : s.end]) for i, s in pieces],
            followup_rows=slice(n, 2 * n),
        )
        probs, whole, piece_probs = every[:n].copy(), every[n : 2 * n], every[2 * n :]
        scenario = scenarios[:n]
        for i, chat in enumerate(chats):
            if chat is not None:
                for label in SEVERITY_LABELS:
                    j = COLUMNS.index(label)
                    probs[i, j] = max(probs[i, j], whole[i, j])
        by_text: dict[int, list[tuple[Segment, np.ndarray]]] = {}
        for (i, seg), p in zip(pieces, piece_probs, strict=True):
            by_text.setdefault(i, []).append((seg, p))
        return [
            build_analysis(
                texts[i],
                probs[i],
                thresholds=self.model.thresholds,
                cues=cues[i],
                pieces=by_text.get(i, []),
                scenario=scenario[i],
                backend=self.name,
                readable=bool(normalised[i]),
                tokens=tokens[i],
                not_theirs=chat.not_theirs() if chat else (),
                followup=replies[i],
            )
            for i, chat in enumerate(chats)
        ]


def model_path(cache_dir: Path, data_dir: Path) -> tuple[Path, str]:
    """Where the model for this training data is cached, and the data's fingerprint."""
    # The normaliser's and lexicon's data change what the model sees and its crisis threshold too.
    fp = f"v{MODEL_VERSION}-{fingerprint([*data_files(data_dir), TEENCODE_FILE, LEXICON_FILE])}"
    return cache_dir / f"embedded-{fp}.pkl", fp


def load_or_train(
    cache_dir: Path,
    data_dir: Path | None = None,
    *,
    force: bool = False,
    on_training: Callable[[], None] | None = None,
) -> EmbeddedModel:
    """The cached model for the current data, trained and cached first when missing or stale.

    `on_training` is called once before a training starts (first run, or the data changed), so a
    person waiting can be told why the first answer takes a while.
    """
    data_dir = data_dir or TRAINING_DIR
    path, fp = model_path(cache_dir, data_dir)
    model = None if force else load(path)
    if model is not None and model.fingerprint == fp:
        return model
    if on_training is not None:
        on_training()
    # Whoever waits is told: a log line for operators, or the caller's own notice (then at INFO).
    log.log(
        logging.INFO if on_training is not None else logging.WARNING,
        "training the embedded NLU model (first run or changed training data; about 20 s on 2 cores)",
        extra={"backend": "embedded"},
    )
    model = train(load_examples(data_dir, followups=True), fp)
    try:
        save(model, path)
        for stale in cache_dir.glob("embedded-*.pkl"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot cache the NLU model", extra={"error": type(exc).__name__})
    return model
