"""The real PTB Application against a local fake Bot API server: polling, every kind of message,
buttons, the 111 flow, ordering, retries, and the webhook served by uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import Update

from bot.main import App
from bot.telegram.app import build_application
from bot.telegram.polling import poll
from bot.web import SECRET_HEADER, WEBHOOK_PATH, TelegramApp, create_web_app, make_inbox, telegram_handler
from handlers.models import Channel
from handlers.ports import StorageUnavailable
from tests.integration.conftest import serving
from tests.integration.fake_telegram import FakeTelegram

SCAM = "Cục Cảnh sát thông báo bạn liên quan đường dây rửa tiền. Không được nói với ai, chuyển 20 triệu ngay."
CRISIS = "mình không muốn sống nữa, tối nay mình sẽ uống hết thuốc"


async def process(application: TelegramApp, payload: dict[str, Any]) -> None:
    await application.process_update(Update.de_json(payload, application.bot))


def buttons(params: dict[str, Any]) -> list[dict[str, Any]]:
    markup = params.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


class TestStartUp:
    async def test_commands_menu_in_vietnamese(self, telegram: TelegramApp, fake: FakeTelegram) -> None:
        (commands,) = fake.sent("setMyCommands")
        names = [c["command"] for c in commands["commands"]]
        assert names == ["start", "luyentap", "111", "help", "xoa"]
        assert commands["commands"][0]["description"] == "Bắt đầu"


class TestMessages:
    async def test_start_then_scam_with_quotes_and_buttons(
        self, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.message_update(42, "/start"))
        await process(telegram, fake.message_update(42, SCAM))
        start, answer = fake.sent(chat_id=42)  # one message a turn
        assert "/xoa" in start["text"]  # the introduction comes with the first turn
        assert "“" in answer["text"] and "đường dây rửa tiền" in answer["text"]
        assert [b["callback_data"] for b in buttons(answer)] == [
            "call_111",
            "talk_to_counselor",
            "learn_more",
            "helpful",
            "not_helpful",
        ]
        # Sentences one per row; the feedback pair side by side on the last row.
        rows = answer["reply_markup"]["inline_keyboard"]
        assert [len(r) for r in rows] == [1, 1, 1, 2]
        assert "parse_mode" not in answer  # plain text: nothing the student typed can break it

    async def test_typing_only_when_the_answer_takes_long(
        self, telegram: TelegramApp, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Issue 20: a Bot API call per turn for "typing…" that a quick answer makes pointless.
        settings = telegram.bot_data["notalone"].app.settings.telegram
        monkeypatch.setattr(settings, "typing_after_s", 30.0)
        await process(telegram, fake.message_update(43, SCAM))
        assert fake.sent(chat_id=43) and not fake.sent("sendChatAction", 43)
        monkeypatch.setattr(settings, "typing_after_s", 0.0)
        await process(telegram, fake.message_update(44, SCAM))
        assert fake.sent("sendChatAction", 44)[0]["action"] == "typing"

    async def test_crisis_first_reply_offers_111_first(
        self, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.message_update(7, CRISIS))
        first = fake.sent(chat_id=7)[0]
        assert "111" in first["text"]
        assert (
            buttons(first)[0]["callback_data"] == "call_111"
        )  # self-harm: 111 first (113 first is for a person coming)

    async def test_call_111_sends_contact_card_and_copy_button(
        self, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.button_update(5, "call_111"))
        assert fake.sent("answerCallbackQuery")
        (contact,) = fake.sent("sendContact", 5)
        assert contact["phone_number"] == "111" and contact["first_name"] == "Tổng đài 111"
        copy = [b for m in fake.sent(chat_id=5) for b in buttons(m) if "copy_text" in b]
        assert copy and copy[0]["copy_text"]["text"] == "111"

    async def test_a_man_at_the_door_gets_113_first_and_its_contact_card(
        self, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(
            telegram, fake.message_update(8, "có ông lạ đang đứng trước cổng nhà em, nhà ko có ai, em sợ")
        )
        first = fake.sent(chat_id=8)[0]
        assert "113" in first["text"].splitlines()[0]
        assert [b["callback_data"] for b in buttons(first)][:2] == ["call_113", "call_111"]
        await process(telegram, fake.button_update(8, "call_113"))
        (contact,) = fake.sent("sendContact", 8)
        assert contact["phone_number"] == "113" and contact["first_name"] == "Công an 113"
        assert not [c for c in fake.sent("sendContact") if c.get("phone_number") == "111"]

    async def test_every_button_is_answered_even_stale_ones(
        self, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.button_update(6, "no_such_action"))
        await process(telegram, fake.button_update(6, "learn_more"))
        assert len(fake.sent("answerCallbackQuery")) == 2
        assert "không còn dùng được" in fake.sent(chat_id=6)[0]["text"]

    async def test_forwarded_message_is_analysed(self, telegram: TelegramApp, fake: FakeTelegram) -> None:
        origin = {
            "type": "user",
            "date": 1,
            "sender_user": {"id": 999, "is_bot": False, "first_name": "Kẻ Lạ"},
        }
        await process(telegram, fake.message_update(8, SCAM, forward_origin=origin))
        texts = [m["text"] for m in fake.sent(chat_id=8)]
        assert any("“" in t for t in texts)

    @pytest.mark.parametrize(
        ("extra", "needle"),
        [
            (
                {"photo": [{"file_id": "p", "file_unique_id": "u", "width": 90, "height": 90}]},
                "chưa đọc được ảnh",
            ),
            (
                {
                    "sticker": {
                        "file_id": "s",
                        "file_unique_id": "u",
                        "width": 512,
                        "height": 512,
                        "is_animated": False,
                        "is_video": False,
                        "type": "regular",
                    }
                },
                "Sticker",
            ),
            ({"voice": {"file_id": "v", "file_unique_id": "u", "duration": 3}}, "tin nhắn thoại"),
            ({"document": {"file_id": "d", "file_unique_id": "u"}}, "tệp"),
            ({"location": {"latitude": 21.0, "longitude": 105.8}}, "113"),
        ],
    )
    async def test_non_text_gets_a_friendly_reply(
        self, telegram: TelegramApp, fake: FakeTelegram, extra: dict[str, Any], needle: str
    ) -> None:
        await process(telegram, fake.message_update(9, None, **extra))
        assert needle in fake.sent(chat_id=9)[-1]["text"]

    async def test_caption_is_read_as_text(self, telegram: TelegramApp, fake: FakeTelegram) -> None:
        photo = [{"file_id": "p", "file_unique_id": "u", "width": 90, "height": 90}]
        await process(telegram, fake.message_update(10, None, photo=photo, caption=SCAM))
        assert any("“" in m["text"] for m in fake.sent(chat_id=10))

    async def test_markup_breaking_text_is_sent_as_is(
        self, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        nasty = "*_[`<b>chuyển</b> tiền ngay ko t tung ảnh`](http://x) **__"
        await process(telegram, fake.message_update(11, nasty))
        assert fake.sent(chat_id=11) and all("parse_mode" not in m for m in fake.sent(chat_id=11))

    async def test_edited_message_is_answered(self, telegram: TelegramApp, fake: FakeTelegram) -> None:
        update = fake.message_update(12, SCAM)
        update["edited_message"] = update.pop("message") | {"edit_date": 2}
        await process(telegram, update)
        assert any("“" in m["text"] for m in fake.sent(chat_id=12))

    async def test_a_redelivered_update_is_answered_once(
        self, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        update = fake.message_update(13, SCAM)
        await process(telegram, update)
        answered = len(fake.sent(chat_id=13))
        await process(telegram, update)  # Telegram sends it again (e.g. after a restart while polling)
        assert answered and len(fake.sent(chat_id=13)) == answered

    async def test_groups_only_when_addressed(self, telegram: TelegramApp, fake: FakeTelegram) -> None:
        await process(telegram, fake.message_update(-100, SCAM, user_id=1, chat_type="group"))
        assert not fake.sent(chat_id=-100)
        await process(
            telegram, fake.message_update(-100, f"@notalone_test_bot {SCAM}", user_id=1, chat_type="group")
        )
        assert any("“" in m["text"] for m in fake.sent(chat_id=-100))


@asynccontextmanager
async def polling(app: App, inbox_accept: Any = None) -> AsyncIterator[TelegramApp]:
    """`notalone run telegram`'s parts in this process: long polling into the inbox, PTB handling
    what the inbox hands it (`inbox_accept` wraps the inbox's accept)."""
    application = build_application(app.settings.telegram, app, webhook=True)
    inbox = make_inbox(app, {Channel.TELEGRAM: telegram_handler(application)})
    if inbox_accept is not None:
        inbox.accept = inbox_accept(inbox.accept)  # type: ignore[method-assign]
    stop = asyncio.Event()
    async with application:
        await application.start()
        handling = asyncio.create_task(inbox.run())
        getting = asyncio.create_task(poll(application.bot, inbox, stop, 1))
        try:
            yield application
        finally:
            stop.set()
            await getting
            handling.cancel()
            await inbox.drain()
            await application.stop()


class TestPollingAndOrder:
    async def test_two_chats_interleaved_each_in_order(self, app: App, fake: FakeTelegram) -> None:
        async with polling(app):
            for i in range(3):
                fake.push_update(fake.message_update(21, f"/help {i}"))
                fake.push_update(fake.message_update(22, "/start"))
            fake.push_update(fake.message_update(21, "/luyentap"))
            sent21 = await fake.wait_for(5, chat_id=21)  # 3 help (the first introduces) + intro + question
            await fake.wait_for(3, chat_id=22)
        texts = [m["text"] for m in sent21]
        assert all(t.startswith("Mình có thể") for t in texts[0:3]) and "/xoa" in texts[0]
        assert texts[3].startswith("Cùng luyện tập") and texts[4].startswith("Câu 1/5")

    async def test_an_update_is_confirmed_only_once_stored(self, app: App, fake: FakeTelegram) -> None:
        # The database refuses every store, and the poller is stopped meanwhile: no getUpdates
        # offset ever passes the update (Telegram keeps it), nothing is answered. Started again
        # with the database back, the update comes again and is answered, once.
        down = [True]
        refused: list[int] = []

        def flaky(accept: Any) -> Any:
            async def accepting(*args: Any) -> None:
                if down[0]:
                    refused.append(len(fake.offsets()))
                    raise StorageUnavailable("OSError")
                await accept(*args)

            return accepting

        update = fake.message_update(23, SCAM)
        async with polling(app, flaky):
            fake.push_update(update)
            for _ in range(100):  # two refused stores, a second apart
                if len(refused) >= 2:
                    break
                await asyncio.sleep(0.05)
        assert len(refused) >= 2 and not fake.sent(chat_id=23)
        assert all(o <= update["update_id"] for o in fake.offsets())  # never confirmed
        down[0] = False
        async with polling(app, flaky):
            (answer,) = await fake.wait_for(1, chat_id=23)
            await asyncio.sleep(1.5)  # a next poll (and nothing sent twice meanwhile)
        assert "“" in answer["text"] and len(fake.sent(chat_id=23)) == 1
        assert update["update_id"] + 1 in fake.offsets()  # confirmed once stored


class TestRetries:
    async def test_429_then_500_then_delivered_once(self, telegram: TelegramApp, fake: FakeTelegram) -> None:
        fake.fail_next("sendMessage", 429, parameters={"retry_after": 1})
        fake.fail_next("sendMessage", 500)
        await process(telegram, fake.message_update(30, "/help"))
        attempts = fake.sent(chat_id=30)
        delivered = [m for m in attempts if "Mình có thể" in m["text"]]
        assert len(attempts) >= 3 and delivered


class TestWebhook:
    @pytest.fixture
    async def served(self, app: App, fake: FakeTelegram) -> AsyncIterator[str]:
        application = build_application(app.settings.telegram, app, webhook=True)
        web = create_web_app(
            app, application, secret="s3cret", webhook_url="https://bot.example.org/webhooks/telegram"
        )
        async with serving(web) as url:
            yield url

    async def test_secret_json_and_delivery(self, served: str, fake: FakeTelegram) -> None:
        (hook,) = fake.sent("setWebhook")
        assert hook["url"].endswith(WEBHOOK_PATH) and hook["secret_token"] == "s3cret"
        async with httpx.AsyncClient(base_url=served) as client:
            update = fake.message_update(50, "/start")
            assert (await client.post(WEBHOOK_PATH, json=update)).status_code == 403
            wrong = {SECRET_HEADER: "nope"}
            assert (await client.post(WEBHOOK_PATH, json=update, headers=wrong)).status_code == 403
            good = {SECRET_HEADER: "s3cret"}
            assert (await client.post(WEBHOOK_PATH, content=b"{not json", headers=good)).status_code == 400
            assert (await client.post(WEBHOOK_PATH, json=[1, 2], headers=good)).status_code == 400
            assert (
                await client.post(WEBHOOK_PATH, json={"update_id": 9, "weird": {}}, headers=good)
            ).status_code == 200
            assert (await client.post(WEBHOOK_PATH, json=update, headers=good)).status_code == 200
            await fake.wait_for(1, chat_id=50)
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            ready = await client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["ready"] is True
            page = await client.get("/goi/111")
            assert page.status_code == 200 and 'href="tel:111"' in page.text and 'href="tel:113"' in page.text
            assert "zalo" not in page.text.lower().split("</style>")[1]  # no address configured, no link
            # Its inline style only: no script, no frame around it; the health checks are not cached.
            csp = page.headers["content-security-policy"]
            assert "script-src" not in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
            assert (await client.get("/healthz")).headers["cache-control"] == "no-store"


class TestRunTelegramCommand:
    async def test_notalone_run_telegram_answers_and_stops_gracefully(
        self, fake: FakeTelegram, tmp_path: Path, nlu_cache: Path
    ) -> None:
        import os
        import signal
        import sys

        config = tmp_path / "config.yaml"
        config.write_text("storage:\n  data_dir: data\ntelegram:\n  poll_timeout_s: 1\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALONE_")}
        env.update(
            {
                "NOTALONE_TELEGRAM__TOKEN": fake.token,
                "NOTALONE_TELEGRAM__API_BASE_URL": fake.url,
                "NOTALONE_NLU__CACHE_DIR": str(nlu_cache),
            }
        )
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "notalone"),
            "--config",
            str(config),
            "--log-level",
            "INFO",
            "run",
            "telegram",
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            fake.push_update(fake.message_update(60, "/start"))
            fake.push_update(fake.message_update(60, SCAM))
            fake.push_update(fake.message_update(61, CRISIS))
            fake.push_update(fake.button_update(60, "learn_more"))
            await fake.wait_for(1, "answerCallbackQuery", timeout=60)
            first_crisis = (await fake.wait_for(1, chat_id=61, timeout=60))[0]
            assert "111" in first_crisis["text"] and buttons(first_crisis)[0]["callback_data"] == "call_111"
            texts = [m["text"] for m in await fake.wait_for(3, chat_id=60, timeout=60)]  # a message a turn
            assert any("“" in t for t in texts)
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0
        log = err.decode()
        assert "Traceback" not in log and fake.token not in log  # no token, no tracebacks
        assert "Cục Cảnh sát" not in log and "không muốn sống" not in log  # no message text in logs
