"""The student's situation beside the tactics: what they already did, whether they write about someone
else, what they ask, and crisis details that change the first step (phrases in nlu/situations.yml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from handlers.models import Act, App, CrisisDetail, Escalation, HowTo, Question
from nlu.lexicon import MarkedPhrases, Words, marked_phrases
from nlu.normalize import Token

SITUATIONS_FILE = Path(__file__).resolve().parent / "situations.yml"
# Words looked at before an act for its subject, its tense and a negation.
SUBJECT_WINDOW = 4
NEGATION_WINDOW = 2
# Words after an act where "rồi"/"xong" still marks it as done (within its clause).
DONE_WINDOW = 12
# Words after a friend or sibling where a victim word makes them the one at risk.
OTHER_WINDOW = 5
QUESTION_ORDER = (
    Question.CONSEQUENCE,
    Question.IS_SCAM,
    Question.IS_REAL,
    Question.SHOULD_I,
    Question.SHOULD_TELL,
    Question.WHAT_NOW,
)
DETAIL_ORDER = tuple(CrisisDetail)
_BREAK = re.compile(r"[.!?;,\n…]")
_ASKED_AFTER = ("chua", "khong", "ha", "a", "chu", "k")


@dataclass(frozen=True)
class Lists:
    acts: dict[Act, MarkedPhrases]
    # "đưa cho nó rồi", "gửi hết rồi": the act is what the message asks for (objects).
    generic_acts: MarkedPhrases
    objects: dict[Act, MarkedPhrases]
    first_person: MarkedPhrases
    past_before: MarkedPhrases
    writer_markers: MarkedPhrases
    done_after: MarkedPhrases
    done_later: MarkedPhrases
    negations: MarkedPhrases
    hypothetical: MarkedPhrases
    others: MarkedPhrases
    other_victim: MarkedPhrases
    impersonated_before: MarkedPhrases
    writer_targeted: MarkedPhrases
    questions: dict[Question, MarkedPhrases]
    details: dict[CrisisDetail, MarkedPhrases]
    narration: MarkedPhrases
    frame_verbs: MarkedPhrases
    frame_objects: MarkedPhrases
    howto: dict[HowTo, MarkedPhrases]
    apps: dict[App, MarkedPhrases]
    escalation: dict[Escalation, MarkedPhrases]


@dataclass(frozen=True)
class Situation:
    already_did: tuple[Act, ...] = ()
    about_other: bool = False
    question: Question | None = None
    details: tuple[CrisisDetail, ...] = ()
    # Spans of the student's own words (what they did, what they ask): never quoted as evidence.
    own_words: tuple[tuple[int, int], ...] = ()
    # For a follow-up: the how-to asked for, the app named, what got worse.
    howto: HowTo | None = None
    app: App | None = None
    escalation: Escalation | None = None


@lru_cache(maxsize=2)
def load_lists(path: Path = SITUATIONS_FILE) -> Lists:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Lists(
        acts={Act(k): marked_phrases(v) for k, v in data["acts"].items()},
        generic_acts=marked_phrases(data["generic_acts"]),
        objects={Act(k): marked_phrases(v) for k, v in data["objects"].items()},
        # With marks: "mẹ" is not the English "me".
        first_person=marked_phrases(data["first_person"], exact=True),
        past_before=marked_phrases(data["past_before"]),
        writer_markers=marked_phrases(data["writer_markers"]),
        done_after=marked_phrases(data["done_after"]),
        done_later=marked_phrases(data["done_later"]),
        negations=marked_phrases(data["negations"], exact=True),  # "đừng", not "dùng"
        hypothetical=marked_phrases(data["hypothetical"]),
        others=marked_phrases(data["others"]),
        other_victim=marked_phrases(data["other_victim"]),
        impersonated_before=marked_phrases(data["impersonated_before"]),
        writer_targeted=marked_phrases(data["writer_targeted"]),
        questions={Question(k): marked_phrases(v) for k, v in data["questions"].items()},
        details={CrisisDetail(k): marked_phrases(v) for k, v in data["details"].items()},
        narration=marked_phrases(data["narration"]),
        frame_verbs=marked_phrases(data["frame_verbs"]),
        frame_objects=marked_phrases(data["frame_objects"]),
        howto={HowTo(k): marked_phrases(v) for k, v in data["howto"].items()},
        apps={App(k): marked_phrases(v) for k, v in data["apps"].items()},
        escalation={Escalation(k): marked_phrases(v) for k, v in data["escalation"].items()},
    )


def _find(
    words: Words, phrases: MarkedPhrases, start: int = 0, end: int | None = None
) -> list[tuple[int, int]]:
    """(first, last+1) word indices of every phrase occurrence in words[start:end]."""
    return words.find(phrases, start, end)


def _clause_end(text: str, tokens: list[Token], i: int) -> int:
    """The index of the first token after token i that lies beyond a clause break."""
    for j in range(i + 1, len(tokens)):
        if _BREAK.search(text[tokens[j - 1].end : tokens[j].start]):
            return j
    return len(tokens)


def _clause_start(text: str, tokens: list[Token], i: int) -> int:
    for j in range(i, 0, -1):
        if _BREAK.search(text[tokens[j - 1].end : tokens[j].start]):
            return j
    return 0


def _one_clause(text: str, tokens: list[Token], i: int, j: int) -> bool:
    return not any(_BREAK.search(text[tokens[k - 1].end : tokens[k].start]) for k in range(i + 1, j))


def _acts(text: str, tokens: list[Token], words: Words, lists: Lists) -> list[tuple[Act, int, int]]:
    done: list[tuple[Act, int, int]] = []
    folded = words.folded
    generic = next((act for act, objects in lists.objects.items() if _find(words, objects)), None)
    candidates = [*lists.acts.items(), *([(generic, lists.generic_acts)] if generic else [])]
    found = [(act, i, j) for act, phrases in candidates for i, j in _find(words, phrases)]
    # "gửi ảnh căn cước" is sharing an ID, not sending photos: a phrase inside another act's is dropped.
    found = [
        (act, i, j)
        for act, i, j in found
        if not any(a != act and p <= i and j <= q and (p, q) != (i, j) for a, p, q in found)
    ]
    for act, i, j in found:
        start = max(_clause_start(text, tokens, i), i - SUBJECT_WINDOW)
        if _find(words, lists.negations, max(start, i - NEGATION_WINDOW), i):
            continue
        if _find(words, lists.hypothetical, start, i):
            continue
        end = _clause_end(text, tokens, j - 1)
        asked = j < len(folded) and folded[j] in _ASKED_AFTER and not _find(words, lists.done_after, j, j + 1)
        if asked or "?" in text[tokens[j - 1].end : tokens[j].start if j < len(tokens) else len(text)]:
            continue
        writer = bool(_find(words, lists.first_person, start, i)) or bool(
            _find(words, lists.writer_markers, start, i)
        )
        past = (
            bool(_find(words, lists.past_before, start, i))
            or bool(_find(words, lists.done_after, j, min(end, j + DONE_WINDOW)))
            or bool(_find(words, lists.done_later, j))
        )
        if writer and past:
            done.append((act, tokens[start].start, tokens[min(end, len(tokens)) - 1].end))
    return done


def _about_other(words: Words, lists: Lists) -> bool:
    others = _find(words, lists.others)
    # "em bị …" makes the writer the target, unless that "em" is a friend's: inside "bạn mình bị …" or
    # right after it ("bạn cùng lớp em bị …").
    friends = {k for a, b in others for k in range(a, b + 1)}
    if any(i not in friends for i, _ in _find(words, lists.writer_targeted)):
        return False
    for i, j in others:
        if _find(words, lists.impersonated_before, max(0, i - 3), i):
            continue
        # The friend is the one something happens to ("bạn mình đang bị dọa"), not one who calls.
        victim_at = j + 1 if _find(words, lists.first_person, j, j + 1) else j
        if _find(words, lists.other_victim, victim_at, victim_at + OTHER_WINDOW):
            return True
    return False


def read_situation(text: str, tokens: list[Token], lists: Lists | None = None) -> Situation:
    """What the message says about the writer's situation (see the module docstring)."""
    lists = lists or load_lists()
    words = Words.of(text, tokens)
    acts = _acts(text, tokens, words, lists)
    question = None
    own: list[tuple[int, int]] = [(s, e) for _, s, e in acts]
    for kind in QUESTION_ORDER:
        # A question is asked within one clause: "…sẽ bị bắt. Thật không ạ?" asks "is it real".
        hits = [(i, j) for i, j in _find(words, lists.questions[kind]) if _one_clause(text, tokens, i, j)]
        if hits:
            question = question or kind
            for i, _ in hits:
                start = _clause_start(text, tokens, i)
                own.append((tokens[start].start, tokens[_clause_end(text, tokens, i) - 1].end))
    for i, _ in _find(words, lists.narration):
        own.append(
            (tokens[_clause_start(text, tokens, i)].start, tokens[_clause_end(text, tokens, i) - 1].end)
        )
    details = tuple(
        d
        for d in DETAIL_ORDER
        if d in lists.details
        and any(
            # "không được nói với bố mẹ" is the scammer's order, not the student asking to call them.
            not (
                d is CrisisDetail.CALL_PARENT
                and _find(words, lists.negations, max(0, i - NEGATION_WINDOW), i)
            )
            for i, _ in _find(words, lists.details[d])
        )
    )
    seen: list[Act] = []
    for act, _, _ in acts:
        if act not in seen:
            seen.append(act)
    if Act.PAID in seen:
        # Money already sent in a crisis (a fake police call): the bank, now.
        details += (CrisisDetail.PAID,)
    return Situation(
        already_did=tuple(seen),
        about_other=_about_other(words, lists),
        question=question,
        details=details,
        own_words=tuple(sorted(set(own))),
        # Locked out ("đổi mk kiểu j, mail nó cũng đổi r") is a recovery whatever else is asked.
        howto=HowTo.RECOVER if _find(words, lists.howto[HowTo.RECOVER]) else _first(words, lists.howto),
        app=_first(words, lists.apps),
        # The worst of what got worse: someone at the address, then a meeting, then a deadline.
        escalation=next((e for e, phrases in lists.escalation.items() if _find(words, phrases)), None),
    )


def _first(words: Words, groups: dict[Any, MarkedPhrases]) -> Any:
    """The group whose phrase comes first in the message, or None."""
    found = [(hits[0][0], key) for key, phrases in groups.items() if (hits := _find(words, phrases))]
    return min(found, key=lambda f: f[0])[1] if found else None
