"""The first answer to a message, as one short message a phone shows at once.

A crisis: what the student said is heard, the one action that matters most for this danger (a detail
such as a rooftop or pills changes it), the numbers to call, the counselor notice; at most
CRISIS_WORDS words and nothing else in the turn. Otherwise: a first line that answers the question
(the verdict), each tactic with a short quote of the other party's words, undo steps when the student
already did what was asked, the three steps that matter most (or a helper's steps when the student
asks for a friend), the main red flags, and the buttons; at most ANSWER_WORDS words. The full guide,
all red flags and the tactics' explanations come on request (handlers/actions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from handlers.models import (
    Act,
    Analysis,
    Button,
    CrisisDetail,
    CrisisKind,
    Evidence,
    Question,
    RedFlag,
    RedFlagKind,
    Reply,
    ScenarioCard,
    Severity,
    Tactic,
)
from handlers.ports import WORD_LIMITS, GuidanceLibrary, count_words
from handlers.replies import buttons, defang_links

CRISIS_WORDS = WORD_LIMITS.crisis
ANSWER_WORDS = WORD_LIMITS.answer
# "Send to an adult" waits in the full guide: five buttons are already many on a phone.
ANSWER_ACTIONS = ("call_111", "talk_to_counselor", "learn_more", "helpful", "not_helpful")
CRISIS_ACTIONS = ("call_111", "learn_more")
# Someone at the door, following, a car, a hotel, a height: the police number is the first button.
POLICE_ACTIONS = ("call_113", "call_111", "learn_more")
CALM_ACTIONS = ("learn_more", "talk_to_counselor", "call_111")
SERIOUS_ACTIONS = ("talk_to_counselor", "call_111", "learn_more")
# Crisis details that say where the student is and what keeps them safe this minute: said first.
SAFETY_FIRST = frozenset(
    {
        CrisisDetail.HURT,
        CrisisDetail.HOLDING,
        CrisisDetail.HIGH_PLACE,
        CrisisDetail.IN_CAR,
        CrisisDetail.AT_DOOR,
        CrisisDetail.FOLLOWED,
        CrisisDetail.HOTEL,
        CrisisDetail.ON_THE_WAY,
        CrisisDetail.CAMERA,
    }
)
# Where the student is, in a meeting gone wrong: the card's "don't go to meet them" would contradict it.
WHERE_NOW = frozenset(
    {
        CrisisDetail.AT_DOOR,
        CrisisDetail.FOLLOWED,
        CrisisDetail.IN_CAR,
        CrisisDetail.HOTEL,
        CrisisDetail.ON_THE_WAY,
    }
)
# A tactic this sure, or two tactics, make the verdict a plain "Giả." / "Đây là chiêu…".
STRONG_SCORE = 0.8
# Red flags named in the answer itself (all of them come with the full guide), most telling first.
SHORT_FLAGS = 2
FLAG_ORDER = (
    RedFlagKind.OTP_REQUEST,
    RedFlagKind.LINK,
    RedFlagKind.INSTALL,
    RedFlagKind.BANK_ACCOUNT,
    RedFlagKind.MONEY,
    RedFlagKind.APP_SWITCH,
    RedFlagKind.PHONE,
)
# What the student would have done by obeying a red flag: its undo steps are the ones to hint at.
FLAG_ACT = {
    RedFlagKind.OTP_REQUEST: Act.GAVE_CODE,
    RedFlagKind.LINK: Act.CLICKED,
    RedFlagKind.INSTALL: Act.INSTALLED,
    RedFlagKind.MONEY: Act.PAID,
    RedFlagKind.BANK_ACCOUNT: Act.PAID,
}
# Texts a crisis card's first action is answered with when the message tells a detail.
DETAIL_ORDER = tuple(CrisisDetail)
QUESTION_KEYS = {
    Question.IS_REAL: ("first_is_real", "first_is_real_weak"),
    Question.IS_SCAM: ("first_is_scam", "first_is_scam_weak"),
    Question.SHOULD_I: ("first_should_i", "first_should_i"),
}


@dataclass(frozen=True)
class Part:
    """A block of the answer; optional ones are left out, lowest priority first, to fit the limit."""

    text: str
    key: str  # what it is made of, for Reply.parts ("|" between several)
    priority: int = 0  # 0: always kept; higher numbers go first


def fit_parts(parts: list[Part], limit: int, actions: tuple[str, ...], lib: GuidanceLibrary) -> Reply:
    """The parts as one message, leaving out optional parts (highest priority number first) until the
    whole fits `limit` words; the message records which parts it holds."""
    kept = [p for p in parts if p.text]
    for level in sorted({p.priority for p in kept if p.priority}, reverse=True):
        if count_words("\n".join(p.text for p in kept)) <= limit:
            break
        kept = [p for p in kept if p.priority != level]
    keys = tuple(dict.fromkeys(k for p in kept for k in p.key.split("|")))
    return Reply(text="\n".join(p.text for p in kept), buttons=buttons(lib, *actions), parts=keys)


def merge(replies: list[Reply]) -> Reply:
    """Several replies as one message: texts one after another, buttons once each, in order."""
    seen: set[str] = set()
    merged: list[Button] = []
    for reply in replies:
        for button in reply.buttons:
            if button.action not in seen:
                seen.add(button.action)
                merged.append(button)
    parts = tuple(dict.fromkeys(k for r in replies for k in r.parts))
    return Reply(text="\n".join(r.text for r in replies if r.text), buttons=tuple(merged), parts=parts)


# Red flags that make a trap plain whatever else the message says.
TELLING_FLAGS = frozenset({RedFlagKind.OTP_REQUEST, RedFlagKind.INSTALL, RedFlagKind.LINK})


def strong(analysis: Analysis, card: ScenarioCard | None) -> bool:
    """Sure enough to say "Giả." or "rõ ràng" outright: the scenario is recognised, or two tactics are
    both clear, or the message asks for a code, an install or opens a strange link."""
    scores = [analysis.scores.get(t.value, 0.0) for t in analysis.tactics]
    clear = sum(1 for s in scores if s >= STRONG_SCORE)
    telling = any(f.kind in TELLING_FLAGS for f in analysis.red_flags)
    return card is not None or clear >= 2 or (clear >= 1 and telling)


def card_for(analysis: Analysis, lib: GuidanceLibrary) -> ScenarioCard | None:
    """The scenario's card, only when the message shows no tactic that scenario does not: a card for
    the wrong kind of trap would mislead, the tactics' own steps never do."""
    if not analysis.scenario:
        return None
    card = lib.scenario_card(analysis.scenario)
    if card is None or not set(analysis.tactics) <= card.tactics:
        return None
    return card


