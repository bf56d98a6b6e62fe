"""Workspace settings, read from the environment (``CURATA_*``) and the workspace's config file."""

from __future__ import annotations

import getpass
import json
import os
import stat
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from curata.core.errors import WorkspaceError

DEFAULT_HOME = ".curata"
CONFIG_FILE = "config.json"
LOGIN_FILE = "login.json"
"""Where ``curata login`` keeps this workspace's API token (mode 0600, the user's own)."""
EMBEDDED_DATABASE = "curata.db"


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (e.g. a bare container)
        return "unknown"


class Settings(BaseSettings):
    """Where a workspace keeps its metadata and records, and who is acting.

    ``database_url`` defaults to SQLite inside the workspace; ``data_url`` to ``<home>/data``
    (or an object-store URI, ``s3://bucket/prefix``, with Lance's ``data_options``: endpoint,
    region, credentials; ``CURATA_DATA_OPTIONS`` as a JSON object, never saved to the config
    file; the standard ``AWS_*`` variables apply too, see docs/deployment.md).
    Values saved in ``<home>/config.json`` by ``curata init`` apply unless the environment
    overrides them. ``token`` is an API token: on a shared database (see :attr:`shared`) it,
    not ``user``, says who is acting; without one, the token saved by ``curata login`` applies.
    """

    model_config = SettingsConfigDict(env_prefix="CURATA_", extra="ignore")

    home: Path = Field(default=Path(DEFAULT_HOME))
    database_url: str | None = None
    data_url: str | None = None
    data_options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    user: str = Field(default_factory=_default_user)
    openlineage_url: str | None = None
    openlineage_namespace: str = "curata"
    max_record_bytes: int = 32 * 1024 * 1024
    token: SecretStr | None = None

    def resolved(self) -> Settings:
        """Fill the defaults that depend on ``home`` (and on the saved config)."""
        home = self.home.expanduser().resolve()
        saved = read_config(home)
        database_url = self.database_url or saved.get("database_url")
        if not database_url:
            database_url = f"sqlite:///{home / 'curata.db'}"
        data_url = self.data_url or saved.get("data_url") or str(home / "data")
        token = self.token
        if token is None and (saved_token := read_login(home)) is not None:
            token = SecretStr(saved_token)
        return self.model_copy(
            update={
                "home": home,
                "database_url": database_url,
                "data_url": data_url,
                "token": token,
            }
        )

    @property
    def shared(self) -> bool:
        """Whether the metadata database may be shared with other people: anything but the
        workspace's own SQLite file (or an in-memory one). Call on :meth:`resolved` settings."""
        url = make_url(str(self.database_url))
        if not url.drivername.startswith("sqlite"):
            return True
        if not url.database or url.database == ":memory:":
            return False
        own = (self.home / EMBEDDED_DATABASE).expanduser().resolve()
        return Path(url.database).expanduser().resolve() != own

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


def read_login(home: Path) -> str | None:
    """The API token ``curata login`` saved for a workspace, or ``None``.

    Refused (like ssh does with keys) when the file is not the user's own or others may read it.
    """
    path = home / LOGIN_FILE
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if os.name == "posix":
        if info.st_uid != os.getuid():
            raise WorkspaceError(
                f"{path}: the saved login belongs to another user; run 'curata logout'"
            )
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise WorkspaceError(
                f"{path}: the saved login is readable by others (mode "
                f"{stat.S_IMODE(info.st_mode):o}); run 'curata logout' and 'curata login' again"
            )
    token = json.loads(path.read_text(encoding="utf-8")).get("token")
    return token if isinstance(token, str) and token else None


def write_login(home: Path, token: str) -> Path:
    """Save a workspace's API token in a file only the user can read (0600); return its path."""
    path = home / LOGIN_FILE
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps({"token": token}) + "\n")
    os.replace(tmp, path)
    return path


def remove_login(home: Path) -> bool:
    """Forget a workspace's saved API token; ``False`` when none was saved."""
    try:
        (home / LOGIN_FILE).unlink()
    except FileNotFoundError:
        return False
    return True
