"""Ports: what the core needs from the outside world, stated as Protocols."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any, Protocol, Self

from handlers.models import (
    Act,
    Analysis,
    App,
    Button,
    CannedReply,
    Case,
    CaseOutcome,
    CasePriority,
    CaseStatus,
    Channel,
    Conversation,
    ConversationState,
    CrisisCard,
    Direction,
    Fingerprint,
    HowTo,
    HowToCard,
    InboxItem,
    MessageKind,
    OutboxItem,
    PracticeQuestion,
    RedFlag,
    RedFlagKind,
    Referral,
    RiskAssessment,
    ScenarioCard,
    SeenDelivery,
    StoredMessage,
    Tactic,
    UndoCard,
    User,
)

# The texts the core asks the library for, with the placeholders each may use.
TEXT_KEYS: dict[str, frozenset[str]] = {
    "intro": frozenset({"retention_days"}),
    "intro_later": frozenset({"retention_days"}),
    "start_prompt": frozenset(),
    "help": frozenset(),
    "empty_message": frozenset(),
    "message_truncated": frozenset({"limit"}),
    "image_not_supported_yet": frozenset(),
    "not_alone": frozenset({"count"}),
    "redflags_intro": frozenset(),
    "redflag_line": frozenset({"shown", "what", "why"}),
    "redflags_advice": frozenset(),
    "redflag_link": frozenset(),
    "redflag_phone": frozenset(),
    "redflag_bank_account": frozenset(),
    "redflag_bank_name": frozenset(),
    "redflag_money": frozenset(),
    "redflag_otp_request": frozenset(),
    "redflag_app_switch": frozenset(),
    "redflag_install": frozenset(),
    "reason_official": frozenset(),
    "reason_shortener": frozenset(),
    "reason_ip_host": frozenset(),
    "reason_risky_tld": frozenset(),
    "reason_punycode": frozenset(),
    "reason_homoglyph": frozenset(),
    "reason_deny_list": frozenset(),
    "reason_obfuscated": frozenset(),
    "reason_fake_gov": frozenset(),
    "reason_unknown": frozenset(),
    "reason_lookalike": frozenset({"name"}),
    "reason_phone_mobile": frozenset(),
    "reason_phone_landline": frozenset(),
    "reason_phone_premium": frozenset(),
    "reason_phone_tollfree": frozenset(),
    "reason_phone_foreign": frozenset(),
    "reason_bank_account": frozenset(),
    "reason_bank_name": frozenset({"name"}),
    "reason_money": frozenset(),
    "reason_otp_request": frozenset(),
    "reason_password_request": frozenset(),
    "reason_app_switch": frozenset({"name"}),
    "reason_app_private": frozenset(),
    "reason_install_request": frozenset(),
    "reason_login_request": frozenset(),
    "image_read": frozenset(),
    "image_no_text": frozenset(),
    "image_too_big": frozenset({"limit_mb"}),
    "image_format": frozenset(),
    "image_unreadable": frozenset(),
    "sticker_received": frozenset(),
    "voice_not_supported": frozenset(),
    "file_not_supported": frozenset(),
    "location_received": frozenset(),
    "unsupported_message": frozenset(),
    # A message the platform hid from the bot (handlers/hidden.py).
    "hidden_message": frozenset({"elsewhere"}),
    "hidden_again": frozenset({"elsewhere"}),
    "hidden_with_counselor": frozenset(),
    "hidden_elsewhere_web": frozenset({"url"}),
    "hidden_elsewhere_telegram": frozenset({"url"}),
    "unknown_action": frozenset(),
    "unknown_command": frozenset(),
    "unsure": frozenset(),
    "crisis": frozenset(),
    "hotline": frozenset(),
    "analysis_tactic_line": frozenset({"name", "quote"}),
    "analysis_tactic_names": frozenset({"names"}),
    "verdict_strong": frozenset(),
    "verdict_weak": frozenset(),
    "tell_generic": frozenset(),
    "first_is_real": frozenset({"verdict"}),
    "first_is_real_weak": frozenset({"verdict"}),
    "first_is_scam": frozenset({"verdict"}),
    "first_is_scam_weak": frozenset({"verdict"}),
    "first_should_i": frozenset({"verdict"}),
    "first_consequence": frozenset({"tell"}),
    "step_tell_adult": frozenset(),
    "helper_intro": frozenset(),
    "helper_steps": frozenset(),
    "redflags_short": frozenset({"items"}),
    **{
        f"redflag_item_{kind.value}": frozenset({"shown"})
        for kind in RedFlagKind
        if kind.value != "bank_name"
    },
    "undo_hint": frozenset({"lead", "step"}),
    # Follow-ups (content/library/<locale>/followups.yml, texts).
    **{
        f"followup_{key}": frozenset()
        for key in (
            "refer_back",
            "still_here",
            "did_well",
            "is_it_real_threat",
            "helping_friend_again",
            "tell_yes",
            "tell_yes_other",
            "check_in",
            "afraid_adults_hurt",
            "who_are_you_crisis",
            "already_did_ask",
            "what_now",
            "is_it_real_yes",
            "is_it_real_generic",
            "comply_no",
            "pushback_generic",
            "afraid_adults",
            "thanks",
            "thanks_did",
            "bye",
            "greet_again",
            "who_are_you",
            "helping_friend",
            "escalation_address",
            "escalation_countdown",
            "escalation_meeting",
        )
    },
    "followup_undo_lead": frozenset(),
    "closing": frozenset(),
    "closing_did": frozenset(),
    "closing_did_waiting": frozenset(),
    "closing_other": frozenset(),
    "closing_serious": frozenset(),
    "closing_serious_other": frozenset(),
    "serious_111": frozenset(),
    "serious_111_other": frozenset(),
    "serious": frozenset(),
    "serious_other": frozenset(),
    "serious_past": frozenset(),
    "benign": frozenset(),
    "crisis_ack_other": frozenset(),
    "crisis_other": frozenset(),
    "crisis_counselor_on": frozenset(),
    "crisis_counselor_off": frozenset(),
    "crisis_counselor_waiting": frozenset(),
    "temporary_error": frozenset(),
    "feedback_thanks": frozenset(),
    "feedback_already": frozenset(),
    "feedback_nothing": frozenset(),
    "feedback_reason_ask": frozenset(),
    "feedback_reason_thanks": frozenset(),
    "share_intro": frozenset(),
    "share_summary": frozenset({"scenario", "tactics"}),
    "share_nothing": frozenset(),
    "share_no_tactic": frozenset(),
    "share_unknown_scenario": frozenset(),
    "practice_intro": frozenset(),
    "practice_question": frozenset({"n", "total", "message"}),
    "practice_none": frozenset(),
    "practice_right": frozenset({"answer", "explain"}),
    "practice_wrong": frozenset({"answer", "explain"}),
    "practice_done": frozenset({"score", "total"}),
    "practice_stopped": frozenset(),
    "practice_stale": frozenset(),
    "practice_invalid": frozenset(),
    "practice_not_running": frozenset(),
    "heading_do_now": frozenset(),
    "heading_get_out": frozenset(),
    "heading_who": frozenset(),
    "heading_call": frozenset(),
    "heading_feels": frozenset(),
    "heading_recognise": frozenset(),
    "heading_do": frozenset(),
    "heading_example": frozenset(),
    "choice_out_of_range": frozenset({"n", "count"}),
    "counselor_requested": frozenset(),
    "counselor_off_duty": frozenset(),
    "counselor_already_waiting": frozenset(),
    "counselor_nothing_to_end": frozenset(),
    "counselor_ended_by_student": frozenset(),
    "counselor_joined": frozenset(),
    "counselor_left": frozenset(),
    "counselor_closed_unanswered": frozenset(),
    "counselor_follow_up": frozenset(),
    "counselor_timeout": frozenset(),
    "counselor_released": frozenset(),
    "flood_slow_down": frozenset(),
    "command_xoa": frozenset(),
    "command_help": frozenset(),
    "command_111": frozenset(),
    "command_luyentap": frozenset(),
    "command_start": frozenset(),
    "telegram_open_dialer": frozenset(),
    "telegram_copy_111": frozenset(),
    "telegram_contact_name": frozenset(),
    "group_hint": frozenset(),
    "zalo_choose": frozenset(),
    "terminal_preparing": frozenset(),
    "zalo_hotline": frozenset(),
    "zalo_hotline_zalo": frozenset({"url"}),
    "zalo_check": frozenset(),
    # The web chat's page (bot/webchat/).
    "web_title": frozenset(),
    "web_call_label": frozenset(),
    "web_call_111": frozenset(),
    "web_call_113": frozenset(),
    "web_log_label": frozenset(),
    "web_you": frozenset(),
    "web_bot": frozenset(),
    "web_counselor": frozenset(),
    "web_offline": frozenset(),
    "web_delete_question": frozenset(),
    "web_delete": frozenset(),
    "web_placeholder": frozenset(),
    "web_send": frozenset(),
    "web_slow_down": frozenset(),
    "web_too_long": frozenset(),
    "web_bad_request": frozenset(),
    "web_privacy": frozenset({"retention_days"}),
    "call_page_title": frozenset(),
    "call_page_111": frozenset(),
    "call_page_113": frozenset(),
    "call_page_note": frozenset(),
    "call_page_zalo": frozenset(),
    "delete_confirm": frozenset(),
    "deleted": frozenset(),
    "delete_cancelled": frozenset(),
    # Counselor-facing texts of the counselors' Telegram group.
    "alert_topic": frozenset({"case_id", "priority"}),
    "alert_new": frozenset({"case_id", "priority", "reason", "tactics"}),
    "alert_priority_urgent": frozenset(),
    "alert_priority_normal": frozenset(),
    "alert_priority_serious": frozenset(),
    "alert_reason_crisis": frozenset(),
    "alert_reason_student": frozenset(),
    "alert_reason_counselor": frozenset(),
    "alert_no_tactics": frozenset(),
    "alert_again": frozenset({"case_id", "minutes"}),
    "alert_claimed": frozenset({"case_id", "name"}),
    "alert_released": frozenset({"case_id", "name"}),
    "alert_resolved": frozenset({"case_id", "name"}),
    "alert_cancelled": frozenset({"case_id"}),
    "alert_student": frozenset({"text"}),
    "alert_student_other": frozenset(),
    "alert_student_hidden": frozenset(),
    "alert_claim_button": frozenset(),
    "alert_console_button": frozenset(),
    "relay_not_linked": frozenset({"telegram_id"}),
    "relay_not_yours": frozenset({"case_id"}),
    "relay_closed": frozenset({"case_id"}),
    "relay_claimed": frozenset({"case_id"}),
    "relay_too_long": frozenset({"limit"}),
    "relay_student_gone": frozenset(),
    "hotline_113": frozenset(),
    "telegram_contact_name_113": frozenset(),
}
# The action ids a button may carry.
ACTIONS: frozenset[str] = frozenset(
    {
        "call_111",
        "call_113",
        "talk_to_counselor",
        "learn_more",
        "share_with_adult",
        "helpful",
        "not_helpful",
        "feedback_skip",
        "menu",
        "delete_confirm",
        "delete_cancel",
        "practice_start",
        "practice_stop",
        "cancel_case",
        "end_chat",
        "explain_tactics",
    }
)


@dataclass(frozen=True)
class WordLimits:
    """How long what a student reads may be, in words (count_words): the core keeps its turns within
    these, and the content check proves the library's texts leave room for them."""

    # A crisis turn: one calm message.
    crisis: int = 100
    # The first answer to a message with tactics, before its buttons.
    answer: int = 150
    # One quote of the other party's words.
    quote: int = 12
    # A reply to a follow-up ("em lỡ chuyển rồi", "cảm ơn"), before its buttons.
    followup: int = 120