def first_line(analysis: Analysis, card: ScenarioCard | None, lib: GuidanceLibrary) -> list[Part]:
    """The verdict, worded as the answer to what the student asked."""
    sure = strong(analysis, card)
    verdict = card.verdict if card else lib.text("verdict_strong" if sure else "verdict_weak")
    tell = card.tell if card else lib.text("tell_generic")
    what = f"card:{card.scenario}" if card else ("verdict:strong" if sure else "verdict:weak")
    question = analysis.question
    if question is Question.CONSEQUENCE and not analysis.already_did:
        return [Part(lib.text("first_consequence", tell=tell), "first:consequence"), Part(verdict, what)]
    keys = QUESTION_KEYS.get(question) if question else None
    if keys is None:
        return [Part(verdict, what)]
    key = keys[0] if sure else keys[1]
    return [
        Part(lib.text(key, verdict=verdict), f"first:{question.value}" if question else what),
        Part("", what),
    ]


def shown_quote(evidence: Evidence, flags: tuple[RedFlag, ...]) -> str:
    """The quote as shown: a link inside it is the red flag's defanged form (hxxps://x[.]com), so it
    cannot be tapped; amounts like 1.800.000đ stay as written."""
    text = evidence.text
    for flag in sorted(flags, key=lambda f: -f.start):
        if flag.kind is RedFlagKind.LINK and evidence.start <= flag.start and flag.end <= evidence.end:
            a, b = flag.start - evidence.start, flag.end - evidence.start
            text = text[:a] + flag.shown + text[b:]
    return f"{text}…" if evidence.cut else text


