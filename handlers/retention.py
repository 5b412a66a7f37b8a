"""The retention job: conversations never escalated are deleted after the configured number of days."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from handlers.ports import UnitOfWork

log = logging.getLogger(__name__)
# Platforms replay a delivery within minutes; its id is kept two days to recognise it.
DELIVERY_IDS_KEPT = timedelta(days=2)
# Fingerprints only serve "how many others asked this week", and the stats' waves.
FINGERPRINTS_KEPT = timedelta(days=8)


async def purge_expired(*, uow: Callable[[], UnitOfWork], now: datetime, days: int) -> int:
    """Delete what the retention limit no longer allows us to keep; return how many conversations went."""
    async with uow() as work:
        removed = await work.conversations.purge_before(now - timedelta(days=days))
        await work.deliveries.purge_before(now - DELIVERY_IDS_KEPT)
        await work.fingerprints.purge_before(now - FINGERPRINTS_KEPT)
        await work.outbox.purge_done_before(now - DELIVERY_IDS_KEPT)
        await work.inbox.purge_done_before(now - DELIVERY_IDS_KEPT)
        await work.commit()
    log.info("retention purge", extra={"conversation": removed})
    return removed
