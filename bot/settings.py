"""Typed configuration: config.yaml, overridden by NOTALONE_<SECTION>__<KEY> environment variables.

Secrets come only from the environment. Any mistake stops start-up with one line naming the key and file.
"""

from __future__ import annotations

import os
from datetime import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from bot.telegram.settings import TelegramSettings
from bot.webchat.settings import WebChatSettings
from bot.zalo.settings import ZaloSettings
from content.settings import ContentSettings
from nlu.settings import EmbeddedNlu, NluSettings, RasaNlu
from storage.settings import StorageSettings

ENV_PREFIX = "NOTALONE_"
NLU_BACKENDS = ("embedded", "rasa")
CONFIG_ENV = "NOTALONE_CONFIG"
# Keys that hold secrets: refused in config.yaml, read only from the environment.
SECRET_KEYS = {
    ("storage", "password"),
    ("privacy", "pseudonym_key"),
    ("telegram", "token"),
    ("telegram", "webhook_secret"),
    ("zalo", "token"),
    ("zalo", "webhook_secret"),
}


class ConfigError(Exception):
    """A configuration mistake, described in one line per problem for the operator."""


class PrivacySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Key of the keyed hash that turns platform user ids into pseudonyms. Only from the environment
    # (NOTALONE_PRIVACY__PSEUDONYM_KEY); required with a database URL, generated under data_dir otherwise.
    pseudonym_key: SecretStr | None = None
    # Conversations that were never escalated are deleted after this many days.
    retention_days: int = Field(default=30, ge=1, le=3650)


class ChatSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Longer messages are stored and analysed up to this many characters, and the student is told.
    max_message_chars: int = Field(default=8000, ge=100, le=100_000)
    # Longer replies are split; 2,000 fits every channel (Zalo's limit; Telegram allows 4,096).
    max_reply_chars: int = Field(default=2000, ge=500, le=4096)
    # Messages a student may send per minute before the bot asks them to slow down (a crisis never waits).
    flood_per_minute: int = Field(default=20, ge=1, le=600)


class ImageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Read the text of photos (screenshots) with Tesseract OCR (Debian: tesseract-ocr tesseract-ocr-vie).
    enabled: bool = True
    # Larger files are not downloaded; larger images (pixels) are not decoded (a "PNG bomb").
    max_mb: int = Field(default=10, ge=1, le=20)
    max_megapixels: int = Field(default=40, ge=1, le=100)
    # The OCR of one image is stopped after this long.
    timeout_s: float = Field(default=30.0, gt=0, le=120)
    # Tesseract's language (its traineddata must be installed).
    language: str = Field(default="vie", pattern=r"^[a-z_+]{3,40}$")


class HotlineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The official Zalo account of Tổng đài 111, as the hotline publishes it (https://zalo.me/...);
    # shown on the call page and in channels that cannot dial. None: not shown.
    zalo_url: str | None = Field(default=None, pattern=r"^https://")


class EscalationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # A student waiting this long without a counselor is told so honestly and offered 111 again.
    claim_timeout_minutes: int = Field(default=5, ge=1, le=240)
    # When counselors are on duty (local time); outside, the student is told so at once.
    opens: time = time(0, 0)
    closes: time = time(23, 59, 59)
    timezone: str = "Asia/Ho_Chi_Minh"


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Session cookies only over https; turn off only for a console on http://127.0.0.1.
    secure_cookies: bool = True
    session_minutes: int = Field(default=480, ge=5, le=1440)
    # Live console sessions per counselor (a new login ends the oldest past this).
    max_sessions: int = Field(default=5, ge=1, le=50)
    # API tokens (`notalone counselor token`) stop working after this many days.
    token_days: int = Field(default=90, ge=1, le=3650)


class WorkerSettings(BaseModel):
    """How workers share the database's queues. `notalone serve` stores webhook updates (the inbox)
    before acknowledging them; whichever worker leases an update handles it, one at a time per chat.
    Replies and notices wait in the outbox, leased the same way."""

    model_config = ConfigDict(extra="forbid")

    # A worker keeps the updates it handles leased; another worker takes them over this long after
    # it stops renewing (it died). Longer than a pause of the process, short enough for a student.
    lease_s: float = Field(default=15.0, ge=1, le=600)
    # An outbox item being sent is leased this long (longer than Telegram's longest 429 wait that the
    # rate limiter sits out): past it, a worker that died while sending it is assumed gone.
    outbox_lease_s: float = Field(default=60.0, ge=1, le=3600)
    # Updates handled at once by one worker (different chats; one chat is always one at a time).
    max_in_flight: int = Field(default=64, ge=1, le=1000)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        yaml_file_encoding="utf-8",
    )

    storage: StorageSettings = StorageSettings()
    nlu: NluSettings = EmbeddedNlu()
    content: ContentSettings = ContentSettings()
    privacy: PrivacySettings = PrivacySettings()
    chat: ChatSettings = ChatSettings()
    telegram: TelegramSettings = TelegramSettings()
    zalo: ZaloSettings = ZaloSettings()
    webchat: WebChatSettings = WebChatSettings()
    images: ImageSettings = ImageSettings()
    hotline: HotlineSettings = HotlineSettings()
    escalation: EscalationSettings = EscalationSettings()
    console: ConsoleSettings = ConsoleSettings()
    workers: WorkerSettings = WorkerSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Priority: explicit arguments > environment > config.yaml > defaults.
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))


