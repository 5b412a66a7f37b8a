"""A per-student flood limit: past it, ordinary messages get "slow down", a crisis is answered as always."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

WINDOW = timedelta(minutes=1)


class FloodLimiter:
    """Sliding one-minute window of message times per pseudonymous user (in memory, per process)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[datetime]] = {}

    def allow(self, user_id: str, now: datetime) -> bool:
        """Count this message; False when the user sent more than `per_minute` in the last minute."""
        times = self._seen.setdefault(user_id, deque())
        while times and now - times[0] > WINDOW:
            times.popleft()
        times.append(now)
        if len(self._seen) > 100_000:  # forget idle users so memory stays bounded
            for key in [k for k, v in self._seen.items() if now - v[-1] > WINDOW][:50_000]:
                del self._seen[key]
        return len(times) <= self.per_minute
