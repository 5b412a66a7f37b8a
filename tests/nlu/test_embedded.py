"""The embedded backend, trained from the real data: labels, evidence, bad input, caching, dev-set guard."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from handlers.followup import FOLLOWUP_MIN
from nlu.data import DEV_DIR, TRAINING_DIR, load_examples
from nlu.embedded import EmbeddedClassifier, load_or_train, model_path
from nlu.evaluate import evaluate, evaluate_followups

CASES = [
    # (text, tactics that must be found (exactly, when none), crisis)
    ("ck 2tr ngay ko t tung anh m len group truong", {"fear", "control"}, True),
    (
        "Cục Cảnh sát: bạn liên quan đường dây rửa tiền. Không được nói với ai, chuyển 20 triệu vào tài khoản "
        "tạm giữ ngay hôm nay.",
        {"fear", "control"},
        False,
    ),
    (
        "Chúc mừng bạn được chọn nhận 500 kim cương Free Fire miễn phí, đăng nhập link ff-quatang.top để nhận",
        {"manipulation", "control"},
        False,
    ),
    ("mình ko muốn sống nữa, mệt lắm rồi", set(), True),
    ("mai kiểm tra toán 15 phút nha cả lớp", set(), False),
]


class TestLabels:
    @pytest.mark.parametrize(("text", "tactics", "crisis"), CASES)
    async def test_case(
        self, embedded: EmbeddedClassifier, text: str, tactics: set[str], crisis: bool
    ) -> None:
        analysis = await embedded.analyze(text)
        found = {t.value for t in analysis.tactics}
        assert found >= tactics if tactics else not found
        assert analysis.crisis is crisis
        assert analysis.backend == "embedded"
        assert set(analysis.scores) == {"fear", "manipulation", "control"}

    async def test_teen_spelling_is_understood(self, embedded: EmbeddedClassifier) -> None:
        plain = await embedded.analyze(
            "Không được nói với bố mẹ, chuyển tiền ngay không tao đăng ảnh của mày"
        )
        teen = await embedded.analyze("ko dc ns vs bme, ck tien ngay k t dang anh cua m")
        assert {t.value for t in teen.tactics} == {t.value for t in plain.tactics} >= {"fear", "control"}


class TestEvidence:
    def test_spans_point_into_the_original_text_and_are_short(self, embedded: EmbeddedClassifier) -> None:
        dev = load_examples(DEV_DIR)
        named = quoted = 0
        for example, analysis in zip(dev, embedded.analyze_batch([e.text for e in dev]), strict=True):
            named += len(analysis.tactics)
            quoted += sum(1 for t in analysis.tactics if analysis.evidence_for(t.value))
            if analysis.crisis:
                assert analysis.evidence_for("crisis")
            for ev in analysis.evidence:
                assert example.text[ev.start : ev.end] == ev.text and ev.text.strip()
                if ev.tactic != "crisis":
                    assert len(ev.text.split()) <= 15, ev.text
        # A tactic no clause of its own shows gets no quote (and is not named); most are shown by one.
        assert quoted / named >= 0.9

    async def test_each_tactic_quotes_its_own_clause(self, embedded: EmbeddedClassifier) -> None:
        text = (
            "Chúc mừng bạn trúng thưởng iPhone 15. Để nhận quà hãy chuyển phí 300k vào tài khoản 0123456789."
        )
        analysis = await embedded.analyze(text)
        assert "trúng thưởng" in analysis.evidence_for("manipulation")[0].text
        assert "chuyển phí" in analysis.evidence_for("control")[0].text


class TestBadInput:
    @pytest.mark.parametrize(
        "text",
        [
            "",
            "   \n\t",
            "😀😂🥺" * 30,
            "a" * 100_000,
            "https://example.com/abc",
            "0912345678 123 456",
            "Привет мир 你好 مرحبا こんにちは",
            "\x00\x01\x02",
            "?!?!",
        ],
    )
    async def test_valid_analysis_without_labels(self, embedded: EmbeddedClassifier, text: str) -> None:
        analysis = await embedded.analyze(text)
        assert not analysis.tactics and not analysis.crisis

    async def test_crisis_said_in_emoji_heavy_text_is_still_seen(self, embedded: EmbeddedClassifier) -> None:
        assert (await embedded.analyze("😭😭😭 t muốn chết 💔💔")).crisis


class TestCache:
    def test_cached_model_is_reused_and_rebuilt_when_data_changes(self, tmp_path: Path) -> None:
        data = tmp_path / "data"
        shutil.copytree(TRAINING_DIR, data)
        cache = tmp_path / "cache"
        first = load_or_train(cache, data)
        path, _ = model_path(cache, data)
        stamp = path.stat().st_mtime_ns
        assert load_or_train(cache, data).fingerprint == first.fingerprint
        assert path.stat().st_mtime_ns == stamp  # loaded, not retrained
        extra = data / "extra.yml"
        extra.write_text(
            'version: "3.1"\nnlu:\n- intent: benign\n  metadata:\n    style: teen\n    scenario: everyday\n'
            "  examples: |\n    - hôm nay căng tin có bánh mì pate ngon xỉu\n",
            encoding="utf-8",
        )
        second = load_or_train(cache, data)
        assert second.fingerprint != first.fingerprint
        assert list(cache.glob("embedded-*.pkl")) == [model_path(cache, data)[0]]

    def test_corrupt_cache_file_is_replaced(self, nlu_cache: Path, tmp_path: Path) -> None:
        cache = tmp_path / "cache"
        shutil.copytree(nlu_cache, cache)
        path, _ = model_path(cache, TRAINING_DIR)
        path.write_bytes(b"not a pickle")
        assert load_or_train(cache).thresholds


class TestDevSetGuard:
    def test_dev_scores_do_not_regress(self, embedded: EmbeddedClassifier) -> None:
        # Measured on the 732 dev messages when this guard was last moved (issue 17, with the follow-up
        # replies in training): macro-F1 0.893; imminent recall 0.990 (1 of 99 missed, answered as
        # serious), precision 0.845, 6 benign messages imminent (the floor moved from 5: one more
        # family message read as imminent); serious-or-imminent recall 0.929, precision 0.888; 4.5% of
        # benign messages with a tactic; described 0.858 the weakest style; English 0.909, mixed 0.895.
        # A drop below these floors means a change to data, normaliser or model made the bot worse.
        dev = load_examples(DEV_DIR)
        report = evaluate(dev, embedded.analyze_batch([e.text for e in dev]), resamples=50)
        assert report.macro >= 0.88
        assert report.crisis.recall >= 0.97
        assert report.crisis.precision >= 0.82
        assert report.benign_imminent <= 6
        assert report.serious is not None
        assert report.serious.recall >= 0.92 and report.serious.precision >= 0.86
        assert report.benign_flagged <= 0.05
        assert all(f >= 0.84 for f, _ in report.per_style.values())
        assert all(f >= 0.85 for f, _ in report.per_lang.values())

    def test_follow_up_replies_are_read_and_messages_are_not_taken_for_them(
        self, embedded: EmbeddedClassifier
    ) -> None:
        # Issue 17, measured on the 198 dev replies (written blind) when this guard was set: 0.934 of
        # replies read as their intent at the answering bar, every intent's F1 above 0.88; 6.3% of the
        # 732 dev messages read as a reply (a message with a tactic needs more before it is answered as
        # one, and a crisis always comes first).
        every = load_examples(DEV_DIR, followups=True)
        replies = [e for e in every if e.followup is not None]
        messages = [e for e in every if e.followup is None]
        report = evaluate_followups(
            replies,
            embedded.analyze_batch([e.text for e in replies]),
            embedded.analyze_batch([e.text for e in messages]),
            FOLLOWUP_MIN,
        )
        assert report.replies >= 190
        assert report.accuracy >= 0.90
        assert all(s.f1 >= 0.85 for s in report.per_intent.values()), report.render()
        assert report.messages_taken <= 0.08


def test_fast_features_are_sklearns(embedded: EmbeddedClassifier) -> None:
    """The TF-IDF computed without sklearn's per-call checks is exactly sklearn's own, empty and
    unknown texts included; and one batch's follow-ups are those of the texts alone."""
    import numpy as np
    from scipy import sparse

    from nlu import heads
    from nlu.normalize import normalize

    model = embedded.model
    texts = [normalize(e.text) for e in load_examples(DEV_DIR)[:200]] + ["", "zzzq xqxq", "a"]
    ours = heads.features(model.vectorizer, texts)
    theirs = sparse.hstack([v.transform(texts) for _, v in model.vectorizer.transformer_list]).tocsr()
    assert ours.shape == theirs.shape
    assert abs(ours - theirs).max() < 1e-12
    _, _, replies = model.predict_all(["x"] + texts[:20], followup_rows=slice(1, 21))
    assert replies == model.followups(texts[:20])
    assert np.allclose(model.predict(texts[:20])[0], model.predict_all(texts[:20], slice(0, 0))[0])
