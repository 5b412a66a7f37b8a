"""The Rasa adapter without Rasa: recorded /model/parse answers, broken answers, a down or slow server."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from nlu.embedded import EmbeddedClassifier
from nlu.rasa_http import RasaHttpClassifier, label_probabilities

# Recorded from `rasa run` serving notalone's model (intent_ranking shortened).
RECORDED = {
    "text": "chuyen khoan __money__ ngay khong tao tung anh may len group truong",
    "intent": {"name": "fear+control+crisis", "confidence": 0.55},
    "entities": [],
    "intent_ranking": [
        {"name": "fear+control+crisis", "confidence": 0.55},
        {"name": "fear+control", "confidence": 0.35},
        {"name": "benign", "confidence": 0.06},
        {"name": "manipulation+control", "confidence": 0.04},
    ],
}


def mock(handler) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


class TestRecordedAnswers:
    def test_label_probabilities_sum_the_intents_holding_each_label(self) -> None:
        p, top = label_probabilities(RECORDED)
        fear, manipulation, control, crisis, any_tactic = p
        assert top == "fear+control+crisis"
        assert fear == pytest.approx(0.90) and control == pytest.approx(0.94)
        assert manipulation == pytest.approx(0.04) and crisis == pytest.approx(0.55)
        assert any_tactic == pytest.approx(0.94)

    async def test_analysis_from_rasa_with_evidence(self, embedded: EmbeddedClassifier) -> None:
        sent: list[str] = []

        def handler(request: httpx.Request) -> httpx.Response:
            sent.append(json.loads(request.content)["text"])
            return httpx.Response(200, json=RECORDED)

        text = "ck 2tr ngay ko t tung anh m len group truong"
        rasa = RasaHttpClassifier("http://rasa.test", timeout_s=1, fallback=embedded, client=mock(handler))
        analysis = await rasa.analyze(text)
        assert analysis.backend == "rasa"
        assert {t.value for t in analysis.tactics} == {"fear", "control"} and analysis.crisis
        assert sent == [RECORDED["text"]]  # Rasa gets the normalised text
        for ev in analysis.evidence:
            assert text[ev.start : ev.end] == ev.text


class TestFallback:
    @pytest.mark.parametrize(
        "response",
        [
            httpx.Response(500, text="boom"),
            httpx.Response(200, text="<html>not json"),
            httpx.Response(200, json={"no": "intent"}),
            httpx.Response(404, json={"status": "failure"}),
        ],
    )
    async def test_broken_answer_falls_back_to_embedded(
        self, embedded: EmbeddedClassifier, response: httpx.Response, caplog: pytest.LogCaptureFixture
    ) -> None:
        rasa = RasaHttpClassifier(
            "http://rasa.test", timeout_s=1, fallback=embedded, client=mock(lambda r: response)
        )
        with caplog.at_level(logging.WARNING):
            analysis = await rasa.analyze("mình không muốn sống nữa")
        assert analysis.backend == "embedded" and analysis.crisis
        assert "rasa unavailable" in caplog.text
        assert "không muốn sống" not in caplog.text  # the message itself is never logged

    async def test_server_down(self, embedded: EmbeddedClassifier) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # closed again: nothing listens there
        rasa = RasaHttpClassifier(f"http://127.0.0.1:{port}", timeout_s=1, fallback=embedded)
        analysis = await rasa.analyze("Chuyển tiền ngay không tao tung ảnh")
        assert analysis.backend == "embedded" and analysis.tactics

    @pytest.fixture
    async def silent_server(self) -> AsyncIterator[int]:
        """A server on 127.0.0.1 that accepts connections and never answers."""

        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(30)
            writer.close()

        server = await asyncio.start_server(hold, "127.0.0.1", 0)
        yield server.sockets[0].getsockname()[1]
        server.close()

    async def test_slow_server_does_not_keep_the_student_waiting(
        self, embedded: EmbeddedClassifier, silent_server: int
    ) -> None:
        rasa = RasaHttpClassifier(f"http://127.0.0.1:{silent_server}", timeout_s=0.3, fallback=embedded)
        started = time.perf_counter()
        analysis = await rasa.analyze("Chuyển tiền ngay không tao tung ảnh")
        assert time.perf_counter() - started < 1.5
        assert analysis.backend == "embedded"
        await rasa.aclose()
