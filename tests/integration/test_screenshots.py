"""A screenshot of a scam chat sent as a photo through Telegram (fake Bot API: getFile and the file):
read, analysed, answered with tactics, evidence and red flags; no reply ever has a tappable link."""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image
from telegram import Update

from bot.main import App
from bot.web import TelegramApp
from handlers.models import Tactic
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
        start, answer = [p["text"] for p in fake.sent(chat_id=80)]  # one message a turn
        assert app.library.text("image_read") in answer  # says it read the image
        lib = app.library
        named = lib.tactic_name(Tactic.FEAR) in answer and lib.tactic_name(Tactic.CONTROL) in answer
        quoted = "“" in answer and ("công an" in answer or "không được nói với bố mẹ" in answer)
        # The model may read "không được nói với bố mẹ, nếu không sẽ bị bắt" as a kidnapping in progress:
        # then the one crisis message, naming 111, is the answer.
        assert (named and quoted) or ("111" in answer and lib.text("crisis_counselor_on") in answer)

    async def test_an_image_sent_as_a_file_and_a_caption(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.message_update(81, "/start"))
        shot = chat_screenshot(SCAM_CHAT, size=32)
        await process(telegram, fake.photo_update(81, shot.png, as_document=True, caption="cái này là sao ạ"))
        assert app.library.text("image_read") in fake.sent(chat_id=81)[1]["text"]

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
        corrupt, huge, empty, caption = [p["text"] for p in fake.sent(chat_id=82)][1:5]
        assert "chưa đọc được ảnh" in corrupt
        assert "dưới 10 MB" in huge
        assert "không thấy chữ" in empty
        assert app.library.text("image_read") not in caption and "111" in caption


CLICKABLE = re.compile(
    r"https?://|www\.|\b[\w-]+\.(?:com|vn|xyz|ly|me|net|org|top|click|info)\b", re.IGNORECASE
)
LINKS = (
    "Chúc mừng bạn trúng iPhone! Vào https://vietcombank-xacminh.com/nhan-qua hoặc bit.ly/qua-tang "
    "nhập mã OTP để nhận quà, ib zalo 0912 345 678, ck phí 500k vào stk 0123456789 VCB, không được nói với ai"
)


class TestRedFlags:
    async def test_red_flags_are_named_and_no_reply_has_a_tappable_link(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.message_update(90, LINKS))
        await process(telegram, fake.button_update(90, "learn_more"))
        await process(telegram, fake.button_update(90, "share_with_adult"))
        texts = [p["text"] for p in fake.sent(chat_id=90)]
        assert "🚩" in texts[0]  # the answer names the main ones; the full guide lists them all
        full = app.library.text("redflags_intro")
        at = next(n for n, t in enumerate(texts) if full in t)
        flags = "\n".join(texts[at:])  # a long guide is split into messages of the channel's size
        assert "vietcombank-xacminh[.]com" in flags and "giả tên Vietcombank" in flags
        assert "bit[.]ly" in flags and "rút gọn" in flags
        assert "0912 345 678" in flags and "0123456789" in flags and "500k" in flags
        assert "OTP" in flags and "Zalo" in flags
        tappable = [t for t in texts if CLICKABLE.search(t)]
        assert not tappable, tappable

    async def test_a_screenshot_with_a_link(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        chat = [("Bạn trúng thưởng! Vào shopee-nhanqua.xyz để nhận, nhập mã OTP gửi cho mình nhé.", False)]
        await process(telegram, fake.photo_update(91, chat_screenshot(chat, size=34).png))
        await process(telegram, fake.button_update(91, "learn_more"))
        texts = [p["text"] for p in fake.sent(chat_id=91)]
        assert "shopee-nhanqua[.]xyz" in texts[0]  # named in the answer already
        flags = next(t for t in texts if app.library.text("redflags_intro") in t)
        assert "shopee-nhanqua[.]xyz" in flags and "Shopee" in flags
        assert not [t for t in texts if CLICKABLE.search(t)]
