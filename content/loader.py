"""Loading and checking the content library (library/<locale>/messages.yml and tactics/*.md)."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from content.checklist import ADVICE_FIELDS, QUOTED_FIELDS, check_text, mentions_trusted_adult
from content.models import (
    CrisisGuide,
    CrisisKind,
    PracticeItem,
    PracticeSet,
    ScenarioGuide,
    TacticGuide,
)
from handlers.models import PracticeQuestion, Tactic

LIBRARY = Path(__file__).resolve().parent / "library"


class ContentError(Exception):
    """The library is broken; the message lists every problem with its file and field."""


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: dict[str, str]
    buttons: dict[str, str]
    tactics: dict[Tactic, str]

    @field_validator("texts", "buttons")
    @classmethod
    def _not_blank(cls, value: dict[str, str]) -> dict[str, str]:
        empty = [k for k, v in value.items() if not v.strip()]
        if empty:
            raise ValueError(f"empty text for {', '.join(empty)}")
        return value


@dataclass
class Library:
    """A validated content library for one locale; implements the core's GuidanceLibrary port."""

    locale: str
    catalogue: Catalogue
    tactics: dict[Tactic, TacticGuide] = field(default_factory=dict)
    scenarios: dict[str, ScenarioGuide] = field(default_factory=dict)
    crisis: dict[str, CrisisGuide] = field(default_factory=dict)
    practice: list[PracticeItem] = field(default_factory=list)

    def text(self, key: str, **values: str) -> str:
        """The text stored under `key`, with `{name}` placeholders filled."""
        return self.catalogue.texts[key].format_map(values)

    def label(self, action: str) -> str:
        """The button label for an action id."""
        return self.catalogue.buttons[action]

    def tactic_name(self, tactic: Tactic) -> str:
        """The short Vietnamese name of a tactic."""
        return self.catalogue.tactics[tactic]

    def tactic_guidance(self, tactic: Tactic) -> str:
        """How to recognise a tactic and what to do."""
        return render_tactic(self.tactics[tactic], self.catalogue.texts)

    def scenario_title(self, scenario: str) -> str | None:
        """The short title of a scenario, if the library has guidance for it."""
        guide = self.scenarios.get(scenario)
        return guide.title if guide else None

    def scenario_guidance(self, scenario: str) -> str | None:
        """What to do now and how to get out, for one scenario (None when there is no guide)."""
        guide = self.scenarios.get(scenario)
        return render_scenario(guide, self.catalogue.texts) if guide else None

    def scenario_tactics(self, scenario: str) -> frozenset[Tactic]:
        """The tactics a scenario typically shows (empty when there is no guide)."""
        guide = self.scenarios.get(scenario)
        return frozenset(guide.tactics) if guide else frozenset()

    def crisis_guidance(self, kind: str) -> str | None:
        """Calm first steps for an acute danger (None for an unknown kind)."""
        guide = self.crisis.get(kind)
        return render_crisis(guide) if guide else None

    def practice_questions(self) -> list[PracticeQuestion]:
        """The practice game's rounds."""
        return [
            PracticeQuestion(id=p.id, message=p.message, tactics=frozenset(p.tactics), explain=p.explain)
            for p in self.practice
        ]


def load_library(
    root: Path | None,
    locale: str,
    *,
    text_keys: dict[str, frozenset[str]],
    actions: frozenset[str],
    required_scenarios: frozenset[str] = frozenset(),
) -> Library:
    """Load and validate one locale; raise ContentError listing every problem with file and field."""
    folder = (root or LIBRARY) / locale
    problems: list[str] = []
    catalogue = _load_catalogue(folder / "messages.yml", problems)
    tactics = _load_docs(folder / "tactics", TacticGuide, "tactic", problems)
    for tactic in Tactic:
        if tactic.value not in tactics:
            problems.append(
                f"{folder / 'tactics' / (tactic.value + '.yml')}: missing (every tactic needs guidance)"
            )
    scenarios = _load_docs(folder / "scenarios", ScenarioGuide, "scenario", problems)
    for slug in sorted(required_scenarios - scenarios.keys()):
        problems.append(f"{folder / 'scenarios' / (slug + '.yml')}: missing (the NLU knows this scenario)")
    crisis = _load_docs(folder / "crisis", CrisisGuide, "kind", problems)
    for kind in sorted(set(CrisisKind.__args__) - crisis.keys()):  # type: ignore[attr-defined]
        problems.append(f"{folder / 'crisis' / (kind + '.yml')}: missing (every crisis needs guidance)")
    practice = _load_practice(folder / "practice.yml", problems)
    if catalogue is not None:
        _check_catalogue(folder / "messages.yml", catalogue, text_keys, actions, problems)
    if problems or catalogue is None:
        raise ContentError("\n".join(problems))
    return Library(
        locale=locale,
        catalogue=catalogue,
        tactics={Tactic(k): v for k, v in tactics.items()},
        scenarios=scenarios,
        crisis=crisis,
        practice=practice,
    )


Doc = TypeVar("Doc", TacticGuide, ScenarioGuide, CrisisGuide)


