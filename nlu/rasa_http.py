"""The Rasa backend: a Rasa Open Source server's POST /model/parse, with the embedded backend as fallback."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import numpy as np

from handlers.models import Analysis
from handlers.ports import Classifier
from nlu.assemble import COLUMNS, GATE, Segment, build_analysis, segments
from nlu.cues import cue_evidence
from nlu.normalize import normalize
from nlu.rasa_data import rasa_text

log = logging.getLogger(__name__)

# DIET's softmax confidences, summed over the multi-intents that hold a label. Rasa has no
# out-of-fold calibration here; these were checked on the dev set (see the closing note of the NLU issue).
RASA_THRESHOLDS = {"fear": 0.5, "manipulation": 0.5, "control": 0.5, "crisis": 0.3, GATE: 0.5}


class RasaUnavailable(Exception):
    """The Rasa server did not answer in time or answered something unusable."""


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


class RasaHttpClassifier:
    """Asks a Rasa server; when it is down, slow or broken, the embedded backend answers that message."""

    name = "rasa"

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float,
        fallback: Classifier,
        client: httpx.AsyncClient | None = None,
        thresholds: dict[str, float] | None = None,
    ) -> None:
        self.url = url.rstrip("/") + "/model/parse"
        self.timeout = timeout_s
        self.fallback = fallback
        self.client = client or httpx.AsyncClient()
        self.thresholds = thresholds or RASA_THRESHOLDS

    async def _parse(self, text: str) -> dict[str, Any]:
        try:
            response = await self.client.post(self.url, json={"text": rasa_text(text)}, timeout=self.timeout)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise RasaUnavailable(type(exc).__name__) from exc
        if not isinstance(data, dict) or "intent" not in data:
            raise RasaUnavailable("unexpected answer")
        return data

    async def analyze(self, text: str) -> Analysis:
        """Tactics, crisis and evidence from Rasa; the embedded backend's answer if Rasa fails."""
        try:
            async with asyncio.timeout(self.timeout * 2):
                return await self._analyze(text)
        except (RasaUnavailable, TimeoutError) as exc:
            log.warning(
                "rasa unavailable; embedded backend answers", extra={"backend": "rasa", "error": str(exc)}
            )
            return await self.fallback.analyze(text)

    async def _analyze(self, text: str) -> Analysis:
        analysis = await self._from_rasa(text)
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

    async def _from_rasa(self, text: str) -> Analysis:
        if not normalize(text):
            p = np.zeros(len(COLUMNS))
            pieces: list[tuple[Segment, np.ndarray]] = []
            readable = False
        else:
            whole = await self._parse(text)
            p, _ = label_probabilities(whole)
            segs = segments(text)
            pieces = []
            if len(segs) > 1:
                parses = await asyncio.gather(*(self._parse(text[s.start : s.end]) for s in segs))
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
