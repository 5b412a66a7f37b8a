"""Test doubles for unit tests of the core only: an in-memory unit of work and a scripted classifier."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Any, Self

from handlers.models import (
    Analysis,
    Button,
    Case,
    CaseOutcome,
    CasePriority,
    CaseStatus,
    Channel,
    Conversation,
    ConversationState,
    Direction,
    Fingerprint,
    InboxItem,
    MessageKind,
    OutboxItem,
    Referral,
    RiskAssessment,
    SeenDelivery,
    StoredMessage,
    User,
)
from handlers.ports import ClassifierUnavailable


class InMemoryStore:
    """What an in-memory database holds; shared by every unit of work made from it."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.conversations: dict[int, Conversation] = {}
        self.messages: dict[int, StoredMessage] = {}
        self.feedback: dict[int, tuple[bool, str | None]] = {}
        self.cases: dict[int, Case] = {}
        self.outbox: dict[int, OutboxItem] = {}
        self.deliveries: dict[tuple[str, str], tuple[datetime, int | None, bool]] = {}
        self.fingerprints: list[tuple[str, Fingerprint, datetime]] = []
        self.inbox: dict[int, dict[str, Any]] = {}
        self.ids = itertools.count(1)
        self.commits = 0


class InMemoryUserRepository:
    def __init__(self, pending: InMemoryStore) -> None:
        self.s = pending

    async def get(self, user_id: str) -> User | None:
        return self.s.users.get(user_id)

    async def touch(self, user_id: str, channel: Channel, chat_id: str | None, now: datetime) -> User:
        old = self.s.users.get(user_id)
        user = User(
            id=user_id,
            channel=channel,
            chat_id=chat_id or (old.chat_id if old else None),
            created_at=old.created_at if old else now,
            last_seen_at=now,
        )
        self.s.users[user_id] = user
        return user

    async def delete(self, user_id: str) -> bool:
        convs = [c.id for c in self.s.conversations.values() if c.user_id == user_id]
        for mid in [m.id for m in self.s.messages.values() if m.conversation_id in convs]:
            del self.s.messages[mid]
        for cid in convs:
            del self.s.conversations[cid]
        return self.s.users.pop(user_id, None) is not None


class InMemoryConversationRepository:
    def __init__(self, pending: InMemoryStore) -> None:
        self.s = pending

    async def current(self, user_id: str) -> Conversation | None:
        mine = [c for c in self.s.conversations.values() if c.user_id == user_id]
        return max(mine, key=lambda c: c.id) if mine else None

    async def by_id(self, conversation_id: int) -> Conversation | None:
        return self.s.conversations.get(conversation_id)

    async def open(self, user_id: str, now: datetime) -> Conversation:
        conv = Conversation(
            id=next(self.s.ids), user_id=user_id, state=ConversationState.BOT, started_at=now, updated_at=now
        )
        self.s.conversations[conv.id] = conv
        return conv

    async def set_state(self, conversation_id: int, state: ConversationState, now: datetime) -> None:
        conv = self.s.conversations[conversation_id]
        self.s.conversations[conversation_id] = conv.model_copy(update={"state": state, "updated_at": now})

    async def set_context(self, conversation_id: int, context: dict[str, Any], now: datetime) -> None:
        conv = self.s.conversations[conversation_id]
        self.s.conversations[conversation_id] = conv.model_copy(
            update={"context": context, "updated_at": now}
        )

    async def purge_before(self, cutoff: datetime) -> int:
        old = [
            c.id for c in self.s.conversations.values() if c.updated_at < cutoff and c.escalated_at is None
        ]
        for cid in old:
            for mid in [m.id for m in self.s.messages.values() if m.conversation_id == cid]:
                del self.s.messages[mid]
                self.s.feedback.pop(mid, None)
            del self.s.conversations[cid]
        for uid in [
            u for u in self.s.users if not any(c.user_id == u for c in self.s.conversations.values())
        ]:
            del self.s.users[uid]
        return len(old)


