"""Long-running entry points: `notalone run telegram|zalo` (long polling) and `notalone serve` (webhooks)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal

import uvicorn

from bot.main import App, StartupError, build_app
from bot.settings import Settings
from bot.telegram.app import build_application
from bot.telegram.polling import poll
from bot.telegram.worker import telegram_deliverers
from bot.web import WEBHOOK_PATH, create_web_app, make_inbox, telegram_handler
from bot.worker import outbox_loop
from bot.zalo.channel import ZaloChannel, make_client, require_zalo_token
from bot.zalo.polling import poll as poll_zalo
from bot.zalo.webhook import check_webhook, forget_webhook, register_webhook, when_listening, zalo_webhook_url
from handlers.models import Channel

RETENTION_EVERY_S = 24 * 3600
STOP_WAIT_S = 10


def freeze_startup_objects() -> None:
    """Leave what start-up built (the NLU model, the content library, the web app) out of the
    garbage collector's full passes: they never become garbage, and scanning them made some
    answers wait (p99 at 50 updates/s: about 220 ms instead of 270-310, docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()


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
    """Long polling until SIGINT/SIGTERM, through the same inbox and outbox as the webhook: an
    update is stored before Telegram is told it arrived. Updates in flight finish before it stops."""
    require_token(settings)
    app = await build_app(settings)
    # No PTB updater: the updates PTB handles come from the inbox.
    application = build_application(settings.telegram, app, webhook=True)
    inbox = make_inbox(app, {Channel.TELEGRAM: telegram_handler(application)})
    stop = asyncio.Event()
    stop_on_signals(stop)
    retention = asyncio.create_task(retention_loop(app))
    try:
        async with application:
            if application.post_init is not None:
                await application.post_init(application)
            # getUpdates does not work while a webhook is set.
            await application.bot.delete_webhook()
            await application.start()
            deliverers = telegram_deliverers(app, application.bot, settings.telegram.public_base_url)
            outbox = asyncio.create_task(outbox_loop(app, deliverers))
            updates = asyncio.create_task(inbox.run())
            freeze_startup_objects()
            try:
                await poll(application.bot, inbox, stop, settings.telegram.poll_timeout_s)
            finally:
                updates.cancel()
                await inbox.drain()
                outbox.cancel()
                await application.stop()
    finally:
        retention.cancel()
        await app.close()
    return 0


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


async def run_zalo(settings: Settings) -> int:
    """Long polling of the Zalo Bot API until SIGINT/SIGTERM, through the same inbox and outbox as the
    webhook: an update is stored before the next one is asked for. Updates in flight finish first."""
    require_zalo_token(settings)
    app = await build_app(settings)
    channel = ZaloChannel(app, make_client(settings))
    inbox = make_inbox(app, {Channel.ZALO: channel.process})
    stop = asyncio.Event()
    stop_on_signals(stop)
    retention = asyncio.create_task(retention_loop(app))
    outbox = asyncio.create_task(outbox_loop(app, [channel.deliver_due]))
    try:
        # getUpdates does not work while a webhook is set (a clear error if the token is wrong).
        await forget_webhook(channel.client)
        updates = asyncio.create_task(inbox.run())
        freeze_startup_objects()
        try:
            await poll_zalo(channel, inbox, stop)
        finally:
            updates.cancel()
            await inbox.drain()
    finally:
        outbox.cancel()
        retention.cancel()
        await channel.client.close()
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
    zalo = None
    zalo_secret = None
    if settings.zalo.token is not None:
        if settings.zalo.webhook_secret is None or len(settings.zalo.webhook_secret.get_secret_value()) < 8:
            await app.close()
            raise StartupError("the Zalo webhook needs NOTALONE_ZALO__WEBHOOK_SECRET (8 to 256 characters)")
        zalo = ZaloChannel(app, make_client(settings))
        zalo_secret = settings.zalo.webhook_secret.get_secret_value()
    web = create_web_app(
        app, telegram, secret=secret, webhook_url=webhook_url, zalo=zalo, zalo_secret=zalo_secret
    )
    retention = asyncio.create_task(retention_loop(app))
    freeze_startup_objects()
    # No `server: uvicorn` banner: an answer need not say what runs behind it.
    # A stop waits at most STOP_WAIT_S for answers in progress (a web chat page's event stream among them).
    config = uvicorn.Config(
        web,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=STOP_WAIT_S,
    )
    server = uvicorn.Server(config)
    registering = None
    if zalo is not None and zalo_secret is not None:
        registering = asyncio.create_task(zalo_webhook(server, zalo, settings, zalo_secret))
    try:
        await server.serve()
    finally:
        retention.cancel()
        if registering is not None:
            registering.cancel()
    return 0


async def zalo_webhook(server: uvicorn.Server, zalo: ZaloChannel, settings: Settings, secret: str) -> None:
    """Once the server listens (Zalo tests the address at once), register the webhook at the public
    address; without one, check that some webhook is registered and say so if none is."""
    if not await when_listening(lambda: server.started, lambda: server.should_exit):
        return
    url = zalo_webhook_url(settings)
    if url is None:
        await check_webhook(zalo.client, None)
    else:
        await register_webhook(zalo.client, url, secret)