WORD_LIMITS = WordLimits()


def count_words(text: str) -> int:
    """Words as a reader counts them: whitespace-separated pieces with a letter or a digit (an emoji or
    a bullet alone is not a word)."""
    return sum(1 for piece in text.split() if any(c.isalnum() for c in piece))


# Commands shown in a channel's menu, in this order (descriptions: texts "command_<name>").
MENU_COMMANDS = ("start", "luyentap", "111", "help", "xoa")


class ClassifierUnavailable(Exception):
    """The classifier could not answer (server down, timeout, broken model)."""


class ImageUnreadable(Exception):
    """An image the bot cannot read; `code` says why: too_big, format, too_many_pixels, corrupt,
    timeout, no_text, ocr_missing."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class StorageUnavailable(Exception):
    """The database could not be read or written."""


class Classifier(Protocol):
    name: str

    async def analyze(self, text: str) -> Analysis:
        """Return the tactics, crisis flag and evidence found in one message."""
        ...


class ImageReader(Protocol):
    async def read(self, image: bytes) -> str:
        """The text in an image (may be empty); raises ImageUnreadable."""
        ...


class GuidanceLibrary(Protocol):
    def text(self, key: str, **values: str) -> str:
        """The teen-facing text stored under `key`, with `{name}` placeholders filled."""
        ...

    def label(self, action: str) -> str:
        """The button label for an action id."""
        ...

    def tactic_name(self, tactic: Tactic) -> str:
        """The short Vietnamese name of a tactic."""
        ...

    def tactic_guidance(self, tactic: Tactic) -> str:
        """How to recognise a tactic and what to do, as one text."""
        ...

    def scenario_title(self, scenario: str) -> str | None:
        """The short title of a scenario, if the library has guidance for it."""
        ...

    def scenario_guidance(self, scenario: str) -> str | None:
        """What to do now and how to get out, for one scenario (None when there is no guide)."""
        ...

    def scenario_tactics(self, scenario: str) -> frozenset[Tactic]:
        """The tactics a scenario typically shows (empty when there is no guide)."""
        ...

    def crisis_guidance(self, kind: str) -> str | None:
        """The full guide for an acute danger: its steps and comfort (None for an unknown kind)."""
        ...

    def scenario_card(self, scenario: str) -> ScenarioCard | None:
        """The short answer's parts for a scenario (None when there is no guide)."""
        ...

    def crisis_card(self, kind: str) -> CrisisCard | None:
        """The parts of the one calm crisis message for a kind of danger (None for an unknown kind)."""
        ...

    def undo_card(self, act: Act) -> UndoCard:
        """What to do after the student already did `act`."""
        ...

    def howto(self, topic: HowTo, app: App | None) -> HowToCard:
        """Steps for a how-to ("đổi mật khẩu") on an app, or the generic ones."""
        ...

    def tactic_step(self, tactic: Tactic) -> str:
        """The one step that matters most against a tactic (when the scenario is unsure)."""
        ...

    def practice_questions(self) -> list[PracticeQuestion]:
        """The practice game's rounds."""
        ...

    def canned_replies(self) -> list[CannedReply]:
        """The counselors' ready-made replies, in their order."""
        ...


