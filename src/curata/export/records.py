"""The record of every export: which version, format and options, where it went, and each file
it wrote with its size and SHA-256, so a checkpoint can name the exact files it was trained on
and ``curata release verify`` can tell which version a file came from.

An export is recorded in one transaction as an ``operations`` row (kind ``export``, its input
the version, as every other operation), an ``exports`` row, one ``export_files`` row per file,
and a ``version.export`` audit entry that repeats the file digests: the entry is part of the
hash chain, so a digest edited in ``export_files`` no longer matches it. It is also sent as an
OpenLineage run whose output is the file or folder written (namespace ``file``).
"""

from __future__ import annotations

import builtins
import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from curata._version import __version__
from curata.core.errors import InputError, NotFoundError, ValidationError
from curata.governance import audit
from curata.lineage.openlineage import LineageDataset, LineageEmitter
from curata.store.tables import (
    CheckpointExportRow,
    DatasetRow,
    ExportFileRow,
    ExportRow,
    OperationInputRow,
    OperationRow,
    VersionRow,
    utcnow,
)
from curata.timeutil import as_utc, iso

CHUNK = 1 << 20
EXPORT_ACTION = "version.export"


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB chunks (never whole)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def output_files(out: Path) -> list[tuple[str, Path]]:
    """The files an export wrote, by name relative to ``out`` (a file: its own name; a folder:
    every file under it, ``/``-separated), sorted."""
    if out.is_dir():
        return sorted((p.relative_to(out).as_posix(), p) for p in out.rglob("*") if p.is_file())
    return [(out.name, out)]


@dataclass(frozen=True)
class ExportFile:
    """One file an export wrote."""

    name: str
    bytes: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "bytes": self.bytes, "sha256": self.sha256}


@dataclass(frozen=True)
class ExportRecord:
    """One recorded export of a version."""

    id: int
    version: str
    format: str
    options: dict[str, Any]
    out: str
    records: int
    version_digest: str
    operation_id: str
    created_at: datetime
    created_by: str
    files: list[ExportFile] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: getattr(self, k) for k in self.__dataclass_fields__},
            "created_at": iso(self.created_at),
            "files": [f.to_dict() for f in self.files],
        }


def version_row(session: Session, ref: str) -> VersionRow:
    """The version ``NAME@N`` (an exact number)."""
    name, _, number = ref.rpartition("@")
    if not name or not number.isdigit():
        raise ValidationError(f"{ref}: expected an exact version NAME@N")
    row = session.scalar(
        select(VersionRow)
        .join(DatasetRow, DatasetRow.id == VersionRow.dataset_id)
        .where(DatasetRow.name == name, VersionRow.number == int(number))
    )
    if row is None:
        raise NotFoundError(f"{ref}: no such version")
    return row


def version_ref(session: Session, version_id: int) -> str:
    """``NAME@N`` of a version by its row id."""
    row = session.execute(
        select(DatasetRow.name, VersionRow.number)
        .join(VersionRow, VersionRow.dataset_id == DatasetRow.id)
        .where(VersionRow.id == version_id)
    ).one()
    return f"{row[0]}@{row[1]}"


def export_view(session: Session, row: ExportRow) -> ExportRecord:
    """An ``exports`` row with its version's ref and its files."""
    files = session.scalars(
        select(ExportFileRow).where(ExportFileRow.export_id == row.id).order_by(ExportFileRow.name)
    )
    return ExportRecord(
        id=row.id,
        version=version_ref(session, row.version_id),
        format=row.format,
        options=dict(row.options),
        out=row.out,
        records=int(row.records),
        version_digest=row.version_digest,
        operation_id=row.operation_id,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        files=[ExportFile(f.name, int(f.bytes), f.sha256) for f in files],
    )


