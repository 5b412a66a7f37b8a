"""A local fake of the Telegram Bot API (aiohttp on 127.0.0.1:0) for driving the real PTB Application.

It implements the methods the bot calls, records every call in `.calls`, serves `getUpdates` from
`push_update()`, and can be told to fail the next calls of a method (429 with retry_after, 500, ...)
or to answer a method's calls for one chat slowly (`delays`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    ok: bool = True


@dataclass
class FakeTelegram:
    token: str = "123:TEST"
    calls: list[Call] = field(default_factory=list)
    # Updates not yet confirmed: as Telegram does, getUpdates returns them until a later call's
    # offset passes them.
    updates: list[dict[str, Any]] = field(default_factory=list)
    _new_update: asyncio.Event = field(default_factory=asyncio.Event)
    failures: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    outages: dict[str, tuple[float, Any, float]] = field(default_factory=dict)
    delays: dict[tuple[str, int], float] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def start(self) -> None:
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        await self._runner.cleanup()

    def fail_next(self, method: str, status: int, times: int = 1, **extra: Any) -> None:
        """The next `times` calls of `method` answer with this HTTP status (Bot API error body)."""
        body = {"ok": False, "error_code": status, "description": f"scripted {status}", **extra}
        self.failures.setdefault(method, []).extend([(status, body)] * times)

    def outage(self, method: str, seconds: float, *, timeout_s: float = 0.0) -> None:
        """For `seconds` from now every call of `method` fails, in turn: 429 (retry after 1 s), 500,
        and, with `timeout_s`, no answer for that long (a timeout: nothing is delivered)."""
        kinds: list[int | str] = [429, 500, *(["timeout"] if timeout_s else [])]
        self.outages[method] = (time.monotonic() + seconds, itertools.cycle(kinds), timeout_s)

    def sent(self, method: str = "sendMessage", chat_id: int | None = None) -> list[dict[str, Any]]:
        return [
            c.params
            for c in self.calls
            if c.method == method and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)
        ]

    def delivered(self, chat_id: int) -> list[str]:
        """Texts the chat really received (calls the fake answered with ok)."""
        return [
            c.params.get("text", "")
            for c in self.calls
            if c.ok and c.method == "sendMessage" and int(c.params.get("chat_id", 0)) == chat_id
        ]

    async def wait_for(
        self, count: int, method: str = "sendMessage", chat_id: int | None = None, timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.sent(method, chat_id)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"only {len(self.sent(method, chat_id))} {method} calls, wanted {count}")

    # Updates -------------------------------------------------------------------------------------
    def message_update(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        **message: Any,
    ) -> dict[str, Any]:
        user = {"id": user_id or chat_id, "is_bot": False, "first_name": "Test"}
        body: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type},
            "from": user,
            **message,
        }
        if text is not None:
            body["text"] = text
            if text.startswith("/"):
                body["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"update_id": next(self._update_ids), "message": body}

    def topic_update(
        self, group_id: int, thread_id: int | None, text: str, *, user_id: int
    ) -> dict[str, Any]:
        """A counselor writing in the counselors' forum group (in a topic, or the main chat: None)."""
        extra: dict[str, Any] = {}
        if thread_id is not None:
            extra = {"message_thread_id": thread_id, "is_topic_message": True}
        return self.message_update(group_id, text, user_id=user_id, chat_type="supergroup", **extra)

    def button_update(self, chat_id: int, data: str, *, user_id: int | None = None) -> dict[str, Any]:
        user = {"id": user_id or chat_id, "is_bot": False, "first_name": "Test"}
        message = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "text": "…",
        }
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": str(next(self._ids)),
                "from": user,
                "chat_instance": "x",
                "data": data,
                "message": message,
            },
        }

    def photo_update(
        self, chat_id: int, image: bytes, *, caption: str | None = None, as_document: bool = False
    ) -> dict[str, Any]:
        """A photo (or an image sent as a file), its bytes served by getFile and the file route."""
        file_id = f"f{next(self._ids)}"
        self.files[file_id] = image
        if as_document:
            extra: dict[str, Any] = {
                "document": {
                    "file_id": file_id,
                    "file_unique_id": file_id,
                    "mime_type": "image/png",
                    "file_size": len(image),
                }
            }
        else:
            small = {"file_id": "thumb", "file_unique_id": "thumb", "width": 90, "height": 160}
            big = {"file_id": file_id, "file_unique_id": file_id, "width": 1080, "height": 1920}
            extra = {"photo": [small, {**big, "file_size": len(image)}]}
        if caption is not None:
            extra["caption"] = caption
        return self.message_update(chat_id, None, **extra)

    def push_update(self, update: dict[str, Any]) -> None:
        self.updates.append(update)
        self._new_update.set()

    def offsets(self) -> list[int]:
        """The offset of every getUpdates call so far (0 without one)."""
        return [int(c.params.get("offset") or 0) for c in self.calls if c.method == "getUpdates"]

    # The API -------------------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            raw = str(value)
            # PTB sends objects and lists as JSON, everything else as plain strings (a text may start
            # with "[" too: "[21:03] Nam: ...").
            params[key] = raw
            if raw[:1] in "{[" or raw in ("true", "false"):
                with contextlib.suppress(json.JSONDecodeError):
                    params[key] = json.loads(raw)
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        params = await self._params(request)
        self.calls.append(Call(method, params))
        with contextlib.suppress(KeyError, TypeError, ValueError):
            await asyncio.sleep(self.delays[(method, int(params["chat_id"]))])
        outage = self.outages.get(method)
        if outage is not None and time.monotonic() < outage[0]:
            self.calls[-1].ok = False
            kind = next(outage[1])
            if kind == "timeout":
                await asyncio.sleep(outage[2])
                kind = 504
            extra = {"parameters": {"retry_after": 1}} if kind == 429 else {}
            body = {"ok": False, "error_code": kind, "description": f"outage {kind}", **extra}
            return web.json_response(body, status=int(kind))
        scripted = self.failures.get(method)
        if scripted:
            status, body = scripted.pop(0)
            self.calls[-1].ok = False
            return web.json_response(body, status=status)
        result = await self._result(method, params)
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].rsplit("/", 1)[-1].split(".")[0]
        if file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {
                "id": 123,
                "is_bot": True,
                "first_name": "Không Một Mình",
                "username": "notalone_test_bot",
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            timeout = float(params.get("timeout") or 0)
            limit = int(params.get("limit") or 100)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]  # confirmed: gone
            if not self.updates:
                self._new_update.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_update.wait(), timeout=max(timeout, 0.05))
            return self.updates[:limit]
        if method == "getFile":
            file_id = str(params["file_id"])
            if file_id not in self.files:
                return {"file_id": file_id, "file_unique_id": file_id}
            size = len(self.files[file_id])
            return {
                "file_id": file_id,
                "file_unique_id": file_id,
                "file_size": size,
                "file_path": f"photos/{file_id}.png",
            }
        if method == "createForumTopic":
            return {"message_thread_id": next(self._ids), "name": params["name"], "icon_color": 7322096}
        if method in ("sendMessage", "sendContact"):
            chat_id = int(params["chat_id"])
            message = {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            }
            if params.get("message_thread_id"):
                message["message_thread_id"] = int(params["message_thread_id"])
                message["is_topic_message"] = True
            if method == "sendMessage":
                message["text"] = params.get("text", "")
            else:
                message["contact"] = {
                    "phone_number": params["phone_number"],
                    "first_name": params["first_name"],
                }
            return message
        return True
