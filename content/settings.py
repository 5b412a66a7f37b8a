"""Content configuration (section `content` of config.yaml)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class ContentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    locale: str = "vi"
    # A folder holding <locale>/ sub-folders; None means the library shipped with notalone.
    library_dir: Path | None = None
