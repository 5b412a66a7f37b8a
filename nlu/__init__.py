"""NLU adapter: normalisation, cue lexicon, and the classifier backends behind the core's port."""

from __future__ import annotations

from handlers.ports import Classifier
from nlu.cues import CueClassifier
from nlu.settings import EmbeddedNlu


def build_classifier(settings: EmbeddedNlu) -> Classifier:
    """The classifier the configuration asks for."""
    return CueClassifier()
