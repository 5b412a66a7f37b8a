"""Loading and checking the content library (library/<locale>/: messages.yml, tactics/, scenarios/,
crisis/, already_did.yml, practice.yml)."""

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
    CannedSet,
    CrisisGuide,
    FollowUpDoc,
    HowToGuide,
    PracticeItem,
    PracticeSet,
    ScenarioGuide,
    TacticGuide,
    UndoGuide,
)
from handlers.models import (
    Act,
    App,
    CannedReply,
    CrisisCard,
    CrisisKind,
    HowTo,
    HowToCard,
    PracticeQuestion,
    ScenarioCard,
    Tactic,
    UndoCard,
)
from handlers.ports import WordLimits, count_words

LIBRARY = Path(__file__).resolve().parent / "library"
FOLLOWUPS_FILE = "followups.yml"
CANNED_FILE = "canned.yml"
FOLLOWUP_PREFIX = "followup_"


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
    undo: dict[Act, UndoGuide] = field(default_factory=dict)
    howtos: dict[HowTo, HowToGuide] = field(default_factory=dict)
    canned: list[CannedReply] = field(default_factory=list)

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
        """The full guide for an acute danger: its steps and comfort (None for an unknown kind)."""
        guide = self.crisis.get(kind)
        return render_crisis(guide) if guide else None

    def scenario_card(self, scenario: str) -> ScenarioCard | None:
        """The short answer's parts for a scenario (None when there is no guide)."""
        guide = self.scenarios.get(scenario)
        if guide is None:
            return None
        return ScenarioCard(
            scenario=guide.scenario,
            title=guide.title,
            tactics=frozenset(guide.tactics),
            verdict=guide.verdict,
            tell=guide.tell,
            steps=tuple(guide.steps),
            undo={act: tuple(steps) for act, steps in guide.already_did.items()},
            proof=guide.proof,
            pushback=guide.pushback,
        )

    def crisis_card(self, kind: str) -> CrisisCard | None:
        """The parts of the one calm crisis message for a kind of danger (None for an unknown kind)."""
        guide = self.crisis.get(kind)
        if guide is None:
            return None
        return CrisisCard(
            kind=guide.kind,
            ack=guide.ack,
            first_step=guide.first_step,
            call=guide.call,
            details=dict(guide.details),
            for_other=guide.for_other,
            with_scam=guide.with_scam,
        )

    def undo_card(self, act: Act) -> UndoCard:
        """What to do after the student already did `act`."""
        guide = self.undo[act]
        return UndoCard(act=act, lead=guide.lead, if_done=guide.if_done, steps=tuple(guide.steps))

    def howto(self, topic: HowTo, app: App | None) -> HowToCard:
        """Steps for a how-to on an app (the app's own, else the generic ones, else the topic's)."""
        guide = self.howtos[topic]
        steps = guide.apps.get(app or App.GENERIC) or guide.apps.get(App.GENERIC) or guide.steps
        return HowToCard(topic=topic, title=guide.title, steps=tuple(steps))

    def tactic_step(self, tactic: Tactic) -> str:
        """The one step that matters most against a tactic (when the scenario is unsure)."""
        return self.tactics[tactic].step

    def canned_replies(self) -> list[CannedReply]:
        """The counselors' ready-made replies, in their order."""
        return list(self.canned)

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
    limits: WordLimits | None = None,
) -> Library:
    """Load and validate one locale; raise ContentError listing every problem with file and field.
    With `limits`, also prove that every turn built from these texts fits them (the word check)."""
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
    for kind in sorted({k.value for k in CrisisKind} - crisis.keys()):
        problems.append(f"{folder / 'crisis' / (kind + '.yml')}: missing (every crisis needs guidance)")
    practice = _load_practice(folder / "practice.yml", problems)
    undo = _load_undo(folder / "already_did.yml", problems)
    followups = _load_followups(folder / FOLLOWUPS_FILE, problems)
    canned = _load_canned(folder / CANNED_FILE, problems)
    if catalogue is not None and followups is not None:
        # Follow-up texts are texts like the others, under "followup_<key>", checked the same way.
        catalogue.texts.update({f"{FOLLOWUP_PREFIX}{k}": v for k, v in followups.texts.items()})
    if catalogue is not None:
        _check_catalogue(folder / "messages.yml", catalogue, text_keys, actions, problems)
    if catalogue is not None and limits is not None and not problems:
        _check_word_limits(folder, catalogue.texts, scenarios, crisis, undo, limits, problems)
    if problems or catalogue is None:
        raise ContentError("\n".join(problems))
    return Library(
        locale=locale,
        catalogue=catalogue,
        tactics={Tactic(k): v for k, v in tactics.items()},
        scenarios=scenarios,
        crisis=crisis,
        practice=practice,
        undo=undo,
        howtos=followups.howto if followups else {},
        canned=canned,
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
        if isinstance(doc, CrisisGuide) and "111" not in doc.call:
            problems.append(f"{path}: call: must name the hotline 111")
        docs[name] = doc
    return docs


# The most tactics one answer names, each a line "• <name>: “<quote>”" of at most 3 + quote words.
MAX_TACTICS = 3
NAME_WORDS = 3


def _check_word_limits(
    folder: Path,
    texts: dict[str, str],
    scenarios: dict[str, ScenarioGuide],
    crisis: dict[str, CrisisGuide],
    undo: dict[Act, UndoGuide],
    limits: WordLimits,
    problems: list[str],
) -> None:
    """The parts of a turn that are never left out must fit its limit in the longest case: the first
    line, three tactics with the longest quotes, and the longest steps (answers); the
    acknowledgement, the longest first action, the numbers and the longest counselor notice (crises)."""
    tactics = MAX_TACTICS * (NAME_WORDS + limits.quote)
    for slug, guide in scenarios.items():
        consequence = count_words(texts["first_consequence"].format(tell=guide.tell))
        first = max(count_words(guide.verdict), consequence + count_words(guide.verdict))
        blocks = [count_words(texts["heading_do_now"]) + sum(count_words(x) for x in guide.steps)]
        for act, generic in undo.items():
            steps = guide.already_did.get(act, generic.steps)
            blocks.append(count_words(generic.lead) + sum(count_words(x) for x in steps))
        words = first + tactics + max(blocks)
        if words > limits.answer:
            where = folder / "scenarios" / f"{slug}.yml"
            problems.append(
                f"{where}: verdict, tell, steps, already_did: the answer can reach {words} words "
                f"before its optional lines (limit {limits.answer})"
            )
    notices = ("crisis_counselor_on", "crisis_counselor_off", "crisis_counselor_waiting")
    notice = max(count_words(texts[k]) for k in notices)
    for kind, card in crisis.items():
        first = max([count_words(card.first_step), *(count_words(d) for d in card.details.values())])
        own = count_words(card.ack) + first
        other = count_words(texts["crisis_ack_other"]) + count_words(card.for_other)
        words = max(own, other) + count_words(card.call) + notice
        if words > limits.crisis:
            where = folder / "crisis" / f"{kind}.yml"
            problems.append(
                f"{where}: ack, first_step, details, for_other, call: the crisis message can reach "
                f"{words} words (limit {limits.crisis})"
            )
    for key in ("crisis", "crisis_other"):
        words = count_words(texts[key]) + notice
        if words > limits.crisis:
            where = folder / "messages.yml"
            problems.append(f"{where}: texts.{key}: {words} words with the notice (limit {limits.crisis})")


def _load_undo(path: Path, problems: list[str]) -> dict[Act, UndoGuide]:
    """already_did.yml: the generic undo steps, one block for every act."""
    data = _read(path, problems)
    if data is None:
        return {}
    if not isinstance(data, list):
        problems.append(f"{path}: expected a list of blocks with act, lead and steps")
        return {}
    undo: dict[Act, UndoGuide] = {}
    for i, block in enumerate(data):
        try:
            guide = UndoGuide.model_validate(block)
        except ValidationError as exc:
            problems += [f"{path}: {i}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            continue
        undo[guide.act] = guide
        _check_fields(path, guide, problems)
    for act in Act:
        if act not in undo:
            problems.append(f"{path}: act {act.value}: missing (every act needs undo steps)")
    return undo


def _load_followups(path: Path, problems: list[str]) -> FollowUpDoc | None:
    """followups.yml: follow-up texts and how-tos; every how-to has steps for every app or for all."""
    doc = _document(path, FollowUpDoc, problems)
    if doc is None:
        return None
    for topic in HowTo:
        guide = doc.howto.get(topic)
        if guide is None:
            problems.append(f"{path}: howto.{topic.value}: missing (every how-to needs steps)")
        elif not guide.steps and App.GENERIC not in guide.apps:
            problems.append(f"{path}: howto.{topic.value}: needs steps, or apps with a generic list")
    _check_fields(path, doc, problems)
    return doc


def _load_canned(path: Path, problems: list[str]) -> list[CannedReply]:
    """canned.yml: the counselors' ready-made replies (teen-facing text, checked like the rest)."""
    doc = _document(path, CannedSet, problems)
    if doc is None:
        return []
    seen: set[str] = set()
    for i, reply in enumerate(doc.replies):
        if reply.key in seen:
            problems.append(f"{path}: replies.{i}.key: {reply.key} used twice")
        seen.add(reply.key)
        problems += [f"{path}: replies.{i}.text: {p}" for p in check_text(reply.text)]
    return [CannedReply(key=r.key, label=r.label, text=r.text) for r in doc.replies]


def _load_practice(path: Path, problems: list[str]) -> list[PracticeItem]:
    practice = _document(path, PracticeSet, problems)
    if practice is None:
        return []
    seen: set[str] = set()
    for i, item in enumerate(practice.items):
        if item.id in seen:
            problems.append(f"{path}: items.{i}.id: {item.id} used twice")
        seen.add(item.id)
        problems += [f"{path}: items.{i}.message: {p}" for p in check_text(item.message, quoted_scam=True)]
        problems += [f"{path}: items.{i}.explain: {p}" for p in check_text(item.explain)]
    return practice.items


Model = TypeVar("Model", FollowUpDoc, CannedSet, PracticeSet)


def _document(path: Path, model: type[Model], problems: list[str]) -> Model | None:
    """One YAML file read and validated; None (its problems noted with file and field) if it cannot be."""
    data = _read(path, problems)
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems += [f"{path}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        return None


def _read(path: Path, problems: list[str]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{path}: missing")
    except yaml.YAMLError as exc:
        problems.append(f"{path}: invalid YAML: {exc}".splitlines()[0])
    return None


def _texts(name: str, value: object) -> list[tuple[str, str]]:
    """(where, text) of every string in a field: a text, a list of texts, or a mapping of either."""
    if isinstance(value, str):
        return [(name, value)]
    if isinstance(value, list):
        return [(f"{name}.{i}", v) for i, v in enumerate(value) if isinstance(v, str)]
    if isinstance(value, dict):
        return [pair for key, v in value.items() for pair in _texts(f"{name}.{key}", v)]
    return []


def _strings(doc: BaseModel) -> list[str]:
    return [text for name, value in doc.model_dump().items() for _, text in _texts(name, value)]


def _check_fields(path: Path, doc: BaseModel, problems: list[str]) -> None:
    """Run the checklist over every text field of a document."""
    for name, value in doc.model_dump().items():
        if name in ("scenario", "kind", "tactic", "act"):
            continue
        for where, item in _texts(name, value):
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
    """A crisis guide in full: its title, the steps, then comfort (the first message gave the one
    first action already)."""
    lines = [f"📌 {guide.title}"]
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
