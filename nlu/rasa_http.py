"""The Rasa backend: POST /model/parse on a pool of Rasa Open Source servers taken in turn, with the
embedded backend answering when none can."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from handlers.models import Analysis
from handlers.ports import Classifier
from nlu.assemble import COLUMNS, SEVERITY_LABELS, Segment, build_analysis, segments
from nlu.chatlog import split_chat
from nlu.cues import cue_evidence
from nlu.data import TACTICS
from nlu.heads import GATE, NO_FOLLOWUP, SCENARIO, rescale
from nlu.normalize import normalize
from nlu.rasa_data import rasa_text

log = logging.getLogger(__name__)

# notalone's component (nlu/rasa/config.yml) answers one intent_ranking entry per label, one for the
# "any tactic" gate and the likeliest scenarios (`scenario/<slug>`), each rescaled at training time so
# that its own out-of-fold threshold is 0.5.
RASA_THRESHOLDS = {**dict.fromkeys(COLUMNS, 0.5), SCENARIO: 0.5}
SCENARIO_PREFIX = "scenario/"
FOLLOWUP_PREFIX = "followup/"
# A pipeline that answers combination intents instead (DIET: `fear+control+crisis`) is read by summing
# the combinations that hold each label; its crisis threshold was 0.3 (checked on the dev set), mapped
# to 0.5 here so that one set of thresholds serves both.
COMBINATION_THRESHOLDS = {"crisis": 0.3}

# A server that failed gets no requests for this long, so students do not wait on a dead server;
# then one request probes it.
COOLDOWN_S = 30.0


class RasaUnavailable(Exception):
    """No Rasa server answered this message usably within the time budget."""


class _ServerFailed(Exception):
    """One server failed (connection, timeout, HTTP error status, unusable JSON): it sits out a cool-down."""


def label_probabilities(parse: dict[str, Any]) -> tuple[np.ndarray, tuple[str | None, float]]:
    """Per-label probability (columns COLUMNS, thresholds at 0.5) from /model/parse's intent ranking,
    and the likeliest scenario with its probability (None without one)."""
    ranking = parse.get("intent_ranking") or ([parse["intent"]] if parse.get("intent") else [])
    entries = [_entry(e) for e in (ranking if isinstance(ranking, list) else [])]
    p = np.zeros(len(COLUMNS))
    scenario: tuple[str | None, float] = (None, 0.0)
    if any(name == GATE for name, _ in entries):
        # One entry per label, the gate and scenarios (notalone's component).
        for name, confidence in entries:
            if name in COLUMNS:
                j = COLUMNS.index(name)
                p[j] = max(p[j], confidence)
            elif name.startswith(SCENARIO_PREFIX) and confidence > scenario[1]:
                scenario = (name.removeprefix(SCENARIO_PREFIX), confidence)
        return np.clip(p, 0.0, 1.0), scenario
    for name, confidence in entries:
        parts = set(name.split("+"))
        for j, label in enumerate(COLUMNS):
            if label in parts or (label == GATE and parts & set(TACTICS)):
                p[j] += confidence
    p = np.clip(p, 0.0, 1.0)
    for label, threshold in COMBINATION_THRESHOLDS.items():
        p[COLUMNS.index(label)] = float(rescale(p[COLUMNS.index(label)], threshold))
    return p, scenario


def followup_of(parse: dict[str, Any]) -> tuple[str | None, float, bool]:
    """The likeliest follow-up intent the component read (`followup/<name>`), its probability, and
    whether it beats `followup/none` (a message to judge); (None, 0.0, False) without the head."""
    ranking = parse.get("intent_ranking")
    found: dict[str, float] = {}
    for name, confidence in (_entry(e) for e in (ranking if isinstance(ranking, list) else [])):
        if name.startswith(FOLLOWUP_PREFIX):
            found[name.removeprefix(FOLLOWUP_PREFIX)] = confidence
    none = found.pop(NO_FOLLOWUP, 0.0)
    if not found:
        return None, 0.0, False
    intent, p = max(found.items(), key=lambda item: item[1])
    return intent, p, p > none


def _entry(entry: Any) -> tuple[str, float]:
    """(name, confidence) of one ranking entry; ("", 0.0) for anything else."""
    if not isinstance(entry, dict):
        return "", 0.0
    try:
        confidence = float(entry.get("confidence") or 0.0)
    except (TypeError, ValueError):
        confidence = 0.0
    return str(entry.get("name", "")), confidence if np.isfinite(confidence) else 0.0


@dataclass
class _Server:
    parse_url: str
    # Index, host and port only: a URL may carry a user, password or token.
    name: str
    # None: healthy. Otherwise the server gets no requests before this time (pool clock).
    down_until: float | None = None


class RasaPool:
    """Rasa servers taken in turn; a failed one sits out a cool-down, then one request probes it."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        cooldown_s: float = COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("a Rasa pool needs at least one URL")
        self.servers = [
            _Server(url.rstrip("/") + "/model/parse", _server_name(i, url)) for i, url in enumerate(urls)
        ]
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._turn = 0

    def _available(self, i: int, now: float) -> bool:
        down_until = self.servers[i].down_until
        return down_until is None or now >= down_until

    def take(self, *, besides: int | None = None) -> int | None:
        """The next server in turn that is not cooling down (never `besides`); None when there is none."""
        now = self.clock()
        count = len(self.servers)
        for step in range(count):
            i = (self._turn + step) % count
            if i == besides or not self._available(i, now):
                continue
            self._turn = i + 1
            server = self.servers[i]
            if server.down_until is not None:
                # Back from its cool-down: this request probes it; the others keep away until it answers.
                server.down_until = now + self.cooldown_s
            return i
        return None

    def has_other(self, i: int) -> bool:
        """Whether a server other than `i` could take a retry now."""
        now = self.clock()
        return any(j != i and self._available(j, now) for j in range(len(self.servers)))

    def answered(self, i: int) -> None:
        """Server `i` answered: it is healthy."""
        server = self.servers[i]
        if server.down_until is not None:
            server.down_until = None
            log.info("rasa server back", extra={"backend": "rasa", "error": server.name})

    def failed(self, i: int, error: str) -> None:
        """Server `i` failed: no requests for a cool-down."""
        server = self.servers[i]
        server.down_until = self.clock() + self.cooldown_s
        log.info(
            "rasa server down for a cool-down", extra={"backend": "rasa", "error": f"{server.name}: {error}"}
        )


