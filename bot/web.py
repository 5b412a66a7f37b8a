"""The project's ASGI app (`notalone serve`): Telegram webhook, health checks and the call-111 page."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from itertools import accumulate
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import text
from telegram import Update
from telegram.constants import ChatAction
from telegram.ext import Application

from bot.inbox import Handle, Held, Inbox, TryAgain
from bot.main import App
from bot.telegram.worker import telegram_deliverers
from bot.webchat.routes import create_webchat
from bot.worker import Deliver, outbox_loop
from bot.zalo.channel import ZaloChannel
from bot.zalo.webhook import ZALO_WEBHOOK_PATH
from counselor.api import create_api
from counselor.console import ConsoleDeps, create_console
from counselor.headers import NOTHING_CSP, add_security_headers
from handlers.models import Channel
from handlers.ports import StorageUnavailable

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
ZALO_SECRET_HEADER = "X-Bot-Api-Secret-Token"  # noqa: S105 - a header name
MAX_UPDATE_BYTES = 1_000_000
# Telegram's and Zalo's updates nest a few levels; far deeper is a probe (and past ~1,000 the JSON
# decoder itself fails with a RecursionError).
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(rb"[\[\]{}]")


TelegramApp = Application[Any, Any, Any, Any, Any, Any]


async def webhook_json(request: Request, header: str, secret: str | None) -> Any:
    """A webhook's JSON body, or the answer to give instead: 403 without the secret (compared in
    constant time), 413 when too large, 400 when not JSON or nested deeper than any real update."""
    given = request.headers.get(header, "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        return Response(status_code=403)
    body = await request.body()
    if len(body) > MAX_UPDATE_BYTES:
        return Response(status_code=413)
    if json_depth(body) > MAX_JSON_DEPTH:
        return Response(status_code=400)
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return Response(status_code=400)


def json_depth(body: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings do not count)."""
    brackets = _BRACKETS.findall(_JSON_STRING.sub(b"", body))
    return max(accumulate(1 if b in (b"[", b"{") else -1 for b in brackets), default=0)


def make_inbox(app: App, handlers: dict[Channel, Handle]) -> Inbox:
    """This worker's inbox, handling each channel's stored updates with its handler."""
    settings = app.settings.workers
    return Inbox(app, handlers, lease_s=settings.lease_s, max_in_flight=settings.max_in_flight)


def telegram_handler(telegram: TelegramApp) -> Handle:
    """How the inbox hands a stored Telegram update to PTB (webhook and long polling alike); an
    update the database could not take is given back to the inbox to try again."""
    services = telegram.bot_data["notalone"]
    services.inbox = True

    async def telegram_update(payload: Any) -> None:
        update = Update.de_json(payload, telegram.bot)
        await telegram.process_update(update)
        if update.update_id in services.try_again:
            services.try_again.discard(update.update_id)
            raise TryAgain

    return telegram_update


def telegram_chat(update: Update) -> str:
    """The chat an update orders with; updates without a chat (none the bot asks for, today) are
    not ordered with any other."""
    chat = update.effective_chat
    return str(chat.id) if chat is not None else f"update:{update.update_id}"


