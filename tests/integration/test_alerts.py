"""The counselors' Telegram group, through the real PTB Application and the fake Bot API: a topic per
case, alerts and re-alerts, and a counselor's reply in the topic relayed to the student."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from telegram import Update

from bot.main import App
from bot.telegram.alerts import deliver_alerts
from bot.telegram.outbox import QUICK_ATTEMPTS, deliver_due
from bot.web import TelegramApp
from storage.models import AuditRow, CaseRow, OutboxRow, UserRow
from tests.integration.fake_telegram import FakeTelegram

GROUP = -1001234567890
STUDENT = 70
ANNA_TG = 5001
BAO_TG = 5002
CRISIS = "nó bảo 5 phút nữa k gửi thêm ảnh là nó đăng lên group trường, em sợ lắm"
PUBLIC = "https://bot.example.org"


@pytest.fixture
def app_env() -> dict[str, str]:
    return {
        "NOTALONE_TELEGRAM__COUNSELOR_GROUP_ID": str(GROUP),
        "NOTALONE_TELEGRAM__PUBLIC_BASE_URL": PUBLIC,
    }


async def process(application: TelegramApp, payload: dict[str, Any]) -> None:
    await application.process_update(Update.de_json(payload, application.bot))


async def alerts(app: App, telegram: TelegramApp, **kw: Any) -> int:
    return await deliver_alerts(app, telegram.bot, GROUP, PUBLIC, **kw)


async def counselor(app: App, name: str, telegram_id: int) -> None:
    await app.set_counselor_password(name, "counselor", "x")
    assert await app.link_counselor_telegram(name, telegram_id)


def in_group(fake: FakeTelegram) -> list[dict[str, Any]]:
    return [p for p in fake.sent(chat_id=GROUP) if p.get("text")]


async def case_row(app: App) -> CaseRow:
    async with app.sessions() as session:
        return (await session.execute(select(CaseRow))).scalar_one()


class TestAlerts:
    async def test_crisis_opens_a_topic_with_claim_and_console_link(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.message_update(STUDENT, CRISIS))
        assert await alerts(app, telegram) == 2  # the alert, then the student's message

        (topic,) = fake.sent("createForumTopic")
        assert int(topic["chat_id"]) == GROUP and "KHẨN CẤP" in topic["name"]
        alert, mirrored = in_group(fake)
        thread = (await case_row(app)).alert_thread_id
        assert thread and int(alert["message_thread_id"]) == thread == int(mirrored["message_thread_id"])
        assert "KHẨN CẤP" in alert["text"] and "bot thấy dấu hiệu nguy hiểm" in alert["text"]
        assert CRISIS not in alert["text"]  # the alert itself names no words of the student
        assert mirrored["text"] == f"💬 Học sinh: {CRISIS}"
        rows = alert["reply_markup"]["inline_keyboard"]
        case_id = (await case_row(app)).id
        assert rows[0][0]["callback_data"] == f"case_claim:{case_id}"
        assert rows[1][0]["url"] == f"{PUBLIC}/console/cases/{case_id}"
        assert await alerts(app, telegram) == 0  # sent once

    async def test_reply_in_topic_claims_and_reaches_the_student(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.message_update(STUDENT, CRISIS))
        await alerts(app, telegram)
        thread = (await case_row(app)).alert_thread_id
        assert thread is not None

        # Not linked yet: nothing reaches the student, and the topic is told how to link.
        await process(telegram, fake.topic_update(GROUP, thread, "Chị đây em ơi", user_id=ANNA_TG))
        notice = in_group(fake)[-1]
        assert f"notalone counselor telegram TÊN {ANNA_TG}" in notice["text"]
        assert int(notice["message_thread_id"]) == thread
        assert await deliver_due(app, telegram.bot, None) == 0

        await counselor(app, "anna", ANNA_TG)
        reply = "Chị đây. Em đừng gửi thêm gì nhé, mình cùng xử lý."
        await process(telegram, fake.topic_update(GROUP, thread, reply, user_id=ANNA_TG))
        assert "Bạn đã nhận ca" in in_group(fake)[-1]["text"]
        assert await deliver_due(app, telegram.bot, None) == 2
        joined, relayed = fake.delivered(STUDENT)[-2:]
        assert "tư vấn viên đã vào" in joined.lower() and relayed == reply

        # The student answers: the bot stays silent and the topic gets the message.
        before = len(fake.sent(chat_id=STUDENT))
        await process(telegram, fake.message_update(STUDENT, "em cảm ơn chị"))
        assert len(fake.sent(chat_id=STUDENT)) == before
        await alerts(app, telegram)
        assert in_group(fake)[-1]["text"] == "💬 Học sinh: em cảm ơn chị"
        assert "anna đã nhận ca" in " ".join(p["text"] for p in in_group(fake))

        # Another counselor cannot take over the conversation from the topic.
        await counselor(app, "bao", BAO_TG)
        await process(telegram, fake.topic_update(GROUP, thread, "Em ơi", user_id=BAO_TG))
        assert "tư vấn viên khác phụ trách" in in_group(fake)[-1]["text"]
        assert await deliver_due(app, telegram.bot, None) == 0

        async with app.sessions() as session:
            stmt = select(AuditRow.action).where(AuditRow.via == "telegram")
            actions = list((await session.execute(stmt)).scalars())
        assert actions == ["telegram_claim", "telegram_reply"]

    async def test_claim_button_and_a_second_tap(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.message_update(STUDENT, CRISIS))
        await alerts(app, telegram)
        case_id = (await case_row(app)).id
        await counselor(app, "anna", ANNA_TG)
        await counselor(app, "bao", BAO_TG)

        await process(telegram, fake.button_update(GROUP, f"case_claim:{case_id}", user_id=ANNA_TG))
        await process(telegram, fake.button_update(GROUP, f"case_claim:{case_id}", user_id=BAO_TG))
        first, second = fake.sent("answerCallbackQuery")[-2:]
        assert "Bạn đã nhận ca" in first["text"] and "tư vấn viên khác" in second["text"]
        assert (await case_row(app)).status == "claimed"

        # A crafted claim from a student's private chat does nothing.
        await process(telegram, fake.button_update(STUDENT, f"case_claim:{case_id}"))
        assert (await case_row(app)).counselor_id is not None

    async def test_urgent_case_realerts_until_claimed(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.message_update(STUDENT, CRISIS))
        await alerts(app, telegram)
        later = app.core.clock() + timedelta(minutes=6)
        app.core = dataclasses.replace(app.core, clock=lambda: later)
        await app.check_waiting()
        await app.check_waiting()  # once per timeout, not once per check
        await alerts(app, telegram, now=later)
        again = [p["text"] for p in in_group(fake) if p["text"].startswith("⏰")]
        assert len(again) == 1 and "đã chờ 6 phút" in again[0]
        assert len(fake.sent("createForumTopic")) == 1  # the same topic

    async def test_group_without_topics_still_gets_alerts(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        fake.fail_next("createForumTopic", 400, description="Bad Request: the chat is not a forum")
        await process(telegram, fake.message_update(STUDENT, CRISIS))
        assert await alerts(app, telegram) == 2
        assert all("message_thread_id" not in p for p in in_group(fake))
        assert (await case_row(app)).alert_thread_id == 0
        assert len(fake.sent("createForumTopic")) == 1  # not retried for every alert

    async def test_alerts_wait_out_a_bot_api_outage_in_order(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.message_update(STUDENT, CRISIS))
        for _ in range(QUICK_ATTEMPTS):  # a blip is retried at once; an outage outlasts the quick tries
            fake.fail_next("sendMessage", 500)
        assert await alerts(app, telegram) == 0  # the alert failed; the mirrored message must wait
        later = app.core.clock() + timedelta(seconds=5)
        assert await alerts(app, telegram, now=later) == 2
        texts = [p["text"] for p in in_group(fake)]
        assert texts[-2].startswith("🔔") and texts[-1].startswith("💬")

    async def test_the_group_is_never_a_student(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.topic_update(GROUP, None, "@notalone_test_bot chào", user_id=ANNA_TG))
        await process(
            telegram, fake.topic_update(GROUP, 999, "không phải chủ đề của ca nào", user_id=ANNA_TG)
        )
        assert fake.sent(chat_id=GROUP) == []
        async with app.sessions() as session:
            assert (await session.execute(select(UserRow))).first() is None


class TestWithoutGroup:
    @pytest.fixture
    def app_env(self) -> dict[str, str]:
        return {}

    async def test_no_alerts_are_queued(self, app: App, telegram: TelegramApp, fake: FakeTelegram) -> None:
        await process(telegram, fake.message_update(STUDENT, CRISIS))
        async with app.sessions() as session:
            audiences = set((await session.execute(select(OutboxRow.audience))).scalars())
        assert "counselors" not in audiences