class UserRepository(Protocol):
    async def get(self, user_id: str) -> User | None:
        """The user with this pseudonymous id, if any."""
        ...

    async def touch(self, user_id: str, channel: Channel, chat_id: str | None, now: datetime) -> User:
        """Create the user or update when it was last seen (and its delivery chat id)."""
        ...

    async def delete(self, user_id: str) -> bool:
        """Delete the user and everything stored about them, leaving no copy behind once committed
        (a database's log files included); False when there was nothing."""
        ...


class ConversationRepository(Protocol):
    async def current(self, user_id: str) -> Conversation | None:
        """The user's most recent conversation, if any."""
        ...

    async def by_id(self, conversation_id: int) -> Conversation | None:
        """One conversation."""
        ...

    async def open(self, user_id: str, now: datetime) -> Conversation:
        """Start a new conversation in state `bot`."""
        ...

    async def set_state(self, conversation_id: int, state: ConversationState, now: datetime) -> None:
        """Move a conversation to another state."""
        ...

    async def set_context(self, conversation_id: int, context: dict[str, Any], now: datetime) -> None:
        """Replace the conversation's sub-state (practice round, awaited feedback reason)."""
        ...

    async def purge_before(self, cutoff: datetime) -> int:
        """Delete never-escalated conversations untouched since `cutoff` (and what hangs on them),
        leaving no copy behind once committed."""
        ...


