"""NLU configuration (section `nlu` of config.yaml): `backend: embedded` or `backend: rasa`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag


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
    url: str = "http://127.0.0.1:5005"
    # A student never waits longer than this for Rasa: past it the embedded backend answers.
    timeout_s: float = Field(default=1.5, gt=0, le=30)
    # Where `notalone nlu rasa serve` keeps Rasa's own virtual environment and trained models;
    # relative paths are taken from storage.data_dir.
    home: Path = Path("rasa")
    # A Python 3.10 interpreter for Rasa's venv (Rasa 3.6 supports Python < 3.11); None: search for it.
    python: Path | None = None
    port: int = Field(default=5005, ge=1, le=65535)


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
