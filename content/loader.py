"""Loading and checking the content library (library/<locale>/messages.yml and tactics/*.md)."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from handlers.models import Tactic

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


class TacticDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tactic: Tactic
    title: str
    body: str


@dataclass
class Library:
    """A validated content library for one locale; implements the core's GuidanceLibrary port."""

    locale: str
    catalogue: Catalogue
    tactic_docs: dict[Tactic, TacticDoc] = field(default_factory=dict)

    def text(self, key: str, **values: str) -> str:
        """The text stored under `key`, with `{name}` placeholders filled."""
        return self.catalogue.texts[key].format_map(values)

    def has(self, key: str) -> bool:
        """True when the library has a text under `key`."""
        return key in self.catalogue.texts

    def label(self, action: str) -> str:
        """The button label for an action id."""
        return self.catalogue.buttons[action]

    def tactic_name(self, tactic: Tactic) -> str:
        """The short Vietnamese name of a tactic."""
        return self.catalogue.tactics[tactic]

    def tactic_guidance(self, tactic: Tactic) -> str:
        """How to recognise a tactic and what to do."""
        return self.tactic_docs[tactic].body


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split a Markdown file into its YAML front matter and its body."""
    if not text.startswith("---\n"):
        raise ValueError("missing front matter (the file must start with ---)")
    head, sep, body = text[4:].partition("\n---\n")
    if not sep:
        raise ValueError("front matter is not closed with ---")
    meta = yaml.safe_load(head) or {}
    if not isinstance(meta, dict):
        raise ValueError("front matter must be a mapping")
    return meta, body.strip()


def load_library(
    root: Path | None,
    locale: str,
    *,
    text_keys: dict[str, frozenset[str]],
    actions: frozenset[str],
) -> Library:
    """Load and validate one locale; raise ContentError listing every problem found."""
    folder = (root or LIBRARY) / locale
    problems: list[str] = []
    catalogue = _load_catalogue(folder / "messages.yml", problems)
    docs: dict[Tactic, TacticDoc] = {}
    for tactic in Tactic:
        path = folder / "tactics" / f"{tactic.value}.md"
        try:
            meta, body = split_front_matter(path.read_text(encoding="utf-8"))
            doc = TacticDoc.model_validate({**meta, "body": body})
        except FileNotFoundError:
            problems.append(f"{path}: missing (every tactic needs guidance)")
            continue
        except (ValueError, yaml.YAMLError) as exc:
            problems.append(f"{path}: {exc}".splitlines()[0])
            continue
        if doc.tactic is not tactic:
            problems.append(f"{path}: tactic: says {doc.tactic.value}, file name says {tactic.value}")
        docs[tactic] = doc
    if catalogue is not None:
        _check_catalogue(folder / "messages.yml", catalogue, text_keys, actions, problems)
    if problems or catalogue is None:
        raise ContentError("\n".join(problems))
    return Library(locale=locale, catalogue=catalogue, tactic_docs=docs)


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
    for action in sorted(actions - catalogue.buttons.keys()):
        problems.append(f"{path}: buttons.{action}: missing")
    for tactic in Tactic:
        if tactic not in catalogue.tactics:
            problems.append(f"{path}: tactics.{tactic.value}: missing")
