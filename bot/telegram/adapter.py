"""PTB callbacks: each turns an Update into an Incoming, runs the core, and sends its replies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.main import App
from bot.telegram.calls import call_api
from bot.telegram.outbox import deliver_due, deliver_leased_to
from bot.telegram.render import hotline_keyboard, keyboard, text_of
from handlers.models import Channel, Incoming, MessageKind, Reply
from handlers.ports import StorageUnavailable

log = logging.getLogger(__name__)
SEND_ATTEMPTS = 4


@dataclass
class TelegramServices:
    app: App
    public_base_url: str | None
    bot_username: str = ""
    # Webhook mode: updates come from the inbox, which tries one again when the database was down
    # (instead of apologising here); the ids of such updates are collected for it.
    inbox: bool = False
    try_again: set[int] = field(default_factory=set)


def services(context: ContextTypes.DEFAULT_TYPE) -> TelegramServices:
    found = context.application.bot_data["notalone"]
    assert isinstance(found, TelegramServices)
    return found


def kind_of(message: Message) -> MessageKind:
    """What a student sent, as the core understands it (a caption counts as text, except on a photo:
    the photo is read and the caption goes with it)."""
    image = bool(message.photo) or (
        message.document is not None and (message.document.mime_type or "").startswith("image/")
    )
    if message.text:
        return MessageKind.COMMAND if message.text.startswith("/") else MessageKind.TEXT
    if message.caption and not image:
        return MessageKind.TEXT
    if image:
        return MessageKind.IMAGE
    if message.sticker:
        return MessageKind.STICKER
    if message.voice or message.audio or message.video_note:
        return MessageKind.VOICE
    if message.document or message.video or message.animation:
        return MessageKind.FILE
    if message.location or message.venue:
        return MessageKind.LOCATION
    return MessageKind.OTHER


def addressed(message: Message, bot_username: str) -> bool:
    """In a group, the bot answers only when named, replied to, or given a command meant for it."""
    if message.chat.type == ChatType.PRIVATE:
        return True
    text = message.text or message.caption or ""
    mention = f"@{bot_username}".lower() if bot_username else None
    if mention and mention in text.lower():
        return True
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.username == bot_username)


def strip_mention(text: str, bot_username: str) -> str:
    return text.replace(f"@{bot_username}", "").strip() if bot_username else text


async def send(context: ContextTypes.DEFAULT_TYPE, chat_id: int, reply: Reply) -> None:
    """Send a reply that has no outbox item (the apology when storage is down, the /xoa
    confirmation): retried at once, a 429 waited out for up to a minute, as nothing sends it later."""
    svc = services(context)
    markup = keyboard(reply.buttons, svc.public_base_url)
    await call_api(
        lambda: context.bot.send_message(chat_id, text_of(reply), reply_markup=markup),
        attempts=SEND_ATTEMPTS,
        max_wait_s=60.0,
    )


async def deliver(update: Update, context: ContextTypes.DEFAULT_TYPE, msg: Incoming) -> None:
    """Run the core for one message and send its replies (an apology and 111 if storage fails)."""
    svc = services(context)
    chat = update.effective_chat
    assert chat is not None
    try:
        # The replies are sent right after the turn: leased to this worker in the turn's transaction.
        lease = svc.app.settings.workers.outbox_lease_s
        turn = await svc.app.handle(msg.model_copy(update={"lease_replies_s": lease}))
        replies = [] if turn.queued else list(turn.replies)
        if turn.leased:
            # The replies were queued and leased to this worker with the turn: sent now, or by the
            # outbox worker once the lease runs out if Telegram cannot take them now.
            await deliver_leased_to(svc.app, context.bot, svc.public_base_url, turn.leased, chat.id)
        elif turn.queued:
            # Queued with the turn but not leased (an earlier item of this student is another
            # worker's now, or the turn had no reply): sent now if due, else by the outbox worker.
            await deliver_due(svc.app, context.bot, svc.public_base_url, user_id=turn.user_id)
    except StorageUnavailable as exc:
        if svc.inbox:
            svc.try_again.add(update.update_id)
            log.warning(
                "storage unavailable; the update will be tried again",
                extra={"channel": "telegram", "error": type(exc).__name__},
            )
            return
        log.exception("storage unavailable", extra={"channel": "telegram", "error": type(exc).__name__})
        replies = [svc.app.error_reply()]
    for reply in replies:
        await send(context, chat.id, reply)
    if (
        msg.kind is MessageKind.ACTION
        and msg.action == "call_111"
        or (msg.kind is MessageKind.COMMAND and msg.text and msg.text.lstrip("/").startswith("111"))
    ):
        await send_hotline_extras(context, chat.id)
    if msg.kind is MessageKind.ACTION and msg.action == "call_113":
        # One tap to dial: the police number as a contact card (Telegram refuses tel: buttons).
        name = svc.app.library.text("telegram_contact_name_113")
        await context.bot.send_contact(chat.id, phone_number="113", first_name=name)


async def send_hotline_extras(context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> None:
    """Telegram refuses tel: links in buttons: send 111 as a contact card, and a copy / call-page keyboard."""
    svc = services(context)
    lib = svc.app.library
    await context.bot.send_contact(chat_id, phone_number="111", first_name=lib.text("telegram_contact_name"))
    await context.bot.send_message(
        chat_id, lib.text("call_page_note"), reply_markup=hotline_keyboard(lib, svc.public_base_url)
    )


def incoming(
    update: Update, kind: MessageKind, text: str | None = None, action: str | None = None
) -> Incoming:
    user = update.effective_user
    chat = update.effective_chat
    assert user is not None and chat is not None
    return Incoming(
        channel=Channel.TELEGRAM,
        platform_user_id=str(user.id),
        chat_id=str(chat.id),
        kind=kind,
        text=text,
        action=action,
        # Telegram sends an update again when it was not acknowledged (a restart while polling):
        # the core answers each update once.
        delivery_id=f"u{update.update_id}",
        queue_replies=True,
    )


async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any message (new or edited): text, command, caption, forward, photo, sticker, voice, file, location."""
    message = update.effective_message
    if message is None or update.effective_user is None or update.effective_chat is None:
        return
    svc = services(context)
    if not addressed(message, svc.bot_username):
        return
    kind = kind_of(message)
    text = strip_mention(message.text or message.caption or "", svc.bot_username) or None
    typing = (
        asyncio.create_task(
            typing_later(context, update.effective_chat.id, svc.app.settings.telegram.typing_after_s)
        )
        if kind in (MessageKind.TEXT, MessageKind.COMMAND, MessageKind.IMAGE)
        else None
    )
    try:
        msg = incoming(update, kind, text=text)
        if kind is MessageKind.IMAGE:
            limit = svc.app.core.limits.max_image_mb * 1_000_000
            image, error = await download_image(message, context, limit)
            msg = msg.model_copy(update={"image": image, "image_error": error})
        await deliver(update, context, msg)
    finally:
        if typing is not None:
            typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await typing


