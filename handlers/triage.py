"""The main use case: store what a student sent, understand it, answer with guidance."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from handlers import choices, feedback, followup, handoff, practice, waves
from handlers.actions import command_action, simple_action, unknown_action
from handlers.answer import analysis_reply, calm_reply, crisis_reply, serious_reply, undo_reply
from handlers.flood import FloodLimiter
from handlers.handoff import EscalationPolicy
from handlers.hidden import OtherWays, hidden_reply
from handlers.models import (
    Analysis,
    CasePriority,
    Channel,
    Conversation,
    ConversationState,
    Direction,
    FollowUp,
    Incoming,
    MessageKind,
    OutboxItem,
    Reply,
    Severity,
    Turn,
)
from handlers.outcome import KEEP, Outcome
from handlers.ports import (
    Classifier,
    ClassifierUnavailable,
    Fingerprinter,
    GuidanceLibrary,
    ImageReader,
    ImageUnreadable,
    RedFlagFinder,
    UnitOfWork,
)
from handlers.replies import buttons, fit
from handlers.text import CleanText, clean_text, is_blank

log = logging.getLogger(__name__)
# At most this many of a student's due outbox items are leased with a turn (a turn makes one or two).
LEASE_LIMIT = 20
# A conversation's last activity is recorded to the hour (retention counts whole days).
ACTIVE_STEP = timedelta(hours=1)
SMALL_TALK_WORDS = 3
# Context key: the introduction (who the bot is, what it keeps) is still to be given, because the
# first contact was a crisis and that turn is kept to the crisis alone.
INTRO_DUE = "intro_due"
# A greeting's answer: send a message, or try the game, or reach a person.
SMALL_TALK_ACTIONS = ("practice_start", "talk_to_counselor", "call_111")
# The conversation held a serious message: the case the student asks for is a serious one.
SEVERITY = "severity"
# Fewer words than this read from an image: there was no text to speak of.
IMAGE_MIN_WORDS = 2
IMAGE_ERROR_KEYS = {
    "too_big": "image_too_big",
    "too_many_pixels": "image_too_big",
    "format": "image_format",
    "no_text": "image_no_text",
}


@dataclass(frozen=True)
class Limits:
    """How much of a message is stored and analysed, how long a reply may be, how long data is kept."""

    max_chars: int = 8000
    retention_days: int = 30
    # The shortest limit of the channels (Zalo: 2,000 characters; Telegram: 4,096).
    max_reply_chars: int = 2000
    # The largest image a channel downloads for reading (megabytes).
    max_image_mb: int = 10


@dataclass(frozen=True)
class Core:
    """The core's dependencies, wired once by the composition root."""

    classifier: Classifier
    library: GuidanceLibrary
    uow: Callable[[], UnitOfWork]
    pseudonym: Callable[[Channel, str], str]
    clock: Callable[[], datetime]
    limits: Limits = Limits()
    escalation: EscalationPolicy = EscalationPolicy()
    rng: random.Random | None = None
    flood: FloodLimiter | None = None
    images: ImageReader | None = None
    fingerprints: Fingerprinter | None = None
    red_flags: RedFlagFinder | None = None
    other_ways: OtherWays = OtherWays()


_KIND_TEXT_KEYS = {
    MessageKind.IMAGE: "image_not_supported_yet",
    MessageKind.STICKER: "sticker_received",
    MessageKind.VOICE: "voice_not_supported",
    MessageKind.FILE: "file_not_supported",
    MessageKind.LOCATION: "location_received",
    MessageKind.OTHER: "unsupported_message",
}