def create_web_app(
    app: App,
    telegram: TelegramApp | None,
    *,
    secret: str | None,
    webhook_url: str | None,
    zalo: ZaloChannel | None = None,
    zalo_secret: str | None = None,
) -> FastAPI:
    """The web app; updates posted to a channel's webhook go to that channel (Telegram, Zalo)."""

    handlers: dict[Channel, Handle] = {}
    if telegram is not None:
        handlers[Channel.TELEGRAM] = telegram_handler(telegram)
    if zalo is not None:
        handlers[Channel.ZALO] = zalo.process
    inbox = make_inbox(app, handlers)
    # Zalo may not send an update again after a 503: one the database cannot take is held here.
    held = Held(inbox)

    async def student_typing(user_id: str) -> None:
        """A counselor is typing: "typing…" in the student's chat, on the channel they wrote from."""
        async with app.core.uow() as uow:
            user = await uow.users.get(user_id)
        if user is None or user.chat_id is None:
            return
        if user.channel is Channel.TELEGRAM and telegram is not None:
            await telegram.bot.send_chat_action(int(user.chat_id), ChatAction.TYPING)
        elif user.channel is Channel.ZALO and zalo is not None:
            await zalo.client.send_chat_action(user.chat_id, "typing")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        deliverers: list[Deliver] = []
        if telegram is not None:
            await telegram.initialize()
            if telegram.post_init is not None:
                await telegram.post_init(telegram)
            await telegram.start()
            deliverers += telegram_deliverers(app, telegram.bot, app.settings.telegram.public_base_url)
            if webhook_url:
                await telegram.bot.set_webhook(
                    webhook_url, secret_token=secret, allowed_updates=Update.ALL_TYPES
                )
        if zalo is not None:
            deliverers.append(zalo.deliver_due)
            # The webhook is registered by `serve` once the port listens (Zalo tests it at once).
        outbox = asyncio.create_task(outbox_loop(app, deliverers)) if deliverers else None
        updates = asyncio.create_task(inbox.run()) if handlers else None
        holding = asyncio.create_task(held.run()) if zalo is not None else None
        try:
            yield
        finally:
            # Graceful: stop taking updates, let the ones in flight finish, then close.
            if holding is not None:
                holding.cancel()
                with contextlib.suppress(StorageUnavailable):
                    await held.flush()
                held.report_at_stop()
            if updates is not None:
                updates.cancel()
                await inbox.drain()
            if outbox is not None:
                outbox.cancel()
            if telegram is not None:
                await telegram.stop()
                await telegram.shutdown()
            if zalo is not None:
                await zalo.client.close()
            await app.close()

    web = FastAPI(title="notalone", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    web.state.inbox = inbox
    web.state.held = held
    add_security_headers(web, NOTHING_CSP)
    web.mount(
        "/console",
        create_console(
            ConsoleDeps(
                uow=app.core.uow,
                sessions=app.sessions,
                library=app.library,
                clock=app.core.clock,
                secure_cookies=app.settings.console.secure_cookies,
                session_ttl=timedelta(minutes=app.settings.console.session_minutes),
                escalation=app.core.escalation,
                max_sessions=app.settings.console.max_sessions,
                typing=student_typing,
            )
        ),
    )
    if app.settings.webchat.enabled:
        web.mount("/chat", create_webchat(app, secure_cookies=app.settings.console.secure_cookies))
    web.mount(
        "/api",
        create_api(
            uow=app.core.uow,
            sessions=app.sessions,
            counselor_by_token=app.counselor_by_token,
            library=app.library,
            clock=app.core.clock,
        ),
    )

    @web.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @web.get("/readyz")
    async def readyz() -> Response:
        problems = []
        try:
            async with app.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported by type
            problems.append(f"database: {type(exc).__name__}")
        if telegram is not None and not telegram.running:
            problems.append("telegram: not running")
        status = 503 if problems else 200
        return JSONResponse({"ready": not problems, "problems": problems}, status_code=status)

    @web.get("/goi/111", response_class=HTMLResponse)
    async def call_page() -> HTMLResponse:
        lib = app.library
        zalo = app.settings.hotline.zalo_url
        zalo_label = html.escape(lib.text("call_page_zalo"))
        zalo_link = (
            f'<a class="call zalo" href="{html.escape(zalo, quote=True)}">{zalo_label}</a>' if zalo else ""
        )
        page = CALL_PAGE.format(
            title=html.escape(lib.text("call_page_title")),
            call_111=html.escape(lib.text("call_page_111")),
            call_113=html.escape(lib.text("call_page_113")),
            zalo=zalo_link,
            note=html.escape(lib.text("call_page_note")),
        )
        return HTMLResponse(page, headers={"Content-Security-Policy": CALL_PAGE_CSP})

    @web.post(WEBHOOK_PATH)
    async def telegram_webhook(request: Request) -> Response:
        if telegram is None:
            return Response(status_code=404)
        data = await webhook_json(request, SECRET_HEADER, secret)
        if isinstance(data, Response):
            return data
        if not isinstance(data, dict) or "update_id" not in data:
            return Response(status_code=400)
        try:
            update = Update.de_json(data, telegram.bot)
        except (KeyError, TypeError, ValueError, AttributeError):  # e.g. "message": true
            # Valid JSON Telegram may send again and again: acknowledge it, ignore it, log its type only.
            log.warning("unreadable telegram update ignored", extra={"channel": "telegram"})
            return Response(status_code=200)
        return await stored(Channel.TELEGRAM, telegram_chat(update), f"u{update.update_id}", data)

    async def stored(channel: Channel, chat_id: str, delivery_id: str, payload: Any) -> Response:
        """200 once the update is in the database; 503 if it cannot be (the platform sends it again)."""
        try:
            await inbox.accept(channel, chat_id, delivery_id, payload)
        except StorageUnavailable:
            log.warning("webhook update not stored: database unavailable", extra={"channel": channel.value})
            return Response(status_code=503, headers={"Retry-After": "5"})
        return Response(status_code=200)

    @web.get(ZALO_WEBHOOK_PATH)
    async def zalo_webhook_check() -> Response:
        # A platform may test the address with a GET before it posts updates: it answers.
        return Response(status_code=200 if zalo is not None else 404)

    @web.post(ZALO_WEBHOOK_PATH)
    async def zalo_webhook(request: Request) -> Response:
        if zalo is None:
            return Response(status_code=404)
        data = await webhook_json(request, ZALO_SECRET_HEADER, zalo_secret)
        if isinstance(data, Response):
            return data
        # Something we cannot answer is acknowledged anyway (logged by reason): Zalo would only resend it.
        update = zalo.accepts(data)
        if update is None:
            return Response(status_code=200)
        chat_id, delivery = zalo.address(update)
        try:
            await held.accept(Channel.ZALO, chat_id, delivery, data)
        except StorageUnavailable:
            # Held in memory (logged as an error, with a count) and stored when the database is back;
            # the 503 lets Zalo send it again if it does (the repeat is dropped).
            return Response(status_code=503, headers={"Retry-After": "5"})
        return Response(status_code=200)

    return web


# The call page's own inline style, nothing else (no script, no frame around it).
CALL_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
CALL_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; padding: 24px; background: #fff8f0; color: #222; }}
a.call {{ display: block; margin: 16px 0; padding: 28px 16px; border-radius: 16px; text-align: center;
  font-size: 1.6rem; font-weight: 700; text-decoration: none; color: #fff; background: #d9480f; }}
a.police {{ background: #1864ab; font-size: 1.2rem; }}
a.zalo {{ background: #0068ff; font-size: 1.2rem; }}
p {{ font-size: 1.1rem; text-align: center; }}
</style></head>
<body><h1>{title}</h1>
<a class="call" href="tel:111">{call_111}</a>
<a class="call police" href="tel:113">{call_113}</a>
{zalo}
<p>{note}</p>
</body></html>
"""
