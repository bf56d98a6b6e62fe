"""Recording a new version in SQL: the one commit point every operation goes through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from curata._version import __version__
from curata.governance import audit
from curata.store.tables import (
    DatasetRow,
    OperationInputRow,
    OperationRow,
    SourceRow,
    VersionParentRow,
    VersionRow,
    VersionSourceRow,
)


@dataclass(frozen=True)
class Operation:
    """One execution of an operation (ingest, release, …) that produced a version."""

    id: str
    kind: str
    parameters: dict[str, Any]
    started: datetime
    ended: datetime
    actor: str


@dataclass(frozen=True)
class NewVersion:
    """What a version row records; the manifest itself is already committed in the store."""

    dataset: str
    storage_key: str
    number: int
    message: str
    record_count: int
    digest: str
    manifest_version: int
    added: int
    removed: int
    bytes_added: int
    key_field: str | None = None


def record_version(
    session: Session,
    new: NewVersion,
    operation: Operation,
    *,
    parents: list[int],
    inputs: list[dict[str, Any]],
    audit_action: str,
    audit_details: dict[str, Any],
) -> VersionRow:
    """Insert the dataset (when new), the operation, the version, its parents and inputs, and
    the audit entry, inside the caller's transaction. A concurrent version with the same number
    makes the caller's commit fail (unique constraint), so nothing half-made survives."""
    dataset = session.scalar(select(DatasetRow).where(DatasetRow.name == new.dataset))
    if dataset is None:
        dataset = DatasetRow(
            name=new.dataset,
            storage_key=new.storage_key,
            key_field=new.key_field,
            created_by=operation.actor,
        )
        session.add(dataset)
        session.flush()
    elif new.key_field and dataset.key_field != new.key_field:
        dataset.key_field = new.key_field
    session.add(
        OperationRow(
            id=operation.id,
            kind=operation.kind,
            parameters=operation.parameters,
            code_version=f"curata {__version__}",
            actor=operation.actor,
            started_at=operation.started,
            ended_at=operation.ended,
        )
    )
    session.flush()
    version = VersionRow(
        dataset_id=dataset.id,
        number=new.number,
        message=new.message,
        author=operation.actor,
        created_at=operation.ended,
        record_count=new.record_count,
        digest=new.digest,
        operation_id=operation.id,
        manifest_version=new.manifest_version,
        added=new.added,
        removed=new.removed,
        bytes_added=new.bytes_added,
    )
    session.add(version)
    session.flush()
    for position, parent_id in enumerate(parents):
        session.add(VersionParentRow(version_id=version.id, parent_id=parent_id, position=position))
    for item in inputs:
        session.add(OperationInputRow(operation_id=operation.id, **item))
    audit.append(
        session,
        actor=operation.actor,
        action=audit_action,
        object_type="version",
        object_ref=f"{new.dataset}@{new.number}",
        details={"operation": operation.id, **audit_details},
    )
    return version


def record_sources(session: Session, source_counts: dict[str, int], version_id: int) -> None:
    """How many of the version's records came from each registered source."""
    ids = dict(
        session.execute(
            select(SourceRow.name, SourceRow.id).where(SourceRow.name.in_(list(source_counts)))
        ).all()
    )
    for name, count in source_counts.items():
        if name in ids:
            session.add(
                VersionSourceRow(version_id=version_id, source_id=ids[name], record_count=count)
            )


def latest_version(session: Session, dataset: str) -> tuple[DatasetRow | None, VersionRow | None]:
    """A dataset by name and its newest version (each None when there is none yet): what an
    operation writing the dataset's next version builds on."""
    ds = session.scalar(select(DatasetRow).where(DatasetRow.name == dataset))
    if ds is None:
        return None, None
    parent = session.scalar(
        select(VersionRow)
        .where(VersionRow.dataset_id == ds.id)
        .order_by(VersionRow.number.desc())
        .limit(1)
    )
    return ds, parent