class MessageRepository(Protocol):
    async def add(
        self,
        *,
        conversation_id: int,
        direction: Direction,
        kind: MessageKind,
        now: datetime,
        text: str | None = None,
        action: str | None = None,
        buttons: tuple[Button, ...] = (),
        author: str | None = None,
        touch: bool = True,
    ) -> int:
        """Store one message and return its id. With `touch` (and unless it is the bot's own reply),
        the conversation's last activity becomes `now` (what the retention limit counts from)."""
        ...

    async def set_text(self, message_id: int, text: str) -> None:
        """Record the text read from an incoming image (the image itself is not kept)."""
        ...

    async def attach_analysis(self, message_id: int, analysis: Analysis) -> None:
        """Record the classifier's analysis on an incoming message."""
        ...

    async def last_analysed(self, conversation_id: int) -> StoredMessage | None:
        """The newest incoming message of a conversation that carries an analysis."""
        ...

    async def recent(self, conversation_id: int, limit: int) -> list[StoredMessage]:
        """The conversation's last `limit` messages, oldest first."""
        ...

    async def list_for(self, conversation_id: int) -> list[StoredMessage]:
        """All messages of a conversation, oldest first."""
        ...


class FeedbackRepository(Protocol):
    async def record(self, message_id: int, helpful: bool, now: datetime) -> bool:
        """Record feedback on an answered message; False when it already had feedback."""
        ...

    async def set_reason(self, message_id: int, reason: str) -> None:
        """Attach the student's reason to their feedback."""
        ...


