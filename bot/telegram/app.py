"""Building the python-telegram-bot Application: all handler registration is here."""

from __future__ import annotations

from telegram import BotCommand
from telegram.ext import AIORateLimiter, Application, CallbackQueryHandler, MessageHandler, filters

from bot.main import App
from bot.telegram.adapter import TelegramServices, on_button, on_error, on_message
from bot.telegram.alerts import CLAIM_PATTERN, on_group_button, on_group_message
from bot.telegram.processor import PerChatUpdateProcessor
from bot.telegram.settings import TelegramSettings
from bot.web import TelegramApp
from handlers.ports import MENU_COMMANDS


def build_application(settings: TelegramSettings, app: App, *, webhook: bool = False) -> TelegramApp:
    """The PTB Application for this bot (webhook: no updater, updates come through the web app)."""
    assert settings.token is not None
    builder = (
        Application.builder()
        .token(settings.token.get_secret_value())
        .base_url(f"{settings.api_base_url.rstrip('/')}/bot")
        .base_file_url(f"{settings.api_base_url.rstrip('/')}/file/bot")
        .concurrent_updates(PerChatUpdateProcessor())
        .rate_limiter(AIORateLimiter(overall_max_rate=settings.max_sends_per_second, max_retries=3))
        .post_init(_post_init)
    )
    if webhook:
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data["notalone"] = TelegramServices(app=app, public_base_url=settings.public_base_url)
    if settings.counselor_group_id is not None:
        # The counselors' group first: nothing said there is ever treated as a student's message.
        group = filters.Chat(chat_id=settings.counselor_group_id)
        application.add_handler(MessageHandler(group & filters.UpdateType.MESSAGE, on_group_message))
        application.add_handler(MessageHandler(group, _ignore))
        application.add_handler(CallbackQueryHandler(on_group_button, pattern=CLAIM_PATTERN))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(MessageHandler(filters.ALL & ~filters.StatusUpdate.ALL, on_message))
    application.add_error_handler(on_error)
    return application


async def _ignore(_update: object, _context: object) -> None:
    """Edited messages and service messages of the counselors' group need no answer."""


async def _post_init(application: TelegramApp) -> None:
    """Learn the bot's username (for group mentions) and set the Vietnamese command menu."""
    svc: TelegramServices = application.bot_data["notalone"]
    me = await application.bot.get_me()
    svc.bot_username = me.username or ""
    lib = svc.app.library
    await application.bot.set_my_commands([BotCommand(c, lib.text(f"command_{c}")) for c in MENU_COMMANDS])
