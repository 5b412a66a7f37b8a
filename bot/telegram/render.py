"""Core replies as Telegram messages: plain text (nothing a student typed can break the markup)
and inline keyboards; `call_111` becomes a link to the call page when the bot has a public address."""

from __future__ import annotations

from telegram import CopyTextButton, InlineKeyboardButton, InlineKeyboardMarkup

from handlers.models import Button, Reply
from handlers.ports import GuidanceLibrary

MAX_TEXT = 4096
# Short buttons that share a row ("👍 Có ích" "👎 Chưa ổn"); every other label is a sentence of its own.
SHARED_ROW = frozenset({"helpful", "not_helpful"})


def call_page(public_base_url: str | None) -> str | None:
    """The https page that opens the phone's dialer on 111."""
    return f"{public_base_url.rstrip('/')}/goi/111" if public_base_url else None


def keyboard(buttons: tuple[Button, ...], public_base_url: str | None) -> InlineKeyboardMarkup | None:
    """One button per row (the labels are sentences), the feedback pair side by side; callback data is
    the core's action id."""
    if not buttons:
        return None
    page = call_page(public_base_url)
    rows: list[list[InlineKeyboardButton]] = []
    shared = False
    for button in buttons:
        if button.action == "call_111" and page:
            key = InlineKeyboardButton(button.label, url=page)
        else:
            key = InlineKeyboardButton(button.label, callback_data=button.action[:64])
        if button.action in SHARED_ROW and shared:
            rows[-1].append(key)
        else:
            rows.append([key])
        shared = button.action in SHARED_ROW
    return InlineKeyboardMarkup(rows)


def hotline_keyboard(lib: GuidanceLibrary, public_base_url: str | None) -> InlineKeyboardMarkup:
    """Under the hotline message: open the call page (when there is one) and copy the number."""
    rows = []
    page = call_page(public_base_url)
    if page:
        rows.append([InlineKeyboardButton(lib.text("telegram_open_dialer"), url=page)])
    rows.append([InlineKeyboardButton(lib.text("telegram_copy_111"), copy_text=CopyTextButton("111"))])
    return InlineKeyboardMarkup(rows)


def text_of(reply: Reply) -> str:
    """The message text, within Telegram's limit (the core already splits long replies)."""
    return reply.text[:MAX_TEXT]