class CaseRepository(Protocol):
    async def open(self, conversation_id: int, priority: CasePriority, opened_by: str, now: datetime) -> Case:
        """Open a waiting case for a conversation."""
        ...

    async def active_for(self, conversation_id: int) -> Case | None:
        """The conversation's waiting or claimed case, if any."""
        ...

    async def raise_priority(self, case_id: int, priority: CasePriority) -> None:
        """Make an open case urgent (a conversation that got worse)."""
        ...

    async def get(self, case_id: int) -> Case | None:
        """One case."""
        ...

    async def listed(self, status: CaseStatus | None = None, limit: int = 200, offset: int = 0) -> list[Case]:
        """Cases, urgent first, then the longest waiting."""
        ...

    async def count(self, status: CaseStatus | None = None) -> int:
        """How many cases there are (with this status)."""
        ...

    async def claim(self, case_id: int, counselor_id: int, now: datetime) -> bool:
        """Claim a waiting case; False when someone else got it first."""
        ...

    async def release(self, case_id: int, counselor_id: int) -> bool:
        """Put a claimed case back in the queue; only its counselor can."""
        ...

    async def close(
        self,
        case_id: int,
        status: CaseStatus,
        outcome: CaseOutcome | None,
        now: datetime,
        *,
        referral: Referral | None = None,
        follow_up_on: date | None = None,
    ) -> bool:
        """Resolve or cancel an open case (with where it was referred and a follow-up day); False
        when it was already closed."""
        ...

    async def set_risk(self, case_id: int, risk: RiskAssessment) -> None:
        """Record the case's risk checklist as the counselor filled it in now."""
        ...

    async def transfer(self, case_id: int, from_id: int | None, to_id: int) -> bool:
        """Hand a claimed case to another counselor (from `from_id`, or from anyone when None);
        False when the case is not claimed (by them)."""
        ...

    async def follow_ups_due(self, today: date) -> list[Case]:
        """Resolved cases whose follow-up day has come and that nobody has reopened yet."""
        ...

    async def mark_followed_up(self, case_id: int, now: datetime) -> None:
        """The case's follow-up was taken (it leaves the queue)."""
        ...

    async def waiting_since(self, cutoff: datetime) -> list[Case]:
        """Waiting cases opened before `cutoff` whose student was not yet told about the wait."""
        ...

    async def mark_timeout_notified(self, case_id: int, now: datetime) -> None:
        """Remember that the student was told nobody has claimed the case yet."""
        ...

    async def mark_alerted(self, case_id: int, now: datetime) -> None:
        """Remember when counselors were last alerted about the case."""
        ...

    async def urgent_alerted_before(self, cutoff: datetime) -> list[Case]:
        """Urgent waiting cases whose last alert to counselors was before `cutoff`."""
        ...

    async def by_alert_thread(self, thread_id: int) -> Case | None:
        """The case whose topic in the counselors' group is `thread_id`."""
        ...

    async def set_alert_thread(self, case_id: int, thread_id: int) -> None:
        """Remember the case's topic in the counselors' group."""
        ...


