"""Migrations and repositories on SQLite and PostgreSQL; the core's store-before-answer on a real DB."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.models import (
    Analysis,
    Button,
    CasePriority,
    CaseStatus,
    Channel,
    ConversationState,
    Direction,
    MessageKind,
    Tactic,
)
from handlers.ports import StorageUnavailable
from handlers.privacy import pseudonymize
from handlers.triage import Core, handle_incoming
from storage.chat_ids import ChatIdCipher
from storage.engine import make_session_factory
from storage.migrate import current_revision, downgrade, head_revision, upgrade
from storage.uow import SqlAlchemyUnitOfWork
from tests.conftest import SCAM, Clock
from tests.conftest import text as text_msg
from tests.fakes import FakeClassifier

NOW = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)


def uow_factory(engine: AsyncEngine) -> partial[SqlAlchemyUnitOfWork]:
    return partial(SqlAlchemyUnitOfWork, make_session_factory(engine), ChatIdCipher.derive(b"test-key"))


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


class TestMigrations:
    async def test_upgrade_downgrade_upgrade(self, engine: AsyncEngine) -> None:
        assert await current_revision(engine) is None
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
        assert {"users", "conversations", "messages"} <= await tables(engine)
        await downgrade(engine, "base")
        assert not {"users", "conversations", "messages"} & await tables(engine)
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()

    async def test_upgrade_twice_is_harmless(self, migrated: AsyncEngine) -> None:
        await upgrade(migrated)
        assert await current_revision(migrated) == head_revision()


class TestRepositories:
    async def test_round_trip(self, migrated: AsyncEngine) -> None:
        make = uow_factory(migrated)
        analysis = Analysis(tactics=(Tactic.FEAR,), scores={"fear": 0.9}, backend="t")
        async with make() as uow:
            user = await uow.users.touch("u_1", Channel.TELEGRAM, "42", NOW)
            conv = await uow.conversations.open(user.id, NOW)
            mid = await uow.messages.add(
                conversation_id=conv.id,
                direction=Direction.IN,
                kind=MessageKind.TEXT,
                now=NOW,
                text="Tiếng Việt 😀",
            )
            await uow.messages.attach_analysis(mid, analysis)
            await uow.messages.add(
                conversation_id=conv.id,
                direction=Direction.OUT,
                kind=MessageKind.TEXT,
                now=NOW,
                text="trả lời",
                buttons=(Button(label="Gọi", action="call_111"),),
            )
            await uow.conversations.set_state(conv.id, ConversationState.AWAITING_COUNSELOR, NOW)
            await uow.commit()
        async with make() as uow:
            got = await uow.users.get("u_1")
            assert got is not None and got.chat_id == "42" and got.created_at == NOW
            current = await uow.conversations.current("u_1")
            assert current is not None and current.state is ConversationState.AWAITING_COUNSELOR
            messages = await uow.messages.list_for(current.id)
        assert [m.text for m in messages] == ["Tiếng Việt 😀", "trả lời"]
        assert messages[0].analysis == analysis
        assert messages[1].buttons == (Button(label="Gọi", action="call_111"),)
        assert messages[0].created_at.tzinfo is not None

    async def test_uncommitted_work_is_rolled_back(self, migrated: AsyncEngine) -> None:
        make = uow_factory(migrated)
        async with make() as uow:
            await uow.users.touch("u_2", Channel.TERMINAL, None, NOW)
        async with make() as uow:
            assert await uow.users.get("u_2") is None

    async def test_delete_removes_user_conversations_and_messages(self, migrated: AsyncEngine) -> None:
        make = uow_factory(migrated)
        async with make() as uow:
            await uow.users.touch("u_3", Channel.TERMINAL, None, NOW)
            conv = await uow.conversations.open("u_3", NOW)
            await uow.messages.add(
                conversation_id=conv.id, direction=Direction.IN, kind=MessageKind.TEXT, now=NOW
            )
            await uow.users.touch("u_4", Channel.TERMINAL, None, NOW)
            await uow.commit()
        async with make() as uow:
            assert await uow.users.delete("u_3") is True
            assert await uow.users.delete("nobody") is False
            await uow.commit()
        async with migrated.connect() as conn:
            counts = [
                (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
                for t in ("users", "conversations", "messages")
            ]
        assert counts == [1, 0, 0]

    async def test_database_errors_become_storage_unavailable(self, engine: AsyncEngine) -> None:
        # Not migrated: the tables do not exist.
        with pytest.raises(StorageUnavailable):
            async with uow_factory(engine)() as uow:
                await uow.users.get("u_1")


class TestCoreOnRealDatabase:
    async def test_message_is_stored_before_the_classifier_runs(self, migrated: AsyncEngine, library) -> None:  # type: ignore[no-untyped-def]
        seen: list[int] = []

        async def count_incoming() -> int:
            async with migrated.connect() as conn:
                return int(
                    (
                        await conn.execute(text("SELECT count(*) FROM messages WHERE direction='in'"))
                    ).scalar_one()
                )

        class Probe(FakeClassifier):
            async def analyze(self, body: str) -> Analysis:
                seen.append(await count_incoming())
                return await super().analyze(body)

        core = Core(
            classifier=Probe(),
            library=library,
            uow=uow_factory(migrated),
            pseudonym=lambda ch, uid: pseudonymize(ch, uid, key=b"k"),
            clock=Clock(),
        )
        turn = await handle_incoming(text_msg("42", SCAM), core=core)
        assert seen == [1]
        async with migrated.connect() as conn:
            rows = (await conn.execute(text("SELECT direction, text FROM messages ORDER BY id"))).all()
        assert rows[0] == ("in", SCAM)
        assert [r[1] for r in rows[1:]] == [r.text for r in turn.replies]


class TestContextFeedbackRetention:
    async def test_context_and_feedback_round_trip(self, migrated: AsyncEngine) -> None:
        make = uow_factory(migrated)
        async with make() as uow:
            await uow.users.touch("u_5", Channel.TELEGRAM, "5", NOW)
            conv = await uow.conversations.open("u_5", NOW)
            mid = await uow.messages.add(
                conversation_id=conv.id, direction=Direction.IN, kind=MessageKind.TEXT, now=NOW
            )
            await uow.messages.attach_analysis(mid, Analysis(tactics=(Tactic.CONTROL,), backend="t"))
            await uow.conversations.set_context(conv.id, {"practice": {"order": ["p01"], "i": 0}}, NOW)
            assert await uow.feedback.record(mid, False, NOW) is True
            assert await uow.feedback.record(mid, True, NOW) is False
            await uow.feedback.set_reason(mid, "chưa rõ")
            await uow.commit()
        async with make() as uow:
            current = await uow.conversations.current("u_5")
            assert current is not None and current.context == {"practice": {"order": ["p01"], "i": 0}}
            last = await uow.messages.last_analysed(current.id)
            assert last is not None and last.id == mid
        async with migrated.connect() as conn:
            row = (await conn.execute(text("SELECT helpful, reason FROM feedback"))).one()
        assert (bool(row[0]), row[1]) == (False, "chưa rõ")

    async def test_purge_keeps_recent_and_escalated_conversations(self, migrated: AsyncEngine) -> None:
        make = uow_factory(migrated)
        old, recent = NOW - timedelta(days=40), NOW - timedelta(days=2)
        async with make() as uow:
            for user, when in (("u_old", old), ("u_recent", recent), ("u_escalated", old)):
                await uow.users.touch(user, Channel.TERMINAL, None, when)
                conv = await uow.conversations.open(user, when)
                mid = await uow.messages.add(
                    conversation_id=conv.id, direction=Direction.IN, kind=MessageKind.TEXT, now=when
                )
                await uow.feedback.record(mid, True, when)
            await uow.commit()
        async with migrated.begin() as conn:
            await conn.execute(
                text("UPDATE conversations SET escalated_at = updated_at WHERE user_id = 'u_escalated'")
            )
        async with make() as uow:
            assert await uow.conversations.purge_before(NOW - timedelta(days=30)) == 1
            await uow.commit()
        async with migrated.connect() as conn:
            users = {r[0] for r in (await conn.execute(text("SELECT id FROM users"))).all()}
            counts = [
                (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
                for t in ("messages", "feedback")
            ]
        assert users == {"u_recent", "u_escalated"} and counts == [2, 2]


class TestCasesAndOutbox:
    async def test_queue_lists_urgent_then_serious_then_normal(self, migrated: AsyncEngine) -> None:
        make = uow_factory(migrated)
        async with make() as uow:
            opened = []
            for i, priority in enumerate([CasePriority.NORMAL, CasePriority.SERIOUS, CasePriority.URGENT]):
                await uow.users.touch(f"u_q{i}", Channel.TELEGRAM, f"9{i}", NOW)
                conv = await uow.conversations.open(f"u_q{i}", NOW)
                opened.append(await uow.cases.open(conv.id, priority, "student", NOW + timedelta(minutes=i)))
            await uow.commit()
        async with make() as uow:
            listed = await uow.cases.listed(CaseStatus.WAITING)
        assert [c.priority for c in listed] == [
            CasePriority.URGENT,
            CasePriority.SERIOUS,
            CasePriority.NORMAL,
        ]
        assert {c.id for c in listed} == {c.id for c in opened}

    async def test_claim_is_atomic_and_outbox_leases(self, migrated: AsyncEngine) -> None:
        make = uow_factory(migrated)
        async with make() as uow:
            await uow.users.touch("u_c", Channel.TELEGRAM, "77", NOW)
            conv = await uow.conversations.open("u_c", NOW)
            case = await uow.cases.open(conv.id, CasePriority.URGENT, "crisis", NOW)
            anna = await uow.counselors.add("anna", "counselor", "a" * 64, NOW, NOW + timedelta(days=1))
            escalated = await uow.conversations.by_id(conv.id)
            assert escalated is not None and escalated.escalated_at == NOW
            binh = await uow.counselors.add("binh", "counselor", "b" * 64, NOW)
            await uow.commit()

        # Two counselors claim at the same moment, in two transactions: exactly one wins.
        async def claim(counselor_id: int) -> bool:
            async with make() as uow:
                won = await uow.cases.claim(case.id, counselor_id, NOW)
                await uow.commit()
                return won

        results = await asyncio.gather(claim(anna.id), claim(binh.id))
        assert sorted(results) == [False, True]
        async with make() as uow:
            assert (await uow.counselors.by_token_hash("a" * 64, NOW)) == anna
            first = await uow.outbox.add("u_c", Channel.TELEGRAM, "một", (), NOW)
            await uow.outbox.add("u_c", Channel.ZALO, "zalo", (), NOW)
            await uow.commit()
        lease = NOW + timedelta(seconds=30)
        async with make() as uow:
            taken = await uow.outbox.take_due(Channel.TELEGRAM, NOW, lease, 10)
            await uow.commit()
        assert [i.id for i in taken] == [first] and taken[0].attempts == 1
        async with make() as uow:
            assert (
                await uow.outbox.take_due(Channel.TELEGRAM, NOW, lease, 10) == []
            )  # leased to the first worker
            await uow.outbox.mark_sent(first, NOW)
            await uow.commit()
        async with make() as uow:
            assert await uow.outbox.take_due(Channel.TELEGRAM, lease + timedelta(seconds=1), lease, 10) == []
            listed = await uow.cases.listed(CaseStatus.CLAIMED)
            assert [c.id for c in listed] == [case.id]

    async def test_students_due_are_those_whose_oldest_item_is_due_and_not_leased(
        self, migrated: AsyncEngine
    ) -> None:
        make = uow_factory(migrated)
        later = NOW + timedelta(seconds=5)
        async with make() as uow:
            for user in ("u_a", "u_b", "u_z"):
                await uow.users.touch(user, Channel.ZALO, user, NOW)
            turn_a = [await uow.outbox.add("u_a", Channel.ZALO, t, (), NOW) for t in ("một", "hai")]
            await uow.outbox.add("u_b", Channel.ZALO, "ba", (), NOW)
            await uow.outbox.add("u_b", Channel.ZALO, "bốn", (), later)  # a later turn of u_b
            await uow.outbox.add("u_z", Channel.TELEGRAM, "khác kênh", (), NOW)
            await uow.commit()
        async with make() as uow:
            assert await uow.outbox.students_due(Channel.ZALO, NOW, 10) == ["u_a", "u_b"]
            assert await uow.outbox.students_due(Channel.ZALO, NOW, 1) == ["u_a"]
            taken = await uow.outbox.take_due(
                Channel.ZALO, NOW, NOW + timedelta(seconds=30), 10, user_id="u_a"
            )
            await uow.commit()
        assert [i.id for i in taken] == turn_a
        assert {i.created_at for i in taken} == {NOW}  # one turn: stored at one time
        async with make() as uow:
            assert await uow.outbox.students_due(Channel.ZALO, later, 10) == ["u_b"]  # u_a is leased

    async def test_a_turns_replies_are_leased_as_they_are_queued_unless_one_is_pending(
        self, migrated: AsyncEngine
    ) -> None:
        make = uow_factory(migrated)
        lease = NOW + timedelta(seconds=30)
        button = (Button(label="Gọi 111", action="call_111"),)
        async with make() as uow:
            for user in ("u_a", "u_b"):
                await uow.users.touch(user, Channel.TELEGRAM, user, NOW)
            waiting = await uow.outbox.add("u_b", Channel.TELEGRAM, "chờ gửi lại", (), NOW)
            await uow.commit()
        async with make() as uow:
            leased = await uow.outbox.add_turn(
                "u_a", Channel.TELEGRAM, [("một", button), ("hai", ())], NOW, lease
            )
            behind = await uow.outbox.add_turn("u_b", Channel.TELEGRAM, [("ba", ())], NOW, lease)
            await uow.commit()
        assert leased is not None and [(i.text, i.buttons, i.attempts) for i in leased] == [
            ("một", button, 1),
            ("hai", (), 1),
        ]
        assert leased[0].id < leased[1].id
        assert behind is None  # queued behind u_b's pending message, not leased
        async with make() as uow:
            # Leased: nobody else takes them until the lease ends; u_b's wait in their order.
            assert await uow.outbox.take_due(Channel.TELEGRAM, NOW, lease, 10, user_id="u_a") == []
            taken = await uow.outbox.take_due(Channel.TELEGRAM, NOW, lease, 10, user_id="u_b")
            assert [i.text for i in taken] == ["chờ gửi lại", "ba"] and taken[0].id == waiting
            await uow.commit()
        async with make() as uow:
            again = await uow.outbox.take_due(Channel.TELEGRAM, lease, lease + timedelta(seconds=30), 10)
        # Each student's oldest, once the leases end, oldest first.
        assert [i.text for i in again] == ["chờ gửi lại", "một"]
        assert [i.attempts for i in again] == [2, 2]


class TestInbox:
    """The inbox's leasing rules, on both databases: one chat's updates one at a time and in order,
    other chats at once, a dead worker's lease taken over, a poison update set aside."""

    async def take(
        self, make: partial[SqlAlchemyUnitOfWork], now: datetime, done: tuple[int, ...] = ()
    ) -> list[int]:
        async with make() as uow:
            items = await uow.inbox.take_due(now, now + timedelta(seconds=10), 50, done=done)
            await uow.commit()
        return [i.id for i in items]

    async def test_leasing_keeps_each_chats_order(self, migrated: AsyncEngine) -> None:
        make = uow_factory(migrated)
        now = datetime(2026, 11, 29, 12, tzinfo=UTC)
        async with make() as uow:
            for n, chat in enumerate(["a", "a", "b", "a"]):
                assert await uow.inbox.add(Channel.TELEGRAM, chat, f"u{n}", {"n": n}, now) == (True, None)
            again = await uow.inbox.add(Channel.TELEGRAM, "a", "u0", {"n": 0}, now)
            assert again == (False, None)  # a platform's retry
            await uow.commit()
        first = await self.take(make, now)
        assert len(first) == 2  # the first of chat a, and chat b
        assert await self.take(make, now) == []  # another worker: a's next waits for a's first
        a1, b1 = first
        (a2,) = await self.take(make, now, done=(a1,))
        assert a2 > a1
        assert await self.take(make, now, done=(b1,)) == []
        (a3,) = await self.take(make, now, done=(a2,))
        assert await self.take(make, now, done=(a3,)) == []
        async with migrated.connect() as conn:
            rows = (await conn.execute(text("SELECT status, payload FROM inbox"))).all()
        assert {r.status for r in rows} == {"done"} and all(
            r.payload is None for r in rows
        )  # payloads dropped

    async def test_a_dead_workers_lease_runs_out_and_a_poison_update_is_set_aside(
        self, migrated: AsyncEngine
    ) -> None:
        make = uow_factory(migrated)
        now = datetime(2026, 11, 29, 12, tzinfo=UTC)
        async with make() as uow:
            await uow.inbox.add(Channel.ZALO, "c", "m1", {"x": 1}, now)
            await uow.commit()
        (item,) = await self.take(make, now)
        async with make() as uow:  # renewed while being handled
            await uow.inbox.renew([item], now + timedelta(seconds=30))
            await uow.commit()
        assert await self.take(make, now + timedelta(seconds=20)) == []
        for attempt in range(2, 6):  # the worker dies each time: taken over when the lease runs out
            assert await self.take(make, now + timedelta(minutes=attempt)) == [item]
        assert await self.take(make, now + timedelta(minutes=10)) == []  # set aside after 5 attempts
        async with migrated.connect() as conn:
            (status,) = (await conn.execute(text("SELECT status FROM inbox"))).one()
        assert status == "failed"

    async def test_the_receiving_worker_leases_an_update_unless_its_chat_is_busy(
        self, migrated: AsyncEngine
    ) -> None:
        make = uow_factory(migrated)
        now = datetime(2026, 11, 29, 12, tzinfo=UTC)
        lease = now + timedelta(seconds=10)
        async with make() as uow:
            added, first = await uow.inbox.add(Channel.TELEGRAM, "a", "u1", {"n": 1}, now, lease_until=lease)
            assert added and first is not None and first.payload == {"n": 1}  # handled where it arrived
            added, second = await uow.inbox.add(Channel.TELEGRAM, "a", "u2", {"n": 2}, now, lease_until=lease)
            assert added and second is None  # chat a is busy: it waits its turn
            _, other = await uow.inbox.add(Channel.TELEGRAM, "b", "u3", {"n": 3}, now, lease_until=lease)
            assert other is not None
            await uow.commit()
        assert await self.take(make, now) == []  # nothing else is due while a's first is handled
        (taken,) = await self.take(make, now, done=(first.id,))
        assert taken > first.id

    async def test_a_full_worker_records_what_it_finished_and_takes_nothing(
        self, migrated: AsyncEngine
    ) -> None:
        """Found by the benchmark: a worker at its limit asked for LIMIT 0 or less (PostgreSQL: 2201W)."""
        make = uow_factory(migrated)
        now = datetime(2026, 11, 29, 12, tzinfo=UTC)
        async with make() as uow:
            await uow.inbox.add(Channel.TELEGRAM, "a", "u1", {}, now)
            await uow.inbox.add(Channel.TELEGRAM, "b", "u2", {}, now)
            await uow.commit()
        (first, _) = await self.take(make, now)
        async with make() as uow:
            assert await uow.inbox.take_due(now, now + timedelta(seconds=10), 0, done=(first,)) == []
            assert await uow.inbox.take_due(now, now + timedelta(seconds=10), -3) == []
            await uow.commit()
        async with migrated.connect() as conn:
            statuses = (await conn.execute(text("SELECT status FROM inbox ORDER BY id"))).scalars().all()
        assert statuses == ["done", "pending"]
