"""Follow-ups (issue 17): the conversation remembers what was said, and a reply after an answer is
answered as what it is, not judged as a new suspicious message.

The dialogue state (the scenario, tactics, severity and acts established so far, who is at risk, which
scenario cards were shown, the app named) lives in the conversation's context under STATE, so `/xoa`
deletes it with everything else. A student's reply the classifier reads as a follow-up intent gets
its own short answer (at most FOLLOWUP_WORDS words): undo steps for what they did, how-to steps for the
app they use, "Đây là chiêu lừa" with the trick's proof (for a threat: paying never stops it), "no"
first to "should I pay", a kind answer to their doubt, how to tell a parent, a warm goodbye. While an
urgent case is open, other replies continue the crisis. An escalation ("nó biết nhà em", a countdown,
a meeting tonight) is a crisis turn led by what got worse. A new message from the other party is
judged like a first one, in the light of the scenario already known, without repeating a card
already shown.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from handlers.answer import SAFETY_FIRST, Part, fit_parts
from handlers.models import (
    Act,
    Analysis,
    App,
    CrisisDetail,
    CrisisKind,
    Escalation,
    FollowUp,
    Frozen,
    Question,
    Reply,
    ScenarioCard,
    Severity,
    Tactic,
)
from handlers.ports import WORD_LIMITS, GuidanceLibrary

STATE = "dialogue"
FOLLOWUP_WORDS = WORD_LIMITS.followup
# The follow-up head's likeliest intent must be at least this likely for a reply to be answered as a
# follow-up: on the dev replies 0.3 reads 93% right, and would take 5.9% of first messages for replies
# (a first message is judged anyway, a message with a tactic needs more, a crisis always comes first).
FOLLOWUP_MIN = 0.3
# A reply whose words also show a tactic is a reply only when the head prefers it to "a message to
# judge", and is this sure ("nhưng anh ấy hứa cho em quà mà" is a push-back, "nó nhắn tiếp: …" is not).
WITH_TACTICS_MIN = 0.4
# Thanks, bye and hello are answered as such even when the head is less sure (a wrong "you're welcome"
# harms nobody); an escalation, which opens an urgent case, only when the head is sure or the reply
# names what got worse; and a sure follow-up outweighs a crisis the model alone half-sees in a reply
# ("I already sent two pics, what now?"), never one the crisis lexicon names.
CALM_MIN = 0.25
CALM = frozenset({FollowUp.THANKS, FollowUp.BYE, FollowUp.GREET})
SURE = 0.6
# In a crisis, a thanks or goodbye must be plain before the crisis turn gives way to it.
CALM_IN_CRISIS = 0.8
# A crisis the lexicon names scores at least this (nlu/assemble.py CUE_CRISIS_SCORE); the model alone
# may score lower ("mẹ e ko nghe máy" reads like a kidnapping's cut-off parents).
LEXICON_CRISIS = 0.95
# Follow-ups answered even before any answer (a first message can be a thanks or a question about us).
ANYTIME = frozenset({FollowUp.WHO_ARE_YOU, FollowUp.THANKS})
HELP_ACTIONS = ("talk_to_counselor", "call_111")
CALM_ACTIONS = ("call_111",)
SEVERITY_RANK = {Severity.NONE: 0, Severity.SERIOUS: 1, Severity.IMMINENT: 2}
# What got worse decides the crisis kind when the conversation does not know one yet.
ESCALATION_KIND = {
    Escalation.ADDRESS: CrisisKind.MEETING_NOW,
    Escalation.MEETING: CrisisKind.MEETING_NOW,
    Escalation.COUNTDOWN: CrisisKind.SEXTORTION_NOW,
}


class DialogueState(Frozen):
    """What the conversation established so far."""

    scenario: str | None = None
    tactics: tuple[Tactic, ...] = ()
    severity: Severity = Severity.NONE
    already_did: tuple[Act, ...] = ()
    about_other: bool = False
    # Scenarios whose card the student has seen: later turns refer to it, they do not repeat it.
    cards: tuple[str, ...] = ()
    app: App | None = None
    crisis_kind: CrisisKind | None = None
    # Acts whose undo steps the student has seen.
    undone: tuple[Act, ...] = ()
    # The helper's steps for a friend were given: the next such reply moves on from them.
    helped_friend: bool = False
    # Where the student is in a crisis (at the door, in a car): later crisis turns keep to it.
    details: tuple[CrisisDetail, ...] = ()
    # Answers given in this conversation (a follow-up needs one before it).
    answered: int = 0


def state_of(context: dict[str, Any]) -> DialogueState:
    """The conversation's dialogue state (a fresh one when there is none or it cannot be read)."""
    try:
        return DialogueState.model_validate(context.get(STATE) or {})
    except ValidationError:
        return DialogueState()


