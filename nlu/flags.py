"""The RedFlagFinder port: nlu/redflags/ lists plus the operator's own allow and deny lists.

The operator's lists live under the data directory (`<data_dir>/redflags/allow.yml`, `deny.yml`,
each `domains: [...]`) so a deployment can update them without touching the package:
`notalone redflags deny DOMAIN...` / `allow DOMAIN...` / `check TEXT`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from handlers.models import RedFlag
from nlu.asks import asked
from nlu.redflags import RedFlagLists, defang, find_red_flags, load_lists

LISTS = ("allow", "deny")


def overlay_file(data_dir: Path, which: str) -> Path:
    return data_dir / "redflags" / f"{which}.yml"


def read_overlay(data_dir: Path, which: str) -> list[str]:
    """The operator's domains of one list (empty when there is no file yet)."""
    path = overlay_file(data_dir, which)
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found = data.get("domains", []) if isinstance(data, dict) else None
    if not isinstance(found, list) or not all(isinstance(d, str) for d in found):
        raise ValueError(f"{path}: key 'domains' must be a list of domains")
    return [d.strip().lower() for d in found if d.strip()]


def write_overlay(data_dir: Path, which: str, domains: list[str]) -> Path:
    path = overlay_file(data_dir, which)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Operator's {which} list (notalone redflags {which}); merged with nlu/redflags/{which}.yml\n"
    path.write_text(header + yaml.safe_dump({"domains": sorted(set(domains))}, allow_unicode=True), "utf-8")
    return path


def lists_for(data_dir: Path | None) -> RedFlagLists:
    """The package's lists with the operator's additions."""
    lists = load_lists()
    if data_dir is None:
        return lists
    allow = frozenset(read_overlay(data_dir, "allow"))
    deny = frozenset(read_overlay(data_dir, "deny"))
    if not allow and not deny:
        return lists
    return dataclasses.replace(lists, allow=lists.allow | allow, deny=(lists.deny | deny) - allow)


class RedFlagDetector:
    """Red flags of a message, with brand and app ids turned into names people know."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.lists = lists_for(data_dir)

    def find(self, text: str) -> tuple[RedFlag, ...]:
        """What the other party asks the student to do or trust, each once (nlu/asks.py)."""
        found = tuple(
            flag.model_copy(update={"reasons": tuple(_named(code) for code in flag.reasons)})
            for flag in find_red_flags(text, self.lists)
        )
        return asked(text, found)

    def defang(self, text: str) -> str:
        return defang(text)


def _named(code: str) -> str:
    key, _, name = code.partition(":")
    if key == "app_switch" and name == "private":
        return "app_private"
    return f"{key}:{name[:1].upper()}{name[1:]}" if name else key