async def handle_incoming(msg: Incoming, *, core: Core) -> Turn:
    """Store the incoming message first, then answer it; every reply is stored as it is produced."""
    now = msg.received_at or core.clock()
    user_id = core.pseudonym(msg.channel, msg.platform_user_id)
    cleaned = clean_text(msg.text, max_chars=core.limits.max_chars)
    async with core.uow() as uow:
        # The conversation first: a storage may read the user with it, in one go.
        conversation = await uow.conversations.current(user_id)
        first_contact = await uow.users.get(user_id) is None
        await uow.users.touch(user_id, msg.channel, msg.chat_id, now)
        conversation = conversation or await uow.conversations.open(user_id, now)
        incoming_id = await uow.messages.add(
            conversation_id=conversation.id,
            direction=Direction.IN,
            kind=msg.kind,
            now=now,
            text=cleaned.text or None,
            action=msg.action,
            # Kept to the hour: what the retention limit (whole days) counts from, without a write
            # on every message of a chat that is going on.
            touch=now - conversation.updated_at >= ACTIVE_STEP,
        )
        if msg.delivery_id and not await uow.deliveries.record(
            msg.channel, msg.delivery_id, incoming_id, now
        ):
            await uow.rollback()
            resumed = await _resume(msg, user_id, uow)
            if resumed is None:
                log.info("repeated delivery ignored", extra={"user": user_id, "kind": msg.kind.value})
                return Turn(replies=(), user_id=user_id, duplicate=True)
            conversation, incoming_id, first_contact = resumed
            log.warning("answering a delivery stored before a stop", extra={"user": user_id})
        await uow.commit()
    log.info("message in", extra={"user": user_id, "conversation": conversation.id, "kind": msg.kind.value})

    action = msg.action or "" if msg.kind is MessageKind.ACTION else None
    if msg.kind is MessageKind.COMMAND:
        action = command_action(cleaned.text)
    if action == "delete_confirm":
        return await _delete_everything(msg, user_id, core)

    lib = core.library
    async with core.uow() as uow:
        if action is None and msg.numbered and msg.kind is MessageKind.TEXT:
            picked = await _numbered_choice(cleaned.text, conversation, incoming_id, uow, lib)
            if isinstance(picked, Reply):
                leased = await _store_replies([picked], msg, conversation, user_id, uow, core)
                return Turn(replies=(picked,), user_id=user_id, queued=msg.queue_replies, leased=leased)
            action = picked
        if _mirrored(conversation, action, msg.kind, cleaned.text, core):
            await handoff.mirror_student_message(
                conversation,
                cleaned.text if msg.kind is MessageKind.TEXT else None,
                uow=uow,
                lib=lib,
                now=now,
                hidden=msg.kind is MessageKind.HIDDEN,
            )
        intro = _intro(first_contact, conversation, core)
        if msg.kind is MessageKind.HIDDEN:
            # Answered even while a counselor has the chat: they cannot see it either.
            outcome = hidden_reply(conversation, lib, core.other_ways)
        elif conversation.state is ConversationState.WITH_COUNSELOR and action is None:
            # A counselor has this chat: the bot stays silent; the message is in the transcript.
            outcome = Outcome()
            intro = None
        elif action is not None:
            outcome = await _on_action(action, conversation, uow, core, now)
        elif msg.kind is MessageKind.TEXT:
            flooding = core.flood is not None and not core.flood.allow(user_id, now)
            outcome = await _on_text(
                cleaned.text,
                conversation,
                uow,
                core,
                flooding=flooding,
                extras=_truncated(cleaned, core),
                intro=intro,
            )
        elif msg.kind is MessageKind.IMAGE and core.images is not None:
            flooding = core.flood is not None and not core.flood.allow(user_id, now)
            outcome = await _on_image(msg, incoming_id, conversation, uow, core, flooding, intro)
        else:
            outcome = Outcome(
                replies=[Reply(text=lib.text(_KIND_TEXT_KEYS[msg.kind]), buttons=buttons(lib, "call_111"))]
            )
        context = _introduced(outcome, intro, conversation)
        replies = fit(outcome.replies, core.limits.max_reply_chars)
        if outcome.analysis is not None:
            await uow.messages.attach_analysis(incoming_id, outcome.analysis)
        if context != conversation.context:
            await uow.conversations.set_context(conversation.id, context, core.clock())
        leased = await _store_replies(replies, msg, conversation, user_id, uow, core)
    return Turn(
        replies=tuple(replies),
        analysis=outcome.analysis,
        user_id=user_id,
        queued=msg.queue_replies,
        leased=leased,
    )


