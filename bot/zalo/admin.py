"""Operator commands for the Zalo bot: `notalone zalo webhook set|info|delete` and `notalone zalo
check` (getMe, getWebhookInfo and, given a chat id, one test message), run once with a real token."""

from __future__ import annotations

from bot.main import StartupError, load_content
from bot.settings import Settings
from bot.zalo.channel import UNAUTHORIZED, make_client
from bot.zalo.client import ZaloError, ZaloUnauthorized
from bot.zalo.webhook import registered_url, verification, zalo_webhook_url

NEEDS_SECRET = "the webhook needs NOTALONE_ZALO__WEBHOOK_SECRET (8 to 256 characters)"  # noqa: S105 - a message, not a secret


def _problem(exc: ZaloError) -> str:
    if isinstance(exc, ZaloUnauthorized):
        return UNAUTHORIZED
    return f"{exc.method}: {exc.code or type(exc).__name__} {exc.description}"


async def webhook(settings: Settings, action: str, url: str | None) -> list[str]:
    """Set (at `url`, or <zalo.public_base_url>/webhooks/zalo), show, or delete the webhook."""
    target = url or zalo_webhook_url(settings)
    secret = settings.zalo.webhook_secret.get_secret_value() if settings.zalo.webhook_secret else ""
    if action == "set":
        if not target:
            raise StartupError("give the webhook's address, or set zalo.public_base_url in config.yaml")
        if not target.startswith("https://"):
            raise StartupError(f"Zalo accepts only https addresses, not {target}")
        if not 8 <= len(secret) <= 256:
            raise StartupError(NEEDS_SECRET)
    async with make_client(settings) as client:
        try:
            if action == "set":
                assert target is not None
                result = await client.set_webhook(target, secret)
                found = registered_url(await client.get_webhook_info())
                return [f"webhook set: {found or target}", f"Zalo's verification: {verification(result)}"]
            if action == "delete":
                await client.delete_webhook()
                return ["webhook deleted: use `notalone run zalo` (long polling), or set it again"]
            found = registered_url(await client.get_webhook_info())
        except ZaloError as exc:
            raise StartupError(_problem(exc)) from None
    lines = [f"webhook: {found or 'none (updates only by long polling: notalone run zalo)'}"]
    if target and found and found != target:
        lines.append(f"expected: {target} (zalo.public_base_url)")
    return lines


async def check(settings: Settings, chat_id: str | None) -> tuple[int, list[str]]:
    """Each step's result; exit status 1 if any failed."""
    text = load_content(settings).text("zalo_check")
    lines: list[str] = []
    failed = False
    async with make_client(settings) as client:
        try:
            me = await client.get_me()
            name = me.get("account_name") or me.get("display_name") or me.get("id") or "?"
            lines.append(f"getMe: ok ({name})")
        except ZaloError as exc:
            return 1, [f"getMe: failed: {_problem(exc)}"]
        try:
            found = registered_url(await client.get_webhook_info())
            lines.append(f"getWebhookInfo: ok ({found or 'no webhook: long polling'})")
        except ZaloError as exc:
            failed = True
            lines.append(f"getWebhookInfo: failed: {_problem(exc)}")
        if chat_id:
            try:
                await client.send_message(chat_id, text)
                lines.append(f"sendMessage to {chat_id}: ok (look for it in that chat)")
            except ZaloError as exc:
                failed = True
                lines.append(f"sendMessage to {chat_id}: failed: {_problem(exc)}")
        else:
            lines.append("sendMessage: skipped (give --chat-id: your own chat with the bot)")
    return int(failed), lines