def remember(state: DialogueState, analysis: Analysis, shown: tuple[str, ...] = ()) -> DialogueState:
    """The state after one more answered message: what it added, and what its answer showed (the
    content keys of the reply: a scenario card, undo steps)."""
    card = next((p.removeprefix("card:") for p in shown if p.startswith("card:")), None)
    undone = [Act(p.split(":")[1]) for p in shown if p.startswith("undo:")]
    severity = max(state.severity, analysis.severity, key=SEVERITY_RANK.__getitem__)
    return DialogueState(
        scenario=analysis.scenario or state.scenario,
        tactics=tuple(dict.fromkeys((*state.tactics, *analysis.tactics))),
        severity=severity,
        already_did=tuple(dict.fromkeys((*state.already_did, *analysis.already_did))),
        about_other=state.about_other or analysis.about_other or analysis.followup is FollowUp.HELPING_FRIEND,
        cards=tuple(dict.fromkeys((*state.cards, *([card] if card else [])))),
        app=analysis.app if analysis.app not in (None, App.GENERIC) else state.app,
        crisis_kind=analysis.crisis_kind or state.crisis_kind,
        undone=tuple(dict.fromkeys((*state.undone, *undone))),
        details=_where(analysis.details, state.details) if analysis.crisis else state.details,
        helped_friend=state.helped_friend or bool({"helping_friend", "helper"} & set(shown)),
        answered=state.answered + 1,
    )


def _where(new: tuple[CrisisDetail, ...], old: tuple[CrisisDetail, ...]) -> tuple[CrisisDetail, ...]:
    """The details that say where the student is: the newest first, the earlier ones kept."""
    return tuple(dict.fromkeys(d for d in (*new, *old) if d in SAFETY_FIRST and d is not CrisisDetail.CAMERA))


def stored(context: dict[str, Any], state: DialogueState) -> dict[str, Any]:
    """The context with the new state."""
    return {**context, STATE: state.model_dump(mode="json")}


# Replies that name a how-to topic in passing but are something else ("cảm ơn, e block nó r").
NOT_HOW_TO = frozenset(
    {
        FollowUp.ALREADY_DID,
        FollowUp.ESCALATION,
        FollowUp.HELPING_FRIEND,
        FollowUp.AFRAID_ADULTS,
        FollowUp.THANKS,
        FollowUp.BYE,
        FollowUp.GREET,
    }
)


def intent(analysis: Analysis, state: DialogueState) -> FollowUp | None:
    """The follow-up this message is, or None when it is a message to judge."""
    threat = state.severity is not Severity.NONE or analysis.severity is not Severity.NONE
    if (
        state.answered
        and threat
        and analysis.escalation is not None
        and analysis.followup in (None, FollowUp.ESCALATION)
    ):
        # In a conversation about a threat or grooming, a deadline, an address or a meeting is it
        # getting worse ("nó nhắn tiếp: ko chuyển trước 12h là…"), whatever else the reply says.
        return FollowUp.ESCALATION
    if state.answered and analysis.howto is not None and (not analysis.tactics or analysis.followup_top):
        asks_verdict = analysis.question in (Question.IS_REAL, Question.IS_SCAM, Question.CONSEQUENCE)
        if analysis.followup not in NOT_HOW_TO and not asks_verdict:
            # "Gọi ngân hàng thì cần nói gì?", "should I block them?": the steps, whatever else.
            return FollowUp.WHAT_NOW
    if analysis.followup is None:
        return None
    bar = CALM_MIN if analysis.followup in CALM and state.answered else FOLLOWUP_MIN
    if analysis.followup in CALM and state.severity is Severity.IMMINENT:
        # In a crisis, "đt e còn 5% pin" is not a goodbye: only a plain one ends the turn calmly.
        bar = CALM_IN_CRISIS
    if analysis.followup is FollowUp.ESCALATION and analysis.escalation is None:
        bar = SURE
    if analysis.followup_score < bar:
        return None
    if analysis.tactics and not (analysis.followup_top and analysis.followup_score >= WITH_TACTICS_MIN):
        return None
    if state.answered == 0 and analysis.followup not in ANYTIME:
        # Before any answer, "em lỡ chuyển rồi" is a first message: judged, with undo steps.
        return None
    return analysis.followup


