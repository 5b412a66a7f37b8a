"""Real databases: a SQLite file per test, and PostgreSQL with a fresh schema per test (migrations run)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.main import App, build_app
from bot.settings import load_settings
from bot.telegram.app import build_application
from bot.web import TelegramApp
from storage.engine import make_engine
from storage.migrate import upgrade
from tests.integration.fake_telegram import FakeTelegram

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def _pg_admin() -> Any:
    url = make_url(PG_URL)
    return await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty database of each kind; the test decides whether to migrate."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        yield eng
        await eng.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = await _pg_admin()
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    eng = make_engine(PG_URL, connect_args={"server_settings": {"search_path": schema}})
    try:
        yield eng
    finally:
        await eng.dispose()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


@pytest.fixture
async def migrated(engine: AsyncEngine) -> AsyncEngine:
    await upgrade(engine)
    return engine


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def app_env() -> dict[str, str]:
    """Extra NOTALONE_* settings for the app under test (a test module may override this fixture)."""
    return {}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serving(web: Any) -> AsyncIterator[str]:
    """An ASGI app served by uvicorn on a free local port, as `notalone serve` serves it; its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database; its URL; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await _pg_admin()
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def app_db(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """The app's database: SQLite under the data directory, or a new PostgreSQL database per test."""
    if request.param == "sqlite":
        yield None
        return
    async with pg_database() as url:
        yield url


@pytest.fixture
async def app(
    tmp_path: Path,
    nlu_cache: Path,
    fake: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    app_db: str | None,
    app_env: dict[str, str],
) -> AsyncIterator[App]:
    """The wired app on each database, its Telegram pointed at the local fake Bot API."""
    config = tmp_path / "config.yaml"
    config.write_text("storage:\n  data_dir: data\n", encoding="utf-8")
    monkeypatch.setenv("NOTALONE_NLU__CACHE_DIR", str(nlu_cache))
    monkeypatch.setenv("NOTALONE_TELEGRAM__TOKEN", fake.token)
    monkeypatch.setenv("NOTALONE_TELEGRAM__API_BASE_URL", fake.url)
    if app_db is not None:
        monkeypatch.setenv("NOTALONE_STORAGE__URL", app_db)
        monkeypatch.setenv("NOTALONE_PRIVACY__PSEUDONYM_KEY", "test-pseudonym-key-" + "k" * 16)
    for key, value in app_env.items():
        monkeypatch.setenv(key, value)
    built = await build_app(load_settings(config))
    yield built
    await built.close()


@pytest.fixture
async def telegram(app: App) -> AsyncIterator[TelegramApp]:
    application = build_application(app.settings.telegram, app)
    await application.initialize()
    assert application.post_init is not None
    await application.post_init(application)
    yield application
    await application.shutdown()
