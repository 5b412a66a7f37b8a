"""Shared fixtures: the real content library, a fake-backed core, and settings on a temp folder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from content.loader import load_library
from handlers.models import Analysis, Channel, Evidence, Incoming, MessageKind, Tactic
from handlers.ports import ACTIONS, TEXT_KEYS
from handlers.privacy import pseudonymize
from handlers.triage import Core, Limits
from tests.fakes import FakeClassifier, InMemoryStore, InMemoryUnitOfWork

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def nlu_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One trained embedded model for the whole test session (training takes a few seconds)."""
    from nlu.embedded import load_or_train  # noqa: PLC0415

    cache = tmp_path_factory.mktemp("nlu-cache")
    load_or_train(cache)
    return cache


@pytest.fixture(scope="session")
def embedded(nlu_cache: Path):  # type: ignore[no-untyped-def]
    from nlu.embedded import EmbeddedClassifier, load_or_train  # noqa: PLC0415

    return EmbeddedClassifier(load_or_train(nlu_cache))


@pytest.fixture(scope="session")
def library():  # type: ignore[no-untyped-def]
    return load_library(None, "vi", text_keys=TEXT_KEYS, actions=ACTIONS)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


SCAM = "Công an đây. Chuyển tiền ngay kẻo bị bắt."
SCAM_ANALYSIS = Analysis(
    tactics=(Tactic.FEAR, Tactic.CONTROL),
    scores={"fear": 0.9, "control": 0.8, "manipulation": 0.1},
    evidence=(
        Evidence(tactic="fear", start=0, end=12, text="Công an đây."),
        Evidence(tactic="control", start=13, end=41, text="Chuyển tiền ngay kẻo bị bắt."),
    ),
    backend="fake",
)
CRISIS = "mình không muốn sống nữa"
CRISIS_ANALYSIS = Analysis(crisis=True, crisis_score=0.99, backend="fake")


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def classifier() -> FakeClassifier:
    return FakeClassifier({SCAM[:10]: SCAM_ANALYSIS, CRISIS[:10]: CRISIS_ANALYSIS})


@pytest.fixture
def core(store: InMemoryStore, classifier: FakeClassifier, library) -> Core:  # type: ignore[no-untyped-def]
    return Core(
        classifier=classifier,
        library=library,
        uow=lambda: InMemoryUnitOfWork(store),
        pseudonym=lambda ch, uid: pseudonymize(ch, uid, key=b"test-key"),
        clock=Clock(),
        limits=Limits(max_chars=200),
    )


def text(user: str, body: str) -> Incoming:
    kind = MessageKind.COMMAND if body.startswith("/") else MessageKind.TEXT
    return Incoming(channel=Channel.TERMINAL, platform_user_id=user, kind=kind, text=body)


def action(user: str, name: str) -> Incoming:
    return Incoming(channel=Channel.TERMINAL, platform_user_id=user, kind=MessageKind.ACTION, action=name)
