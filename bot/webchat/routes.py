"""The web chat's pages and JSON: a student talks to the same core as on Telegram and Zalo.

Anonymous: a random id in an HttpOnly cookie is the student's platform id (stored, like every id,
only as a keyed pseudonym). Replies come back with the request; what comes later (a counselor's
messages, notices) waits in the outbox: the page hears of it by Server-Sent Events and reads it with
the history, which it also reads whenever it is opened again. "Gọi 111" and "Gọi 113" are `tel:` links.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.main import App
from handlers.models import Channel, Incoming, MessageKind, Reply
from handlers.ports import StorageUnavailable
from handlers.replies import buttons

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
COOKIE = "notalone_chat"
COOKIE_DAYS = 30
MAX_BODY = 20_000
EVENTS_EVERY_S = 1.0
# A page's event stream ends after this long and the browser opens a new one: a page that went away
# without closing its connection is not polled for long.
EVENTS_FOR_S = 50.0
MAX_ACTION = 64
SRC = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


def _csp(frame_ancestors: list[str]) -> str:
    frames = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    return (
        "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; "
        f"form-action 'self'; frame-ancestors {frames}; base-uri 'none'"
    )


class AddressLimiter:
    """At most `per_minute` messages per client address in any minute (in this process)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}

    def allow(self, address: str) -> bool:
        now = time.monotonic()
        times = self._seen.setdefault(address, deque())
        while times and now - times[0] > 60:
            times.popleft()
        if len(times) >= self.per_minute:
            return False
        times.append(now)
        if len(self._seen) > 100_000:  # forget the quiet ones rather than grow without end
            self._seen = {a: t for a, t in self._seen.items() if t and now - t[-1] <= 60}
        return True


