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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lance
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curata.core.ids import ID_HEX_LENGTH, digest_of_ids
from curata.core.records import Record
from curata.store.entries import VersionEntries

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


_HEX_VALUES = np.zeros(256, dtype=np.uint64)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_VALUES[_c] = _i
_NIBBLE_SHIFTS = np.arange(60, -4, -4, dtype=np.uint64)
_BIT_MASKS = (1 << np.arange(8)).astype(np.uint8)
SCAN_ROWS = 1 << 18
"""Stores of at most this many records are looked up in memory (:class:`StoredIds`)."""
BLOOM_BITS = 1 << 27
"""Bits of :class:`StoredIds`' filter: 16 MiB."""
LOOKUP_ROWS = 20_000
"""Added records a :class:`VersionWriter` gathers before it asks which are stored."""


def id_prefix_u64(ids: np.ndarray) -> np.ndarray:
    """The first 64 bits of each hex id (``S32``) as ``uint64``, vectorised."""
    digits = ids.view(np.uint8).reshape(-1, ID_HEX_LENGTH)[:, :16]
    shifted: np.ndarray = _HEX_VALUES[digits] << _NIBBLE_SHIFTS
    packed: np.ndarray = np.bitwise_or.reduce(shifted, axis=1)
    return packed


MAYBE = -(1 << 62)
""":meth:`StoredIds.lookup`'s answer for an id that may be stored (resolved at the commit)."""


class StoredIds:
    """Which ids the record store holds, and at which rows, in memory that does not grow
    with the store. A store of at most :data:`SCAN_ROWS` records: its ids, read once and
    sorted (40 bytes a record), answer exactly. A larger one: a Bloom filter of every stored
    id (:data:`BLOOM_BITS` bits, 4 hashes; built from one scan of the id column, in batches)
    answers "not stored" for most new ids and :data:`MAYBE` for the others, which the writer
    resolves all at once at its commit (:meth:`rows_of`: one more scan of the id column). The
    store's B-tree index is not used: Lance reads most of it into memory for a bulk lookup
    (hundreds of MB at a million records, growing with the store)."""

    def __init__(self, store: RecordStore) -> None:
        self.dataset = store.records()
        self.version = self.dataset.version
        self.starts: dict[int, int] = {}
        offset = 0
        for fragment in self.dataset.get_fragments():  # append-only: no deleted rows
            self.starts[fragment.fragment_id] = offset
            offset += fragment.count_rows()
        self.bloom: np.ndarray | None = None
        self.sorted: tuple[np.ndarray, np.ndarray] | None = None
        if offset <= SCAN_ROWS:
            ids = ids_to_numpy(self.dataset.to_table(columns=["id"]).column("id"))
            order = np.argsort(ids, kind="stable")
            self.sorted = (ids[order], order.astype(np.int64))
        else:
            self.bloom = bloom_of(id_prefix_u64(ids_to_numpy(b.column("id"))) for b in self._scan())

    def _scan(self) -> Iterator[pa.RecordBatch]:
        return self.dataset.to_batches(columns=["id"], with_row_address=True, batch_size=1 << 16)

    def lookup(self, ids: list[str]) -> np.ndarray:
        """Each id's row offset in the record store; -1 where it is not stored; ``MAYBE``
        where it may be (a large store)."""
        rows = np.full(len(ids), -1, dtype=np.int64)
        if not ids or not self.starts:
            return rows
        wanted = np.array(ids, dtype=ID_DTYPE)
        if self.sorted is not None:
            stored, at = self.sorted
            if not len(stored):
                return rows
            pos = np.minimum(np.searchsorted(stored, wanted), len(stored) - 1)
            return np.where(stored[pos] == wanted, at[pos], -1)
        assert self.bloom is not None
        rows[in_bloom(self.bloom, id_prefix_u64(wanted))] = MAYBE
        return rows

    def rows_of(
        self, wanted: Callable[[list[str]], set[str]], bloom: np.ndarray
    ) -> Iterator[tuple[str, int]]:
        """Every stored (id, row) whose id passes ``bloom`` (a filter of the ids asked about)
        and ``wanted`` (the exact test, asked for those only), from one scan of the store."""
        for batch in self._scan():
            keys = id_prefix_u64(ids_to_numpy(batch.column("id")))
            hit = np.flatnonzero(in_bloom(bloom, keys))
            if not len(hit):
                continue
            ids = pc.take(batch.column("id"), pa.array(hit)).to_pylist()
            addresses = pc.take(batch.column("_rowaddr"), pa.array(hit)).to_pylist()
            found = wanted(ids)
            for record_id, address in zip(ids, addresses, strict=True):
                if record_id in found:
                    yield record_id, self.starts[address >> 32] + (address & 0xFFFFFFFF)


