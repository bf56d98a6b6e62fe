"""Ingest: stream files into a new immutable version of a dataset, with lineage and audit."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from curata.core.errors import ConflictError, InputError, ValidationError
from curata.core.models import Version
from curata.core.names import check_name
from curata.core.records import Record
from curata.faults import fault_point
from curata.lineage.openlineage import LineageDataset, LineageEmitter
from curata.sourcing.mapping import FieldMap
from curata.sourcing.readers.base import detect_format, too_long
from curata.sourcing.readers.formats import READERS
from curata.store.records import RecordStore, VersionWriter
from curata.store.tables import SourceRow, utcnow
from curata.versioning.commit import Operation, latest_version, next_version
from curata.versioning.service import DatasetService

BATCH = 5_000

ProgressFn = Callable[[int, int], None]

RecordReader = Callable[[Path], Iterable[tuple[str, Record]]]
"""Reads one file straight into records, each with where it came from (``file:line``): a
reader another capability brings (the red-team importers) in place of a format and field map."""


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did: a new version, or nothing because the content was unchanged."""

    dataset: str
    version: Version
    changed: bool
    records_read: int
    duplicates: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "changed": self.changed,
            "records_read": self.records_read,
            "duplicates": self.duplicates,
            "version": self.version.to_dict(),
        }


@dataclass
class _FileInput:
    path: Path
    format: str
    digest: str = ""
    records: int = 0


def _conflict(dataset: str, seen: int, appeared: int) -> str:
    """What a snapshot that lost a race to another version says."""
    started = f"{dataset}@{seen}" if seen else "no version"
    return (
        f"dataset {dataset!r}: this snapshot started from {started}, but {dataset}@{appeared} "
        f"appeared before it could be committed; nothing was written (ingest again to replace "
        f"{dataset}@{appeared}, or pass --force)"
    )


