"""Committing the next version of a dataset: the one path ingest, curation and release take.

:func:`next_version` holds the dataset's write lock, reads what the new version builds on (its
:class:`Base`), lets the caller write the manifest through the store (a :class:`VersionWriter`,
or a whole table for a release), then :meth:`VersionCommit.record` records the version, its
operation, parents, inputs, sources and audit entries in one SQL transaction. The manifest's
:class:`ManifestResult` is the one definition of a version's digest (the sorted ids) and of its
added/removed counts (against the parent manifest).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from curata._version import __version__
from curata.core.errors import ConflictError
from curata.governance import audit
from curata.store.records import ManifestResult, RecordStore, VersionWriter
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


@dataclass(frozen=True)
class AuditEntry:
    """An audit entry that belongs to a version's transaction (a release's gate override): it
    is written with the version or not at all."""

    actor: str
    action: str
    object_type: str
    object_ref: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Base:
    """What the next version of a dataset builds on, read under the dataset's lock."""

    dataset: str
    dataset_id: int | None
    storage_key: str
    """The dataset's manifest location (a fresh one for a new dataset)."""
    parent_id: int | None
    parent_number: int
    """The latest version's number (0: none yet)."""
    parent_manifest: int | None
    key_field: str | None

    @property
    def number(self) -> int:
        """The number the new version gets."""
        return self.parent_number + 1

    @property
    def parent_ref(self) -> str | None:
        return f"{self.dataset}@{self.parent_number}" if self.parent_number else None


def read_base(session: Session, dataset: str) -> Base:
    """The dataset's storage key and latest version (see :class:`Base`)."""
    ds, parent = latest_version(session, dataset)
    return Base(
        dataset=dataset,
        dataset_id=ds.id if ds else None,
        storage_key=ds.storage_key if ds else str(uuid.uuid4()),
        parent_id=parent.id if parent else None,
        parent_number=parent.number if parent else 0,
        parent_manifest=parent.manifest_version if parent else None,
        key_field=ds.key_field if ds else None,
    )


@dataclass(frozen=True)
class Recorded:
    """A committed version: its reference and row id."""

    ref: str
    version_id: int


class VersionCommit:
    """One next version of one dataset, while its lock is held (see :func:`next_version`)."""

    def __init__(self, sessions: sessionmaker[Session], store: RecordStore, base: Base) -> None:
        self._sessions = sessions
        self._store = store
        self.base = base
        self._writers: list[VersionWriter] = []

    def writer(self, scratch: Path | None = None) -> VersionWriter:
        """A writer of the new version's manifest on top of the parent's (its files under
        ``scratch``, the system's temporary directory by default; removed when it commits or
        when the commit's lock is let go)."""
        writer = self._store.version_writer(
            self.base.storage_key, self.base.parent_manifest, scratch=scratch
        )
        self._writers.append(writer)
        return writer

    def close(self) -> None:
        """Remove the files of every writer this commit started."""
        for writer in self._writers:
            writer.close()

    def write_table(self, table: pa.Table) -> ManifestResult:
        """Write the new version's manifest whole (a release, whose rows all carry labels)."""
        return self._store.write_manifest(self.base.storage_key, table, self.base.parent_manifest)

    def record(
        self,
        manifest: ManifestResult,
        operation: Operation,
        *,
        message: str,
        parents: Sequence[int],
        inputs: list[dict[str, Any]],
        audit_action: str,
        audit_details: dict[str, Any],
        key_field: str | None = None,
        audits: Sequence[AuditEntry] = (),
        also: Callable[[Session, str], None] | None = None,
    ) -> Recorded:
        """Record the version written as ``manifest``: the dataset (when new), the operation,
        the version with its parents, inputs and sources, its audit entry, ``audits`` and what
        ``also`` writes (given the session and the new version's reference), in one
        transaction. A version that appeared meanwhile with the same number (a writer that did
        not hold the lock) fails it whole, as a ConflictError naming the dataset."""
        base = self.base
        new = NewVersion(
            dataset=base.dataset,
            storage_key=base.storage_key,
            number=base.number,
            message=message,
            record_count=manifest.record_count,
            digest=manifest.digest,
            manifest_version=manifest.manifest_version,
            added=manifest.added,
            removed=manifest.removed,
            bytes_added=manifest.bytes_added,
            key_field=key_field,
        )
        ref = f"{base.dataset}@{new.number}"
        try:
            with self._sessions.begin() as session:
                for entry in audits:
                    audit.append(
                        session,
                        actor=entry.actor,
                        action=entry.action,
                        object_type=entry.object_type,
                        object_ref=entry.object_ref,
                        details=entry.details,
                    )
                version = record_version(
                    session,
                    new,
                    operation,
                    parents=list(parents),
                    inputs=inputs,
                    audit_action=audit_action,
                    audit_details=audit_details,
                )
                record_sources(session, manifest.source_counts, version.id)
                if also is not None:
                    also(session, ref)
                version_id = version.id
        except IntegrityError:
            raise ConflictError(
                f"dataset {base.dataset!r} gained a version while this {operation.kind} ran; "
                "nothing was written: run it again"
            ) from None
        return Recorded(ref, version_id)


@contextmanager
def next_version(
    sessions: sessionmaker[Session], store: RecordStore, dataset: str
) -> Iterator[VersionCommit]:
    """Hold ``dataset``'s write lock (one writer per dataset: a second waits, then builds on
    the first) and yield the commit of its next version, built on the latest one."""
    with store.dataset_lock(dataset):
        with sessions() as session:
            base = read_base(session, dataset)
        commit = VersionCommit(sessions, store, base)
        try:
            yield commit
        finally:
            commit.close()
