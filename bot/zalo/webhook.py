"""The Zalo webhook's registration: Zalo tests the address as soon as `setWebhook` is called, so it is
registered only once `notalone serve` listens; what Zalo had before is compared and logged, and Zalo's
`verification` is logged as it answered. `run zalo` removes a webhook, and a bot that never had one
may answer that with 400 or 404: only a refused token stops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from bot.main import StartupError
from bot.settings import Settings
from bot.zalo.channel import UNAUTHORIZED
from bot.zalo.client import ZaloClient, ZaloError, ZaloUnauthorized

log = logging.getLogger(__name__)
WAIT_FOR_LISTENING_S = 60.0
# Where `notalone serve` takes Zalo's updates (bot/web.py mounts it).
ZALO_WEBHOOK_PATH = "/webhooks/zalo"


def zalo_webhook_url(settings: Settings) -> str | None:
    """Where Zalo is to post updates: <zalo.public_base_url>/webhooks/zalo (None when not set)."""
    base = settings.zalo.public_base_url
    return base.rstrip("/") + ZALO_WEBHOOK_PATH if base else None


def registered_url(info: Any) -> str:
    """The address getWebhookInfo reports ("" when none is set)."""
    url = info.get("url") if isinstance(info, dict) else None
    return url.strip() if isinstance(url, str) else ""


def verification(result: Any) -> str:
    """What Zalo said of its test of the address, short (it holds no student data)."""
    found = result.get("verification") if isinstance(result, dict) else None
    return str(found)[:200] if found is not None else "-"


async def forget_webhook(client: ZaloClient) -> None:
    """Remove the webhook before long polling (getUpdates does not work while one is set)."""
    try:
        await client.delete_webhook()
    except ZaloUnauthorized:
        raise StartupError(UNAUTHORIZED) from None
    except ZaloError as exc:
        # A bot that never had a webhook is reported to answer 400/404 here; polling tells the rest.
        log.warning(
            "zalo deleteWebhook failed; polling anyway", extra={"channel": "zalo", "error": str(exc.code)}
        )


async def register_webhook(client: ZaloClient, url: str, secret: str) -> bool:
    """Register `url` (Zalo tests it at once): compare with what was there, log Zalo's verification,
    confirm with getWebhookInfo. False (logged as an error, with the reason) when it did not take."""
    host = urlsplit(url).netloc
    try:
        before = registered_url(await client.get_webhook_info())
        if before and before != url:
            log.warning(
                "zalo webhook pointed elsewhere; replacing it",
                extra={"channel": "zalo", "detail": urlsplit(before).netloc},
            )
        result = await client.set_webhook(url, secret)
        log.info(
            "zalo webhook registered", extra={"channel": "zalo", "kind": host, "detail": verification(result)}
        )
        after = registered_url(await client.get_webhook_info())
    except ZaloUnauthorized:
        log.error(UNAUTHORIZED, extra={"channel": "zalo"})
        return False
    except ZaloError as exc:
        log.error(
            "zalo webhook not registered: `notalone zalo webhook set` once the address answers",
            extra={
                "channel": "zalo",
                "kind": host,
                "error": f"{exc.code or type(exc).__name__} {exc.description}",
            },
        )
        return False
    if after and after != url:
        log.error(
            "zalo reports another webhook address",
            extra={"channel": "zalo", "detail": urlsplit(after).netloc},
        )
        return False
    return True


async def check_webhook(client: ZaloClient, url: str | None) -> None:
    """At start without a public address: say whether Zalo will send updates here at all."""
    try:
        found = registered_url(await client.get_webhook_info())
    except ZaloError as exc:
        log.warning("zalo getWebhookInfo failed", extra={"channel": "zalo", "error": type(exc).__name__})
        return
    if not found:
        log.error(
            "no zalo webhook is registered: Zalo updates will not arrive "
            "(set zalo.public_base_url, or `notalone zalo webhook set`)",
            extra={"channel": "zalo"},
        )
    elif url and found != url:
        log.warning(
            "zalo webhook points elsewhere", extra={"channel": "zalo", "detail": urlsplit(found).netloc}
        )


async def when_listening(started: Callable[[], bool], stopping: Callable[[], bool]) -> bool:
    """Wait until the server listens; False if it stops (or never starts) first."""
    waited = 0.0
    while not started():
        if stopping() or waited > WAIT_FOR_LISTENING_S:
            return False
        await asyncio.sleep(0.05)
        waited += 0.05
    return True
