"""Domain types the services return (never ORM rows)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Literal

SourceKind = Literal["crawl", "internal", "human", "synthetic", "vendor"]
SOURCE_KINDS: tuple[str, ...] = ("crawl", "internal", "human", "synthetic", "vendor")
PII_STATUSES: tuple[str, ...] = ("unknown", "none", "present")
SENSITIVITIES: tuple[str, ...] = ("public", "internal", "confidential", "restricted")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Source:
    """Where data came from."""

    name: str
    kind: str
    license: str
    origin: str
    collected_at: date | None
    consent: str | None
    pii_status: str
    sensitivity: str
    owner: str | None
    created_at: datetime
    created_by: str
    license_ref: str | None = None  # where the terms of a LicenseRef-NAME license are

    def to_dict(self) -> dict[str, Any]:
        return dict(_plain(asdict(self)))


@dataclass(frozen=True)
class Version:
    """An immutable version of a dataset (``name@number``)."""

    dataset: str
    number: int
    message: str
    author: str
    created_at: datetime
    record_count: int
    digest: str
    parents: list[str]
    operation: str
    operation_id: str
    added: int
    removed: int
    bytes_added: int
    tags: list[str] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.number}"

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, **dict(_plain(asdict(self)))}


@dataclass(frozen=True)
class Dataset:
    """A named line of versions."""

    name: str
    key_field: str | None
    created_at: datetime
    created_by: str
    version_count: int
    latest: Version | None

    def to_dict(self) -> dict[str, Any]:
        data = dict(_plain(asdict(self)))
        data["latest"] = None if self.latest is None else self.latest.to_dict()
        return data
