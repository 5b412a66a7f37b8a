"""Conversations: every dev conversation (a first message, then the student's follow-ups) played through
the real app (SQLite, the embedded NLU, the content library), each as a new student.

    python bench/conversations.py                         # words and messages per turn
    python bench/conversations.py --review out.md -n 30   # a sample as a reviewer reads it

Prints numbers (the size of first turns and of follow-up turns, how many follow-ups were read as one);
asserts nothing. The dev conversations are nlu/conversations/dev.yml, written by a helper who never saw
the training data or the content.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.turns import CACHE, shown, words  # noqa: E402
from bot.main import build_app  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from handlers.models import Channel, Incoming  # noqa: E402

DEV = ROOT / "nlu" / "conversations" / "dev.yml"


async def play(conversations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="conversations-") as tmp:
        os.environ["NOTALONE_STORAGE__DATA_DIR"] = tmp
        os.environ["NOTALONE_NLU__CACHE_DIR"] = str(CACHE)
        os.environ["NOTALONE_IMAGES__ENABLED"] = "false"
        app = await build_app(load_settings(ROOT / "config.yaml"))
        played = []
        try:
            for conv in conversations:
                turns = []
                for text in conv["turns"]:
                    turn = await app.handle(
                        Incoming(channel=Channel.TERMINAL, platform_user_id=f"conv-{conv['id']}", text=text)
                    )
                    a = turn.analysis
                    turns.append(
                        {
                            "text": text,
                            "shown": shown(turn.replies),
                            "words": sum(words(r.text) for r in turn.replies),
                            "messages": len(turn.replies),
                            "followup": a.followup.value if a and a.followup else None,
                            "followup_score": a.followup_score if a else 0.0,
                            "crisis": bool(a and a.crisis),
                            "parts": sorted({p for r in turn.replies for p in r.parts}),
                        }
                    )
                played.append({**conv, "played": turns})
        finally:
            await app.close()
    return played


def sizes(name: str, turns: list[dict[str, Any]]) -> str:
    if not turns:
        return f"{name}: none"
    w = [t["words"] for t in turns]
    m = [t["messages"] for t in turns]
    return (
        f"{name}: {len(turns)} turns; words median {statistics.median(w):.0f}, max {max(w)}; "
        f"messages median {statistics.median(m):.0f}, max {max(m)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEV)
    parser.add_argument(
        "--review", type=Path, help="write a sample of conversations as a reviewer reads them"
    )
    parser.add_argument("-n", "--sample", type=int, default=30)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    conversations = yaml.safe_load(args.data.read_text(encoding="utf-8"))
    played = asyncio.run(play(conversations))
    firsts = [c["played"][0] for c in played]
    follows = [t for c in played for t in c["played"][1:]]
    print(sizes("first turns", firsts))
    print(sizes("follow-up turns", follows))
    read = sum(1 for t in follows if t["followup"])
    print(f"follow-ups read as a follow-up intent: {read} of {len(follows)}")
    if args.review is not None:
        picked = random.Random(args.seed).sample(played, min(args.sample, len(played)))
        lines = ["# Conversations to judge", ""]
        for n, conv in enumerate(picked, 1):
            lines += [f"## Conversation {n}", ""]
            for k, turn in enumerate(conv["played"]):
                lines += [f"**Student ({'first message' if k == 0 else f'follow-up {k}'}):**", ""]
                lines += ["> " + turn["text"], "", "**Bot:**", "", "```", turn["shown"], "```", ""]
        args.review.parent.mkdir(parents=True, exist_ok=True)
        args.review.write_text("\n".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
