"""Data at rest (issue 18): ids never reused after a deletion, and migration 0010 keeps every row; the
SQLite files readable by their owner only, with no trace of deleted text; platform chat ids encrypted."""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import SecretStr
from sqlalchemy import MetaData, Table, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Update

from bot.main import App, StartupError, build_app
from bot.settings import load_settings
from bot.telegram.outbox import deliver_due
from bot.web import TelegramApp
from handlers.handoff import claim_case, post_counselor_reply
from handlers.models import Channel
from storage.migrate import current_revision, downgrade, head_revision, upgrade
from storage.models import Base
from tests.integration.fake_telegram import FakeTelegram

CRISIS = "nó bảo 5 phút nữa k gửi thêm ảnh là nó đăng lên group trường, em sợ lắm"
T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
# Ids a database at 0009 has handed out: case 7 and message 9 were deleted, but the audit log and the
# delivery ids still name them; conversation 4 is the newest.
LAST_CASE, LAST_MESSAGE, LAST_CONVERSATION = 7, 9, 4


async def process(application: TelegramApp, payload: dict[str, Any]) -> None:
    await application.process_update(Update.de_json(payload, application.bot))


def _fill_0009(conn: Connection) -> None:
    """One or more rows in every table of revision 0009, with gaps in the ids."""
    meta = MetaData()
    meta.reflect(conn)
    rows: dict[str, list[dict[str, Any]]] = {
        "users": [
            {"id": "u_a", "channel": "telegram", "chat_id": "111", "created_at": T0, "last_seen_at": T0},
            {"id": "u_b", "channel": "zalo", "chat_id": "z-222", "created_at": T0, "last_seen_at": T0},
            {"id": "u_c", "channel": "terminal", "chat_id": None, "created_at": T0, "last_seen_at": T0},
        ],
        "conversations": [
            {"id": 1, "user_id": "u_a", "state": "with_counselor", "context": {"practice": 1}},
            {"id": 2, "user_id": "u_b", "state": "awaiting_counselor", "context": {}},
            {"id": LAST_CONVERSATION, "user_id": "u_c", "state": "bot", "context": {}},
        ],
        "messages": [
            {"id": i, "conversation_id": c, "direction": d, "kind": "text", "text": f"lời {i} của em"}
            for i, c, d in ((1, 1, "in"), (2, 1, "out"), (3, 2, "in"), (5, 2, "out"), (6, 4, "in"))
        ],
        "feedback": [{"id": 1, "message_id": 2, "helpful": False, "reason": "khó hiểu", "created_at": T0}],
        "counselors": [
            {"id": 1, "name": "anna", "role": "counselor", "created_at": T0, "failed_logins": 0},
            {"id": 2, "name": "bao", "role": "supervisor", "created_at": T0, "failed_logins": 2},
        ],
        "cases": [
            {"id": 1, "conversation_id": 1, "priority": "urgent", "status": "claimed", "counselor_id": 1},
            {"id": 3, "conversation_id": 2, "priority": "normal", "status": "open", "counselor_id": None},
        ],
        "outbox": [
            {"id": 1, "user_id": "u_a", "case_id": 1, "audience": "student", "text": "Chị đây"},
            {"id": 2, "user_id": "u_b", "case_id": 3, "audience": "counselors", "text": "ca mới"},
        ],
        "console_sessions": [
            {"token_hash": "h1", "counselor_id": 1, "csrf": "c1", "created_at": T0, "expires_at": T0}
        ],
        "case_notes": [{"id": 2, "case_id": 1, "counselor_id": 1, "text": "ghi chú", "created_at": T0}],
        "audit_log": [
            {"id": 1, "counselor_id": 1, "case_id": 1, "action": "claim", "created_at": T0},
            {"id": 2, "counselor_id": 2, "case_id": LAST_CASE, "action": "claim", "created_at": T0},
        ],
        "relabels": [
            {
                "id": 1,
                "message_id": 1,
                "counselor_id": 1,
                "tactics": ["fear"],
                "crisis": True,
                "created_at": T0,
            }
        ],
        "deliveries": [
            {"channel": "telegram", "delivery_id": "9001", "seen_at": T0, "message_id": LAST_MESSAGE}
        ],
        "inbox": [
            {"id": 1, "channel": "zalo", "delivery_id": "z1", "chat_key": "k", "payload": {"a": [1]}}
            | {"status": "pending", "attempts": 0, "received_at": T0}
        ],
        "fingerprints": [{"id": 1, "user_id": "u_a", "scenario": "fake_prize", "signature": [1, 2, 3]}],
        "fingerprint_bands": [{"fingerprint_id": 1, "band": "0:abc", "created_at": T0}],
    }
    defaults: dict[str, dict[str, Any]] = {
        "conversations": {"started_at": T0, "updated_at": T0},
        "messages": {"buttons": [], "created_at": T0},
        "cases": {"opened_by": "student", "created_at": T0},
        "outbox": {"channel": "telegram", "buttons": [], "status": "pending", "attempts": 0}
        | {"next_attempt_at": T0, "created_at": T0},
        "fingerprints": {"created_at": T0},
    }
    assert set(rows) == set(meta.tables) - {"alembic_version"}, "a table of 0009 is not filled"
    for table in meta.sorted_tables:
        for row in rows.get(table.name, []):
            conn.execute(table.insert().values(**(defaults.get(table.name, {}) | row)))
    if conn.dialect.name == "postgresql":
        # What PostgreSQL's sequences would say after handing out these ids.
        for name, last in (("cases", LAST_CASE), ("messages", LAST_MESSAGE), ("conversations", 4)):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), {last})"))
        for name in ("feedback", "counselors", "outbox", "case_notes", "audit_log", "relabels", "inbox"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), 10)"))
        conn.execute(text("SELECT setval(pg_get_serial_sequence('fingerprints', 'id'), 10)"))