def tactic_lines(analysis: Analysis, lib: GuidanceLibrary, defang: Callable[[str], str] | None) -> list[Part]:
    """Each tactic with its own quote; a tactic no clause shows is not named, unless none is quoted."""
    lines = []
    for tactic in analysis.tactics:
        found = analysis.evidence_for(tactic.value)
        if found:
            # A link the red flags did not catch is still never tappable.
            quote = defang_links(shown_quote(found[0], analysis.red_flags), defang)
            text = lib.text("analysis_tactic_line", name=lib.tactic_name(tactic), quote=quote)
            lines.append(Part(text, f"quote:{tactic.value}"))
    if not lines and analysis.tactics:
        names = ", ".join(lib.tactic_name(t) for t in analysis.tactics)
        lines.append(Part(lib.text("analysis_tactic_names", names=names), "tactics:named"))
    return lines


def step_lines(analysis: Analysis, card: ScenarioCard | None, lib: GuidanceLibrary) -> list[Part]:
    """Undo steps first when the student already did something; else the three steps that matter
    most for this scenario (or for these tactics); a helper's steps when it is about a friend."""
    if analysis.about_other:
        # It is the friend who did it, or is at risk: steps for a helper.
        return [Part(f"{lib.text('helper_intro')}\n{lib.text('helper_steps')}", "helper")]
    if analysis.already_did:
        act = analysis.already_did[0]
        undo = lib.undo_card(act)
        own = card is not None and act in card.undo
        undo_steps = card.undo[act] if card is not None and own else undo.steps
        key = f"undo:{act.value}" + (":card" if own else "")
        text = "\n".join([undo.lead, *(f"{i}. {s}" for i, s in enumerate(undo_steps, 1))])
        return [Part(text, key)]
    if card is not None:
        steps, key = list(card.steps), "steps:card"
    else:
        # The demand first, then the threat, then the lure; at most two, then screenshots and an adult.
        order = (Tactic.CONTROL, Tactic.FEAR, Tactic.MANIPULATION)
        steps = [lib.tactic_step(t) for t in order if t in analysis.tactics][:2]
        steps.append(lib.text("step_tell_adult"))
        key = "steps:tactics"
    text = "\n".join([lib.text("heading_do_now"), *(f"{i}. {s}" for i, s in enumerate(steps[:3], 1))])
    return [Part(text, key)]


def flag_line(flags: tuple[RedFlag, ...], lib: GuidanceLibrary) -> Part:
    """The red flags that tell most, in a line; every link shown is already defanged."""
    ranked = sorted(
        (f for f in flags if f.kind in FLAG_ORDER), key=lambda f: (FLAG_ORDER.index(f.kind), f.start)
    )
    items = [lib.text(f"redflag_item_{f.kind.value}", shown=f.shown) for f in ranked]
    text = lib.text("redflags_short", items=" · ".join(items[:SHORT_FLAGS])) if items else ""
    return Part(text, "flags", priority=4)


def undo_hint(analysis: Analysis, card: ScenarioCard | None, lib: GuidanceLibrary) -> Part:
    """For a student who may already have done what the trap asks: the first undo step of the act this
    scenario asks for most (only when the answer has room, and never when undo steps lead already)."""
    if card is None or not card.undo or analysis.already_did or analysis.about_other:
        return Part("", "undo_hint")
    # The act this message asks for (a code, a link, an app, money) when the card has steps for it.
    asked = [FLAG_ACT[f.kind] for f in analysis.red_flags if f.kind in FLAG_ACT]
    act = next((a for a in asked if a in card.undo), next(iter(card.undo)))
    generic = lib.undo_card(act)
    step = card.undo[act][0]
    return Part(lib.text("undo_hint", lead=generic.if_done, step=step), f"undo_hint:{act.value}", priority=4)