def _bloom_bits(keys: np.ndarray, size: int) -> np.ndarray:
    """The 4 bit positions of each 64-bit key in a filter of ``size`` bits (a power of 2)."""
    h1 = keys & np.uint64(0xFFFFFFFF)
    h2 = (keys >> np.uint64(32)) | np.uint64(1)
    steps = np.arange(4, dtype=np.uint64)
    return (h1[:, None] + steps[None, :] * h2[:, None]) & np.uint64(size - 1)


def bloom_of(parts: Iterable[np.ndarray]) -> np.ndarray:
    """A Bloom filter (:data:`BLOOM_BITS` bits) of 64-bit id keys given in parts."""
    bloom = np.zeros(BLOOM_BITS // 8, dtype=np.uint8)
    for keys in parts:
        bits = _bloom_bits(keys, BLOOM_BITS).ravel()
        np.bitwise_or.at(bloom, bits >> np.uint64(3), _BIT_MASKS[bits & np.uint64(7)])
    return bloom


def in_bloom(bloom: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Which keys the filter may hold (no false negatives)."""
    bits = _bloom_bits(keys, len(bloom) * 8)
    hit = (bloom[bits >> np.uint64(3)] & _BIT_MASKS[bits & np.uint64(7)]) != 0
    found: np.ndarray = hit.all(axis=1)
    return found


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
            source_counts=_source_counts([table.column("source")]),
        )

    def version_writer(
        self,
        storage_key: str,
        parent_manifest_version: int | None,
        *,
        scratch: Path | None = None,
    ) -> VersionWriter:
        """Start writing a new version of a dataset on top of a parent manifest version
        (its files in a directory under ``scratch``; the system's temporary one by default)."""
        return VersionWriter(self, storage_key, parent_manifest_version, scratch=scratch)


def _hex(value: str) -> str:
    """Refuse anything but lowercase hex before it reaches a filter expression."""
    value = value.lower()
    if not value or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"not a record id: {value!r}")
    return value


class VersionWriter:
    """Accumulates the records of one new version, then commits payloads and manifest.

    What grows with the number of records stays on disk (:class:`VersionEntries`: the
    version's ids, its parent's, the manifest rows of added records), and which payloads are
    stored already is asked of the store (:class:`StoredIds`), so memory does not grow with
    the version: at most one buffer of new payloads (``FRAGMENT_ROWS`` rows or
    ``FRAGMENT_BYTES``) and one gathering of ``LOOKUP_ROWS`` records. Close it (or commit)
    to remove its files; a writer given up without either removes them when collected.
    """

    def __init__(
        self,
        store: RecordStore,
        storage_key: str,
        parent_manifest_version: int | None,
        *,
        scratch: Path | None = None,
    ) -> None:
        self.store = store
        self.storage_key = storage_key
        self.parent_manifest_version = parent_manifest_version
        self.size_before = store.size_bytes(storage_key)
        self.stored = StoredIds(store)
        self.records_read_version = self.stored.version
        self.entries = VersionEntries(scratch)
        if parent_manifest_version is not None:
            parent = store.manifest(storage_key, parent_manifest_version)
            for batch in parent.to_batches(columns=["record_id"], batch_size=50_000):
                self.entries.add_parent(batch.column("record_id").to_pylist())
        self.gathered: list[tuple[Record, str | None, str | None]] = []
        self._maybe_writer: pa.ipc.RecordBatchFileWriter | None = None
        self._maybe_sink: Any = None
        self.added = 0
        self.payloads: list[pa.RecordBatch] = []
        self.payload_rows = 0
        self.payload_bytes = 0
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
        pairs = list(zip(records, origins, strict=True))
        ids = [record.id for record, _ in pairs]
        fresh = self.entries.add(ids)
        self.duplicates += len(ids) - len(fresh)
        in_parent = self.entries.in_parent([ids[i] for i in fresh])
        for i in fresh:
            if ids[i] not in in_parent:
                self.gathered.append((pairs[i][0], source, pairs[i][1]))
        self.added += len(fresh) - len(in_parent)
        if len(self.gathered) >= LOOKUP_ROWS:
            self._place()

    def _place(self) -> None:
        """Find the gathered records' stored payloads; buffer the others' as new payloads
        (placeholder rows ``-(k+1)`` for the k-th new one); write their manifest rows. Those
        a large store may hold go to a spill file until the commit (:meth:`_resolve`)."""
        gathered, self.gathered = self.gathered, []
        if not gathered:
            return
        ids = [record.id for record, _, _ in gathered]
        rows = self.stored.lookup(ids)
        maybe = np.flatnonzero(rows == MAYBE)
        if len(maybe):
            self.entries.add_maybe([ids[i] for i in maybe])
            self._maybe_file().write_batch(
                pa.RecordBatch.from_pylist(
                    [{"id": ids[i], **gathered[i][0].to_row()} for i in maybe],
                    schema=RECORD_SCHEMA,
                )
            )
        self._new_payloads(ids, rows, [g[0] for g in gathered])
        self.entries.add_rows(
            ids,
            [None if r == MAYBE else r for r in rows.tolist()],
            [g[1] for g in gathered],
            [g[2] for g in gathered],
        )

    def _new_payloads(self, ids: list[str], rows: np.ndarray, records: list[Record]) -> None:
        """Buffer the payloads of ``rows`` == -1 and give them placeholders, in place."""
        new = np.flatnonzero(rows == -1)
        if not len(new):
            return
        rows[new] = self._placeholders(len(new))
        self._buffer(
            pa.RecordBatch.from_pylist(
                [{"id": ids[i], **records[i].to_row()} for i in new], schema=RECORD_SCHEMA
            )
        )

    def _placeholders(self, n: int) -> np.ndarray:
        """Rows ``-(k+1)`` for the next ``n`` new payloads (k: their order of writing)."""
        first = self.new_payload_count
        self.new_payload_count += n
        return -(first + 1 + np.arange(n, dtype=np.int64))

    def _buffer(self, payload: pa.RecordBatch) -> None:
        self.payloads.append(payload)
        self.payload_rows += payload.num_rows
        self.payload_bytes += payload.nbytes
        if self.payload_rows >= FRAGMENT_ROWS or self.payload_bytes >= FRAGMENT_BYTES:
            self._flush_payloads()

    def _maybe_file(self) -> pa.ipc.RecordBatchFileWriter:
        if self._maybe_writer is None:
            self._maybe_sink = pa.OSFile(str(self.entries.path / "maybe.arrow"), "wb")
            self._maybe_writer = pa.ipc.new_file(self._maybe_sink, RECORD_SCHEMA)
        return self._maybe_writer

    def _resolve(self) -> None:
        """The records a large store may hold: their rows from one scan of the store's ids;
        the payloads of those it does not hold (the filter's false positives), from the spill
        file, as new payloads."""
        if not self._close_maybe():
            return
        entries = self.entries
        bloom = bloom_of(id_prefix_u64(np.array(part, ID_DTYPE)) for part in entries.maybe_ids())
        entries.set_stored(self.stored.rows_of(entries.maybe_unresolved, bloom))
        reader = pa.ipc.open_file(pa.OSFile(str(entries.path / "maybe.arrow"), "rb"))
        for k in range(reader.num_record_batches):
            batch = reader.get_batch(k)
            ids = batch.column("id").to_pylist()
            new = entries.maybe_unresolved(ids)
            if not new:
                continue
            keep = [i in new for i in ids]
            payload = batch.filter(pa.array(keep))
            placeholders = self._placeholders(payload.num_rows)
            self._buffer(payload)
            entries.set_stored(
                zip(payload.column("id").to_pylist(), placeholders.tolist(), strict=True)
            )
        entries.resolve_maybe()

    def keep_parent(self) -> None:
        """Keep every record of the parent (append mode: the new files add to it)."""
        self.append_mode = True

    @property
    def record_count(self) -> int:
        return self.entries.count

    def _flush_payloads(self) -> None:
        """Write buffered payloads as Lance fragments (not yet part of any version)."""
        if not self.payloads:
            return
        table = pa.Table.from_batches(self.payloads, schema=RECORD_SCHEMA)
        self.fragments.extend(
            lance.fragment.write_fragments(
                table,
                self.store.records_uri,
                max_rows_per_file=FRAGMENT_ROWS * 10,
                storage_options=self.store._options(),
            )
        )
        self.payloads, self.payload_rows, self.payload_bytes = [], 0, 0

    def is_unchanged(self) -> bool:
        """True when the version would hold exactly the parent's records."""
        if self.parent_manifest_version is None:
            return False
        if self.append_mode:
            return not self.added
        return not self.added and self.entries.count == self.entries.parent_count

    def _close_maybe(self) -> bool:
        """Close the spill of maybe-stored records; whether there was one open."""
        if self._maybe_writer is None:
            return False
        self._maybe_writer.close()
        self._maybe_sink.close()
        self._maybe_writer = None
        return True

    def close(self) -> None:
        """Remove the writer's files (idempotent; what it committed stays)."""
        self._close_maybe()
        self.entries.close()

    def commit(self, fault: Callable[[str], None] | None = None) -> ManifestResult:
        """Commit new payloads, then the manifest; return the new manifest version.

        ``fault`` is a test hook called between the two commits.
        """
        try:
            self._place()
            self._resolve()
            self._flush_payloads()
            if self.fragments:
                first_offset = self._commit_payloads()
                if fault is not None:
                    fault("after_payloads")
                self.entries.resolve_rows(first_offset)
            entries = self.entries
            if self.append_mode:
                count, removed = entries.union_count(), 0
            else:
                count, removed = entries.count, entries.removed_count()
            ds = self._write_manifest(removed)
            self.store.maintain_indices()
            return ManifestResult(
                manifest_version=ds.version,
                record_count=count,
                digest=entries.digest(with_parent=self.append_mode),
                added=self.added,
                removed=removed,
                bytes_added=max(0, self.store.size_bytes(self.storage_key) - self.size_before),
                source_counts=_source_counts(
                    b.column("source") for b in ds.to_batches(columns=["source"])
                ),
            )
        finally:
            self.close()

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

    def _added(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(
            MANIFEST_SCHEMA, self.entries.added_batches(MANIFEST_SCHEMA)
        )

    def _write_manifest(self, removed: int) -> lance.LanceDataset:
        store = self.store
        uri = store.manifest_uri(self.storage_key)
        if self.parent_manifest_version is None:
            mode = "overwrite" if store.exists(uri) else "create"  # a crash may have left one
            return store.write(self._added(), uri, mode=mode, schema=MANIFEST_SCHEMA)
        ds = store.open(uri, self.parent_manifest_version)
        if store.open(uri).version != self.parent_manifest_version:
            ds.restore()  # type: ignore[no-untyped-call]  # a crashed write left versions nobody references: start clean
            ds = store.open(uri)
        if removed > max(DELETE_CHUNK, REWRITE_SHARE * self.entries.parent_count):
            return store.write(self._rewritten(ds), uri, mode="overwrite", schema=MANIFEST_SCHEMA)
        for chunk in self.entries.removed(DELETE_CHUNK) if removed else ():
            ds.delete("record_id IN (" + ",".join(f"'{_hex(i)}'" for i in chunk) + ")")
        if self.added:
            ds = store.write(self._added(), uri, mode="append", schema=MANIFEST_SCHEMA)
        return store.open(uri)

    def _rewritten(self, parent: lance.LanceDataset) -> pa.RecordBatchReader:
        """The parent's rows the version keeps, then the added ones, as one stream (written
        to a spill file first: the stream must not read the dataset it overwrites)."""
        spill = self.entries.path / "kept.arrow"
        with pa.OSFile(str(spill), "wb") as sink, pa.ipc.new_file(sink, MANIFEST_SCHEMA) as out:
            for batch in parent.to_batches(batch_size=50_000):
                kept = self.entries.holds(batch.column("record_id").to_pylist())
                mask = pa.array([i in kept for i in batch.column("record_id").to_pylist()])
                out.write_batch(batch.filter(mask).cast(MANIFEST_SCHEMA))
            for batch in self.entries.added_batches(MANIFEST_SCHEMA):
                out.write_batch(batch)
        reader = pa.ipc.open_file(pa.OSFile(str(spill), "rb"))
        return pa.RecordBatchReader.from_batches(
            MANIFEST_SCHEMA, (reader.get_batch(i) for i in range(reader.num_record_batches))
        )


def _source_counts(
    sources: Iterable[pa.Array | pa.ChunkedArray], counts: dict[str, int] | None = None
) -> dict[str, int]:
    """How many of a manifest's records came from each source (its source column, in parts)."""
    counts = {} if counts is None else counts
    for part in sources:
        for item in part.value_counts().to_pylist():
            if item["values"] is not None:
                key = str(item["values"])
                counts[key] = counts.get(key, 0) + int(item["counts"])
    return counts


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