def _file_digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _batched(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(islice(items, size)):
        yield batch


@dataclass
class _Reading:
    """Streams files through the field map into a version writer, reporting progress."""

    fields: FieldMap
    encoding: str
    limit: int
    progress: ProgressFn | None
    reader: RecordReader | None = None

    def into(self, writer: VersionWriter, inputs: list[_FileInput], *, source: str) -> int:
        """Read every file; return how many records were read (duplicates included)."""
        total_bytes = sum(i.path.stat().st_size for i in inputs)
        done_bytes = 0
        for item in inputs:
            item.digest = _file_digest(item.path)
            if self.reader is not None:
                self._read_records(self.reader, writer, item, source=source)
            else:
                self._read_rows(
                    writer, item, source=source, done_bytes=done_bytes, total=total_bytes
                )
            if item.records == 0:
                raise InputError("no records (the file is empty)", path=str(item.path))
            done_bytes += item.path.stat().st_size
            if self.progress:
                self.progress(done_bytes, total_bytes)
        return sum(i.records for i in inputs)

    def _read_records(
        self, reader: RecordReader, writer: VersionWriter, item: _FileInput, *, source: str
    ) -> None:
        for batch in _batched(iter(reader(item.path)), BATCH):
            for where, record in batch:
                if record.size() > self.limit:
                    raise too_long(record.size(), self.limit, where)
            writer.add([r for _, r in batch], source=source, origins=[w for w, _ in batch])
            item.records += len(batch)

    def _read_rows(
        self, writer: VersionWriter, item: _FileInput, *, source: str, done_bytes: int, total: int
    ) -> None:
        reader = READERS[item.format](
            item.path, encoding=self.encoding, max_record_bytes=self.limit
        )
        mapping: FieldMap | None = None
        for raw_batch in _batched(iter(reader), BATCH):
            records: list[Record] = []
            for raw in raw_batch:
                mapping = self.fields.detect(raw, mapping)
                records.append(mapping.to_record(raw, max_record_bytes=self.limit))
            writer.add(records, source=source, origins=[raw.where for raw in raw_batch])
            item.records += len(records)
            if self.progress:
                self.progress(done_bytes + reader.bytes_read, total)


class IngestService:
    """Reads files into versions (see :meth:`ingest`)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: RecordStore,
        datasets: DatasetService,
        emitter: LineageEmitter,
        *,
        actor: str,
        max_record_bytes: int,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._datasets = datasets
        self._emitter = emitter
        self._actor = actor
        self._max_record_bytes = max_record_bytes

    def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        source: str,
        dataset: str,
        format: str = "auto",
        fields: FieldMap | None = None,
        message: str = "",
        key: str | None = None,
        append: bool = False,
        encoding: str = "utf-8",
        max_record_bytes: int | None = None,
        progress: ProgressFn | None = None,
        force: bool = False,
        reader: RecordReader | None = None,
    ) -> IngestResult:
        """Read ``paths`` into the next version of ``dataset``.

        By default the files are the whole new content (a snapshot); with ``append`` they add
        to the latest version. Unchanged content makes no version. Nothing is committed unless
        every record of every file is valid.

        A snapshot replaces the version that was latest when it started. If another version
        appeared meanwhile (a concurrent ingest committed first), it is a ConflictError and
        nothing is written, unless ``force``: then it replaces that version too.

        ``reader`` reads each file straight into records (``format`` then only names what it
        reads, for the operation's parameters); without it, ``format`` picks a reader and
        ``fields`` maps its objects to records.
        """
        started = utcnow()
        check_name(dataset, "dataset")
        fields = fields or FieldMap()
        fields.validate()
        limit = max_record_bytes or self._max_record_bytes
        if limit <= 0:
            raise ValidationError("max-record-bytes must be positive")
        inputs = self._check_inputs(paths, format, detect=reader is None)
        seen = self._latest_number(dataset)
        # One writer per dataset at a time: a second ingest waits, then builds on the first
        # (an append), or stops if it is a snapshot of what came before the first.
        with next_version(self._sessions, self._store, dataset) as commit:
            base = commit.base
            source_id = self._source_id(source)
            if not append and not force and base.parent_number != seen:
                raise ConflictError(_conflict(dataset, seen, base.parent_number))
            writer = commit.writer()
            if append and base.parent_manifest is not None:
                writer.keep_parent()
            read = _Reading(
                fields=fields, encoding=encoding, limit=limit, progress=progress, reader=reader
            )
            records_read = read.into(writer, inputs, source=source)
            if base.parent_id is not None and writer.is_unchanged():
                version = self._datasets.version(f"{dataset}@{base.parent_number}")
                return IngestResult(dataset, version, False, records_read, writer.duplicates)
            fault_point("before_commit")
            manifest = writer.commit(fault=fault_point)
            fault_point("after_manifest")
            key = key or base.key_field
            parameters = {
                "files": [str(i.path) for i in inputs],
                "format": [i.format for i in inputs],
                "fields": {k: v for k, v in vars(fields).items() if v},
                "source": source,
                "append": append,
                "key": key,
                "encoding": encoding,
                "records_read": records_read,
                "duplicates": writer.duplicates,
            }
            operation = Operation(
                str(uuid.uuid4()), "ingest", parameters, started, utcnow(), self._actor
            )
            files = [
                {
                    "source_id": source_id,
                    "uri": str(item.path.resolve()),
                    "file_digest": item.digest,
                    "record_count": item.records,
                }
                for item in inputs
            ]
            parent = [] if base.parent_id is None else [base.parent_id]
            ref = commit.record(
                manifest,
                operation,
                message=message,
                parents=parent,
                inputs=files + [{"version_id": p} for p in parent],
                audit_action="dataset.ingest",
                audit_details={
                    "records": manifest.record_count,
                    "added": manifest.added,
                    "removed": manifest.removed,
                    "files": parameters["files"],
                },
                key_field=key,
            ).ref
        self._emitter.emit(
            run_id=operation.id,
            job=f"ingest.{dataset}",
            started_at=operation.started,
            ended_at=operation.ended,
            inputs=[LineageDataset("curata.source", source)]
            + [LineageDataset("file", str(i.path.resolve())) for i in inputs]
            + (
                [LineageDataset.of_version(base.parent_ref)]
                if base.parent_ref is not None
                else []
            ),
            outputs=[LineageDataset.of_version(ref)],
        )
        version = self._datasets.version(ref)
        return IngestResult(dataset, version, True, records_read, writer.duplicates)

    def _latest_number(self, dataset: str) -> int:
        """The number of the dataset's latest version (0: none yet)."""
        with self._sessions() as session:
            _, latest = latest_version(session, dataset)
            return latest.number if latest is not None else 0

    def _source_id(self, source: str) -> int:
        """The registered source's id (an InputError names an unknown one)."""
        with self._sessions() as session:
            source_id = session.scalar(select(SourceRow.id).where(SourceRow.name == source))
        if source_id is None:
            raise InputError(f"unknown source {source!r} (register it with 'curata source add')")
        return source_id

    def _check_inputs(
        self, paths: Sequence[str | Path], fmt: str, *, detect: bool = True
    ) -> list[_FileInput]:
        if not paths:
            raise InputError("no input files given")
        inputs = []
        for p in paths:
            path = Path(p)
            if not path.exists():
                raise InputError("no such file", path=str(path))
            if not path.is_file():
                raise InputError("not a regular file", path=str(path))
            if path.stat().st_size == 0:
                raise InputError("no records (the file is empty)", path=str(path))
            inputs.append(_FileInput(path=path, format=detect_format(path, fmt) if detect else fmt))
        return inputs
