"""Creating the async engine: the SQLite default under the data directory, or a PostgreSQL URL."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from storage.settings import StorageSettings

log = logging.getLogger(__name__)
# The database holds what students wrote: readable and writable by notalone's user only. SQLite gives
# the -wal and -shm files it creates the database file's mode.
PRIVATE = 0o600


def database_url(settings: StorageSettings) -> URL:
    """The URL to connect to: the configured one (with the password from the environment) or SQLite."""
    if settings.url is None:
        return make_url(f"sqlite+aiosqlite:///{settings.data_dir / 'notalone.db'}")
    url = make_url(settings.url)
    if settings.password is not None:
        url = url.set(password=settings.password.get_secret_value())
    return url


def make_engine(url: URL | str, **kwargs: Any) -> AsyncEngine:
    """An async engine; on SQLite, a database file for its owner only, foreign keys on, WAL journal,
    deleted content zeroed and a busy timeout. Statement parameters are never part of an error's text
    (they hold students' messages and names)."""
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        protect_sqlite_files(url)
        engine = create_async_engine(url, connect_args={"timeout": 15}, hide_parameters=True, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Deleted rows are overwritten with zeros, not just marked free: a /xoa leaves no text behind.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, hide_parameters=True, **kwargs)


def protect_sqlite_files(url: URL) -> None:
    """Create the SQLite database file with mode 0600, and take away what others may do with it and
    its -wal, -shm and -journal files (left by an older version or a copy) when it already exists."""
    name = url.database
    if not name or name == ":memory:" or name.startswith("file:") or url.query.get("uri"):
        return
    db = Path(name)
    if not db.parent.is_dir():
        return  # SQLite reports the missing folder when it connects
    try:
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
    except FileExistsError:
        pass
    except OSError:
        return  # an unwritable folder: SQLite reports it too
    for path in (db, *(db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                path.chmod(mode & 0o700)
                log.warning(
                    "database file %s was open to others (mode %03o): now %03o", path, mode, mode & 0o700
                )
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot restrict database file %s (%s)", path, type(exc).__name__)


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
