"""The ``exact_dedup`` step: drop records whose normalised text another record already has."""

from __future__ import annotations

import hashlib
import math
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from curata.core.records import Record
from curata.curation.diskmap import DiskMap
from curata.curation.steps.base import Decision, Item, Step, TextParams, text_fields
from curata.curation.steps.field_filter import MISSING, metadata_value

Summary = list[tuple[bytes | None, int, float | None, str]]
"""Per record of a batch: (digest or None when nothing is selected, length, keep value, id)."""

Dropped = tuple[str, int]
"""What is kept about a dropped record: (its survivor's id, the number of twins)."""

FANOUT = 256
"""Partitions per level: one byte of the digest picks a record's partition."""
PARTITION_ROWS = 200_000
"""A partition file with more rows than this is split again by the digest's next byte before
it is resolved, so the rows resolved at once stay about this many, whatever the corpus size."""
STAGE_ROWS = 65_536
"""Rows gathered in memory before they are split among the partition files (one Arrow record
batch per partition per flush: small enough to bound memory, large enough that the files are
not mostly batch headers)."""
_DIGEST = pa.binary(16)


class ExactDedupParams(TextParams):
    """Parameters of :class:`ExactDedup`."""

    lowercase: bool = Field(default=True, description="Compare texts case-insensitively.")
    collapse_whitespace: bool = Field(
        default=True, description="Treat every run of whitespace as one space; ignore edges."
    )
    keep: Literal["first", "longest", "metadata"] = Field(
        default="first",
        description="Which twin survives: the first in the stream, the longest (characters of "
        "the selected text, before normalisation), or the best by metadata (keep_field).",
    )
    keep_field: str | None = Field(
        default=None,
        description="Metadata field (dotted path) ranked when keep is metadata; a record where "
        "it is missing or not a number survives only when no twin has a number.",
    )
    keep_order: Literal["max", "min"] = Field(
        default="max", description="Keep the twin with the largest or the smallest keep_field."
    )

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        if self.keep == "metadata" and not self.keep_field:
            raise ValueError("keep_field is required when keep is 'metadata'")
        if self.keep != "metadata" and self.keep_field is not None:
            raise ValueError(f"keep_field is only used when keep is 'metadata', not {self.keep!r}")


