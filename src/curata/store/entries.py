"""A new version's ids and manifest rows, kept on disk while it is written (issue #17).

A version of 10M records has 10M ids to deduplicate, 10M manifest rows to write at the end,
and a parent whose ids decide which rows are new and which parent records are removed: held
in memory, that is ~450 bytes a record, and a curation or ingest at 100M records would not fit
on one machine. :class:`VersionEntries` keeps all of it in a SQLite file in a directory of its
own (the caller's scratch area, or the system's temporary directory), removed when the writer
is closed or collected. SQLite's page cache (:data:`CACHE_KIB`) is all the memory it takes,
whatever the number of records; ordered reads (the digest's sorted ids) come from its primary
keys, so nothing is ever sorted in memory.

The file is private to one writer, so no durability is asked of it (no journal, no fsync): a
crash loses it, and the version it was writing, which was not committed yet.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import tempfile
import weakref
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa

from curata.core.ids import ID_HEX_LENGTH

CHUNK = 900
"""Ids per ``IN (...)`` query (SQLite's oldest builds allow 999 parameters)."""
CACHE_KIB = 16384
"""SQLite page cache: 16 MiB."""
READ_ROWS = 50_000
"""Rows per read of an ordered scan."""


def private_sqlite(path: Path, cache_kib: int) -> sqlite3.Connection:
    """A SQLite file only this process uses, for state that would not fit in memory: no
    journal, no fsync (losing it loses only the work in progress), an exclusive lock, a page
    cache of ``cache_kib``, and temporary B-trees on disk; autocommit (callers group writes
    in explicit transactions)."""
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    for pragma in (
        "journal_mode=OFF",
        "synchronous=OFF",
        "locking_mode=EXCLUSIVE",
        "temp_store=FILE",
        f"cache_size=-{cache_kib}",
    ):
        db.execute(f"PRAGMA {pragma}")
    return db


class VersionEntries:
    """The ids of a version being written (``version``), those of its parent (``parent``),
    and the manifest rows of the records it adds (``added``, in the order they came)."""

    def __init__(self, directory: Path | None = None) -> None:
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix="curata-version-", dir=directory))
        self._remove = weakref.finalize(self, shutil.rmtree, str(self.path), True)
        self._db = private_sqlite(self.path / "entries.sqlite", CACHE_KIB)
        self._db.executescript(
            """
            CREATE TABLE parent (id TEXT PRIMARY KEY) WITHOUT ROWID;
            CREATE TABLE version (id TEXT PRIMARY KEY) WITHOUT ROWID;
            CREATE TABLE added (
                seq INTEGER PRIMARY KEY, id TEXT NOT NULL, row INTEGER,
                source TEXT, origin TEXT
            );
            CREATE TABLE maybe (id TEXT PRIMARY KEY, row INTEGER) WITHOUT ROWID;
            """
        )
        self.parent_count = 0
        self.count = 0

    # -- writes ----------------------------------------------------------------------------

    def add_parent(self, ids: Sequence[str]) -> None:
        """Add a batch of the parent's ids (each once: a manifest holds an id once)."""
        before = self._db.total_changes
        self._many("INSERT OR IGNORE INTO parent (id) VALUES (?)", [(i,) for i in ids])
        self.parent_count += self._db.total_changes - before

    def add(self, ids: Sequence[str]) -> list[int]:
        """Add a batch of the version's ids; return the positions of those it did not hold
        yet (the first of repeats within the batch)."""
        fresh = list(dict.fromkeys(ids))
        held = self._holds("version", fresh) if self.count else set()
        if held:
            fresh = [i for i in fresh if i not in held]
        self._many("INSERT INTO version (id) VALUES (?)", [(i,) for i in fresh])
        self.count += len(fresh)
        first: dict[str, int] = {}
        for position, record_id in enumerate(ids):
            first.setdefault(record_id, position)
        return [first[i] for i in fresh]

    def in_parent(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` the parent holds."""
        return self._holds("parent", ids) if self.parent_count else set()

    def add_rows(
        self,
        ids: Sequence[str],
        rows: Sequence[int | None],
        sources: Sequence[str | None],
        origins: Sequence[str | None],
    ) -> None:
        """Add the manifest rows of records the version adds (``row`` < 0: a placeholder
        for a payload not committed yet, resolved by :meth:`resolve_rows`)."""
        self._many(
            "INSERT INTO added (id, row, source, origin) VALUES (?, ?, ?, ?)",
            list(zip(ids, rows, sources, origins, strict=True)),
        )

    def add_maybe(self, ids: Sequence[str]) -> None:
        """Ids whose payload the store may hold (their ``added`` rows are null until
        :meth:`resolve_maybe`)."""
        self._many("INSERT INTO maybe (id) VALUES (?)", [(i,) for i in ids])

    def maybe_ids(self) -> Iterator[list[str]]:
        """The ids added by :meth:`add_maybe`, in parts."""
        cursor = self._db.execute("SELECT id FROM maybe")
        while rows := cursor.fetchmany(READ_ROWS):
            yield [i for (i,) in rows]

    def maybe_unresolved(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are maybe-ids with no row yet."""
        return self._holds("maybe", ids, "row IS NULL AND ")

    def set_stored(self, found: Iterable[tuple[str, int]]) -> None:
        """Give maybe-ids their rows (stored ones, or placeholders of new payloads)."""
        batch: list[tuple[int, str]] = []
        for record_id, row in found:
            batch.append((row, record_id))
            if len(batch) >= READ_ROWS:
                self._many("UPDATE maybe SET row = ? WHERE id = ?", batch)
                batch = []
        self._many("UPDATE maybe SET row = ? WHERE id = ?", batch)

    def resolve_maybe(self) -> None:
        """Copy the maybe-ids' rows into their manifest rows."""
        self._db.execute(
            "UPDATE added SET row = maybe.row FROM maybe "
            "WHERE added.row IS NULL AND maybe.id = added.id"
        )
        left = self._db.execute("SELECT count(*) FROM added WHERE row IS NULL").fetchone()[0]
        if left:  # pragma: no cover - every maybe-id gets a stored row or a new payload
            raise RuntimeError(f"{left} manifest rows have no payload row")

    def resolve_rows(self, first_offset: int) -> None:
        """Placeholder ``-(k+1)`` becomes row ``first_offset + k``."""
        self._db.execute("UPDATE added SET row = ? - row - 1 WHERE row < 0", (first_offset,))

    # -- reads -----------------------------------------------------------------------------

    def removed_count(self) -> int:
        """How many of the parent's ids the version does not hold."""
        row = self._db.execute(
            "SELECT count(*) FROM parent WHERE id NOT IN (SELECT id FROM version)"
        ).fetchone()
        return int(row[0])

    def removed(self, size: int) -> Iterator[list[str]]:
        """The parent's ids the version does not hold, ``size`` at a time, in id order."""
        cursor = self._db.execute(
            "SELECT id FROM parent WHERE id NOT IN (SELECT id FROM version) ORDER BY id"
        )
        while rows := cursor.fetchmany(size):
            yield [i for (i,) in rows]

    def holds(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` the version holds."""
        return self._holds("version", ids)

    def union_count(self) -> int:
        """How many ids the version and its parent hold together."""
        row = self._db.execute(
            "SELECT count(*) FROM (SELECT id FROM version UNION SELECT id FROM parent)"
        ).fetchone()
        return int(row[0])

    def digest(self, *, with_parent: bool) -> str:
        """SHA-256 of the version's sorted ids, concatenated (with the parent's, in append
        mode): the same as :func:`curata.core.ids.digest_of_ids` over them, without ever
        holding them all."""
        query = (
            "SELECT id FROM version UNION SELECT id FROM parent ORDER BY id"
            if with_parent
            else "SELECT id FROM version ORDER BY id"
        )
        digest = hashlib.sha256()
        cursor = self._db.execute(query)
        while rows := cursor.fetchmany(READ_ROWS):
            digest.update(b"".join(i.encode().ljust(ID_HEX_LENGTH, b"\0") for (i,) in rows))
        return digest.hexdigest()

    def added_batches(self, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        """The added records' manifest rows, in the order they came."""
        cursor = self._db.execute("SELECT id, row, source, origin FROM added ORDER BY seq")
        while rows := cursor.fetchmany(READ_ROWS):
            ids, offsets, sources, origins = zip(*rows, strict=True)
            yield pa.record_batch(
                [
                    pa.array(ids, pa.string()),
                    pa.array(offsets, pa.int64()),
                    pa.array(sources, pa.string()),
                    pa.array(origins, pa.string()),
                ],
                schema=schema,
            )

    def close(self) -> None:
        """Remove the file (idempotent)."""
        self._db.close()
        self._remove()

    # -- helpers ---------------------------------------------------------------------------

    def _holds(self, table: str, ids: Iterable[str], where: str = "") -> set[str]:
        out: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT id FROM {table} WHERE {where}id IN ({marks})"
            out.update(i for (i,) in self._db.execute(query, chunk))
        return out

    def _many(self, statement: str, rows: Sequence[tuple[object, ...]]) -> None:
        if not rows:
            return
        self._db.execute("BEGIN")
        try:
            self._db.executemany(statement, rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
