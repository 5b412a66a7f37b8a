"""The counselors' Telegram group: a forum topic per case with alerts and a link to the console, and
counselors' replies in a case's topic relayed to the student (like a reply from the console)."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ContextTypes

from bot.main import App
from bot.outbox import Undeliverable, deliver_items
from bot.telegram.adapter import services
from bot.telegram.outbox import translated
from handlers.handoff import CLAIM_PREFIX, COUNSELORS
from handlers.models import Channel, OutboxItem

log = logging.getLogger(__name__)
CLAIM_PATTERN = re.compile(rf"^{re.escape(CLAIM_PREFIX)}(\d{{1,18}})$")
# No topic: the group is not a forum, or the bot may not manage topics; alerts go to the group itself.
NO_TOPIC = 0
TOPIC_NAME_MAX = 128


def console_link(public_base_url: str | None, case_id: int) -> str | None:
    return f"{public_base_url.rstrip('/')}/console/cases/{case_id}" if public_base_url else None


def alert_keyboard(app: App, item: OutboxItem, public_base_url: str | None) -> InlineKeyboardMarkup | None:
    """The claim button the core asked for, and a link to the case in the console (when it has an address)."""
    rows = [[InlineKeyboardButton(b.label, callback_data=b.action[:64])] for b in item.buttons]
    link = console_link(public_base_url, item.case_id) if item.case_id is not None else None
    if link and item.buttons:
        rows.append([InlineKeyboardButton(app.library.text("alert_console_button"), url=link)])
    return InlineKeyboardMarkup(rows) if rows else None


async def topic_for(app: App, bot: Any, group_id: int, case_id: int) -> int | None:
    """The case's forum topic, created on its first alert; None when alerts go to the group itself."""
    async with app.core.uow() as uow:
        case = await uow.cases.get(case_id)
    if case is None:
        raise Undeliverable("the case is gone")
    if case.alert_thread_id is not None:
        return case.alert_thread_id or None
    name = app.library.text(
        "alert_topic",
        case_id=str(case.id),
        priority=app.library.text(f"alert_priority_{case.priority.value}"),
    )[:TOPIC_NAME_MAX]
    try:
        topic = await bot.create_forum_topic(group_id, name)
        thread = int(topic.message_thread_id)
    except (BadRequest, Forbidden) as exc:
        # Not a forum, or the bot lacks "manage topics": still alert, in the group's main chat.
        log.warning("cannot create a forum topic", extra={"channel": "telegram", "error": type(exc).__name__})
        thread = NO_TOPIC
    async with app.core.uow() as uow:
        await uow.cases.set_alert_thread(case_id, thread)
        await uow.commit()
    return thread or None


async def deliver_alerts(
    app: App, bot: Any, group_id: int, public_base_url: str | None, *, now: datetime | None = None
) -> int:
    """Post what is due to the counselors' group, each case in its own topic, in order, once."""

    async def send(item: OutboxItem, _user: Any) -> None:
        if item.case_id is None:
            raise Undeliverable("an alert without a case")
        thread = await topic_for(app, bot, group_id, item.case_id)
        markup = alert_keyboard(app, item, public_base_url)
        await translated(
            lambda: bot.send_message(group_id, item.text, message_thread_id=thread, reply_markup=markup)
        )

    return await deliver_items(app, Channel.TELEGRAM, COUNSELORS, send, now=now)


async def on_group_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a case's topic of the counselors' group, a linked counselor's text goes to the student."""
    message = update.message
    if message is None or message.from_user is None or message.from_user.is_bot:
        return
    text = message.text or ""
    if not message.is_topic_message or not message.message_thread_id or not text or text.startswith("/"):
        return  # talk in the group's main chat, commands, photos: not for a student
    app = services(context).app
    result = await app.relay_from_group(message.message_thread_id, message.from_user.id, text)
    if result.notice:
        await context.bot.send_message(
            message.chat.id,
            result.notice,
            message_thread_id=message.message_thread_id,
            reply_to_message_id=message.message_id,
        )


async def on_group_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """«Nhận ca» under an alert: claim the case for the linked counselor who tapped it."""
    query = update.callback_query
    if query is None or query.from_user is None:
        return
    found = CLAIM_PATTERN.match(query.data or "")
    group_id = services(context).app.settings.telegram.counselor_group_id
    chat = query.message.chat.id if query.message is not None else None
    if found is None or chat is None or chat != group_id:
        await _answer(query, None)
        return
    result = await services(context).app.claim_from_group(int(found.group(1)), query.from_user.id)
    await _answer(query, result.notice)


async def _answer(query: Any, text: str | None) -> None:
    try:
        await query.answer(text=text[:200] if text else None, show_alert=bool(text))
    except TelegramError:
        log.warning("could not answer callback query", extra={"channel": "telegram"})
