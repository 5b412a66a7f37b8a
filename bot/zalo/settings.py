"""Zalo configuration (section `zalo` of config.yaml); the token and webhook secret only from env."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

HTTPS_BASE = re.compile(r"^https://[^/?#\s]+(/[^?#\s]*)?$")


class ZaloSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # From NOTALONE_ZALO__TOKEN only (the bot's token from the Zalo Bot Platform, "12345689:abc-xyz").
    token: SecretStr | None = None
    # The Zalo Bot Platform's Bot API (in tests, a local fake).
    api_base_url: str = "https://bot-api.zaloplatforms.com"
    # The secret Zalo sends back in X-Bot-Api-Secret-Token (NOTALONE_ZALO__WEBHOOK_SECRET, 8-256 chars).
    webhook_secret: SecretStr | None = None
    # Where `notalone serve` is reachable from the internet: the webhook is registered at
    # <public_base_url>/webhooks/zalo. None: use `notalone run zalo` (long polling).
    # Zalo accepts only https addresses.
    public_base_url: str | None = None
    # How long one getUpdates call waits for an update (seconds).
    poll_timeout_s: int = Field(default=30, ge=1, le=60)
    # Timeout of any other call, and how often a call that may be retried is tried again.
    request_timeout_s: float = Field(default=10.0, gt=0, le=120)
    max_retries: int = Field(default=3, ge=0, le=10)

    @field_validator("public_base_url")
    @classmethod
    def _https_only(cls, value: str | None) -> str | None:
        if value is not None and not HTTPS_BASE.match(value):
            raise ValueError("must be an https:// address (Zalo refuses webhooks without https)")
        return value
