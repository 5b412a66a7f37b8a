"""NLU configuration (section `nlu` of config.yaml): `backend: embedded` or `backend: rasa`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator


class _NluCommon(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Training data (Rasa NLU YAML files); None means the data shipped with notalone.
    data_dir: Path | None = None
    # Where trained models are cached; relative paths are taken from storage.data_dir.
    cache_dir: Path = Path("nlu-cache")


class EmbeddedNlu(_NluCommon):
    """The default backend: a classifier trained in-process from the same data."""

    backend: Literal["embedded"] = "embedded"


class RasaNlu(_NluCommon):
    """A Rasa Open Source server (POST /model/parse); the embedded backend answers when it cannot."""

    backend: Literal["rasa"] = "rasa"
    # One Rasa server; used when `urls` is empty.
    url: str = "http://127.0.0.1:5005"
    # A pool of Rasa servers that every webhook worker shares: requests take turns, and a server that
    # fails sits out a cool-down. Non-empty replaces `url`.
    urls: list[str] = []
    # A student never waits longer than this for Rasa: past it the embedded backend answers.
    timeout_s: float = Field(default=1.5, gt=0, le=30)
    # Where `notalone nlu rasa serve` keeps Rasa's own virtual environment and trained models;
    # relative paths are taken from storage.data_dir.
    home: Path = Path("rasa")
    # A Python 3.10 interpreter for Rasa's venv (Rasa 3.6 supports Python < 3.11); None: search for it.
    python: Path | None = None
    port: int = Field(default=5005, ge=1, le=65535)

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str) -> str:
        problem = _url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("urls")
    @classmethod
    def _urls_are_http(cls, value: list[str]) -> list[str]:
        # The whole list is checked at once so the error names the key the file has (nlu.urls).
        for number, url in enumerate(value, start=1):
            problem = _url_problem(url)
            if problem:
                raise ValueError(f"entry {number} {problem}")
        servers = [url.rstrip("/") for url in value]
        if len(set(servers)) != len(servers):
            raise ValueError("lists the same server twice")
        return value

    @model_validator(mode="after")
    def _url_or_urls(self) -> Self:
        # Both set explicitly would leave one silently unused.
        if self.urls and "url" in self.model_fields_set:
            raise ValueError("set nlu.url (one server) or nlu.urls (a pool), not both")
        return self

    @property
    def pool(self) -> list[str]:
        """The Rasa servers to use: `urls`, or `url` alone."""
        return list(self.urls) or [self.url]


def _url_problem(url: str) -> str | None:
    """Why `url` cannot be a Rasa server's address, or None. The URL itself is not repeated: it may
    carry a token."""
    if not url.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    if not urlsplit(url).hostname:
        return "has no host"
    return None


def _backend(value: Any) -> str:
    """The backend named in the settings; `embedded` when none is named."""
    if isinstance(value, dict):
        return str(value.get("backend", "embedded"))
    return str(getattr(value, "backend", "embedded"))


NluSettings = Annotated[
    Annotated[EmbeddedNlu, Tag("embedded")] | Annotated[RasaNlu, Tag("rasa")],
    Discriminator(
        _backend, custom_error_type="backend", custom_error_message="nlu.backend must be embedded or rasa"
    ),
]
