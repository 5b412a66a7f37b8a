"""An async client for the Zalo Bot Platform Bot API (`<base>/bot<TOKEN>/<method>`, JSON POST).

Every reply is `{"ok": true, "result": ...}` or `{"ok": false, "error_code": n, "description": "..."}`.
Errors raise typed exceptions. Timeouts are explicit per call, and what may be retried (429, 5xx,
timeouts, network errors) is retried a fixed number of times with a growing wait; nothing else is.
The token is part of every URL: it is never logged or put into an exception message.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)
NO_UPDATE = 408
# getUpdates waits up to its timeout on the server; the HTTP read may take this much longer.
POLL_MARGIN_S = 10.0
MAX_RESPONSE_BYTES = 5_000_000


class ZaloError(Exception):
    """The Bot API refused a call (ok: false), or the call could not be completed."""

    def __init__(self, method: str, code: int | None, description: str) -> None:
        super().__init__(f"{method}: {code or '-'} {description}")
        self.method = method
        self.code = code
        self.description = description


class ZaloUnauthorized(ZaloError):
    """401/403: the token is wrong or revoked. Retrying cannot help."""


class ZaloRateLimited(ZaloError):
    """429: too many calls; `retry_after` seconds when the API said so."""

    def __init__(self, method: str, code: int | None, description: str, retry_after: float | None) -> None:
        super().__init__(method, code, description)
        self.retry_after = retry_after


class ZaloServerError(ZaloError):
    """5xx from the Bot API."""


class ZaloTimeout(ZaloError):
    """No answer in time."""


class ZaloNetworkError(ZaloError):
    """The connection failed."""


class ZaloBadResponse(ZaloError):
    """The reply was not the JSON the Bot API promises."""


RETRYABLE = (ZaloRateLimited, ZaloServerError, ZaloTimeout, ZaloNetworkError)


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
        """A file Zalo links to (a photo), at most `max_bytes`; ZaloError("too_big") when larger."""
        if not url.startswith(("https://", "http://")):
            raise ZaloBadResponse("download", None, "not an http(s) link")
        try:
            async with self._http.stream("GET", url, timeout=self.timeout_s) as response:
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
        """POST one method; retry what may be retried, raise a typed error for the rest."""
        attempts = 1 + (self.max_retries if retries is None else retries)
        for attempt in range(1, attempts + 1):
            try:
                return await self._once(method, payload or {}, timeout or self.timeout_s)
            except RETRYABLE as exc:
                if attempt == attempts:
                    raise
                wait = self.backoff_s * 2 ** (attempt - 1)
                if isinstance(exc, ZaloRateLimited) and exc.retry_after is not None:
                    wait = min(exc.retry_after, 60.0)
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
        code = body.get("error_code") if isinstance(body.get("error_code"), int) else response.status_code
        description = str(body.get("description") or response.reason_phrase or "error")[:300]
        if code in (401, 403) or response.status_code in (401, 403):
            raise ZaloUnauthorized(method, code, description)
        if code == 429 or response.status_code == 429:
            retry_after = _retry_after(body, response)
            raise ZaloRateLimited(method, 429, description, retry_after)
        if response.status_code >= 500 or (isinstance(code, int) and code >= 500):
            raise ZaloServerError(method, code, description)
        raise ZaloError(method, code, description)


def _json_of(method: str, response: httpx.Response) -> dict[str, Any]:
    """The reply's JSON object; 5xx pages that are not JSON count as server errors."""
    if len(response.content) > MAX_RESPONSE_BYTES:
        raise ZaloBadResponse(method, response.status_code, "reply too large")
    try:
        body = response.json()
    except ValueError:
        if response.status_code >= 500:
            raise ZaloServerError(method, response.status_code, "not JSON") from None
        if response.status_code == NO_UPDATE:
            return {"ok": False, "error_code": NO_UPDATE, "description": "no update"}
        raise ZaloBadResponse(method, response.status_code, "reply is not JSON") from None
    if not isinstance(body, dict):
        raise ZaloBadResponse(method, response.status_code, "reply is not a JSON object")
    return body


def _retry_after(body: dict[str, Any], response: httpx.Response) -> float | None:
    params = body.get("parameters")
    found = params.get("retry_after") if isinstance(params, dict) else None
    if found is None:
        found = response.headers.get("Retry-After")
    try:
        return float(found) if found is not None else None
    except (TypeError, ValueError):
        return None
