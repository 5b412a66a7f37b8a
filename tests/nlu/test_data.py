"""The Rasa-format training data: its loader's errors, and the data set's own requirements."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from content.loader import LIBRARY
from handlers.models import Tactic
from nlu.data import DEV_DIR, STYLES, TRAINING_DIR, DataError, load_examples, parse_intent, scenarios
from nlu.normalize import normalize


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "nlu.yml"
    path.write_text(body, encoding="utf-8")
    return path


GOOD = """version: "3.1"
nlu:
- intent: fear+control
  metadata:
    style: teen
    scenario: sextortion
  examples: |
    - ck 2tr ngay ko t tung anh
    - gửi tiền đi
"""


class TestLoader:
    def test_reads_intent_metadata_and_lines(self, tmp_path: Path) -> None:
        examples = load_examples(write(tmp_path, GOOD))
        assert [e.text for e in examples] == ["ck 2tr ngay ko t tung anh", "gửi tiền đi"]
        assert examples[0].tactics == {"fear", "control"} and not examples[0].crisis
        assert examples[0].style == "teen" and examples[0].scenario == "sextortion"
        assert examples[1].source.endswith("nlu.yml:9")

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (GOOD.replace("fear+control", "fear+panic"), r"nlu.yml:3: unknown intent 'fear\+panic'"),
            (
                GOOD.replace("    - gửi tiền đi", "    gửi tiền đi"),
                r"nlu.yml:9: intent fear\+control: example must start",
            ),
            (
                GOOD.replace("gửi tiền đi", "gửi [tiền](money) đi"),
                r"nlu.yml:9: .*entity markup.*gửi \[tiền\]",
            ),
            (GOOD.replace("style: teen", "style: tiktok"), r"nlu.yml:3: .*metadata.style 'tiktok'"),
            (
                GOOD.replace("scenario: sextortion", "scenario: aliens"),
                r"nlu.yml:3: .*metadata.scenario 'aliens'",
            ),
            (GOOD.replace("  examples: |", "  examples: [oops"), r"nlu.yml:\d+: invalid YAML"),
            ("version: '3.1'\nnlu: {}\n", r"nlu.yml:2: 'nlu' must be a list"),
            ("version: '3.1'\n", r"no training examples found"),
        ],
    )
    def test_malformed_data_names_file_line_and_example(
        self, tmp_path: Path, body: str, message: str
    ) -> None:
        with pytest.raises(DataError, match=message):
            load_examples(write(tmp_path, body))

    def test_intent_order_is_canonical(self) -> None:
        assert parse_intent("fear+control+crisis") == ({"fear", "control"}, True, False)
        assert parse_intent("fear+serious") == ({"fear"}, False, True)
        assert parse_intent("benign") == (frozenset(), False, False)
        with pytest.raises(ValueError, match="two severities"):
            parse_intent("fear+serious+crisis")
        with pytest.raises(ValueError):
            parse_intent("fear+fear")


class TestDataSet:
    @pytest.fixture(scope="class")
    @classmethod
    def train(cls):  # type: ignore[no-untyped-def]
        return load_examples(TRAINING_DIR)

    def test_counts_per_label(self, train) -> None:  # type: ignore[no-untyped-def]
        counts = Counter(label for e in train for label in (*e.tactics, *(["crisis"] if e.crisis else [])))
        benign = sum(1 for e in train if not e.tactics)
        assert all(counts[t.value] >= 400 for t in Tactic), counts
        assert benign >= 400 and counts["crisis"] >= 150

    def test_styles_in_roughly_equal_shares(self, train) -> None:  # type: ignore[no-untyped-def]
        # The three ways students write, in roughly equal shares (pasted chat logs come on top); teen
        # writing leads, as the hard negatives and the English messages are mostly written that way.
        shares = Counter(e.style for e in train if e.style != "chatlog")
        assert set(shares) == set(STYLES) - {"chatlog"}
        assert min(shares.values()) / max(shares.values()) > 0.7

    def test_at_least_25_scam_scenarios(self, train) -> None:  # type: ignore[no-untyped-def]
        covered = {e.scenario for e in train if e.tactics}
        assert len(covered - {"everyday", "self_harm"}) >= 25
        assert covered <= set(scenarios())

    def test_dev_set_is_separate_and_large_enough(self, train) -> None:  # type: ignore[no-untyped-def]
        dev = load_examples(DEV_DIR)
        assert len(dev) >= 300
        assert not {normalize(e.text) for e in dev} & {normalize(e.text) for e in train}

    def test_tactic_slugs_match_content_files(self) -> None:
        files = {p.stem for p in (LIBRARY / "vi" / "tactics").glob("*.yml")}
        assert files == {t.value for t in Tactic}

    def test_every_scam_scenario_has_a_guide_and_every_guide_a_scenario(self) -> None:
        guides = {p.stem for p in (LIBRARY / "vi" / "scenarios").glob("*.yml")}
        assert guides == set(scenarios()) - {"everyday", "self_harm"}
