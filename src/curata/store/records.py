"""The record store: unique record payloads and per-dataset version manifests, in Lance.

Layout under the data root::

    records.lance              every distinct record once (id, kind, content, metadata)
    manifests/<key>.lance      one Lance dataset per Curata dataset; each Curata version is one
                               Lance version of it: rows (record_id, row, source, origin)

``row`` is the record's offset in ``records.lance``. That dataset is append-only (nothing is
ever deleted or compacted in place), so an offset never changes and ``take`` fetches payloads
without an index. A Curata version points at one Lance version of its manifest; an update
deletes the rows of removed records and appends rows for added ones, so a 1% change costs
about 1% of new storage. The SQL metadata database is the commit point: a manifest version
that no SQL version references (left by a crash) is never read, and the next write restores
the referenced version before changing anything.

The data root is a local directory or an object-store URI (``s3://bucket/prefix``, ``gs://``,
``az://``: whatever Lance reaches), with Lance's ``storage_options`` (endpoint, region,
credentials, ``allow_http``; standard ``AWS_*`` environment variables apply too). Lock files
are always local: in the data directory for a local store, in ``lock_dir`` (the workspace's
home) for an object store, so they order the writers of one machine only; see
docs/deployment.md for what orders writers on several machines.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lance
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curata.core.ids import ID_HEX_LENGTH, digest_of_ids
from curata.core.records import Record

RECORD_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("text", pa.large_string()),
        pa.field("messages", pa.large_string()),
        pa.field("prompt", pa.large_string()),
        pa.field("response", pa.large_string()),
        pa.field("metadata", pa.large_string(), nullable=False),
    ]
)
MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("row", pa.int64(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("origin", pa.string()),
    ]
)
ID_DTYPE = f"S{ID_HEX_LENGTH}"
FRAGMENT_ROWS = 100_000
FRAGMENT_BYTES = 64 * 1024 * 1024
DELETE_CHUNK = 20_000
REWRITE_SHARE = 0.05


def ids_to_numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """View a string array of fixed-length hex ids as a NumPy ``S32`` array (no Python objects)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks else pa.array([], pa.string())
    if len(array) == 0:
        return np.empty(0, dtype=ID_DTYPE)
    array = array.cast(pa.string())
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[
        array.offset : array.offset + len(array) + 1
    ]
    if offsets[-1] - offsets[0] != ID_HEX_LENGTH * len(array):
        return np.array(array.to_pylist(), dtype=ID_DTYPE)
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.view(ID_DTYPE).copy()


OBJECT_STORE_SCHEMES = ("s3://", "s3+ddb://", "gs://", "az://", "abfss://", "memory://")
"""Data roots that are object-store URIs rather than local directories."""


def is_object_store(uri: str | Path) -> bool:
    """Whether a data root is an object-store URI (``s3://bucket/prefix``, …)."""
    return isinstance(uri, str) and uri.lower().startswith(OBJECT_STORE_SCHEMES)


def storage_options_of(options: dict[str, Any] | None) -> dict[str, str]:
    """Lance storage options as strings (JSON ``true`` becomes ``"true"``, which Lance parses)."""
    if not options:
        return {}
    out: dict[str, str] = {}
    for key, value in options.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            out[key] = str(value)
        else:
            raise ValueError(f"storage option {key!r}: expected a string, number or boolean")
    return out


def _dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                continue
    return total


@dataclass
class StoreIndex:
    """Sorted ids of every stored record with their row offsets, for vectorised lookups."""

    ids: np.ndarray
    rows: np.ndarray

    @classmethod
    def build(cls, ids: np.ndarray) -> StoreIndex:
        order = np.argsort(ids, kind="stable")
        return cls(ids=ids[order], rows=order.astype(np.int64))

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """Return each id's row offset, or -1 where the id is not stored."""
        if len(self.ids) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.searchsorted(self.ids, ids)
        pos_clipped = np.minimum(pos, len(self.ids) - 1)
        found = self.ids[pos_clipped] == ids
        return np.where(found, self.rows[pos_clipped], -1)


_HEX_VALUES = np.zeros(256, dtype=np.uint64)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_VALUES[_c] = _i
_NIBBLE_SHIFTS = np.arange(60, -4, -4, dtype=np.uint64)


