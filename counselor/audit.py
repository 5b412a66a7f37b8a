"""The audit log, written the same way by the console, the API and the command line."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from storage.console import ConsoleStore


async def record(
    sessions: async_sessionmaker[Any],
    counselor_id: int | None,
    case_id: int | None,
    action: str,
    now: datetime,
    *,
    via: str,
) -> None:
    """One audit row, committed on its own (after the action it records succeeded)."""
    async with sessions() as session:
        await ConsoleStore(session).audit(counselor_id, case_id, action, now, via=via)
        await session.commit()