def create_webchat(app: App, *, secure_cookies: bool) -> FastAPI:
    """The web chat, to mount at /chat."""
    settings = app.settings.webchat
    lib = app.library
    csp = _csp(settings.frame_ancestors)
    limiter = AddressLimiter(settings.per_address_per_minute)
    pages = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        enable_async=False,
    )
    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    web.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def headers() -> dict[str, str]:
        found = {"Content-Security-Policy": csp, "Cache-Control": "no-store"}
        if settings.frame_ancestors:
            # Frames are governed by frame-ancestors; X-Frame-Options would forbid every one.
            found["X-Frame-Options"] = "ALLOW-FROM " + settings.frame_ancestors[0]
        return found

    def render(reply: Reply | Any, author: str = "bot") -> dict[str, Any]:
        shown: list[dict[str, str]] = []
        for button in reply.buttons:
            if button.action == "call_111":
                shown.append({"label": lib.text("web_call_111"), "href": "tel:111"})
                shown.append({"label": lib.text("web_call_113"), "href": "tel:113"})
            else:
                shown.append({"label": button.label, "action": button.action})
        return {"from": author, "text": reply.text, "buttons": shown}

    def who(request: Request) -> str | None:
        found = request.cookies.get(COOKIE, "")
        return found if 20 <= len(found) <= 64 and found.replace("-", "").replace("_", "").isalnum() else None

    def with_cookie(response: Response, chat_id: str) -> Response:
        response.set_cookie(
            COOKIE,
            chat_id,
            max_age=COOKIE_DAYS * 86400,
            httponly=True,
            secure=secure_cookies,
            samesite="none" if settings.frame_ancestors and secure_cookies else "strict",
            path="/chat",
        )
        return response

    def answer(body: dict[str, Any], status: int = 200, chat_id: str | None = None) -> Response:
        response = JSONResponse(body, status_code=status, headers=headers())
        return with_cookie(response, chat_id) if chat_id else response

    def kind_reply(key: str) -> dict[str, Any]:
        return render(Reply(text=lib.text(key), buttons=buttons(lib, "call_111")))

    @web.get("/", response_class=HTMLResponse)
    async def page(request: Request, src: str = "") -> HTMLResponse:
        # Which school or page linked here (a tag the operator puts in the link), counted per day.
        tag = src.lower() if SRC.match(src.lower()) else "-"
        try:
            await app.count_web_open(tag)
        except StorageUnavailable:
            log.warning("web chat opening not counted", extra={"channel": "web"})
        html = pages.get_template("chat.html").render(
            t=lib.text, retention_days=app.settings.privacy.retention_days
        )
        return HTMLResponse(html, headers=headers())

    @web.post("/api/send")
    async def send(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return answer({"replies": [kind_reply("web_too_long")]}, 413)
        address = request.client.host if request.client else "-"
        if not limiter.allow(address):
            # No analysis past the limit: a flood costs little; 111 and 113 are always in the answer.
            return answer({"replies": [kind_reply("web_slow_down")]}, 429)
        try:
            data = json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            return answer({"replies": [kind_reply("web_bad_request")]}, 400)
        chat_id = who(request) or secrets.token_urlsafe(24)
        msg = _incoming(chat_id, data)
        if msg is None:
            return answer({"replies": [kind_reply("web_bad_request")]}, 400, chat_id)
        try:
            turn = await app.handle(msg)
            replies = list(turn.replies)
        except StorageUnavailable as exc:
            log.warning("storage unavailable", extra={"channel": "web", "error": type(exc).__name__})
            replies = [app.error_reply()]
        response = answer({"replies": [render(r) for r in replies]}, 200, chat_id)
        if msg.action == "delete_confirm":
            response.delete_cookie(COOKIE, path="/chat")
        return response

    @web.get("/api/history")
    async def history(request: Request) -> Response:
        chat_id = who(request)
        if chat_id is None:
            return answer({"messages": []})
        user_id = app.core.pseudonym(Channel.WEB, chat_id)
        async with app.core.uow() as uow:
            conversation = await uow.conversations.current(user_id)
            stored = await uow.messages.list_for(conversation.id) if conversation else []
            # What waited for the page is in the history now: it is not pushed again.
            now = app.core.clock()
            for item in await uow.outbox.take_due(Channel.WEB, now, now, 500, user_id=user_id):
                await uow.outbox.mark_sent(item.id, now)
            await uow.commit()
        messages = []
        for m in stored:
            if m.direction.value == "in":
                if m.text:
                    messages.append({"from": "student", "text": m.text, "buttons": []})
                continue
            author = "counselor" if (m.author or "").startswith("counselor:") else "bot"
            messages.append(render(m, author))
        return answer({"messages": messages})

    @web.get("/api/events")
    async def events(request: Request) -> Response:
        chat_id = who(request)
        if chat_id is None:
            return Response(status_code=204, headers=headers())
        user_id = app.core.pseudonym(Channel.WEB, chat_id)

        async def stream() -> AsyncIterator[bytes]:
            yield b"retry: 3000\n: open\n\n"
            ends = time.monotonic() + EVENTS_FOR_S
            while time.monotonic() < ends and not await request.is_disconnected():
                try:
                    # New messages are in the transcript too: the page reloads its history (with who
                    # wrote each) when told how many came.
                    count = len(await _due(app, user_id))
                    if count:
                        yield f"data: {json.dumps({'new': count})}\n\n".encode()
                except StorageUnavailable:
                    pass  # the page keeps listening; the item waits in the outbox
                await asyncio.sleep(EVENTS_EVERY_S)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={**headers(), "X-Accel-Buffering": "no"}
        )

    return web


async def _due(app: App, user_id: str) -> list[Any]:
    """The student's waiting messages, oldest first, marked sent as they are taken."""
    now = app.core.clock()
    async with app.core.uow() as uow:
        items = await uow.outbox.take_due(Channel.WEB, now, now + timedelta(seconds=30), 50, user_id=user_id)
        for item in items:
            await uow.outbox.mark_sent(item.id, now)
        await uow.commit()
    return items


def _incoming(chat_id: str, data: dict[str, Any]) -> Incoming | None:
    """What the page sent as the core's message; None when it is not one."""
    delivery = data.get("id")
    delivery = delivery if isinstance(delivery, str) and 8 <= len(delivery) <= 40 else None
    base: dict[str, Any] = {
        "channel": Channel.WEB,
        "platform_user_id": chat_id,
        "chat_id": chat_id,
        "delivery_id": f"w{delivery}" if delivery else None,
    }
    if isinstance(data.get("action"), str) and data["action"]:
        return Incoming(**base, kind=MessageKind.ACTION, action=data["action"][:MAX_ACTION])
    text = data.get("text")
    if not isinstance(text, str):
        return None
    kind = MessageKind.COMMAND if text.lstrip().startswith("/") else MessageKind.TEXT
    return Incoming(**base, kind=kind, text=text)
