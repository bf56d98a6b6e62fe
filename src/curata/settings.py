"""Workspace settings, read from the environment (``CURATA_*``) and the workspace's config file."""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = ".curata"
CONFIG_FILE = "config.json"


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (e.g. a bare container)
        return "unknown"


class Settings(BaseSettings):
    """Where a workspace keeps its metadata and records, and who is acting.

    ``database_url`` defaults to SQLite inside the workspace; ``data_url`` to ``<home>/data``.
    Values saved in ``<home>/config.json`` by ``curata init`` apply unless the environment
    overrides them.
    """

    model_config = SettingsConfigDict(env_prefix="CURATA_", extra="ignore")

    home: Path = Field(default=Path(DEFAULT_HOME))
    database_url: str | None = None
    data_url: str | None = None
    user: str = Field(default_factory=_default_user)
    openlineage_url: str | None = None
    openlineage_namespace: str = "curata"
    max_record_bytes: int = 32 * 1024 * 1024

    def resolved(self) -> Settings:
        """Fill the defaults that depend on ``home`` (and on the saved config)."""
        home = self.home.expanduser().resolve()
        saved = read_config(home)
        database_url = self.database_url or saved.get("database_url")
        if not database_url:
            database_url = f"sqlite:///{home / 'curata.db'}"
        data_url = self.data_url or saved.get("data_url") or str(home / "data")
        return self.model_copy(
            update={"home": home, "database_url": database_url, "data_url": data_url}
        )

    @property
    def openlineage_file(self) -> Path:
        """The JSON-lines file OpenLineage events go to when no URL is configured."""
        return self.home / "openlineage" / "events.jsonl"


def read_config(home: Path) -> dict[str, str]:
    """Return the settings saved in a workspace's config file (empty when there is none)."""
    path = home / CONFIG_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if isinstance(v, str)}


def write_config(home: Path, values: dict[str, str]) -> None:
    """Save settings that must stay with the workspace (atomically: write, then rename)."""
    path = home / CONFIG_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