class InMemoryMessageRepository:
    def __init__(self, pending: InMemoryStore) -> None:
        self.s = pending

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
        mid = next(self.s.ids)
        self.s.messages[mid] = StoredMessage(
            id=mid,
            conversation_id=conversation_id,
            direction=direction,
            kind=kind,
            text=text,
            action=action,
            buttons=buttons,
            author=author,
            created_at=now,
        )
        return mid

    async def set_text(self, message_id: int, text: str) -> None:
        self.s.messages[message_id] = self.s.messages[message_id].model_copy(update={"text": text})

    async def attach_analysis(self, message_id: int, analysis: Analysis) -> None:
        self.s.messages[message_id] = self.s.messages[message_id].model_copy(update={"analysis": analysis})

    async def last_analysed(self, conversation_id: int) -> StoredMessage | None:
        mine = [
            m
            for m in self.s.messages.values()
            if m.conversation_id == conversation_id and m.direction is Direction.IN and m.analysis is not None
        ]
        return max(mine, key=lambda m: m.id) if mine else None

    async def recent(self, conversation_id: int, limit: int) -> list[StoredMessage]:
        return (await self.list_for(conversation_id))[-limit:]

    async def list_for(self, conversation_id: int) -> list[StoredMessage]:
        return sorted(
            (m for m in self.s.messages.values() if m.conversation_id == conversation_id), key=lambda m: m.id
        )


class InMemoryFeedbackRepository:
    def __init__(self, pending: InMemoryStore) -> None:
        self.s = pending

    async def record(self, message_id: int, helpful: bool, now: datetime) -> bool:
        if message_id in self.s.feedback:
            return False
        self.s.feedback[message_id] = (helpful, None)
        return True

    async def set_reason(self, message_id: int, reason: str) -> None:
        helpful, _ = self.s.feedback[message_id]
        self.s.feedback[message_id] = (helpful, reason)


OPEN = (CaseStatus.WAITING, CaseStatus.CLAIMED)