def _snapshot(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (but Alembic's), in key order, by column name (a rebuilt table may
    order its columns differently)."""
    meta = MetaData()
    meta.reflect(conn)
    tables = [t for t in meta.sorted_tables if t.name != "alembic_version"]
    return {
        t.name: [dict(r._mapping) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
        for t in tables
    }


def _new_ids(conn: Connection) -> tuple[int, int, int]:
    """Open a conversation, a message and a case the way the app does (ids from the database)."""
    meta = MetaData()
    meta.reflect(conn, only=["conversations", "messages", "cases"])
    conversations, messages, cases = (meta.tables[n] for n in ("conversations", "messages", "cases"))

    def insert(table: Table, **values: Any) -> int:
        return int(conn.execute(table.insert().values(**values).returning(table.c.id)).scalar_one())

    conversation = insert(conversations, user_id="u_a", state="bot", context={}, started_at=T0, updated_at=T0)
    message = insert(
        messages, conversation_id=conversation, direction="in", kind="text", buttons=[], created_at=T0
    )
    case = insert(
        cases, conversation_id=conversation, priority="urgent", status="open", opened_by="bot", created_at=T0
    )
    return conversation, message, case


class TestIdsAreNeverReused:
    async def test_a_deleted_students_case_number_goes_to_no_other_student(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        # Issue 18 item 6: on SQLite the next case took the number of the deleted student's case, and
        # the audit log's "claimed case 9" then pointed at another child.
        for chat in (401, 402):
            await process(telegram, fake.message_update(chat, CRISIS))
        async with app.core.uow() as uow:
            conversation = await uow.conversations.current(app.core.pseudonym(Channel.TELEGRAM, "402"))
            assert conversation is not None
            deleted_case = await uow.cases.active_for(conversation.id)
            messages = await uow.messages.list_for(conversation.id)
        assert deleted_case is not None
        await process(telegram, fake.message_update(402, "/xoa"))
        await process(telegram, fake.button_update(402, "delete_confirm"))

        await process(telegram, fake.message_update(403, CRISIS))
        async with app.core.uow() as uow:
            other = await uow.conversations.current(app.core.pseudonym(Channel.TELEGRAM, "403"))
            assert other is not None
            case = await uow.cases.active_for(other.id)
            other_messages = await uow.messages.list_for(other.id)
        assert case is not None and case.id > deleted_case.id
        assert other.id > conversation.id
        assert min(m.id for m in other_messages) > max(m.id for m in messages)


class TestMigration0010:
    async def test_every_row_survives_and_no_deleted_id_comes_back(self, engine: AsyncEngine) -> None:
        await upgrade(engine, "0009")
        async with engine.begin() as conn:
            await conn.run_sync(_fill_0009)
        async with engine.connect() as conn:
            before = await conn.run_sync(_snapshot)

        await upgrade(engine, "0010")
        async with engine.begin() as conn:
            assert await conn.run_sync(_snapshot) == before
            if conn.dialect.name == "sqlite":
                assert (await conn.execute(text("PRAGMA foreign_key_check"))).all() == []
            # The students with the newest conversation and case delete their data.
            await conn.execute(text("DELETE FROM users WHERE id IN ('u_b', 'u_c')"))
            conversation, message, case = await conn.run_sync(_new_ids)
            after = await conn.run_sync(_snapshot)
        assert conversation > LAST_CONVERSATION and message > LAST_MESSAGE and case > LAST_CASE
        # Deleting a user cascaded as it should: their conversations, messages, cases, outbox went.
        assert [r["id"] for r in after["conversations"]] == [1, conversation]
        assert [r["id"] for r in after["cases"]] == [1, case]
        assert [r["id"] for r in after["outbox"]] == [1]
        assert after["case_notes"] == before["case_notes"] and after["relabels"] == before["relabels"]

        await downgrade(engine, "0009")
        async with engine.connect() as conn:
            assert await conn.run_sync(_snapshot) == after
        await upgrade(engine, "0010")
        async with engine.connect() as conn:
            assert await conn.run_sync(_snapshot) == after
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()

    @pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
    async def test_sqlite_tables_get_autoincrement(self, migrated: AsyncEngine) -> None:
        # PostgreSQL's sequences never hand out an id twice; SQLite needs AUTOINCREMENT for that.
        async with migrated.connect() as conn:
            found = await conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%AUTOINCREMENT%'")
            )
            assert set(found.scalars()) == {"cases", "conversations", "messages"}

    async def test_the_migrated_schema_is_the_models(self, migrated: AsyncEngine) -> None:
        def differences(conn: Connection) -> list[Any]:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))

        async with migrated.connect() as conn:
            assert await conn.run_sync(differences) == []


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual umask (022), under which files are created readable by everyone unless asked not to."""
    old = os.umask(0o022)
    yield
    os.umask(old)


class TestDatabaseFiles:
    async def test_the_data_directory_and_database_files_are_the_owners_only(
        self, tmp_path: Path, nlu_cache: Path, monkeypatch: pytest.MonkeyPatch, loose_umask: None
    ) -> None:
        monkeypatch.setenv("NOTALONE_NLU__CACHE_DIR", str(nlu_cache))
        config = tmp_path / "config.yaml"
        config.write_text("storage:\n  data_dir: data/notalone\n", encoding="utf-8")
        app = await build_app(load_settings(config))
        try:
            data = tmp_path / "data" / "notalone"
            db = data / "notalone.db"
            wal = data / "notalone.db-wal"
            assert wal.exists()  # the app is running: SQLite's write-ahead log is there
            assert mode(data) == 0o700
            assert {f.name: mode(f) for f in data.iterdir()} == {
                "notalone.db": 0o600,
                "notalone.db-wal": 0o600,
                "notalone.db-shm": 0o600,
                "pseudonym.key": 0o600,
            }
        finally:
            await app.close()
        assert mode(db) == 0o600

    async def test_files_readable_by_others_are_tightened_at_start(
        self,
        tmp_path: Path,
        nlu_cache: Path,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
        loose_umask: None,
    ) -> None:
        monkeypatch.setenv("NOTALONE_NLU__CACHE_DIR", str(nlu_cache))
        config = tmp_path / "config.yaml"
        config.write_text("storage:\n  data_dir: data\n", encoding="utf-8")
        await (await build_app(load_settings(config))).close()
        db, wal, key = (
            tmp_path / "data" / name for name in ("notalone.db", "notalone.db-wal", "pseudonym.key")
        )
        # As an older notalone or a copy left them: world-readable, with an (empty) log beside.
        wal.touch()
        for path in (db, wal, key):
            path.chmod(0o644)
        with caplog.at_level(logging.WARNING):
            app = await build_app(load_settings(config))
        try:
            assert mode(db) == mode(wal) == mode(key) == 0o600
        finally:
            await app.close()
        tightened = [r.getMessage() for r in caplog.records if "open to others" in r.getMessage()]
        assert len(tightened) == 3, tightened


def files_holding(app: App, needle: str) -> list[str]:
    """The SQLite database's files (main, -wal, -shm) whose raw bytes contain `needle`."""
    data = app.settings.storage.data_dir
    return [f.name for f in sorted(data.glob("notalone.db*")) if needle.encode() in f.read_bytes()]


@pytest.mark.parametrize("app_db", ["sqlite"], indirect=True)
class TestDeletedTextIsGone:
    async def test_xoa_leaves_the_text_in_no_database_file(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        marker = f"MARKER{uuid.uuid4().hex}"
        await process(telegram, fake.message_update(501, f"có người nhắn em: gửi ảnh {marker} đi"))
        await process(telegram, fake.message_update(502, "chào bạn"))  # another student's rows stay
        assert files_holding(app, marker) == ["notalone.db-wal"]
        # A checkpoint (SQLite makes one every 1000 pages) copies the text into the database file.
        async with app.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        assert files_holding(app, marker) == ["notalone.db"]

        await process(telegram, fake.message_update(501, "/xoa"))
        await process(telegram, fake.button_update(501, "delete_confirm"))

        assert files_holding(app, marker) == []

    async def test_the_retention_purge_leaves_the_text_in_no_database_file(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        marker = f"MARKER{uuid.uuid4().hex}"
        await process(telegram, fake.message_update(503, f"bạn ơi {marker} là gì vậy"))
        assert files_holding(app, marker)

        later = app.core.clock() + timedelta(days=app.core.limits.retention_days + 1)
        app.core = dataclasses.replace(app.core, clock=lambda: later)
        assert await app.purge_expired() == 1

        assert files_holding(app, marker) == []


CHAT = 7_123_456_789


async def raw_chat_ids(app: App) -> list[str]:
    """users.chat_id as stored, read past the repositories."""
    async with app.engine.connect() as conn:
        return list((await conn.execute(text("SELECT chat_id FROM users ORDER BY id"))).scalars())


async def counselor_replies(
    app: App, telegram: TelegramApp, fake: FakeTelegram, chat: int, reply: str
) -> list[str]:
    """A counselor claims the student's case and answers; what the student's chat received."""
    counselor = await app.add_counselor_token("anna", "counselor", f"hash-{chat}")
    async with app.core.uow() as uow:
        conversation = await uow.conversations.current(app.core.pseudonym(Channel.TELEGRAM, str(chat)))
        assert conversation is not None
        case = await uow.cases.active_for(conversation.id)
        assert case is not None
        await claim_case(case.id, counselor, uow=uow, lib=app.library, now=app.core.clock())
        await post_counselor_reply(case.id, counselor, reply, uow=uow, now=app.core.clock())
        await uow.commit()
    await deliver_due(app, telegram.bot, None)
    return fake.delivered(chat)


class TestChatIdsEncrypted:
    async def test_the_chat_id_is_not_stored_in_clear_and_a_counselors_reply_arrives(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.message_update(CHAT, CRISIS))
        stored = await raw_chat_ids(app)
        assert len(stored) == 1 and str(CHAT) not in stored[0] and stored[0].startswith("v1:")
        assert "Chị đây" in (await counselor_replies(app, telegram, fake, CHAT, "Chị đây, em đừng sợ."))[-1]

    async def test_chat_ids_stored_in_clear_are_read_and_encrypted_at_start(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.message_update(CHAT, CRISIS))
        await process(telegram, fake.message_update(CHAT + 1, "chào bạn"))
        async with app.engine.begin() as conn:  # as notalone stored them before
            for chat in (CHAT, CHAT + 1):
                user = app.core.pseudonym(Channel.TELEGRAM, str(chat))
                await conn.execute(
                    text("UPDATE users SET chat_id = :c WHERE id = :u"), {"c": str(chat), "u": user}
                )
        assert sorted(await raw_chat_ids(app)) == sorted([str(CHAT), str(CHAT + 1)])
        # Still delivered from the clear value.
        assert "Chị đây" in (await counselor_replies(app, telegram, fake, CHAT, "Chị đây, em đừng sợ."))[-1]

        again = await build_app(app.settings)
        await again.close()
        stored = await raw_chat_ids(app)
        assert all(s.startswith("v1:") and str(CHAT) not in s for s in stored), stored

    async def test_a_student_writing_again_re_encrypts_a_clear_chat_id(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.message_update(CHAT, "chào bạn"))
        async with app.engine.begin() as conn:
            await conn.execute(text("UPDATE users SET chat_id = :c"), {"c": str(CHAT)})
        await process(telegram, fake.message_update(CHAT, "bạn ơi"))
        (stored,) = await raw_chat_ids(app)
        assert stored.startswith("v1:") and str(CHAT) not in stored

    async def test_another_key_stops_the_start_and_names_the_setting(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await process(telegram, fake.message_update(CHAT, "chào bạn"))
        privacy = app.settings.privacy.model_copy(
            update={"pseudonym_key": SecretStr("another-key-" + "x" * 20)}
        )
        with pytest.raises(StartupError) as raised:
            await build_app(app.settings.model_copy(update={"privacy": privacy}))
        assert "NOTALONE_PRIVACY__PSEUDONYM_KEY" in str(raised.value)
        assert str(CHAT) not in str(raised.value) and raised.value.__cause__ is None
