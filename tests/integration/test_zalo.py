"""The Zalo channel against a local fake Zalo Bot API: the client's errors, long polling, the webhook,
numbered options, and a handoff to a counselor."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.inbox import Inbox
from bot.main import App
from bot.web import ZALO_SECRET_HEADER, ZALO_WEBHOOK_PATH, create_web_app, make_inbox
from bot.zalo.channel import ZaloChannel
from bot.zalo.client import (
    RATE_LIMIT_WAIT_S,
    ZaloBadResponse,
    ZaloClient,
    ZaloError,
    ZaloRateLimited,
    ZaloServerError,
    ZaloTimeout,
    ZaloUnauthorized,
)
from bot.zalo.polling import poll
from counselor.api import create_api
from counselor.auth import new_token, token_hash
from handlers.models import Channel
from handlers.ports import StorageUnavailable
from storage.queries import stats
from tests.integration.conftest import free_port
from tests.integration.fake_zalo import FakeZalo, Script
from tests.screenshots import chat_screenshot

SCAM = "Chúc mừng bạn trúng iPhone! Gửi mã OTP vừa nhận để nhận quà, không được nói với bố mẹ nhé"
CRISIS = "nó bảo 5 phút nữa k gửi thêm ảnh là nó đăng lên group trường, em sợ lắm"
SECRET = "zalo-webhook-secret-1"
# The line above a turn's numbered options (content: zalo_choose).
CHOOSE = "Trả lời bằng một con số để chọn:"
# A send that Zalo refuses with a 500; three of them outlast the client's retries.
ZALO_DOWN = Script(500, {"ok": False, "error_code": 500, "description": "x"})
Settle = Callable[[], Awaitable[None]]
HIDDEN = "message.unsupported.received"
BOT_URL = "https://t.me/notalone_test_bot"
ZALO_111 = "https://zalo.me/111test"
RIGHT = {ZALO_SECRET_HEADER: SECRET}


@pytest.fixture
def app_env() -> dict[str, str]:
    """The bot's Telegram link and 111's Zalo account: what a student whose messages are hidden is offered."""
    return {
        "NOTALONE_TELEGRAM__BOT_URL": BOT_URL,
        "NOTALONE_HOTLINE__ZALO_URL": ZALO_111,
        "NOTALONE_ZALO__PUBLIC_BASE_URL": "https://bot.example.test",
    }


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZalo]:
    server = FakeZalo()
    await server.start()
    yield server
    await server.stop()


def client_for(zalo: FakeZalo, **kw: object) -> ZaloClient:
    options: dict[str, object] = {"timeout_s": 2.0, "max_retries": 2, "backoff_s": 0.01, **kw}
    return ZaloClient(token=zalo.token, base_url=zalo.url, **options)  # type: ignore[arg-type]


@pytest.fixture
async def channel(app: App, zalo: FakeZalo) -> AsyncIterator[ZaloChannel]:
    found = ZaloChannel(app, client_for(zalo))
    yield found
    await found.client.close()


@asynccontextmanager
async def polling_with(channel: ZaloChannel, inbox_accept: Any = None) -> AsyncIterator[Inbox]:
    """`notalone run zalo`'s parts in this process: long polling into the inbox, which hands the
    stored updates to the channel (`inbox_accept` wraps the inbox's accept)."""
    inbox = make_inbox(channel.app, {Channel.ZALO: channel.process})
    if inbox_accept is not None:
        inbox.accept = inbox_accept(inbox.accept)  # type: ignore[method-assign]
    stop = asyncio.Event()
    handling = asyncio.create_task(inbox.run())
    getting = asyncio.create_task(poll(channel, inbox, stop))
    try:
        yield inbox
    finally:
        stop.set()
        await asyncio.wait_for(getting, 10)
        handling.cancel()
        await inbox.drain()


@pytest.fixture
async def polling(channel: ZaloChannel) -> AsyncIterator[ZaloChannel]:
    async with polling_with(channel):
        yield channel


@pytest.fixture
def web(app: App, channel: ZaloChannel) -> FastAPI:
    return create_web_app(app, None, secret=None, webhook_url=None, zalo=channel, zalo_secret=SECRET)


@pytest.fixture
def webhook(web: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://bot")


@pytest.fixture
def settle(web: FastAPI) -> Callable[[], Awaitable[None]]:
    """Handle what the webhook stored (the inbox), as a running server's worker does."""
    inbox: Inbox = web.state.inbox
    return inbox.settle


class TestClient:
    async def test_ok_false_with_200_is_an_error_and_not_retried(self, zalo: FakeZalo) -> None:
        zalo.script("sendMessage", Script(200, {"ok": False, "error_code": 400, "description": "bad chat"}))
        async with client_for(zalo) as client:
            with pytest.raises(ZaloError) as caught:
                await client.send_message("u1", "xin chào")
        assert caught.value.code == 400 and "bad chat" in str(caught.value)
        assert len(zalo.called("sendMessage")) == 1

    async def test_a_wrong_token_is_unauthorized_and_never_in_the_message(self, zalo: FakeZalo) -> None:
        async with ZaloClient(token="9:wrong-secret-token", base_url=zalo.url, backoff_s=0.01) as client:
            with pytest.raises(ZaloUnauthorized) as caught:
                await client.get_me()
        assert "wrong-secret-token" not in str(caught.value) and len(zalo.calls) == 0  # refused by the fake

    async def test_429_is_not_retried_at_once_and_keeps_every_call_quiet(self, zalo: FakeZalo) -> None:
        # Zalo's "Quota exceeded" names no time: the client waits its default, and the calls meanwhile
        # are refused here instead of spending the quota again.
        zalo.script(
            "sendMessage", Script(429, {"ok": False, "error_code": 429, "description": "Quota exceeded"})
        )
        async with client_for(zalo) as client:
            with pytest.raises(ZaloRateLimited) as caught:
                await client.send_message("u1", "a")
            assert caught.value.retry_after == RATE_LIMIT_WAIT_S
            with pytest.raises(ZaloRateLimited):
                await client.send_message("u2", "b")
            with pytest.raises(ZaloRateLimited):
                await client.get_me()
            assert 0 < client.quiet_for() <= RATE_LIMIT_WAIT_S
        assert len(zalo.called("sendMessage")) == 1 and not zalo.called("getMe")

    async def test_429_with_a_time_waits_that_long(self, zalo: FakeZalo) -> None:
        limited = {"ok": False, "error_code": "429", "description": "x", "parameters": {"retry_after": 0.2}}
        zalo.script("sendMessage", Script(429, limited))
        async with client_for(zalo) as client:
            with pytest.raises(ZaloRateLimited):
                await client.send_message("u1", "a")
            await asyncio.sleep(0.25)
            assert (await client.send_message("u1", "a"))["message_id"]

    async def test_403_is_a_server_error_on_zalo_and_is_retried(self, zalo: FakeZalo) -> None:
        forbidden = Script(403, {"ok": False, "error_code": 403, "description": "Internal error"})
        zalo.script("sendMessage", forbidden)
        async with client_for(zalo) as client:
            assert (await client.send_message("u1", "a"))["message_id"]  # the second try went through
            zalo.script("sendMessage", *[forbidden] * 3)
            with pytest.raises(ZaloServerError):
                await client.send_message("u1", "b")
            zalo.script("getMe", Script(403, raw="<html>Forbidden</html>"))
            assert await client.get_me()  # an HTML 403 too
        assert len(zalo.called("sendMessage")) == 2 + 3

    @pytest.mark.parametrize(
        ("status", "body", "error"),
        [
            (200, {"ok": False, "error_code": "401", "description": "x"}, ZaloUnauthorized),
            (200, {"ok": False, "errorCode": 401, "description": "x"}, ZaloUnauthorized),
            (400, {"ok": False, "errorCode": "429", "message": "Quota exceeded"}, ZaloRateLimited),
            (200, {"ok": False, "error_code": " 503 ", "description": "x"}, ZaloServerError),
            (200, {"ok": False, "error_code": "-201", "description": "bad chat"}, ZaloError),
        ],
    )
    async def test_error_codes_as_strings_or_spelt_errorCode(
        self, zalo: FakeZalo, status: int, body: dict[str, Any], error: type[ZaloError]
    ) -> None:
        zalo.script("sendMessage", *[Script(status, body)] * 3)
        async with client_for(zalo) as client:
            with pytest.raises(error) as caught:
                await client.send_message("u1", "a")
        assert type(caught.value) is error

    async def test_408_as_a_string_is_no_update(self, zalo: FakeZalo) -> None:
        zalo.script(
            "getUpdates", Script(200, {"ok": False, "error_code": "408", "description": "Request timeout"})
        )
        zalo.script("getUpdates", Script(408, {"ok": False, "errorCode": 408}))
        async with client_for(zalo) as client:
            assert await client.get_updates(timeout_s=1) is None
            assert await client.get_updates(timeout_s=1) is None

    async def test_a_photo_behind_redirects(self, zalo: FakeZalo) -> None:
        zalo.serve_file("p.png", b"png-bytes")
        async with client_for(zalo) as client:
            assert await client.download(f"{zalo.url}/redirect/3/p.png", 100) == b"png-bytes"
            with pytest.raises(ZaloBadResponse, match="redirects"):
                await client.download(f"{zalo.url}/redirect/4/p.png", 100)
            with pytest.raises(ZaloError, match="too_big"):
                await client.download(f"{zalo.url}/redirect/2/p.png", 5)

    async def test_500_then_ok_and_500_not_json(self, zalo: FakeZalo) -> None:
        zalo.script("sendMessage", Script(500, {"ok": False, "error_code": 500, "description": "oops"}))
        async with client_for(zalo) as client:
            await client.send_message("u1", "a")
            zalo.script("sendMessage", *[Script(502, raw="<html>Bad gateway</html>")] * 3)
            with pytest.raises(ZaloServerError):
                await client.send_message("u1", "b")

    async def test_timeout(self, zalo: FakeZalo) -> None:
        zalo.script("getMe", *[Script(200, {"ok": True, "result": {}}, delay=1.0)] * 2)
        async with client_for(zalo, timeout_s=0.2, max_retries=1) as client:
            with pytest.raises(ZaloTimeout):
                await client.get_me()

    async def test_malformed_json(self, zalo: FakeZalo) -> None:
        zalo.script("getMe", Script(200, raw="{not json"))
        async with client_for(zalo) as client:
            with pytest.raises(ZaloBadResponse):
                await client.get_me()
            zalo.script("getMe", Script(200, body=["a", "list"]))
            with pytest.raises(ZaloBadResponse):
                await client.get_me()

    async def test_get_updates_one_at_a_time_and_408_is_none(self, zalo: FakeZalo) -> None:
        async with client_for(zalo) as client:
            assert await client.get_updates(timeout_s=1) is None
            zalo.push(zalo.update("u1", text="a"))
            zalo.push(zalo.update("u1", text="b"))
            first = await client.get_updates(timeout_s=1)
            second = await client.get_updates(timeout_s=1)
        assert first and second and first["message"]["text"] == "a" and second["message"]["text"] == "b"


class TestPolling:
    async def test_greeting_scam_choice_and_crisis(self, polling: ZaloChannel, zalo: FakeZalo) -> None:
        zalo.push(zalo.update("u1", text="chào bạn"))
        (first,) = await zalo.wait_texts("u1", 1)  # one message a turn: the prompt, then who the bot is
        assert "Không Một Mình" in first and "111" in first
        assert zalo.called("sendChatAction")[0] == {"chat_id": "u1", "action": "typing"}

        zalo.push(zalo.update("u1", text=SCAM))
        answer = await zalo.wait_text_with("u1", CHOOSE, after=1)
        texts = zalo.texts("u1")
        assert answer == texts[-1] and "\n1. " in answer  # the options close the turn
        assert "bấm số 111" in answer  # call_111 is written out, not a numbered option
        assert all(len(t) <= 2000 for t in texts)

        count = len(await zalo.settled("u1"))
        zalo.push(zalo.update("u1", text="1"))
        await zalo.wait_texts("u1", count + 1)
        chosen = (await zalo.settled("u1"))[count:]
        assert chosen and "Không có lựa chọn" not in chosen[0]
        count = len(chosen) + count
        zalo.push(zalo.update("u1", text="9"))
        assert "Không có lựa chọn số 9" in (await zalo.wait_texts("u1", count + 1))[count]

        zalo.push(zalo.update("u2", text=CRISIS))
        crisis = await zalo.wait_texts("u2", 1)
        assert "111" in crisis[0]  # the first message the student gets names 111

    async def test_sticker_image_unknown_event_and_a_huge_text(
        self, polling: ZaloChannel, zalo: FakeZalo
    ) -> None:
        zalo.push(zalo.update("u3", "message.sticker.received", sticker="abc"))
        zalo.push(zalo.update("u3", "message.image.received", photo_url=f"{zalo.url}/files/missing.jpg"))
        zalo.push(zalo.update("u3", "message.reaction.received"))
        zalo.push(zalo.update("u3", text="tiền " * 5000, name_field="first_name"))
        await zalo.wait_text_with("u3", "8000")
        texts = await zalo.settled("u3")
        joined = "\n".join(texts)
        assert "sticker" in joined.lower() and "ảnh" in joined.lower()
        assert "8000" in joined  # the student is told only the start of a huge text was read
        assert all(len(t) <= 2000 for t in texts)

    async def test_updates_missing_fields_are_skipped_and_polling_goes_on(
        self, polling: ZaloChannel, zalo: FakeZalo
    ) -> None:
        zalo.push({"event_name": "message.text.received"})
        zalo.push({"event_name": "message.text.received", "message": {"text": "no sender"}})
        zalo.script("getUpdates", Script(500, {"ok": False, "error_code": 500, "description": "down"}))
        zalo.push(zalo.update("u4", text="chào"))
        assert await zalo.wait_texts("u4", 1)

    async def test_a_screenshot_by_photo_link(self, polling: ZaloChannel, zalo: FakeZalo) -> None:
        chat = [("Chào em, anh là công an. Em phải chuyển 2 triệu ngay, không được nói với bố mẹ.", False)]
        zalo.serve_file("shot.png", chat_screenshot(chat, size=32).png)
        # As Zalo may send it: `photo` as a list of sizes, the largest behind a redirect.
        photo = [
            {"url": f"{zalo.url}/files/missing-thumb.png", "width": 90, "height": 160},
            {"url": f"{zalo.url}/redirect/2/shot.png", "width": 1080, "height": 1920},
        ]
        zalo.push(zalo.update("u5", "message.image.received", photo=photo, caption="cái này là sao"))
        zalo.push(
            zalo.update("u6", "message.image.received", photo_url=zalo.serve_file("big", b"x" * 11_000_000))
        )
        assert await zalo.wait_text_with("u5", "đọc chữ trong ảnh")
        assert await zalo.wait_text_with("u6", "dưới 10 MB")


class TestHiddenMessages:
    async def test_a_hidden_message_gets_the_truth_111_first_and_the_other_ways(
        self, app: App, polling: ZaloChannel, zalo: FakeZalo
    ) -> None:
        zalo.push(zalo.update("h1", HIDDEN))
        (first,) = await zalo.wait_texts("h1", 1)
        lines = first.split("\n")
        assert lines[0] == "Bạn không làm gì sai đâu. Zalo đã ẩn tin bạn vừa gửi nên mình không đọc được."
        assert "111" in lines[1] and "113" in lines[1] and "115" in lines[1]  # danger before any explanation
        assert BOT_URL in first and ZALO_111 in first and "bấm số 111" in first
        assert "https://bot.example.test/chat/?src=zalo" in first  # the web chat: no app, no account
        assert CHOOSE not in first and "👋" not in first  # no options, no introduction
        assert "chưa hiểu loại tin nhắn" not in first  # not asked to retype, as before

        zalo.push(zalo.update("h1", HIDDEN))
        second = (await zalo.wait_texts("h1", 2))[1]
        assert (
            second.startswith("Mình biết bạn đang cố nhắn cho mình.")
            and "111" in second
            and BOT_URL in second
        )
        assert len(second) < len(first)

        zalo.push(zalo.update("h2", HIDDEN))
        assert (await zalo.wait_texts("h2", 1))[0] == first  # another student: the full answer
        async with app.sessions() as session:
            found = await stats(session, app.core.clock())
        assert (found.hidden_messages, found.hidden_students) == (3, 2)

    async def test_a_link_card_is_read_as_its_address_and_checked(
        self, polling: ZaloChannel, zalo: FakeZalo
    ) -> None:
        card = {"title": "Nhận kim cương Free Fire miễn phí", "url": "http://ff-kimcuong-free.xyz/nhan"}
        zalo.push(zalo.update("h3", HIDDEN, link=card))
        texts = await zalo.settled("h3")
        joined = "\n".join(texts)
        assert "không đọc được" not in joined
        assert "kimcuong-free" in joined  # the link itself is named (defanged) as a red flag

    async def test_a_hidden_message_without_a_sender_is_logged_not_answered(
        self, polling: ZaloChannel, zalo: FakeZalo, caplog: pytest.LogCaptureFixture
    ) -> None:
        zalo.push({"event_name": HIDDEN})
        zalo.push(zalo.update("h4", text="chào"))
        await zalo.wait_texts("h4", 1)
        refused = [r for r in caplog.records if r.getMessage() == "zalo update refused"]
        assert [getattr(r, "error", "") for r in refused] == ["hidden message without a sender"]
        assert {name for name, _ in zalo.calls if name == "sendMessage"} == {"sendMessage"}
        assert all(p["chat_id"] == "h4" for p in zalo.called("sendMessage"))


class TestPollingStores:
    async def test_an_update_is_stored_before_the_next_is_fetched_through_an_outage(
        self, channel: ZaloChannel, zalo: FakeZalo
    ) -> None:
        # Zalo forgets an update once handed out: polling holds it while the database refuses it,
        # asks for nothing more meanwhile, and it is answered once the database is back.
        down = [True]
        refused: list[int] = []

        def flaky(accept: Any) -> Any:
            async def accepting(*args: Any) -> None:
                if down[0]:
                    refused.append(len(zalo.called("getUpdates")))
                    raise StorageUnavailable("OSError")
                await accept(*args)

            return accepting

        async with polling_with(channel, flaky):
            zalo.push(zalo.update("s1", text=SCAM))
            zalo.push(zalo.update("s1", text="chào"))
            for _ in range(100):
                if len(refused) >= 2:
                    break
                await asyncio.sleep(0.05)
            assert len(refused) >= 2 and len(set(refused)) == 1  # no getUpdates while it waits
            assert not zalo.texts("s1")
            down[0] = False
            await zalo.wait_text_with("s1", CHOOSE)
            texts = await zalo.settled("s1")
        assert sum(CHOOSE in t for t in texts) == 1 and "iPhone" in texts[0]  # the first first, once

    async def test_403_and_a_rate_limit_on_get_updates_pause_polling_only(
        self, polling: ZaloChannel, zalo: FakeZalo
    ) -> None:
        zalo.script("getUpdates", Script(403, {"ok": False, "error_code": 403, "description": "Internal"}))
        limited = {
            "ok": False,
            "error_code": "429",
            "description": "Quota",
            "parameters": {"retry_after": 0.3},
        }
        zalo.script("getUpdates", Script(429, limited))
        zalo.push(zalo.update("s2", text="chào"))
        assert await zalo.wait_texts("s2", 1)


class TestWebhook:
    async def test_a_get_on_the_address_is_answered(self, webhook: httpx.AsyncClient) -> None:
        assert (await webhook.get(ZALO_WEBHOOK_PATH)).status_code == 200

    async def test_an_update_the_database_refuses_is_held_and_stored_first_when_it_is_back(
        self,
        web: FastAPI,
        webhook: httpx.AsyncClient,
        zalo: FakeZalo,
        settle: Settle,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        inbox: Inbox = web.state.inbox
        real = inbox.accept
        down = [True]

        async def flaky(*args: Any) -> None:
            if down[0]:
                raise StorageUnavailable("OSError")
            await real(*args)

        inbox.accept = flaky  # type: ignore[method-assign]
        first = zalo.update("w8", text=SCAM, message_id="held-1")
        assert (await webhook.post(ZALO_WEBHOOK_PATH, json=first, headers=RIGHT)).status_code == 503
        assert (await webhook.post(ZALO_WEBHOOK_PATH, json=first, headers=RIGHT)).status_code == 503  # again
        assert len(web.state.held) == 1
        errors = [r for r in caplog.records if r.levelname == "ERROR" and "held in memory" in r.getMessage()]
        assert errors and getattr(errors[-1], "count", None) == 1
        down[0] = False
        # The next update, once the database is back, is stored after the held one.
        later = zalo.update("w8", text="chào", message_id="held-2")
        assert (await webhook.post(ZALO_WEBHOOK_PATH, json=later, headers=RIGHT)).status_code == 200
        assert len(web.state.held) == 0
        await settle()
        texts = zalo.texts("w8")
        assert "iPhone" in "\n".join(texts[:-1]) and "iPhone" not in texts[-1]  # in the order they came
        count = len(texts)
        assert (await webhook.post(ZALO_WEBHOOK_PATH, json=first, headers=RIGHT)).status_code == 200
        await settle()
        assert len(zalo.texts("w8")) == count  # a late repeat from Zalo is not answered again

    async def test_secret_is_required(self, webhook: httpx.AsyncClient, zalo: FakeZalo) -> None:
        update = zalo.update("w1", text="chào")
        assert (await webhook.post(ZALO_WEBHOOK_PATH, json=update)).status_code == 403
        wrong = {ZALO_SECRET_HEADER: "nope"}
        assert (await webhook.post(ZALO_WEBHOOK_PATH, json=update, headers=wrong)).status_code == 403
        right = {ZALO_SECRET_HEADER: SECRET}
        assert (await webhook.post(ZALO_WEBHOOK_PATH, content=b"{oops", headers=right)).status_code == 400
        huge = json.dumps({"x": "a" * 2_000_000})
        assert (await webhook.post(ZALO_WEBHOOK_PATH, content=huge, headers=right)).status_code == 413
        assert zalo.called("sendMessage") == []

    async def test_flat_and_wrapped_and_a_replay_answered_once(
        self, webhook: httpx.AsyncClient, zalo: FakeZalo, settle: Callable[[], Awaitable[None]]
    ) -> None:
        right = {ZALO_SECRET_HEADER: SECRET}
        flat = zalo.update("w2", text="chào", message_id="same-1")
        assert (await webhook.post(ZALO_WEBHOOK_PATH, json=flat, headers=right)).status_code == 200
        await settle()
        answered = len(zalo.texts("w2"))
        assert answered == 1  # one message a turn
        assert (await webhook.post(ZALO_WEBHOOK_PATH, json=flat, headers=right)).status_code == 200
        await settle()
        assert len(zalo.texts("w2")) == answered  # the replay is not answered again
        wrapped = {"ok": True, "result": zalo.update("w2", text=SCAM)}
        assert (await webhook.post(ZALO_WEBHOOK_PATH, json=wrapped, headers=right)).status_code == 200
        await settle()
        assert len(zalo.texts("w2")) > answered
        garbage = {"event_name": "message.text.received", "message": {"from": {"id": True}}}
        assert (await webhook.post(ZALO_WEBHOOK_PATH, json=garbage, headers=right)).status_code == 200

    async def test_a_turn_sent_later_is_sent_as_one_turn_with_its_options_numbered_across_it(
        self, app: App, webhook: httpx.AsyncClient, zalo: FakeZalo, channel: ZaloChannel, settle: Settle
    ) -> None:
        later = await sent_after_an_outage(app, webhook, zalo, channel, settle, "w5", [SCAM])

        # The same turn for a student whose Zalo worked: what the late student must get too.
        right = {ZALO_SECRET_HEADER: SECRET}
        await webhook.post(ZALO_WEBHOOK_PATH, json=zalo.update("w6", text="chào"), headers=right)
        await webhook.post(ZALO_WEBHOOK_PATH, json=zalo.update("w6", text=SCAM), headers=right)
        await settle()
        at_once = zalo.texts("w6")[1:]
        assert [CHOOSE in t for t in later] == [False] * (len(later) - 1) + [True]  # one list, at the end
        assert later[-1].split(CHOOSE)[1] == at_once[-1].split(CHOOSE)[1]  # numbered 1-5 across the turn

    async def test_two_turns_that_waited_are_sent_as_two_turns_in_order(
        self, app: App, webhook: httpx.AsyncClient, zalo: FakeZalo, channel: ZaloChannel, settle: Settle
    ) -> None:
        # The second is queued behind the first, which waits for Zalo: nothing overtakes it.
        second = "có người bảo mình chuyển 500k để nhận quà"
        later = await sent_after_an_outage(app, webhook, zalo, channel, settle, "w7", [SCAM, second])
        ends = [n for n, t in enumerate(later) if CHOOSE in t]
        assert len(ends) == 2 and ends[-1] == len(later) - 1  # each turn closes with its own list
        assert all("\n1. " in later[n].split(CHOOSE)[1] for n in ends)  # each counts from 1
        assert "iPhone" in "\n".join(later[: ends[0] + 1])  # the first turn first
        assert "iPhone" not in "\n".join(later[ends[0] + 1 :])


async def sent_after_an_outage(
    app: App,
    webhook: httpx.AsyncClient,
    zalo: FakeZalo,
    channel: ZaloChannel,
    settle: Settle,
    chat: str,
    texts: list[str],
) -> list[str]:
    """The student says hello; then Zalo fails sends for longer than the client retries while the
    student sends `texts`; a round of the outbox 10 s later delivers what waited: the texts it sent."""
    right = {ZALO_SECRET_HEADER: SECRET}
    await webhook.post(ZALO_WEBHOOK_PATH, json=zalo.update(chat, text="chào"), headers=right)
    await settle()
    zalo.script("sendMessage", *[ZALO_DOWN] * 3)
    for text in texts:
        await webhook.post(ZALO_WEBHOOK_PATH, json=zalo.update(chat, text=text), headers=right)
        await settle()
    before = len(zalo.texts(chat))
    assert await channel.deliver_due(now=app.core.clock() + timedelta(seconds=10)) >= len(texts)
    return zalo.texts(chat)[before:]


class TestOutbox:
    async def test_a_rate_limited_turn_is_kept_and_not_tried_before_the_wait(
        self, app: App, webhook: httpx.AsyncClient, zalo: FakeZalo, channel: ZaloChannel, settle: Settle
    ) -> None:
        quota = Script(429, {"ok": False, "error_code": 429, "description": "Quota exceeded"})
        zalo.script("sendMessage", quota)
        await webhook.post(ZALO_WEBHOOK_PATH, json=zalo.update("r1", text="chào"), headers=RIGHT)
        await settle()
        assert len(zalo.called("sendMessage")) == 1  # the one that met the 429
        await channel.client.close()
        channel.client = client_for(zalo)  # a fresh client: only the outbox's schedule holds it back now
        now = app.core.clock()
        assert await channel.deliver_due(now=now + timedelta(seconds=RATE_LIMIT_WAIT_S - 5)) == 0
        assert len(zalo.called("sendMessage")) == 1  # not tried again before the wait
        assert await channel.deliver_due(now=now + timedelta(seconds=RATE_LIMIT_WAIT_S + 5)) == 1
        assert len(zalo.called("sendMessage")) == 2 and "Không Một Mình" in zalo.texts("r1")[-1]

    async def test_a_refused_token_keeps_the_turn_for_when_it_is_fixed(
        self,
        app: App,
        webhook: httpx.AsyncClient,
        zalo: FakeZalo,
        channel: ZaloChannel,
        settle: Settle,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        zalo.script(
            "sendMessage", Script(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        )
        await webhook.post(ZALO_WEBHOOK_PATH, json=zalo.update("r2", text="chào"), headers=RIGHT)
        await settle()
        assert len(zalo.texts("r2")) == 1  # the one refused
        assert any(
            r.levelname == "ERROR" and "NOTALONE_ZALO__TOKEN" in r.getMessage() for r in caplog.records
        )
        assert await channel.deliver_due(now=app.core.clock() + timedelta(seconds=10)) == 1  # not dropped
        assert len(zalo.texts("r2")) == 2


class TestHandoff:
    async def test_crisis_counselor_and_back_over_zalo(
        self,
        app: App,
        webhook: httpx.AsyncClient,
        zalo: FakeZalo,
        channel: ZaloChannel,
        settle: Callable[[], Awaitable[None]],
    ) -> None:
        token = new_token()
        await app.add_counselor_token("anna", "counselor", token_hash(token))
        api = httpx.AsyncClient(
            transport=httpx.ASGITransport(
                app=create_api(
                    uow=app.core.uow,
                    sessions=app.sessions,
                    counselor_by_token=app.counselor_by_token,
                    library=app.library,
                    clock=app.core.clock,
                )
            ),
            base_url="http://api",
            headers={"Authorization": f"Bearer {token}"},
        )
        right = {ZALO_SECRET_HEADER: SECRET}
        await webhook.post(ZALO_WEBHOOK_PATH, json=zalo.update("z9", text=CRISIS), headers=right)
        await settle()
        assert "111" in zalo.texts("z9")[0]
        (case,) = (await api.get("/cases?status=waiting")).json()
        assert case["priority"] == "urgent"
        assert (await api.post(f"/cases/{case['id']}/claim")).status_code == 200
        reply = "Chị đây. Em đừng gửi thêm gì nhé."
        assert (await api.post(f"/cases/{case['id']}/messages", json={"text": reply})).status_code == 202
        zalo.script("sendMessage", *[ZALO_DOWN] * 3)
        assert await channel.deliver_due() == 0  # Zalo down: kept
        later = app.core.clock() + timedelta(seconds=10)
        assert await channel.deliver_due(now=later) == 2
        joined, relayed = zalo.texts("z9")[-2:]
        assert "tư vấn viên đã vào" in joined.lower() and "1. " in joined and relayed == reply

        before = len(zalo.texts("z9"))
        await webhook.post(ZALO_WEBHOOK_PATH, json=zalo.update("z9", text="dạ em cảm ơn chị"), headers=right)
        await settle()
        assert len(zalo.texts("z9")) == before  # silent while the counselor has the chat
        detail = (await api.get(f"/cases/{case['id']}")).json()
        assert detail["transcript"][-1]["text"] == "dạ em cảm ơn chị"
        # A message Zalo hides: the student is told that the counselor cannot see it either.
        await webhook.post(ZALO_WEBHOOK_PATH, json=zalo.update("z9", HIDDEN), headers=right)
        await settle()
        told = zalo.texts("z9")[before:]
        assert len(told) == 1 and told[0].startswith("Tư vấn viên vẫn đang ở đây với bạn")
        assert "113" in told[0] and BOT_URL not in told[0]  # the counselor is here, not on Telegram
        assert "bấm số 111" not in told[0]  # and no hotline footer beside the counselor
        detail = (await api.get(f"/cases/{case['id']}")).json()
        assert detail["transcript"][-2]["kind"] == "hidden" and detail["status"] == "claimed"

        await webhook.post(ZALO_WEBHOOK_PATH, json=zalo.update("z9", text="1"), headers=right)
        await settle()
        assert (await api.get(f"/cases/{case['id']}")).json()["status"] == "claimed"  # "1" went to anna
        await webhook.post(ZALO_WEBHOOK_PATH, json=zalo.update("z9", text="/ketthuc"), headers=right)
        await settle()
        assert (await api.get(f"/cases/{case['id']}")).json()["status"] == "cancelled"


class TestCommand:
    def test_run_zalo_answers_and_stops_cleanly(self, tmp_path: Path, nlu_cache: Path) -> None:
        async def scenario() -> tuple[int, str, list[str]]:
            fake = FakeZalo()
            await fake.start()
            try:
                config = tmp_path / "config.yaml"
                config.write_text(
                    "storage:\n  data_dir: data\nzalo:\n  poll_timeout_s: 1\n", encoding="utf-8"
                )
                env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALONE_")}
                env |= {
                    "NOTALONE_NLU__CACHE_DIR": str(nlu_cache),
                    "NOTALONE_ZALO__TOKEN": fake.token,
                    "NOTALONE_ZALO__API_BASE_URL": fake.url,
                }
                exe = str(Path(sys.executable).parent / "notalone")
                proc = await asyncio.create_subprocess_exec(
                    exe, "--config", str(config), "run", "zalo", env=env, stderr=subprocess.PIPE
                )
                fake.push(fake.update("c1", text="chào"))
                fake.push(fake.update("c1", text=CRISIS))
                deadline = time.monotonic() + 60
                while len(fake.texts("c1")) < 2 and time.monotonic() < deadline and proc.returncode is None:
                    await asyncio.sleep(0.1)
                proc.send_signal(signal.SIGTERM)
                _, err = await asyncio.wait_for(proc.communicate(), 30)
                return proc.returncode or 0, err.decode(), fake.texts("c1")
            finally:
                await fake.stop()

        code, err, texts = asyncio.run(scenario())
        assert code == 0, err
        assert len(texts) == 2 and "111" in texts[1]  # one message a turn: the greeting, then the crisis
        assert "chào" not in err and CRISIS not in err  # no message text in the logs
        # The fake answers deleteWebhook with 400 (a bot that never had a webhook): logged, not fatal.
        assert "deleteWebhook failed; polling anyway" in err

    def test_serve_registers_the_webhook_once_it_listens(self, tmp_path: Path, nlu_cache: Path) -> None:
        # Zalo tests the address as soon as setWebhook is called: the port must already listen.
        async def scenario() -> tuple[int, str, FakeZalo, list[str]]:
            fake = FakeZalo()
            await fake.start()
            port = free_port()
            fake.reach = {"https://bot.example.test": f"http://127.0.0.1:{port}"}
            try:
                env = zalo_env(fake, tmp_path, nlu_cache)
                env["NOTALONE_ZALO__PUBLIC_BASE_URL"] = "https://bot.example.test"
                proc = await asyncio.create_subprocess_exec(
                    *notalone(tmp_path),
                    "--log-level",
                    "INFO",
                    "serve",
                    "--port",
                    str(port),
                    env=env,
                    stderr=subprocess.PIPE,
                )
                deadline = time.monotonic() + 60
                while not fake.webhook and time.monotonic() < deadline and proc.returncode is None:
                    await asyncio.sleep(0.1)
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                    update = fake.update("v1", text="chào")
                    posted = await client.post(ZALO_WEBHOOK_PATH, json=update, headers=RIGHT)
                    assert posted.status_code == 200
                texts = await fake.wait_texts("v1", 1, timeout=30)
                proc.send_signal(signal.SIGTERM)
                _, err = await asyncio.wait_for(proc.communicate(), 30)
                return proc.returncode or 0, err.decode(), fake, texts
            finally:
                await fake.stop()

        code, err, fake, texts = asyncio.run(scenario())
        assert code in (0, -signal.SIGTERM), err  # uvicorn ends by the signal it caught, after shutting down
        assert fake.webhook == "https://bot.example.test/webhooks/zalo" and fake.tested == [200]
        assert [p["secret_token"] for p in fake.called("setWebhook")] == [SECRET]
        assert "zalo webhook registered" in err and '"detail": "ok"' in err  # Zalo's verification
        assert len(texts) == 1 and "Không Một Mình" in texts[0]

    def test_the_operator_commands_against_zalo(self, tmp_path: Path, nlu_cache: Path) -> None:
        async def scenario() -> list[tuple[int, str, str]]:
            fake = FakeZalo()
            await fake.start()
            env = zalo_env(fake, tmp_path, nlu_cache)
            results = []
            try:
                for args in (
                    ["zalo", "check", "--chat-id", "op1"],
                    ["zalo", "webhook", "info"],
                    ["zalo", "webhook", "set", "http://bot.example.test/webhooks/zalo"],
                    ["zalo", "webhook", "set", "https://nowhere.example.test/webhooks/zalo"],
                    ["zalo", "webhook", "delete"],
                ):
                    proc = await asyncio.create_subprocess_exec(
                        *notalone(tmp_path), *args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                    )
                    out, err = await asyncio.wait_for(proc.communicate(), 60)
                    results.append((proc.returncode or 0, out.decode(), err.decode()))
                fake.token = "other:token"  # the bot's token is refused from now on
                proc = await asyncio.create_subprocess_exec(
                    *notalone(tmp_path),
                    "zalo",
                    "check",
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                out, err = await asyncio.wait_for(proc.communicate(), 60)
                results.append((proc.returncode or 0, out.decode(), err.decode()))
                results.append((0, "\n".join(fake.texts("op1")), ""))
            finally:
                await fake.stop()
            return results

        check, info, http, unreachable, delete, refused, sent = asyncio.run(scenario())
        assert (
            check[0] == 0 and "getMe: ok (bot.notalone)" in check[1] and "sendMessage to op1: ok" in check[1]
        )
        assert "Không Một Mình" in sent[1]  # the test message arrived
        assert info[0] == 0 and "webhook: none" in info[1]
        assert http[0] == 2 and "only https" in http[2]
        assert unreachable[0] == 2 and "not reachable" in unreachable[2]
        assert delete[0] == 2 and "400" in delete[2]  # no webhook to delete: said, with Zalo's answer
        assert refused[0] == 1 and "NOTALONE_ZALO__TOKEN" in refused[1]

    def test_run_zalo_without_a_token_names_the_variable(self, tmp_path: Path) -> None:
        config = tmp_path / "config.yaml"
        config.write_text("storage:\n  data_dir: data\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALONE_")}
        exe = str(Path(sys.executable).parent / "notalone")
        done = subprocess.run([exe, "--config", str(config), "run", "zalo"], env=env, capture_output=True)
        assert done.returncode == 2 and "NOTALONE_ZALO__TOKEN" in done.stderr.decode()


def notalone(tmp_path: Path) -> list[str]:
    """The `notalone` command with a config file under `tmp_path` (its data there too)."""
    config = tmp_path / "config.yaml"
    if not config.exists():
        config.write_text("storage:\n  data_dir: data\nzalo:\n  poll_timeout_s: 1\n", encoding="utf-8")
    return [str(Path(sys.executable).parent / "notalone"), "--config", str(config)]


def zalo_env(fake: FakeZalo, tmp_path: Path, nlu_cache: Path) -> dict[str, str]:
    """The environment of a `notalone` process using the fake Zalo: no other NOTALONE_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALONE_")}
    return env | {
        "NOTALONE_NLU__CACHE_DIR": str(nlu_cache),
        "NOTALONE_ZALO__TOKEN": fake.token,
        "NOTALONE_ZALO__API_BASE_URL": fake.url,
        "NOTALONE_ZALO__WEBHOOK_SECRET": SECRET,
    }