def find_config(explicit: Path | None) -> Path | None:
    """The config file to read: --config, then $NOTALONE_CONFIG, then ./config.yaml if present."""
    if explicit is not None:
        return explicit
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    local = Path("config.yaml")
    return local if local.is_file() else None


def load_settings(path: Path | None, **overrides: Any) -> Settings:
    """Read and validate the configuration; raise ConfigError with one line per problem."""
    path = find_config(path)
    raw = _read_yaml(path) if path is not None else {}
    for section, key in sorted(SECRET_KEYS):
        if isinstance(raw.get(section), dict) and key in raw[section]:
            env = f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
            raise ConfigError(f"{path}: {section}.{key} is a secret: remove it from the file and set {env}")

    file_url = raw.get("storage", {}).get("url") if isinstance(raw.get("storage"), dict) else None
    if isinstance(file_url, str) and _has_password(file_url):
        raise ConfigError(
            f"{path}: storage.url must not contain a password: set {ENV_PREFIX}STORAGE__PASSWORD instead"
        )

    class FileSettings(Settings):
        model_config = SettingsConfigDict(**{**Settings.model_config, "yaml_file": path})

    try:
        settings: Settings = FileSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(err, path, raw) for err in exc.errors())) from None
    return _resolve(settings, path)


def _has_password(url: str) -> bool:
    authority = url.split("//", 1)[-1].split("/", 1)[0]
    return "@" in authority and ":" in authority.rsplit("@", 1)[0]


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections (storage:, nlu:, ...)")
    return data


def _describe(err: Any, path: Path | None, raw: dict[str, Any]) -> str:
    loc = [str(p) for p in err["loc"]]
    if len(loc) > 1 and loc[0] == "nlu" and loc[1] in NLU_BACKENDS:
        loc.pop(1)  # pydantic names the union member it tried; the file does not have that level
    key = ".".join(loc)
    env = ENV_PREFIX + "__".join(p.upper() for p in loc)
    node: Any = raw
    for part in loc:
        node = node.get(part) if isinstance(node, dict) else None
    if node is not None and path is not None:
        where = f"{path}"
    elif env in os.environ:
        where = f"environment variable {env}"
    else:
        where = f"{path or 'defaults'} (or {env})"
    problem = "unknown key (check its spelling)" if err["type"] == "extra_forbidden" else err["msg"]
    return f"{where}: {key}: {problem}"


def _resolve(settings: Settings, path: Path | None) -> Settings:
    base = path.resolve().parent if path is not None else Path.cwd()
    data_dir = settings.storage.data_dir.expanduser()
    if not data_dir.is_absolute():
        data_dir = base / data_dir
    storage = settings.storage.model_copy(update={"data_dir": data_dir})
    nlu: EmbeddedNlu | RasaNlu = settings.nlu
    if nlu.data_dir is not None and not nlu.data_dir.expanduser().is_absolute():
        nlu = nlu.model_copy(update={"data_dir": base / nlu.data_dir})
    if not nlu.cache_dir.expanduser().is_absolute():
        nlu = nlu.model_copy(update={"cache_dir": data_dir / nlu.cache_dir})
    if isinstance(nlu, RasaNlu) and not nlu.home.expanduser().is_absolute():
        nlu = nlu.model_copy(update={"home": data_dir / nlu.home})
    content = settings.content
    if content.library_dir is not None and not content.library_dir.expanduser().is_absolute():
        content = content.model_copy(update={"library_dir": base / content.library_dir})
    if storage.url is not None and settings.privacy.pseudonym_key is None:
        raise ConfigError(
            f"{path or 'defaults'}: privacy.pseudonym_key is required when storage.url is set: "
            f"set {ENV_PREFIX}PRIVACY__PSEUDONYM_KEY"
        )
    return settings.model_copy(update={"storage": storage, "nlu": nlu, "content": content})


def masked(settings: Settings) -> dict[str, Any]:
    """The effective configuration as plain data, secrets shown as '**********'."""
    return settings.model_dump(mode="json")