class ExportLedger:
    """Records exports as they are written, lists them, and finds them by their files."""

    def __init__(
        self, sessions: sessionmaker[Session], emitter: LineageEmitter | None, actor: str
    ) -> None:
        self._sessions = sessions
        self._emitter = emitter
        self._actor = actor

    def record(
        self,
        ref: str,
        details: dict[str, Any],
        out: Path,
        *,
        started: datetime | None = None,
    ) -> ExportRecord:
        """Record the export of ``ref`` just written to ``out``; ``details`` holds its
        ``format``, the rows written (``rows``, else ``records``) and any options and counts
        (kept as the export's options and in the audit entry)."""
        out = out.resolve()
        fmt = str(details["format"])
        written = int(details.get("rows", details.get("records", 0)))
        options = {k: v for k, v in details.items() if k not in ("format", "out", "records")}
        files = [
            ExportFile(name, p.stat().st_size, sha256_file(p)) for name, p in output_files(out)
        ]
        ended = utcnow()
        operation_id = str(uuid.uuid4())
        with self._sessions.begin() as session:
            version = version_row(session, ref)
            session.add(
                OperationRow(
                    id=operation_id,
                    kind="export",
                    parameters={"format": fmt, "options": options, "out": str(out)},
                    code_version=f"curata {__version__}",
                    actor=self._actor,
                    started_at=started or ended,
                    ended_at=ended,
                )
            )
            session.flush()
            session.add(OperationInputRow(operation_id=operation_id, version_id=version.id))
            row = ExportRow(
                version_id=version.id,
                operation_id=operation_id,
                format=fmt,
                options=options,
                out=str(out),
                records=written,
                version_digest=version.digest,
                created_by=self._actor,
            )
            session.add(row)
            session.flush()
            for f in files:
                session.add(
                    ExportFileRow(export_id=row.id, name=f.name, bytes=f.bytes, sha256=f.sha256)
                )
            audit.append(
                session,
                actor=self._actor,
                action=EXPORT_ACTION,
                object_type="version",
                object_ref=ref,
                details={
                    **details,
                    "out": str(out),
                    "export": row.id,
                    "operation": operation_id,
                    "version_digest": version.digest,
                    "files": [f.to_dict() for f in files],
                },
            )
            session.flush()
            record = export_view(session, row)
        if self._emitter is not None:
            self._emitter.emit(
                run_id=operation_id,
                job=f"export.{ref.rpartition('@')[0]}",
                started_at=started or ended,
                ended_at=ended,
                inputs=[LineageDataset.of_version(ref)],
                outputs=[LineageDataset("file", str(out))],
            )
        return record

    def list(self, *, dataset: str | None = None, limit: int = 100) -> builtins.list[ExportRecord]:
        """Recorded exports, newest first, optionally of one dataset's versions."""
        query = select(ExportRow).order_by(ExportRow.id.desc()).limit(limit)
        if dataset is not None:
            query = (
                query.join(VersionRow, VersionRow.id == ExportRow.version_id)
                .join(DatasetRow, DatasetRow.id == VersionRow.dataset_id)
                .where(DatasetRow.name == dataset)
            )
        with self._sessions() as session:
            return [export_view(session, r) for r in session.scalars(query)]

    def get(self, export_id: int) -> ExportRecord:
        """One recorded export by id."""
        with self._sessions() as session:
            row = session.get(ExportRow, export_id)
            if row is None:
                raise NotFoundError(f"no export {export_id} (see 'curata export list')")
            return export_view(session, row)

    def check(self, export_ids: Iterable[int]) -> builtins.list[ExportRecord]:
        """The exports with these ids; an unknown id fails naming it."""
        return [self.get(i) for i in sorted(set(export_ids))]

    def match(self, paths: Sequence[Path]) -> builtins.list[ExportRecord]:
        """The exports that wrote these files, found by each file's SHA-256; a file that no
        recorded export wrote fails naming it."""
        found: set[int] = set()
        with self._sessions() as session:
            for path in paths:
                if not path.is_file():
                    raise InputError(f"{path}: no such file")
                digest = sha256_file(path)
                newest = session.scalar(  # the same bytes exported twice: the latest export
                    select(func.max(ExportFileRow.export_id)).where(ExportFileRow.sha256 == digest)
                )
                if newest is None:
                    raise InputError(
                        f"{path}: no recorded export wrote a file with SHA-256 {digest} "
                        "(see 'curata export list')"
                    )
                found.add(int(newest))
            return [export_view(session, session.get_one(ExportRow, i)) for i in sorted(found)]


def export_versions(session: Session, export_ids: Iterable[int]) -> set[int]:
    """The version ids of these exports; an unknown export id fails naming it."""
    wanted = set(export_ids)
    found = {
        export_id: version_id
        for export_id, version_id in session.execute(
            select(ExportRow.id, ExportRow.version_id).where(ExportRow.id.in_(wanted))
        )
    }
    missing = sorted(wanted - set(found))
    if missing:
        raise NotFoundError(f"no export {', '.join(map(str, missing))} (see 'curata export list')")
    return set(found.values())


def checkpoint_exports(session: Session, checkpoint_id: int) -> builtins.list[dict[str, Any]]:
    """The exports a checkpoint was trained on, as dicts (id, version, format, out, files)."""
    rows = session.scalars(
        select(ExportRow)
        .join(CheckpointExportRow, CheckpointExportRow.export_id == ExportRow.id)
        .where(CheckpointExportRow.checkpoint_id == checkpoint_id)
        .order_by(ExportRow.id)
    )
    return [
        {
            "id": r.id,
            "version": v.version,
            "format": v.format,
            "out": v.out,
            "files": [f.to_dict() for f in v.files],
        }
        for r in rows
        for v in [export_view(session, r)]
    ]
