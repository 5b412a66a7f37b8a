"""Fingerprints of suspicious messages: stored, looked up by band, and grouped into waves."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.models import Fingerprint
from storage.models import Base, FingerprintBandRow, FingerprintRow

MAX_CANDIDATES = 500
FINGERPRINTS = Base.metadata.tables["fingerprints"]
BANDS = Base.metadata.tables["fingerprint_bands"]
# Every suspicious message's statements, built once (through the tables, not the ORM).
_ADD = insert(FINGERPRINTS).returning(FINGERPRINTS.c.id)
_ADD_BANDS = insert(BANDS)
_CANDIDATES = select(FINGERPRINTS.c.user_id, FINGERPRINTS.c.signature).where(
    FINGERPRINTS.c.id.in_(
        select(BANDS.c.fingerprint_id)
        .where(
            BANDS.c.band.in_(bindparam("b_bands", expanding=True)), BANDS.c.created_at >= bindparam("b_since")
        )
        .distinct()
        .limit(MAX_CANDIDATES)
    ),
    FINGERPRINTS.c.user_id != bindparam("b_user"),
)


@dataclass(frozen=True)
class Wave:
    """A wave of one scam: how many students, how many messages, when, which scenario (no text)."""

    students: int
    messages: int
    scenario: str | None
    first: datetime
    last: datetime


class SqlAlchemyFingerprintRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, user_id: str, fingerprint: Fingerprint, scenario: str | None, now: datetime) -> None:
        """Keep a message's fingerprint (never its text)."""
        values = {
            "user_id": user_id,
            "scenario": scenario,
            "signature": list(fingerprint.signature),
            "created_at": now,
        }
        added = int((await self.session.execute(_ADD, values)).one()[0])
        bands = [
            {"fingerprint_id": added, "band": band, "created_at": now}
            for band in dict.fromkeys(fingerprint.bands)
        ]
        if bands:
            await self.session.execute(_ADD_BANDS, bands)

    async def candidates(
        self, fingerprint: Fingerprint, since: datetime, exclude_user: str
    ) -> list[tuple[str, tuple[int, ...]]]:
        """Other students' fingerprints since `since` sharing a band with this one."""
        params = {"b_bands": list(fingerprint.bands), "b_since": since, "b_user": exclude_user}
        found = (await self.session.execute(_CANDIDATES, params)).all()
        return [(user, tuple(signature)) for user, signature in found]

    async def purge_before(self, cutoff: datetime) -> int:
        """Forget fingerprints older than `cutoff`."""
        result = await self.session.execute(delete(FingerprintRow).where(FingerprintRow.created_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    async def waves(self, since: datetime, min_students: int = 3, limit: int = 5) -> list[Wave]:
        """Groups of near-identical messages from several students since `since`, biggest first."""
        students = func.count(func.distinct(FingerprintRow.user_id))
        stmt = (
            select(FingerprintBandRow.band, students)
            .join(FingerprintRow, FingerprintRow.id == FingerprintBandRow.fingerprint_id)
            .where(FingerprintBandRow.created_at >= since)
            .group_by(FingerprintBandRow.band)
            .having(students >= min_students)
            .order_by(students.desc())
            .limit(limit * 8)
        )
        found: list[Wave] = []
        covered: set[int] = set()
        for band, _count in (await self.session.execute(stmt)).all():
            rows = (
                await self.session.execute(
                    select(
                        FingerprintRow.id,
                        FingerprintRow.user_id,
                        FingerprintRow.scenario,
                        FingerprintRow.created_at,
                    )
                    .join(FingerprintBandRow, FingerprintBandRow.fingerprint_id == FingerprintRow.id)
                    .where(FingerprintBandRow.band == band, FingerprintBandRow.created_at >= since)
                )
            ).all()
            ids = {r.id for r in rows}
            if ids & covered:
                continue  # another band of a wave already listed
            covered |= ids
            scenarios = Counter(r.scenario for r in rows if r.scenario)
            found.append(
                Wave(
                    students=len({r.user_id for r in rows}),
                    messages=len(rows),
                    scenario=scenarios.most_common(1)[0][0] if scenarios else None,
                    first=min(r.created_at for r in rows),
                    last=max(r.created_at for r in rows),
                )
            )
            if len(found) == limit:
                break
        return found
