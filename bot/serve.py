"""Long-running entry points: `notalone run telegram` (long polling) and `notalone serve` (webhook app)."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import uvicorn
from telegram import Update

from bot.main import App, StartupError, build_app
from bot.settings import Settings
from bot.telegram.app import build_application
from bot.telegram.worker import outbox_loop
from bot.web import WEBHOOK_PATH, create_web_app

RETENTION_EVERY_S = 24 * 3600


def require_token(settings: Settings) -> str:
    token = settings.telegram.token
    if token is None or not token.get_secret_value().strip():
        raise StartupError("telegram.token is required: set NOTALONE_TELEGRAM__TOKEN")
    return token.get_secret_value()


async def retention_loop(app: App) -> None:
    """Apply the retention limit once a day while the bot runs."""
    while True:
        await asyncio.sleep(RETENTION_EVERY_S)
        await app.purge_expired()


async def run_telegram(settings: Settings) -> int:
    """Long polling until SIGINT/SIGTERM; updates in flight finish before it stops."""
    require_token(settings)
    app = await build_app(settings)
    application = build_application(settings.telegram, app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    retention = asyncio.create_task(retention_loop(app))
    try:
        async with application:
            assert application.updater is not None
            if application.post_init is not None:
                await application.post_init(application)
            await application.updater.start_polling(
                timeout=settings.telegram.poll_timeout_s, allowed_updates=Update.ALL_TYPES
            )
            await application.start()
            outbox = asyncio.create_task(outbox_loop(app, application.bot, settings.telegram.public_base_url))
            await stop.wait()
            outbox.cancel()
            await application.updater.stop()
            await application.stop()
    finally:
        retention.cancel()
        await app.close()
    return 0


async def serve(settings: Settings, host: str, port: int) -> int:
    """The web app; with a token, Telegram updates arrive by webhook."""
    app = await build_app(settings)
    telegram = None
    secret = None
    webhook_url = None
    if settings.telegram.token is not None:
        require_token(settings)
        if not settings.telegram.public_base_url or settings.telegram.webhook_secret is None:
            await app.close()
            raise StartupError(
                "the Telegram webhook needs telegram.public_base_url in config.yaml and "
                "NOTALONE_TELEGRAM__WEBHOOK_SECRET"
            )
        secret = settings.telegram.webhook_secret.get_secret_value()
        webhook_url = settings.telegram.public_base_url.rstrip("/") + WEBHOOK_PATH
        telegram = build_application(settings.telegram, app, webhook=True)
    web = create_web_app(app, telegram, secret=secret, webhook_url=webhook_url)
    retention = asyncio.create_task(retention_loop(app))
    try:
        config = uvicorn.Config(web, host=host, port=port, log_config=None, access_log=False)
        await uvicorn.Server(config).serve()
    finally:
        retention.cancel()
    return 0