async def typing_later(context: ContextTypes.DEFAULT_TYPE, chat_id: int, after_s: float) -> None:
    """Show "typing…" once the answer has taken `after_s` (cancelled when it is sent): most answers
    come sooner, and the Bot API call would only slow them down."""
    await asyncio.sleep(after_s)
    # Once asked for, the call is let finish (cancelling it mid-request would drop the connection).
    with contextlib.suppress(TelegramError):  # a courtesy: a Bot API outage must not stop the turn
        await asyncio.shield(context.bot.send_chat_action(chat_id, ChatAction.TYPING))


async def download_image(
    message: Message, context: ContextTypes.DEFAULT_TYPE, max_bytes: int
) -> tuple[bytes | None, str | None]:
    """The photo's bytes (the largest size Telegram has), or why not: "too_big" or "download"."""
    target = message.photo[-1] if message.photo else message.document
    if target is None:
        return None, "download"
    if target.file_size and target.file_size > max_bytes:
        return None, "too_big"
    try:
        file = await context.bot.get_file(target.file_id)
        if file.file_size and file.file_size > max_bytes:
            return None, "too_big"
        data = await file.download_as_bytearray()
    except (TelegramError, RuntimeError, OSError) as exc:  # RuntimeError: Telegram gave no file path
        log.warning("photo download failed", extra={"channel": "telegram", "error": type(exc).__name__})
        return None, "download"
    if len(data) > max_bytes:
        return None, "too_big"
    return bytes(data), None


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A tapped inline button: answer the callback query first (the spinner stops), then the core."""
    query = update.callback_query
    if query is None:
        return
    try:
        await query.answer()
    except TelegramError:
        log.warning("could not answer callback query", extra={"channel": "telegram"})
    if update.effective_chat is None or update.effective_user is None:
        return
    await deliver(update, context, incoming(update, MessageKind.ACTION, action=query.data or ""))


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One error handler for the channel: log the failure (never the message text, never the platform
    id: the student's pseudonym) and move on."""
    user = update.effective_user if isinstance(update, Update) else None
    who = services(context).app.core.pseudonym(Channel.TELEGRAM, str(user.id)) if user else None
    error: Any = context.error
    log.error(
        "telegram update failed",
        exc_info=(type(error), error, error.__traceback__) if error else None,
        extra={"channel": "telegram", "user": who, "error": type(error).__name__},
    )