class InMemoryCaseRepository:
    def __init__(self, pending: InMemoryStore) -> None:
        self.s = pending

    async def open(self, conversation_id: int, priority: CasePriority, opened_by: str, now: datetime) -> Case:
        case = Case(
            id=next(self.s.ids),
            conversation_id=conversation_id,
            priority=priority,
            status=CaseStatus.WAITING,
            opened_by=opened_by,
            created_at=now,
        )
        self.s.cases[case.id] = case
        conv = self.s.conversations[conversation_id]
        if conv.escalated_at is None:
            self.s.conversations[conversation_id] = conv.model_copy(update={"escalated_at": now})
        return case

    async def raise_priority(self, case_id: int, priority: CasePriority) -> None:
        case = self.s.cases[case_id]
        if case.status in OPEN:
            self.s.cases[case_id] = case.model_copy(update={"priority": priority})

    async def active_for(self, conversation_id: int) -> Case | None:
        found = [
            c for c in self.s.cases.values() if c.conversation_id == conversation_id and c.status in OPEN
        ]
        return max(found, key=lambda c: c.id) if found else None

    async def get(self, case_id: int) -> Case | None:
        return self.s.cases.get(case_id)

    async def listed(self, status: CaseStatus | None = None, limit: int = 200, offset: int = 0) -> list[Case]:
        return [c for c in self.s.cases.values() if status is None or c.status is status][
            offset : offset + limit
        ]

    async def count(self, status: CaseStatus | None = None) -> int:
        return len([c for c in self.s.cases.values() if status is None or c.status is status])

    async def claim(self, case_id: int, counselor_id: int, now: datetime) -> bool:
        case = self.s.cases[case_id]
        if case.status is not CaseStatus.WAITING:
            return False
        self.s.cases[case_id] = case.model_copy(
            update={"status": CaseStatus.CLAIMED, "counselor_id": counselor_id, "claimed_at": now}
        )
        return True

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
        case = self.s.cases[case_id]
        if case.status not in OPEN:
            return False
        self.s.cases[case_id] = case.model_copy(
            update={
                "status": status,
                "outcome": outcome,
                "closed_at": now,
                "referral": referral,
                "follow_up_on": follow_up_on,
            }
        )
        return True

    async def set_risk(self, case_id: int, risk: RiskAssessment) -> None:
        self.s.cases[case_id] = self.s.cases[case_id].model_copy(update={"risk": risk})

    async def transfer(self, case_id: int, from_id: int | None, to_id: int) -> bool:
        case = self.s.cases[case_id]
        if case.status is not CaseStatus.CLAIMED or (from_id is not None and case.counselor_id != from_id):
            return False
        self.s.cases[case_id] = case.model_copy(update={"counselor_id": to_id})
        return True

    async def follow_ups_due(self, today: date) -> list[Case]:
        return [
            c
            for c in self.s.cases.values()
            if c.follow_up_on is not None and c.follow_up_on <= today and c.followed_up_at is None
        ]

    async def mark_followed_up(self, case_id: int, now: datetime) -> None:
        self.s.cases[case_id] = self.s.cases[case_id].model_copy(update={"followed_up_at": now})

    async def waiting_since(self, cutoff: datetime) -> list[Case]:
        return [
            c
            for c in self.s.cases.values()
            if c.status is CaseStatus.WAITING and c.created_at < cutoff and c.timeout_notified_at is None
        ]

    async def mark_timeout_notified(self, case_id: int, now: datetime) -> None:
        self.s.cases[case_id] = self.s.cases[case_id].model_copy(update={"timeout_notified_at": now})

    async def mark_alerted(self, case_id: int, now: datetime) -> None:
        self.s.cases[case_id] = self.s.cases[case_id].model_copy(update={"last_alert_at": now})

    async def urgent_alerted_before(self, cutoff: datetime) -> list[Case]:
        return [
            c
            for c in self.s.cases.values()
            if c.status is CaseStatus.WAITING
            and c.priority is CasePriority.URGENT
            and c.last_alert_at is not None
            and c.last_alert_at < cutoff
        ]

    async def by_alert_thread(self, thread_id: int) -> Case | None:
        found = [c for c in self.s.cases.values() if c.alert_thread_id == thread_id]
        return max(found, key=lambda c: c.id) if found else None

    async def set_alert_thread(self, case_id: int, thread_id: int) -> None:
        self.s.cases[case_id] = self.s.cases[case_id].model_copy(update={"alert_thread_id": thread_id})


class InMemoryOutboxRepository:
    def __init__(self, pending: InMemoryStore) -> None:
        self.s = pending

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
        item = OutboxItem(
            id=next(self.s.ids),
            user_id=user_id,
            channel=channel,
            text=text,
            buttons=buttons,
            audience=audience,
            case_id=case_id,
            created_at=now,
        )
        self.s.outbox[item.id] = item
        return item.id

    async def take_due(
        self,
        channel: Channel,
        now: datetime,
        lease_until: datetime,
        limit: int,
        audience: str = "student",
        user_id: str | None = None,
    ) -> list[OutboxItem]:
        found = [
            i
            for i in self.s.outbox.values()
            if i.channel is channel and i.audience == audience and user_id in (None, i.user_id)
        ]
        return found[:limit]

    async def add_turn(
        self,
        user_id: str,
        channel: Channel,
        replies: Sequence[tuple[str, tuple[Button, ...]]],
        now: datetime,
        lease_until: datetime,
    ) -> list[OutboxItem] | None:
        behind = any(
            i.user_id == user_id and i.channel is channel and i.audience == "student"
            for i in self.s.outbox.values()
        )
        ids = [await self.add(user_id, channel, text, buttons, now) for text, buttons in replies]
        return None if behind else [self.s.outbox[i].model_copy(update={"attempts": 1}) for i in ids]

    async def students_due(self, channel: Channel, now: datetime, limit: int) -> list[str]:
        found = [
            i.user_id for i in self.s.outbox.values() if i.channel is channel and i.audience == "student"
        ]
        return list(dict.fromkeys(found))[:limit]

    async def mark_sent(self, item_id: int, now: datetime) -> None:
        self.s.outbox.pop(item_id, None)

    async def retry_at(self, item_id: int, when: datetime) -> None:
        return None

    async def extend_lease(self, item_ids: list[int], until: datetime) -> None:
        return None

    async def give_up(self, item_id: int) -> None:
        self.s.outbox.pop(item_id, None)

    async def purge_done_before(self, cutoff: datetime) -> int:
        return 0  # sent items are removed at once here


