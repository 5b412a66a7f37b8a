"""NLU configuration (section `nlu` of config.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EmbeddedNlu(BaseModel):
    """The default backend: a classifier trained in-process from the Rasa-format data in nlu/data."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["embedded"] = "embedded"
    # Training data (Rasa NLU YAML files); None means the data shipped with notalone.
    data_dir: Path | None = None
    # Where the trained model is cached; relative paths are taken from the data directory.
    cache_dir: Path = Path("nlu-cache")
    # Below this probability a tactic is not reported; between it and `sure` the answer is "unsure".
    threshold: float = Field(default=0.5, gt=0, lt=1)
