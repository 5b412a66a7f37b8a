"""Fuzzing both webhooks of the real web app (hypothesis): any body, with and without the secret,
gets 200, 400, 413 or 403, never a server error."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import Update

from bot.main import App
from bot.web import TelegramApp, create_web_app
from bot.zalo.updates import BadUpdate, ZaloUpdate, parse_update
from tests.integration.fake_telegram import FakeTelegram
from tests.nlu.test_fuzz import JSON, UPDATE_LIKE


class ZaloStub:
    """Only the HTTP handling is fuzzed here; what the channel does with an update is tested elsewhere."""

    def accepts(self, payload: Any) -> ZaloUpdate | None:
        try:
            return parse_update(payload)
        except BadUpdate:
            return None

    async def process(self, payload: Any) -> None:
        """Nothing: only the HTTP handling is fuzzed."""


BODIES = st.one_of(
    st.binary(max_size=300),
    JSON.map(lambda j: json.dumps(j).encode()),
    UPDATE_LIKE.map(lambda j: json.dumps(j).encode()),
    st.fixed_dictionaries({"update_id": st.integers(), "message": JSON}).map(
        lambda j: json.dumps(j).encode()
    ),
)


def both_webhooks(app: App, telegram: TelegramApp) -> FastAPI:
    """The web app with both webhooks (Zalo's channel a stub), as the fuzz tests post to it."""
    return create_web_app(
        app,
        telegram,
        secret="s3cret-telegram",
        webhook_url=None,
        zalo=ZaloStub(),  # type: ignore[arg-type]
        zalo_secret="s3cret-zalo-1",
    )


async def test_a_field_of_the_wrong_type_is_acknowledged(app: App, telegram: TelegramApp) -> None:
    """Found by the fuzzer: {"update_id": 1, "message": true} made PTB raise AttributeError (a 500)."""
    web = create_web_app(app, telegram, secret="s3cret-telegram", webhook_url=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://bot") as client:
        for message in (True, 5, "text", [1, 2]):
            response = await client.post(
                "/webhooks/telegram",
                json={"update_id": 1, "message": message},
                headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-telegram"},
            )
            assert response.status_code == 200, message


@settings(max_examples=80, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES, which=st.sampled_from(["telegram", "zalo"]), right=st.booleans())
async def test_webhooks_never_fail(
    app: App, telegram: TelegramApp, body: bytes, which: str, right: bool
) -> None:
    web = both_webhooks(app, telegram)
    header = "X-Telegram-Bot-Api-Secret-Token" if which == "telegram" else "X-Bot-Api-Secret-Token"
    secret = ("s3cret-telegram" if which == "telegram" else "s3cret-zalo-1") if right else "wrong"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://bot") as client:
        response = await client.post(f"/webhooks/{which}", content=body, headers={header: secret})
    assert response.status_code in ((200, 400, 413) if right else (403,))


async def test_deeply_nested_json_is_refused_with_400(app: App, telegram: TelegramApp) -> None:
    """Issue 18: 100,000 '[' with the right secret reached the JSON decoder and failed with a
    RecursionError (a 500); nesting far past any real update is refused before decoding."""
    web = both_webhooks(app, telegram)
    headers = {
        "X-Telegram-Bot-Api-Secret-Token": "s3cret-telegram",
        "X-Bot-Api-Secret-Token": "s3cret-zalo-1",
    }
    transport = httpx.ASGITransport(app=web, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        for which in ("telegram", "zalo"):
            for body in (b"[" * 100_000, b'{"update_id": 1, "x": ' + b"{" * 40):
                response = await client.post(f"/webhooks/{which}", content=body, headers=headers)
                assert response.status_code == 400, (which, body[:30])
        # Brackets inside a string are text, not nesting: a real update with them is taken.
        update = {
            "update_id": 5,
            "message": {
                "message_id": 1,
                "date": 0,
                "text": "[" * 500,
                "chat": {"id": 1, "type": "private"},
                "from": {"id": 1, "is_bot": False, "first_name": "A"},
            },
        }
        response = await client.post("/webhooks/telegram", json=update, headers=headers)
        assert response.status_code == 200


async def test_a_nul_in_a_students_message_is_answered(
    app: App, telegram: TelegramApp, fake: FakeTelegram
) -> None:
    """PostgreSQL cannot store NUL: the student's text is cleaned before it is stored, and answered."""
    update = fake.message_update(7300, "ai đó bảo\x00 chuyển tiền\x00 ngay")
    await telegram.process_update(Update.de_json(update, telegram.bot))
    assert fake.delivered(7300)
