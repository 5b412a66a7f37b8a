"""“You are not alone”: how many other students asked about (nearly) the same message this week."""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers.models import Analysis, Fingerprint
from handlers.ports import Fingerprinter, UnitOfWork

WINDOW = timedelta(days=7)
# Estimated Jaccard similarity of two messages' shingles from which they count as the same message.
SAME = 0.6


def similar(first: tuple[int, ...], second: tuple[int, ...]) -> float:
    """The share of equal MinHash values: an estimate of the two messages' Jaccard similarity."""
    if not first or len(first) != len(second):
        return 0.0
    return sum(1 for a, b in zip(first, second, strict=True) if a == b) / len(first)


async def others_asking(
    text: str,
    analysis: Analysis,
    user_id: str,
    *,
    uow: UnitOfWork,
    fingerprinter: Fingerprinter,
    now: datetime,
) -> int:
    """Count other students who sent a near-duplicate this week, then keep this one's fingerprint.

    Only messages with a tactic are fingerprinted (the point is a scam wave, not everyday chat).
    """
    if not analysis.tactics:
        return 0
    fingerprint: Fingerprint | None = fingerprinter.fingerprint(text)
    if fingerprint is None:
        return 0
    candidates = await uow.fingerprints.candidates(fingerprint, now - WINDOW, exclude_user=user_id)
    others = {user for user, signature in candidates if similar(fingerprint.signature, signature) >= SAME}
    await uow.fingerprints.add(user_id, fingerprint, analysis.scenario, now)
    return len(others)