def id_prefix_u64(ids: np.ndarray) -> np.ndarray:
    """The first 64 bits of each hex id (``S32``) as ``uint64``, vectorised."""
    digits = ids.view(np.uint8).reshape(-1, ID_HEX_LENGTH)[:, :16]
    shifted: np.ndarray = _HEX_VALUES[digits] << _NIBBLE_SHIFTS
    packed: np.ndarray = np.bitwise_or.reduce(shifted, axis=1)
    return packed


@dataclass
class VersionIndex:
    """An in-memory index of one (immutable) version: record id → row in the record store.

    Sorted by the ids' first 64 bits; a hit is confirmed on the full id, so prefix collisions
    cannot return a wrong record. About 56 bytes per record.
    """

    keys: np.ndarray
    order: np.ndarray
    ids: np.ndarray
    rows: np.ndarray

    @classmethod
    def build(cls, table: pa.Table) -> VersionIndex:
        ids = ids_to_numpy(table.column("record_id"))
        keys = id_prefix_u64(ids)
        order = np.argsort(keys, kind="stable")
        return cls(keys=keys[order], order=order, ids=ids, rows=table.column("row").to_numpy())

    def row_of(self, record_id: str) -> int | None:
        wanted = np.array([record_id], dtype=ID_DTYPE)
        key = id_prefix_u64(wanted)[0]
        lo, hi = np.searchsorted(self.keys, key, "left"), np.searchsorted(self.keys, key, "right")
        for position in self.order[lo:hi]:
            if self.ids[position] == wanted[0]:
                return int(self.rows[position])
        return None


@dataclass
class ManifestResult:
    """What committing a version's manifest produced."""

    manifest_version: int
    record_count: int
    digest: str
    added: int
    removed: int
    bytes_added: int
    source_counts: dict[str, int]


@dataclass
class _Pending:
    """Manifest rows of added records, and payloads not yet written, in compact chunks."""

    ids: list[pa.Array] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    sources: list[tuple[str | None, int]] = field(default_factory=list)
    origins: list[pa.Array] = field(default_factory=list)
    count: int = 0
    payloads: list[pa.RecordBatch] = field(default_factory=list)
    payload_rows: int = 0
    payload_bytes: int = 0

    def manifest_rows(self, rows: np.ndarray) -> pa.Table:
        sources = [pa.array([s] * n, pa.string()) for s, n in self.sources]
        return pa.table(
            {
                "record_id": pa.chunked_array(self.ids, pa.string()),
                "row": pa.array(rows, pa.int64()),
                "source": pa.chunked_array(sources, pa.string()),
                "origin": pa.chunked_array(self.origins, pa.string()),
            },
            schema=MANIFEST_SCHEMA,
        )


