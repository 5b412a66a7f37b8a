"""The Zalo channel: stored updates (the inbox orders them, per chat) through the core, replies out;
and the outbox. Long polling and the webhook both store an update before it is handled.

A replayed delivery (same message id) is answered once: the inbox drops a repeat it holds, and the
core records delivery ids in the same transaction as the message.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from bot.main import App, StartupError
from bot.outbox import TryLater, Undeliverable, deliver_turn, deliver_turns
from bot.settings import Settings
from bot.zalo.client import RETRYABLE, ZaloClient, ZaloError, ZaloRateLimited, ZaloUnauthorized
from bot.zalo.render import render_turn
from bot.zalo.updates import BadUpdate, ZaloUpdate, parse_update, to_incoming
from handlers.models import Channel, MessageKind, OutboxItem, Reply
from handlers.ports import StorageUnavailable

log = logging.getLogger(__name__)


class ZaloChannel:
    """One Zalo bot served by this process."""

    def __init__(self, app: App, client: ZaloClient) -> None:
        self.app = app
        self.client = client

    # Updates in ---------------------------------------------------------------------------------
    def accepts(self, payload: Any) -> ZaloUpdate | None:
        """The update if it is one to answer; None (logged by reason) for what the bot ignores."""
        try:
            update = parse_update(payload)
        except BadUpdate as exc:
            # A hidden message without a sender cannot be answered: logged, so the operator sees it.
            log.warning("zalo update refused", extra={"channel": "zalo", "error": str(exc)})
            return None
        if update.from_bot or not update.private:
            return None  # other bots, and groups: the bot talks with students one to one
        return update

    @staticmethod
    def address(update: ZaloUpdate) -> tuple[str, str]:
        """The chat an update is ordered in, and its delivery id (a new one when Zalo gave none:
        such an update cannot be recognised when repeated)."""
        return update.chat_id, update.message_id or f"x{secrets.token_hex(8)}"

    async def process(self, payload: Any) -> None:
        """Handle one stored update (the inbox orders them): a database outage is raised, so the
        inbox tries the update again, instead of being apologised for."""
        update = self.accepts(payload)
        if update is not None:
            await self.handle(update, apologise=False)

    async def handle(self, update: ZaloUpdate, *, apologise: bool = True) -> None:
        """Run the core for one update and send its answer."""
        msg = to_incoming(update)
        if msg.kind is MessageKind.IMAGE:
            msg = msg.model_copy(update=await self._image(update))
        if msg.kind in (MessageKind.TEXT, MessageKind.COMMAND, MessageKind.IMAGE):
            try:
                await self.client.send_chat_action(update.chat_id, "typing")
            except ZaloError:
                pass  # only a courtesy
        try:
            turn = await self.app.handle(msg.model_copy(update={"queue_replies": True}))
            replies: list[Reply] = [] if turn.queued else list(turn.replies)
            if turn.queued:
                # Queued with the turn, sent together now (the numbered options span the turn).
                await deliver_turn(self.app, Channel.ZALO, turn.user_id, self._send_all)
        except StorageUnavailable as exc:
            if not apologise:
                raise
            log.exception("storage unavailable", extra={"channel": "zalo", "error": type(exc).__name__})
            replies = [self.app.error_reply()]
        for text in render_turn(replies, self.app.library, self.app.settings.hotline.zalo_url):
            await self.client.send_message(update.chat_id, text)

    async def _image(self, update: ZaloUpdate) -> dict[str, Any]:
        """The photo's bytes for the core, or why it could not be fetched."""
        if not update.photo_url:
            return {"image": None, "image_error": "download"}
        max_bytes = self.app.core.limits.max_image_mb * 1_000_000
        try:
            return {"image": await self.client.download(update.photo_url, max_bytes), "image_error": None}
        except ZaloError as exc:
            log.warning("zalo photo download failed", extra={"channel": "zalo", "error": type(exc).__name__})
            return {"image": None, "image_error": "too_big" if exc.description == "too_big" else "download"}

    # The outbox -------------------------------------------------------------------------------
    async def deliver_due(self, *, now: datetime | None = None) -> int:
        """Send students on Zalo what is due for them now (counselors' replies, notices, retries),
        a turn's replies together so that its numbered options still count across the turn."""
        return await deliver_turns(self.app, Channel.ZALO, self._send_all, now=now)

    async def _send_all(self, items: list[OutboxItem], user: Any) -> None:
        """Items rendered as one turn and sent; the outbox's errors for what went wrong."""
        if user is None or user.chat_id is None:
            raise Undeliverable("the student deleted their data")
        replies = [Reply(text=item.text, buttons=item.buttons) for item in items]
        for text in render_turn(replies, self.app.library, self.app.settings.hotline.zalo_url):
            try:
                await self.client.send_message(user.chat_id, text)
            except ZaloRateLimited as exc:
                raise TryLater(type(exc).__name__, after_s=exc.retry_after) from exc
            except RETRYABLE as exc:
                raise TryLater(type(exc).__name__) from exc
            except ZaloUnauthorized as exc:
                # The token is wrong: no reply is sent until it is fixed, and none is dropped.
                log.error(UNAUTHORIZED, extra={"channel": "zalo", "error": type(exc).__name__})
                raise TryLater(type(exc).__name__) from exc
            except ZaloError as exc:
                raise Undeliverable(f"{exc.code}") from exc


UNAUTHORIZED = "Zalo refused the bot token (401): check NOTALONE_ZALO__TOKEN"


def require_zalo_token(settings: Settings) -> str:
    token = settings.zalo.token
    if token is None or not token.get_secret_value().strip():
        raise StartupError("zalo.token is required: set NOTALONE_ZALO__TOKEN")
    return str(token.get_secret_value())


def make_client(settings: Settings) -> ZaloClient:
    """The Bot API client the settings describe."""
    zalo = settings.zalo
    return ZaloClient(
        token=require_zalo_token(settings),
        base_url=zalo.api_base_url,
        timeout_s=zalo.request_timeout_s,
        max_retries=zalo.max_retries,
    )
