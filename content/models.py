"""The content library's documents, validated with pydantic (every field teen-facing Vietnamese)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from handlers.models import Tactic

Line = Field(min_length=3, max_length=400)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TacticGuide(_Doc):
    """One of the three tactics: what it is, how it feels, how to recognise it, what to do."""

    tactic: Tactic
    name: str = Field(min_length=3, max_length=40)
    title: str = Field(min_length=3, max_length=80)
    what: str = Field(min_length=10, max_length=400)
    feels: str = Field(min_length=10, max_length=300)
    recognise: list[str] = Field(min_length=2, max_length=5)
    what_to_do: list[str] = Field(min_length=2, max_length=5)
    example: str = Field(min_length=10, max_length=300)


class ScenarioGuide(_Doc):
    """A scam scenario the NLU knows: signs, the next five minutes, how to get out, who to tell."""

    scenario: str
    title: str = Field(min_length=3, max_length=80)
    tactics: list[Tactic] = Field(min_length=1)
    summary: str = Field(min_length=10, max_length=300)
    signs: list[str] = Field(min_length=2, max_length=5)
    do_now: list[str] = Field(min_length=3, max_length=5)
    get_out: list[str] = Field(min_length=2, max_length=5)
    who_to_tell: str = Field(min_length=10, max_length=300)
    when_to_call: str = Field(min_length=10, max_length=300)


CrisisKind = Literal["self_harm", "sextortion_now", "kidnapping_now", "meeting_now"]


class CrisisGuide(_Doc):
    """Acute danger: calm, short, the first step first, the hotline first."""

    kind: CrisisKind
    title: str = Field(min_length=3, max_length=80)
    first_step: str = Field(min_length=10, max_length=250)
    steps: list[str] = Field(min_length=2, max_length=4)
    comfort: str = Field(min_length=10, max_length=250)


class PracticeItem(_Doc):
    """A practice round: a message, the tactics it really shows (none for an ordinary one), why."""

    id: str = Field(pattern=r"^[a-z0-9_]{2,20}$")
    scenario: str
    message: str = Field(min_length=10, max_length=500)
    tactics: list[Tactic]
    explain: str = Field(min_length=10, max_length=500)


class PracticeSet(_Doc):
    items: list[PracticeItem] = Field(min_length=20)
