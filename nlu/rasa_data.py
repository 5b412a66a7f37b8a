"""Writing the training data for Rasa: the same examples, normalised as the bot normalises a message.

Rasa is trained and queried on normalised text (diacritics folded, teencode expanded), so both
backends see teen text the same way. Each example carries, as Rasa example metadata, what the
notalone component needs besides text and intent (nlu/rasa/notalone_component.py).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from nlu.cues import cue_evidence
from nlu.data import Example
from nlu.lexicon import CRISIS
from nlu.normalize import normalize


def rasa_text(text: str) -> str:
    """What is sent to Rasa for a message (never empty: Rasa rejects empty examples)."""
    return normalize(text) or "__empty__"


def rasa_metadata(example: Example) -> dict[str, Any]:
    """What the Rasa component learns from besides the text and the intent: the scenario, and whether
    the crisis lexicon catches the message (the crisis threshold counts it, as nlu/model.py does)."""
    meta: dict[str, Any] = {}
    if example.scenario:
        meta["scenario"] = example.scenario
    if cue_evidence(example.text).get(CRISIS):
        meta["crisis_lexicon"] = True
    return meta


def write_rasa_nlu(examples: list[Example], path: Path) -> int:
    """Write one Rasa 3 NLU YAML file with every intent's normalised examples, each with its metadata
    (rasa_metadata); return how many."""
    by_intent: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for example in examples:
        text = rasa_text(example.text)
        if (example.intent, text) in seen:
            continue
        seen.add((example.intent, text))
        by_intent[example.intent].append((text, rasa_metadata(example)))
    # Rasa refuses the same text under two intents; such a text teaches nothing, so drop it.
    owners: dict[str, set[str]] = defaultdict(set)
    for intent, rows in by_intent.items():
        for text, _ in rows:
            owners[text].add(intent)
    blocks = []
    count = 0
    for intent in sorted(by_intent):
        rows = [(t, meta) for t, meta in by_intent[intent] if len(owners[t]) == 1]
        count += len(rows)
        items = [{"text": t, **({"metadata": meta} if meta else {})} for t, meta in rows]
        blocks.append({"intent": intent, "examples": items})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        yaml.safe_dump({"version": "3.1", "nlu": blocks}, allow_unicode=True, sort_keys=False, width=10_000),
        encoding="utf-8",
    )
    return count


def write_feedback_yaml(examples: list[Example], path: Path) -> int:
    """Counselor-corrected messages as Rasa NLU YAML (original text, multi-intents, source: feedback)."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for example in examples:
        text = " ".join(example.text.split())
        if text and text not in by_intent[example.intent]:
            by_intent[example.intent].append(text)
    blocks = [
        {"intent": intent, "metadata": {"source": "feedback"}, "examples": "".join(f"- {t}\n" for t in texts)}
        for intent, texts in sorted(by_intent.items())
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        yaml.safe_dump({"version": "3.1", "nlu": blocks}, allow_unicode=True, sort_keys=False, width=10_000),
        encoding="utf-8",
    )
    return sum(len(t) for t in by_intent.values())
