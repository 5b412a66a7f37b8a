"""Domain models shared by the core and every adapter (frozen pydantic models at the boundaries)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Tactic(StrEnum):
    """The three tactics of the Không Một Mình campaign; one slug everywhere."""

    FEAR = "fear"
    MANIPULATION = "manipulation"
    CONTROL = "control"


class Severity(StrEnum):
    """How urgent a message is: danger now (the crisis turn and an urgent case), serious (111 first and a
    counselor offered), or none."""

    NONE = "none"
    SERIOUS = "serious"
    IMMINENT = "imminent"


class CrisisKind(StrEnum):
    """The kinds of acute danger, each with its own calm first step (content/library/*/crisis/)."""

    SELF_HARM = "self_harm"
    SEXTORTION_NOW = "sextortion_now"
    KIDNAPPING_NOW = "kidnapping_now"
    MEETING_NOW = "meeting_now"


class CrisisDetail(StrEnum):
    """A detail of a crisis message that changes the first thing to do."""

    HURT = "hurt"  # already hurt, took pills: 115
    HOLDING = "holding"  # pills or a blade in hand: put it down, away, to an adult
    HIGH_PLACE = "high_place"  # on a rooftop, a bridge: step back, go inside
    IN_CAR = "in_car"  # being driven away, not let out: 113 if possible, location to family
    AT_DOOR = "at_door"  # someone at the door / knows the address: lock the door, 113
    HOTEL = "hotel"  # at a hotel or guest house: go to the lobby, to people
    ON_THE_WAY = "on_the_way"  # on the way to a meeting: stop, turn back
    CAMERA = "camera"  # asked to turn the camera on / undress: don't
    LOW_BATTERY = "low_battery"  # the phone is dying: the one call first
    PARENT_UNREACHABLE = "parent_unreachable"  # mum does not answer: 113 or the nearest adult
    CALL_PARENT = "call_parent"  # asks whether to call mum or dad: yes, now
    FOLLOWED = "followed"  # someone is following the student: go inside, to people, 113
    PAID = "paid"  # money already sent during the crisis: the bank, now


class Act(StrEnum):
    """What a student already did that a scammer asked for (the answer then leads with undo steps)."""

    PAID = "paid"
    SENT_PHOTOS = "sent_photos"
    GAVE_CODE = "gave_code"
    INSTALLED = "installed"
    CLICKED = "clicked"
    SHARED_INFO = "shared_info"
    MET = "met"


class Question(StrEnum):
    """What the student asked about the message, so the answer's first line answers it."""

    IS_REAL = "is_real"  # "thật không?", "real hay fake?"
    IS_SCAM = "is_scam"  # "có phải lừa đảo không?"
    CONSEQUENCE = "consequence"  # "em có bị bắt thật không?", "bị kiện thật không?"
    SHOULD_I = "should_i"  # "em có nên chuyển không?"
    SHOULD_TELL = "should_tell"  # "em có nên kể với mẹ không?": yes, first
    WHAT_NOW = "what_now"  # "giờ em phải làm sao?"


class FollowUp(StrEnum):
    """What a student's reply does after an answer (issue 17); a new message to judge is none of these."""

    ALREADY_DID = "already_did"  # "em lỡ chuyển rồi"
    WHAT_NOW = "what_now"  # "giờ sao", "đổi mật khẩu kiểu gì"
    IS_IT_REAL = "is_it_real"  # "vậy là lừa thật hả", "có nên gửi thêm không"
    PUSHBACK = "pushback"  # "nhưng anh ấy tốt với em mà"
    AFRAID_ADULTS = "afraid_adults"  # "em sợ mẹ mắng"
    THANKS = "thanks"
    BYE = "bye"
    ESCALATION = "escalation"  # "nó vừa nói biết nhà em"
    HELPING_FRIEND = "helping_friend"  # "làm sao khuyên bạn em"
    GREET = "greet"
    WHO_ARE_YOU = "who_are_you"


class Escalation(StrEnum):
    """What just got worse in a conversation: the line that leads the crisis turn."""

    ADDRESS = "address"  # they know where the student lives or studies, they are outside
    COUNTDOWN = "countdown"  # a deadline threat
    MEETING = "meeting"  # a meeting tonight or tomorrow


class HowTo(StrEnum):
    """A how-to a student asks for after the answer."""

    PASSWORD = "password"  # noqa: S105 (a topic name) change it, log out other devices, two-factor
    RECOVER = "recover"  # the account was taken over (password or email changed): the app's recovery
    REPORT = "report"  # report and block the account
    MONEY_BACK = "money_back"  # can the money come back
    BANK_LOCK = "bank_lock"  # lock the card through a parent
    DELETE_PHOTOS = "delete_photos"  # get a photo or post taken down


class App(StrEnum):
    """The app a how-to is for."""

    FACEBOOK = "facebook"
    ZALO = "zalo"
    TIKTOK = "tiktok"
    INSTAGRAM = "instagram"
    GAME = "game"
    GENERIC = "generic"


class Channel(StrEnum):
    TERMINAL = "terminal"
    TELEGRAM = "telegram"
    ZALO = "zalo"
    WEB = "web"


class MessageKind(StrEnum):
    TEXT = "text"
    ACTION = "action"
    COMMAND = "command"
    IMAGE = "image"
    STICKER = "sticker"
    VOICE = "voice"
    FILE = "file"
    LOCATION = "location"
    # The platform told the bot a message came, without its content (Zalo hides minors' messages).
    HIDDEN = "hidden"
    OTHER = "other"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class ConversationState(StrEnum):
    BOT = "bot"
    AWAITING_COUNSELOR = "awaiting_counselor"
    WITH_COUNSELOR = "with_counselor"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Evidence(Frozen):
    """A span of the original text that shows a tactic (or crisis)."""

    tactic: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str
    # The quote stops before its sentence does (shown with "…").
    cut: bool = False


class RedFlagKind(StrEnum):
    """Concrete dangerous details in a message, named in plain words to the student."""

    LINK = "link"
    PHONE = "phone"
    BANK_ACCOUNT = "bank_account"
    BANK_NAME = "bank_name"
    MONEY = "money"
    OTP_REQUEST = "otp_request"
    APP_SWITCH = "app_switch"
    INSTALL = "install"


class RedFlag(Frozen):
    """One red flag: what it is, where it is, and why it is dangerous (reason codes)."""

    kind: RedFlagKind
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    # What the student is shown; a link is always defanged (hxxps://example[.]com) so it cannot be tapped.
    shown: str = Field(max_length=200)
    # Why, as codes the content library explains, e.g. "lookalike:vietcombank", "shortener", "ip_host".
    reasons: tuple[str, ...] = ()


class Fingerprint(Frozen):
    """A message's MinHash fingerprint: comparable with others, unreadable (see nlu/fingerprint.py)."""

    signature: tuple[int, ...]
    bands: tuple[str, ...]


class Analysis(Frozen):
    """What the classifier saw in one message."""

    tactics: tuple[Tactic, ...] = ()
    scores: dict[str, float] = Field(default_factory=dict)
    crisis: bool = False
    crisis_score: float = 0.0
    evidence: tuple[Evidence, ...] = ()
    scenario: str | None = None
    unsure: bool = False
    backend: str = "none"
    red_flags: tuple[RedFlag, ...] = ()
    # none / serious / imminent; imminent is `crisis`.
    severity: Severity = Severity.NONE
    severity_score: float = 0.0
    # The kind of acute danger (set with crisis), chosen by what the student describes.
    crisis_kind: CrisisKind | None = None
    # Details of a crisis that change the first step ("on a rooftop", "took pills"), most urgent first.
    details: tuple[CrisisDetail, ...] = ()
    # What the student says they already did (paid, sent photos, gave a code…).
    already_did: tuple[Act, ...] = ()
    # The student writes about someone else at risk (a friend, a sibling), not about themself.
    about_other: bool = False
    # What the student asked about the message, if anything.
    question: Question | None = None
    # The message tells of something over ("năm ngoái", "hồi lớp 7", "đã chặn").
    past: bool = False
    # As a reply after an answer: what it does (with the classifier's probability), the how-to it asks
    # for and the app it names, and what got worse.
    followup: FollowUp | None = None
    followup_score: float = 0.0
    # The follow-up intent is likelier than "a new message to judge".
    followup_top: bool = False
    howto: HowTo | None = None
    app: App | None = None
    escalation: Escalation | None = None

    def evidence_for(self, tactic: str) -> list[Evidence]:
        """The evidence spans recorded for one tactic (or 'crisis')."""
        return [e for e in self.evidence if e.tactic == tactic]


class Incoming(Frozen):
    """One thing a student sent, as a channel adapter understood it."""

    channel: Channel
    platform_user_id: str = Field(min_length=1, max_length=200)
    chat_id: str | None = None
    kind: MessageKind = MessageKind.TEXT
    text: str | None = None
    action: str | None = None
    received_at: datetime | None = None
    # The platform's id of this delivery (update or message id): a repeat of it is answered once.
    delivery_id: str | None = Field(default=None, max_length=64)
    # The channel shows buttons as numbered options (no buttons): a lone number picks one.
    numbered: bool = False
    # An image (kind IMAGE) as downloaded by the channel, or why the channel could not get it
    # ("too_big", "download"). The image is read and forgotten; only its text is stored.
    image: bytes | None = Field(default=None, repr=False)
    image_error: str | None = None
    # The channel delivers replies from the outbox: the turn's replies are queued in the same
    # transaction that records them, so a crash after it loses no reply and sends none twice.
    queue_replies: bool = False
    # The channel sends the turn's queued replies itself at once: they are leased to it for this many
    # seconds in that same transaction (Turn.leased), instead of in one more.
    lease_replies_s: float | None = None


class Button(Frozen):
    label: str
    action: str


class Reply(Frozen):
    """One bot message: text plus buttons, each button an action id."""

    text: str
    buttons: tuple[Button, ...] = ()
    # What the message is made of, as content keys ("card:sextortion", "undo:paid", "intro"): for
    # tests and reviews of what a student receives; never rendered, never stored.
    parts: tuple[str, ...] = Field(default=(), exclude=True)


class Turn(Frozen):
    """The bot's answer to one incoming message, with the analysis it was based on."""

    replies: tuple[Reply, ...]
    analysis: Analysis | None = None
    user_id: str
    # The same delivery came before and was answered then: nothing to send.
    duplicate: bool = False
    # The replies are in the outbox (Incoming.queue_replies): the channel delivers them from there.
    queued: bool = False
    # The student's due outbox items, the turn's replies among them, leased to the channel in the
    # turn's transaction (Incoming.lease_replies_s), oldest first.
    leased: tuple[OutboxItem, ...] = ()


class InboxItem(Frozen):
    """A platform update (its raw JSON) waiting to be handled."""

    id: int
    channel: Channel
    chat_key: str
    payload: Any
    attempts: int = 0


class SeenDelivery(Frozen):
    """A platform delivery recorded before: the message it brought, and whether it was answered."""

    message_id: int | None
    answered: bool


class User(Frozen):
    id: str
    channel: Channel
    chat_id: str | None = None
    created_at: datetime
    last_seen_at: datetime


class Conversation(Frozen):
    id: int
    user_id: str
    state: ConversationState
    context: dict[str, Any] = Field(default_factory=dict)
    escalated_at: datetime | None = None
    started_at: datetime
    updated_at: datetime


class StoredMessage(Frozen):
    id: int
    conversation_id: int
    direction: Direction
    kind: MessageKind
    text: str | None = None
    action: str | None = None
    buttons: tuple[Button, ...] = ()
    analysis: Analysis | None = None
    author: str | None = None
    created_at: datetime


class ScenarioCard(Frozen):
    """The short answer's parts for one scam scenario (its full guide is shown on request)."""

    scenario: str
    title: str
    tactics: frozenset[Tactic]
    verdict: str
    tell: str
    steps: tuple[str, ...]
    # Undo steps of this scenario for what the student already did (the generic ones otherwise).
    undo: dict[Act, tuple[str, ...]] = Field(default_factory=dict)
    # Follow-ups: the facts that prove this trick, and a kind answer to the student's doubt.
    proof: str = ""
    pushback: str = ""


class CrisisCard(Frozen):
    """The parts of the one calm crisis message for one kind of danger."""

    kind: CrisisKind
    ack: str
    first_step: str
    call: str
    details: dict[CrisisDetail, str] = Field(default_factory=dict)
    for_other: str
    with_scam: str | None = None


class UndoCard(Frozen):
    """What to do after the student already did one thing a scammer asked."""

    act: Act
    lead: str
    if_done: str
    steps: tuple[str, ...]


class HowToCard(Frozen):
    """Steps for one how-to on one app."""

    topic: HowTo
    title: str
    steps: tuple[str, ...]


class CannedReply(Frozen):
    """A reply a counselor inserts with one key and edits before sending (content/…/canned.yml)."""

    key: str
    label: str
    text: str


class PracticeQuestion(Frozen):
    """One round of the practice game: a message and the tactics it really shows."""

    id: str
    message: str
    tactics: frozenset[Tactic]
    explain: str


class CaseStatus(StrEnum):
    WAITING = "waiting"
    CLAIMED = "claimed"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


class CasePriority(StrEnum):
    """Urgent: a crisis opened it; serious: the student asked after a serious message; normal."""

    URGENT = "urgent"
    SERIOUS = "serious"
    NORMAL = "normal"


class CaseOutcome(StrEnum):
    ADVICE_GIVEN = "advice_given"
    REFERRED_111 = "referred_111"
    REFERRED_113 = "referred_113"
    NO_RESPONSE = "no_response"
    OTHER = "other"


class Answer(StrEnum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


class Place(StrEnum):
    HOME = "home"
    SCHOOL = "school"
    OUTSIDE = "outside"
    UNKNOWN = "unknown"


class SelfHarm(StrEnum):
    NONE = "none"
    THOUGHTS = "thoughts"
    ACTS = "acts"
    UNKNOWN = "unknown"


class RiskAssessment(Frozen):
    """The helpline's short risk checklist, as the counselor last recorded it for a case."""

    safe_now: Answer = Answer.UNKNOWN
    place: Place = Place.UNKNOWN
    # A trusted adult is with the child now.
    with_adult: Answer = Answer.UNKNOWN
    self_harm: SelfHarm = SelfHarm.UNKNOWN
    # The abuser set a deadline ("by tonight", "in an hour").
    deadline: Answer = Answer.UNKNOWN
    evidence_kept: Answer = Answer.UNKNOWN


class Referral(StrEnum):
    """Where a case was referred on resolution."""

    NONE = "none"
    HOTLINE_111 = "hotline_111"
    POLICE_113 = "police_113"
    MEDICAL_115 = "medical_115"
    SCHOOL = "school_counselor"
    PARENTS = "parents"


class Case(Frozen):
    """A conversation handed to a human counselor."""

    id: int
    conversation_id: int
    priority: CasePriority
    status: CaseStatus
    opened_by: str
    counselor_id: int | None = None
    outcome: CaseOutcome | None = None
    created_at: datetime
    claimed_at: datetime | None = None
    closed_at: datetime | None = None
    risk: RiskAssessment | None = None
    referral: Referral | None = None
    # Resolved with a follow-up: the case comes back to the queue that day, until someone reopens it.
    follow_up_on: date | None = None
    followed_up_at: datetime | None = None
    timeout_notified_at: datetime | None = None
    alert_thread_id: int | None = None
    last_alert_at: datetime | None = None


class OutboxItem(Frozen):
    """A message waiting to be delivered to a student outside a reply (a counselor's, a notice)."""

    id: int
    user_id: str
    channel: Channel
    text: str
    buttons: tuple[Button, ...] = ()
    attempts: int = 0
    # "student", or "counselors": an alert for the case's topic in the counselors' group.
    audience: str = "student"
    case_id: int | None = None
    # Replies of one turn share the time they were stored: a channel that renders a turn as a whole
    # (Zalo's numbered options) sends them together, also when they are sent late.
    created_at: datetime | None = None


class Counselor(Frozen):
    id: int
    name: str
    role: str
    telegram_user_id: int | None = None