class RecordStore:
    """Lance-backed store of record payloads and version manifests (see module docstring)."""

    INDEX_CACHE_SIZE = 4

    def __init__(
        self,
        root: str | Path,
        *,
        storage_options: dict[str, Any] | None = None,
        lock_dir: str | Path | None = None,
    ) -> None:
        self.remote = is_object_store(root)
        if self.remote:
            self.uri = str(root).rstrip("/")
            if lock_dir is None:
                raise ValueError(f"a record store at {self.uri} needs a local lock directory")
            self.root = Path(lock_dir)  # lock files only (a local store's are in its directory)
        else:
            self.root = Path(root)
            self.uri = str(self.root)
        self.storage_options: dict[str, str] = storage_options_of(storage_options)
        self.records_uri = f"{self.uri}/records.lance"
        self._lookups: dict[tuple[str, int], int] = {}
        self._indexes: dict[tuple[str, int], VersionIndex] = {}
        self._cache_lock = threading.Lock()
        self._records_handle: lance.LanceDataset | None = None
        self._records_rows = 0

    def _options(self) -> dict[str, str] | None:
        return self.storage_options or None

    def open(self, uri: str, version: int | None = None) -> lance.LanceDataset:
        """Open a Lance dataset of this store (with its storage options)."""
        return lance.dataset(uri, version=version, storage_options=self._options())

    def exists(self, uri: str) -> bool:
        """Whether a Lance dataset of this store exists (has a committed version)."""
        if not self.remote:
            return Path(uri).exists()
        try:
            self.open(uri)
        except ValueError as exc:  # Lance: "Dataset at path ... was not found"
            if "not found" in str(exc):
                return False
            raise
        return True

    def write(self, table: pa.Table, uri: str, *, mode: str, **kwargs: Any) -> lance.LanceDataset:
        """``lance.write_dataset`` with this store's storage options."""
        return lance.write_dataset(table, uri, mode=mode, storage_options=self._options(), **kwargs)

    def initialise(self) -> None:
        """Create the empty record dataset (idempotent)."""
        if self.remote:
            self.root.mkdir(parents=True, exist_ok=True)
        else:
            (self.root / "manifests").mkdir(parents=True, exist_ok=True)
        if not self.exists(self.records_uri):
            self.write(RECORD_SCHEMA.empty_table(), self.records_uri, mode="create")

    def manifest_uri(self, storage_key: str) -> str:
        return f"{self.uri}/manifests/{storage_key}.lance"

    def records(self, version: int | None = None) -> lance.LanceDataset:
        return self.open(self.records_uri, version)

    def manifest(self, storage_key: str, version: int) -> lance.LanceDataset:
        return self.open(self.manifest_uri(storage_key), version)

    # -- reads -------------------------------------------------------------------------------

    def manifest_table(
        self, storage_key: str, version: int, columns: list[str] | None = None
    ) -> pa.Table:
        """Return a version's manifest rows (all of them; ~50 bytes each)."""
        return self.manifest(storage_key, version).to_table(columns=columns)

    def iter_manifest(
        self, storage_key: str, version: int, *, batch_size: int = 10_000
    ) -> Iterator[pa.RecordBatch]:
        """Stream a version's manifest rows in batches."""
        yield from self.manifest(storage_key, version).to_batches(batch_size=batch_size)

    def take(self, rows: np.ndarray | list[int]) -> list[dict[str, Any]]:
        """Fetch stored rows (id, kind, content, metadata) by their offsets, in that order."""
        if len(rows) == 0:
            return []
        wanted = list(map(int, rows))
        taken: list[dict[str, Any]] = self._handle_for(wanted).take(wanted).to_pylist()
        return taken

    def take_columns(self, rows: np.ndarray | list[int], columns: list[str]) -> pa.Table:
        """Some columns of stored rows, by offset, in that order."""
        if len(rows) == 0:
            return RECORD_SCHEMA.empty_table().select(columns)
        wanted = list(map(int, rows))
        return self._handle_for(wanted).take(wanted, columns=columns)

    def _handle_for(self, rows: list[int]) -> lance.LanceDataset:
        """An open record dataset that holds ``rows`` (append-only: an open handle stays valid
        for every row it counts, so it is reopened only for newer rows)."""
        if self._records_handle is None or max(rows) >= self._records_rows:
            self._records_handle = self.records()
            self._records_rows = self._records_handle.count_rows()
        return self._records_handle

    def take_records(self, rows: np.ndarray | list[int]) -> list[Record]:
        return [Record.from_row(row) for row in self.take(rows)]

    def take_around(self, row: int, count: int) -> dict[int, Record]:
        """``row`` and up to ``count - 1`` stored rows after it, in one read (for callers that
        will likely want the neighbours next, like the annotation queue)."""
        self._handle_for([row])
        rows = list(range(row, min(row + count, self._records_rows)))
        return dict(zip(rows, self.take_records(rows), strict=True))

    def get(self, record_id: str) -> dict[str, Any] | None:
        """Fetch one stored record by id (indexed), or ``None``."""
        table = self.records().to_table(filter=f"id = '{_hex(record_id)}'", limit=1)
        rows = table.to_pylist()
        return rows[0] if rows else None

    def find_ids(self, prefix: str, *, limit: int = 10) -> list[str]:
        """Return stored ids that start with ``prefix`` (hex), at most ``limit``."""
        prefix = _hex(prefix)
        upper = prefix + "g"  # 'g' sorts after every hex digit
        table = self.records().to_table(
            columns=["id"], filter=f"id >= '{prefix}' AND id < '{upper}'", limit=limit
        )
        return sorted(set(table.column("id").to_pylist()))

    def row_in_version(self, storage_key: str, version: int, record_id: str) -> int | None:
        """The record-store row of ``record_id`` in a version, or ``None`` if it is not there.

        The first lookup in a version scans its manifest; from the second on, an in-memory
        :class:`VersionIndex` answers (versions are immutable, so it never goes stale).
        """
        record_id = _hex(record_id)
        cache_key = (storage_key, version)
        index = self._indexes.get(cache_key)
        if index is None:
            self._lookups[cache_key] = self._lookups.get(cache_key, 0) + 1
            if self._lookups[cache_key] < 2:
                hit = self.manifest_lookup(storage_key, version, record_id)
                return None if hit is None else int(hit["row"])
            table = self.manifest_table(storage_key, version, ["record_id", "row"])
            index = VersionIndex.build(table)
            if len(self._indexes) >= self.INDEX_CACHE_SIZE:
                with self._cache_lock:  # the API serves lookups from several threads
                    self._indexes.pop(next(iter(self._indexes)), None)
            self._indexes[cache_key] = index
        return index.row_of(record_id)

    def manifest_lookup(
        self, storage_key: str, version: int, record_id: str
    ) -> dict[str, Any] | None:
        """Return the manifest row of ``record_id`` in a version, or ``None`` if absent."""
        table = self.manifest(storage_key, version).to_table(
            filter=f"record_id = '{_hex(record_id)}'", limit=1
        )
        rows = table.to_pylist()
        return rows[0] if rows else None

    def load_index(self) -> tuple[StoreIndex, int]:
        """Return an index of every stored id and the record dataset version it reflects."""
        ds = self.records()
        ids = ids_to_numpy(ds.to_table(columns=["id"]).column("id"))
        return StoreIndex.build(ids), ds.version

    def maintain_indices(self) -> None:
        """Index new record fragments (creates the id index on first use)."""
        ds = self.records()
        if ds.count_rows() == 0:
            return
        if not any(ix.name == "id_idx" for ix in ds.describe_indices()):
            ds.create_scalar_index("id", "BTREE", name="id_idx")
        else:
            # A delta segment for the new rows only: merging would rewrite the whole index
            # (~25 MB per million records) on every version.
            ds.optimize.optimize_indices(num_indices_to_merge=0)

    def size_bytes(self, storage_key: str | None = None) -> int:
        """Size of the record dataset plus one manifest (or all of them): on disk for a local
        store; on an object store, the data files of their latest versions (listing a bucket
        is not needed for that: Lance's metadata has each file's size)."""
        if not self.remote:
            manifests = self.root / "manifests"
            if storage_key is not None:
                manifests = manifests / f"{storage_key}.lance"
            return _dir_size(self.root / "records.lance") + _dir_size(manifests)
        if storage_key is None:
            raise ValueError(f"the size of every manifest of {self.uri} is not measured")
        return self._data_bytes(self.records_uri) + self._data_bytes(self.manifest_uri(storage_key))

    def _data_bytes(self, uri: str) -> int:
        if not self.exists(uri):
            return 0
        files = {
            (f.path, f.file_size_bytes or 0)
            for fragment in self.open(uri).get_fragments()
            for f in fragment.metadata.files
        }
        return sum(size for _path, size in files)

    # -- writes ------------------------------------------------------------------------------

    @contextmanager
    def dataset_lock(self, name: str) -> Iterator[None]:
        """Hold the exclusive write lock of one dataset (an OS file lock; released on crash),
        and a shared hold on the store, which garbage collection needs alone (a writer's new
        payload fragments are referenced by no version until it commits)."""
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        with self._store_lock(fcntl.LOCK_SH), (locks / f"{name}.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def exclusive(self) -> Iterator[bool]:
        """Hold the store alone if no writer holds a dataset lock: yields False (holding
        nothing) when one does, True otherwise."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "store.lock").open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def _store_lock(self, mode: int) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "store.lock").open("a") as handle:
            fcntl.flock(handle, mode)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def write_manifest(
        self, storage_key: str, table: pa.Table, parent_manifest_version: int | None
    ) -> ManifestResult:
        """Write a whole manifest (with extra per-record columns) as the dataset's next Lance
        version. Used when most rows change anyway (a labelled release). Its digest and counts
        are those of every version: the digest of its sorted entries (:func:`entry_digest`: the
        sorted ids, as :meth:`VersionWriter.commit` gives, when there are no per-record
        columns), and the entries added and removed against the parent (:func:`entry_changes`)."""
        uri = self.manifest_uri(storage_key)
        size_before = self.size_bytes(storage_key)
        parent = None
        if parent_manifest_version is not None:
            parent = self.manifest_table(storage_key, parent_manifest_version)
            if self.open(uri).version != parent_manifest_version:
                self.open(uri, parent_manifest_version).restore()  # type: ignore[no-untyped-call]
        mode = "overwrite" if self.exists(uri) else "create"
        version = int(self.write(table, uri, mode=mode).version)
        added, removed = entry_changes(table, parent)
        return ManifestResult(
            manifest_version=version,
            record_count=table.num_rows,
            digest=entry_digest(table),
            added=added,
            removed=removed,
            bytes_added=max(0, self.size_bytes(storage_key) - size_before),
            source_counts=_source_counts(table.column("source")),
        )

    def version_writer(
        self, storage_key: str, parent_manifest_version: int | None
    ) -> VersionWriter:
        """Start writing a new version of a dataset on top of a parent manifest version."""
        return VersionWriter(self, storage_key, parent_manifest_version)


def _hex(value: str) -> str:
    """Refuse anything but lowercase hex before it reaches a filter expression."""
    value = value.lower()
    if not value or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"not a record id: {value!r}")
    return value


class VersionWriter:
    """Accumulates the records of one new version, then commits payloads and manifest.

    Memory grows with the number of records, not their size: the new version's ids (a set of
    strings, ~130 bytes each), the manifest rows of added records (Arrow, ~100 bytes), the
    parent's ids (32 bytes) and the store's id index (48 bytes per stored record), plus at
    most one buffer of new payloads (``FRAGMENT_ROWS`` rows or ``FRAGMENT_BYTES``). Measured
    peak: ~560 bytes per record at 1M records (BENCHMARKS.md).
    """

    def __init__(
        self, store: RecordStore, storage_key: str, parent_manifest_version: int | None
    ) -> None:
        self.store = store
        self.storage_key = storage_key
        self.parent_manifest_version = parent_manifest_version
        self.size_before = store.size_bytes(storage_key)
        self.index, self.records_read_version = store.load_index()
        if parent_manifest_version is None:
            self.parent_ids = np.empty(0, dtype=ID_DTYPE)
        else:
            table = store.manifest_table(storage_key, parent_manifest_version, ["record_id"])
            self.parent_ids = np.sort(ids_to_numpy(table.column("record_id")))
        self.seen: set[str] = set()
        self.pending = _Pending()
        self.fragments: list[Any] = []
        self.new_payload_count = 0
        self.duplicates = 0
        self.append_mode = False

    def add(
        self,
        records: Iterable[Record],
        *,
        source: str | None,
        origins: Iterable[str | None],
    ) -> None:
        """Add a batch of records (duplicates within the version are counted, kept once)."""
        batch_ids: list[str] = []
        batch_records: list[Record] = []
        batch_origins: list[str | None] = []
        for record, origin in zip(records, origins, strict=True):
            record_id = record.id
            if record_id in self.seen:
                self.duplicates += 1
                continue
            self.seen.add(record_id)
            batch_ids.append(record_id)
            batch_records.append(record)
            batch_origins.append(origin)
        if not batch_ids:
            return
        ids = np.array(batch_ids, dtype=ID_DTYPE)
        added = np.flatnonzero(~_isin_sorted(ids, self.parent_ids))
        if not len(added):
            return
        rows = self.index.lookup(ids[added])
        new = rows < 0
        n_new = int(new.sum())
        # Payloads not stored yet get placeholders -(k+1) for the k-th new payload.
        rows[new] = -(self.new_payload_count + 1 + np.arange(n_new, dtype=np.int64))
        self.new_payload_count += n_new
        pending = self.pending
        pending.ids.append(pa.array([batch_ids[i] for i in added], pa.string()))
        pending.rows.append(rows)
        pending.sources.append((source, len(added)))
        pending.origins.append(pa.array([batch_origins[i] for i in added], pa.string()))
        pending.count += len(added)
        if n_new:
            payload = pa.RecordBatch.from_pylist(
                [{"id": batch_ids[i], **batch_records[i].to_row()} for i in added[new]],
                schema=RECORD_SCHEMA,
            )
            pending.payloads.append(payload)
            pending.payload_rows += n_new
            pending.payload_bytes += payload.nbytes
            if pending.payload_rows >= FRAGMENT_ROWS or pending.payload_bytes >= FRAGMENT_BYTES:
                self._flush_payloads()

    def keep_parent(self) -> None:
        """Keep every record of the parent (append mode: the new files add to it)."""
        self.append_mode = True

    @property
    def record_count(self) -> int:
        return len(self.seen)

    def _flush_payloads(self) -> None:
        """Write buffered payloads as Lance fragments (not yet part of any version)."""
        pending = self.pending
        if not pending.payloads:
            return
        table = pa.Table.from_batches(pending.payloads, schema=RECORD_SCHEMA)
        self.fragments.extend(
            lance.fragment.write_fragments(
                table,
                self.store.records_uri,
                max_rows_per_file=FRAGMENT_ROWS * 10,
                storage_options=self.store._options(),
            )
        )
        pending.payloads, pending.payload_rows, pending.payload_bytes = [], 0, 0

    def is_unchanged(self) -> bool:
        """True when the version would hold exactly the parent's records."""
        if self.parent_manifest_version is None:
            return False
        if self.append_mode:
            return not self.pending.count
        return not self.pending.count and len(self.seen) == len(self.parent_ids)

    def commit(self, fault: Callable[[str], None] | None = None) -> ManifestResult:
        """Commit new payloads, then the manifest; return the new manifest version.

        ``fault`` is a test hook called between the two commits.
        """
        self._flush_payloads()
        pending = self.pending
        rows = np.concatenate(pending.rows) if pending.rows else np.empty(0, dtype=np.int64)
        if self.fragments:
            first_offset = self._commit_payloads()
            if fault is not None:
                fault("after_payloads")
            placeholders = rows < 0
            rows[placeholders] = first_offset + (-rows[placeholders] - 1)
        seen = np.array(sorted(self.seen), dtype=ID_DTYPE)
        if self.append_mode:
            seen = np.union1d(seen, self.parent_ids)
            removed_ids = self.parent_ids[:0]
        else:
            removed_ids = self.parent_ids[~_isin_sorted(self.parent_ids, seen)]
        added = pending.manifest_rows(rows)
        ds = self._write_manifest(added, removed_ids)
        self.store.maintain_indices()
        source_counts = _source_counts(ds.to_table(columns=["source"]).column("source"))
        return ManifestResult(
            manifest_version=ds.version,
            record_count=len(seen),
            digest=digest_of_ids(seen.tobytes()),
            added=len(added),
            removed=len(removed_ids),
            bytes_added=max(0, self.store.size_bytes(self.storage_key) - self.size_before),
            source_counts=source_counts,
        )

    def _commit_payloads(self) -> int:
        """Append the written fragments; return the offset of the first new payload."""
        ours = [frag.files[0].path for frag in self.fragments]
        ds = lance.LanceDataset.commit(
            self.store.records_uri,
            lance.LanceOperation.Append(self.fragments),
            read_version=self.records_read_version,
            storage_options=self.store._options(),
        )
        offset = 0
        for fragment in ds.get_fragments():
            files = [f.path for f in fragment.metadata.files]
            if files and files[0] == ours[0]:
                break
            offset += fragment.count_rows()
        else:  # pragma: no cover - Lance guarantees the committed fragments are present
            raise RuntimeError("committed record fragments not found in the record store")
        return offset

    def _write_manifest(self, added: pa.Table, removed_ids: np.ndarray) -> lance.LanceDataset:
        store = self.store
        uri = store.manifest_uri(self.storage_key)
        if self.parent_manifest_version is None:
            mode = "overwrite" if store.exists(uri) else "create"  # a crash may have left one
            return store.write(added, uri, mode=mode, schema=MANIFEST_SCHEMA)
        ds = store.open(uri, self.parent_manifest_version)
        if store.open(uri).version != self.parent_manifest_version:
            ds.restore()  # type: ignore[no-untyped-call]  # a crashed write left versions nobody references: start clean
            ds = store.open(uri)
        parent_count = len(self.parent_ids)
        if len(removed_ids) > max(DELETE_CHUNK, REWRITE_SHARE * parent_count):
            kept = ds.to_table()
            mask = pc.is_in(kept.column("record_id"), value_set=pa.array(removed_ids.astype(str)))
            kept = kept.filter(pc.invert(mask))
            table = pa.concat_tables([kept, added.cast(MANIFEST_SCHEMA)])
            return store.write(table, uri, mode="overwrite", schema=MANIFEST_SCHEMA)
        for start in range(0, len(removed_ids), DELETE_CHUNK):
            chunk = removed_ids[start : start + DELETE_CHUNK].astype(str)
            ds.delete("record_id IN (" + ",".join(f"'{i}'" for i in chunk) + ")")
        if len(added):
            ds = store.write(added, uri, mode="append", schema=MANIFEST_SCHEMA)
        return store.open(uri)


