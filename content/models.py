"""The content library's documents, validated with pydantic (every field teen-facing Vietnamese)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from handlers.models import Act, App, CrisisDetail, CrisisKind, HowTo, Tactic

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
    # The one step that matters most against this tactic, for an answer whose scenario is unsure.
    step: str = Field(min_length=10, max_length=140)


class ScenarioGuide(_Doc):
    """A scam scenario the NLU knows: the short answer (verdict, the fact that gives it away, the three
    steps that matter most, undo steps for what the student may already have done), and the full guide
    (signs, the next five minutes, how to get out, who to tell) shown on request."""

    scenario: str
    title: str = Field(min_length=3, max_length=80)
    tactics: list[Tactic] = Field(min_length=1)
    # The answer's first line: what this is, in one short sentence ("Đây là chiêu giả công an…").
    verdict: str = Field(min_length=10, max_length=110)
    # The fact that gives the trick away ("Công an thật không làm việc qua tin nhắn").
    tell: str = Field(min_length=10, max_length=160)
    # The three steps that matter most now, most important first.
    steps: list[str] = Field(min_length=3, max_length=3)
    # Undo steps for what the student already did, most urgent first (see already_did.yml).
    already_did: dict[Act, list[str]] = Field(min_length=1)
    summary: str = Field(min_length=10, max_length=300)
    signs: list[str] = Field(min_length=2, max_length=5)
    do_now: list[str] = Field(min_length=3, max_length=5)
    get_out: list[str] = Field(min_length=2, max_length=5)
    who_to_tell: str = Field(min_length=10, max_length=300)
    when_to_call: str = Field(min_length=10, max_length=300)
    # Follow-ups (issue 17). "Is it really a scam?": the facts of this trick that prove it.
    proof: str = Field(default="", max_length=200)
    # "But he is nice / it has a blue tick": a kind, short answer to the student's doubt.
    pushback: str = Field(default="", max_length=220)


class CrisisGuide(_Doc):
    """Acute danger: one calm message (what the student said is heard, the one action that matters
    most, the hotline), then the full guide (steps, comfort) on request."""

    kind: CrisisKind
    title: str = Field(min_length=3, max_length=80)
    # Acknowledge what the student said, in one short sentence.
    ack: str = Field(min_length=10, max_length=120)
    # The one action that matters most for this danger.
    first_step: str = Field(min_length=10, max_length=200)
    # The numbers to call for this danger: 111, and 113 / 115 where they fit.
    call: str = Field(min_length=10, max_length=160)
    # When the message tells a detail that changes the first action (on a rooftop, already hurt,
    # asks whether to call mum, battery low, asked to turn the camera on…), this action comes first.
    details: dict[CrisisDetail, str] = Field(default_factory=dict)
    # The first action when the one in danger is a friend or sibling, not the student.
    for_other: str = Field(min_length=10, max_length=200)
    # One line for the situation the danger came with (a scam, a threat), after the crisis part.
    with_scam: str | None = Field(default=None, min_length=10, max_length=140)
    steps: list[str] = Field(min_length=2, max_length=4)
    comfort: str = Field(min_length=10, max_length=250)


class UndoGuide(_Doc):
    """What to do after the student already did what the scammer asked (one act)."""

    act: Act
    # The line before the steps ("Bạn đã chuyển tiền rồi thì làm ngay:").
    lead: str = Field(min_length=5, max_length=80)
    # How a hint for a student who may have done it starts ("Nếu đã lỡ chuyển tiền:").
    if_done: str = Field(min_length=5, max_length=60)
    steps: list[str] = Field(min_length=2, max_length=3)


class HowToGuide(_Doc):
    """Steps for one how-to: per app, or the same for every app."""

    title: str = Field(min_length=3, max_length=80)
    apps: dict[App, list[str]] = Field(default_factory=dict)
    steps: list[str] = Field(default_factory=list, max_length=4)


class FollowUpDoc(_Doc):
    """followups.yml: the texts of follow-up answers (issue 17), and the how-tos."""

    texts: dict[str, str]
    howto: dict[HowTo, HowToGuide]


class PracticeItem(_Doc):
    """A practice round: a message, the tactics it really shows (none for an ordinary one), why."""

    id: str = Field(pattern=r"^[a-z0-9_]{2,20}$")
    scenario: str
    message: str = Field(min_length=10, max_length=500)
    tactics: list[Tactic]
    explain: str = Field(min_length=10, max_length=500)


class CannedReplyDoc(_Doc):
    """A reply a counselor can insert and edit before sending."""

    key: str = Field(pattern=r"^[a-z0-9_]{2,30}$")
    label: str = Field(min_length=2, max_length=40)
    text: str = Field(min_length=10, max_length=600)


class CannedSet(_Doc):
    replies: list[CannedReplyDoc] = Field(min_length=1, max_length=9)


class PracticeSet(_Doc):
    items: list[PracticeItem] = Field(min_length=20)