# A reply this short, with no quotation in it, is the student talking, not a new message pasted.
OWN_WORDS_MAX = 30
QUOTE_MARKS = ('"', "“", "”", "'", ":")


def model_only_crisis(analysis: Analysis, state: DialogueState) -> bool:
    """A reply the crisis model alone calls imminent, with nothing that says what the danger is (no
    lexicon cue, no detail, no kind, nothing got worse), in a conversation not in a crisis: serious
    (111 and a counselor first) rather than a crisis turn ("mẹ em vừa bị trừ 2,8 triệu, em trai em đang
    khóc")."""
    return (
        state.answered > 0
        and state.severity is not Severity.IMMINENT
        and analysis.crisis
        and analysis.crisis_score < LEXICON_CRISIS
        and analysis.crisis_kind is None
        and not analysis.details
        and analysis.escalation is None
    )


def fallback(analysis: Analysis, state: DialogueState, text: str) -> FollowUp | None:
    """A short reply the head cannot name, in a conversation about a trap, with nothing new in it
    ("bạn ấy bảo camera hỏng thôi mà"): never judged alone as "nothing found", which would take back
    the warning of a minute ago. A doubt is answered as a push-back, anything else with the next step."""
    if not state.answered or analysis.crisis:
        return None
    own_words = len(text.split()) <= OWN_WORDS_MAX and not any(mark in text for mark in QUOTE_MARKS)
    if state.about_other and own_words:
        # About a friend, "nó dặn mk ko dc kể cho ai" is the student telling what the friend said:
        # still about helping them, not a new message from a scammer nor the student's own danger.
        return FollowUp.HELPING_FRIEND
    if not state.tactics or analysis.tactics or analysis.severity is not Severity.NONE or not own_words:
        return None
    doubt = analysis.followup in (FollowUp.PUSHBACK, FollowUp.IS_IT_REAL)
    return FollowUp.PUSHBACK if doubt else FollowUp.WHAT_NOW


def outweighs_crisis(asked: FollowUp | None, analysis: Analysis) -> bool:
    """A reply the head is sure of (not an escalation) is answered as a reply, though the crisis model
    half-sees danger in it; a crisis the lexicon names always comes first."""
    # The head's first choice over "not a reply" is enough ("nói ở đây có ai biết không?" is a
    # question about us, not a danger); a lower-ranked intent needs to be sure.
    bar = (CALM_MIN if asked in CALM else FOLLOWUP_MIN) if analysis.followup_top else SURE
    if asked is FollowUp.WHAT_NOW and analysis.howto is not None:
        bar = 0.0  # a how-to question is a question, whatever the model half-sees in it
    return (
        asked is not None
        and asked is not FollowUp.ESCALATION
        and analysis.followup_score >= bar
        and analysis.crisis_score < LEXICON_CRISIS
    )


# Replies answered as themselves even during a crisis: they need their own words, not the card again.
# A plain "what now" (no how-to asked) and anything unread continue the crisis instead.
OWN_WORDS_IN_CRISIS = frozenset(
    {
        FollowUp.THANKS,
        FollowUp.BYE,
        FollowUp.WHO_ARE_YOU,
        FollowUp.AFRAID_ADULTS,
        FollowUp.IS_IT_REAL,
        FollowUp.HELPING_FRIEND,
        FollowUp.ALREADY_DID,
    }
)


def in_crisis(state: DialogueState, asked: FollowUp | None, analysis: Analysis) -> bool:
    """The conversation is in a crisis already answered, and this reply continues it: not a new
    trap forwarded in the meantime (a scam after "mình không muốn sống nữa" is answered as one)."""
    other_trap = (
        not analysis.crisis
        and analysis.scenario is not None
        and analysis.scenario != state.scenario
        and bool(analysis.tactics)
    )
    how_to = asked is FollowUp.WHAT_NOW and analysis.howto is not None
    # "e gửi vị trí cho chị e r" is not a scammer's demand met: the crisis goes on, with a "well done".
    own_act = asked is not FollowUp.ALREADY_DID or bool(analysis.already_did)
    return (
        state.answered > 0
        and state.severity is Severity.IMMINENT
        and (asked not in OWN_WORDS_IN_CRISIS or not own_act)
        and not how_to
        and not other_trap
    )


