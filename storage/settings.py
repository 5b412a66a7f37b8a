"""Storage configuration (section `storage` of config.yaml)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class StorageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Where the embedded SQLite database and the generated pseudonym key live; relative paths are
    # taken from the directory of config.yaml.
    data_dir: Path = Path("data")
    # None: SQLite under data_dir. Otherwise a SQLAlchemy URL without password, e.g.
    # postgresql+asyncpg://notalone@db.internal/notalone
    url: str | None = None
    # Database password: only from the environment (NOTALONE_STORAGE__PASSWORD).
    password: SecretStr | None = None
    # Run the Alembic migrations when the app starts.
    auto_upgrade: bool = True
    echo_sql: bool = Field(default=False)
