"""The web chat (/chat) through the real web app on each database: a first message and its answer,
a crisis with 111 as a tel: link, the conversation kept across a reload, a counselor's reply, delete,
the rate limit and bad input answered kindly, and the frame policy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from bot.main import App
from bot.web import create_web_app
from counselor.api import create_api
from counselor.auth import new_token, token_hash
from storage.queries import stats

SCAM = "Cục Cảnh sát: bạn liên quan đường dây rửa tiền. Không được nói với ai, chuyển 20 triệu ngay."
CRISIS = "nó bảo 5 phút nữa k gửi thêm ảnh là nó đăng lên group trường, em sợ lắm"


@pytest.fixture
def app_env() -> dict[str, str]:
    return {
        "NOTALONE_WEBCHAT__PER_ADDRESS_PER_MINUTE": "12",
        "NOTALONE_WEBCHAT__FRAME_ANCESTORS": '["https://truong-abc.edu.vn"]',
        "NOTALONE_CONSOLE__SECURE_COOKIES": "false",
    }


@pytest.fixture
def web(app: App) -> FastAPI:
    return create_web_app(app, None, secret=None, webhook_url=None)


@pytest.fixture
async def page(web: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://bot") as client:
        yield client


def links(reply: dict[str, object]) -> list[str]:
    return [b["href"] for b in reply["buttons"] if "href" in b]  # type: ignore[union-attr,index,operator]


class TestWebChat:
    async def test_the_page_loads_only_its_own_files_and_may_be_framed_by_listed_sites(
        self, page: httpx.AsyncClient
    ) -> None:
        got = await page.get("/chat/")
        assert got.status_code == 200 and 'href="tel:111"' in got.text and 'href="tel:113"' in got.text
        csp = got.headers["content-security-policy"]
        assert "frame-ancestors https://truong-abc.edu.vn;" in csp and "script-src 'self'" in csp
        assert "http" not in got.text.replace('href="tel:', "")  # nothing from another site
        assert "30 ngày" in got.text  # what is kept, and for how long, on the first screen
        for asset in ("/chat/static/chat.js", "/chat/static/chat.css"):
            assert (await page.get(asset)).status_code == 200

    async def test_openings_are_counted_by_the_linking_place_only(
        self, app: App, page: httpx.AsyncClient
    ) -> None:
        for link in ("/chat/?src=truong-abc", "/chat/?src=TRUONG-ABC", "/chat/?src=<x>", "/chat/"):
            assert (await page.get(link)).status_code == 200
        async with app.sessions() as session:
            found = await stats(session, app.core.clock())
        assert found.web_opens == {"truong-abc": 2, "-": 2}

    async def test_a_first_message_is_answered_and_the_conversation_survives_a_reload(
        self, page: httpx.AsyncClient
    ) -> None:
        sent = await page.post("/chat/api/send", json={"text": SCAM, "id": "m-0001-abcdef"})
        assert sent.status_code == 200
        cookie = sent.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite" in cookie and "path=/chat" in cookie
        replies = sent.json()["replies"]
        assert "“" in replies[0]["text"]  # the other party's words are quoted
        again = await page.post("/chat/api/send", json={"text": SCAM, "id": "m-0001-abcdef"})
        assert again.json()["replies"] == []  # a retried request is answered once
        history = (await page.get("/chat/api/history")).json()["messages"]
        assert history[0] == {"from": "student", "text": SCAM, "buttons": []}
        assert [m["text"] for m in history[1:]] == [r["text"] for r in replies]

    async def test_a_crisis_answer_puts_111_as_a_tel_link_first(self, page: httpx.AsyncClient) -> None:
        replies = (await page.post("/chat/api/send", json={"text": CRISIS})).json()["replies"]
        assert len(replies) == 1  # one calm message, nothing else in that turn
        assert "111" in replies[0]["text"] and links(replies[0])[:2] == ["tel:111", "tel:113"]

    async def test_a_counselor_reply_reaches_the_page_and_delete_forgets_it_all(
        self, app: App, page: httpx.AsyncClient
    ) -> None:
        await page.post("/chat/api/send", json={"text": SCAM})
        await page.post("/chat/api/send", json={"action": "talk_to_counselor"})
        token = new_token()
        await app.add_counselor_token("anna", "counselor", token_hash(token))
        api = httpx.AsyncClient(
            transport=httpx.ASGITransport(
                app=create_api(
                    uow=app.core.uow,
                    sessions=app.sessions,
                    counselor_by_token=app.counselor_by_token,
                    library=app.library,
                    clock=app.core.clock,
                )
            ),
            base_url="http://api",
            headers={"Authorization": f"Bearer {token}"},
        )
        (case,) = (await api.get("/cases?status=waiting")).json()
        await api.post(f"/cases/{case['id']}/claim")
        await api.post(f"/cases/{case['id']}/messages", json={"text": "Chị đây, em kể chị nghe nhé."})
        history = (await page.get("/chat/api/history")).json()["messages"]
        assert history[-1] == {"from": "counselor", "text": "Chị đây, em kể chị nghe nhé.", "buttons": []}

        deleted = await page.post("/chat/api/send", json={"action": "delete_confirm"})
        assert (
            "notalone_chat=" in deleted.headers["set-cookie"]
            and "max-age=0" in deleted.headers["set-cookie"].lower()
        )
        page.cookies.clear()
        assert (await page.get("/chat/api/history")).json()["messages"] == []

    async def test_floods_and_bad_input_get_a_kind_answer_with_111(self, page: httpx.AsyncClient) -> None:
        too_big = await page.post("/chat/api/send", content=b'{"text": "' + b"a" * 30_000 + b'"}')
        assert too_big.status_code == 413 and "tel:111" in links(too_big.json()["replies"][0])
        bad = await page.post("/chat/api/send", content=b"{oops")
        assert bad.status_code == 400 and "tel:111" in links(bad.json()["replies"][0])
        for _ in range(12):
            await page.post("/chat/api/send", json={"text": "chào"})
        limited = await page.post("/chat/api/send", json={"text": CRISIS})
        assert limited.status_code == 429
        (reply,) = limited.json()["replies"]
        assert "111" in reply["text"] and links(reply)[:2] == ["tel:111", "tel:113"]