def continued(analysis: Analysis, state: DialogueState) -> Analysis:
    """A reply in an ongoing crisis, read as that crisis: its kind stays, unless the reply names another
    danger with the lexicon's words (self-harm inside a kidnapping)."""
    # Only self-harm named in the reply changes the kind: a camera asked for inside a kidnapping is
    # still the kidnapping.
    own = (
        analysis.crisis
        and analysis.crisis_score >= LEXICON_CRISIS
        and analysis.crisis_kind is CrisisKind.SELF_HARM
    )
    kind = analysis.crisis_kind if own else state.crisis_kind or analysis.crisis_kind
    # What the reply tells ("mẹ ko nghe máy", "còn 6% pin") first, then where the student still is.
    told = [d for d in analysis.details if not (d is CrisisDetail.CALL_PARENT and _unreachable(analysis))]
    details = tuple(dict.fromkeys((*told[:1], *state.details, *told[1:])))
    update = {"crisis": True, "severity": Severity.IMMINENT, "crisis_kind": kind, "details": details}
    return analysis.model_copy(update=update)


def _unreachable(analysis: Analysis) -> bool:
    """The reply says a parent does not answer: "call your parents" is not the step any more."""
    return CrisisDetail.PARENT_UNREACHABLE in analysis.details


def escalated(analysis: Analysis, state: DialogueState) -> Analysis:
    """The analysis of a message that made the conversation worse, as the crisis it now is."""
    what = analysis.escalation
    kind = analysis.crisis_kind or state.crisis_kind or ESCALATION_KIND[what or Escalation.ADDRESS]
    return analysis.model_copy(
        update={
            "crisis": True,
            "severity": Severity.IMMINENT,
            "crisis_kind": kind,
            "scenario": analysis.scenario or state.scenario,
        }
    )


def reply(
    followup: FollowUp,
    analysis: Analysis,
    state: DialogueState,
    lib: GuidanceLibrary,
    waiting: bool = False,
) -> Reply:
    """The answer to a follow-up (not an escalation: that is a crisis turn). `waiting`: a counselor
    has been told of this conversation's crisis; the reply says they will write, and offers 111."""
    card = lib.scenario_card(state.scenario) if state.scenario else None
    scam = bool(state.tactics)
    if analysis.question is Question.SHOULD_I and not state.about_other and followup not in CALM:
        # "Em có nên chuyển cho nó không?" is asking whether to comply, however the head read it.
        followup = FollowUp.IS_IT_REAL

    def text(key: str) -> str:
        return lib.text(f"followup_{key}")

    parts: list[Part]
    actions: tuple[str, ...] = HELP_ACTIONS
    if followup is FollowUp.ALREADY_DID:
        # "E lỡ nộp r" after a prize message: the act the trap asked for, when the words do not say.
        acts = analysis.already_did or state.already_did or _trap_act(card)
        parts = _undo(acts, state, lib) or [Part(text("already_did_ask"), "already_did_ask")]
        if Act.SENT_PHOTOS in analysis.already_did:
            parts.insert(0, Part(lib.text("serious_111"), "serious"))
        parts.append(Part(lib.text("closing_did"), "closing_did", priority=3))
    elif followup is FollowUp.WHAT_NOW:
        parts = _what_now(analysis, state, lib)
    elif followup is FollowUp.IS_IT_REAL:
        parts = []
        if analysis.question is Question.SHOULD_I:
            # "Có nên gửi thêm không?": no, first.
            parts.append(Part(text("comply_no"), "comply_no"))
        if state.severity is not Severity.NONE and Tactic.FEAR in state.tactics:
            # "Nó có gửi thật ko?" about a threat: "Đúng" would read as "yes, they will".
            parts.append(Part(text("is_it_real_threat"), "is_it_real_threat"))
        elif scam:
            proof = card.proof or card.tell if card else text("is_it_real_generic")
            parts.append(Part(f"{text('is_it_real_yes')} {proof}", "is_it_real_yes"))
        else:
            parts.append(Part(text("is_it_real_generic"), "is_it_real_generic"))
        if card is not None and card.scenario in state.cards:
            parts.append(Part(text("refer_back"), "refer_back", priority=3))
    elif followup is FollowUp.PUSHBACK:
        parts = [
            Part(card.pushback, "pushback")
            if card and card.pushback
            else Part(text("pushback_generic"), "pushback_generic")
        ]
        if card is not None and card.scenario in state.cards:
            parts.append(Part(text("refer_back"), "refer_back", priority=3))
    elif followup is FollowUp.AFRAID_ADULTS:
        # Money and a confiscated phone are a scam's fears; a threat or self-harm has its own words.
        hurt = not scam or state.crisis_kind is CrisisKind.SELF_HARM
        parts = [Part(text("afraid_adults_hurt" if hurt else "afraid_adults"), "afraid_adults")]
    elif followup is FollowUp.THANKS:
        key = "thanks_did" if state.already_did else "thanks"
        parts, actions = [Part(text(key), key)], CALM_ACTIONS
    elif followup is FollowUp.BYE:
        parts, actions = [Part(text("bye"), "bye")], CALM_ACTIONS
    elif followup is FollowUp.HELPING_FRIEND:
        # Once the helper's steps were given, the next turn is about what stands in the way.
        key = "helping_friend_again" if state.helped_friend else "helping_friend"
        parts = [Part(text(key), f"helping_friend|{key}" if state.helped_friend else key)]
    elif followup is FollowUp.GREET:
        parts, actions = [Part(text("greet_again"), "greet_again")], CALM_ACTIONS
    elif waiting:  # WHO_ARE_YOU in a crisis: a person is coming
        parts, actions = [Part(text("who_are_you_crisis"), "who_are_you|counselor")], CALM_ACTIONS
        if state.crisis_kind is CrisisKind.SELF_HARM:
            parts.append(Part(text("check_in"), "check_in"))
        return fit_parts(parts, FOLLOWUP_WORDS, actions, lib)
    else:  # WHO_ARE_YOU
        parts, actions = [Part(text("who_are_you"), "who_are_you")], CALM_ACTIONS
    if analysis.question is Question.SHOULD_TELL and followup not in CALM:
        other = state.about_other or followup is FollowUp.HELPING_FRIEND
        parts.insert(0, Part(text("tell_yes_other" if other else "tell_yes"), "tell_yes"))
    if waiting:
        parts = [
            Part(lib.text("closing_did_waiting"), "closing_did") if p.key == "closing_did" else p
            for p in parts
        ]
        if state.crisis_kind is CrisisKind.SELF_HARM:
            parts.append(Part(text("check_in"), "check_in"))
        parts.append(Part(lib.text("crisis_counselor_waiting"), "counselor"))
        actions = tuple(a for a in actions if a != "talk_to_counselor")
    return fit_parts(parts, FOLLOWUP_WORDS, actions, lib)


