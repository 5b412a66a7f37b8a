"""The inbox: platform updates stored before they are acknowledged, handled in order per chat.

Several workers share it. A worker leases due items with FOR UPDATE SKIP LOCKED; an item is due
only when no earlier item of its chat is pending, so one chat's updates are handled one after
another, in the order they arrived, whichever worker takes them. A worker that dies stops renewing
its leases and another worker takes the items over when they run out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, delete, null, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from handlers.models import Channel, InboxItem
from storage.models import Base, InboxRow, UtcDateTime

log = logging.getLogger(__name__)
# An update whose handling failed this many times (a worker died each time) is set aside.
MAX_ATTEMPTS = 5
INBOX = Base.metadata.tables["inbox"]
_LOCK_CHAT = text("SELECT pg_advisory_xact_lock(hashtext(:b_key))")


def _adding(leased: bool) -> dict[str, Any]:
    """The INSERT of an update, built once per database (on a retried delivery it does nothing).
    `leased`: the update is leased to the caller unless an earlier update of its chat is pending,
    decided in the INSERT itself (one statement fewer than asking first)."""
    earlier = INBOX.alias("earlier")
    pending = (
        select(earlier.c.id)
        .where(earlier.c.chat_key == bindparam("b_key"), earlier.c.status == "pending")
        .exists()
    )
    values: dict[str, Any] = {
        "channel": bindparam("b_channel"),
        "delivery_id": bindparam("b_delivery"),
        "chat_key": bindparam("b_key"),
        "payload": bindparam("b_payload", type_=INBOX.c.payload.type),
        "status": "pending",
        "attempts": case((pending, 0), else_=1) if leased else 0,
        "lease_until": case((pending, null()), else_=bindparam("b_until", type_=UtcDateTime()))
        if leased
        else null(),
        "received_at": bindparam("b_now", type_=UtcDateTime()),
    }
    return {
        name: insert(INBOX).values(values).on_conflict_do_nothing().returning(INBOX.c.id, INBOX.c.attempts)
        for name, insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
    }


_ADD = _adding(leased=False)
_ADD_LEASED = _adding(leased=True)


class SqlAlchemyInboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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
        earlier update of its chat is pending: the worker that received an update handles it."""
        dialect = self.session.get_bind().dialect.name
        params = {
            "b_channel": channel.value,
            "b_delivery": delivery_id,
            "b_key": chat_key,
            "b_payload": payload,
            "b_now": now,
            "b_until": lease_until,
        }
        if lease_until is not None and dialect == "postgresql":
            # Two workers receiving one chat's updates at once: one decides after the other.
            await self.session.execute(_LOCK_CHAT, {"b_key": chat_key})
        stmt = (_ADD if lease_until is None else _ADD_LEASED)[dialect]
        added = (await self.session.execute(stmt, params)).first()
        if added is None:
            return False, None
        if added.attempts == 0:
            return True, None
        return True, InboxItem(id=added.id, channel=channel, chat_key=chat_key, payload=payload, attempts=1)

    async def take_due(
        self, now: datetime, lease_until: datetime, limit: int, done: Sequence[int] = ()
    ) -> list[InboxItem]:
        """Mark `done` items handled (their payload is dropped), then lease due items."""
        if done:
            await self.session.execute(
                update(InboxRow)
                .where(InboxRow.id.in_(list(done)))
                .values(status="done", done_at=now, payload=None, lease_until=None)
            )
        if limit <= 0:
            return []  # a worker that is full only records what it finished
        earlier = aliased(InboxRow)
        blocked = (
            select(earlier.id)
            .where(
                earlier.chat_key == InboxRow.chat_key, earlier.status == "pending", earlier.id < InboxRow.id
            )
            .exists()
        )
        stmt = (
            select(InboxRow)
            .where(
                InboxRow.status == "pending",
                or_(InboxRow.lease_until.is_(None), InboxRow.lease_until <= now),
                ~blocked,
            )
            .order_by(InboxRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = list((await self.session.execute(stmt)).scalars())
        taken = []
        for row in rows:
            if row.attempts >= MAX_ATTEMPTS:
                log.error("inbox item set aside after repeated failures", extra={"channel": row.channel})
                row.status, row.payload, row.done_at = "failed", None, now
                continue
            row.lease_until = lease_until
            row.attempts += 1
            taken.append(
                InboxItem(
                    id=row.id,
                    channel=Channel(row.channel),
                    chat_key=row.chat_key,
                    payload=row.payload,
                    attempts=row.attempts,
                )
            )
        await self.session.flush()
        return taken

    async def renew(self, item_ids: Sequence[int], lease_until: datetime) -> None:
        """Keep the leases of items still being handled."""
        if item_ids:
            await self.session.execute(
                update(InboxRow)
                .where(InboxRow.id.in_(list(item_ids)), InboxRow.status == "pending")
                .values(lease_until=lease_until)
            )

    async def purge_done_before(self, cutoff: datetime) -> int:
        """Forget handled items."""
        result = await self.session.execute(
            delete(InboxRow).where(InboxRow.status != "pending", InboxRow.done_at < cutoff)
        )
        return int(getattr(result, "rowcount", 0) or 0)