def analysis_reply(
    analysis: Analysis,
    lib: GuidanceLibrary,
    *,
    defang: Callable[[str], str] | None = None,
    others: int = 0,
    extras: tuple[str, ...] = (),
    intro: str | None = None,
    seen: tuple[str, ...] = (),
) -> Reply:
    """The one message that answers a message with tactics; a scenario whose card is in `seen` (shown
    earlier in the conversation) is referred to, not repeated."""
    card = card_for(analysis, lib)
    serious = analysis.severity is Severity.SERIOUS
    closing = (
        ("closing_serious_other" if analysis.about_other else "closing_serious")
        if serious
        else "closing_other"
        if analysis.about_other
        else "closing_did"
        if analysis.already_did
        else "closing"
    )
    first = first_line(analysis, card, lib)
    if serious:
        # Serious: 111 and a counselor on the first line, right after the answer to the question.
        line = lib.text("serious_111_other" if analysis.about_other else "serious_111")
        first[0] = Part(f"{first[0].text} {line}", f"{first[0].key}|serious")
    steps = step_lines(analysis, card, lib)
    shown_before = (card.scenario if card else analysis.scenario) in seen
    if shown_before and not analysis.already_did and not analysis.about_other:
        steps = [Part(lib.text("followup_refer_back"), "refer_back")]
    parts = [
        *first,
        *tactic_lines(analysis, lib, defang),
        *steps,
        undo_hint(analysis, card, lib),
        flag_line(analysis.red_flags, lib),
        Part(lib.text("not_alone", count=str(others)) if others else "", "not_alone", priority=3),
        Part(lib.text(closing), closing, priority=3),
        # What the bot did with the message (read the image, read only its start) stays longer.
        *(Part(e, "extra", priority=2) for e in extras),
        # Who the bot is and what it keeps (first contact) goes last of all that may go.
        Part(intro or "", "intro", priority=1),
    ]
    return fit_parts(parts, ANSWER_WORDS, ANSWER_ACTIONS, lib)


def crisis_reply(
    analysis: Analysis,
    lib: GuidanceLibrary,
    notice: Reply | None = None,
    extras: tuple[str, ...] = (),
    lead: str | None = None,
    again: bool = False,
    did_well: bool = False,
) -> Reply:
    """The one calm crisis message: heard, the one action, the numbers, the counselor notice. With
    `lead` (what just got worse in a conversation), that line is the action."""
    card = lib.crisis_card(analysis.crisis_kind.value) if analysis.crisis_kind else None
    if lead is not None:
        what = analysis.escalation.value if analysis.escalation else "general"
        parts = [Part(lead, f"escalation:{what}")]
        if card is None:
            parts.append(Part(lib.text("hotline"), "call"))
    elif card is None:
        other = analysis.about_other
        key = "crisis_other" if other else "crisis"
        parts = [Part(lib.text(key), "crisis:general|for_other" if other else "crisis:general")]
    elif analysis.about_other:
        parts = [
            Part(lib.text("crisis_ack_other"), f"crisis:{card.kind.value}"),
            Part(card.for_other, "for_other"),
        ]
    else:
        found = [d for d in analysis.details if d in card.details]
        if CrisisDetail.PARENT_UNREACHABLE in found and CrisisDetail.CALL_PARENT in found:
            found.remove(CrisisDetail.CALL_PARENT)
        # Where the student is (a rooftop, a man at the door, followed, on the way) comes before
        # anything else; a second detail, and the card's own first step, only when there is room.
        if not again:
            # A crisis going on keeps the order continued() gave: what the reply just said comes first.
            found.sort(key=lambda d: d not in SAFETY_FIRST)
        details = [
            Part(card.details[d], f"detail:{d.value}", priority=3 if n else 0)
            for n, d in enumerate(found[:2])
        ]
        ack = Part(card.ack, f"crisis:{card.kind.value}")
        if again:
            # A crisis already answered: the student was heard; one line, what is new, the step.
            key = "followup_did_well" if did_well else "followup_still_here"
            ack = Part(lib.text(key), f"crisis:{card.kind.value}|{key.removeprefix('followup_')}")
        safety_first = bool(found) and found[0] in SAFETY_FIRST
        # A crisis going on leads with what is new; a first turn with where the student is.
        lead_first = safety_first or (again and bool(details))
        parts = [*details[:1], ack, *details[1:]] if lead_first else [ack, *details]
        if not WHERE_NOW & set(found[:2]):
            # Where the student is already decides the step: "don't go to meet them" would contradict it.
            parts.append(Part(card.first_step, "first_step", priority=3 if found else 0))
    if analysis.question is Question.SHOULD_I:
        # "Hay gửi trước cho nó để nó xóa?": no, first, whatever the danger.
        parts.insert(0, Part(lib.text("followup_comply_no"), "comply_no"))
    if card is not None:
        parts.append(Part(card.call, "call"))
        # A self-harm statement inside another situation is answered first; the situation gets a line.
        if card.kind is CrisisKind.SELF_HARM and card.with_scam and analysis.tactics:
            parts.append(Part(card.with_scam, "with_scam", priority=2))
    if notice is not None:
        parts.append(Part(notice.text, "counselor"))
    parts += [Part(e, "extra", priority=2) for e in extras]
    physical = analysis.crisis_kind in (CrisisKind.MEETING_NOW, CrisisKind.KIDNAPPING_NOW)
    reply = fit_parts(parts, CRISIS_WORDS, POLICE_ACTIONS if physical else CRISIS_ACTIONS, lib)
    return merge([reply, Reply(text="", buttons=notice.buttons)]) if notice is not None else reply


