"""The Rasa adapter without Rasa: recorded /model/parse answers, broken answers, a down or slow server,
and a pool of local imitation servers."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from pydantic import ValidationError

from bot.settings import ConfigError, load_settings
from nlu import build_classifier
from nlu.assemble import COLUMNS
from nlu.data import TACTICS
from nlu.embedded import EmbeddedClassifier
from nlu.rasa_http import COOLDOWN_S, RASA_THRESHOLDS, RasaHttpClassifier, label_probabilities
from nlu.settings import RasaNlu

# Recorded from `rasa run` serving notalone's model (nlu/rasa/config.yml: notalone's component): one
# entry per label, the gate and the likeliest scenarios, each rescaled so that its threshold is 0.5.
RECORDED = {
    "text": "chuyen khoan __money__ ngay khong tao tung anh may len group truong",
    "intent": {"name": "fear+control+crisis", "confidence": 0.500332},
    "entities": [],
    "intent_ranking": [
        {"name": "any", "confidence": 0.987173},
        {"name": "fear", "confidence": 0.973889},
        {"name": "control", "confidence": 0.962946},
        {"name": "scenario/cyberbullying_threat", "confidence": 0.615068},
        {"name": "serious", "confidence": 0.608717},
        {"name": "crisis", "confidence": 0.500332},
        {"name": "manipulation", "confidence": 0.327942},
        {"name": "scenario/sextortion", "confidence": 0.294336},
        {"name": "scenario/loan_app", "confidence": 0.04608},
    ],
}
RECORDED_BENIGN = {
    "text": "mai kiem tra toan __num__ phut nha ca lop",
    "intent": {"name": "benign", "confidence": 0.643626},
    "entities": [],
    "intent_ranking": [
        {"name": "crisis", "confidence": 0.356374},
        {"name": "scenario/sextortion", "confidence": 0.1858},
        {"name": "scenario/investment", "confidence": 0.177043},
        {"name": "scenario/loan_app", "confidence": 0.133152},
        {"name": "fear", "confidence": 0.060662},
        {"name": "any", "confidence": 0.027784},
        {"name": "control", "confidence": 0.021493},
        {"name": "serious", "confidence": 0.018729},
        {"name": "manipulation", "confidence": 0.006282},
    ],
}
# Recorded from a DIET pipeline (combination intents, intent_ranking shortened): still readable.
RECORDED_DIET = {
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
    def test_label_probabilities_are_the_per_label_entries(self) -> None:
        p, scenario = label_probabilities(RECORDED)
        assert dict(zip(COLUMNS, p, strict=True)) == pytest.approx(
            {
                "fear": 0.973889,
                "manipulation": 0.327942,
                "control": 0.962946,
                "serious": 0.608717,
                "crisis": 0.500332,
                "any": 0.987173,
            }
        )
        assert scenario == ("cyberbullying_threat", pytest.approx(0.615068))
        assert set(RASA_THRESHOLDS.values()) == {0.5}  # the component put every threshold at 0.5

    def test_combination_intents_are_summed_per_label(self) -> None:
        p, scenario = label_probabilities(RECORDED_DIET)
        fear, manipulation, control, serious, crisis, any_tactic = p
        assert fear == pytest.approx(0.90) and control == pytest.approx(0.94)
        assert manipulation == pytest.approx(0.04) and serious == 0.0
        assert any_tactic == pytest.approx(0.94)
        # DIET's crisis threshold (0.3) is mapped to 0.5: 0.55 -> 0.5 + 0.5 * 0.25 / 0.7.
        assert crisis == pytest.approx(0.5 + 0.5 * 0.25 / 0.7)
        assert scenario == (None, 0.0)

    @pytest.mark.parametrize(
        "ranking",
        [
            ["fear", 3, None],
            [{"name": "fear", "confidence": "high"}, {"name": "any", "confidence": float("nan")}],
            [{"confidence": 0.9}, {"name": "any"}],
            "fear",
        ],
    )
    def test_malformed_ranking_entries_count_for_nothing(self, ranking: Any) -> None:
        p, scenario = label_probabilities({"intent": {"name": "x"}, "intent_ranking": ranking})
        assert not p[: len(TACTICS)].any() and scenario == (None, 0.0)

    async def test_analysis_from_rasa_with_evidence_and_scenario(self, embedded: EmbeddedClassifier) -> None:
        sent: list[str] = []

        def handler(request: httpx.Request) -> httpx.Response:
            sent.append(json.loads(request.content)["text"])
            return httpx.Response(200, json=RECORDED)

        text = "ck 2tr ngay ko t tung anh m len group truong"
        rasa = RasaHttpClassifier("http://rasa.test", timeout_s=1, fallback=embedded, client=mock(handler))
        analysis = await rasa.analyze(text)
        assert analysis.backend == "rasa"
        assert {t.value for t in analysis.tactics} == {"fear", "control"} and analysis.crisis
        assert analysis.scenario == "cyberbullying_threat"
        assert sent == [RECORDED["text"]]  # Rasa gets the normalised text
        for ev in analysis.evidence:
            assert text[ev.start : ev.end] == ev.text

    async def test_benign_answer_has_no_tactic_and_no_scenario(self, embedded: EmbeddedClassifier) -> None:
        rasa = RasaHttpClassifier(
            "http://rasa.test",
            timeout_s=1,
            fallback=embedded,
            client=mock(lambda r: httpx.Response(200, json=RECORDED_BENIGN)),
        )
        analysis = await rasa.analyze("mai kiểm tra toán 15 phút nha cả lớp")
        assert analysis.backend == "rasa"
        assert not analysis.tactics and not analysis.crisis and analysis.scenario is None


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


def closed_port_url() -> str:
    """An address on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class FakeRasa:
    """A local imitation of `rasa run --enable-api`: POST /model/parse answers `answer`
    ("ok": the recorded parse, "500", "400", "hang": no answer until the server stops)."""

    answer: str = "ok"
    texts: list[str] = field(default_factory=list)
    url: str = ""
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/model/parse", self._parse)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._release.set()
        await self._runner.cleanup()

    async def _parse(self, request: web.Request) -> web.Response:
        text = (await request.json())["text"]
        self.texts.append(text)
        if self.answer == "hang":
            await self._release.wait()
        if self.answer in ("500", "400"):
            return web.json_response({"status": "failure", "reason": "ParsingError"}, status=int(self.answer))
        return web.json_response({**RECORDED, "text": text})