def _server_name(i: int, url: str) -> str:
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"rasa[{i}] {parsed.host}{port}"


class RasaHttpClassifier:
    """Asks the Rasa servers in turn; when none answers in time, the embedded backend answers that message."""

    name = "rasa"

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        timeout_s: float,
        fallback: Classifier,
        client: httpx.AsyncClient | None = None,
        thresholds: dict[str, float] | None = None,
        cooldown_s: float = COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = RasaPool([urls] if isinstance(urls, str) else urls, cooldown_s=cooldown_s, clock=clock)
        self.timeout = timeout_s
        self.fallback = fallback
        # One client (one connection pool) for every server and every concurrent message.
        self.client = client or httpx.AsyncClient()
        self.thresholds = thresholds or RASA_THRESHOLDS

    async def _parse(self, text: str, deadline: float) -> dict[str, Any]:
        """/model/parse from the next server in turn, and once more from the next one if that fails."""
        loop = asyncio.get_running_loop()
        body = {"text": rasa_text(text)}
        failures: list[str] = []
        failed: int | None = None
        for attempt in range(2):
            remaining = deadline - loop.time()
            if remaining <= 0:
                failures.append("time budget spent")
                break
            i = self.pool.take(besides=failed)
            if i is None:
                failures.append("no other rasa server available" if failures else "no rasa server available")
                break
            # A hung first server must leave time for the retry, so it gets half the budget
            # when another server could take the retry.
            window = remaining / 2 if attempt == 0 and self.pool.has_other(i) else remaining
            try:
                return await self._ask(i, body, window)
            except _ServerFailed as exc:
                self.pool.failed(i, str(exc))
                failures.append(f"{self.pool.servers[i].name}: {exc}")
                failed = i
        raise RasaUnavailable("; ".join(failures))

    async def _ask(self, i: int, body: dict[str, str], window: float) -> dict[str, Any]:
        server = self.pool.servers[i]
        try:
            # httpx's timeout bounds each phase (connect, each read); this bounds the whole request.
            async with asyncio.timeout(window):
                response = await self.client.post(server.parse_url, json=body, timeout=window)
            if response.status_code == 400:
                # Rasa refused this message (a ParsingError); the server is up and the next one
                # would refuse it too.
                self.pool.answered(i)
                raise RasaUnavailable(f"{server.name}: HTTP 400")
            response.raise_for_status()
            data = response.json()
        except TimeoutError as exc:
            raise _ServerFailed("timeout") from exc
        except httpx.HTTPStatusError as exc:
            raise _ServerFailed(f"HTTP {exc.response.status_code}") from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise _ServerFailed(type(exc).__name__) from exc
        if not isinstance(data, dict) or "intent" not in data:
            raise _ServerFailed("unexpected answer")
        self.pool.answered(i)
        return data

    async def analyze(self, text: str) -> Analysis:
        """Tactics, crisis and evidence from Rasa; the embedded backend's answer if Rasa fails."""
        # Every request to Rasa ends by this deadline, so a student never waits longer than timeout_s.
        deadline = asyncio.get_running_loop().time() + self.timeout
        try:
            return await self._analyze(text, deadline)
        except RasaUnavailable as exc:
            log.warning(
                "rasa unavailable; embedded backend answers", extra={"backend": "rasa", "error": str(exc)}
            )
            return await self.fallback.analyze(text)

    async def _analyze(self, text: str, deadline: float) -> Analysis:
        analysis = await self._from_rasa(text, deadline)
        if analysis.crisis:
            return analysis
        # Crisis has its own high-recall detector (lexicon + the embedded crisis head) beside Rasa:
        # a crisis either of them sees is reported.
        backup = await self.fallback.analyze(text)
        if not backup.crisis:
            return analysis
        return analysis.model_copy(
            update={
                "crisis": True,
                "crisis_score": backup.crisis_score,
                "evidence": (*analysis.evidence, *backup.evidence_for("crisis")[:1]),
                "unsure": False,
            }
        )

    async def _from_rasa(self, text: str, deadline: float) -> Analysis:
        scenario: tuple[str | None, float] = (None, 0.0)
        followup: tuple[str | None, float, bool] = (None, 0.0, False)
        chat = None
        if not normalize(text):
            p = np.zeros(len(COLUMNS))
            pieces: list[tuple[Segment, np.ndarray]] = []
            readable = False
        else:
            whole = await self._parse(text, deadline)
            p, scenario = label_probabilities(whole)
            followup = followup_of(whole)
            chat = split_chat(text)
            if chat is not None:
                # A pasted chat: tactics from the other party's lines, danger from every line (as the
                # embedded backend reads it).
                theirs, their_scenario = label_probabilities(
                    await self._parse(chat.other_text(text), deadline)
                )
                for label in SEVERITY_LABELS:
                    j = COLUMNS.index(label)
                    theirs[j] = max(theirs[j], p[j])
                p, scenario = theirs, their_scenario
            segs = segments(text)
            pieces = []
            if len(segs) > 1:
                parses = await asyncio.gather(*(self._parse(text[s.start : s.end], deadline) for s in segs))
                pieces = [(s, label_probabilities(r)[0]) for s, r in zip(segs, parses, strict=True)]
            readable = True
        return build_analysis(
            text,
            p,
            thresholds=self.thresholds,
            cues=cue_evidence(text),
            pieces=pieces,
            scenario=scenario,
            backend=self.name,
            readable=readable,
            not_theirs=chat.not_theirs() if chat else (),
            followup=followup,
        )

    async def aclose(self) -> None:
        await self.client.aclose()
