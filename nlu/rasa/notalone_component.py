"""notalone's own classifier as a Rasa Open Source 3.6 NLU component.

It learns exactly what the embedded backend learns (nlu/heads.py: TF-IDF char 2–5 and word 1–2 grams,
one logistic head per label plus an "any tactic" gate and a scenario head, thresholds chosen on
out-of-fold predictions) from the Rasa training data: the labels are the multi-intent's parts (split
on '+', `benign` for none), the scenario and whether the crisis lexicon catches the message come from
each example's metadata (nlu/rasa_data.py writes them).

`/model/parse` then answers, beside the usual `intent`, an `intent_ranking` with one entry per label,
one for the gate (`any`) and the likeliest scenarios (`scenario/<slug>`), each confidence rescaled so
that its own threshold is 0.5 (nlu/rasa_http.py reads them).

Rasa imports this module by name (`notalone_component.NotaloneClassifier` in config.yml): the Rasa
process finds it, and a package `nlu` holding only nlu/heads.py, in the folder nlu/rasa_server.py
puts on its PYTHONPATH. It runs in Rasa's venv (Python 3.10), never in notalone's.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_RANKING_KEY,
    METADATA,
    METADATA_EXAMPLE,
    METADATA_INTENT,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.heads import (
    GATE,
    NO_FOLLOWUP,
    SCENARIO,
    Heads,
    Layout,
    TrainOptions,
    best_followup,
    export_vectorizer,
    fit,
    import_vectorizer,
    rescale,
)

logger = logging.getLogger(__name__)

# The scenarios' entries in intent_ranking are named by this prefix and the slug (the gate's is GATE).
SCENARIO_PREFIX = "scenario/"
# Replies after an answer (issue 17) are intents `followup_<name>`; /model/parse answers the likeliest
# as `followup/<name>` (or `followup/none` for a message to judge) with its probability.
FOLLOWUP_INTENT = "followup_"
FOLLOWUP_PREFIX = "followup/"
FORMAT = 1


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class NotaloneClassifier(GraphComponent, IntentClassifier):
    """Per-label probabilities, the "any tactic" gate and the scenario from notalone's own heads."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # Labels in the order of an intent's name; `tactics` open the gate; `crisis` keeps its
            # out-of-fold recall (nlu/data.py LABEL_ORDER and TACTICS; a test checks config.yml).
            "labels": ["fear", "manipulation", "control", "serious", "crisis"],
            "tactics": ["fear", "manipulation", "control"],
            "crisis": "crisis",
            # Labels whose head reads word n-grams only (nlu/model.py LAYOUT; a test checks config.yml).
            "word_only": ["crisis", "serious"],
            "benign": "benign",
            "split_symbol": "+",
            "c": 5.0,
            "folds": 5,
            "seed": 13,
            # How many scenario entries intent_ranking holds (the likeliest first).
            "scenario_ranking_length": 3,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn", "scipy"]

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        labels = list(config["labels"])
        if not set(config["tactics"]) <= set(labels) or config["crisis"] not in labels:
            raise ValueError("NotaloneClassifier: tactics and crisis must be among the labels")

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        heads: Heads | None = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self.validate_config(self.config)
        self.layout = Layout(
            labels=tuple(self.config["labels"]),
            tactics=tuple(self.config["tactics"]),
            crisis=str(self.config["crisis"]),
            word_only=tuple(self.config["word_only"]),
        )
        self.heads = heads
        self._model_storage = model_storage
        self._resource = resource

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> NotaloneClassifier:
        return cls(config, model_storage, resource)

    # Training ---------------------------------------------------------------------------------------

    def _labels(self, intent: str) -> list[int]:
        parts = set() if intent == self.config["benign"] else set(intent.split(self.config["split_symbol"]))
        unknown = parts - set(self.layout.labels)
        if unknown:
            raise ValueError(
                f"NotaloneClassifier: intent {intent!r} has labels {sorted(unknown)} that are not in "
                f"{self.layout.labels} (or {self.config['benign']!r} for none)"
            )
        return [int(label in parts) for label in self.layout.labels]

    def train(self, training_data: TrainingData) -> Resource:
        every = [m for m in training_data.intent_examples if m.get(TEXT) and m.get(INTENT)]
        examples = [m for m in every if not str(m.get(INTENT)).startswith(FOLLOWUP_INTENT)]
        replies = [
            (str(m.get(TEXT)), str(m.get(INTENT)).removeprefix(FOLLOWUP_INTENT))
            for m in every
            if str(m.get(INTENT)).startswith(FOLLOWUP_INTENT)
        ]
        if not examples:
            logger.warning("NotaloneClassifier: no training examples; nothing learnt")
            return self._resource
        metadata = [_metadata(m) for m in examples]
        self.heads = fit(
            [str(m.get(TEXT)) for m in examples],
            np.array([self._labels(str(m.get(INTENT))) for m in examples], dtype=int),
            self.layout,
            scenarios=[meta.get("scenario") or None for meta in metadata],
            crisis_caught=np.array([bool(meta.get("crisis_lexicon")) for meta in metadata]),
            options=TrainOptions(
                c=float(self.config["c"]), folds=int(self.config["folds"]), seed=int(self.config["seed"])
            ),
            replies=replies,
        )
        logger.info("NotaloneClassifier thresholds: %s", self.heads.thresholds)
        self.persist()
        return self._resource

    # Parsing ----------------------------------------------------------------------------------------

    def process(self, messages: list[Message]) -> list[Message]:
        if self.heads is None:
            return messages
        texts = [str(m.get(TEXT) or "") for m in messages]
        probs, scenarios = self.heads.predict(texts)
        followups = self.heads.followups(self.heads.features(texts))
        for row, message in enumerate(messages):
            ranking, intent = self._ranking(probs[row], scenarios[row])
            if followups.shape[1]:
                # The likeliest follow-up intent, and how likely "a message to judge" is.
                name, p, _ = best_followup(followups[row], self.heads.followup_classes)
                ranking.append({"name": FOLLOWUP_PREFIX + str(name), "confidence": round(p, 6)})
                if NO_FOLLOWUP in self.heads.followup_classes:
                    p_none = float(followups[row, self.heads.followup_classes.index(NO_FOLLOWUP)])
                    ranking.append({"name": FOLLOWUP_PREFIX + NO_FOLLOWUP, "confidence": round(p_none, 6)})
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def _ranking(self, p: np.ndarray, scenario: np.ndarray) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """intent_ranking (labels, gate, likeliest scenarios; each threshold rescaled to 0.5) and the
        intent those decisions make (`fear+control`, `crisis`, `benign`…)."""
        assert self.heads is not None
        thresholds = self.heads.thresholds
        names = [*self.layout.labels, GATE]
        confidence = {name: float(rescale(p[j], thresholds[name])) for j, name in enumerate(names)}
        ranking: list[dict[str, Any]] = [
            {"name": name, "confidence": round(c, 6)} for name, c in confidence.items()
        ]
        for k in np.argsort(-scenario)[: int(self.config["scenario_ranking_length"])]:
            c = float(rescale(scenario[k], thresholds[SCENARIO]))
            ranking.append(
                {"name": SCENARIO_PREFIX + self.heads.scenario_classes[k], "confidence": round(c, 6)}
            )
        ranking.sort(key=lambda entry: -entry["confidence"])
        gate = confidence[GATE] >= 0.5
        found = [
            label
            for label in self.layout.labels
            if confidence[label] >= 0.5 and (gate or label not in self.layout.tactics)
        ]
        if self.layout.crisis in found:
            # Two severities: crisis (danger now) wins over anything less.
            found = [label for label in found if label in self.layout.tactics or label == self.layout.crisis]
        if found:
            intent = {
                "name": self.config["split_symbol"].join(found),
                "confidence": min(confidence[x] for x in found),
            }
        else:
            intent = {"name": self.config["benign"], "confidence": 1.0 - max(confidence.values())}
        intent["confidence"] = round(float(intent["confidence"]), 6)
        return ranking, intent

    # Storage (JSON and numbers only: no pickle in a model file) --------------------------------------

    def persist(self) -> None:
        if self.heads is None:
            return
        heads = self.heads
        with self._model_storage.write_to(self._resource) as directory:
            (directory / "heads.json").write_text(
                json.dumps(
                    {
                        "format": FORMAT,
                        "thresholds": heads.thresholds,
                        "scenario_classes": list(heads.scenario_classes),
                        "followup_classes": list(heads.followup_classes),
                        "vectorizer": export_vectorizer(heads.vectorizer),
                    },
                    ensure_ascii=False,
                ),
                encoding="utf-8",
            )
            arrays = {
                "weights": heads.weights,
                "bias": heads.bias,
                "scenario_weights": heads.scenario_weights,
                "scenario_bias": heads.scenario_bias,
                "followup_weights": heads.followup_weights,
                "followup_bias": heads.followup_bias,
            }
            kept: dict[str, Any] = {k: v for k, v in arrays.items() if v is not None}
            np.savez_compressed(directory / "weights.npz", **kept)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> NotaloneClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                data = json.loads((directory / "heads.json").read_text(encoding="utf-8"))
                with np.load(directory / "weights.npz", allow_pickle=False) as arrays:
                    numbers = {name: arrays[name] for name in arrays.files}
        except (ValueError, OSError):
            logger.warning("NotaloneClassifier: no trained heads in the model; it will not classify")
            return cls(config, model_storage, resource)
        if data.get("format") != FORMAT:
            raise ValueError(
                f"NotaloneClassifier: model format {data.get('format')}, expected {FORMAT}: retrain"
            )
        heads = Heads(
            vectorizer=import_vectorizer(data["vectorizer"]),
            thresholds={k: float(v) for k, v in data["thresholds"].items()},
            weights=numbers["weights"],
            bias=numbers["bias"],
            scenario_weights=numbers.get("scenario_weights"),
            scenario_bias=numbers.get("scenario_bias"),
            scenario_classes=tuple(data["scenario_classes"]),
            followup_weights=numbers.get("followup_weights"),
            followup_bias=numbers.get("followup_bias"),
            followup_classes=tuple(data.get("followup_classes", ())),
        )
        return cls(config, model_storage, resource, heads)


def _metadata(message: Message) -> dict[str, Any]:
    """An example's metadata merged over its intent block's (Rasa keeps both under `metadata`)."""
    meta = message.get(METADATA) or {}
    merged: dict[str, Any] = {}
    for key in (METADATA_INTENT, METADATA_EXAMPLE):
        part = meta.get(key) if isinstance(meta, dict) else None
        if isinstance(part, dict):
            merged.update(part)
    return merged
