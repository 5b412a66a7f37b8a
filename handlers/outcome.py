"""What one step of the conversation produced: replies, the analysis, and the conversation's new sub-state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from handlers.models import Analysis, Reply

KEEP = object()  # the conversation's context stays as it was


@dataclass
class Outcome:
    replies: list[Reply] = field(default_factory=list)
    analysis: Analysis | None = None
    # A new context for the conversation, or KEEP.
    context: dict[str, Any] | object = KEEP
    # The replies already carry the introduction of a first contact.
    introduced: bool = False
    # The introduction waits for a later turn (a reply inside a crisis keeps to the crisis).
    hold_intro: bool = False