class OutboxRepository(Protocol):
    async def add(
        self,
        user_id: str,
        channel: Channel,
        text: str,
        buttons: tuple[Button, ...],
        now: datetime,
        *,
        audience: str = "student",
        case_id: int | None = None,
    ) -> int:
        """Queue a message for a student (or, audience "counselors", for the case's topic)."""
        ...

    async def add_turn(
        self,
        user_id: str,
        channel: Channel,
        replies: Sequence[tuple[str, tuple[Button, ...]]],
        now: datetime,
        lease_until: datetime,
    ) -> list[OutboxItem] | None:
        """Queue a turn's messages for a student, leased to the caller until `lease_until` (the
        leased items, oldest first), unless a message of theirs is already pending: then they wait
        behind it, unleased, and None is returned."""
        ...

    async def take_due(
        self,
        channel: Channel,
        now: datetime,
        lease_until: datetime,
        limit: int,
        audience: str = "student",
        user_id: str | None = None,
    ) -> list[OutboxItem]:
        """Lease due messages to this worker (of one student only, when `user_id` is given)."""
        ...

    async def students_due(self, channel: Channel, now: datetime, limit: int) -> list[str]:
        """Students with a message due for them now, oldest first (nothing is leased)."""
        ...

    async def mark_sent(self, item_id: int, now: datetime) -> None:
        """Delivered: never sent again."""
        ...

    async def retry_at(self, item_id: int, when: datetime) -> None:
        """Not delivered this time: try again at `when`."""
        ...

    async def extend_lease(self, item_ids: list[int], until: datetime) -> None:
        """Items leased and still waiting their turn to be sent: keep them leased until `until`."""
        ...

    async def give_up(self, item_id: int) -> None:
        """Undeliverable."""
        ...

    async def purge_done_before(self, cutoff: datetime) -> int:
        """Forget items sent or given up before `cutoff` (the transcript keeps what was said)."""
        ...


class DeliveryRepository(Protocol):
    async def record(self, channel: Channel, delivery_id: str, message_id: int | None, now: datetime) -> bool:
        """Record a new delivery and the message it brought; False when it was recorded before."""
        ...

    async def seen(self, channel: Channel, delivery_id: str) -> SeenDelivery | None:
        """The delivery as recorded before, or None."""
        ...

    async def answered(self, channel: Channel, delivery_id: str) -> None:
        """The delivery's replies are stored (and queued): a repeat of it needs no answer."""
        ...

    async def purge_before(self, cutoff: datetime) -> int:
        """Forget delivery ids seen before `cutoff`."""
        ...


class InboxRepository(Protocol):
    """Platform updates stored before they are acknowledged, handled one at a time per chat."""

    async def add(
        self,
        channel: Channel,
        chat_key: str,
        delivery_id: str,
        payload: Any,
        now: datetime,
        lease_until: datetime | None = None,
    ) -> tuple[bool, InboxItem | None]:
        """Store an update: (False, None) when the same delivery is already stored (a platform's
        retry). With `lease_until`, the update is also leased to the caller at once, unless an
        earlier update of its chat is pending (then it waits its turn)."""
        ...

    async def take_due(
        self, now: datetime, lease_until: datetime, limit: int, done: Sequence[int] = ()
    ) -> list[InboxItem]:
        """Mark `done` items handled, then lease the oldest pending item of chats that have no
        earlier pending item (per-chat order across workers)."""
        ...

    async def renew(self, item_ids: Sequence[int], lease_until: datetime) -> None:
        """Keep the leases of items still being handled."""
        ...

    async def purge_done_before(self, cutoff: datetime) -> int:
        """Forget handled items."""
        ...


class FingerprintRepository(Protocol):
    async def add(self, user_id: str, fingerprint: Fingerprint, scenario: str | None, now: datetime) -> None:
        """Keep a message's fingerprint (never its text)."""
        ...

    async def candidates(
        self, fingerprint: Fingerprint, since: datetime, exclude_user: str
    ) -> list[tuple[str, tuple[int, ...]]]:
        """Other students' fingerprints since `since` that may be near-duplicates: (user, signature)."""
        ...

    async def purge_before(self, cutoff: datetime) -> int:
        """Forget fingerprints older than `cutoff`."""
        ...


class RedFlagFinder(Protocol):
    def find(self, text: str) -> tuple[RedFlag, ...]:
        """Red flags of a message: links, phones, bank details, money, OTP and app-switch requests."""
        ...

    def defang(self, text: str) -> str:
        """The text with every link made untappable (hxxps://example[.]com)."""
        ...


class Fingerprinter(Protocol):
    def fingerprint(self, text: str) -> Fingerprint | None:
        """A message's fingerprint; None when it is too short to compare."""
        ...


class UnitOfWork(Protocol):
    @property
    def users(self) -> UserRepository: ...

    @property
    def conversations(self) -> ConversationRepository: ...

    @property
    def messages(self) -> MessageRepository: ...

    @property
    def feedback(self) -> FeedbackRepository: ...

    @property
    def cases(self) -> CaseRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def deliveries(self) -> DeliveryRepository: ...

    @property
    def fingerprints(self) -> FingerprintRepository: ...

    @property
    def inbox(self) -> InboxRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None:
        """Make everything done in this unit permanent."""
        ...

    async def rollback(self) -> None:
        """Undo everything not yet committed."""
        ...
