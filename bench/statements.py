"""SQL statements per turn of the core, on PostgreSQL: how many, and of which kind.

    .venv/bin/python bench/statements.py [-v]      # -v: each statement's start as well

Prints numbers; asserts nothing. One student writes a few messages through `App.handle` as the
Telegram channel does (replies queued and leased with the turn); each turn's replies are then marked
sent, as the channel does after sending them, so the next turn leases its own. Only the core's turn
is counted here: the inbox (`notalone serve`) adds its own insert and share of "done" marks, and
the channel one "sent" mark per reply.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from bench.measure import postgres_database  # noqa: E402
from bot.main import build_app  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from handlers.models import Channel, Incoming, MessageKind  # noqa: E402

TEXTS = (
    "chào bạn",
    "có người nhắn em là trúng thưởng iphone, bấm link nhận quà và chuyển 200k phí ship",
    "em lỡ chuyển rồi",
    "em sợ mẹ mắng",
    "cảm ơn",
)


async def main() -> None:
    async with postgres_database("statements") as url:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ |= {
                "NOTALONE_STORAGE__URL": url,
                "NOTALONE_PRIVACY__PSEUDONYM_KEY": "bench-pseudonym-key-" + "k" * 16,
                "NOTALONE_NLU__CACHE_DIR": str(ROOT / "data" / "nlu-cache"),
            }
            config = Path(tmp) / "config.yaml"
            config.write_text(f"storage:\n  data_dir: {tmp}/data\n", encoding="utf-8")
            app = await build_app(load_settings(config))
            statements: list[str] = []

            @event.listens_for(app.engine.sync_engine, "before_cursor_execute")
            def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
                statements.append(statement.split(None, 1)[0].upper())
                if "-v" in sys.argv:
                    print("    " + " ".join(statement.split())[:160])

            print(f"{'turn':<6}{'statements':>11}  kinds")
            for n, text in enumerate(TEXTS):
                statements.clear()
                msg = Incoming(
                    channel=Channel.TELEGRAM,
                    platform_user_id="5550001",
                    chat_id="5550001",
                    kind=MessageKind.TEXT,
                    text=text,
                    delivery_id=f"u{n}",
                    queue_replies=True,
                    lease_replies_s=60,
                )
                turn = await app.handle(msg)
                counted = Counter(statements)
                print(f"{n + 1:<6}{len(statements):>11}  {dict(counted)}")
                async with app.core.uow() as uow:
                    for item in turn.leased:
                        await uow.outbox.mark_sent(item.id, app.core.clock())
                    await uow.commit()
            await app.close()


if __name__ == "__main__":
    asyncio.run(main())
