"""Reading screenshots with the real Tesseract: generated chats in light and dark mode, and every kind
of bad image (huge, bomb, corrupt, GIF, no text) refused quickly with a reason."""

from __future__ import annotations

import io
import os
import shutil
import struct
import time
import zlib

import pytest
from PIL import Image

from handlers.ports import ImageUnreadable
from nlu.ocr import OcrLimits, TesseractReader, prepare
from tests.screenshots import chat_screenshot

CHAT = [
    ("Chào em, anh là công an phường. Em đang liên quan tới một vụ án, không được nói với bố mẹ.", False),
    ("dạ em không hiểu", True),
    ("Em chuyển 2 triệu vào tài khoản để xác minh, nếu không sẽ bị bắt ngay hôm nay.", False),
]

needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None and not os.environ.get("CI"),
    reason="tesseract-ocr is not installed (scripts/setup installs it)",
)


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG whose header claims 900 million pixels."""
    raw = zlib.compress(b"\x00" * 1000)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def encoded(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


class TestBadImages:
    @pytest.mark.parametrize(
        ("data", "code"),
        [
            (b"\x00" * 21_000_000, "too_big"),
            (png_bomb(), "too_many_pixels"),
            (encoded(Image.new("RGB", (200, 200), "white"), "JPEG")[:300], "corrupt"),
            (b"GIF89a" + b"\x00" * 100, "corrupt"),
            (encoded(Image.new("RGB", (50, 50), "red"), "GIF"), "format"),
            (b"%PDF-1.4 not an image", "corrupt"),
            (b"", "corrupt"),
        ],
        ids=["20MB", "png-bomb", "corrupt-jpeg", "broken-gif", "gif", "pdf", "empty"],
    )
    def test_refused_fast_with_a_reason(self, data: bytes, code: str) -> None:
        started = time.perf_counter()
        with pytest.raises(ImageUnreadable) as caught:
            prepare(data, OcrLimits())
        assert caught.value.code == code
        assert time.perf_counter() - started < 2.0

    def test_dark_mode_is_inverted_and_small_text_scaled(self) -> None:
        shot = chat_screenshot(CHAT, theme="dark", size=28, width=720)
        prepared = prepare(shot.png)
        assert prepared.mode == "L" and prepared.width >= 1440
        histogram = prepared.histogram()
        assert sum(histogram[128:]) > sum(histogram[:128])  # mostly light now


@needs_tesseract
class TestReading:
    @pytest.mark.parametrize(
        ("theme", "font"), [("light", "dejavu"), ("dark", "noto"), ("dark", "dejavu-condensed")]
    )
    async def test_a_chat_screenshot_is_read(self, theme: str, font: str) -> None:
        shot = chat_screenshot(CHAT, theme=theme, font=font, size=32, image_format="JPEG")
        text = await TesseractReader().read(shot.png)
        flat = " ".join(text.split())
        assert "công an phường" in flat and "không được nói với bố mẹ" in flat and "chuyển 2 triệu" in flat

    async def test_a_photo_without_text_reads_nothing(self) -> None:
        blank = encoded(Image.new("RGB", (1080, 1920), (120, 160, 200)), "PNG")
        assert (await TesseractReader().read(blank)).strip() == ""

    async def test_a_slow_ocr_is_stopped(self) -> None:
        shot = chat_screenshot(CHAT, size=40)
        with pytest.raises(ImageUnreadable) as caught:
            await TesseractReader(OcrLimits(timeout_s=0.001)).read(shot.png)
        assert caught.value.code == "timeout"
