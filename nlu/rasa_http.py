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
from nlu.assemble import COLUMNS, Segment, build_analysis, segments
from nlu.cues import cue_evidence
from nlu.heads import GATE
from nlu.normalize import normalize
from nlu.rasa_data import rasa_text

log = logging.getLogger(__name__)

# DIET's softmax confidences, summed over the multi-intents that hold a label. Rasa has no
# out-of-fold calibration here; these were checked on the dev set (see the closing note of the NLU issue).
RASA_THRESHOLDS = {"fear": 0.5, "manipulation": 0.5, "control": 0.5, "serious": 0.5, "crisis": 0.3, GATE: 0.5}

# A server that failed gets no requests for this long, so students do not wait on a dead server;
# then one request probes it.
COOLDOWN_S = 30.0


class RasaUnavailable(Exception):
    """No Rasa server answered this message usably within the time budget."""


class _ServerFailed(Exception):
    """One server failed (connection, timeout, HTTP error status, unusable JSON): it sits out a cool-down."""


def label_probabilities(parse: dict[str, Any]) -> tuple[np.ndarray, str | None]:
    """Per-label probability (columns COLUMNS) from /model/parse's intent ranking, and the top intent."""
    ranking = parse.get("intent_ranking") or ([parse["intent"]] if parse.get("intent") else [])
    p = np.zeros(len(COLUMNS))
    for entry in ranking:
        name, confidence = str(entry.get("name", "")), float(entry.get("confidence") or 0.0)
        parts = set(name.split("+"))
        for j, label in enumerate(COLUMNS):
            if label in parts or (label == GATE and parts & {"fear", "manipulation", "control"}):
                p[j] += confidence
    top = (parse.get("intent") or {}).get("name")
    return np.clip(p, 0.0, 1.0), top


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
        if not normalize(text):
            p = np.zeros(len(COLUMNS))
            pieces: list[tuple[Segment, np.ndarray]] = []
            readable = False
        else:
            whole = await self._parse(text, deadline)
            p, _ = label_probabilities(whole)
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
            scenario=(None, 0.0),
            backend=self.name,
            readable=readable,
        )

    async def aclose(self) -> None:
        await self.client.aclose()
