"""What a student receives: every dev-set message sent as a new student's first message through the real
app (SQLite, the embedded NLU, the content library, red flags), and the size of the first turn.

    python bench/turns.py                      # words and messages per first turn, crisis and not
    python bench/turns.py --review out.md -n 60  # also a sample rendered as a phone shows it, for a reviewer
    python bench/turns.py --jsonl out.jsonl    # every turn, for reading or diffing

Words are counted as a phone shows them: every whitespace-separated piece with a letter or digit,
buttons not included (their labels are listed apart).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.main import build_app  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from handlers.models import Channel, Incoming, Reply  # noqa: E402
from handlers.ports import count_words  # noqa: E402
from nlu.data import DEV_DIR, Example, load_examples  # noqa: E402

CACHE = ROOT / "bench" / "out" / "nlu-cache"


def words(text: str) -> int:
    """Words as a reader counts them (emoji and bullets alone are not words)."""
    return count_words(text)


def shown(replies: tuple[Reply, ...] | list[Reply]) -> str:
    """A turn as a phone shows it: each message, its buttons under it."""
    parts = []
    for reply in replies:
        block = reply.text
        if reply.buttons:
            block += "\n" + "  ".join(f"[{b.label}]" for b in reply.buttons)
        parts.append(block)
    return "\n— — —\n".join(parts)


def summary(name: str, sizes: list[tuple[int, int]]) -> str:
    if not sizes:
        return f"{name}: none"
    w = [s[0] for s in sizes]
    m = [s[1] for s in sizes]
    return (
        f"{name}: {len(sizes)} turns; words median {statistics.median(w):.0f}, max {max(w)}; "
        f"messages median {statistics.median(m):.0f}, max {max(m)}"
    )


async def run(
    examples: list[Example], jsonl: Path | None, review: Path | None, sample: int, seed: int
) -> None:
    with tempfile.TemporaryDirectory(prefix="turns-") as tmp:
        os.environ["NOTALONE_STORAGE__DATA_DIR"] = tmp
        os.environ["NOTALONE_NLU__CACHE_DIR"] = str(CACHE)
        os.environ["NOTALONE_IMAGES__ENABLED"] = "false"
        app = await build_app(load_settings(ROOT / "config.yaml"))
        rows = []
        try:
            for i, example in enumerate(examples):
                msg = Incoming(channel=Channel.TERMINAL, platform_user_id=f"dev-{i}", text=example.text)
                turn = await app.handle(msg)
                analysis = turn.analysis
                rows.append(
                    {
                        "id": i,
                        "text": example.text,
                        "gold": {
                            "intent": example.intent,
                            "scenario": example.scenario,
                            "style": example.style,
                        },
                        "crisis": bool(analysis and analysis.crisis),
                        "scenario": analysis.scenario if analysis else None,
                        "tactics": [t.value for t in analysis.tactics] if analysis else [],
                        "replies": [
                            {"text": r.text, "buttons": [b.label for b in r.buttons]} for r in turn.replies
                        ],
                        "words": sum(words(r.text) for r in turn.replies),
                        "messages": len(turn.replies),
                        "shown": shown(turn.replies),
                    }
                )
        finally:
            await app.close()
    crisis = [(r["words"], r["messages"]) for r in rows if r["crisis"]]
    other = [(r["words"], r["messages"]) for r in rows if not r["crisis"]]
    print(summary("crisis turns", crisis))
    print(summary("other first turns", other))
    if jsonl is not None:
        jsonl.parent.mkdir(parents=True, exist_ok=True)
        jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    if review is not None:
        # A quarter crises (the gold label's), the rest other messages, in a shuffled order.
        rng = random.Random(seed)
        crises = [r for r in rows if "crisis" in r["gold"]["intent"]]
        others = [r for r in rows if "crisis" not in r["gold"]["intent"]]
        n_crisis = min(len(crises), sample // 4)
        picked = rng.sample(crises, n_crisis) + rng.sample(others, min(len(others), sample - n_crisis))
        rng.shuffle(picked)
        lines = ["# First turns to judge", ""]
        for n, row in enumerate(picked, 1):
            lines += [f"## {n}", "", "**Student:**", "", "> " + row["text"], "", "**Bot:**", "", "```"]
            lines += [row["shown"], "```", ""]
        review.parent.mkdir(parents=True, exist_ok=True)
        review.write_text("\n".join(lines), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEV_DIR, help="Rasa NLU YAML file or folder (dev set)")
    parser.add_argument("--jsonl", type=Path, help="write every turn here")
    parser.add_argument("--review", type=Path, help="write a sample of turns as a reviewer reads them")
    parser.add_argument("-n", "--sample", type=int, default=60)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    asyncio.run(run(load_examples(args.data), args.jsonl, args.review, args.sample, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