async def _store_replies(
    replies: list[Reply], msg: Incoming, conversation: Conversation, user_id: str, uow: UnitOfWork, core: Core
) -> tuple[OutboxItem, ...]:
    """Store the turn's replies in the transcript (and the outbox, for a channel that sends from it,
    leased to it when it sends them at once), mark the delivery answered, and commit: all of it
    happens, or none. The leased items (the student's due ones, oldest first) are returned."""
    now = core.clock()
    for reply in replies:
        await uow.messages.add(
            conversation_id=conversation.id,
            direction=Direction.OUT,
            kind=MessageKind.TEXT,
            now=now,
            text=reply.text,
            buttons=reply.buttons,
        )
    leased: list[OutboxItem] | None = []
    if msg.queue_replies and msg.lease_replies_s and replies:
        until = now + timedelta(seconds=msg.lease_replies_s)
        queued = [(r.text, r.buttons) for r in replies]
        leased = await uow.outbox.add_turn(user_id, msg.channel, queued, now, until)
        if leased is None:  # behind a pending message of theirs: leased from the oldest on, while due
            leased = await uow.outbox.take_due(msg.channel, now, until, LEASE_LIMIT, user_id=user_id)
    elif msg.queue_replies:
        for reply in replies:
            await uow.outbox.add(user_id, msg.channel, reply.text, reply.buttons, now)
    if msg.delivery_id:
        await uow.deliveries.answered(msg.channel, msg.delivery_id)
    await uow.commit()
    return tuple(leased or ())


async def _resume(msg: Incoming, user_id: str, uow: UnitOfWork) -> tuple[Conversation, int, bool] | None:
    """A delivery seen before: None when it was answered (or is being answered) already; else the
    stop came between storing its message and answering it, and it is answered now."""
    assert msg.delivery_id is not None
    seen = await uow.deliveries.seen(msg.channel, msg.delivery_id)
    if seen is None or seen.answered or seen.message_id is None:
        return None
    conversation = await uow.conversations.current(user_id)
    if conversation is None:
        return None
    recent = await uow.messages.recent(conversation.id, choices.RECENT)
    first_contact = not any(m.direction is Direction.OUT for m in recent)
    return conversation, seen.message_id, first_contact


async def _on_action(
    action: str, conversation: Conversation, uow: UnitOfWork, core: Core, now: datetime
) -> Outcome:
    """Buttons and commands; a stale or unknown one gets a friendly menu, never an error."""
    lib = core.library
    context: dict[str, Any] = dict(conversation.context)
    if action == "practice_start":
        return practice.start(lib, core.rng)
    if action == "practice_stop":
        return practice.stop(context, lib)
    if action.startswith(practice.PREFIX):
        return practice.answer(action, context, lib)
    if action == "talk_to_counselor":
        replies = await handoff.open_case(
            conversation,
            priority=CasePriority.SERIOUS
            if context.get(SEVERITY) == Severity.SERIOUS.value
            else CasePriority.NORMAL,
            opened_by="student",
            uow=uow,
            lib=lib,
            policy=core.escalation,
            now=now,
        )
        return Outcome(replies=replies)
    if action in ("cancel_case", "end_chat"):
        return Outcome(replies=[await handoff.student_ends(conversation, uow=uow, lib=lib, now=now)])
    if action in ("helpful", "not_helpful"):
        return await feedback.record(action, conversation.id, context, uow, lib, now)
    if action == "feedback_skip":
        return feedback.skip(context, lib)
    last = await uow.messages.last_analysed(conversation.id)
    defang = core.red_flags.defang if core.red_flags else None
    simple = simple_action(action, lib, last, defang)
    return Outcome(replies=simple if simple is not None else unknown_action(lib))


def _intro(first_contact: bool, conversation: Conversation, core: Core) -> str | None:
    """Who the bot is and what it keeps, on a first contact (or the turn after a first-contact crisis)."""
    days = str(core.limits.retention_days)
    if first_contact:
        return core.library.text("intro", retention_days=days)
    if conversation.context.get(INTRO_DUE):
        # Mid-conversation: the note on what is kept, without a second hello.
        return core.library.text("intro_later", retention_days=days)
    return None


def _introduced(outcome: Outcome, intro: str | None, conversation: Conversation) -> dict[str, Any]:
    """The conversation's context after this turn. A crisis turn holds the crisis alone: the
    introduction waits for the next turn; any other turn gives it (at the end of its last message)."""
    changed = outcome.context if isinstance(outcome.context, dict) else None
    context: dict[str, Any] = dict(conversation.context if changed is None else changed)
    if intro is None:
        return context
    if outcome.hold_intro or (outcome.analysis is not None and outcome.analysis.crisis):
        context[INTRO_DUE] = True
        return context
    if outcome.introduced or not outcome.replies:
        context.pop(INTRO_DUE, None)
        return context
    if outcome.analysis is not None and outcome.analysis.tactics:
        context[INTRO_DUE] = True  # the answer had no room for it: the next turn gives it
        return context
    last = outcome.replies[-1]
    outcome.replies[-1] = last.model_copy(
        update={"text": f"{last.text}\n{intro}", "parts": (*last.parts, "intro")}
    )
    context.pop(INTRO_DUE, None)
    return context


