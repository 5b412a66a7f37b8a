"""Practice mode (/luyentap): the student guesses the tactics of short messages and gets a score."""

from __future__ import annotations

import hashlib
import random
from typing import Any

from handlers.models import Button, PracticeQuestion, Reply, Tactic
from handlers.outcome import Outcome
from handlers.ports import GuidanceLibrary
from handlers.replies import buttons

ROUNDS = 5
OPTIONS = 4
PREFIX = "practice:"
# Every possible answer, as a short code: f = fear, m = manipulation, c = control, none = no tactic.
CODES = ("none", "f", "m", "c", "fm", "fc", "mc", "fmc")
_LETTER = {Tactic.FEAR: "f", Tactic.MANIPULATION: "m", Tactic.CONTROL: "c"}


def code_of(tactics: frozenset[Tactic]) -> str:
    """The answer code of a set of tactics."""
    return "".join(_LETTER[t] for t in Tactic if t in tactics) or "none"


def label_of(code: str, lib: GuidanceLibrary) -> str:
    """How an answer reads on a button."""
    if code == "none":
        return lib.text("practice_none")
    return " + ".join(lib.tactic_name(t) for t in Tactic if _LETTER[t] in code)


def options(question: PracticeQuestion) -> list[str]:
    """The right answer and three others, the same for a question every time it is asked."""
    right = code_of(question.tactics)
    rng = random.Random(int(hashlib.sha256(question.id.encode()).hexdigest(), 16))  # noqa: S311 - a game
    others = rng.sample([c for c in CODES if c != right], OPTIONS - 1)
    chosen = [right, *others]
    rng.shuffle(chosen)
    return chosen


def ask(question: PracticeQuestion, number: int, lib: GuidanceLibrary) -> Reply:
    """One round: the message and the answers as buttons (action `practice:<question>:<answer>`)."""
    text = lib.text("practice_question", n=str(number), total=str(ROUNDS), message=question.message)
    answer_buttons = tuple(
        Button(label=label_of(code, lib), action=f"{PREFIX}{question.id}:{code}")
        for code in options(question)
    )
    return Reply(text=text, buttons=answer_buttons + buttons(lib, "practice_stop"))


def start(lib: GuidanceLibrary, rng: random.Random | None = None) -> Outcome:
    """Pick this game's rounds and ask the first one."""
    questions = lib.practice_questions()
    order = [q.id for q in (rng or random.Random()).sample(questions, min(ROUNDS, len(questions)))]  # noqa: S311
    state = {"order": order, "i": 0, "score": 0}
    first = _question(lib, order[0])
    return Outcome(
        replies=[Reply(text=lib.text("practice_intro")), ask(first, 1, lib)], context={"practice": state}
    )


def _question(lib: GuidanceLibrary, question_id: str) -> PracticeQuestion:
    return next(q for q in lib.practice_questions() if q.id == question_id)


def current(context: dict[str, Any], lib: GuidanceLibrary) -> Reply | None:
    """The question being played, asked again (None when no game is running)."""
    state = context.get("practice")
    if not state:
        return None
    return ask(_question(lib, state["order"][state["i"]]), state["i"] + 1, lib)


def answer(action: str, context: dict[str, Any], lib: GuidanceLibrary) -> Outcome:
    """Score an answer button; an old or unknown button gets the current question again."""
    state = context.get("practice")
    question_id, _, code = action.removeprefix(PREFIX).partition(":")
    if not state:
        return Outcome(
            replies=[Reply(text=lib.text("practice_not_running"), buttons=buttons(lib, "practice_start"))]
        )
    asked = state["order"][state["i"]]
    if question_id != asked or code not in CODES:
        return Outcome(
            replies=[Reply(text=lib.text("practice_stale")), *filter(None, [current(context, lib)])]
        )
    question = _question(lib, asked)
    right = code_of(question.tactics)
    score = state["score"] + (code == right)
    key = "practice_right" if code == right else "practice_wrong"
    replies = [Reply(text=lib.text(key, answer=label_of(right, lib), explain=question.explain))]
    nxt = state["i"] + 1
    if nxt >= len(state["order"]):
        done = lib.text("practice_done", score=str(score), total=str(len(state["order"])))
        replies.append(Reply(text=done, buttons=buttons(lib, "practice_start", "menu")))
        return Outcome(replies=replies, context={k: v for k, v in context.items() if k != "practice"})
    replies.append(ask(_question(lib, state["order"][nxt]), nxt + 1, lib))
    return Outcome(replies=replies, context={**context, "practice": {**state, "i": nxt, "score": score}})


def stop(context: dict[str, Any], lib: GuidanceLibrary) -> Outcome:
    """Leave the game."""
    rest = {k: v for k, v in context.items() if k != "practice"}
    return Outcome(
        replies=[Reply(text=lib.text("practice_stopped"), buttons=buttons(lib, "practice_start", "menu"))],
        context=rest,
    )
