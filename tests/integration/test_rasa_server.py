"""The Rasa backend against a real Rasa Open Source server, set up, trained and started by the fixture:
notalone's component in Rasa's pipeline, on par with the embedded backend on the dev set.

The first run installs Rasa into its own Python 3.10 venv (about 2 minutes) and trains (about 2 minutes);
later runs reuse both from NOTALONE_TEST_RASA_HOME (default: data/rasa under the repo).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from handlers.followup import FOLLOWUP_MIN
from nlu.assemble import COLUMNS
from nlu.data import DEV_DIR, load_examples
from nlu.embedded import EmbeddedClassifier
from nlu.evaluate import evaluate, evaluate_followups
from nlu.rasa_data import rasa_text
from nlu.rasa_http import SCENARIO_PREFIX, RasaHttpClassifier, label_probabilities
from nlu.rasa_server import start, train, validate
from tests.integration.conftest import free_port

pytestmark = [pytest.mark.rasa, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
HOME = Path(os.environ.get("NOTALONE_TEST_RASA_HOME", ROOT / "data" / "rasa"))
# The Rasa backend's dev-set macro-F1 (overall, per style, per language) stays within this of the
# embedded backend's.
PARITY = 0.03


@pytest.fixture(scope="module")
def rasa_url() -> Iterator[str]:
    validate(HOME, None)
    model = train(HOME, None)
    port = free_port()
    process = start(HOME, model, port, HOME / "logs" / "test-server.log")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"rasa server exited with {process.returncode}; see {HOME / 'logs'}")
            try:
                if httpx.get(f"{url}/status", timeout=2).json().get("model_file"):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(1)
        else:
            pytest.fail("rasa server did not become ready in 180 s")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


class TestRealRasa:
    def test_training_data_validates(self) -> None:
        validate(HOME, None)  # `rasa data validate --fail-on-warnings`; raises on any problem

    async def test_scams_and_crisis(self, rasa_url: str, embedded: EmbeddedClassifier) -> None:
        rasa = RasaHttpClassifier(rasa_url, timeout_s=5, fallback=embedded)
        scams = [
            "Cục Cảnh sát: bạn liên quan đường dây rửa tiền. Không được nói với ai, chuyển tiền vào tài khoản ngay.",
            "ck 2tr ngay ko t tung anh m len group truong",
            "Chúc mừng bạn trúng iPhone 15! Bấm link nhanqua-iphone.top và nộp phí ship 99k để nhận quà nhé.",
            "em ơi anh thương em lắm, mình qua telegram nói chuyện riêng nha, đừng kể với bố mẹ",
            "gui ma otp cho a nhanh len ko la mat acc game day",
            "Tuyển CTV làm nhiệm vụ like TikTok, lương 500k/ngày, nạp trước 200k để kích hoạt tài khoản.",
        ]
        analyses = [await rasa.analyze(text) for text in scams]
        assert {a.backend for a in analyses} == {"rasa"}
        assert sum(bool(a.tactics) for a in analyses) >= 5
        for text, analysis in zip(scams, analyses, strict=True):
            # Each tactic is quoted from a clause of its own (nlu/assemble.py): a one-clause message
            # with two tactics quotes one of them.
            found = {t.value for t in analysis.tactics}
            assert not found or {ev.tactic for ev in analysis.evidence} & found
            assert {ev.tactic for ev in analysis.evidence} <= found | {"crisis"}
            for ev in analysis.evidence:
                assert text[ev.start : ev.end] == ev.text
        crisis = await rasa.analyze("tối nay mình sẽ uống hết chỗ thuốc này, mệt lắm rồi")
        assert crisis.crisis and crisis.backend == "rasa"
        empty = await rasa.analyze("😀😀😀")
        assert not empty.tactics and not empty.crisis
        await rasa.aclose()

    def test_parse_answers_each_label_the_gate_and_scenarios(self, rasa_url: str) -> None:
        text = rasa_text("ck 2tr ngay ko t tung anh m len group truong")
        parse = httpx.post(f"{rasa_url}/model/parse", json={"text": text}, timeout=10).json()
        ranking = {e["name"]: e["confidence"] for e in parse["intent_ranking"]}
        assert set(COLUMNS) <= set(ranking)  # one entry per label and the gate
        assert any(name.startswith(SCENARIO_PREFIX) for name in ranking)
        assert all(0.0 <= c <= 1.0 for c in ranking.values())
        # The intent is what the 0.5 thresholds decide.
        assert {"fear", "control"} <= set(parse["intent"]["name"].split("+"))
        p, scenario = label_probabilities(parse)
        assert p[COLUMNS.index("fear")] >= 0.5 and scenario[0] is not None

    async def test_dev_set_through_rasa_matches_the_embedded_backend(
        self, rasa_url: str, embedded: EmbeddedClassifier
    ) -> None:
        rasa = RasaHttpClassifier(rasa_url, timeout_s=5, fallback=embedded)
        dev = load_examples(DEV_DIR)
        analyses = [await rasa.analyze(e.text) for e in dev]
        await rasa.aclose()
        assert {a.backend for a in analyses} == {"rasa"}
        report = evaluate(dev, analyses, resamples=50)
        baseline = evaluate(dev, embedded.analyze_batch([e.text for e in dev]), resamples=50)
        # Parity: within PARITY macro-F1 of the embedded backend, overall, per style and per language.
        assert report.macro >= baseline.macro - PARITY
        for group, (f1, _) in [*report.per_style.items(), *(report.per_lang or {}).items()]:
            reference = {**baseline.per_style, **(baseline.per_lang or {})}[group][0]
            assert f1 >= reference - PARITY, group
        # Crisis is Rasa's head OR the separate detector: never fewer crises than the embedded backend.
        assert report.crisis.recall >= baseline.crisis.recall
        assert report.benign_flagged <= 0.08
        # Answers with a tactic get a scenario's guide, and mostly the right one.
        shown = [(e, a) for e, a in zip(dev, analyses, strict=True) if a.scenario]
        assert len(shown) >= 0.4 * sum(bool(a.tactics) for a in analyses)
        assert sum(e.scenario == a.scenario for e, a in shown) >= 0.8 * len(shown)

    async def test_follow_up_replies_are_read_as_by_the_embedded_backend(
        self, rasa_url: str, embedded: EmbeddedClassifier
    ) -> None:
        # Issue 17: the follow-up intents are in the Rasa training data like the tactics, so the Rasa
        # backend reads a student's reply as well as the embedded one (the same head, learnt by Rasa).
        every = load_examples(DEV_DIR, followups=True)
        replies = [e for e in every if e.followup is not None]
        rasa = RasaHttpClassifier(rasa_url, timeout_s=5, fallback=embedded)
        read = [await rasa.analyze(e.text) for e in replies]
        await rasa.aclose()
        assert {a.backend for a in read} == {"rasa"}
        report = evaluate_followups(replies, read, [], FOLLOWUP_MIN)
        reference = evaluate_followups(
            replies, embedded.analyze_batch([e.text for e in replies]), [], FOLLOWUP_MIN
        )
        assert report.accuracy >= reference.accuracy - 0.03, report.render()
        assert report.accuracy >= 0.88

    async def test_no_dev_crisis_is_missed_but_the_known_one(
        self, rasa_url: str, embedded: EmbeddedClassifier
    ) -> None:
        # Goal: every dev crisis seen. One is not yet, by either backend (docs/nlu.md, Numbers): a leak
        # threat with a midnight deadline (the embedded backend calls it serious, Rasa's serious head
        # does not). Any other miss fails; so does that one losing its threat and its demand.
        known = "Mày nghĩ block là xong à? Tao có đủ 14 tấm."
        rasa = RasaHttpClassifier(rasa_url, timeout_s=5, fallback=embedded)
        crises = [e for e in load_examples(DEV_DIR) if e.crisis]
        read = {e.text: await rasa.analyze(e.text) for e in crises}
        await rasa.aclose()
        missed = [text for text, a in read.items() if not a.crisis]
        assert all(text.startswith(known) for text in missed), missed
        assert all({"fear", "control"} <= {t.value for t in read[text].tactics} for text in missed)

    def test_classify_cli_with_rasa_backend(self, rasa_url: str, nlu_cache: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALONE_")}
        env.update(
            {
                "NOTALONE_NLU__BACKEND": "rasa",
                "NOTALONE_NLU__URL": rasa_url,
                "NOTALONE_NLU__CACHE_DIR": str(nlu_cache),
            }
        )
        lines = b'{"id": "a", "text": "gui ma otp cho a nhanh len ko la mat acc"}\n{"id": 2, "text": ""}\n'
        done = subprocess.run(
            [str(Path(sys.executable).parent / "notalone"), "nlu", "classify", "--jsonl"],
            input=lines,
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        out = [json.loads(line) for line in done.stdout.decode().splitlines()]
        assert [o["id"] for o in out] == ["a", 2]
        assert out[0]["backend"] == "rasa" and out[0]["tactics"]
        assert set(out[0]) >= {"id", "tactics", "scores", "crisis", "evidence", "backend"}