def undo_reply(
    analysis: Analysis, lib: GuidanceLibrary, intro: str | None = None, extras: tuple[str, ...] = ()
) -> Reply:
    """The student says they did what someone asked (installed, paid, sent…) and no tactic shows in
    their words: the undo steps for it come first, whatever the verdict."""
    card = card_for(analysis, lib)
    parts = [
        Part(lib.text("verdict_weak"), "verdict:weak"),
        *step_lines(analysis, card, lib),
        Part(lib.text("closing_did"), "closing_did", priority=3),
        *(Part(e, "extra", 2) for e in extras),
        Part(intro or "", "intro", 1),
    ]
    return fit_parts(parts, ANSWER_WORDS, ANSWER_ACTIONS, lib)


def serious_reply(
    analysis: Analysis, lib: GuidanceLibrary, intro: str | None = None, extras: tuple[str, ...] = ()
) -> Reply:
    """A serious message with no tactic to show (a past event that still hurts, a threat without a
    demand, a friend at risk): 111 and a counselor first, then what to do, then an open door."""
    if analysis.about_other:
        parts = [
            Part(lib.text("serious_other"), "serious|serious_other"),
            Part(f"{lib.text('helper_intro')}\n{lib.text('helper_steps')}", "helper"),
        ]
    elif analysis.past:
        parts = [Part(lib.text("serious_past"), "serious|serious_past")]
    else:
        parts = [Part(lib.text("serious"), "serious")]
    parts += [*(Part(e, "extra", 2) for e in extras), Part(intro or "", "intro", 1)]
    return fit_parts(parts, ANSWER_WORDS, SERIOUS_ACTIONS, lib)


def calm_reply(
    lib: GuidanceLibrary,
    key: str,
    intro: str | None = None,
    extras: tuple[str, ...] = (),
    actions: tuple[str, ...] = CALM_ACTIONS,
) -> Reply:
    """An answer without tactics ("benign" when the model is confident, "unsure" when it is not, the
    invitation to send a message for a greeting)."""
    parts = [Part(lib.text(key), key), *(Part(e, "extra", 2) for e in extras), Part(intro or "", "intro", 1)]
    return fit_parts(parts, ANSWER_WORDS, actions, lib)
