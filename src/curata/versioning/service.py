"""Datasets and versions: list, show, log, tag, diff, fetch and export."""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from curata.core.errors import AlreadyExistsError, NotFoundError, ValidationError
from curata.core.ids import resolve_record_id
from curata.core.models import Dataset, Version
from curata.core.names import check_name
from curata.core.records import Record, flat_row
from curata.governance import audit
from curata.store.records import RecordStore
from curata.store.tables import (
    DatasetRow,
    OperationRow,
    SourceRow,
    TagRow,
    VersionParentRow,
    VersionRow,
    VersionSourceRow,
)
from curata.timeutil import as_utc
from curata.versioning.diff import Diff, diff_versions

MANIFEST_COLUMNS = frozenset({"record_id", "row", "source", "origin"})


def _parsed(value: Any) -> Any:
    """Per-record columns holding JSON text come back as values."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


REF_PATTERN = re.compile(r"^(?P<name>[^@]+?)(?:@(?P<ver>[^@]+))?$")


@dataclass(frozen=True)
class VersionHandle:
    """What the store needs to read a version (its dataset's storage key and manifest version),
    and its row id, which lineage (a curation's input, a project's version) points to."""

    version: Version
    version_id: int
    storage_key: str
    manifest_version: int
    key_field: str | None


def parse_ref(ref: str) -> tuple[str, str | None]:
    """Split ``name@3`` / ``name@tag`` / ``name`` into the name and the version part."""
    match = REF_PATTERN.match(ref.strip())
    if not match:
        raise ValidationError(
            f"invalid version reference {ref!r} (expected NAME, NAME@N or NAME@TAG)"
        )
    return match["name"], match["ver"]


class DatasetService:
    """Reads datasets and versions and records tags (versions themselves are written by ingest)."""

    def __init__(self, sessions: sessionmaker[Session], store: RecordStore, actor: str) -> None:
        self._sessions = sessions
        self._store = store
        self._actor = actor

    # -- lookups -----------------------------------------------------------------------------

    def _dataset_row(self, session: Session, name: str) -> DatasetRow:
        row = session.scalar(select(DatasetRow).where(DatasetRow.name == name))
        if row is None:
            raise NotFoundError(f"unknown dataset {name!r} (see 'curata dataset list')")
        return row

    def _version_row(self, session: Session, ref: str) -> tuple[DatasetRow, VersionRow]:
        name, ver = parse_ref(ref)
        ds = self._dataset_row(session, name)
        query = select(VersionRow).where(VersionRow.dataset_id == ds.id)
        if ver is None:
            row = session.scalar(query.order_by(VersionRow.number.desc()).limit(1))
            if row is None:
                raise NotFoundError(f"dataset {name!r} has no versions")
            return ds, row
        if ver.isdigit():
            row = session.scalar(query.where(VersionRow.number == int(ver)))
        else:
            tag = session.scalar(
                select(TagRow).where(TagRow.dataset_id == ds.id, TagRow.name == ver)
            )
            row = None if tag is None else session.get(VersionRow, tag.version_id)
        if row is None:
            latest = session.scalar(
                select(func.max(VersionRow.number)).where(VersionRow.dataset_id == ds.id)
            )
            raise NotFoundError(
                f"no version {ver!r} of dataset {name!r} (versions are 1..{latest or 0}"
                " or a tag; see 'curata dataset log " + name + "')"
            )
        return ds, row

    def _to_version(self, session: Session, ds: DatasetRow, row: VersionRow) -> Version:
        parents = session.execute(
            select(DatasetRow.name, VersionRow.number)
            .join(VersionRow, VersionRow.dataset_id == DatasetRow.id)
            .join(VersionParentRow, VersionParentRow.parent_id == VersionRow.id)
            .where(VersionParentRow.version_id == row.id)
            .order_by(VersionParentRow.position)
        ).all()
        tags = session.scalars(
            select(TagRow.name).where(TagRow.version_id == row.id).order_by(TagRow.name)
        ).all()
        sources = session.execute(
            select(SourceRow.name, VersionSourceRow.record_count)
            .join(SourceRow, SourceRow.id == VersionSourceRow.source_id)
            .where(VersionSourceRow.version_id == row.id)
            .order_by(SourceRow.name)
        ).all()
        operation = session.get(OperationRow, row.operation_id)
        return Version(
            dataset=ds.name,
            number=row.number,
            message=row.message,
            author=row.author,
            created_at=as_utc(row.created_at),
            record_count=row.record_count,
            digest=row.digest,
            parents=[f"{n}@{v}" for n, v in parents],
            operation=operation.kind if operation else "unknown",
            operation_id=row.operation_id,
            added=row.added,
            removed=row.removed,
            bytes_added=row.bytes_added,
            tags=list(tags),
            sources={n: int(c) for n, c in sources},
        )

    def handle(self, ref: str) -> VersionHandle:
        """Resolve a reference to what the record store needs to read the version."""
        with self._sessions() as session:
            ds, row = self._version_row(session, ref)
            return VersionHandle(
                version=self._to_version(session, ds, row),
                version_id=row.id,
                storage_key=ds.storage_key,
                manifest_version=row.manifest_version,
                key_field=ds.key_field,
            )

    def version(self, ref: str) -> Version:
        """Return a version (``name`` alone means the latest)."""
        return self.handle(ref).version

    def get(self, name: str) -> Dataset:
        """Return a dataset with its latest version."""
        with self._sessions() as session:
            ds = self._dataset_row(session, name)
            return self._to_dataset(session, ds)

    def _to_dataset(self, session: Session, ds: DatasetRow) -> Dataset:
        latest = session.scalar(
            select(VersionRow)
            .where(VersionRow.dataset_id == ds.id)
            .order_by(VersionRow.number.desc())
            .limit(1)
        )
        return Dataset(
            name=ds.name,
            key_field=ds.key_field,
            created_at=as_utc(ds.created_at),
            created_by=ds.created_by,
            version_count=0 if latest is None else latest.number,
            latest=None if latest is None else self._to_version(session, ds, latest),
        )

    def list(self) -> builtins.list[Dataset]:
        """Every dataset, by name."""
        with self._sessions() as session:
            rows = session.scalars(select(DatasetRow).order_by(DatasetRow.name)).all()
            return [self._to_dataset(session, ds) for ds in rows]

    def log(self, name: str) -> builtins.list[Version]:
        """A dataset's versions, newest first."""
        with self._sessions() as session:
            ds = self._dataset_row(session, name)
            rows = session.scalars(
                select(VersionRow)
                .where(VersionRow.dataset_id == ds.id)
                .order_by(VersionRow.number.desc())
            ).all()
            return [self._to_version(session, ds, r) for r in rows]

    # -- tags --------------------------------------------------------------------------------

    def tag(self, ref: str, tag: str, *, force: bool = False) -> Version:
        """Name a version; moving an existing tag needs ``force`` (and is audited as a move)."""
        check_name(tag, "tag")
        if tag.isdigit():
            raise ValidationError(
                f"invalid tag {tag!r}: a tag cannot be a number (numbers are versions)"
            )
        with self._sessions.begin() as session:
            ds, row = self._version_row(session, ref)
            existing = session.scalar(
                select(TagRow).where(TagRow.dataset_id == ds.id, TagRow.name == tag)
            )
            details: dict[str, Any] = {"version": row.number}
            if existing is not None:
                if existing.version_id == row.id:
                    return self._to_version(session, ds, row)
                if not force:
                    old = session.get(VersionRow, existing.version_id)
                    raise AlreadyExistsError(
                        f"tag {tag!r} already names {ds.name}@{old.number if old else '?'}; "
                        "use --force to move it"
                    )
                details["moved_from"] = existing.version_id
                session.delete(existing)
                session.flush()
            session.add(
                TagRow(dataset_id=ds.id, name=tag, version_id=row.id, created_by=self._actor)
            )
            audit.append(
                session,
                actor=self._actor,
                action="version.tag",
                object_type="version",
                object_ref=f"{ds.name}@{row.number}",
                details={"tag": tag, **details},
            )
            session.flush()
            return self._to_version(session, ds, row)

    # -- records -----------------------------------------------------------------------------

    def record(self, ref: str, record_id: str) -> Record:
        """Fetch one record of a version by id, or by a prefix of it (the rule of
        :func:`curata.core.ids.resolve_record_id`); NotFound if the version does not hold it."""
        record_id = resolve_record_id(record_id, lambda p: self._store.find_ids(p, limit=2))
        with self._sessions() as session:
            ds, version = self._version_row(session, ref)
            storage_key, manifest_version = ds.storage_key, version.manifest_version
            name = f"{ds.name}@{version.number}"
        try:
            row = self._store.row_in_version(storage_key, manifest_version, record_id)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        if row is None:
            raise NotFoundError(f"record {record_id} is not in {name}")
        return self._store.take_records([row])[0]

    def iter_records(
        self, ref: str, *, batch_size: int = 10_000
    ) -> Iterator[builtins.list[tuple[str, Record]]]:
        """Stream a version's records as (id, record) batches, in manifest order."""
        handle = self.handle(ref)
        for batch in self._store.iter_manifest(
            handle.storage_key, handle.manifest_version, batch_size=batch_size
        ):
            ids = batch.column("record_id").to_pylist()
            records = self._store.take_records(batch.column("row").to_numpy())
            yield list(zip(ids, records, strict=True))

    def iter_rows(
        self, ref: str, *, batch_size: int = 10_000
    ) -> Iterator[builtins.list[dict[str, Any]]]:
        """Stream a version as exported rows: content, metadata, ``curata_id`` and the
        version's per-record columns (labels and confidence of a release, parsed)."""
        handle = self.handle(ref)
        for batch in self._store.iter_manifest(
            handle.storage_key, handle.manifest_version, batch_size=batch_size
        ):
            extra = [c for c in batch.schema.names if c not in MANIFEST_COLUMNS]
            ids = batch.column("record_id").to_pylist()
            records = self._store.take_records(batch.column("row").to_numpy())
            columns = {c: batch.column(c).to_pylist() for c in extra}
            yield [
                flat_row(
                    record_id,
                    record,
                    {c: _parsed(columns[c][i]) for c in extra},
                )
                for i, (record_id, record) in enumerate(zip(ids, records, strict=True))
            ]

    def diff(
        self, a: str, b: str, *, key: str | None = None, by_key: bool = True, samples: int = 5
    ) -> Diff:
        """Added, removed and changed records between two versions.

        ``key`` names the field deciding identity (default: the dataset's key); with
        ``by_key=False`` a changed record counts as removed plus added.
        """
        ha, hb = self.handle(a), self.handle(b)
        key = (key or hb.key_field) if by_key else None
        return diff_versions(self._store, ha, hb, key=key, samples=samples)