def _truncated(cleaned: CleanText, core: Core) -> tuple[str, ...]:
    """The note that only the start of a long message was read."""
    if not cleaned.truncated:
        return ()
    return (core.library.text("message_truncated", limit=str(core.limits.max_chars)),)


async def _on_text(
    text: str,
    conversation: Conversation,
    uow: UnitOfWork,
    core: Core,
    *,
    flooding: bool = False,
    image: bool = False,
    extras: tuple[str, ...] = (),
    intro: str | None = None,
) -> Outcome:
    """Typed text: a feedback reason, a practice answer, or a message to analyse."""
    lib = core.library
    context: dict[str, Any] = dict(conversation.context)
    if is_blank(text):
        return Outcome(replies=[Reply(text=lib.text("empty_message"), buttons=buttons(lib, "call_111"))])
    if feedback.AWAITING in context:
        return await feedback.reason(text, context, uow, lib)
    if "practice" in context and len(text.split()) <= SMALL_TALK_WORDS:
        # In a game, a short reply is an answer that is not one of the buttons.
        again = practice.current(context, lib)
        return Outcome(replies=[Reply(text=lib.text("practice_invalid")), *([again] if again else [])])
    if "practice" in context:
        # A long message means the student has something real to ask: leave the game for it.
        context.pop("practice")
    analysis = await _analyze(text, core.classifier, conversation.user_id)
    if core.red_flags is not None and not analysis.crisis:
        # Found for every message (a link or a code request alone is reason enough for caution), but
        # named only in an answer about a trap: a parent's or a school's message is not marked up.
        analysis = analysis.model_copy(update={"red_flags": core.red_flags.find(text)})
    changed = context if context != conversation.context else KEEP
    if flooding and not analysis.crisis:
        # Too many messages in a minute: ask to slow down. A crisis is never held back.
        return Outcome(
            replies=[Reply(text=lib.text("flood_slow_down"), buttons=buttons(lib, "call_111"))],
            analysis=analysis,
            context=changed,
        )
    state = followup.state_of(context)
    asked = followup.intent(analysis, state)
    if asked is None and not _is_small_talk(text, analysis):
        asked = followup.fallback(analysis, state, text)
    if analysis.crisis and (
        followup.outweighs_crisis(asked, analysis) or followup.model_only_crisis(analysis, state)
    ):
        analysis = analysis.model_copy(
            update={"crisis": False, "severity": Severity.SERIOUS, "crisis_kind": None}
        )
    if state.answered and (asked is FollowUp.ESCALATION or (analysis.crisis and analysis.escalation)):
        # "Nó vừa nói biết nhà em": the conversation got worse; a crisis turn led by what changed.
        analysis = followup.escalated(analysis, state)
        lead = followup.escalation_lead(analysis, lib) if analysis.escalation else None
        reply = await _crisis(text, analysis, conversation, uow, core, extras, lead=lead)
        context = followup.stored(context, followup.remember(state, analysis))
        return Outcome(replies=[reply], analysis=analysis, context=context)
    if followup.in_crisis(state, asked, analysis) and await _urgent_open(conversation, uow):
        # While the urgent case of this crisis is open, every reply continues it: heard once, then
        # what is new ("đt e còn 5% pin", "nó đang đập cửa"), the step, the numbers.
        analysis = followup.continued(analysis, state)
        did_well = asked in (FollowUp.ALREADY_DID, FollowUp.THANKS)
        reply = await _crisis(text, analysis, conversation, uow, core, extras, again=True, did_well=did_well)
        context = followup.stored(context, followup.remember(state, analysis))
        return Outcome(replies=[reply], analysis=analysis, context=context)
    if analysis.crisis:
        reply = await _crisis(text, analysis, conversation, uow, core, extras)
        context = followup.stored(context, followup.remember(state, analysis))
        return Outcome(replies=[reply], analysis=analysis, context=context)
    if asked is not None:
        # A reply to the answer: answered as what it is, in the light of what was said before. The
        # student's own words are never judged as the other party's.
        in_crisis = state.severity is Severity.IMMINENT
        waiting = in_crisis and await _urgent_open(conversation, uow)
        reply = followup.reply(asked, analysis, state, lib, waiting=waiting)
        said = analysis.model_copy(update={"tactics": (), "scenario": None, "severity": Severity.NONE})
        context = followup.stored(context, followup.remember(state, said, reply.parts))
        return Outcome(replies=[reply], analysis=analysis, context=context, hold_intro=in_crisis)
    if analysis.tactics and analysis.scenario is None and state.scenario:
        # More of the same conversation ("nó nhắn tiếp: …"): the scenario already known.
        analysis = analysis.model_copy(update={"scenario": state.scenario})
    if _is_small_talk(text, analysis) and not image:
        reply = calm_reply(lib, "start_prompt", intro, extras, actions=SMALL_TALK_ACTIONS)
        return Outcome(replies=[reply], analysis=analysis, context=changed, introduced="intro" in reply.parts)
    if analysis.severity is Severity.SERIOUS:
        # Who the bot is and what it keeps waits for the next turn: not under a painful disclosure.
        intro = None
    if analysis.tactics:
        others = 0
        if core.fingerprints is not None:
            others = await waves.others_asking(
                text,
                analysis,
                conversation.user_id,
                uow=uow,
                fingerprinter=core.fingerprints,
                now=core.clock(),
            )
        defang = core.red_flags.defang if core.red_flags else None
        reply = analysis_reply(
            analysis, lib, defang=defang, others=others, extras=extras, intro=intro, seen=state.cards
        )
    elif analysis.severity is Severity.SERIOUS:
        reply = serious_reply(analysis, lib, intro, extras)
    elif analysis.already_did and not analysis.about_other:
        reply = undo_reply(analysis, lib, intro, extras)
    else:
        # Nothing found: "looks ordinary" only when the model is sure and nothing is asked of the
        # student (no link, number, code, payment); the honest "unsure" otherwise.
        sure = not analysis.unsure and not analysis.red_flags and not analysis.details
        reply = calm_reply(lib, "benign" if sure else "unsure", intro, extras)
    if analysis.severity is Severity.SERIOUS:
        # A counselor the student asks for next sees this conversation as serious.
        context[SEVERITY] = Severity.SERIOUS.value
    context = followup.stored(context, followup.remember(state, analysis, reply.parts))
    # An answer too long for the introduction keeps it for the next turn.
    return Outcome(replies=[reply], analysis=analysis, context=context, introduced="intro" in reply.parts)


