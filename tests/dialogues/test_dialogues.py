"""Dialogue tables: what a student receives, through the real app (SQLite, the embedded NLU, the content
library, red flags), checked against tests/dialogues/*.yml.

Each situation is a new student's message (or several turns: the checks apply to the last one). The
checks are on the shape of the turn and on content keys (Reply.parts), never on wording, so editing a
text does not break them:

    expect:
      crisis: true                 # the analysis's crisis flag
      severity: serious            # the analysis's level: imminent, serious or none
      messages: 1                  # messages in the turn
      max_words: 100               # words in the whole turn
      parts: [crisis:self_harm]    # content keys that must be in the turn
      any_parts: [a, b]            # at least one of these
      no_parts: [intro]            # content keys that must not be
      buttons: [call_111]          # actions that must be offered
      first_button: call_111       # the first button of the turn
      quote: {control: "chuyển"}   # the quote of a tactic holds these words of the message
      no_quote: [manipulation]     # tactics that must not be quoted
      case: urgent                 # urgent | serious | normal | none: the conversation's open case
      already_did: [paid]          # what the NLU read the student already did
      about_other: true
      followup: thanks             # the reply is read as this follow-up intent (issue 17)
      state: {scenario: sextortion, already_did: [paid]}  # the conversation's dialogue state after it

A conversation is written with `turns:`, a list of `say:` / `expect:` pairs checked one by one.

A turn written "[tap] <action>" is a button the student taps (the checks then apply to its answer,
with the analysis of the last message).

A situation with `xfail: "<reason>"` is a known gap: it must fail (strict), so fixing it is noticed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from bot.main import App, build_app
from bot.settings import load_settings
from handlers import followup
from handlers.answer import ANSWER_WORDS, CRISIS_WORDS
from handlers.followup import FOLLOWUP_MIN, FOLLOWUP_WORDS, DialogueState
from handlers.models import Analysis, Channel, Incoming, MessageKind, Turn
from handlers.ports import count_words

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TAP = "[tap] "
KNOWN = {
    "crisis",
    "severity",
    "messages",
    "max_words",
    "parts",
    "any_parts",
    "no_parts",
    "buttons",
    "first_button",
    "quote",
    "no_quote",
    "case",
    "already_did",
    "about_other",
    "question",
    "followup",
    "state",
}


def situations() -> list[Any]:
    found = []
    for path in sorted(HERE.glob("*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")):
            for expect in [item.get("expect", {}), *(t.get("expect", {}) for t in item.get("turns", []))]:
                unknown = set(expect) - KNOWN
                assert not unknown, f"{path.name}: {item['name']}: unknown checks {unknown}"
            marks = [pytest.mark.xfail(reason=item["xfail"], strict=True)] if "xfail" in item else []
            found.append(pytest.param(item, id=f"{path.stem}:{item['name']}", marks=marks))
    return found


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory, nlu_cache: Path) -> AsyncIterator[App]:
    data = tmp_path_factory.mktemp("dialogues")
    settings = load_settings(
        ROOT / "config.yaml",
        storage={"data_dir": data},
        nlu={"backend": "embedded", "cache_dir": nlu_cache},
        images={"enabled": False},
    )
    built = await build_app(settings)
    yield built
    await built.close()


def incoming(user: str, body: str) -> Incoming:
    if body.startswith(TAP):
        return Incoming(
            channel=Channel.TERMINAL, platform_user_id=user, kind=MessageKind.ACTION, action=body[len(TAP) :]
        )
    kind = MessageKind.COMMAND if body.startswith("/") else MessageKind.TEXT
    return Incoming(channel=Channel.TERMINAL, platform_user_id=user, kind=kind, text=body)


async def case_of(app: App, user: str) -> str:
    async with app.core.uow() as uow:
        conversation = await uow.conversations.current(app.core.pseudonym(Channel.TERMINAL, user))
        assert conversation is not None
        case = await uow.cases.active_for(conversation.id)
    return case.priority.value if case else "none"


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("item", situations())
async def test_situation(app: App, item: dict[str, Any]) -> None:
    user = f"dialogue-{item['name']}"
    if "turns" in item:
        # A conversation: every turn has its own checks, in order.
        for n, step in enumerate(item["turns"], 1):
            turn = await app.handle(incoming(user, step["say"]))
            await check(app, user, turn, turn.analysis, step.get("expect", {}), f"turn {n}: ")
        return
    says = item["say"] if isinstance(item["say"], list) else [item["say"]]
    turn: Turn | None = None
    analysis = None
    for body in says:
        turn = await app.handle(incoming(user, body))
        analysis = turn.analysis or analysis
    assert turn is not None
    await check(app, user, turn, analysis, item["expect"], "")


async def check(
    app: App, user: str, turn: Turn, analysis: Analysis | None, expect: dict[str, Any], at: str
) -> None:
    """One turn against its expectations (see the module docstring)."""
    assert turn.replies, f"{at}no reply"
    parts = {p for r in turn.replies for p in r.parts}
    actions = [b.action for r in turn.replies for b in r.buttons]
    words = sum(count_words(r.text) for r in turn.replies)
    crisis = bool(analysis and analysis.crisis)
    shown = at + "\n---\n".join(r.text for r in turn.replies) + f"\nparts={sorted(parts)} actions={actions}"

    if "crisis" in expect:
        assert crisis == expect["crisis"], shown
    if "severity" in expect:
        assert analysis is not None and analysis.severity.value == expect["severity"], shown
    if "followup" in expect:
        got = analysis.followup.value if analysis and analysis.followup else None
        score = analysis.followup_score if analysis else 0.0
        assert got == expect["followup"] and score >= FOLLOWUP_MIN, f"followup {got} {score:.2f}\n{shown}"
    # Every turn is one message, within the word limits of issues 15 and 17.
    assert len(turn.replies) == expect.get("messages", 1), shown
    limit = CRISIS_WORDS if crisis else FOLLOWUP_WORDS if expect.get("followup") else ANSWER_WORDS
    assert words <= expect.get("max_words", limit), shown
    for part in expect.get("parts", []):
        assert part in parts, f"missing {part}:\n{shown}"
    if "any_parts" in expect:
        assert parts & set(expect["any_parts"]), shown
    for part in expect.get("no_parts", []):
        assert part not in parts, f"unexpected {part}:\n{shown}"
    for action in expect.get("buttons", []):
        assert action in actions, shown
    if "first_button" in expect:
        assert actions[:1] == [expect["first_button"]], shown
    for tactic, needle in expect.get("quote", {}).items():
        assert analysis is not None and f"quote:{tactic}" in parts, shown
        quoted = analysis.evidence_for(tactic)[0].text.lower()
        assert needle.lower() in quoted, f"{tactic} quotes «{quoted}»:\n{shown}"
    for tactic in expect.get("no_quote", []):
        assert f"quote:{tactic}" not in parts, shown
    if "case" in expect:
        assert await case_of(app, user) == expect["case"], shown
    if "already_did" in expect:
        assert analysis is not None and [a.value for a in analysis.already_did] == expect["already_did"]
    if "about_other" in expect:
        assert analysis is not None and analysis.about_other == expect["about_other"], shown
    if "question" in expect:
        got = analysis.question.value if analysis and analysis.question else None
        assert got == expect["question"], shown
    if "state" in expect:
        state = await state_of(app, user)
        for key, want in expect["state"].items():
            value = getattr(state, key)
            value = [str(v) for v in value] if isinstance(value, tuple) else value
            assert value == want or str(value) == str(want), f"state.{key} is {value}, not {want}\n{shown}"


async def state_of(app: App, user: str) -> DialogueState:
    async with app.core.uow() as uow:
        conversation = await uow.conversations.current(app.core.pseudonym(Channel.TERMINAL, user))
    return followup.state_of(conversation.context if conversation else {})