class ExactDedup(Step):
    """Drop every record but one among those with the same normalised selected text.

    The key is BLAKE2b (16 bytes) of the record kind and each selected text with its field
    (the role for chat messages), after the normalisation the parameters select. Ties in the
    keep policy go to the first in the stream. A record with no selected text (e.g. no message
    of the selected role) is never a duplicate. :meth:`apply` looks decisions up by record id:
    :meth:`prepare` has already named every record it drops, its survivor and the twin count.

    Without a scratch directory (:attr:`~Step.scratch` None) :meth:`prepare` gathers one row
    per record with selected text (digest, position, rank, id: 60 to 68 bytes in Arrow
    columns) and resolves them all at once; the decisions (a dict, one entry per dropped
    record) stay in memory.

    With a scratch directory the state that grows with the corpus is on disk, and memory holds
    only :data:`STAGE_ROWS` rows being split plus the one partition being resolved, whatever
    the number of records:

    - ``parts/XX.ipc``: Arrow IPC files, one per value of the digest's first byte
      (:data:`FANOUT` = 256 partitions; the number of records is not known in advance, so the
      fan-out is fixed and a partition grows instead), of (digest, stream position, id, and
      the rank the keep policy reads: the length for ``longest``, the value for ``metadata``):
      about 60 bytes a record with 32-hex-digit ids, 68 with a rank. A file of more than
      :data:`PARTITION_ROWS` rows is split by the digest's next byte (``XX-YY.ipc``) before
      it is resolved, so 256 partitions serve up to about 50M records at 200k rows each, and
      each further level 256 times more. Each file is removed once resolved (or split): the
      files are gone when :meth:`prepare` returns, and take the most disk, N x ~68 bytes, when
      the streaming ends.
    - ``dropped.sqlite``: a :class:`~curata.curation.diskmap.DiskMap` from each dropped id to
      (survivor id, twins): about 100 bytes a dropped record; :meth:`apply` asks it for a
      whole batch's ids at once. Kept records take nothing.

    A digest with more twins than :data:`PARTITION_ROWS` is resolved in one piece (its rows
    must be compared together): memory then follows the largest twin group, not N.

    Twins share a digest, hence a partition, so every partition is resolved on its own by the
    same function (:meth:`_resolve`) that resolves the whole input in memory.
    """

    name = "exact_dedup"
    summary = "Drop exact duplicates of the normalised text, keeping first, longest or best."
    Params = ExactDedupParams
    params: ExactDedupParams
    needs_all = True

    def __init__(self, params: ExactDedupParams) -> None:
        super().__init__(params)
        self._dropped: dict[str, Dropped] | DiskMap | None = None
        self.stage_rows = STAGE_ROWS
        self.partition_rows = PARTITION_ROWS

    def digest(self, record: Record) -> bytes | None:
        """The duplicate key of ``record``, or None when nothing is selected."""
        texts = text_fields(record, self.params.fields)
        if not texts:
            return None
        h = hashlib.blake2b(record.kind.encode(), digest_size=16)
        messages = record.messages or []
        for path, text in texts:
            if path.startswith("messages["):  # messages[i].content: the role, not i
                label = messages[int(path[9 : path.index("]")])].get("role", "")
            else:
                label = path
            if self.params.lowercase:
                text = text.lower()
            if self.params.collapse_whitespace:
                text = " ".join(text.split())
            for part in (str(label).encode(), text.encode("utf-8", "surrogatepass")):
                h.update(len(part).to_bytes(8, "little"))
                h.update(part)
        return h.digest()

    def summarize(self, batch: Sequence[Item]) -> Summary:
        """Per record: its digest, selected length, keep value and id (no text)."""
        out: Summary = []
        for record_id, record in batch:
            length = value = None
            if self.params.keep == "longest":
                length = sum(len(text) for _, text in text_fields(record, self.params.fields))
            elif self.params.keep == "metadata":
                value = _rank_value(metadata_value(record.metadata, self.params.keep_field or ""))
            out.append((self.digest(record), length or 0, value, record_id))
        return out

    def prepare(self, summaries: Iterator[Summary]) -> None:
        """Name every record that is not its digest's survivor: in memory, or through the
        partition files in :attr:`~Step.scratch` (see the class docstring)."""
        if isinstance(self._dropped, DiskMap):
            self._dropped.close()
        self._dropped = None
        if self.scratch is None:
            batches = list(self._staged(summaries))
            table = pa.Table.from_batches(batches, schema=self._schema())
            self._dropped = {
                rid: (survivor, twins) for rid, survivor, twins in self._resolve(table)
            }
            return
        parts = self.scratch / "parts"
        shutil.rmtree(parts, ignore_errors=True)
        parts.mkdir(parents=True)
        writer = _Partitions(parts, "", self._schema())
        for batch in self._staged(summaries):
            writer.write(batch, 0)
        files = writer.close()
        path = self.scratch / "dropped.sqlite"
        path.unlink(missing_ok=True)
        dropped = DiskMap(path)
        for file in files:
            self._resolve_file(file, 0, dropped)
        parts.rmdir()
        self._dropped = dropped

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        """Drop each record that is not its digest's survivor, naming the survivor."""
        if self._dropped is None:
            raise RuntimeError("exact_dedup: prepare() must see every batch before apply()")
        ids = [record_id for record_id, _ in batch]
        # by id, not by position: the executor may apply a step on more than one pass
        found = self._dropped.get_many(ids) if isinstance(self._dropped, DiskMap) else self._dropped
        out: list[Decision] = []
        for record_id in ids:
            hit = found.get(record_id)
            if hit is None:
                out.append(Decision.keep())
            else:
                survivor, twins = hit
                out.append(
                    Decision.drop(
                        f"exact duplicate of {survivor} (same normalised text)",
                        related=survivor,
                        keep=self.params.keep,
                        twins=twins,
                    )
                )
        return out

    # -- rows, partitions and the survivor choice ----------------------------------------------

    def _schema(self) -> pa.Schema:
        """The rows' columns: only the rank the keep policy reads is written."""
        fields = [("digest", _DIGEST), ("index", pa.int64()), ("id", pa.string())]
        if self.params.keep == "longest":
            fields.append(("length", pa.int64()))
        elif self.params.keep == "metadata":
            fields.append(("value", pa.float64()))
        return pa.schema(fields)

    def _staged(self, summaries: Iterator[Summary]) -> Iterator[pa.RecordBatch]:
        """The records with selected text as Arrow batches of about :attr:`stage_rows` rows,
        each with its position in the stream (columns gathered as lists: Arrow converts a
        list of bytes 50 times faster than a tuple)."""
        schema = self._schema()
        rank = {"longest": 1, "metadata": 2}.get(self.params.keep)
        columns: list[list[Any]] = [[] for _ in schema]
        index = 0
        for summary in summaries:
            rows: Sequence[tuple[int, tuple[bytes | None, int, float | None, str]]]
            if any(row[0] is None for row in summary):
                rows = [(i, row) for i, row in enumerate(summary, index) if row[0] is not None]
                columns[1].extend([i for i, _ in rows])
                kept = [row for _, row in rows]
            else:
                columns[1].extend(range(index, index + len(summary)))
                kept = summary
            index += len(summary)
            columns[0].extend([row[0] for row in kept])
            columns[2].extend([row[3] for row in kept])
            if rank is not None:
                columns[3].extend([row[rank] for row in kept])
            if len(columns[0]) >= self.stage_rows:
                yield _record_batch(columns, schema)
                columns = [[] for _ in schema]
        if columns[0]:
            yield _record_batch(columns, schema)

    def _resolve_file(self, path: Path, depth: int, out: DiskMap, split: bool = True) -> None:
        """Resolve one partition file into ``out`` (split further first when it holds more
        than :attr:`partition_rows` rows), then remove it. A split that leaves every row in
        one file (one digest with that many twins, which must be resolved at once) is not
        tried again."""
        files: list[Path] = []
        decided: list[tuple[str, str, int]] = []
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_file(source)
            count = reader.num_record_batches
            rows = sum(reader.get_batch(i).num_rows for i in range(count))
            if split and count > 1 and rows > self.partition_rows and depth + 1 < 16:
                writer = _Partitions(path.parent, f"{path.stem}-", reader.schema)
                for i in range(count):
                    writer.write(reader.get_batch(i), depth + 1)
                files = writer.close()
            else:
                decided = self._resolve(reader.read_all())
        path.unlink()  # before the splits are resolved: the disk holds one copy of the rows
        for file in files:
            self._resolve_file(file, depth + 1, out, len(files) > 1)
        out.put_many((rid, (survivor, twins)) for rid, survivor, twins in decided)

    def _resolve(self, table: pa.Table) -> list[tuple[str, str, int]]:
        """(dropped id, survivor id, twins) for every record of ``table`` that has a twin
        and is not its digest's survivor: the best by the keep policy, the first in the stream
        among equals. Sorts by (digest, rank, position) and takes each digest's first row."""
        n = table.num_rows
        if n < 2:
            return []
        table = table.combine_chunks()
        words = _digests(table.column("digest").chunk(0)).view("<u8")
        keys: list[np.ndarray[Any, Any]] = [table.column("index").to_numpy()]
        if self.params.keep == "longest":
            keys.append(-table.column("length").to_numpy())
        elif self.params.keep == "metadata":
            value = table.column("value").to_numpy(zero_copy_only=False)
            missing = np.isnan(value)  # _rank_value never gives NaN: NaN is a missing value
            value = np.where(missing, 0.0, value)
            keys += [-value if self.params.keep_order == "max" else value, missing]
        keys += [words[:, 1], words[:, 0]]  # np.lexsort: the last key sorts first
        order = np.lexsort(keys)
        ordered = words[order]
        first = np.empty(n, dtype=bool)
        first[0] = True
        np.any(ordered[1:] != ordered[:-1], axis=1, out=first[1:])
        group = np.cumsum(first) - 1
        twins = np.bincount(group)
        later = ~first
        group = group[later]
        ids = table.column("id")
        return list(
            zip(
                ids.take(order[later]).to_pylist(),
                ids.take(order[first][group]).to_pylist(),
                twins[group].tolist(),
                strict=True,
            )
        )


