"""Creating the async engine: the SQLite default under the data directory, or a PostgreSQL URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from storage.settings import StorageSettings


def database_url(settings: StorageSettings) -> URL:
    """The URL to connect to: the configured one (with the password from the environment) or SQLite."""
    if settings.url is None:
        return make_url(f"sqlite+aiosqlite:///{settings.data_dir / 'notalone.db'}")
    url = make_url(settings.url)
    if settings.password is not None:
        url = url.set(password=settings.password.get_secret_value())
    return url


def make_engine(url: URL | str, **kwargs: Any) -> AsyncEngine:
    """An async engine; on SQLite, foreign keys on, WAL journal and a busy timeout. Statement
    parameters are never part of an error's text (they hold students' messages and names)."""
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 15}, hide_parameters=True, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, hide_parameters=True, **kwargs)


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
