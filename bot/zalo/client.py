"""An async client for the Zalo Bot Platform Bot API (`<base>/bot<TOKEN>/<method>`, JSON POST).

Every reply is `{"ok": true, "result": ...}` or `{"ok": false, "error_code": n, "description": "..."}`;
the code may come as a number or a numeric string, spelt `error_code` or `errorCode`. Errors follow
Zalo's documented table, not Telegram's: 401 is a wrong token; **403 is a server error** (retried,
like 5xx, timeouts and network errors, a few times with a growing wait); 429 ("Quota exceeded",
usually without `retry_after`) is not retried at once: the client keeps quiet for a while and says
so to every call meanwhile, so a burst of replies does not spend the quota again.
The token is part of every URL: it is never logged or put into an exception message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)
NO_UPDATE = 408
# getUpdates waits up to its timeout on the server; the HTTP read may take this much longer.
POLL_MARGIN_S = 10.0
MAX_RESPONSE_BYTES = 5_000_000
# Zalo says nothing of how long a 429 lasts: this long, unless the reply names a time.
RATE_LIMIT_WAIT_S = 30.0
MAX_RATE_LIMIT_WAIT_S = 900.0
# Photo links may redirect (CDNs do); a few hops, each to an https address.
MAX_REDIRECTS = 3


class ZaloError(Exception):
    """The Bot API refused a call (ok: false), or the call could not be completed."""

    def __init__(self, method: str, code: int | None, description: str) -> None:
        super().__init__(f"{method}: {code or '-'} {description}")
        self.method = method
        self.code = code
        self.description = description


class ZaloUnauthorized(ZaloError):
    """401: the token is wrong or revoked. Retrying cannot help."""


class ZaloRateLimited(ZaloError):
    """429: too many calls; quiet for `retry_after` seconds (what the API said, or our default)."""

    def __init__(self, method: str, code: int | None, description: str, retry_after: float) -> None:
        super().__init__(method, code, description)
        self.retry_after = retry_after


class ZaloServerError(ZaloError):
    """5xx, or 403 (Zalo's documented "server error"), from the Bot API."""


class ZaloTimeout(ZaloError):
    """No answer in time."""


class ZaloNetworkError(ZaloError):
    """The connection failed."""


class ZaloBadResponse(ZaloError):
    """The reply was not the JSON the Bot API promises."""


# What passes: a later try may succeed. Only these are retried within a call (429 is not: it waits).
TRANSIENT = (ZaloServerError, ZaloTimeout, ZaloNetworkError)
RETRYABLE = (ZaloRateLimited, *TRANSIENT)


@dataclass
class ZaloClient:
    """One bot's connection to the Bot API; use `async with` or call `close()`."""

    token: str
    base_url: str = "https://bot-api.zaloplatforms.com"
    timeout_s: float = 10.0
    max_retries: int = 3
    backoff_s: float = 0.5
    transport: httpx.AsyncBaseTransport | None = None

    def __post_init__(self) -> None:
        self._http = httpx.AsyncClient(transport=self.transport, follow_redirects=False)
        self._quiet_until = 0.0  # monotonic time until which a 429 keeps this bot quiet

    def quiet_for(self) -> float:
        """Seconds left of a 429's quiet time (0 when calls may go out)."""
        return max(0.0, self._quiet_until - time.monotonic())

    async def __aenter__(self) -> ZaloClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # The methods ------------------------------------------------------------------------------
    async def get_me(self) -> dict[str, Any]:
        return dict(await self.call("getMe"))

    async def get_updates(self, timeout_s: int = 30) -> dict[str, Any] | None:
        """One update, or None when none came within `timeout_s` (the API answers 408 then)."""
        try:
            result = await self.call(
                "getUpdates", {"timeout": str(timeout_s)}, timeout=timeout_s + POLL_MARGIN_S, retries=0
            )
        except ZaloError as exc:
            if exc.code == NO_UPDATE:
                return None
            raise
        if result is None or result == [] or result == {}:
            return None
        if isinstance(result, list):  # tolerate a list, as some servers send; we take one at a time
            result = result[0]
        if not isinstance(result, dict):
            raise ZaloBadResponse("getUpdates", None, "result is not an update object")
        return result

    async def set_webhook(self, url: str, secret_token: str) -> Any:
        return await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> Any:
        return await self.call("deleteWebhook")

    async def get_webhook_info(self) -> Any:
        return await self.call("getWebhookInfo")

    async def send_message(self, chat_id: str, text: str) -> Any:
        return await self.call("sendMessage", {"chat_id": chat_id, "text": text})

    async def send_photo(self, chat_id: str, photo: str, caption: str | None = None) -> Any:
        payload: dict[str, Any] = {"chat_id": chat_id, "photo": photo}
        if caption:
            payload["caption"] = caption
        return await self.call("sendPhoto", payload)

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> Any:
        return await self.call("sendChatAction", {"chat_id": chat_id, "action": action})

    async def download(self, url: str, max_bytes: int) -> bytes:
        """A file Zalo links to (a photo), at most `max_bytes`; ZaloError("too_big") when larger.
        Redirects are followed, at most MAX_REDIRECTS of them, to http(s) addresses and never from
        https down to http."""
        if not url.startswith(("https://", "http://")):
            raise ZaloBadResponse("download", None, "not an http(s) link")
        for _ in range(MAX_REDIRECTS + 1):
            found = await self._fetch(url, max_bytes)
            if isinstance(found, bytes):
                return found
            url = found
        raise ZaloBadResponse("download", None, "too many redirects")

    async def _fetch(self, url: str, max_bytes: int) -> bytes | str:
        """The file's bytes, or the address it redirects to."""
        try:
            async with self._http.stream("GET", url, timeout=self.timeout_s) as response:
                if response.is_redirect:
                    target = str(response.url.join(response.headers.get("location", "")))
                    allowed = ("https://",) if url.startswith("https://") else ("https://", "http://")
                    if not target.startswith(allowed):
                        raise ZaloBadResponse("download", response.status_code, "redirect refused")
                    return target
                if response.status_code != 200:
                    raise ZaloError("download", response.status_code, "not found")
                if int(response.headers.get("content-length") or 0) > max_bytes:
                    raise ZaloError("download", None, "too_big")
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise ZaloError("download", None, "too_big")
        except httpx.TimeoutException:
            raise ZaloTimeout("download", None, f"no answer within {self.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise ZaloNetworkError("download", None, type(exc).__name__) from None
        return bytes(data)

    # The transport ----------------------------------------------------------------------------
    async def call(
        self,
        method: str,
        payload: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        retries: int | None = None,
    ) -> Any:
        """POST one method; retry what passes, raise a typed error for the rest. While a 429's quiet
        time lasts, every call is refused here without going out."""
        attempts = 1 + (self.max_retries if retries is None else retries)
        for attempt in range(1, attempts + 1):
            quiet = self.quiet_for()
            if quiet > 0:
                raise ZaloRateLimited(method, 429, "quiet after a 429", quiet)
            try:
                return await self._once(method, payload or {}, timeout or self.timeout_s)
            except ZaloRateLimited as exc:
                self._quiet_until = time.monotonic() + exc.retry_after
                log.warning(
                    "zalo rate limit; quiet for a while",
                    extra={"channel": "zalo", "kind": method, "error": f"{exc.retry_after:g} s"},
                )
                raise
            except TRANSIENT as exc:
                if attempt == attempts:
                    raise
                wait = self.backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "zalo call failed; retrying",
                    extra={"channel": "zalo", "error": type(exc).__name__, "kind": method},
                )
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _once(self, method: str, payload: dict[str, Any], timeout: float) -> Any:
        url = f"{self.base_url.rstrip('/')}/bot{self.token}/{method}"
        try:
            response = await self._http.post(url, json=payload, timeout=timeout)
        except httpx.TimeoutException:
            raise ZaloTimeout(method, None, f"no answer within {timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise ZaloNetworkError(method, None, type(exc).__name__) from None
        body = _json_of(method, response)
        if response.status_code == 200 and body.get("ok") is True:
            return body.get("result")
        code = error_code(body) or response.status_code
        description = str(body.get("description") or body.get("message") or response.reason_phrase or "error")
        description = description[:300]
        if 401 in (code, response.status_code):
            raise ZaloUnauthorized(method, 401, description)
        if 429 in (code, response.status_code):
            raise ZaloRateLimited(method, 429, description, _retry_after(body, response))
        if code == 403 or code >= 500 or response.status_code == 403 or response.status_code >= 500:
            raise ZaloServerError(method, code, description)
        raise ZaloError(method, code, description)


def error_code(body: dict[str, Any]) -> int | None:
    """The reply's error code: `error_code` or `errorCode`, a number or a numeric string."""
    for key in ("error_code", "errorCode"):
        value = body.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value.strip())
    return None


def _json_of(method: str, response: httpx.Response) -> dict[str, Any]:
    """The reply's JSON object. An error status whose page is not JSON (a proxy's HTML) is judged
    by its status alone; a 200 that is not a JSON object is a bad reply."""
    if len(response.content) > MAX_RESPONSE_BYTES:
        raise ZaloBadResponse(method, response.status_code, "reply too large")
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    if response.status_code != 200:
        return {"ok": False, "description": "not JSON" if body is None else "not a JSON object"}
    raise ZaloBadResponse(method, response.status_code, "reply is not a JSON object")


def _retry_after(body: dict[str, Any], response: httpx.Response) -> float:
    """How long to keep quiet after a 429: what the reply says, else RATE_LIMIT_WAIT_S."""
    params = body.get("parameters")
    found = params.get("retry_after") if isinstance(params, dict) else None
    if found is None:
        found = response.headers.get("Retry-After")
    try:
        wait = float(found) if found is not None else RATE_LIMIT_WAIT_S
    except (TypeError, ValueError):
        wait = RATE_LIMIT_WAIT_S
    return min(max(wait, 0.0), MAX_RATE_LIMIT_WAIT_S)
