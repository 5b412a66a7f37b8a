"""The composition root: the only place that wires concrete adapters into the core."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.settings import Settings
from content.loader import ContentError, load_library
from handlers.flood import FloodLimiter
from handlers.handoff import (
    EscalationPolicy,
    GroupResult,
    check_waiting,
    claim_from_group,
    relay_from_group,
)
from handlers.hidden import OtherWays
from handlers.models import Channel, Counselor, Incoming, Reply, Turn
from handlers.ports import (
    ACTIONS,
    TEXT_KEYS,
    WORD_LIMITS,
    GuidanceLibrary,
    StorageUnavailable,
    UnitOfWork,
)
from handlers.privacy import pseudonymize
from handlers.replies import error_reply
from handlers.retention import purge_expired
from handlers.triage import Core, Limits, handle_incoming
from nlu import build_classifier
from nlu.data import scenarios
from nlu.fingerprint import Fingerprinter
from nlu.flags import RedFlagDetector
from nlu.ocr import OcrLimits, TesseractReader
from storage.cases import SqlAlchemyCounselorRepository
from storage.chat_ids import ChatIdCipher, ChatIdKeyError
from storage.console import ConsoleStore
from storage.engine import database_url, make_engine, make_session_factory
from storage.migrate import upgrade
from storage.repositories import SqlAlchemyUserRepository
from storage.uow import SqlAlchemyUnitOfWork
from storage.webchat import count_open

log = logging.getLogger(__name__)


class StartupError(Exception):
    """notalone cannot start; the message tells the operator what to change."""


@dataclass
class App:
    """Everything a channel needs: the core use cases, wired, and the resources to close."""

    settings: Settings
    engine: AsyncEngine
    core: Core
    sessions: async_sessionmaker[Any]

    @property
    def library(self) -> GuidanceLibrary:
        return self.core.library

    async def handle(self, msg: Incoming) -> Turn:
        """Run the main use case for one incoming message."""
        return await handle_incoming(msg, core=self.core)

    async def counselor_by_token(self, hashed: str) -> Counselor | None:
        """The counselor holding an API token (by its hash), unless it expired."""
        async with self.sessions() as session:
            return await SqlAlchemyCounselorRepository(session).by_token_hash(hashed, self.core.clock())

    async def count_web_open(self, src: str) -> None:
        """One more opening of the web chat from `src` (a linking place's tag, or "-") today."""
        try:
            async with self.sessions() as session:
                await count_open(session, self.core.clock().date(), src)
        except SQLAlchemyError as exc:
            raise StorageUnavailable(type(exc).__name__) from exc

    async def add_counselor_token(self, name: str, role: str, hashed: str) -> Counselor:
        """Create the counselor if needed and give them a new API token (the old one ends); it expires
        after console.token_days."""
        now = self.core.clock()
        expires = now + timedelta(days=self.settings.console.token_days)
        async with self.sessions() as session:
            counselors = SqlAlchemyCounselorRepository(session)
            found = await counselors.by_name(name)
            if found is None:
                found = await counselors.add(name, role, hashed, now, expires)
            else:
                await counselors.set_token(found.id, hashed, expires)
            await ConsoleStore(session).audit(found.id, None, "token", now, via="cli")
            await session.commit()
            return found

    async def set_counselor_password(self, name: str, role: str, password_hash: str) -> None:
        """Create a console login or replace its password and role (ending its sessions and token)."""
        now = self.core.clock()
        async with self.sessions() as session:
            store = ConsoleStore(session)
            await store.set_password(name, role, password_hash, now)
            found = await store.login(name)
            assert found is not None
            await store.audit(found.counselor.id, None, "password", now, via="cli")
            await session.commit()

    async def revoke_counselor(self, name: str) -> bool:
        """End a counselor's console sessions and API token now; False: no such counselor."""
        now = self.core.clock()
        async with self.sessions() as session:
            store = ConsoleStore(session)
            found = await store.login(name)
            if found is None:
                return False
            await store.end_access(found.counselor.id)
            await store.audit(found.counselor.id, None, "revoke", now, via="cli")
            await session.commit()
            return True

    async def link_counselor_telegram(self, name: str, telegram_user_id: int | None) -> bool:
        """Link a counselor's Telegram account (for the counselors' group); False: no such counselor."""
        async with self.sessions() as session:
            counselors = SqlAlchemyCounselorRepository(session)
            found = await counselors.by_name(name)
            if found is None:
                return False
            await counselors.link_telegram(found.id, telegram_user_id)
            await session.commit()
            return True

    async def relay_from_group(self, thread_id: int, telegram_user_id: int, text: str) -> GroupResult:
        """A message in the counselors' group: relayed to the student when a linked counselor wrote it."""
        return await self._from_group(
            telegram_user_id,
            lambda uow, counselor, now: relay_from_group(
                thread_id, counselor, telegram_user_id, text, uow=uow, lib=self.library, now=now
            ),
        )

    async def claim_from_group(self, case_id: int, telegram_user_id: int) -> GroupResult:
        """The «Nhận ca» button of an alert in the counselors' group."""
        return await self._from_group(
            telegram_user_id,
            lambda uow, counselor, now: claim_from_group(
                case_id, counselor, telegram_user_id, uow=uow, lib=self.library, now=now
            ),
        )

    async def _from_group(
        self,
        telegram_user_id: int,
        action: Callable[[UnitOfWork, Counselor | None, datetime], Awaitable[GroupResult]],
    ) -> GroupResult:
        async with self.sessions() as session:
            counselor = await SqlAlchemyCounselorRepository(session).by_telegram_user(telegram_user_id)
        now = self.core.clock()
        async with self.core.uow() as uow:
            result = await action(uow, counselor, now)
            await uow.commit()
        if counselor is not None and result.done:
            async with self.sessions() as session:
                store = ConsoleStore(session)
                for done in result.done:
                    await store.audit(counselor.id, result.case_id, f"telegram_{done}", now, via="telegram")
                await session.commit()
        return result

    async def check_waiting(self) -> int:
        """Tell students whose case nobody claimed in time; re-alert urgent ones."""
        async with self.core.uow() as uow:
            count = await check_waiting(
                uow=uow, lib=self.core.library, policy=self.core.escalation, now=self.core.clock()
            )
            await uow.commit()
        return count

    async def purge_expired(self) -> int:
        """Apply the retention limit now."""
        return await purge_expired(
            uow=self.core.uow, now=self.core.clock(), days=self.core.limits.retention_days
        )

    def error_reply(self) -> Reply:
        """The reply a channel sends when handling failed."""
        return error_reply(self.core.library)

    async def close(self) -> None:
        await self.engine.dispose()


def now_utc() -> datetime:
    return datetime.now(UTC)


def pseudonym_key(settings: Settings) -> bytes:
    """The key for pseudonymous ids: from the environment, or generated once under the data directory."""
    if settings.privacy.pseudonym_key is not None:
        return settings.privacy.pseudonym_key.get_secret_value().encode()
    path = settings.storage.data_dir / "pseudonym.key"
    try:
        if path.exists():
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
                log.warning("pseudonym key %s was open to others: now 600", path)
            return path.read_bytes().strip()
        key = secrets.token_hex(32).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        return key
    except OSError as exc:
        raise StartupError(
            f"cannot read or create {path} ({exc.strerror}): set storage.data_dir to a writable folder "
            "or NOTALONE_PRIVACY__PSEUDONYM_KEY"
        ) from None


def ensure_data_dir(settings: Settings) -> Path:
    """Create the data directory on first run, for notalone's user only (it holds the database and the
    pseudonym key); a clear error when that is impossible."""
    data_dir = settings.storage.data_dir
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(
            f"cannot create the data directory {data_dir} ({exc.strerror}): "
            "set storage.data_dir in config.yaml or NOTALONE_STORAGE__DATA_DIR"
        ) from None
    return data_dir


def where(settings: Settings) -> str:
    """The database, named for the operator without its password."""
    return database_url(settings.storage).render_as_string(hide_password=True)


async def open_engine(settings: Settings) -> AsyncEngine:
    """Connect to the database and, when configured, bring its schema up to date."""
    if settings.storage.url is None:
        ensure_data_dir(settings)
    engine = make_engine(database_url(settings.storage), echo=settings.storage.echo_sql)
    if settings.storage.auto_upgrade:
        try:
            await upgrade(engine)
        except (SQLAlchemyError, OSError) as exc:
            await engine.dispose()
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise StartupError(
                f"cannot open or migrate the database {where(settings)} ({reason}); "
                "check storage.url / storage.data_dir in config.yaml and that the location is writable"
            ) from None
    return engine


async def encrypt_chat_ids(
    settings: Settings, sessions: async_sessionmaker[Any], chat_ids: ChatIdCipher
) -> None:
    """Check the key against the chat ids stored, and encrypt those an older notalone stored in clear
    (a no-op once done). A database that cannot be written still lets the bot start."""
    try:
        async with sessions() as session:
            done = await SqlAlchemyUserRepository(session, chat_ids).encrypt_clear_chat_ids()
            await session.commit()
    except ChatIdKeyError:
        raise StartupError(
            f"the chat ids in {where(settings)} were encrypted with another key: set "
            "NOTALONE_PRIVACY__PSEUDONYM_KEY to the key this database was written with (without it, "
            f"the one in {settings.storage.data_dir / 'pseudonym.key'})"
        ) from None
    except (SQLAlchemyError, OSError) as exc:
        log.warning("chat ids not encrypted at start", extra={"error": type(exc).__name__})
        return
    if done:
        log.info("%d chat ids stored in clear are now encrypted", done)


# Scenarios that need no scam guide: ordinary messages, and self-harm (it has its crisis guide).
NO_GUIDE_SCENARIOS = frozenset({"everyday", "self_harm"})


def web_chat_url(settings: Settings, src: str) -> str | None:
    """The web chat's public address, tagged with where the link was given (None when there is no
    public address or no web chat)."""
    base = settings.zalo.public_base_url or settings.telegram.public_base_url
    if not settings.webchat.enabled or not base or not base.startswith("https://"):
        return None
    return f"{base.rstrip('/')}/chat/?src={src}"


def load_content(settings: Settings) -> GuidanceLibrary:
    """The content library, checked against the core's texts and every scenario the NLU knows."""
    required = frozenset(scenarios()) - NO_GUIDE_SCENARIOS
    try:
        return load_library(
            settings.content.library_dir,
            settings.content.locale,
            text_keys=TEXT_KEYS,
            actions=ACTIONS,
            required_scenarios=required,
            limits=WORD_LIMITS,
        )
    except ContentError as exc:
        raise StartupError(f"the content library is broken:\n{exc}") from None


def red_flag_detector(settings: Settings) -> RedFlagDetector:
    """Red flags from the package's lists and the operator's (under the data directory)."""
    try:
        return RedFlagDetector(settings.storage.data_dir)
    except (ValueError, OSError) as exc:
        raise StartupError(f"the red-flag lists are broken: {exc}") from None


def image_reader(settings: Settings) -> TesseractReader | None:
    """Tesseract for photos, as configured; a missing install is logged (students get a clear answer)."""
    images = settings.images
    if not images.enabled:
        return None
    reader = TesseractReader(
        OcrLimits(
            max_bytes=images.max_mb * 1_000_000,
            max_pixels=images.max_megapixels * 1_000_000,
            timeout_s=images.timeout_s,
            language=images.language,
        )
    )
    if not reader.available():
        log.warning(
            "tesseract not found: install tesseract-ocr and tesseract-ocr-vie, or set images.enabled: false",
            extra={"error": "ocr_missing"},
        )
    return reader


async def build_app(settings: Settings, on_training: Callable[[GuidanceLibrary], None] | None = None) -> App:
    """Wire the adapters named by the settings into the core; `on_training` hears, with the content
    library, that the NLU model is being trained before the first answer (first run)."""
    library = load_content(settings)
    classifier = build_classifier(
        settings.nlu, (lambda: on_training(library)) if on_training is not None else None
    )
    if settings.storage.url is None:
        ensure_data_dir(settings)
    key = pseudonym_key(settings)
    chat_ids = ChatIdCipher.derive(key)
    engine = await open_engine(settings)
    sessions = make_session_factory(engine)
    try:
        await encrypt_chat_ids(settings, sessions, chat_ids)
    except StartupError:
        await engine.dispose()
        raise
    core = Core(
        classifier=classifier,
        library=library,
        uow=partial(SqlAlchemyUnitOfWork, sessions, chat_ids),
        pseudonym=lambda channel, platform_id: pseudonymize(channel, platform_id, key=key),
        clock=now_utc,
        limits=Limits(
            max_chars=settings.chat.max_message_chars,
            retention_days=settings.privacy.retention_days,
            max_reply_chars=settings.chat.max_reply_chars,
            max_image_mb=settings.images.max_mb,
        ),
        flood=FloodLimiter(settings.chat.flood_per_minute),
        images=image_reader(settings),
        fingerprints=Fingerprinter(key),
        red_flags=red_flag_detector(settings),
        escalation=EscalationPolicy(
            claim_timeout=timedelta(minutes=settings.escalation.claim_timeout_minutes),
            opens=settings.escalation.opens,
            closes=settings.escalation.closes,
            timezone=settings.escalation.timezone,
            alerts=settings.telegram.token is not None and settings.telegram.counselor_group_id is not None,
            mirror=settings.telegram.counselor_group_mirror,
        ),
        other_ways=OtherWays(telegram_url=settings.telegram.bot_url, web_url=web_chat_url(settings, "zalo")),
    )
    app = App(settings=settings, engine=engine, core=core, sessions=sessions)
    try:
        await app.purge_expired()
    except StorageUnavailable:
        # A read-only or unreachable database: the bot still starts and answers (with 111 if it must).
        log.warning("retention purge failed at start", extra={"error": "StorageUnavailable"})
    return app


__all__ = ["App", "Channel", "StartupError", "build_app"]