class InMemoryDeliveryRepository:
    def __init__(self, pending: InMemoryStore) -> None:
        self.s = pending

    async def record(self, channel: Channel, delivery_id: str, message_id: int | None, now: datetime) -> bool:
        key = (channel.value, delivery_id)
        if key in self.s.deliveries:
            return False
        self.s.deliveries[key] = (now, message_id, False)
        return True

    async def seen(self, channel: Channel, delivery_id: str) -> SeenDelivery | None:
        found = self.s.deliveries.get((channel.value, delivery_id))
        return None if found is None else SeenDelivery(message_id=found[1], answered=found[2])

    async def answered(self, channel: Channel, delivery_id: str) -> None:
        key = (channel.value, delivery_id)
        if key in self.s.deliveries:
            seen_at, message_id, _ = self.s.deliveries[key]
            self.s.deliveries[key] = (seen_at, message_id, True)

    async def purge_before(self, cutoff: datetime) -> int:
        old = [k for k, (seen, _, _) in self.s.deliveries.items() if seen < cutoff]
        for key in old:
            del self.s.deliveries[key]
        return len(old)


class InMemoryInboxRepository:
    """The inbox's rules in memory (the SQL version is tested on both real databases)."""

    def __init__(self, pending: InMemoryStore) -> None:
        self.s = pending

    async def add(
        self,
        channel: Channel,
        chat_key: str,
        delivery_id: str,
        payload: Any,
        now: datetime,
        lease_until: datetime | None = None,
    ) -> tuple[bool, InboxItem | None]:
        if any(r["channel"] is channel and r["delivery_id"] == delivery_id for r in self.s.inbox.values()):
            return False, None
        free = lease_until is not None and not self._earlier(chat_key, None)
        row = {
            "id": next(self.s.ids),
            "channel": channel,
            "delivery_id": delivery_id,
            "chat_key": chat_key,
            "payload": payload,
            "status": "pending",
            "attempts": 1 if free else 0,
            "lease_until": lease_until if free else None,
        }
        self.s.inbox[row["id"]] = row
        return True, self._item(row) if free else None

    async def take_due(
        self, now: datetime, lease_until: datetime, limit: int, done: Sequence[int] = ()
    ) -> list[InboxItem]:
        for item_id in done:
            self.s.inbox[item_id] |= {"status": "done", "payload": None}
        due = [
            r
            for r in self.s.inbox.values()
            if r["status"] == "pending"
            and (r["lease_until"] is None or r["lease_until"] <= now)
            and not self._earlier(r["chat_key"], r["id"])
        ][: max(limit, 0)]
        for row in due:
            row |= {"lease_until": lease_until, "attempts": row["attempts"] + 1}
        return [self._item(r) for r in due]

    async def renew(self, item_ids: Sequence[int], lease_until: datetime) -> None:
        for item_id in item_ids:
            self.s.inbox[item_id]["lease_until"] = lease_until

    async def purge_done_before(self, cutoff: datetime) -> int:
        done = [k for k, r in self.s.inbox.items() if r["status"] != "pending"]
        for key in done:
            del self.s.inbox[key]
        return len(done)

    def _earlier(self, chat_key: str, before: int | None) -> bool:
        return any(
            r["chat_key"] == chat_key and r["status"] == "pending" and (before is None or r["id"] < before)
            for r in self.s.inbox.values()
        )

    @staticmethod
    def _item(row: dict[str, Any]) -> InboxItem:
        return InboxItem(
            id=row["id"],
            channel=row["channel"],
            chat_key=row["chat_key"],
            payload=row["payload"],
            attempts=row["attempts"],
        )