def _load_docs(folder: Path, model: type[Doc], key: str, problems: list[str]) -> dict[str, Doc]:
    """Every <name>.yml of a folder, validated; the file name must match the document's `key`."""
    docs: dict[str, Doc] = {}
    for path in sorted(folder.glob("*.yml")):
        data = _read(path, problems)
        if data is None:
            continue
        try:
            doc = model.model_validate(data)
        except ValidationError as exc:
            problems += [f"{path}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            continue
        name = str(getattr(doc, key))
        if name != path.stem:
            problems.append(f"{path}: {key}: says {name}, file name says {path.stem}")
        _check_fields(path, doc, problems)
        if isinstance(doc, ScenarioGuide | CrisisGuide) and not mentions_trusted_adult(*_strings(doc)):
            problems.append(
                f"{path}: never tells the student to tell a trusted adult (bố mẹ, thầy cô, người lớn)"
            )
        if isinstance(doc, ScenarioGuide) and not re.search(r"\b11[13]\b", doc.when_to_call):
            problems.append(f"{path}: when_to_call: must name 111 or 113")
        if isinstance(doc, CrisisGuide) and "111" not in doc.title + doc.first_step:
            problems.append(f"{path}: first_step: the hotline 111 comes first")
        docs[name] = doc
    return docs


def _load_practice(path: Path, problems: list[str]) -> list[PracticeItem]:
    data = _read(path, problems)
    if data is None:
        return []
    try:
        practice = PracticeSet.model_validate(data)
    except ValidationError as exc:
        problems += [f"{path}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        return []
    seen: set[str] = set()
    for i, item in enumerate(practice.items):
        if item.id in seen:
            problems.append(f"{path}: items.{i}.id: {item.id} used twice")
        seen.add(item.id)
        problems += [f"{path}: items.{i}.message: {p}" for p in check_text(item.message, quoted_scam=True)]
        problems += [f"{path}: items.{i}.explain: {p}" for p in check_text(item.explain)]
    return practice.items


def _read(path: Path, problems: list[str]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{path}: missing")
    except yaml.YAMLError as exc:
        problems.append(f"{path}: invalid YAML: {exc}".splitlines()[0])
    return None


def _strings(doc: BaseModel) -> list[str]:
    out: list[str] = []
    for value in doc.model_dump().values():
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            out += [v for v in value if isinstance(v, str)]
    return out


def _check_fields(path: Path, doc: BaseModel, problems: list[str]) -> None:
    """Run the checklist over every text field of a document."""
    for name, value in doc.model_dump().items():
        values = value if isinstance(value, list) else [value]
        for i, item in enumerate(values):
            if not isinstance(item, str) or name in ("scenario", "kind", "tactic"):
                continue
            where = f"{name}.{i}" if isinstance(value, list) else name
            found = check_text(item, quoted_scam=name in QUOTED_FIELDS, advice=name in ADVICE_FIELDS)
            problems += [f"{path}: {where}: {p}" for p in found]


def render_scenario(guide: ScenarioGuide, texts: dict[str, str]) -> str:
    """A scenario's guidance as one message: the next steps first, then how to get out."""
    lines = [f"📌 {guide.title}", guide.summary, texts["heading_do_now"]]
    lines += [f"{i}. {step}" for i, step in enumerate(guide.do_now, start=1)]
    lines.append(texts["heading_get_out"])
    lines += [f"• {x}" for x in guide.get_out]
    lines.append(f"{texts['heading_who']} {guide.who_to_tell}")
    lines.append(f"{texts['heading_call']} {guide.when_to_call}")
    return "\n".join(lines)


def render_crisis(guide: CrisisGuide) -> str:
    """A crisis guide: the first step first, then the few next ones, then comfort."""
    lines = [f"👉 {guide.first_step}"]
    lines += [f"{i}. {step}" for i, step in enumerate(guide.steps, start=1)]
    lines.append(guide.comfort)
    return "\n".join(lines)


def render_tactic(guide: TacticGuide, texts: dict[str, str]) -> str:
    """A tactic's guidance as one message, headings from messages.yml."""
    lines = [
        f"{guide.title}",
        guide.what,
        f"{texts['heading_feels']} {guide.feels}",
        texts["heading_recognise"],
    ]
    lines += [f"• {x}" for x in guide.recognise]
    lines.append(texts["heading_do"])
    lines += [f"• {x}" for x in guide.what_to_do]
    lines.append(f"{texts['heading_example']} “{guide.example}”")
    return "\n".join(lines)


def _load_catalogue(path: Path, problems: list[str]) -> Catalogue | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Catalogue.model_validate(data)
    except FileNotFoundError:
        problems.append(f"{path}: missing")
    except yaml.YAMLError as exc:
        problems.append(f"{path}: invalid YAML: {exc}".splitlines()[0])
    except ValidationError as exc:
        problems += [f"{path}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return None


def placeholders(template: str) -> set[str]:
    """The `{name}` fields a text uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _check_catalogue(
    path: Path,
    catalogue: Catalogue,
    text_keys: dict[str, frozenset[str]],
    actions: frozenset[str],
    problems: list[str],
) -> None:
    for key, allowed in sorted(text_keys.items()):
        if key not in catalogue.texts:
            problems.append(f"{path}: texts.{key}: missing")
            continue
        try:
            used = placeholders(catalogue.texts[key])
        except ValueError as exc:
            problems.append(f"{path}: texts.{key}: broken placeholder ({exc})")
            continue
        if used - allowed:
            problems.append(f"{path}: texts.{key}: unknown placeholder {sorted(used - allowed)}")
    for key, text in sorted(catalogue.texts.items()):
        problems += [f"{path}: texts.{key}: {p}" for p in check_text(text, placeholders_ok=True)]
    for action in sorted(actions - catalogue.buttons.keys()):
        problems.append(f"{path}: buttons.{action}: missing")
    for tactic in Tactic:
        if tactic not in catalogue.tactics:
            problems.append(f"{path}: tactics.{tactic.value}: missing")