async def _crisis(
    text: str,
    analysis: Analysis,
    conversation: Conversation,
    uow: UnitOfWork,
    core: Core,
    extras: tuple[str, ...],
    lead: str | None = None,
    again: bool = False,
    did_well: bool = False,
) -> Reply:
    """The one crisis message; a crisis opens an urgent case by itself (a person should look at this
    conversation), or makes the open one urgent, and the message says so in one line."""
    lib = core.library
    case = await uow.cases.active_for(conversation.id)
    if case is not None and case.priority is not CasePriority.URGENT:
        await uow.cases.raise_priority(case.id, CasePriority.URGENT)
    if case is None:
        opened = await handoff.open_case(
            conversation,
            priority=CasePriority.URGENT,
            opened_by="crisis",
            uow=uow,
            lib=lib,
            policy=core.escalation,
            now=core.clock(),
            analysis=analysis,
        )
        notice = opened[0] if opened else None
        if core.escalation.mirror:
            await handoff.mirror_student_message(conversation, text, uow=uow, lib=lib, now=core.clock())
    else:
        notice = Reply(text=lib.text("crisis_counselor_waiting"))
    return crisis_reply(analysis, lib, notice, extras, lead=lead, again=again, did_well=did_well)


async def _urgent_open(conversation: Conversation, uow: UnitOfWork) -> bool:
    """The conversation has an urgent case waiting or claimed."""
    case = await uow.cases.active_for(conversation.id)
    return case is not None and case.priority is CasePriority.URGENT


