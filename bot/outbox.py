"""Delivering the outbox, for any channel: counselors' messages and notices to students, alerts to the
counselors' group. Each item is leased, sent, and marked sent or retried; a student's items keep
their order (only the oldest pending one is due) and each is sent once."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.main import App
from handlers.models import Channel, OutboxItem
from handlers.ports import StorageUnavailable

log = logging.getLogger(__name__)
BATCH = 50
# Rounds per call: only the oldest pending item of a student is due, so a burst takes several rounds.
ROUNDS = 20
# A student's reply is retried at least once a minute while the platform is down.
MAX_BACKOFF_S = 60


class Undeliverable(Exception):
    """The item can never be delivered (the student blocked the bot, deleted their data, ...)."""


class TryLater(Exception):
    """The platform could not take the item now (rate limit, outage, timeout); `after_s`: not
    before then (a platform's rate limit), whatever the usual back-off says."""

    def __init__(self, reason: str, after_s: float | None = None) -> None:
        super().__init__(reason)
        self.after_s = after_s


Send = Callable[[OutboxItem, Any], Awaitable[None]]
SendAll = Callable[[list[OutboxItem], Any], Awaitable[None]]


async def deliver_items(
    app: App,
    channel: Channel,
    audience: str,
    send: Send,
    *,
    now: datetime | None = None,
    rounds: int = ROUNDS,
    user_id: str | None = None,
) -> int:
    """Lease what is due, send it with `send(item, user)`, and record the result. With `user_id`:
    that student's items only, all due ones at once (a turn just answered)."""
    core = app.core
    now = now or core.clock()
    sent = 0
    await _flush_unmarked(app)
    half = timedelta(seconds=app.settings.workers.outbox_lease_s / 2)
    for _ in range(1 if user_id else rounds):
        items, users = await _lease(app, channel, audience, now, user_id)
        leased_at = core.clock()
        if not items:
            break
        for n, item in enumerate(items):
            # Half the lease gone: the items still waiting are leased again with this one's result.
            waiting = [i.id for i in items[n + 1 :]] if core.clock() - leased_at > half else []
            if waiting:
                leased_at = core.clock()
            outcome = await _deliver_one(app, item, users.get(item.user_id), send, now, waiting)
            sent += outcome
            if not outcome and user_id:
                break  # the rest keeps its order: the background worker sends it after this one
    return sent


async def deliver_leased(
    app: App, items: tuple[OutboxItem, ...], send: Send, *, now: datetime | None = None
) -> int:
    """Send items already leased to this worker (with the turn that queued them), in order, each
    marked as it goes; the first that cannot be sent holds back the rest (their lease runs out and
    the background worker sends them after it)."""
    now = now or app.core.clock()
    await _flush_unmarked(app)
    sent = 0
    for n, item in enumerate(items):
        # The items after this one keep their lease from now (a slow send must not let another worker
        # take them).
        waiting = [i.id for i in items[n + 1 :]]
        if not await _deliver_one(app, item, None, send, now, waiting):
            break
        sent += 1
    return sent


async def deliver_turn(
    app: App, channel: Channel, user_id: str, send_all: SendAll, *, now: datetime | None = None
) -> int:
    """A student's due items sent turn by turn by `send_all(items, user)` (a channel that renders a
    turn as a whole, e.g. numbered options over its messages); each turn is recorded in one
    transaction. A turn that cannot be sent now holds back the ones after it: order is kept."""
    now = now or app.core.clock()
    await _flush_unmarked(app)
    items, users = await _lease(app, channel, "student", now, user_id)
    turns = [list(turn) for _, turn in itertools.groupby(items, key=lambda item: item.created_at)]
    sent = 0
    for n, turn in enumerate(turns):
        try:
            await send_all(turn, users.get(user_id))
        except (Undeliverable, TryLater) as exc:
            rest = [item for later in turns[n:] for item in later]
            await _record(app, rest, _failed(exc, turn[0]), now, after_s=_after(exc))
            return sent
        # The turns still waiting keep their lease from now (a slow send must not let another worker
        # take them).
        waiting = [item.id for later in turns[n + 1 :] for item in later]
        await _record(app, turn, "sent", now, waiting)
        sent += len(turn)
    return sent


async def deliver_turns(app: App, channel: Channel, send_all: SendAll, *, now: datetime | None = None) -> int:
    """Every student's due items, turn by turn (the background round of such a channel): a turn
    sent late reads as it would have read on time."""
    now = now or app.core.clock()
    async with app.core.uow() as uow:
        students = await uow.outbox.students_due(channel, now, BATCH)
    sent = 0
    for user_id in students:
        sent += await deliver_turn(app, channel, user_id, send_all, now=now)
    return sent


async def _lease(
    app: App, channel: Channel, audience: str, now: datetime, user_id: str | None
) -> tuple[list[OutboxItem], dict[str, Any]]:
    lease = timedelta(seconds=app.settings.workers.outbox_lease_s)
    async with app.core.uow() as uow:
        items = await uow.outbox.take_due(
            channel, now, now + lease, BATCH, audience=audience, user_id=user_id
        )
        users = {user: await uow.users.get(user) for user in {i.user_id for i in items}}
        await uow.commit()
    return items, users


def _failed(exc: Undeliverable | TryLater, item: OutboxItem) -> str:
    """Log why an item (or a turn, by its first item) was not delivered; the outcome to record."""
    gone = isinstance(exc, Undeliverable)
    log.warning(
        "outbox item undeliverable" if gone else "outbox send failed; will retry",
        extra={"user": item.user_id, "channel": item.channel.value, "error": type(exc).__name__},
    )
    return "give_up" if gone else "retry"


def _backoff(item: OutboxItem, after_s: float | None = None) -> float:
    return float(max(min(MAX_BACKOFF_S, 2 ** min(item.attempts, 8)), after_s or 0))


def _after(exc: Exception) -> float | None:
    return exc.after_s if isinstance(exc, TryLater) else None


async def _deliver_one(
    app: App, item: OutboxItem, user: Any, send: Send, now: datetime, waiting: list[int]
) -> int:
    try:
        await send(item, user)
    except (Undeliverable, TryLater) as exc:
        await _record(app, [item], _failed(exc, item), now, waiting, after_s=_after(exc))
        return 0
    # Marked sent in its own transaction right after the platform accepted it; the items leased with
    # it that wait their turn keep their lease from now (a slow send must not let another worker
    # take them and send them as well).
    await _record(app, [item], "sent", now, waiting)
    return 1


# Items the platform accepted whose "sent" mark could not be written (the database was down): kept
# by this process and marked as soon as it can, before their lease runs out and they are sent again.
_unmarked: set[int] = set()


async def _record(
    app: App,
    items: list[OutboxItem],
    outcome: str,
    now: datetime,
    waiting: list[int] | None = None,
    *,
    after_s: float | None = None,
) -> None:
    core = app.core
    try:
        async with core.uow() as uow:
            if waiting:
                lease = timedelta(seconds=app.settings.workers.outbox_lease_s)
                await uow.outbox.extend_lease(waiting, core.clock() + lease)
            for item in items:
                if outcome == "sent":
                    await uow.outbox.mark_sent(item.id, core.clock())
                elif outcome == "give_up":
                    await uow.outbox.give_up(item.id)
                else:
                    await uow.outbox.retry_at(item.id, now + timedelta(seconds=_backoff(item, after_s)))
            await uow.commit()
    except StorageUnavailable:
        if outcome != "sent":
            raise  # nothing was delivered: the lease runs out and the item is tried again
        _unmarked.update(item.id for item in items)
        log.warning(
            "sent, but the database is down: marking it later", extra={"channel": items[0].channel.value}
        )


async def _flush_unmarked(app: App) -> None:
    """Write the "sent" marks that could not be written before (see _unmarked)."""
    if not _unmarked:
        return
    ids = list(_unmarked)
    async with app.core.uow() as uow:
        for item_id in ids:
            await uow.outbox.mark_sent(item_id, app.core.clock())
        await uow.commit()
    _unmarked.difference_update(ids)
