"""Reading the text of a screenshot with Tesseract OCR (Debian's tesseract-ocr and tesseract-ocr-vie).

Chat screenshots need some preparation before OCR: grayscale, dark mode turned light, small text
scaled up, contrast stretched. Everything is bounded: the file size, the pixel count (a PNG bomb is
refused from its header, before it is decoded), and the OCR's time (the process is killed).
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import shutil
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from handlers.ports import ImageUnreadable

log = logging.getLogger(__name__)
FORMATS = frozenset({"PNG", "JPEG", "WEBP", "BMP"})
# Below this mean brightness (0-255) a screenshot is taken to be in dark mode and is inverted.
DARK_MEAN = 110
# Chat text is small on a phone screenshot; Tesseract reads best with letters about 30 px high.
TARGET_WIDTH = 2000


@dataclass(frozen=True)
class OcrLimits:
    max_bytes: int = 10_000_000
    max_pixels: int = 40_000_000
    timeout_s: float = 30.0
    language: str = "vie"
    # Tesseract's page segmentation: 4 = "a single column of text of variable sizes" suits chats.
    psm: int = 4


def prepare(data: bytes, limits: OcrLimits = OcrLimits()) -> Image.Image:
    """The image, checked and made ready for OCR; ImageUnreadable says why it cannot be."""
    if len(data) > limits.max_bytes:
        raise ImageUnreadable("too_big")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise ImageUnreadable("format")
            width, height = image.size
            if width * height > limits.max_pixels or width < 8 or height < 8:
                raise ImageUnreadable("too_many_pixels" if width * height > limits.max_pixels else "no_text")
            image.load()
    except ImageUnreadable:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageUnreadable("too_many_pixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ImageUnreadable("corrupt") from None
    upright: Image.Image = ImageOps.exif_transpose(image) or image
    gray = upright.convert("L")
    if _mean(gray) < DARK_MEAN:
        gray = ImageOps.invert(gray)
    if gray.width < TARGET_WIDTH:
        scale = min(3.0, TARGET_WIDTH / gray.width)
        gray = gray.resize((round(gray.width * scale), round(gray.height * scale)), Image.Resampling.LANCZOS)
    gray = ImageOps.autocontrast(gray, cutoff=1)
    return gray.filter(ImageFilter.UnsharpMask(radius=1.5, percent=80, threshold=2))


def _mean(gray: Image.Image) -> float:
    histogram = gray.histogram()
    total = sum(histogram) or 1
    return sum(i * n for i, n in enumerate(histogram)) / total


class TesseractReader:
    """The ImageReader port: bytes of an image in, its text out."""

    def __init__(self, limits: OcrLimits = OcrLimits(), command: str = "tesseract") -> None:
        self.limits = limits
        self.command = command

    def available(self) -> bool:
        return shutil.which(self.command) is not None

    async def read(self, image: bytes) -> str:
        """The text in the image (may be empty); ImageUnreadable when it cannot be read."""
        prepared = await asyncio.to_thread(prepare, image, self.limits)
        png = io.BytesIO()
        await asyncio.to_thread(prepared.save, png, "PNG")
        return await self._tesseract(png.getvalue())

    async def _tesseract(self, png: bytes) -> str:
        if not self.available():
            log.error("tesseract is not installed", extra={"error": "ocr_missing"})
            raise ImageUnreadable("ocr_missing")
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        process = await asyncio.create_subprocess_exec(
            self.command,
            "stdin",
            "stdout",
            "-l",
            self.limits.language,
            "--psm",
            str(self.limits.psm),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        try:
            out, _err = await asyncio.wait_for(process.communicate(png), self.limits.timeout_s)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise ImageUnreadable("timeout") from None
        if process.returncode != 0:
            log.warning("tesseract failed", extra={"error": f"exit {process.returncode}"})
            raise ImageUnreadable("corrupt")
        return tidy(out.decode("utf-8", errors="replace"))


def tidy(text: str) -> str:
    """OCR output as plain lines: no empty runs, no stray form feeds, no trailing spaces."""
    lines = [line.strip() for line in text.replace("\f", "\n").splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()
