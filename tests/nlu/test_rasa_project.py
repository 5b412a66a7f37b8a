"""The Rasa project notalone writes, checked without Rasa: the training data with the metadata the
component learns from, the pipeline naming notalone's component, and the plugin folder Rasa imports it
from."""

from __future__ import annotations

from pathlib import Path

import yaml

from nlu.data import LABEL_ORDER, TACTICS, Example
from nlu.heads import GATE, SCENARIO, rescale
from nlu.rasa_data import rasa_text, write_rasa_nlu
from nlu.rasa_server import CONFIG, PLUGINS, model_fingerprint, plugin_dir, rasa_env

SCAM = Example(
    "Công an đây, chuyển tiền vào tài khoản tạm giữ ngay kẻo bị bắt",
    frozenset({"fear", "control"}),
    False,
    scenario="police_impersonation",
)
SAD = Example("mình không muốn sống nữa", frozenset(), True)
PLAIN = Example("mai kiểm tra toán 15 phút nha cả lớp", frozenset(), False, scenario="everyday")


def nlu_blocks(path: Path) -> dict[str, list[dict[str, object]]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {block["intent"]: block["examples"] for block in data["nlu"]}


class TestTrainingData:
    def test_examples_carry_scenario_and_crisis_lexicon_metadata(self, tmp_path: Path) -> None:
        path = tmp_path / "nlu.yml"
        assert write_rasa_nlu([SCAM, SAD, PLAIN], path) == 3
        blocks = nlu_blocks(path)
        assert blocks["fear+control"] == [
            {"text": rasa_text(SCAM.text), "metadata": {"scenario": "police_impersonation"}}
        ]
        # The crisis lexicon catches it: the component's crisis threshold counts it as caught.
        assert blocks["crisis"] == [{"text": rasa_text(SAD.text), "metadata": {"crisis_lexicon": True}}]
        assert blocks["benign"] == [{"text": rasa_text(PLAIN.text), "metadata": {"scenario": "everyday"}}]

    def test_repeats_are_written_once_and_a_text_under_two_intents_not_at_all(self, tmp_path: Path) -> None:
        other = Example(SCAM.text, frozenset({"fear"}), False)
        path = tmp_path / "nlu.yml"
        assert write_rasa_nlu([PLAIN, PLAIN, SCAM, other], path) == 1
        assert list(nlu_blocks(path)) == ["benign", "fear", "fear+control"]
        assert nlu_blocks(path)["fear"] == []


class TestPipeline:
    def test_the_component_knows_notalones_labels(self) -> None:
        config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
        [component] = config["pipeline"]
        module, _, _ = component["name"].partition(".")
        assert f"{module}.py" in PLUGINS
        assert tuple(component["labels"]) == LABEL_ORDER
        assert tuple(component["tactics"]) == TACTICS
        assert component["crisis"] == "crisis"

    def test_rescaled_thresholds_sit_at_one_half(self) -> None:
        assert rescale(0.2, 0.2) == 0.5 and rescale(0.0, 0.2) == 0.0 and rescale(1.0, 0.2) == 1.0
        assert rescale(0.1, 0.2) == 0.25 and rescale(0.6, 0.2) == 0.75
        assert (GATE, SCENARIO) == ("any", "scenario")


class TestPlugins:
    def test_rasa_imports_the_component_and_heads_from_a_folder_of_copies(self, tmp_path: Path) -> None:
        folder = plugin_dir(tmp_path)
        assert (folder / "notalone_component.py").read_bytes() == PLUGINS[
            "notalone_component.py"
        ].read_bytes()  # type: ignore[union-attr]
        assert (folder / "nlu" / "heads.py").read_bytes() == PLUGINS["nlu/heads.py"].read_bytes()  # type: ignore[union-attr]
        # Only the heads: the rest of notalone (pydantic 2, SQLAlchemy 2) cannot load in Rasa's venv.
        assert sorted(p.name for p in (folder / "nlu").iterdir()) == ["__init__.py", "heads.py"]
        assert plugin_dir(tmp_path) == folder
        env = rasa_env(folder)
        assert env["PYTHONPATH"].split(":")[0] == str(folder)
        assert env["RASA_TELEMETRY_ENABLED"] == "false" and env["RASA_MAX_CACHE_SIZE"] == "0"

    def test_the_model_is_retrained_when_the_pipeline_changes(self, tmp_path: Path) -> None:
        other = tmp_path / "config.yml"
        other.write_text(CONFIG.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
        data = Path(__file__).resolve().parents[2] / "nlu" / "data"
        assert model_fingerprint(data) != model_fingerprint(data, other)
