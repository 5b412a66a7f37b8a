"""A screenshot of a scam chat, sent as a photo through Telegram (fake Bot API: getFile and the file)
and through Zalo (a photo link): read, analysed, answered with tactics and evidence from the image."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image
from telegram import Update

from bot.main import App
from bot.web import TelegramApp
from tests.integration.fake_telegram import FakeTelegram
from tests.screenshots import chat_screenshot

SCAM_CHAT = [
    ("Chào em, anh là công an phường. Em đang liên quan tới một vụ án lừa đảo.", False),
    ("dạ em không hiểu", True),
    (
        "Em phải chuyển 2 triệu vào tài khoản để xác minh, không được nói với bố mẹ, nếu không sẽ bị bắt.",
        False,
    ),
]


async def process(application: TelegramApp, payload: dict[str, Any]) -> None:
    await application.process_update(Update.de_json(payload, application.bot))


class TestTelegramPhotos:
    async def test_a_scam_screenshot_gets_tactics_and_evidence(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.message_update(80, "/start"))
        shot = chat_screenshot(SCAM_CHAT, theme="dark", font="noto", size=30, image_format="JPEG")
        await process(telegram, fake.photo_update(80, shot.png))
        assert fake.sent("getFile")[-1]["file_id"].startswith("f")
        texts = [p["text"] for p in fake.sent(chat_id=80)][2:]
        assert "đọc chữ trong ảnh" in texts[0]
        answer = "\n".join(texts)
        assert "Gây sợ hãi" in answer and "Kiểm soát" in answer  # tactics named
        assert "“" in answer and (
            "công an" in answer or "không được nói với bố mẹ" in answer
        )  # quoted from the image

    async def test_an_image_sent_as_a_file_and_a_caption(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.message_update(81, "/start"))
        shot = chat_screenshot(SCAM_CHAT, size=32)
        await process(telegram, fake.photo_update(81, shot.png, as_document=True, caption="cái này là sao ạ"))
        assert "đọc chữ trong ảnh" in fake.sent(chat_id=81)[2]["text"]

    async def test_unreadable_images_get_a_friendly_answer(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.message_update(82, "/start"))
        await process(telegram, fake.photo_update(82, b"\xff\xd8\xff\xe0 broken jpeg"))
        await process(telegram, fake.photo_update(82, b"x" * 11_000_000))
        blank = io.BytesIO()
        Image.new("RGB", (1080, 1920), (230, 240, 250)).save(blank, "PNG")
        await process(telegram, fake.photo_update(82, blank.getvalue()))
        fake.fail_next("getFile", 500)
        await process(
            telegram, fake.photo_update(82, blank.getvalue(), caption="mình bị dọa tung ảnh, sợ quá")
        )
        corrupt, huge, empty, caption = [p["text"] for p in fake.sent(chat_id=82)][2:6]
        assert "chưa đọc được ảnh" in corrupt
        assert "dưới 10 MB" in huge
        assert "không thấy chữ" in empty
        assert "đọc chữ trong ảnh" not in caption and "111" in "".join(
            p["text"] for p in fake.sent(chat_id=82)[5:]
        )