async def _numbered_choice(
    text: str, conversation: Conversation, incoming_id: int, uow: UnitOfWork, lib: GuidanceLibrary
) -> str | Reply | None:
    """A lone number answers the latest options: their action, a "no such option" reply, or None (text)."""
    number = choices.number_in(text)
    if number is None:
        return None
    recent = await uow.messages.recent(conversation.id, choices.RECENT)
    options = choices.offered([m for m in recent if m.id != incoming_id])
    if not options:
        return None
    if 1 <= number <= len(options):
        return options[number - 1].action
    again = lib.text("choice_out_of_range", n=str(number), count=str(len(options)))
    return Reply(text=again, buttons=tuple(options))


def _mirrored(
    conversation: Conversation, action: str | None, kind: MessageKind, text: str, core: Core
) -> bool:
    """Whether a student's message goes to the topic of their case in the counselors' group."""
    return (
        core.escalation.alerts
        and core.escalation.mirror
        and action is None
        and conversation.state in (ConversationState.AWAITING_COUNSELOR, ConversationState.WITH_COUNSELOR)
        and not (kind is MessageKind.TEXT and is_blank(text))
    )


async def _on_image(
    msg: Incoming,
    incoming_id: int,
    conversation: Conversation,
    uow: UnitOfWork,
    core: Core,
    flooding: bool,
    intro: str | None = None,
) -> Outcome:
    """A photo: read its text (a screenshot, usually) and answer it like a pasted message."""
    lib = core.library
    assert core.images is not None
    code = msg.image_error
    text = ""
    if code is None and msg.image is not None:
        try:
            text = await core.images.read(msg.image)
        except ImageUnreadable as exc:
            code = exc.code
    elif code is None:
        code = "download"
    caption = clean_text(msg.text, max_chars=core.limits.max_chars).text.strip()
    if code is None:
        cleaned = clean_text(text, max_chars=core.limits.max_chars)
        if len(cleaned.text.split()) < IMAGE_MIN_WORDS:
            code = "no_text"
    if code is not None and caption:
        # The image could not be read, but the student wrote something with it: answer that.
        log.info("image not read; answering its caption", extra={"user": conversation.user_id, "error": code})
        await uow.messages.set_text(incoming_id, caption)
        return await _on_text(caption, conversation, uow, core, flooding=flooding, intro=intro)
    if code is not None:
        log.info("image not read", extra={"user": conversation.user_id, "error": code})
        key = IMAGE_ERROR_KEYS.get(code, "image_unreadable")
        limit = {"limit_mb": str(core.limits.max_image_mb)} if key == "image_too_big" else {}
        return Outcome(replies=[Reply(text=lib.text(key, **limit), buttons=buttons(lib, "call_111"))])
    # The transcript keeps the words read from the image, never the image itself.
    read = f"{cleaned.text}\n{caption}" if caption else cleaned.text
    await uow.messages.set_text(incoming_id, read)
    extras = (*_truncated(cleaned, core), lib.text("image_read"))
    return await _on_text(
        read, conversation, uow, core, flooding=flooding, image=True, extras=extras, intro=intro
    )


def _is_small_talk(text: str, analysis: Analysis) -> bool:
    """A greeting or a word or two with nothing found: invite the message instead of judging it."""
    return (
        not analysis.tactics
        and not analysis.crisis
        and not analysis.red_flags
        and len(text.split()) <= SMALL_TALK_WORDS
    )


async def _delete_everything(msg: Incoming, user_id: str, core: Core) -> Turn:
    """Delete every stored trace of the student; the confirmation itself is not stored."""
    async with core.uow() as uow:
        await uow.users.delete(user_id)
        if msg.delivery_id:
            await uow.deliveries.answered(msg.channel, msg.delivery_id)
        await uow.commit()
    log.info("user data deleted", extra={"user": user_id})
    return Turn(replies=(Reply(text=core.library.text("deleted")),), user_id=user_id)


async def _analyze(text: str, classifier: Classifier, user_id: str) -> Analysis:
    """Ask the classifier; when it cannot answer, the student still gets the honest unsure answer."""
    try:
        return await classifier.analyze(text)
    except ClassifierUnavailable:
        log.warning("classifier unavailable; answering unsure", extra={"user": user_id})
        return Analysis(unsure=True, backend="unavailable")
