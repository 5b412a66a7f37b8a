"""Pseudonymous user ids: a keyed hash of the channel's user id, so the database never holds it."""

from __future__ import annotations

import hashlib
import hmac

from handlers.models import Channel


def pseudonymize(channel: Channel, platform_user_id: str, *, key: bytes) -> str:
    """A stable id for one user of one channel that cannot be turned back into the platform id."""
    digest = hmac.new(key, f"{channel.value}:{platform_user_id}".encode(), hashlib.sha256).hexdigest()
    return f"u_{digest[:24]}"
