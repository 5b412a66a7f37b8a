"""The web chat's one table: openings per day and per linking place (`?src=`), counts only."""

from __future__ import annotations

from datetime import date

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import WebOpenRow


async def count_open(session: AsyncSession, day: date, src: str) -> None:
    """One more opening of the chat from `src` on `day` (committed here)."""
    for _ in range(2):  # a first opening of the day raced by another one: add to theirs
        bumped = await session.execute(
            update(WebOpenRow)
            .where(WebOpenRow.day == day, WebOpenRow.src == src)
            .values(opens=WebOpenRow.opens + 1)
        )
        if bumped.rowcount:  # type: ignore[attr-defined]
            await session.commit()
            return
        session.add(WebOpenRow(day=day, src=src, opens=1))
        try:
            await session.commit()
            return
        except IntegrityError:
            await session.rollback()
