"""Telegram configuration (section `telegram` of config.yaml); the token and webhook secret only from env."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class TelegramSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # From NOTALONE_TELEGRAM__TOKEN only.
    token: SecretStr | None = None
    # Telegram's Bot API, or a self-hosted Bot API server (and, in tests, a local fake).
    api_base_url: str = "https://api.telegram.org"
    # The secret Telegram sends back in X-Telegram-Bot-Api-Secret-Token (NOTALONE_TELEGRAM__WEBHOOK_SECRET).
    webhook_secret: SecretStr | None = None
    # Where `notalone serve` is reachable from the internet, e.g. https://bot.example.org: the webhook
    # is registered there and the call-111 page is linked from there. None: polling, callback button.
    public_base_url: str | None = None
    # The bot's own link (https://t.me/<username>): shown to students who cannot reach it elsewhere,
    # e.g. on Zalo, which hides young users' messages from bots. None: not shown.
    bot_url: str | None = Field(default=None, pattern=r"^https://t\.me/[A-Za-z0-9_]{5,32}$")
    poll_timeout_s: int = Field(default=30, ge=0, le=60)
    # "typing…" is shown only when an answer takes longer than this (0: always, before answering).
    typing_after_s: float = Field(default=1.0, ge=0, le=10)
    # Outgoing messages per second over all chats (Telegram's limit is about 30).
    max_sends_per_second: int = Field(default=25, ge=1, le=30)
    # The counselors' group (a supergroup with topics, the bot an admin who can manage topics): each
    # case gets a topic there, and a linked counselor's reply in it goes to the student. None: no alerts.
    counselor_group_id: int | None = Field(default=None, lt=0)
    # Copy the student's messages of a case into its topic (off: counselors read them in the console).
    counselor_group_mirror: bool = True
