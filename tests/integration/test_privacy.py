"""Data protection: /xoa removes everything of a student, checked by scanning every table; other
students' data stays; and the logs of a whole conversation hold no message text, names or tokens."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from telegram import Update

from bot.logs import configure_logging
from bot.main import App
from bot.telegram.alerts import deliver_alerts
from bot.telegram.outbox import deliver_due
from bot.web import TelegramApp
from handlers.handoff import claim_case, post_counselor_reply
from handlers.models import Channel
from storage.cases import SqlAlchemyCounselorRepository
from storage.console import ConsoleStore
from storage.models import Base, CaseNoteRow, CaseRow, MessageRow, OutboxRow
from tests.integration.fake_telegram import FakeTelegram

GROUP = -1009876543210
SCAM = (
    "Chúc mừng bạn trúng iPhone 15 của Shopee! Vào shopee-nhanqua.xyz nhập mã OTP, ck phí 500k vào "
    "stk 0123456789, không được nói với ai nhé"
)
CRISIS = "nó bảo 5 phút nữa k gửi thêm ảnh là nó đăng lên group trường, em sợ lắm"
WORDS = ("iPhone", "shopee-nhanqua", "0123456789", "đăng lên group trường", "em sợ lắm")


@pytest.fixture
def app_env() -> dict[str, str]:
    return {"NOTALONE_TELEGRAM__COUNSELOR_GROUP_ID": str(GROUP)}


async def process(application: TelegramApp, payload: dict[str, Any]) -> None:
    await application.process_update(Update.de_json(payload, application.bot))


async def footprint(app: App, telegram: TelegramApp, fake: FakeTelegram, chat: int) -> None:
    """Everything a student can leave behind: messages, feedback, a crisis case with a counselor,
    notes, relabels, outbox items, group alerts, fingerprints, a replayed-delivery id."""
    await process(telegram, fake.message_update(chat, SCAM))
    await process(telegram, fake.button_update(chat, "helpful"))
    await process(telegram, fake.message_update(chat, CRISIS))
    async with app.sessions() as session:
        counselor = await SqlAlchemyCounselorRepository(session).by_name("anna")
        if counselor is None:
            counselor = await SqlAlchemyCounselorRepository(session).add(
                "anna", "counselor", None, app.core.clock()
            )
        await session.commit()
    async with app.core.uow() as uow:
        user = app.core.pseudonym(Channel.TELEGRAM, str(chat))
        conversation = await uow.conversations.current(user)
        assert conversation is not None
        case = await uow.cases.active_for(conversation.id)
        assert case is not None
        await claim_case(case.id, counselor, uow=uow, lib=app.library, now=app.core.clock())
        await post_counselor_reply(case.id, counselor, "Chị đây, em đừng sợ.", uow=uow, now=app.core.clock())
        await uow.commit()
    async with app.sessions() as session:
        store = ConsoleStore(session)
        await store.add_note(case.id, counselor.id, f"ghi chú về {WORDS[2]}", app.core.clock())
        first = (
            (
                await session.execute(
                    select(MessageRow.id).where(MessageRow.conversation_id == conversation.id)
                )
            )
            .scalars()
            .first()
        )
        assert first is not None
        await store.relabel(first, counselor.id, ["manipulation"], False, app.core.clock())
        await store.audit(counselor.id, case.id, "open", app.core.clock(), via="console")
        await session.commit()
    await deliver_alerts(app, telegram.bot, GROUP, None)


async def rows_mentioning(app: App, needles: list[str]) -> dict[str, int]:
    """Rows of every table with any of the needles in any text column (and ids in any column)."""
    found: dict[str, int] = {}
    async with app.sessions() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).mappings():
                blob = " ".join(str(v) for v in row.values() if v is not None)
                if any(n in blob for n in needles):
                    found[table.name] = found.get(table.name, 0) + 1
    return found


class TestDelete:
    async def test_xoa_removes_every_trace_and_only_that_student(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await footprint(app, telegram, fake, 301)
        await footprint(app, telegram, fake, 302)
        mine = app.core.pseudonym(Channel.TELEGRAM, "301")
        theirs = app.core.pseudonym(Channel.TELEGRAM, "302")
        async with app.sessions() as session:
            all_cases = [str(c) for c in (await session.execute(select(CaseRow.id))).scalars()]
        before = await rows_mentioning(app, [mine])
        assert {"users", "conversations", "outbox", "fingerprints"} <= set(before)

        await process(telegram, fake.message_update(301, "/xoa"))
        await process(telegram, fake.button_update(301, "delete_confirm"))

        assert await rows_mentioning(app, [mine]) == {}
        # Nothing of the student's words is left anywhere either, except in the other student's rows.
        other = await rows_mentioning(app, [theirs])
        assert {"users", "conversations", "outbox", "fingerprints"} <= set(other)
        async with app.sessions() as session:
            tables = {t.name for t in Base.metadata.sorted_tables}
            inspector_tables = set(await session.run_sync(lambda s: inspect(s.get_bind()).get_table_names()))
        assert tables <= inspector_tables | {"alembic_version"}
        # The second student's case and notes survive; the first one's are gone.
        async with app.sessions() as session:
            remaining = [str(c) for c in (await session.execute(select(CaseRow.id))).scalars()]
        assert len(remaining) == 1 and set(remaining) < set(all_cases)


class TestLogs:
    async def test_a_whole_conversation_logs_no_text_names_or_tokens(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram, capsys: pytest.CaptureFixture[str]
    ) -> None:
        root = logging.getLogger()
        saved = (root.handlers[:], root.level)
        configure_logging("DEBUG")  # the most an operator can ask for
        try:
            update = fake.message_update(303, SCAM)
            update["message"]["from"]["first_name"] = "Nguyễn Thị Hoa"
            update["message"]["from"]["username"] = "hoa_2010"
            await process(telegram, update)
            await footprint(app, telegram, fake, 303)
            await deliver_due(app, telegram.bot, None)
            await process(telegram, fake.message_update(303, "/xoa"))
            await process(telegram, fake.button_update(303, "delete_confirm"))
        finally:
            root.handlers[:], level = saved
            root.setLevel(level)
        logged = capsys.readouterr().err
        assert '"event": "message in"' in logged and '"event": "user data deleted"' in logged
        secrets = [*WORDS, "Nguyễn Thị Hoa", "hoa_2010", fake.token, "Chị đây"]
        leaks = [s for s in secrets if s in logged]
        assert not leaks, [line for line in logged.splitlines() if any(s in line for s in leaks)][:5]

    async def test_a_failed_write_and_an_exception_log_no_values(
        self, app: App, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Issue 18: a failed INSERT's statement and parameters, or an exception's message, may hold
        # what a student wrote; the log line keeps the exception's type and frames only.
        marker = "MARKER-7f3a-orphan-note"
        root = logging.getLogger()
        saved = (root.handlers[:], root.level)
        configure_logging("DEBUG")
        log = logging.getLogger("bot.test_privacy")
        try:
            try:
                async with app.sessions() as session:
                    note = CaseNoteRow(
                        case_id=999_999, counselor_id=999_999, text=marker, created_at=app.core.clock()
                    )
                    session.add(note)
                    await session.commit()
            except IntegrityError:
                log.exception("write failed")
            try:
                raise ValueError(f"bad input {marker}")
            except ValueError:
                log.exception("input failed")
        finally:
            root.handlers[:], level = saved
            root.setLevel(level)
        logged = capsys.readouterr().err
        assert '"exception": "IntegrityError"' in logged and '"exception": "ValueError"' in logged
        assert marker not in logged, [line for line in logged.splitlines() if marker in line]

    async def test_a_failed_telegram_update_logs_the_pseudonym_not_the_chat_id(
        self,
        app: App,
        telegram: TelegramApp,
        fake: FakeTelegram,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # Issue 18 item 7: the error handler logged the raw Telegram chat id.
        async def broken(*_: Any, **__: Any) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(app, "handle", broken)
        root = logging.getLogger()
        saved = (root.handlers[:], root.level)
        configure_logging("DEBUG")
        try:
            await process(telegram, fake.message_update(910_003, "910003"))
        finally:
            root.handlers[:], level = saved
            root.setLevel(level)
        logged = capsys.readouterr().err
        failed = [line for line in logged.splitlines() if "update failed" in line or "storage" in line]
        assert failed, logged[-2000:]
        assert "910003" not in logged, [line for line in logged.splitlines() if "910003" in line]


class TestRetention:
    async def test_delivered_outbox_items_go_escalated_transcripts_stay(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await footprint(app, telegram, fake, 304)
        assert await deliver_due(app, telegram.bot, None) >= 2
        later = app.core.clock() + timedelta(days=3)
        app.core = dataclasses.replace(app.core, clock=lambda: later)
        await app.purge_expired()
        async with app.sessions() as session:
            statuses = list((await session.execute(select(OutboxRow.status))).scalars())
            kept = (await session.execute(select(MessageRow.id))).first()
        assert "sent" not in statuses and kept is not None  # the case's transcript is a record