StartRasa = Callable[..., Awaitable[FakeRasa]]
MakePool = Callable[..., RasaHttpClassifier]


@pytest.fixture
async def fake_rasa() -> AsyncIterator[StartRasa]:
    """Starts imitation Rasa servers on free ports; all are stopped after the test."""
    started: list[FakeRasa] = []

    async def start(answer: str = "ok") -> FakeRasa:
        server = FakeRasa(answer)
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


@pytest.fixture
async def pool(embedded: EmbeddedClassifier) -> AsyncIterator[MakePool]:
    """Builds RasaHttpClassifiers over a list of URLs; their shared clients are closed after the test."""
    made: list[RasaHttpClassifier] = []

    def make(urls: list[str], timeout_s: float = 2.0, **options: Any) -> RasaHttpClassifier:
        rasa = RasaHttpClassifier(urls, timeout_s=timeout_s, fallback=embedded, **options)
        made.append(rasa)
        return rasa

    yield make
    for rasa in made:
        await rasa.aclose()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


SCAM = "ck 2tr ngay ko t tung anh m len group truong"  # one clause: one /model/parse per message


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


class TestPool:
    async def test_requests_take_turns_over_the_servers(self, fake_rasa: StartRasa, pool: MakePool) -> None:
        a, b = await fake_rasa(), await fake_rasa()
        rasa = pool([a.url, b.url])
        backends = [(await rasa.analyze(SCAM)).backend for _ in range(6)]
        assert backends == ["rasa"] * 6
        assert (len(a.texts), len(b.texts)) == (3, 3)

    async def test_a_closed_port_leaves_the_other_server_answering(
        self,
        fake_rasa: StartRasa,
        pool: MakePool,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        b = await fake_rasa()
        rasa = pool([closed_port_url(), b.url])
        with caplog.at_level(logging.INFO):
            backends = [(await rasa.analyze(SCAM)).backend for _ in range(4)]
        assert backends == ["rasa"] * 4  # the embedded fallback never answered
        assert len(b.texts) == 4
        assert warnings_of(caplog) == []
        [down] = [r for r in caplog.records if r.getMessage() == "rasa server down for a cool-down"]
        assert down.error.startswith("rasa[0] 127.0.0.1:") and down.error.endswith("ConnectError")  # type: ignore[attr-defined]

    async def test_a_server_answering_500_is_retried_on_the_other_within_the_budget(
        self,
        fake_rasa: StartRasa,
        pool: MakePool,
    ) -> None:
        bad, good = await fake_rasa("500"), await fake_rasa()
        rasa = pool([bad.url, good.url], timeout_s=1.0)
        started = time.perf_counter()
        analysis = await rasa.analyze(SCAM)
        assert time.perf_counter() - started < 1.0
        assert analysis.backend == "rasa" and analysis.crisis
        assert (len(bad.texts), len(good.texts)) == (1, 1)  # the same message, asked once more
        for _ in range(3):
            assert (await rasa.analyze(SCAM)).backend == "rasa"
        assert (len(bad.texts), len(good.texts)) == (1, 4)  # the failed server is cooling down

    async def test_a_hung_server_leaves_time_for_the_retry(
        self, fake_rasa: StartRasa, pool: MakePool
    ) -> None:
        hung, good = await fake_rasa("hang"), await fake_rasa()
        rasa = pool([hung.url, good.url], timeout_s=0.6)
        started = time.perf_counter()
        analysis = await rasa.analyze(SCAM)
        assert time.perf_counter() - started < 0.6
        assert analysis.backend == "rasa"
        assert (len(hung.texts), len(good.texts)) == (1, 1)

    async def test_every_server_down_the_embedded_backend_answers_with_one_warning(
        self,
        fake_rasa: StartRasa,
        pool: MakePool,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        bad = await fake_rasa("500")
        rasa = pool([bad.url, closed_port_url()])
        text = "mình không muốn sống nữa"
        with caplog.at_level(logging.INFO):
            analysis = await rasa.analyze(text)
        assert analysis.backend == "embedded" and analysis.crisis
        [warning] = warnings_of(caplog)
        assert "rasa unavailable" in warning.getMessage()
        error = warning.error  # type: ignore[attr-defined]
        assert "rasa[0] 127.0.0.1:" in error and "HTTP 500" in error
        assert "rasa[1] 127.0.0.1:" in error and "ConnectError" in error
        assert "không muốn sống" not in caplog.text and "khong muon song" not in caplog.text

        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert (await rasa.analyze(text)).backend == "embedded"
        assert len(bad.texts) == 1  # both cooling down: nobody was asked
        assert len(warnings_of(caplog)) == 1

    async def test_a_student_never_waits_past_the_budget(self, fake_rasa: StartRasa, pool: MakePool) -> None:
        first, second = await fake_rasa("hang"), await fake_rasa("hang")
        rasa = pool([first.url, second.url], timeout_s=0.4)
        started = time.perf_counter()
        analysis = await rasa.analyze(SCAM)
        assert time.perf_counter() - started < 0.55
        assert analysis.backend == "embedded"
        assert (len(first.texts), len(second.texts)) == (1, 1)

    async def test_a_server_is_asked_again_after_its_cool_down(
        self, fake_rasa: StartRasa, pool: MakePool
    ) -> None:
        clock = FakeClock()
        a, b = await fake_rasa("500"), await fake_rasa()
        rasa = pool([a.url, b.url], clock=clock)
        for _ in range(3):
            assert (await rasa.analyze(SCAM)).backend == "rasa"
        assert (len(a.texts), len(b.texts)) == (1, 3)
        a.answer = "ok"
        clock.now += COOLDOWN_S - 1
        await rasa.analyze(SCAM)
        assert len(a.texts) == 1  # still cooling down
        clock.now += 1
        for _ in range(4):
            assert (await rasa.analyze(SCAM)).backend == "rasa"
        assert (len(a.texts), len(b.texts)) == (3, 6)  # back in turn

    async def test_after_its_cool_down_one_request_probes_a_server(
        self, fake_rasa: StartRasa, pool: MakePool
    ) -> None:
        clock = FakeClock()
        a, b = await fake_rasa("500"), await fake_rasa()
        rasa = pool([a.url, b.url], clock=clock, cooldown_s=5)
        await rasa.analyze(SCAM)
        clock.now += 5
        analyses = await asyncio.gather(*(rasa.analyze(SCAM) for _ in range(4)))
        assert [x.backend for x in analyses] == ["rasa"] * 4
        assert len(a.texts) == 2  # the first failure and a single probe, not one request in two

    async def test_a_message_rasa_refuses_does_not_take_the_server_down(
        self, fake_rasa: StartRasa, pool: MakePool
    ) -> None:
        a, b = await fake_rasa("400"), await fake_rasa()
        rasa = pool([a.url, b.url])
        assert (await rasa.analyze(SCAM)).backend == "embedded"
        assert len(b.texts) == 0  # another server would refuse the same message
        await rasa.analyze(SCAM)
        await rasa.analyze(SCAM)
        assert (len(a.texts), len(b.texts)) == (2, 1)  # a kept its turn

    async def test_clause_parses_are_spread_too(self, fake_rasa: StartRasa, pool: MakePool) -> None:
        a, b = await fake_rasa(), await fake_rasa()
        rasa = pool([a.url, b.url])
        text = "Cục Cảnh sát: bạn liên quan đường dây rửa tiền. Không được nói với ai, chuyển tiền vào tài khoản ngay."
        await rasa.analyze(text)
        assert len(a.texts) + len(b.texts) >= 3 and abs(len(a.texts) - len(b.texts)) <= 1


class TestPoolSettings:
    def test_urls_make_the_pool_and_url_stays_one_server(self) -> None:
        assert RasaNlu().pool == ["http://127.0.0.1:5005"]
        assert RasaNlu(url="https://rasa.example").pool == ["https://rasa.example"]
        urls = ["http://10.0.0.5:5005", "https://rasa-2.internal/"]
        assert RasaNlu(urls=urls).pool == urls

    def test_urls_from_config_yaml_and_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = tmp_path / "config.yaml"
        path.write_text(
            "nlu:\n  backend: rasa\n  urls:\n    - http://10.0.0.5:5005\n    - http://10.0.0.6:5005\n",
            encoding="utf-8",
        )
        nlu = load_settings(path).nlu
        assert isinstance(nlu, RasaNlu) and nlu.pool == ["http://10.0.0.5:5005", "http://10.0.0.6:5005"]
        monkeypatch.setenv("NOTALONE_NLU__URLS", '["http://10.0.0.7:5005"]')
        nlu = load_settings(path).nlu
        assert isinstance(nlu, RasaNlu) and nlu.pool == ["http://10.0.0.7:5005"]

    @pytest.mark.parametrize(
        ("urls", "problem"),
        [
            (["http://10.0.0.5:5005", "10.0.0.6:5005"], "entry 2 must start with http:// or https://"),
            (["ftp://10.0.0.5"], "entry 1 must start with http:// or https://"),
            (["http://"], "entry 1 has no host"),
            (["http://a:5005", "http://a:5005/"], "lists the same server twice"),
        ],
    )
    def test_a_bad_pool_is_refused(self, urls: list[str], problem: str) -> None:
        with pytest.raises(ValidationError, match=problem):
            RasaNlu(urls=urls)

    def test_a_bad_url_names_the_key_and_file(self, tmp_path: Path) -> None:
        path = tmp_path / "config.yaml"
        path.write_text(
            "nlu:\n  backend: rasa\n  urls: [http://10.0.0.5:5005, localhost:5005]\n", encoding="utf-8"
        )
        with pytest.raises(ConfigError) as err:
            load_settings(path)
        assert str(err.value) == f"{path}: nlu.urls: Value error, entry 2 must start with http:// or https://"
        with pytest.raises(ValidationError, match="must start with http:// or https://"):
            RasaNlu(url="localhost:5005")

    def test_url_and_urls_together_are_refused(self) -> None:
        with pytest.raises(ValidationError, match="not both"):
            RasaNlu(url="http://10.0.0.5:5005", urls=["http://10.0.0.6:5005"])

    async def test_build_classifier_asks_the_pool(self, nlu_cache: Path) -> None:
        rasa = build_classifier(
            RasaNlu(urls=["http://10.0.0.5:5005", "http://10.0.0.6:5005/"], cache_dir=nlu_cache)
        )
        assert isinstance(rasa, RasaHttpClassifier)
        assert [s.parse_url for s in rasa.pool.servers] == [
            "http://10.0.0.5:5005/model/parse",
            "http://10.0.0.6:5005/model/parse",
        ]
        await rasa.aclose()