def _trap_act(card: ScenarioCard | None) -> tuple[Act, ...]:
    """The act a scenario's trap asks for most (the first its undo steps are written for)."""
    return (next(iter(card.undo)),) if card is not None and card.undo else ()


def _undo(acts: tuple[Act, ...], state: DialogueState, lib: GuidanceLibrary) -> list[Part]:
    """Undo steps for the first act the student names (the scenario's own when it has them); steps
    already shown are pointed at, with the one thing that matters most now."""
    if not acts:
        return []
    act = acts[0]
    if act in state.undone:
        return [
            Part(lib.text("followup_refer_back"), "refer_back"),
            Part(lib.text("followup_what_now"), "what_now"),
        ]
    card = lib.scenario_card(state.scenario) if state.scenario else None
    undo = lib.undo_card(act)
    own = card is not None and act in card.undo
    steps = card.undo[act] if card is not None and own else undo.steps
    text = "\n".join([undo.lead, *(f"{i}. {s}" for i, s in enumerate(steps, 1))])
    return [Part(text, f"undo:{act.value}" + (":card" if own else ""))]


def _what_now(analysis: Analysis, state: DialogueState, lib: GuidanceLibrary) -> list[Part]:
    """How-to steps for the app the student uses, else undo steps for what they did, else the step
    that matters most, pointing back at the card already shown."""
    if analysis.howto is not None:
        howto = lib.howto(analysis.howto, analysis.app or state.app)
        text = "\n".join([f"{howto.title}:", *(f"{i}. {s}" for i, s in enumerate(howto.steps, 1))])
        return [Part(text, f"howto:{howto.topic.value}")]
    undo = _undo(analysis.already_did or state.already_did, state, lib)
    if undo:
        return undo
    card = lib.scenario_card(state.scenario) if state.scenario else None
    parts = [Part(lib.text("followup_what_now"), "what_now")]
    if card is not None and card.scenario in state.cards:
        parts.insert(0, Part(lib.text("followup_refer_back"), "refer_back"))
    return parts


def escalation_lead(analysis: Analysis, lib: GuidanceLibrary) -> str:
    """The line that leads the crisis turn of a conversation that got worse."""
    return lib.text(f"followup_escalation_{(analysis.escalation or Escalation.ADDRESS).value}")
