"""The unit of work: one session per `async with`, rolled back unless committed."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Self

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.ports import StorageUnavailable
from storage.cases import SqlAlchemyCaseRepository, SqlAlchemyCounselorRepository, SqlAlchemyOutboxRepository
from storage.chat_ids import ChatIdCipher
from storage.fingerprints import SqlAlchemyFingerprintRepository
from storage.inbox import SqlAlchemyInboxRepository
from storage.repositories import (
    SqlAlchemyConversationRepository,
    SqlAlchemyDeliveryRepository,
    SqlAlchemyFeedbackRepository,
    SqlAlchemyMessageRepository,
    SqlAlchemyUserRepository,
)

log = logging.getLogger(__name__)


class SqlAlchemyUnitOfWork:
    users: SqlAlchemyUserRepository
    conversations: SqlAlchemyConversationRepository
    messages: SqlAlchemyMessageRepository
    feedback: SqlAlchemyFeedbackRepository
    cases: SqlAlchemyCaseRepository
    outbox: SqlAlchemyOutboxRepository
    counselors: SqlAlchemyCounselorRepository
    deliveries: SqlAlchemyDeliveryRepository
    fingerprints: SqlAlchemyFingerprintRepository
    inbox: SqlAlchemyInboxRepository

    def __init__(self, session_factory: async_sessionmaker[Any], chat_ids: ChatIdCipher) -> None:
        self._factory = session_factory
        self._chat_ids = chat_ids
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        self._session = self._factory()
        self.users = SqlAlchemyUserRepository(self._session, self._chat_ids)
        self.conversations = SqlAlchemyConversationRepository(self._session, self.users)
        self.messages = SqlAlchemyMessageRepository(self._session)
        self.feedback = SqlAlchemyFeedbackRepository(self._session)
        self.cases = SqlAlchemyCaseRepository(self._session)
        self.outbox = SqlAlchemyOutboxRepository(self._session)
        self.counselors = SqlAlchemyCounselorRepository(self._session)
        self.deliveries = SqlAlchemyDeliveryRepository(self._session)
        self.fingerprints = SqlAlchemyFingerprintRepository(self._session)
        self.inbox = SqlAlchemyInboxRepository(self._session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            await session.rollback()
        finally:
            await session.close()
        if exc is not None and (isinstance(exc, SQLAlchemyError) or _unreachable(exc)):
            # Infrastructure errors become the core's port error; the cause stays attached for logs.
            raise StorageUnavailable(reason(exc)) from exc

    async def commit(self) -> None:
        """Make everything done in this unit permanent."""
        assert self._session is not None, "commit() outside 'async with'"
        await self._session.commit()
        if self.users.erased or self.conversations.erased:
            await self._scrub()
            self.users.erased = self.conversations.erased = False

    async def _scrub(self) -> None:
        """After a deletion of what students wrote, on SQLite: copy the write-ahead log into the
        database file (where secure_delete zeroed the deleted rows) and empty it, so the deleted text
        stays in neither file. PostgreSQL's files are the server's (VACUUM reclaims deleted rows)."""
        assert self._session is not None
        if self._session.get_bind().dialect.name != "sqlite":
            return
        busy = (await self._session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))).first()
        if busy is not None and busy[0]:
            # Another connection kept reading past the busy timeout: the next checkpoint finishes it.
            log.warning("write-ahead log not emptied after a deletion", extra={"error": "SQLITE_BUSY"})

    async def rollback(self) -> None:
        """Undo everything not yet committed."""
        assert self._session is not None, "rollback() outside 'async with'"
        await self._session.rollback()


def _unreachable(exc: BaseException | None) -> bool:
    """The database could not be reached at all (refused, reset, starting up): the driver raises
    these while connecting, before SQLAlchemy can wrap them."""
    return isinstance(exc, OSError) or (exc is not None and type(exc).__module__.startswith("asyncpg"))


def reason(exc: BaseException) -> str:
    """Why the database failed, as a code an operator can act on (SQLITE_FULL, a PostgreSQL SQLSTATE
    such as 57P01 for a restart), never the driver's message, which may quote parameters."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None)
    return f"{type(exc).__name__}:{code}" if code else type(exc).__name__
