"""The counselor console over HTTP: login and lockout, sessions, CSRF, the queue, a case, escaping, roles."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from telegram import Update

from bot.main import App
from bot.telegram.app import build_application
from bot.telegram.outbox import deliver_due
from bot.web import TelegramApp, create_web_app
from counselor import console as console_module
from counselor.console import ConsoleDeps, create_console, hash_password
from handlers.models import CaseOutcome, CasePriority, CaseStatus, Tactic
from nlu.data import load_examples
from tests.conftest import CRISIS
from tests.integration.conftest import serving
from tests.integration.fake_telegram import FakeTelegram

XSS = "<script>alert('x')</script> chuyển tiền ngay không tao tung ảnh của mày"
SCAM = "Cục Cảnh sát thông báo bạn liên quan đường dây rửa tiền. Không được nói với ai, chuyển 20 triệu ngay."


async def process(application: TelegramApp, payload: dict[str, Any]) -> None:
    await application.process_update(Update.de_json(payload, application.bot))


@pytest.fixture
async def console(app: App) -> httpx.AsyncClient:
    await app.set_counselor_password("anna", "counselor", hash_password("mat-khau-anna-1"))
    await app.set_counselor_password("sup", "supervisor", hash_password("mat-khau-sup-12"))
    return client_for(deps_for(app))


def deps_for(app: App, clock: Callable[[], datetime] | None = None) -> ConsoleDeps:
    return ConsoleDeps(
        uow=app.core.uow,
        sessions=app.sessions,
        library=app.library,
        clock=clock or app.core.clock,
        secure_cookies=False,
        session_ttl=timedelta(minutes=30),
    )


def client_for(deps: ConsoleDeps, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """The console mounted at /console, as `notalone serve` mounts it, seen from a client address."""
    site = FastAPI()
    site.mount("/console", create_console(deps))
    transport = httpx.ASGITransport(app=site, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver/console")


async def login(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    return await client.post("/login", data={"name": name, "password": password})


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found
    return found.group(1)


class TestBadInput:
    async def test_a_case_number_past_64_bits_is_refused_not_500(self, console: httpx.AsyncClient) -> None:
        # Issue 18 item 2: the number reached the database and overflowed (500).
        await login(console, "anna", "mat-khau-anna-1")
        for path in ("/cases/99999999999999999999999", "/cases/9223372036854775808"):
            assert (await console.get(path)).status_code == 422, path
        assert (await console.get("/cases/9223372036854775807")).status_code == 404

    async def test_a_note_on_a_missing_case_is_404_not_500(self, console: httpx.AsyncClient) -> None:
        # Issue 18 item 2: the INSERT failed on the foreign key (500, and the note in the log).
        await login(console, "anna", "mat-khau-anna-1")
        csrf = csrf_of((await console.get("/")).text)
        response = await console.post("/cases/99999/note", data={"text": "orphan note", "csrf": csrf})
        assert response.status_code == 404

    async def test_control_characters_are_refused_before_the_database(
        self, telegram: TelegramApp, fake: FakeTelegram, console: httpx.AsyncClient
    ) -> None:
        # Issue 18 item 2: on PostgreSQL a NUL in a search, a login name, a reply or a note was a 500.
        assert (await login(console, "an\x00na", "mat-khau-anna-1")).status_code == 422
        await process(telegram, fake.button_update(7200, "talk_to_counselor"))
        await login(console, "anna", "mat-khau-anna-1")
        queue = await console.get("/")
        csrf = csrf_of(queue.text)
        case_id = re.search(r'href="/console/cases/(\d+)"', queue.text).group(1)  # type: ignore[union-attr]
        await console.post(f"/cases/{case_id}/claim", data={"csrf": csrf})
        assert (await console.get("/search", params={"q": "a\x00b"})).status_code == 422
        for form in ("reply", "note"):
            response = await console.post(f"/cases/{case_id}/{form}", data={"text": "x\x00y", "csrf": csrf})
            assert response.status_code == 422, form
        # Newlines and tabs are text, not control characters to refuse.
        response = await console.post(f"/cases/{case_id}/note", data={"text": "a\n\tb", "csrf": csrf})
        assert response.status_code == 303


class TestLogin:
    async def test_every_page_needs_a_login(self, console: httpx.AsyncClient) -> None:
        for path in ("/", "/queue/rows", "/cases/1", "/audit"):
            response = await console.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/console/login"
        assert (await console.post("/cases/1/claim", data={"csrf": "x"})).status_code == 303

    async def test_wrong_passwords_slow_an_address_down(self, console: httpx.AsyncClient) -> None:
        wrong = await login(console, "anna", "nope")
        assert wrong.headers["location"].endswith("error=wrong")
        for _ in range(4):
            await login(console, "anna", "nope")
        waiting = await login(console, "anna", "mat-khau-anna-1")  # the right password, but too soon
        assert waiting.headers["location"].endswith("error=wait")
        assert "notalone_console" not in waiting.cookies
        page = await console.get("/login", params={"error": "wait"})
        assert "Hãy đợi một lát rồi thử lại" in page.text

    async def test_no_answer_or_check_tells_whether_a_name_exists(
        self, app: App, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Issue 18 item 3: an unknown name was never "locked", so error=locked confirmed a real name.
        checks: list[str] = []
        real_verify = console_module.verify

        async def counted(password_hash: str, password: str) -> bool:
            checks.append(password)
            return await real_verify(password_hash, password)

        monkeypatch.setattr(console_module, "verify", counted)
        await app.set_counselor_password("anna", "counselor", hash_password("mat-khau-anna-1"))
        answers = {}
        for name in ("anna", "nobody"):
            client = client_for(deps_for(app), address=f"198.51.100.{len(answers) + 1}")
            first = [(await login(client, name, f"wrong-{i}")).headers["location"] for i in range(5)]
            checked = len(checks)
            later = [(await login(client, name, "wrong-x")).headers["location"] for _ in range(3)]
            assert len(checks) == checked  # waiting: no password check at all, for either name
            answers[name] = (first, later)
        assert answers["anna"] == answers["nobody"]
        assert answers["anna"][0] == ["/console/login?error=wrong"] * 5
        assert answers["anna"][1] == ["/console/login?error=wait"] * 3
        assert len(checks) == 10  # every wrong name or password before the wait was checked alike

    async def test_an_outsider_cannot_lock_a_counselor_out(self, app: App) -> None:
        # Issue 18 item 3: five wrong passwords from anywhere locked the name for 15 minutes.
        now = [app.core.clock()]
        deps = deps_for(app, clock=lambda: now[0])
        await app.set_counselor_password("anna", "counselor", hash_password("mat-khau-anna-1"))
        outsider = client_for(deps, address="203.0.113.9")
        for _ in range(30):
            await login(outsider, "anna", "guess")
            now[0] += timedelta(seconds=20)
        # The outsider's own address waits longer and longer; anna, from her desk, waits 30 s at most.
        assert (await login(outsider, "anna", "mat-khau-anna-1")).headers["location"].endswith("wait")
        now[0] += timedelta(seconds=31)
        anna = client_for(deps, address="192.0.2.7")
        assert (await login(anna, "anna", "mat-khau-anna-1")).headers["location"] == "/console/"

    async def test_logins_are_audited_with_their_address(self, app: App) -> None:
        await app.set_counselor_password("sup", "supervisor", hash_password("mat-khau-sup-12"))
        client = client_for(deps_for(app), address="192.0.2.44")
        await login(client, "nobody", "whatever-123")
        await login(client, "sup", "wrong-password")
        await login(client, "sup", "mat-khau-sup-12")
        page = (await client.get("/audit")).text
        rows = re.findall(
            r"<tr><td>[^<]*</td><td>([^<]*)</td><td>(Đăng nhập[^<]*)</td>.*?<td>([^<]+)</td><td>([^<]*)</td>",
            page,
            re.S,
        )
        assert rows[:3] == [
            ("sup", "Đăng nhập", "Trang tư vấn", "192.0.2.44"),
            ("sup", "Đăng nhập sai", "Trang tư vấn", "192.0.2.44"),
            ("(tên không có)", "Đăng nhập sai", "Trang tư vấn", "192.0.2.44"),
        ]
        assert "nobody" not in page  # an unknown name typed is not kept (it may be a password)

    async def test_a_login_posted_from_another_site_is_refused(self, console: httpx.AsyncClient) -> None:
        # Issue 18 item 8: the login form had no CSRF token and no Origin check.
        data = {"name": "anna", "password": "mat-khau-anna-1"}
        evil = await console.post("/login", data=data, headers={"Origin": "https://evil.example"})
        assert evil.status_code == 403 and "notalone_console" not in evil.cookies
        sandboxed = await console.post("/login", data=data, headers={"Origin": "null"})
        assert sandboxed.status_code == 403
        ours = await console.post("/login", data=data, headers={"Origin": "http://testserver"})
        assert ours.headers["location"] == "/console/"
        # Behind a proxy that passes Host without the public port, our own page still posts.
        ported = await console.post("/login", data=data, headers={"Origin": "https://testserver:8443"})
        assert ported.headers["location"] == "/console/"

    async def test_every_answer_carries_the_security_headers(self, console: httpx.AsyncClient) -> None:
        # Issue 18 item 8: no CSP, frame, nosniff, referrer or cache headers on console pages.
        pages = [await console.get("/login"), await login(console, "anna", "mat-khau-anna-1")]
        pages += [await console.get(p) for p in ("/", "/queue/rows", "/stats", "/static/console.css")]
        for page in pages:
            headers = page.headers
            assert "frame-ancestors 'none'" in headers["content-security-policy"], page.url
            assert "'unsafe-inline'" not in headers["content-security-policy"]
            assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "same-origin" and headers["cache-control"] == "no-store"
        queue = pages[2].text
        assert "<script>" not in queue and "<style>" not in queue and "style=" not in queue
        assert (await console.get("/static/queue.js")).status_code == 200


class TestSessions:
    async def test_a_new_password_or_role_ends_the_sessions(
        self, app: App, console: httpx.AsyncClient
    ) -> None:
        # Issue 18 item 5: changing a password left old sessions working.
        await login(console, "sup", "mat-khau-sup-12")
        assert (await console.get("/audit")).status_code == 200
        await app.set_counselor_password("sup", "counselor", hash_password("mat-khau-sup-12"))  # demoted
        assert (await console.get("/audit")).headers["location"] == "/console/login"
        await login(console, "sup", "mat-khau-sup-12")
        assert (await console.get("/audit")).status_code == 403  # a counselor now
        await app.set_counselor_password("sup", "counselor", hash_password("mat-khau-moi-123"))
        assert (await console.get("/")).headers["location"] == "/console/login"

    async def test_live_sessions_per_counselor_are_capped(self, app: App) -> None:
        # Issue 18 item 5: one counselor had 15 live sessions.
        now = [app.core.clock()]
        deps = deps_for(app, clock=lambda: now[0])
        await app.set_counselor_password("anna", "counselor", hash_password("mat-khau-anna-1"))
        clients = []
        for _ in range(7):
            client = client_for(deps)
            await login(client, "anna", "mat-khau-anna-1")
            clients.append(client)
            now[0] += timedelta(seconds=1)
        alive = [(await c.get("/")).status_code == 200 for c in clients]
        assert alive == [False, False, True, True, True, True, True]

    async def test_revoke_ends_sessions_and_token(self, app: App, console: httpx.AsyncClient) -> None:
        await login(console, "anna", "mat-khau-anna-1")
        assert (await console.get("/")).status_code == 200
        assert await app.revoke_counselor("anna") and not await app.revoke_counselor("nobody")
        assert (await console.get("/")).headers["location"] == "/console/login"

    async def test_cookie_is_httponly_and_strict(self, console: httpx.AsyncClient) -> None:
        response = await login(console, "anna", "mat-khau-anna-1")
        cookie = response.headers["set-cookie"].lower()
        assert (
            response.headers["location"] == "/console/"
            and "httponly" in cookie
            and "samesite=strict" in cookie
        )

    async def test_a_planted_session_cookie_is_never_adopted(self, console: httpx.AsyncClient) -> None:
        planted = "attacker-chosen-session-token"
        console.cookies.set("notalone_console", planted, path="/console")
        assert (await console.get("/")).status_code == 303  # not a session
        response = await login(console, "anna", "mat-khau-anna-1")
        issued = response.cookies.get("notalone_console")
        assert issued and issued != planted  # a fresh token from the server (no session fixation)
        fresh = httpx.AsyncClient(transport=console._transport, base_url=str(console.base_url))
        fresh.cookies.set("notalone_console", planted, path="/console")
        assert (await fresh.get("/")).status_code == 303


class TestCaseWork:
    async def test_a_long_queue_says_how_many_cases_it_does_not_show(
        self,
        telegram: TelegramApp,
        fake: FakeTelegram,
        console: httpx.AsyncClient,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(console_module, "QUEUE_ROWS", 3)
        for chat in range(7100, 7105):
            await process(telegram, fake.message_update(chat, CRISIS))
        await login(console, "anna", "mat-khau-anna-1")
        rows = (await console.get("/queue/rows")).text
        assert rows.count('href="/console/cases/') == 3 and "Còn 2 ca nữa chưa hiện ở đây" in rows

    async def test_queue_case_claim_reply_note_resolve(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram, console: httpx.AsyncClient
    ) -> None:
        await process(telegram, fake.message_update(70, XSS))
        await process(telegram, fake.button_update(70, "talk_to_counselor"))
        await login(console, "anna", "mat-khau-anna-1")
        queue = await console.get("/")
        assert queue.status_code == 200 and "Hàng chờ" in queue.text
        case_id = re.search(r'href="/console/cases/(\d+)"', queue.text).group(1)  # type: ignore[union-attr]
        page = await console.get(f"/cases/{case_id}")
        assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text  # escaped everywhere
        assert '<mark class="' in page.text  # the NLU evidence is highlighted
        csrf = csrf_of(page.text)
        assert (await console.post(f"/cases/{case_id}/claim", data={})).status_code == 403  # no CSRF token
        assert (await console.post(f"/cases/{case_id}/claim", data={"csrf": "forged"})).status_code == 403
        assert (await console.post(f"/cases/{case_id}/claim", data={"csrf": csrf})).status_code == 303
        reply = {"csrf": csrf, "text": "Chị đây. <b>Em</b> đừng chuyển tiền nhé."}
        assert (await console.post(f"/cases/{case_id}/reply", data=reply)).status_code == 303
        await console.post(f"/cases/{case_id}/note", data={"csrf": csrf, "text": "Học sinh lớp 8, đã chặn."})
        page = await console.get(f"/cases/{case_id}")
        assert "&lt;b&gt;Em&lt;/b&gt;" in page.text and "Học sinh lớp 8, đã chặn." in page.text
        too_long = await console.post(f"/cases/{case_id}/reply", data={"csrf": csrf, "text": "x" * 5000})
        assert too_long.headers["location"].endswith("error=too_long")
        done = await console.post(f"/cases/{case_id}/resolve", data={"csrf": csrf, "outcome": "advice_given"})
        assert done.status_code == 303
        after = await console.post(f"/cases/{case_id}/reply", data={"csrf": csrf, "text": "còn đó không"})
        assert after.headers["location"].endswith("error=closed")

        # Follow-up: a new case on the same conversation, claimed by anna, and the student is told.
        assert "Mở lại ca" in (await console.get(f"/cases/{case_id}")).text
        assert (await console.post(f"/cases/{case_id}/reopen", data={"csrf": "forged"})).status_code == 403
        reopened = await console.post(f"/cases/{case_id}/reopen", data={"csrf": csrf})
        new_id = int(reopened.headers["location"].rsplit("/", 1)[1])
        assert new_id != int(case_id)
        page = await console.get(f"/cases/{new_id}")
        assert "Đã nhận" in page.text and f'action="/console/cases/{new_id}/reply"' in page.text
        again = await console.post(f"/cases/{case_id}/reopen", data={"csrf": csrf})
        assert again.headers["location"].endswith("error=open")  # one open case per conversation
        await deliver_due(app, telegram.bot, None)
        # Told the truth: a counselor writes again about the earlier chat (the student did not ask now).
        assert "hỏi thăm giờ bạn thế nào" in fake.delivered(70)[-1]

    async def test_supervisor_sees_the_audit_log_counselors_do_not(
        self, app: App, console: httpx.AsyncClient
    ) -> None:
        await login(console, "anna", "mat-khau-anna-1")
        assert (await console.get("/audit")).status_code == 403
        page = await console.get("/")
        await console.post("/logout", data={"csrf": csrf_of(page.text)})
        assert (await console.get("/")).status_code == 303  # logged out
        await login(console, "sup", "mat-khau-sup-12")
        audit = await console.get("/audit")
        assert audit.status_code == 200 and "Đăng nhập" in audit.text and "anna" in audit.text

    async def test_expired_session_goes_back_to_login(self, app: App) -> None:
        await app.set_counselor_password("anna", "counselor", hash_password("mat-khau-anna-1"))
        short = ConsoleDeps(
            uow=app.core.uow,
            sessions=app.sessions,
            library=app.library,
            clock=app.core.clock,
            secure_cookies=False,
            session_ttl=timedelta(seconds=-1),
        )
        client = client_for(short)
        await login(client, "anna", "mat-khau-anna-1")
        assert (await client.get("/")).status_code == 303


class TestReleaseAndRelabel:
    async def test_release_relabel_and_export(
        self,
        app: App,
        telegram: TelegramApp,
        fake: FakeTelegram,
        console: httpx.AsyncClient,
        tmp_path: Path,
        nlu_cache: Path,
    ) -> None:
        await process(telegram, fake.message_update(71, "ê m ơi cho t mượn 200k, mai t trả liền"))
        await process(telegram, fake.button_update(71, "talk_to_counselor"))
        await login(console, "anna", "mat-khau-anna-1")
        queue = await console.get("/")
        case_id = re.search(r'href="/console/cases/(\d+)"', queue.text).group(1)  # type: ignore[union-attr]
        page = await console.get(f"/cases/{case_id}")
        csrf = csrf_of(page.text)
        message_id = re.search(r'name="message_id" value="(\d+)"', page.text).group(1)  # type: ignore[union-attr]
        fixed = {"csrf": csrf, "message_id": message_id, "tactics": ["manipulation", "control"]}
        assert (await console.post(f"/cases/{case_id}/relabel", data=fixed)).status_code == 303
        assert "✓ đã sửa" in (await console.get(f"/cases/{case_id}")).text
        stranger = {"csrf": csrf, "message_id": "999999", "tactics": ["fear"]}
        assert (await console.post(f"/cases/{case_id}/relabel", data=stranger)).status_code == 404
        await console.post(f"/cases/{case_id}/claim", data={"csrf": csrf})
        released = await console.post(f"/cases/{case_id}/release", data={"csrf": csrf})
        assert released.status_code == 303 and "error" not in released.headers["location"]
        rows = await console.get("/queue/rows")
        assert "Đang chờ" in rows.text  # back in the queue
        out = tmp_path / "feedback.yml"
        # The command reads the same database as the app under test (SQLite file or PostgreSQL URL).
        same_db = ("NOTALONE_STORAGE__URL", "NOTALONE_PRIVACY__PSEUDONYM_KEY")
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALONE_") or k in same_db}
        env["NOTALONE_NLU__CACHE_DIR"] = str(nlu_cache)
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "notalone"),
                "--config",
                str(tmp_path / "config.yaml"),
                "nlu",
                "export-feedback",
                "--out",
                str(out),
            ],
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        exported = load_examples(out)
        assert [(e.text, set(e.tactics), e.crisis) for e in exported] == [
            ("ê m ơi cho t mượn 200k, mai t trả liền", {"manipulation", "control"}, False)
        ]


class TestSearchAndStats:
    async def test_search_finds_cases_by_words_and_number_and_stats_count(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram, console: httpx.AsyncClient
    ) -> None:
        await process(
            telegram, fake.message_update(72, "nó dọa tung ảnh nếu em không chuyển tiền <i>ngay</i>")
        )
        await process(telegram, fake.button_update(72, "talk_to_counselor"))
        await process(telegram, fake.button_update(72, "call_111"))
        # A threat without a deadline is serious: no case until the student asks for a person.
        serious = "Có người lạ trên Facebook nhắn là nếu em không tiếp tục nói chuyện thì anh ta sẽ gửi ảnh em cho bố mẹ em."
        await process(telegram, fake.message_update(73, serious))
        await login(console, "anna", "mat-khau-anna-1")
        assert "Nghiêm trọng" not in (await console.get("/queue/rows")).text
        await process(telegram, fake.button_update(73, "talk_to_counselor"))
        assert "Nghiêm trọng" in (await console.get("/queue/rows")).text
        by_words = await console.get("/search", params={"q": "tung ảnh"})
        case_id = re.search(r'href="/console/cases/(\d+)"', by_words.text).group(1)  # type: ignore[union-attr]
        assert f"#{case_id}" in (await console.get("/search", params={"q": f"#{case_id}"})).text
        assert "Không tìm thấy" in (await console.get("/search", params={"q": "không có chữ này"})).text
        assert "Không tìm thấy" not in (await console.get("/search", params={"status": "waiting"})).text
        page = await console.get("/stats")
        assert page.status_code == 200 and "<svg" in page.text
        assert "Bấm gọi 111: <strong>1</strong>" in page.text
        assert "Tin nhắn khẩn cấp: <strong>1</strong> · Nghiêm trọng: <strong>1</strong>" in page.text
        assert "Đợt lừa đảo mới" in page.text and "Chưa thấy đợt nào" in page.text  # one student: no wave
        assert (
            "&lt;i&gt;" not in page.text and "<i>ngay" not in page.text
        )  # no message text on the stats page


SLUGS = {
    *(s.value for s in CaseStatus),
    *(o.value for o in CaseOutcome),
    *(p.value for p in CasePriority),
    *(t.value for t in Tactic),
    "crisis",
    "student",
    "counselor",
    "telegram",
    "zalo",
    "console",
    "api",
    "login",
    "login_failed",
    "open",
    "claim",
    "reply",
    "resolve",
    "search",
    "unknown",
    "thoughts",
    "acts",
    "home",
    "outside",
    "parents",
    "risk",
    "transfer",
}


def shown(page: str) -> str:
    """What a counselor can read on a page: its text and its hover titles (not the markup)."""
    titles = " ".join(re.findall(r'title="([^"]*)"', page))
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body) + " " + titles)


class TestVietnameseOnly:
    async def test_no_page_shows_an_internal_value(
        self, telegram: TelegramApp, fake: FakeTelegram, console: httpx.AsyncClient
    ) -> None:
        # Cases in every state: urgent waiting, claimed, resolved with an outcome; a scam analysed.
        await process(telegram, fake.message_update(7201, CRISIS))
        await process(telegram, fake.message_update(7202, SCAM))
        await process(telegram, fake.button_update(7202, "talk_to_counselor"))
        await process(telegram, fake.message_update(7203, SCAM))
        await process(telegram, fake.button_update(7203, "talk_to_counselor"))
        await login(console, "sup", "mat-khau-sup-12")
        queue = await console.get("/")
        ids = re.findall(r'href="/console/cases/(\d+)"', queue.text)
        assert len(ids) == 3
        csrf = csrf_of(queue.text)
        for case_id in ids[1:]:
            await console.post(f"/cases/{case_id}/claim", data={"csrf": csrf})
        risk = {"csrf": csrf, "safe_now": "no", "place": "outside", "self_harm": "acts"}
        await console.post(f"/cases/{ids[1]}/risk", data=risk)
        resolved = {
            "csrf": csrf,
            "outcome": "referred_111",
            "referral": "parents",
            "follow_up_on": "2099-01-01",
        }
        await console.post(f"/cases/{ids[2]}/resolve", data=resolved)
        pages = {
            "queue": (await console.get("/")).text,
            "rows": (await console.get("/queue/rows")).text,
            **{f"case {i}": (await console.get(f"/cases/{i}")).text for i in ids},
            "stats": (await console.get("/stats")).text,
            "audit": (await console.get("/audit")).text,
            **{
                f"search {s.value}": (await console.get(f"/search?status={s.value}")).text for s in CaseStatus
            },
        }
        for name, page in pages.items():
            words = set(re.findall(r"[a-z_0-9]+", shown(page)))
            leaked = words & SLUGS
            snake = {w for w in words if re.fullmatch(r"[a-z]+(_[a-z0-9]+)+", w)}
            assert not leaked and not snake, f"{name} shows {sorted(leaked | snake)}"
        # What the labels say instead, and the queue row's details.
        assert "Chuyển Tổng đài 111" in shown(pages[f"case {ids[2]}"])
        assert "Gây sợ hãi" in shown(pages["stats"]) or "Kiểm soát hành vi" in shown(pages["stats"])
        rows = shown(pages["rows"])
        assert "Telegram" in rows and "sup" in rows  # the channel, and who holds the claimed case
        assert "Cục Cảnh sát thông báo" in rows  # the start of the student's latest message
        # A bot turn is folded to its first line; the student's words are not.
        case_page = pages[f"case {ids[1]}"]
        assert "<details" in case_page and "<summary>" in case_page


class TestLiveQueue:
    async def test_events_push_changes_and_stop_at_logout(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(console_module, "EVENTS_EVERY_S", 0.1)
        await app.set_counselor_password("anna", "counselor", hash_password("mat-khau-anna-1"))
        site = FastAPI()
        site.mount("/console", create_console(deps_for(app)))
        async with serving(site) as url, httpx.AsyncClient(base_url=f"{url}/console", timeout=10) as client:
            await login(client, "anna", "mat-khau-anna-1")
            csrf = csrf_of((await client.get("/")).text)

            async def next_event(lines: Any) -> tuple[str, dict[str, Any]]:
                name = ""
                async for line in lines:
                    if line.startswith("event: "):
                        name = line.removeprefix("event: ")
                    elif line.startswith("data: "):
                        return name, json.loads(line.removeprefix("data: "))
                raise AssertionError("the stream ended")

            async with client.stream("GET", "/queue/events") as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                lines = stream.aiter_lines()
                name, data = await next_event(lines)
                assert name == "queue" and data["waiting"] == 0 and data["urgent_new"] == []
                await process(telegram, fake.message_update(7301, CRISIS))  # a student in danger
                name, data = await next_event(lines)
                assert name == "queue" and data["waiting"] == 1 and len(data["urgent_new"]) == 1
                assert "Khẩn cấp" in data["rows"]
                await client.post("/logout", data={"csrf": csrf})
                name, _ = await next_event(lines)
                assert name == "logout"  # the stream tells the page, then ends


class TestRiskReferralTransferFollowUp:
    async def test_the_helpline_way_from_risk_to_follow_up(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await app.set_counselor_password("anna", "counselor", hash_password("mat-khau-anna-1"))
        await app.set_counselor_password("binh", "counselor", hash_password("mat-khau-binh-1"))
        today = [app.core.clock()]
        anna = client_for(deps_for(app, clock=lambda: today[0]))
        binh = client_for(deps_for(app, clock=lambda: today[0]))
        await process(telegram, fake.message_update(7401, SCAM))
        await process(telegram, fake.button_update(7401, "talk_to_counselor"))
        await login(anna, "anna", "mat-khau-anna-1")
        await login(binh, "binh", "mat-khau-binh-1")
        page = await anna.get("/")
        case_id = re.search(r'href="/console/cases/(\d+)"', page.text).group(1)  # type: ignore[union-attr]
        csrf = csrf_of(page.text)
        risk = {"csrf": csrf, "safe_now": "no", "place": "home", "self_harm": "thoughts", "deadline": "yes"}
        refused = await anna.post(f"/cases/{case_id}/risk", data=risk)
        assert refused.headers["location"].endswith("error=claim_first_risk")  # claim first
        await anna.post(f"/cases/{case_id}/claim", data={"csrf": csrf})
        assert (await anna.post(f"/cases/{case_id}/risk", data=risk)).status_code == 303
        bad = await anna.post(f"/cases/{case_id}/risk", data={**risk, "place": "mars"})
        assert bad.status_code == 422
        shown_risk = shown((await anna.get(f"/cases/{case_id}")).text)
        assert "Bạn ấy đang an toàn?" in shown_risk and "Có ý nghĩ" in shown_risk

        # Handed to binh with a note: binh holds it, anna no longer can reply, the note is kept.
        handover = {"csrf": csrf, "to": "binh", "note": "Bạn ấy ở nhà một mình, hẹn 20h."}
        assert (await anna.post(f"/cases/{case_id}/transfer", data=handover)).status_code == 303
        nobody = await anna.post(f"/cases/{case_id}/transfer", data={**handover, "to": "chi"})
        assert (
            nobody.headers["location"].endswith("error=not_yours") or "error=" in nobody.headers["location"]
        )
        late = await anna.post(f"/cases/{case_id}/reply", data={"csrf": csrf, "text": "còn đó không"})
        assert late.headers["location"].endswith("error=not_yours")
        page = (await binh.get(f"/cases/{case_id}")).text
        assert "Bàn giao cho binh: Bạn ấy ở nhà một mình, hẹn 20h." in page
        assert f'action="/console/cases/{case_id}/reply"' in page
        rows = shown((await binh.get("/queue/rows")).text)
        assert "binh" in rows

        # Resolved with a referral and a follow-up tomorrow (not today, not in the past).
        bcsrf = csrf_of(page)
        tomorrow = (today[0] + timedelta(days=1)).date().isoformat()
        done = {"csrf": bcsrf, "outcome": "referred_111", "referral": "hotline_111", "follow_up_on": tomorrow}
        past = {**done, "follow_up_on": today[0].date().isoformat()}
        assert (
            (await binh.post(f"/cases/{case_id}/resolve", data=past))
            .headers["location"]
            .endswith("error=follow_up_past")
        )
        assert (await binh.post(f"/cases/{case_id}/resolve", data=done)).status_code == 303
        closed = shown((await binh.get(f"/cases/{case_id}")).text)
        assert "Chuyển tiếp: Tổng đài 111 (gọi điện)" in closed and "Hẹn liên lạc lại" in closed
        assert "Hẹn liên lạc lại" not in (await binh.get("/")).text  # not yet

        # The next day it is back in the queue, until someone reopens it.
        today[0] += timedelta(days=1)
        await login(binh, "binh", "mat-khau-binh-1")  # a new day, a new session
        queue = (await binh.get("/")).text
        bcsrf = csrf_of(queue)
        assert "Hẹn liên lạc lại" in queue and f'href="/console/cases/{case_id}"' in queue
        reopened = await binh.post(f"/cases/{case_id}/reopen", data={"csrf": bcsrf})
        assert reopened.status_code == 303
        assert "Hẹn liên lạc lại" not in (await binh.get("/")).text
        stats = shown((await binh.get("/stats")).text)
        assert "Tổng đài 111 (gọi điện)" in stats and "Chuyển Tổng đài 111" in stats


class TestCounselorTyping:
    async def test_the_student_sees_the_counselor_typing(
        self, app: App, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(app.settings.console, "secure_cookies", False)  # plain http on 127.0.0.1
        await app.set_counselor_password("anna", "counselor", hash_password("mat-khau-anna-1"))
        await app.set_counselor_password("binh", "counselor", hash_password("mat-khau-binh-1"))
        application = build_application(app.settings.telegram, app, webhook=True)
        web = create_web_app(app, application, secret="s3cret", webhook_url=None)
        hook = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
        async with serving(web) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            for update in (fake.message_update(7501, SCAM), fake.button_update(7501, "talk_to_counselor")):
                assert (await client.post("/webhooks/telegram", json=update, headers=hook)).status_code == 200
            await fake.wait_for(2, chat_id=7501)
            anna = httpx.AsyncClient(base_url=f"{url}/console", timeout=10)
            binh = httpx.AsyncClient(base_url=f"{url}/console", timeout=10)
            await login(anna, "anna", "mat-khau-anna-1")
            await login(binh, "binh", "mat-khau-binh-1")
            queue = (await anna.get("/")).text
            case_id = re.search(r'href="/console/cases/(\d+)"', queue).group(1)  # type: ignore[union-attr]
            csrf, bcsrf = csrf_of(queue), csrf_of((await binh.get("/")).text)
            assert (await anna.post(f"/cases/{case_id}/typing", data={"csrf": csrf})).status_code == 409
            await anna.post(f"/cases/{case_id}/claim", data={"csrf": csrf})
            before = len(fake.sent("sendChatAction", 7501))
            assert (await binh.post(f"/cases/{case_id}/typing", data={"csrf": bcsrf})).status_code == 409
            assert (await anna.post(f"/cases/{case_id}/typing", data={"csrf": "forged"})).status_code == 403
            assert (await anna.post(f"/cases/{case_id}/typing", data={"csrf": csrf})).status_code == 204
            shown_typing = await fake.wait_for(before + 1, "sendChatAction", chat_id=7501)
            assert shown_typing[-1]["action"] == "typing"
            await anna.aclose()
            await binh.aclose()


class TestUnread:
    async def test_each_counselor_sees_what_they_have_not_read(
        self, app: App, telegram: TelegramApp, fake: FakeTelegram
    ) -> None:
        await app.set_counselor_password("anna", "counselor", hash_password("mat-khau-anna-1"))
        await app.set_counselor_password("binh", "counselor", hash_password("mat-khau-binh-1"))
        anna, binh = client_for(deps_for(app)), client_for(deps_for(app))
        await process(telegram, fake.message_update(7601, SCAM))
        await process(telegram, fake.button_update(7601, "talk_to_counselor"))
        await login(anna, "anna", "mat-khau-anna-1")
        await login(binh, "binh", "mat-khau-binh-1")
        assert "mới" not in shown((await anna.get("/queue/rows")).text)  # nothing written since it opened
        await process(telegram, fake.message_update(7601, "chị ơi em sợ lắm"))
        await process(telegram, fake.message_update(7601, "họ lại nhắn nữa rồi"))
        assert "2 mới" in shown((await anna.get("/queue/rows")).text)
        case_id = re.search(r'href="/console/cases/(\d+)"', (await anna.get("/")).text).group(1)  # type: ignore[union-attr]
        await anna.get(f"/cases/{case_id}")  # anna reads it
        assert "mới" not in shown((await anna.get("/queue/rows")).text)
        assert "2 mới" in shown((await binh.get("/queue/rows")).text)  # binh has not
        await process(telegram, fake.message_update(7601, "chị còn đó không"))
        assert "1 mới" in shown((await anna.get("/queue/rows")).text)
