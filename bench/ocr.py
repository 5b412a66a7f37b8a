"""OCR benchmark: character accuracy and time per image on generated Vietnamese chat screenshots.

    .venv/bin/python bench/ocr.py [--images N] [--seed S]

Screenshots are drawn with Pillow (tests/screenshots.py): chat bubbles with messages from the NLU
dev set, light and dark themes, four fonts, three text sizes, PNG and JPEG. Each is read by the
bot's own reader (nlu/ocr.py: preprocessing + Tesseract `vie`). Character accuracy is
1 - (edit distance / characters of the truth), whitespace collapsed, summed over all images.
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import resource
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlu.data import DEV_DIR, load_examples  # noqa: E402
from nlu.ocr import TesseractReader  # noqa: E402
from tests.screenshots import chat_screenshot, fonts, sample_conversation  # noqa: E402

SIZES = (26, 32, 40)


def edits(a: str, b: str) -> int:
    """Levenshtein distance (two rows)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def flat(text: str) -> str:
    return " ".join(text.split())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    texts = [e.text for e in load_examples(DEV_DIR) if 30 <= len(e.text) <= 220]
    reader = TesseractReader()
    combos = list(itertools.product(("light", "dark"), sorted(fonts()), SIZES, ("PNG", "JPEG")))
    errors: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    seconds: list[float] = []
    for n in range(args.images):
        theme, font, size, fmt = combos[n % len(combos)]
        shot = chat_screenshot(
            sample_conversation(rng, texts), theme=theme, font=font, size=size, image_format=fmt
        )
        started = time.perf_counter()
        read = await reader.read(shot.png)
        seconds.append(time.perf_counter() - started)
        distance, length = edits(flat(shot.truth), flat(read)), len(flat(shot.truth))
        for key in ("all", f"theme={theme}", f"font={font}", f"size={size}", f"format={fmt}"):
            errors[key][0] += distance
            errors[key][1] += length
    print(f"{args.images} screenshots, {len(texts)} dev-set messages to draw from, seed {args.seed}")
    print(f"{'group':<24} {'chars':>8} {'accuracy':>9}")
    for key, (distance, length) in sorted(errors.items(), key=lambda kv: (kv[0] != "all", kv[0])):
        print(f"{key:<24} {length:>8} {1 - distance / length:>9.4f}")
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = statistics.median(seconds)
    print(f"time per image: median {median:.2f} s, p95 {p95:.2f} s, max {max(seconds):.2f} s")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"max RSS: this process {own:.0f} MB, largest tesseract process {child:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
