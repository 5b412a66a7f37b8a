"""The inbox of `notalone serve`: a webhook update is stored before the platform is told it arrived,
then handled by whichever worker leases it, one at a time per chat, in the order it arrived.

A worker that is killed loses nothing: the update stays in the database and another worker (or the
same one, restarted) takes it when its lease runs out; the core answers a delivery it has answered
before only once. An update whose handling met a database outage is tried again the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from bot.chatlocks import ChatLocks
from bot.main import App
from handlers.models import Channel, InboxItem
from handlers.ports import StorageUnavailable

log = logging.getLogger(__name__)
Handle = Callable[[Any], Awaitable[None]]
POLL_S = 1.0
MAX_STORE_BACKOFF_S = 30.0
# Webhook updates kept in memory while the database is down (Held), and how often they are retried.
MAX_HELD = 5000
HELD_RETRY_S = 2.0


class TryAgain(Exception):
    """A handler could not finish the update for a reason that passes (the database is down)."""


class Inbox:
    """One worker's view of the shared inbox."""

    def __init__(
        self, app: App, handlers: Mapping[Channel, Handle], *, lease_s: float, max_in_flight: int
    ) -> None:
        self.app = app
        self.handlers = dict(handlers)
        self.lease = timedelta(seconds=lease_s)
        self.max_in_flight = max_in_flight
        self._wake = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._done: list[int] = []
        self._chats = ChatLocks()

    def key(self, channel: Channel, chat_id: str) -> str:
        """The chat's ordering key: a keyed hash, so the inbox holds no platform ids of its own."""
        return self.app.core.pseudonym(channel, f"chat:{chat_id}")

    async def accept(self, channel: Channel, chat_id: str, delivery_id: str, payload: Any) -> None:
        """Store an update (a repeat of a stored one is dropped); StorageUnavailable if it cannot be.
        Unless its chat has an earlier update pending, or this worker is full, it is handled here at
        once: the load follows the proxy's spread, and no round of the loop is waited for."""
        key = self.key(channel, chat_id)
        now = self.app.core.clock()
        room = len(self._in_flight) < self.max_in_flight
        async with self._chats.hold(key), self.app.core.uow() as uow:
            added, item = await uow.inbox.add(
                channel, key, delivery_id, payload, now, lease_until=now + self.lease if room else None
            )
            await uow.commit()
        if not added:
            log.info("repeated webhook delivery dropped", extra={"channel": channel.value})
        if item is not None:
            self._in_flight[item.id] = asyncio.create_task(self._handle(item))
        else:
            self._wake.set()

    async def run(self) -> None:
        """Lease and handle due updates until cancelled; leases are renewed while updates are handled."""
        renewing = asyncio.create_task(self._renew())
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_S)
                self._wake.clear()
                try:
                    await self._take()
                except StorageUnavailable as exc:
                    log.warning("inbox: database unavailable; retrying", extra={"error": type(exc).__name__})
                    await asyncio.sleep(POLL_S)
                except Exception:  # the loop must outlive anything; logged with its type
                    log.exception("inbox loop failed; retrying")
                    await asyncio.sleep(POLL_S)
        finally:
            renewing.cancel()

    async def settle(self) -> None:
        """Handle everything due now, and what that makes due, until nothing is left (without the
        background loop: for tools and tests that drive the web app directly)."""
        while True:
            await self._take()
            if not self._in_flight:
                if self._done:
                    continue  # record the last ones (it may make a chat's next update due)
                return
            await asyncio.gather(*list(self._in_flight.values()), return_exceptions=True)

    async def drain(self) -> None:
        """Let the updates in flight finish and record them (a graceful stop)."""
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight.values()), return_exceptions=True)
        with contextlib.suppress(StorageUnavailable):
            await self._take(take=False)

    async def _take(self, take: bool = True) -> None:
        free = max(0, self.max_in_flight - len(self._in_flight)) if take else 0
        if free <= 0 and not self._done:
            return
        now = self.app.core.clock()
        done = list(self._done)
        async with self.app.core.uow() as uow:
            items = await uow.inbox.take_due(now, now + self.lease, free, done=done)
            await uow.commit()
        del self._done[: len(done)]
        for item in items:
            self._in_flight[item.id] = asyncio.create_task(self._handle(item))

    async def _handle(self, item: InboxItem) -> None:
        finished = True
        try:
            await self.handlers[item.channel](item.payload)
        except (TryAgain, StorageUnavailable):
            finished = False  # leased until the lease runs out, then tried again
            log.warning("update not handled now; will retry", extra={"channel": item.channel.value})
        except Exception:  # one update's failure must not stop the worker; logged by type, no text
            log.exception("update failed", extra={"channel": item.channel.value})
        finally:
            self._in_flight.pop(item.id, None)
            if finished:
                self._done.append(item.id)
            self._wake.set()

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            ids = list(self._in_flight)
            if not ids:
                continue
            try:
                async with self.app.core.uow() as uow:
                    await uow.inbox.renew(ids, self.app.core.clock() + self.lease)
                    await uow.commit()
            except Exception:  # noqa: BLE001 - renewing again in a moment is all there is to do
                log.warning("inbox: could not renew leases")


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` unless `stop` is set first; whether it was."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def store_patiently(
    inbox: Inbox, channel: Channel, chat_id: str, delivery_id: str, payload: Any, stop: asyncio.Event
) -> bool:
    """Store one polled update, waiting out a database outage (polling waits with it); False when
    asked to stop meanwhile."""
    backoff = 1.0
    while True:
        try:
            await inbox.accept(channel, chat_id, delivery_id, payload)
            return True
        except StorageUnavailable as exc:
            log.warning(
                "update not stored: database unavailable; retrying",
                extra={"channel": channel.value, "error": type(exc).__name__},
            )
            if await pause(stop, backoff):
                return False
            backoff = min(backoff * 2, MAX_STORE_BACKOFF_S)


class Held:
    """Webhook updates the database could not take, from a platform that may never send them again
    (Zalo does not say it redelivers after a 503): kept in this process, in order, and stored as soon
    as the database is back, before any newer update. Lost only if the process stops first, which is
    logged as an error with their count; past MAX_HELD, new ones are lost (counted too)."""

    def __init__(self, inbox: Inbox, max_held: int = MAX_HELD) -> None:
        self.inbox = inbox
        self.max_held = max_held
        self._items: dict[tuple[Channel, str], tuple[str, Any]] = {}
        self._lock = asyncio.Lock()
        self.lost = 0

    def __len__(self) -> int:
        return len(self._items)

    async def accept(self, channel: Channel, chat_id: str, delivery_id: str, payload: Any) -> None:
        """Store the update after the held ones; hold it (and raise StorageUnavailable) when the
        database cannot take it."""
        try:
            await self.flush()
            if not self._items:
                await self.inbox.accept(channel, chat_id, delivery_id, payload)
                return
        except StorageUnavailable:
            pass
        self._hold(channel, chat_id, delivery_id, payload)
        raise StorageUnavailable("held in memory")

    def _hold(self, channel: Channel, chat_id: str, delivery_id: str, payload: Any) -> None:
        key = (channel, delivery_id)
        if key not in self._items and len(self._items) >= self.max_held:
            self.lost += 1
            log.error("update lost: too many held while the database is down", extra={"count": self.lost})
            return
        self._items.setdefault(key, (chat_id, payload))
        log.error(
            "update not stored: database unavailable; held in memory",
            extra={"channel": channel.value, "count": len(self._items)},
        )

    async def flush(self) -> None:
        """Store the held updates, oldest first; StorageUnavailable while the database is still down."""
        if not self._items:
            return
        async with self._lock:
            while self._items:
                (channel, delivery_id), (chat_id, payload) = next(iter(self._items.items()))
                await self.inbox.accept(channel, chat_id, delivery_id, payload)
                del self._items[(channel, delivery_id)]
                if not self._items:
                    log.warning("held updates stored", extra={"channel": channel.value})

    async def run(self, every_s: float = HELD_RETRY_S) -> None:
        """Store what is held as soon as the database is back, until cancelled."""
        while True:
            await asyncio.sleep(every_s)
            with contextlib.suppress(StorageUnavailable):
                await self.flush()

    def report_at_stop(self) -> None:
        """Log, as an error, the held updates a stop loses."""
        if self._items:
            log.error("held updates lost at stop: the database never came back", extra={"count": len(self)})
