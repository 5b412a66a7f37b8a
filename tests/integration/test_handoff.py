"""Handoff end to end: a student on Telegram (fake Bot API) -> case -> the counselor API -> outbox -> Telegram."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from telegram import Update

from bot.main import App
from bot.telegram.outbox import QUICK_ATTEMPTS, deliver_due
from bot.web import TelegramApp
from counselor.api import create_api
from counselor.auth import new_token, token_hash
from counselor.console import hash_password
from storage.console import ConsoleStore
from tests.integration.fake_telegram import FakeTelegram

CRISIS = "nó bảo 5 phút nữa k gửi thêm ảnh là nó đăng lên group trường, em sợ lắm"


async def process(application: TelegramApp, payload: dict[str, Any]) -> None:
    await application.process_update(Update.de_json(payload, application.bot))


@pytest.fixture
async def api(app: App) -> httpx.AsyncClient:
    asgi = create_api(
        uow=app.core.uow,
        sessions=app.sessions,
        counselor_by_token=app.counselor_by_token,
        library=app.library,
        clock=app.core.clock,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://console")


async def token_for(app: App, name: str) -> dict[str, str]:
    token = new_token()
    await app.add_counselor_token(name, "counselor", token_hash(token))
    return {"Authorization": f"Bearer {token}"}


class TestHandoff:
    async def test_crisis_to_counselor_and_back(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram, api: httpx.AsyncClient
    ) -> None:
        anna = await token_for(app, "anna")
        await process(telegram, fake.message_update(70, CRISIS))
        first = fake.sent(chat_id=70)[0]
        assert "111" in first["text"]
        listed = await api.get("/cases?status=waiting", headers=anna)
        assert listed.status_code == 200, listed.text
        (case,) = listed.json()
        assert case["priority"] == "urgent" and case["opened_by"] == "crisis"
        detail = (await api.get(f"/cases/{case['id']}", headers=anna)).json()
        student_line = detail["transcript"][0]
        assert (
            student_line["author"] == "student"
            and student_line["crisis"] is True
            and student_line["evidence"]
        )

        assert (await api.post(f"/cases/{case['id']}/claim", headers=anna)).status_code == 200
        assert await deliver_due(app, telegram.bot, None) == 1
        assert "tư vấn viên đã vào" in fake.sent(chat_id=70)[-1]["text"].lower()

        before = len(fake.sent(chat_id=70))
        await process(telegram, fake.message_update(70, "chị ơi em phải làm sao"))
        assert len(fake.sent(chat_id=70)) == before  # the bot is silent while the counselor has the chat

        reply = "Chị đây. Em đừng gửi thêm gì nhé, mình cùng xử lý."
        assert (
            await api.post(f"/cases/{case['id']}/messages", json={"text": reply}, headers=anna)
        ).status_code == 202
        fake.fail_next("sendMessage", 500, times=QUICK_ATTEMPTS)  # longer than the quick retries
        assert await deliver_due(app, telegram.bot, None) == 0  # Telegram 500: kept for a retry
        later = app.core.clock() + timedelta(seconds=5)
        assert await deliver_due(app, telegram.bot, None, now=later) == 1  # after the back-off
        assert await deliver_due(app, telegram.bot, None, now=later + timedelta(minutes=5)) == 0  # once only
        assert fake.delivered(70).count(reply) == 1

        transcript = (await api.get(f"/cases/{case['id']}", headers=anna)).json()["transcript"]
        assert any(t["author"].startswith("counselor:") and t["text"] == reply for t in transcript)
        assert any(t["text"] == "chị ơi em phải làm sao" for t in transcript)

        risk = {"safe_now": "no", "place": "home", "self_harm": "thoughts"}
        assessed = await api.put(f"/cases/{case['id']}/risk", json=risk, headers=anna)
        assert assessed.status_code == 200 and assessed.json()["risk"]["self_harm"] == "thoughts"
        bad_risk = await api.put(f"/cases/{case['id']}/risk", json={"place": "mars"}, headers=anna)
        assert bad_risk.status_code == 422
        today = app.core.clock().date()
        past = {"outcome": "referred_111", "referral": "hotline_111", "follow_up_on": today.isoformat()}
        refused = await api.post(f"/cases/{case['id']}/resolve", json=past, headers=anna)
        assert refused.status_code == 422 and refused.json()["detail"] == "follow_up_past"
        done = {**past, "follow_up_on": (today + timedelta(days=2)).isoformat()}
        resolved = await api.post(f"/cases/{case['id']}/resolve", json=done, headers=anna)
        assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
        assert resolved.json()["referral"] == "hotline_111" and resolved.json()["follow_up_on"]
        await deliver_due(app, telegram.bot, None)
        assert "kết thúc cuộc trò chuyện" in fake.sent(chat_id=70)[-1]["text"]
        late = await api.post(f"/cases/{case['id']}/messages", json={"text": "còn đó không"}, headers=anna)
        assert late.status_code == 409

    async def test_authorization_and_bad_input(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram, api: httpx.AsyncClient
    ) -> None:
        anna, binh = await token_for(app, "anna"), await token_for(app, "binh")
        assert (await api.get("/cases")).status_code == 401
        assert (await api.get("/cases", headers={"Authorization": "Bearer nope"})).status_code == 401
        await process(telegram, fake.button_update(80, "talk_to_counselor"))
        (case,) = (await api.get("/cases", headers=anna)).json()
        claims = await asyncio.gather(
            api.post(f"/cases/{case['id']}/claim", headers=anna),
            api.post(f"/cases/{case['id']}/claim", headers=binh),
        )
        assert sorted(r.status_code for r in claims) == [200, 409]
        winner, loser = (anna, binh) if claims[0].status_code == 200 else (binh, anna)
        assert (
            await api.post(f"/cases/{case['id']}/messages", json={"text": "hi"}, headers=loser)
        ).status_code == 403
        huge = {"text": "x" * 1_000_000}
        assert (await api.post(f"/cases/{case['id']}/messages", json=huge, headers=winner)).status_code == 413
        script = {"text": "<script>alert(1)</script>"}
        assert (
            await api.post(f"/cases/{case['id']}/messages", json=script, headers=winner)
        ).status_code == 202
        assert (await api.get("/cases/999999", headers=anna)).status_code == 404
        # A NUL reached PostgreSQL (500) before issue 18; refused with 422 on both databases now.
        nul = {"text": "a\x00b"}
        assert (await api.post(f"/cases/{case['id']}/messages", json=nul, headers=winner)).status_code == 422
        assert (
            await api.post(f"/cases/{case['id']}/resolve", json={"outcome": "bogus"}, headers=winner)
        ).status_code == 422
        docs = await api.get("/docs")
        assert (
            docs.status_code == 200
            and "/api/cases/{case_id}/claim" in docs.text
            and "cdn" not in docs.text.lower()
        )

    async def test_api_use_is_audited_like_the_console(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram, api: httpx.AsyncClient
    ) -> None:
        # Issue 18 item 4: reading, claiming, replying and resolving through /api left no audit row.
        anna = await token_for(app, "anna")
        await process(telegram, fake.button_update(81, "talk_to_counselor"))
        (case,) = (await api.get("/cases", headers=anna)).json()
        cid = case["id"]
        assert (await api.get(f"/cases/{cid}", headers=anna)).status_code == 200
        assert (await api.post(f"/cases/{cid}/claim", headers=anna)).status_code == 200
        reply = await api.post(f"/cases/{cid}/messages", json={"text": "Chào em"}, headers=anna)
        assert reply.status_code == 202
        done = await api.post(f"/cases/{cid}/resolve", json={"outcome": "advice_given"}, headers=anna)
        assert done.status_code == 200
        async with app.sessions() as session:
            entries = await ConsoleStore(session).audit_log()
        assert [(e.counselor, e.action, e.case_id) for e in reversed(entries) if e.via == "api"] == [
            ("anna", "open", cid),
            ("anna", "claim", cid),
            ("anna", "reply", cid),
            ("anna", "resolve", cid),
        ]
        assert [e.action for e in entries if e.via == "cli"] == ["token"]

    async def test_tokens_expire_and_end_with_a_new_role_or_password(
        self, app: App, api: httpx.AsyncClient
    ) -> None:
        # Issue 18 item 5: tokens never expired and a demoted supervisor's token kept working.
        token = new_token()
        await app.add_counselor_token("sup", "supervisor", token_hash(token))
        sup = {"Authorization": f"Bearer {token}"}
        assert (await api.get("/cases", headers=sup)).status_code == 200
        async with app.sessions() as session:
            expires = (
                await session.execute(text("SELECT token_expires_at FROM counselors WHERE name = 'sup'"))
            ).scalar_one()
        expires = expires if isinstance(expires, datetime) else datetime.fromisoformat(expires)
        left = expires.replace(tzinfo=expires.tzinfo or UTC) - app.core.clock()
        assert timedelta(days=89) < left <= timedelta(days=90)
        async with app.sessions() as session:
            await session.execute(
                text("UPDATE counselors SET token_expires_at = :at WHERE name = 'sup'"),
                {"at": app.core.clock() - timedelta(seconds=1)},
            )
            await session.commit()
        assert (await api.get("/cases", headers=sup)).status_code == 401  # expired
        token = new_token()
        await app.add_counselor_token("sup", "supervisor", token_hash(token))
        sup = {"Authorization": f"Bearer {token}"}
        assert (await api.get("/cases", headers=sup)).status_code == 200
        await app.set_counselor_password("sup", "counselor", hash_password("mat-khau-moi-123"))  # demoted
        assert (await api.get("/cases", headers=sup)).status_code == 401
        token = new_token()
        await app.add_counselor_token("sup", "counselor", token_hash(token))
        assert await app.revoke_counselor("sup")
        assert (await api.get("/cases", headers={"Authorization": f"Bearer {token}"})).status_code == 401

    async def test_api_answers_carry_the_security_headers(self, app: App, api: httpx.AsyncClient) -> None:
        anna = await token_for(app, "anna")
        for response in (
            await api.get("/cases", headers=anna),
            await api.get("/cases"),
            await api.get("/docs"),
        ):
            assert response.headers["cache-control"] == "no-store"
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]

    async def test_numbers_out_of_range_are_refused_not_500(self, app: App, api: httpx.AsyncClient) -> None:
        # Issue 18 item 2: ids past 64 bits and huge offsets reached the database (overflow, 500).
        anna = await token_for(app, "anna")
        for path in ("/cases/9223372036854775808", "/cases/99999999999999999999999", "/cases/0"):
            answer = await api.get(path, headers=anna)
            assert answer.status_code == 422, (path, answer.status_code)
        post = await api.post("/cases/9223372036854775808/claim", headers=anna)
        assert post.status_code == 422
        huge = await api.get("/cases?offset=99999999999999999999", headers=anna)
        assert huge.status_code == 422
        assert (await api.get("/cases/9223372036854775807", headers=anna)).status_code == 404

    async def test_outbox_survives_a_restart(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram, api: httpx.AsyncClient
    ) -> None:
        from bot.main import build_app

        anna = await token_for(app, "anna")
        await process(telegram, fake.button_update(90, "talk_to_counselor"))
        (case,) = (await api.get("/cases", headers=anna)).json()
        await api.post(f"/cases/{case['id']}/claim", headers=anna)
        await api.post(f"/cases/{case['id']}/messages", json={"text": "Chị vẫn ở đây."}, headers=anna)
        # The worker dies before delivering anything; a new process starts on the same database.
        restarted = await build_app(app.settings)
        try:
            assert await deliver_due(restarted, telegram.bot, None) == 2  # "joined" notice and the reply
            assert await deliver_due(restarted, telegram.bot, None) == 0
        finally:
            await restarted.close()
        assert fake.delivered(90).count("Chị vẫn ở đây.") == 1


class TestManyCases:
    """More open cases than a page shows: the API pages with a total (the console: test_console)."""

    async def test_api_pages_with_a_total(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram, api: httpx.AsyncClient
    ) -> None:
        anna = await token_for(app, "anna")
        for chat in range(7100, 7105):
            await process(telegram, fake.message_update(chat, CRISIS))
        first = await api.get("/cases?status=waiting&limit=2", headers=anna)
        rest = await api.get("/cases?status=waiting&limit=2&offset=2", headers=anna)
        last = await api.get("/cases?status=waiting&limit=2&offset=4", headers=anna)
        assert first.headers["X-Total-Count"] == "5"
        ids = [c["id"] for page in (first, rest, last) for c in page.json()]
        assert len(ids) == 5 == len(set(ids))  # every case once, across the pages
        assert (await api.get("/cases?limit=0", headers=anna)).status_code == 422
