"""Typed configuration: every mistake is one line naming the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import ConfigError, load_settings, masked


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(body, encoding="utf-8")
    return path


class TestLoadSettings:
    def test_committed_config_loads(self) -> None:
        settings = load_settings(Path(__file__).resolve().parents[2] / "config.yaml")
        assert settings.nlu.backend == "embedded"
        assert settings.storage.url is None

    def test_relative_data_dir_is_taken_from_the_config_folder(self, tmp_path: Path) -> None:
        settings = load_settings(write(tmp_path, "storage:\n  data_dir: here\n"))
        assert settings.storage.data_dir == tmp_path / "here"

    def test_env_overrides_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("NOTALONE_PRIVACY__RETENTION_DAYS", "7")
        settings = load_settings(write(tmp_path, "privacy:\n  retention_days: 30\n"))
        assert settings.privacy.retention_days == 7

    def test_typo_names_key_and_file(self, tmp_path: Path) -> None:
        path = write(tmp_path, "nlu:\n  treshold: 0.4\n")
        with pytest.raises(ConfigError) as err:
            load_settings(path)
        message = str(err.value)
        assert message.count("\n") == 0
        assert str(path) in message and "nlu.treshold" in message and "unknown key" in message

    def test_unknown_section(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"telegramm: unknown key"):
            load_settings(write(tmp_path, "telegramm:\n  token: x\n"))

    def test_wrong_type(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"privacy.retention_days: Input should be a valid integer"):
            load_settings(write(tmp_path, "privacy:\n  retention_days: soon\n"))

    def test_env_typo_names_the_variable(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("NOTALONE_CHAT__MAX_MESSAGE_CHARS", "lots")
        with pytest.raises(ConfigError, match="environment variable NOTALONE_CHAT__MAX_MESSAGE_CHARS"):
            load_settings(write(tmp_path, ""))

    def test_corrupt_yaml_names_the_line(self, tmp_path: Path) -> None:
        path = write(tmp_path, "storage:\n  data_dir: [unclosed\nnlu: {\n")
        with pytest.raises(ConfigError, match=rf"{path}:\d+: invalid YAML"):
            load_settings(path)

    def test_top_level_must_be_a_mapping(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="top level must be a mapping"):
            load_settings(write(tmp_path, "- a\n- b\n"))

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="config file not found"):
            load_settings(tmp_path / "nope.yaml")

    def test_secret_in_file_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="NOTALONE_STORAGE__PASSWORD"):
            load_settings(write(tmp_path, "storage:\n  password: hunter2\n"))

    def test_password_in_url_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="must not contain a password"):
            load_settings(write(tmp_path, "storage:\n  url: postgresql+asyncpg://u:pw@h/db\n"))

    def test_database_url_requires_pseudonym_key(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="NOTALONE_PRIVACY__PSEUDONYM_KEY"):
            load_settings(write(tmp_path, "storage:\n  url: postgresql+asyncpg://u@h/db\n"))

    def test_secrets_are_masked(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("NOTALONE_STORAGE__PASSWORD", "hunter2")
        monkeypatch.setenv("NOTALONE_PRIVACY__PSEUDONYM_KEY", "k" * 32)
        settings = load_settings(write(tmp_path, "storage:\n  url: postgresql+asyncpg://u@h/db\n"))
        assert settings.storage.password is not None
        assert settings.storage.password.get_secret_value() == "hunter2"
        shown = str(masked(settings))
        assert "hunter2" not in shown and "kkkk" not in shown and "**********" in shown
