"""NLU adapter: normalisation, cue lexicon, and the classifier backends behind the core's port."""

from __future__ import annotations

from collections.abc import Callable

from handlers.ports import Classifier
from nlu.embedded import EmbeddedClassifier, load_or_train
from nlu.settings import EmbeddedNlu, RasaNlu


def build_embedded(
    settings: EmbeddedNlu | RasaNlu, on_training: Callable[[], None] | None = None
) -> EmbeddedClassifier:
    """The embedded classifier, trained from the configured data on first use and cached."""
    return EmbeddedClassifier(load_or_train(settings.cache_dir, settings.data_dir, on_training=on_training))


def build_classifier(
    settings: EmbeddedNlu | RasaNlu, on_training: Callable[[], None] | None = None
) -> Classifier:
    """The classifier the configuration asks for (Rasa always has the embedded backend behind it);
    `on_training` is called when the embedded model must be trained first."""
    embedded = build_embedded(settings, on_training)
    if isinstance(settings, RasaNlu):
        from nlu.rasa_http import RasaHttpClassifier  # noqa: PLC0415 - httpx client only when used

        return RasaHttpClassifier(settings.pool, timeout_s=settings.timeout_s, fallback=embedded)
    return embedded