class InMemoryFingerprintRepository:
    def __init__(self, pending: InMemoryStore) -> None:
        self.s = pending

    async def add(self, user_id: str, fingerprint: Fingerprint, scenario: str | None, now: datetime) -> None:
        self.s.fingerprints.append((user_id, fingerprint, now))

    async def candidates(
        self, fingerprint: Fingerprint, since: datetime, exclude_user: str
    ) -> list[tuple[str, tuple[int, ...]]]:
        return [
            (user, fp.signature)
            for user, fp, at in self.s.fingerprints
            if at >= since and user != exclude_user and set(fp.bands) & set(fingerprint.bands)
        ]

    async def purge_before(self, cutoff: datetime) -> int:
        before = len(self.s.fingerprints)
        self.s.fingerprints = [f for f in self.s.fingerprints if f[2] >= cutoff]
        return before - len(self.s.fingerprints)


class InMemoryUnitOfWork:
    """Changes go to a copy and reach the shared store only on commit, like a real transaction."""

    def __init__(self, store: InMemoryStore) -> None:
        self.store = store

    async def __aenter__(self) -> Self:
        self.pending = InMemoryStore()
        self.pending.users = dict(self.store.users)
        self.pending.conversations = dict(self.store.conversations)
        self.pending.messages = dict(self.store.messages)
        self.pending.feedback = dict(self.store.feedback)
        self.pending.cases = dict(self.store.cases)
        self.pending.outbox = dict(self.store.outbox)
        self.pending.deliveries = dict(self.store.deliveries)
        self.pending.fingerprints = list(self.store.fingerprints)
        self.pending.inbox = {k: dict(v) for k, v in self.store.inbox.items()}
        self.pending.ids = self.store.ids
        self.users = InMemoryUserRepository(self.pending)
        self.conversations = InMemoryConversationRepository(self.pending)
        self.messages = InMemoryMessageRepository(self.pending)
        self.feedback = InMemoryFeedbackRepository(self.pending)
        self.cases = InMemoryCaseRepository(self.pending)
        self.outbox = InMemoryOutboxRepository(self.pending)
        self.deliveries = InMemoryDeliveryRepository(self.pending)
        self.fingerprints = InMemoryFingerprintRepository(self.pending)
        self.inbox = InMemoryInboxRepository(self.pending)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def commit(self) -> None:
        self.store.users = dict(self.pending.users)
        self.store.conversations = dict(self.pending.conversations)
        self.store.messages = dict(self.pending.messages)
        self.store.feedback = dict(self.pending.feedback)
        self.store.cases = dict(self.pending.cases)
        self.store.outbox = dict(self.pending.outbox)
        self.store.deliveries = dict(self.pending.deliveries)
        self.store.fingerprints = list(self.pending.fingerprints)
        self.store.inbox = self.pending.inbox
        self.store.commits += 1

    async def rollback(self) -> None:
        await self.__aenter__()


class FakeClassifier:
    """Answers from a table of substrings -> Analysis; can be told to fail or to run a hook first."""

    name = "fake"

    def __init__(self, table: dict[str, Analysis] | None = None, *, fail: bool = False) -> None:
        self.table = table or {}
        self.fail = fail
        self.before: Callable[[str], None] | None = None
        self.seen: list[str] = []

    async def analyze(self, text: str) -> Analysis:
        self.seen.append(text)
        if self.before is not None:
            self.before(text)
        if self.fail:
            raise ClassifierUnavailable("scripted failure")
        for key, analysis in self.table.items():
            if key in text:
                return analysis
        return Analysis(unsure=True, backend="fake")
