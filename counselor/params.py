"""Input taken from a URL, a form or a JSON body, checked before any database call: a case number
past 64 bits, zero or negative, or an offset past any real list is refused with 422, never passed on
to overflow (500); text with control characters (NUL, which PostgreSQL cannot store, and the like)
is refused with 422 too, never passed on to fail in the database."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator

# The largest id the database stores (a signed 64-bit integer).
MAX_ID = 2**63 - 1
# Far past any real queue: a list offset beyond this is a mistake or a probe.
MAX_OFFSET = 1_000_000
# C0 controls but tab, newline and carriage return; DEL; C1 controls.
CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def no_controls(value: str) -> str:
    """The text as given, or a ValueError (422) when it holds a control character."""
    if CONTROLS.search(value):
        raise ValueError("control characters are not allowed")
    return value


CaseId = Annotated[int, Path(ge=1, le=MAX_ID, description="a case number")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Text = Annotated[str, AfterValidator(no_controls)]
