"""Reading Rasa-format NLU YAML into labelled examples; mistakes name the file, line and example.

Intents are multi-intents: `benign`, or the labels present joined by '+' in the order
fear, manipulation, control, crisis (e.g. `fear+control+crisis`). Block metadata carries
`style` (forwarded / described / teen) and `scenario` (a slug of nlu/scenarios.yml).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from handlers.models import CrisisKind, FollowUp

PACKAGE_DIR = Path(__file__).resolve().parent
TRAINING_DIR = PACKAGE_DIR / "data"
DEV_DIR = PACKAGE_DIR / "eval"
SCENARIOS_FILE = PACKAGE_DIR / "scenarios.yml"
SERIOUS = "serious"
# The labels, in the order of an intent's name and of a model's columns: the tactics, then the
# severity (serious, or crisis: danger now).
LABEL_ORDER = ("fear", "manipulation", "control", SERIOUS, "crisis")
TACTICS = LABEL_ORDER[:3]
INTENT_ORDER = LABEL_ORDER
STYLES = ("forwarded", "described", "teen", "chatlog")
LANGS = ("vi", "en", "mixed")
BENIGN = "benign"
# Follow-up intents are named "followup_<FollowUp value>"; their examples carry no labels.
FOLLOWUP_PREFIX = "followup_"
FOLLOWUPS = tuple(f.value for f in FollowUp)
_ENTITY_MARKUP = re.compile(r"\[[^\]]*\]\s*[({]")


class DataError(Exception):
    """The training data is malformed; the message names file, line and example."""


@dataclass(frozen=True)
class Example:
    text: str
    tactics: frozenset[str]
    crisis: bool
    style: str | None = None
    scenario: str | None = None
    source: str = ""
    # Severity below crisis: a threat or grooming without immediacy, a friend in danger, a past event.
    serious: bool = False
    lang: str = "vi"
    # A reply after an answer (issue 17): its follow-up intent ("thanks", "already_did"…), without labels.
    followup: str | None = None

    @property
    def intent(self) -> str:
        if self.followup is not None:
            return f"{FOLLOWUP_PREFIX}{self.followup}"
        return intent_name(self.tactics, self.crisis, self.serious)

    @property
    def severity(self) -> str:
        """imminent (the crisis label), serious, or none."""
        return "imminent" if self.crisis else SERIOUS if self.serious else "none"


def intent_name(tactics: Iterable[str], crisis: bool, serious: bool = False) -> str:
    """The multi-intent name for a set of tactics and the severity labels."""
    labels = [*tactics, *(["crisis"] if crisis else []), *([SERIOUS] if serious else [])]
    ordered = [label for label in INTENT_ORDER if label in labels]
    return "+".join(ordered) if ordered else BENIGN


def parse_intent(name: str) -> tuple[frozenset[str], bool, bool]:
    """`fear+control+crisis` -> ({fear, control}, True, False); `fear+serious` -> ({fear}, False, True);
    raises ValueError for anything else."""
    if name == BENIGN:
        return frozenset(), False, False
    parts = name.split("+")
    if not parts or any(p not in INTENT_ORDER for p in parts) or len(set(parts)) != len(parts):
        raise ValueError(f"unknown intent {name!r}: use {BENIGN} or labels among {'+'.join(INTENT_ORDER)}")
    if SERIOUS in parts and "crisis" in parts:
        raise ValueError(f"intent {name!r}: serious and crisis are two severities, give one")
    return frozenset(p for p in parts if p in TACTICS), "crisis" in parts, SERIOUS in parts


def scenarios() -> tuple[str, ...]:
    """The scenario slugs shared by data, dev set and content."""
    return tuple(yaml.safe_load(SCENARIOS_FILE.read_text(encoding="utf-8"))["scenarios"])


@lru_cache(maxsize=1)
def scenario_crisis_kinds() -> dict[str, CrisisKind]:
    """The acute danger a crisis in a scenario usually is (its calm first step)."""
    data = yaml.safe_load(SCENARIOS_FILE.read_text(encoding="utf-8"))
    return {slug: CrisisKind(kind) for slug, kind in data.get("crisis_kinds", {}).items()}


def data_files(path: Path) -> list[Path]:
    """The YAML files under a folder (sorted), or the file itself."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml"))
    return [path]