class _Partitions:
    """Partition files under ``folder`` named ``<prefix>XX.ipc``, XX the digest's byte at the
    depth written; a file is made when its partition gets its first row."""

    def __init__(self, folder: Path, prefix: str, schema: pa.Schema) -> None:
        self.folder = folder
        self.prefix = prefix
        self.schema = schema
        self.writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}

    def write(self, batch: pa.RecordBatch, depth: int) -> None:
        """Split ``batch`` by the digest's byte at ``depth``: one record batch per partition."""
        key = _digests(batch.column(0))[:, depth]
        order = np.argsort(key, kind="stable")
        ordered = batch.take(pa.array(order))
        counts = np.bincount(key, minlength=FANOUT)
        start = 0
        for part in np.flatnonzero(counts).tolist():
            count = int(counts[part])
            writer = self.writers.get(part)
            if writer is None:
                path = self.folder / f"{self.prefix}{part:02x}.ipc"
                writer = self.writers[part] = pa.ipc.new_file(str(path), self.schema)
            writer.write_batch(ordered.slice(start, count))
            start += count

    def close(self) -> list[Path]:
        """Close every file; their paths, in partition order."""
        for writer in self.writers.values():
            writer.close()
        return [self.folder / f"{self.prefix}{part:02x}.ipc" for part in sorted(self.writers)]


def _record_batch(columns: list[list[Any]], schema: pa.Schema) -> pa.RecordBatch:
    arrays = [pa.array(column, field.type) for column, field in zip(columns, schema, strict=True)]
    return pa.record_batch(arrays, schema=schema)


def _digests(column: pa.Array) -> np.ndarray[Any, Any]:
    """A fixed-size binary column of digests as an (n, 16) array of bytes (no copy)."""
    width = _DIGEST.byte_width
    data = np.frombuffer(column.buffers()[1], dtype=np.uint8)
    start = column.offset * width
    return data[start : start + len(column) * width].reshape(-1, width)


def _rank_value(value: Any) -> float | None:
    """A metadata value as a rank: a finite number, else None (booleans are not numbers)."""
    if isinstance(value, bool) or value is MISSING or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
