"""Lookups by record id kept on disk, for state that grows with the corpus (issue #17).

A needs-all step's decisions (which ids a dedup step drops, and why) and the executor's id
sets (the input's ids, the ids changes produced) grow linearly with the number of records: at
100M records they do not fit in one process's memory. :class:`DiskMap` keeps them in a SQLite
file in the run's scratch directory (:mod:`curata.curation.scratch`): writes go in batches
inside one transaction, reads ask for a whole batch of ids at once, and SQLite's page cache
(a few MiB) is all the memory it takes, whatever the number of ids.

SQLite is the standard library's; the file is private to one run and removed with the scratch
directory, so no durability is asked of it (no journal, no fsync).

Most lookups miss (a dedup step drops a tenth of the records; a change rarely lands on an id
already present), so a Bloom filter of fixed size in memory (:data:`BLOOM_BITS` bits, 4 hashes)
answers them without asking SQLite: only the ids it cannot rule out are looked up. Its size
does not grow with the corpus; it only loses precision past tens of millions of ids (about 1
false positive in 200 lookups at 10M stored ids), which costs lookups, never a wrong answer.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curata.store.entries import private_sqlite

CHUNK = 900
"""Ids per ``IN (...)`` query (SQLite's oldest builds allow 999 parameters)."""
CACHE_KIB = 8192
"""SQLite page cache per map: 8 MiB."""
BLOOM_BITS = 1 << 26
"""Bits of each map's Bloom filter: 8 MiB."""
_HASHES = 4


class DiskMap:
    """A map from record id (a string) to a picklable value, or a set of ids (values None),
    in a SQLite file. Not thread-safe; one writer (the run)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = private_sqlite(path, CACHE_KIB)
        self._db.execute("CREATE TABLE IF NOT EXISTS m (id TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID")
        self._bloom = np.zeros(BLOOM_BITS // 8, dtype=np.uint8)
        # a map reopened (a resumed run): its ids go into this process's filter
        cursor = self._db.execute("SELECT id FROM m")
        while rows := cursor.fetchmany(100_000):
            self._remember([key for (key,) in rows])

    @staticmethod
    def _bits(ids: Sequence[str]) -> np.ndarray:
        """The filter's bit positions of each id, one row per id (Python's own string hash,
        fixed within a process, which is as long as the filter lives)."""
        hashed = np.fromiter((hash(key) for key in ids), dtype=np.int64, count=len(ids))
        h = hashed.view(np.uint64)
        h1 = h & np.uint64(0xFFFFFFFF)
        h2 = (h >> np.uint64(32)) | np.uint64(1)
        steps = np.arange(_HASHES, dtype=np.uint64)
        return (h1[:, None] + steps[None, :] * h2[:, None]) % np.uint64(BLOOM_BITS)

    def _remember(self, ids: Sequence[str]) -> None:
        bits = self._bits(ids).ravel()
        np.bitwise_or.at(
            self._bloom, bits >> np.uint64(3), (1 << (bits & np.uint64(7))).astype(np.uint8)
        )

    def _maybe(self, ids: Sequence[str]) -> list[str]:
        """The ids the filter cannot rule out."""
        if not ids:
            return []
        bits = self._bits(ids)
        hit = (self._bloom[bits >> np.uint64(3)] >> (bits & np.uint64(7)).astype(np.uint8)) & 1
        return [key for key, found in zip(ids, hit.all(axis=1).tolist(), strict=True) if found]

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None:
        """Add or replace (id, value) pairs; a value None stores only the id."""
        rows = [
            (key, None if value is None else pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
            for key, value in items
        ]
        if not rows:
            return
        self._db.execute("BEGIN")
        try:
            self._db.executemany("INSERT OR REPLACE INTO m (id, v) VALUES (?, ?)", rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self._remember([key for key, _ in rows])

    def add_many(self, ids: Iterable[str]) -> None:
        """Add ids (as a set)."""
        self.put_many((key, None) for key in ids)

    def get_many(self, ids: Sequence[str]) -> dict[str, Any]:
        """The stored value of each of ``ids`` that is present (None for set members)."""
        out: dict[str, Any] = {}
        ids = self._maybe(ids)
        for start in range(0, len(ids), CHUNK):
            chunk = list(dict.fromkeys(ids[start : start + CHUNK]))
            marks = ",".join("?" * len(chunk))
            for key, value in self._db.execute(f"SELECT id, v FROM m WHERE id IN ({marks})", chunk):
                out[key] = None if value is None else pickle.loads(value)
        return out

    def contains_many(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are present."""
        return set(self.get_many(ids))

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str) or not self._maybe([key]):
            return False
        return self._db.execute("SELECT 1 FROM m WHERE id = ?", (key,)).fetchone() is not None

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM m").fetchone()[0])

    def close(self) -> None:
        self._db.close()
