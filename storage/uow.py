"""The unit of work: one session per `async with`, rolled back unless committed."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.ports import StorageUnavailable
from storage.cases import SqlAlchemyCaseRepository, SqlAlchemyCounselorRepository, SqlAlchemyOutboxRepository
from storage.fingerprints import SqlAlchemyFingerprintRepository
from storage.repositories import (
    SqlAlchemyConversationRepository,
    SqlAlchemyDeliveryRepository,
    SqlAlchemyFeedbackRepository,
    SqlAlchemyMessageRepository,
    SqlAlchemyUserRepository,
)


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

    def __init__(self, session_factory: async_sessionmaker[Any]) -> None:
        self._factory = session_factory
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        self._session = self._factory()
        self.users = SqlAlchemyUserRepository(self._session)
        self.conversations = SqlAlchemyConversationRepository(self._session)
        self.messages = SqlAlchemyMessageRepository(self._session)
        self.feedback = SqlAlchemyFeedbackRepository(self._session)
        self.cases = SqlAlchemyCaseRepository(self._session)
        self.outbox = SqlAlchemyOutboxRepository(self._session)
        self.counselors = SqlAlchemyCounselorRepository(self._session)
        self.deliveries = SqlAlchemyDeliveryRepository(self._session)
        self.fingerprints = SqlAlchemyFingerprintRepository(self._session)
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
        if isinstance(exc, SQLAlchemyError):
            # Infrastructure errors become the core's port error; the cause stays attached for logs.
            raise StorageUnavailable(type(exc).__name__) from exc

    async def commit(self) -> None:
        """Make everything done in this unit permanent."""
        assert self._session is not None, "commit() outside 'async with'"
        await self._session.commit()

    async def rollback(self) -> None:
        """Undo everything not yet committed."""
        assert self._session is not None, "rollback() outside 'async with'"
        await self._session.rollback()
