"""“You are not alone”: near-duplicate scam messages from different students, counted on a real
database from fingerprints that hold none of the words, deleted with the student, grouped as waves."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import select, text

from bot.main import App
from handlers.models import Channel, Incoming, MessageKind
from storage.fingerprints import SqlAlchemyFingerprintRepository
from storage.models import FingerprintBandRow, FingerprintRow

WAVE = [
    "Chúc mừng bạn đã trúng thưởng iPhone 15 từ chương trình tri ân khách hàng Shopee. Vui lòng bấm link "
    "và nhập mã OTP vừa gửi để nhận quà trong 24h, không được nói với ai nhé.",
    "chuc mung ban da trung thuong iphone 15 tu chuong trinh tri an khach hang shopee. vui long bam link "
    "va nhap ma otp vua gui de nhan qua trong 24h, ko dc noi voi ai nhe",
    "Chúc mừng bạn đã trúng thưởng iPhone 15 từ chương trình tri ân khách hàng Shopee!! Vui lòng bấm link "
    "và nhập mã OTP vừa gửi để nhận quà trong 48h, không được nói với ai.",
]
OTHER = "Anh là công an phường, em đang liên quan một vụ án, chuyển tiền ngay để xác minh, không được kể với bố mẹ."


def said(user: str, body: str) -> Incoming:
    return Incoming(
        channel=Channel.TELEGRAM, platform_user_id=user, chat_id=user, kind=MessageKind.TEXT, text=body
    )


class TestNotAlone:
    async def test_students_are_told_how_many_others_asked(self, app: App) -> None:
        def told(turn, others: int) -> bool:  # type: ignore[no-untyped-def]
            line = app.library.text("not_alone", count=str(others))
            return any("not_alone" in r.parts and line in r.text for r in turn.replies)

        def told_nothing(turn) -> bool:  # type: ignore[no-untyped-def]
            return not any("not_alone" in r.parts for r in turn.replies)

        first = await app.handle(said("1", WAVE[0]))
        assert told_nothing(first)
        second = await app.handle(said("2", WAVE[1]))
        assert told(second, 1)
        again = await app.handle(said("2", WAVE[0]))  # the same student again does not count twice
        assert told(again, 1)
        third = await app.handle(said("3", WAVE[2]))
        assert told(third, 2)
        unrelated = await app.handle(said("4", OTHER))
        assert told_nothing(unrelated)

        async with app.sessions() as session:
            waves = await SqlAlchemyFingerprintRepository(session).waves(app.core.clock() - timedelta(days=7))
        assert len(waves) == 1 and waves[0].students == 3

    async def test_fingerprints_hold_no_words_and_go_with_the_student(self, app: App) -> None:
        for user, body in zip("abc", WAVE, strict=True):
            await app.handle(said(user, body))
        async with app.sessions() as session:
            stored = " ".join(
                str(row)
                for row in (await session.execute(select(FingerprintRow.signature, FingerprintRow.scenario)))
            )
            stored += " ".join((await session.execute(select(FingerprintBandRow.band))).scalars())
        words = {w.lower().strip(".,!") for w in " ".join(WAVE).split() if len(w) > 3}
        assert not [w for w in words if w in stored.lower()]

        await app.handle(
            Incoming(
                channel=Channel.TELEGRAM,
                platform_user_id="a",
                chat_id="a",
                kind=MessageKind.ACTION,
                action="delete_confirm",
            )
        )
        async with app.sessions() as session:
            users = (
                await session.execute(text("SELECT count(DISTINCT user_id) FROM fingerprints"))
            ).scalar_one()
        assert users == 2

    async def test_retention_forgets_old_fingerprints(self, app: App) -> None:
        await app.handle(said("x", WAVE[0]))
        later = app.core.clock() + timedelta(days=9)
        app.core = dataclasses.replace(app.core, clock=lambda: later)
        await app.purge_expired()
        async with app.sessions() as session:
            assert (await session.execute(select(FingerprintRow))).first() is None