def fingerprint(paths: Iterable[Path]) -> str:
    """A hash of the files' names and contents: the trained model is rebuilt when it changes."""
    digest = hashlib.sha256()
    for p in paths:
        digest.update(p.name.encode())
        digest.update(p.read_bytes())
    return digest.hexdigest()[:16]


def load_examples(path: Path, *, followups: bool = False) -> list[Example]:
    """All examples of a Rasa NLU file or folder of files: the messages to judge, and with `followups`
    the follow-up replies too."""
    known = set(scenarios())
    examples: list[Example] = []
    for file in data_files(path):
        examples += _load_file(file, known)
    if not followups:
        examples = [e for e in examples if e.followup is None]
    if not examples:
        raise DataError(f"{path}: no training examples found")
    return examples


def _load_file(path: Path, known_scenarios: set[str]) -> list[Example]:
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise DataError(f"{path}{line}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(root, yaml.MappingNode):
        raise DataError(f"{path}:1: expected a mapping with 'version' and 'nlu'")
    nlu = next((v for k, v in root.value if k.value == "nlu"), None)
    if nlu is None:
        return []
    if not isinstance(nlu, yaml.SequenceNode):
        raise DataError(f"{path}:{nlu.start_mark.line + 1}: 'nlu' must be a list of blocks")
    out: list[Example] = []
    for block in nlu.value:
        out += _load_block(path, block, known_scenarios)
    return out


def _load_block(path: Path, block: yaml.Node, known_scenarios: set[str]) -> list[Example]:
    line = block.start_mark.line + 1
    if not isinstance(block, yaml.MappingNode):
        raise DataError(f"{path}:{line}: each nlu entry must be a mapping")
    fields = {k.value: v for k, v in block.value}
    if "intent" not in fields:
        return []  # synonyms, regexes and lookups are allowed but not used here
    name = fields["intent"].value
    followup = str(name).removeprefix(FOLLOWUP_PREFIX) if str(name).startswith(FOLLOWUP_PREFIX) else None
    if followup is not None and followup not in FOLLOWUPS:
        raise DataError(
            f"{path}:{line}: unknown follow-up intent {name!r}: use followup_ and one of {FOLLOWUPS}"
        )
    try:
        tactics, crisis, serious = parse_intent(BENIGN if followup else str(name))
    except ValueError as exc:
        raise DataError(f"{path}:{line}: {exc}") from None
    meta = yaml.safe_load(yaml.serialize(fields["metadata"])) if "metadata" in fields else {}
    meta = meta if isinstance(meta, dict) else {}
    style, scenario, lang = meta.get("style"), meta.get("scenario"), meta.get("lang", "vi")
    if style is not None and style not in STYLES:
        raise DataError(f"{path}:{line}: intent {name}: metadata.style {style!r} is not one of {STYLES}")
    if lang not in LANGS:
        raise DataError(f"{path}:{line}: intent {name}: metadata.lang {lang!r} is not one of {LANGS}")
    if scenario is not None and scenario not in known_scenarios:
        raise DataError(
            f"{path}:{line}: intent {name}: metadata.scenario {scenario!r} is not in scenarios.yml"
        )
    node = fields.get("examples")
    if not isinstance(node, yaml.ScalarNode):
        raise DataError(f"{path}:{line}: intent {name}: 'examples' must be a block of '- ' lines")
    first = node.start_mark.line + (1 if node.style == "|" else 0)
    out: list[Example] = []
    for offset, raw in enumerate(str(node.value).splitlines()):
        if not raw.strip():
            continue
        where = f"{path}:{first + offset + 1}"
        if not raw.startswith("- "):
            raise DataError(f"{where}: intent {name}: example must start with '- ': {raw[:60]!r}")
        text = raw[2:].strip()
        if not text:
            raise DataError(f"{where}: intent {name}: empty example")
        if _ENTITY_MARKUP.search(text):
            raise DataError(f"{where}: intent {name}: entity markup is not used here: {text[:60]!r}")
        out.append(Example(text, tactics, crisis, style, scenario, where, serious, lang, followup))
    return out
