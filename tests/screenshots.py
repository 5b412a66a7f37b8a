"""Generated chat screenshots (Pillow): Vietnamese chat bubbles in light or dark theme, several fonts
and sizes, for the OCR tests and `bench/ocr.py`. The ground truth is the text drawn, in reading order.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = (Path("/usr/share/fonts/truetype"),)
# Fonts with Vietnamese glyphs (Debian's Liberation Sans lacks some: it is not used).
FONT_FILES = {
    "dejavu": "dejavu/DejaVuSans.ttf",
    "dejavu-condensed": "dejavu/DejaVuSansCondensed.ttf",
    "noto": "noto/NotoSans-Regular.ttf",
    "noto-serif": "noto/NotoSerif-Regular.ttf",
}
THEMES = {
    # background, their bubble, their text, my bubble, my text, header, header text
    "light": ("#ffffff", "#eef0f3", "#111111", "#d7e9ff", "#0b0b0b", "#f6f6f6", "#222222"),
    "dark": ("#101214", "#2a2d31", "#f1f1f1", "#1d4e89", "#ffffff", "#1a1c1f", "#eeeeee"),
}


@dataclass(frozen=True)
class Shot:
    png: bytes
    truth: str
    theme: str
    font: str
    size: int


def fonts() -> dict[str, Path]:
    """The fonts of FONT_FILES that this machine has."""
    found = {}
    for name, rel in FONT_FILES.items():
        for base in FONT_DIRS:
            if (base / rel).exists():
                found[name] = base / rel
    return found


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if draw.textlength(candidate, font=font) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def chat_screenshot(
    messages: list[tuple[str, bool]],
    *,
    theme: str = "light",
    font: str = "dejavu",
    size: int = 34,
    width: int = 1080,
    contact: str = "Nguyễn Minh Anh",
    image_format: str = "PNG",
) -> Shot:
    """A phone-sized chat screenshot; `messages` are (text, sent_by_me)."""
    bg, their_bg, their_fg, my_bg, my_fg, head_bg, head_fg = THEMES[theme]
    face = ImageFont.truetype(str(fonts()[font]), size)
    head_face = ImageFont.truetype(str(fonts()[font]), int(size * 1.1))
    probe = ImageDraw.Draw(Image.new("RGB", (10, 10)))
    line_h = int(size * 1.45)
    pad = int(size * 0.6)
    max_text = int(width * 0.68)
    blocks = []
    height = int(size * 3.2)
    for text, mine in messages:
        lines = _wrap(probe, text, face, max_text)
        bubble_h = len(lines) * line_h + 2 * pad
        blocks.append((lines, mine, bubble_h))
        height += bubble_h + int(size * 0.7)
    height += size
    image = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, int(size * 2.6)), fill=head_bg)
    draw.text((int(size * 1.2), int(size * 0.7)), contact, font=head_face, fill=head_fg)
    y = int(size * 3.2)
    for lines, mine, bubble_h in blocks:
        text_w = max(int(probe.textlength(line, font=face)) for line in lines)
        bubble_w = text_w + 2 * pad
        x = width - bubble_w - int(size * 0.8) if mine else int(size * 0.8)
        draw.rounded_rectangle(
            (x, y, x + bubble_w, y + bubble_h), radius=int(size * 0.7), fill=my_bg if mine else their_bg
        )
        for i, line in enumerate(lines):
            draw.text((x + pad, y + pad + i * line_h), line, font=face, fill=my_fg if mine else their_fg)
        y += bubble_h + int(size * 0.7)
    out = io.BytesIO()
    image.save(out, image_format, **({"quality": 90} if image_format == "JPEG" else {}))
    truth = "\n".join([contact, *(" ".join(lines) for lines, _, _ in blocks)])
    return Shot(out.getvalue(), truth, theme, font, size)


def sample_conversation(rng: random.Random, texts: list[str], count: int = 3) -> list[tuple[str, bool]]:
    """A few messages from the scammer, sometimes a short answer from the student."""
    picked = rng.sample(texts, k=min(count, len(texts)))
    out: list[tuple[str, bool]] = []
    for text in picked:
        out.append((text, False))
        if rng.random() < 0.4:
            out.append((rng.choice(["ai vậy ạ?", "thật không", "em không hiểu", "dạ"]), True))
    return out
