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
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from bot.inbox import Inbox
from bot.main import App
from bot.web import ZALO_SECRET_HEADER, ZALO_WEBHOOK_PATH, create_web_app
from bot.zalo.channel import ZaloChannel
from bot.zalo.client import (
    ZaloBadResponse,
    ZaloClient,
    ZaloError,
    ZaloRateLimited,
    ZaloServerError,
    ZaloTimeout,
    ZaloUnauthorized,
)
from counselor.api import create_api
from counselor.auth import new_token, token_hash
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
    await found.drain()
    await found.client.close()


@pytest.fixture
async def polling(channel: ZaloChannel) -> AsyncIterator[ZaloChannel]:
    stop = asyncio.Event()
    task = asyncio.create_task(channel.poll(stop))
    yield channel
    stop.set()
    await asyncio.wait_for(task, 10)


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

    async def test_429_waits_and_retries(self, zalo: FakeZalo) -> None:
        limited = {
            "ok": False,
            "error_code": 429,
            "description": "slow down",
            "parameters": {"retry_after": 0.05},
        }
        zalo.script("sendMessage", Script(429, limited))
        async with client_for(zalo) as client:
            assert (await client.send_message("u1", "a"))["message_id"]
        assert len(zalo.called("sendMessage")) == 2

    async def test_429_without_end_is_raised_after_the_retries(self, zalo: FakeZalo) -> None:
        zalo.script("sendMessage", *[Script(429, {"ok": False, "error_code": 429, "description": "x"})] * 3)
        async with client_for(zalo) as client:
            with pytest.raises(ZaloRateLimited):
                await client.send_message("u1", "a")
        assert len(zalo.called("sendMessage")) == 3  # the first try and max_retries=2

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
        url = zalo.serve_file("shot.png", chat_screenshot(chat, size=32).png)
        zalo.push(zalo.update("u5", "message.image.received", photo_url=url, caption="cái này là sao"))
        zalo.push(
            zalo.update("u6", "message.image.received", photo_url=zalo.serve_file("big", b"x" * 11_000_000))
        )
        assert await zalo.wait_text_with("u5", "đọc chữ trong ảnh")
        assert await zalo.wait_text_with("u6", "dưới 10 MB")


class TestWebhook:
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

    def test_run_zalo_without_a_token_names_the_variable(self, tmp_path: Path) -> None:
        config = tmp_path / "config.yaml"
        config.write_text("storage:\n  data_dir: data\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALONE_")}
        exe = str(Path(sys.executable).parent / "notalone")
        done = subprocess.run([exe, "--config", str(config), "run", "zalo"], env=env, capture_output=True)
        assert done.returncode == 2 and "NOTALONE_ZALO__TOKEN" in done.stderr.decode()
