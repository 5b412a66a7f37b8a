"""Fault: the Telegram Bot API answers 429, 500 and times out for a whole minute while students keep
writing. `notalone serve` (webhooks, inbox, outbox) against the fake Bot API on PostgreSQL: every
message is stored and answered, every reply arrives after the outage, once, in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from bot.main import App
from bot.telegram.app import build_application
from bot.web import SECRET_HEADER, WEBHOOK_PATH, create_web_app
from handlers.models import Channel
from storage.models import ConversationRow, MessageRow, OutboxRow, UserRow
from tests.conftest import CRISIS, SCAM
from tests.integration.conftest import pg_database, serving
from tests.integration.fake_telegram import FakeTelegram
from tests.integration.test_scaleout import repeats

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
OUTAGE_S = 60.0
CHATS = list(range(9001, 9009))
TEXTS = [SCAM, "có người bảo mình gửi mã OTP cho họ", CRISIS]


@pytest.fixture
async def app_db() -> AsyncIterator[str]:
    """PostgreSQL only: this is the deployment's fault."""
    async with pg_database() as url:
        yield url


@pytest.fixture
async def served(app: App) -> AsyncIterator[str]:
    application = build_application(app.settings.telegram, app, webhook=True)
    web = create_web_app(app, application, secret="s3cret", webhook_url=None)
    async with serving(web) as url:
        yield url


async def pending(app: App) -> int:
    async with app.sessions() as session:
        found = await session.scalar(select(func.count()).where(OutboxRow.status == "pending"))
        return int(found or 0)


async def test_a_minute_of_429_500_and_timeouts_delays_replies_but_loses_and_repeats_none(
    app: App, served: str, fake: FakeTelegram
) -> None:
    fake.outage("sendMessage", OUTAGE_S, timeout_s=6.0)
    start = time.monotonic()
    async with httpx.AsyncClient(base_url=served, timeout=10) as client:
        for text in TEXTS:  # spread over the first half of the outage
            for chat in CHATS:
                update = fake.message_update(chat, text)
                response = await client.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: "s3cret"})
                assert response.status_code == 200
            await asyncio.sleep(OUTAGE_S / 2 / len(TEXTS))
    assert all(not fake.delivered(chat) for chat in CHATS)  # nothing got through during the outage

    deadline = start + OUTAGE_S + 90
    while time.monotonic() < deadline and (await pending(app) or time.monotonic() < start + OUTAGE_S):
        await asyncio.sleep(0.5)
    assert await pending(app) == 0, "replies still waiting long after the outage"
    recovered = time.monotonic() - start - OUTAGE_S

    async with app.sessions() as session:
        rows = (
            await session.execute(
                select(UserRow.id, MessageRow.direction, MessageRow.text)
                .join(ConversationRow, ConversationRow.user_id == UserRow.id)
                .join(MessageRow, MessageRow.conversation_id == ConversationRow.id)
                .order_by(MessageRow.id)
            )
        ).all()
    assert sum(1 for r in rows if r.direction == "in") == len(CHATS) * len(TEXTS)
    repeated = 0
    for chat in CHATS:
        mine = [r for r in rows if r.id == app.core.pseudonym(Channel.TELEGRAM, str(chat))]
        assert [r.text for r in mine if r.direction == "in"] == TEXTS
        replies = [r.text or "" for r in mine if r.direction == "out"]
        repeated += repeats(fake.delivered(chat), replies, chat)
    assert repeated == 0
    print(f"outage {OUTAGE_S:.0f} s: all replies delivered {recovered:.1f} s after it ended, none twice")