def _source_counts(sources: pa.ChunkedArray) -> dict[str, int]:
    """How many of a manifest's records came from each source."""
    return {
        str(item["values"]): int(item["counts"])
        for item in sources.value_counts().to_pylist()
        if item["values"] is not None
    }


def _entries(table: pa.Table, columns: list[str]) -> pa.Array:
    """Each row's record id joined with its values in ``columns`` (missing or null: a marker
    no value has), so that two entries are equal when the id and every value are."""
    text = pa.large_string()
    parts: list[pa.Array] = [table.column("record_id").combine_chunks().cast(text)]
    for name in columns:
        if name in table.schema.names:
            values = table.column(name).combine_chunks().cast(text).fill_null("\x00")
        else:
            values = pa.array(["\x00"] * table.num_rows, text)
        parts.append(values)
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, pa.scalar("\x1f", text))


def entry_digest(table: pa.Table) -> str:
    """A version's content digest, one definition for every version: SHA-256 over its sorted
    entries. A plain version's entries are its ids (fixed-length hex, concatenated: the
    digest of :func:`curata.core.ids.digest_of_ids`); a version with its own per-record
    columns (a release's labels, confidence, …) hashes each id with those values, one entry
    per line, so two releases of the same records whose labels differ differ in digest."""
    extra = [c for c in table.schema.names if c not in MANIFEST_SCHEMA.names]
    if not extra:
        return digest_of_ids(np.sort(ids_to_numpy(table.column("record_id"))).tobytes())
    entries = _entries(table, extra)
    digest = hashlib.sha256()
    for entry in pc.take(entries, pc.sort_indices(entries)).to_pylist():
        digest.update(entry.encode("utf-8") + b"\n")
    return digest.hexdigest()


def entry_changes(table: pa.Table, parent: pa.Table | None) -> tuple[int, int]:
    """How many entries a manifest adds and removes against its parent's.

    An entry is a record id with the version's own per-record columns (a release's labels,
    confidence, …; none for a plain version, whose entries are its ids): a record whose labels
    changed counts as removed and added, as a record whose content changed does (a new id)."""
    if parent is None:
        return table.num_rows, 0
    extra = [c for c in table.schema.names if c not in MANIFEST_SCHEMA.names]
    new, old = _entries(table, extra), _entries(parent, extra)
    added = len(new) - pc.sum(pc.is_in(new, value_set=old)).as_py() if len(new) else 0
    removed = len(old) - pc.sum(pc.is_in(old, value_set=new)).as_py() if len(old) else 0
    return int(added or 0), int(removed or 0)


def _isin_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """Vectorised membership of ``values`` in an already sorted array."""
    if len(sorted_set) == 0:
        return np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    found: np.ndarray = sorted_set[pos] == values
    return found
