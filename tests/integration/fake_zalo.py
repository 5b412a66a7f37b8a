"""A local fake of the Zalo Bot Platform Bot API (aiohttp on 127.0.0.1:0).

getUpdates hands out one queued update per call and answers 408 when none came within the timeout;
sends are recorded in `.calls`; the next calls of a method can be scripted to fail (status, body,
not-JSON, or a delay longer than the client waits).

As the live service is reported to: `setWebhook` tests the address at once (an https address is
reached through `.reach`, which maps it to a local one) and says how in `verification`;
`deleteWebhook` on a bot without a webhook answers 400 with a string `error_code`; files may
redirect (`/redirect/<n>/<name>`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web


@dataclass
class Script:
    status: int = 200
    body: Any = None
    raw: str | None = None
    delay: float = 0.0


@dataclass
class FakeZalo:
    token: str = "4242:zalo-test-token"
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    updates: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    scripts: dict[str, list[Script]] = field(default_factory=dict)
    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    # The registered webhook ("" when none) and what testing it found.
    webhook: str = ""
    reach: dict[str, str] = field(default_factory=dict)
    tested: list[int] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _closing: bool = False

    async def start(self) -> None:
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/files/{name}", self._file)
        app.router.add_get("/redirect/{hops}/{name}", self._redirect)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._closing = True  # long polls in progress answer 408 now, so the server stops at once
        await self._runner.cleanup()

    def script(self, method: str, *scripts: Script) -> None:
        self.scripts.setdefault(method, []).extend(scripts)

    def called(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    def texts(self, chat_id: str) -> list[str]:
        return [p["text"] for p in self.called("sendMessage") if p.get("chat_id") == chat_id]

    async def wait_texts(self, chat_id: str, count: int, timeout: float = 15.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.texts(chat_id)) >= count:
                return self.texts(chat_id)
            await asyncio.sleep(0.05)
        raise AssertionError(f"{chat_id} got {len(self.texts(chat_id))} messages, wanted {count}")

    async def wait_text_with(self, chat_id: str, part: str, after: int = 0, timeout: float = 15.0) -> str:
        """The first message to `chat_id` (from index `after`) containing `part`, once it is sent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for text in self.texts(chat_id)[after:]:
                if part in text:
                    return text
            await asyncio.sleep(0.05)
        raise AssertionError(f"{chat_id} got no message with {part!r}")

    async def settled(self, chat_id: str, quiet: float = 0.6, timeout: float = 15.0) -> list[str]:
        """The messages to `chat_id` once none has come for `quiet` seconds (a turn is complete)."""
        deadline = time.monotonic() + timeout
        seen, since = len(self.texts(chat_id)), time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            now = len(self.texts(chat_id))
            if now != seen:
                seen, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return self.texts(chat_id)

    # Updates ----------------------------------------------------------------------------------
    def update(
        self,
        user: str,
        event: str = "message.text.received",
        *,
        text: str | None = None,
        name_field: str = "display_name",
        message_id: str | None = None,
        **message: Any,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "message_id": message_id or f"m{next(self._ids)}",
            "from": {"id": user, name_field: "Học sinh", "is_bot": False},
            "chat": {"id": user, "chat_type": "PRIVATE"},
            "date": int(time.time() * 1000),
            **message,
        }
        if text is not None:
            body["text"] = text
        return {"event_name": event, "message": body}

    def push(self, update: dict[str, Any]) -> None:
        self.updates.put_nowait(update)

    def serve_file(self, name: str, data: bytes) -> str:
        """Serve `data` as a photo Zalo links to; returns its URL."""
        self.files[name] = data
        return f"{self.url}/files/{name}"

    async def _redirect(self, request: web.Request) -> web.Response:
        hops, name = int(request.match_info["hops"]), request.match_info["name"]
        target = f"/redirect/{hops - 1}/{name}" if hops > 1 else f"/files/{name}"
        return web.Response(status=302, headers={"Location": target})

    async def _test_webhook(self, url: str, secret: str) -> dict[str, Any]:
        """Post a test update to the new address at once, as Zalo does; the result it reports."""
        local = url
        for public, here in self.reach.items():
            if url.startswith(public):
                local = here + url[len(public) :]
        probe = {"event_name": "webhook.test", "message": {}}
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    local,
                    json=probe,
                    headers={"X-Bot-Api-Secret-Token": secret},
                    timeout=aiohttp.ClientTimeout(total=5),
                ) as response,
            ):
                self.tested.append(response.status)
                ok = response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            self.tested.append(0)
            ok = False
        if not ok:
            return {"ok": False, "error_code": 400, "description": "Webhook url is not reachable"}
        self.webhook = url
        return {
            "ok": True,
            "result": {"url": url, "updated_at": int(time.time() * 1000), "verification": "ok"},
        }

    async def _file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/png")

    # The API ----------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        try:
            params = dict(await request.json())
        except ValueError:
            params = {}
        self.calls.append((method, params))
        scripted = self.scripts.get(method)
        if scripted:
            step = scripted.pop(0)
            if step.delay:
                await asyncio.sleep(step.delay)
            if step.raw is not None:
                return web.Response(status=step.status, text=step.raw, content_type="text/html")
            return web.json_response(step.body, status=step.status)
        if method == "getUpdates":
            deadline = time.monotonic() + float(params.get("timeout", 30))
            while self.updates.empty() and time.monotonic() < deadline and not self._closing:
                await asyncio.sleep(0.02)
            if self.updates.empty():
                return web.json_response(
                    {"ok": False, "error_code": 408, "description": "Request timeout"}, status=408
                )
            return web.json_response({"ok": True, "result": self.updates.get_nowait()})
        if method == "getMe":
            return web.json_response({"ok": True, "result": {"id": "4242", "account_name": "bot.notalone"}})
        if method == "setWebhook":
            if not str(params.get("url", "")).startswith("https://"):
                return web.json_response({"ok": False, "error_code": 400, "description": "url must be https"})
            return web.json_response(await self._test_webhook(params["url"], str(params.get("secret_token"))))
        if method == "getWebhookInfo":
            return web.json_response({"ok": True, "result": {"url": self.webhook, "updated_at": 0}})
        if method == "deleteWebhook":
            if not self.webhook:
                return web.json_response(
                    {"ok": False, "error_code": "400", "description": "Webhook not found"}, status=400
                )
            self.webhook = ""
        if method in ("sendMessage", "sendPhoto"):
            result = {"message_id": f"out{next(self._ids)}", "date": int(time.time() * 1000)}
            return web.json_response({"ok": True, "result": result})
        return web.json_response({"ok": True, "result": True})
