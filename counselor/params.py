"""Numbers taken from a URL, bounded before any database call: a case number past 64 bits, zero or
negative, or an offset past any real list is refused with 422, never passed on to overflow (500)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

# The largest id the database stores (a signed 64-bit integer).
MAX_ID = 2**63 - 1
# Far past any real queue: a list offset beyond this is a mistake or a probe.
MAX_OFFSET = 1_000_000

CaseId = Annotated[int, Path(ge=1, le=MAX_ID, description="a case number")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
