"""Near-duplicate removal: MinHash signatures, LSH banding, union-find clusters, one survivor.

A record's shingles are its runs of ``ngram`` lowercased ``\\w+`` words (see
:mod:`curata.curation.shingling`, which also computes the signatures, and
:mod:`curata.curation.kernels`, the compiled hashing, MinHash and exact check). A
record with at least ``min_words`` but fewer than ``ngram`` words is one shingle (all its
words), so it only matches a record with the same words in the same order; a record with
fewer than ``min_words`` words is kept and never compared.

Candidates are records sharing a bucket in any LSH band (band ``i`` hashes signature slots
``i*rows .. (i+1)*rows``, as datasketch's ``MinHashLSH`` does). Unless given, bands and rows are
chosen for recall: the most rows per band (fewest chance candidates) with which a pair whose
Jaccard is exactly ``threshold`` still becomes a candidate with probability at least
``candidate_recall`` (0.99), using ``num_perm // rows`` bands (21 x 6 at 0.8 and 128).

``verify`` decides which candidates are linked. ``estimate``: the fraction of equal signature
slots (all ``num_perm``) reaches ``threshold``. ``exact`` (the default): the estimate decides
when it is more than ``EXACT_MARGIN`` standard errors (``sqrt(t(1-t)/num_perm)``) from the
threshold, and the exact Jaccard of the two shingle sets decides the pairs in between (a pair
at the threshold is estimated above or below it about half the time, so the estimate alone
loses about half of the true duplicates near the threshold). ``off``: every candidate is linked.
Linked records form clusters (connected components, which is what union-find computes); the
``keep`` policy picks the survivor, and every other member is dropped naming the survivor. The
reason gives the Jaccard of the link that put the member in the cluster (at least the
threshold, unless ``verify`` is ``off``), and, for a member that joined through others, the
record it is linked to (``via``) and its estimated Jaccard to the survivor.

Memory while preparing, per compared record: ``4 * num_perm`` bytes of signature (512 at the
default), the id (32 bytes for a hex id), 4 bytes of length, ``8 * (bands + 1)`` bytes of
bucket keys and, with ``exact``, 8 bytes of offset, about 730 bytes in all (730 MB per million
records); the shingle hashes (8 bytes per shingle) go to a temporary file that is read back
only for the pairs the exact check decides and is deleted when ``prepare`` ends. Afterwards the
step keeps only the dropped records' ids, twins and scores. Decisions are keyed by record id,
so ``apply`` may run anywhere in any order; records with one id (same content and metadata)
share a decision, and removing those is ``exact_dedup``'s job.
"""

from __future__ import annotations

import math
import mmap
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import islice
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from curata.curation.diskmap import DiskMap
from curata.curation.shingling import (
    _mix,
    batch_shingle_hashes,
    flat_signatures,
    shingle_hashes,
    shingles,
    signatures,
    words_of,
)
from curata.curation.steps.base import Decision, Item, Step, TextParams, joined_text

__all__ = [
    "NearDedup",
    "NearDedupParams",
    "band_keys",
    "batch_shingle_hashes",
    "bucket_pairs",
    "candidate_probability",
    "optimal_bands",
    "recall_bands",
    "shingle_hashes",
    "shingles",
    "signatures",
    "words_of",
]

WINDOW = 32
"""A bucket links each member to at most its next WINDOW members (bounds boilerplate buckets)."""
PAIR_BLOCK = 1 << 16
DISK_PAIR_BLOCK = 1 << 11
"""Pairs compared at a time by the disk path, whose mapped pages are let go after each block."""
SHARD_RECORDS = 1 << 18
PARTITION_RECORDS = 1 << 20
"""Records per partition of the band and full-signature keys when clusters are resolved on
disk (:meth:`_Store.partitions`): the memory of that phase does not grow past it."""
"""Records per signature shard file of the disk path (128 MiB at 128 permutations)."""
DECISIONS_CHUNK = 10_000
"""Dropped records' decisions written to (or built for) the decisions' map at a time."""
_U64 = np.uint64
EXACT_MARGIN = 4.0
"""With ``verify: exact``, estimates within this many standard errors of the threshold are
checked exactly (an estimate outside is wrong about the side with probability < 1e-4)."""


class NearDedupParams(TextParams):
    """Parameters of :class:`NearDedup`."""

    ngram: int = Field(default=5, ge=1, description="Words per shingle (lowercased \\w+ words).")
    num_perm: int = Field(default=128, ge=2, le=1024, description="MinHash permutations.")
    threshold: float = Field(
        default=0.8, gt=0, le=1, description="Jaccard similarity at which records are duplicates."
    )
    bands: int | None = Field(
        default=None,
        ge=1,
        description="LSH bands (with rows; default: from threshold and candidate_recall).",
    )
    rows: int | None = Field(default=None, ge=1, description="Signature slots per LSH band.")
    backend: Literal["numba", "rensa", "datasketch"] = Field(
        default="numba",
        description="MinHash implementation: numba (Curata's own, compiled: fastest), rensa, "
        "or datasketch (reference).",
    )
    seed: int = Field(default=42, ge=0, lt=1 << 32, description="Seed of the permutations.")
    keep: Literal["first", "longest"] = Field(
        default="first", description="Survivor of a cluster: the first record or the longest."
    )
    candidate_recall: float = Field(
        default=0.99,
        gt=0,
        lt=1,
        description="When bands and rows are not given: the chance that a pair at exactly "
        "the threshold becomes a candidate (higher: more candidates to verify).",
    )
    verify: Literal["exact", "estimate", "off"] = Field(
        default="exact",
        description="Which candidate pairs are linked: exact (Jaccard reaches threshold; "
        "the exact shingle Jaccard decides where the MinHash estimate is close), "
        "estimate (the MinHash estimate reaches threshold), off (every candidate).",
    )
    min_words: int = Field(
        default=1, ge=1, description="Records with fewer words are kept and never compared."
    )

    @field_validator("verify", mode="before")
    @classmethod
    def _verify_bool(cls, value: Any) -> Any:
        """``true``/``false`` (the parameter's first form) mean ``estimate``/``off``."""
        if isinstance(value, bool):
            return "estimate" if value else "off"
        return value

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither (then threshold chooses them)")
        if self.bands and self.rows and self.bands * self.rows != self.num_perm:
            raise ValueError(
                f"bands * rows must equal num_perm: {self.bands} * {self.rows} = "
                f"{self.bands * self.rows}, num_perm is {self.num_perm}"
            )


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """The chance that a pair with this Jaccard shares a bucket in at least one band:
    ``1 - (1 - J**rows)**bands`` (Leskovec, Rajaraman and Ullman, *Mining of Massive
    Datasets*, section 3.4.2)."""
    return 1.0 - (1.0 - jaccard**rows) ** bands


@cache
def recall_bands(threshold: float, num_perm: int, recall: float = 0.99) -> tuple[int, int]:
    """(bands, rows): the most rows, with ``num_perm // rows`` bands, at which a pair of
    Jaccard ``threshold`` is a candidate with probability at least ``recall`` (one row if none
    reaches it)."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) >= recall:
            return bands, rows
    return num_perm, 1


@cache
def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimising the equally weighted false positive and false negative
    probability mass around ``threshold`` (datasketch's ``_optimal_param``, what its
    ``MinHashLSH`` picks; ``bands * rows`` may be below ``num_perm``)."""
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(threshold, num_perm, 0.5, 0.5)
    return int(bands), int(rows)


def _fold(values: np.ndarray) -> np.ndarray:
    """A 64-bit key of each row of the last axis of an unsigned integer array."""
    wide = values.astype(_U64)
    key = np.zeros(values.shape[:-1], _U64)
    for j in range(values.shape[-1]):  # uint64 arrays wrap silently (mod 2**64)
        key ^= wide[..., j]
        key *= _U64(0x9E3779B97F4A7C15)
    return _mix(key)


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Bucket key of every record in every band (``n x bands``, uint64)."""
    return _fold(sigs[:, : bands * rows].reshape(len(sigs), bands, rows))


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of an array (sorting, then comparing neighbours, is several
    times faster than ``np.unique``'s hash table on arrays of mostly distinct integers)."""
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _stable_order(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.argsort(values, kind="stable")`` and the sorted values: an introsort (about twice
    as fast on 64-bit keys), then the runs of equal values put back in index order."""
    order = np.argsort(values)
    ordered = values[order]
    tied = np.flatnonzero(ordered[1:] == ordered[:-1])
    if len(tied):
        at = distinct(np.concatenate((tied, tied + 1)))
        order[at] = order[at][np.lexsort((order[at], ordered[at]))]
    return order, ordered


def band_pairs(band: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """The pairs sharing a bucket in one band, as codes ``i * n + j`` (``n = len(band)``,
    unsorted, possibly repeated); in a bucket of more than ``window + 1`` records each links to
    its next ``window``."""
    n = len(band)
    found = []
    order, ordered = _stable_order(band)
    for d in range(1, min(window, n - 1) + 1):
        same = np.flatnonzero(ordered[d:] == ordered[:-d])
        if not len(same):
            break
        found.append(order[same] * n + order[same + d])
    return np.concatenate(found) if found else np.empty(0, np.int64)


def bucket_pairs(keys: np.ndarray, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, sharing a bucket in some band (each pair once); in a
    bucket of more than ``window + 1`` records each links to its next ``window``."""
    n = len(keys)
    found = [band_pairs(band, window) for band in keys.T]
    pairs = distinct(np.concatenate(found)) if found else np.empty(0, np.int64)
    return pairs // n, pairs % n


def leaders(full: np.ndarray) -> np.ndarray:
    """Each record's leader: the first record with the same full-signature key (itself if
    none comes before it)."""
    n = len(full)
    order = np.argsort(full, kind="stable")
    heads = np.concatenate(([True], full[order][1:] != full[order][:-1]))
    leader = np.empty(n, np.int64)
    leader[order] = order[np.maximum.accumulate(np.where(heads, np.arange(n), 0))]
    return leader


def full_keys(sigs: np.ndarray, bkeys: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key of each whole signature (from its band keys and the slots past them)."""
    rest = sigs[:, bands * rows :]
    return _fold(np.concatenate((bkeys, rest), axis=1, dtype=_U64))


@dataclass(frozen=True)
class SignatureBatch:
    """What :meth:`NearDedup.summarize` keeps of a batch: the compared records only."""

    ids: np.ndarray  # bytes (numpy "S"), UTF-8 record ids
    lengths: np.ndarray  # uint32, characters of the compared text
    signatures: np.ndarray  # uint32, len(ids) x num_perm
    shingles: np.ndarray | None = None  # uint64 shingle hashes of every record, flat
    offsets: np.ndarray | None = None  # uint64, record k's shingles are [offsets[k], [k+1])


class _Signatures:
    """Signatures held as the batches' arrays (no concatenated copy), gathered by index."""

    def __init__(
        self, chunks: list[np.ndarray], mappings: Sequence[_Mapping] = (), block: int = PAIR_BLOCK
    ) -> None:
        self.chunks = chunks
        self.starts = np.cumsum([0] + [len(c) for c in chunks])
        self.mappings, self.block = mappings, block  # files the chunks are mapped from

    def rows(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx), self.chunks[0].shape[1]), np.uint32)
        chunk = np.searchsorted(self.starts, idx, side="right") - 1
        order = np.argsort(chunk, kind="stable")
        bounds = np.searchsorted(chunk[order], np.arange(len(self.chunks) + 1))
        for c in np.flatnonzero(np.diff(bounds)):
            sel = order[bounds[c] : bounds[c + 1]]
            out[sel] = self.chunks[c][idx[sel] - self.starts[c]]
        return out

    def jaccard(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Estimated Jaccard (fraction of equal slots) of each pair, in blocks."""
        out = np.empty(len(i), np.float64)
        for lo in range(0, len(i), self.block):
            a, b = self.rows(i[lo : lo + self.block]), self.rows(j[lo : lo + self.block])
            out[lo : lo + self.block] = (a == b).mean(axis=1)
            for mapping in self.mappings:
                mapping.release()
        return out


class _Mapping:
    """A file mapped read-only whose pages can be let go (:meth:`release`; they stay in the
    page cache): reading by pair touches pages all over the file, and each page touched
    would otherwise count in the process's resident memory until the mapping ends."""

    def __init__(self, file: IO[bytes] | Path, dtype: Any, count: int) -> None:
        self.mm: mmap.mmap | None = None
        if not count:
            self.array = np.empty(0, dtype)
            return
        if isinstance(file, Path):
            with file.open("rb") as opened:
                self.mm = mmap.mmap(opened.fileno(), 0, access=mmap.ACCESS_READ)
        else:
            file.flush()
            self.mm = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        self.array = np.frombuffer(self.mm, dtype, count)

    def release(self) -> None:
        if self.mm is not None:
            self.mm.madvise(mmap.MADV_DONTNEED)


class _ShingleSpill:
    """Every compared record's shingle hashes, appended to a temporary file in batch order
    (8 bytes a shingle), and each record's start in it, appended to a second one (8 bytes a
    record); both are mapped when the first pair is checked, and read back by pair."""

    def __init__(self, directory: Path | None = None, block: int = PAIR_BLOCK) -> None:
        self.block = block
        self.mappings: tuple[_Mapping, ...] = ()
        self.file = tempfile.TemporaryFile(prefix="curata-near-dedup-", dir=directory)  # noqa: SIM115
        self.index = tempfile.TemporaryFile(prefix="curata-near-dedup-", dir=directory)  # noqa: SIM115
        self.written = 0
        self.records = 0
        self.view: np.ndarray | None = None  # the file, mapped once appending is over
        self.starts = np.empty(0, np.int64)  # every record's start, and the end

    def append(self, shingles: np.ndarray, offsets: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(shingles, _U64).tobytes())
        self.index.write((offsets[:-1].astype(np.int64) + self.written).tobytes())
        self.records += len(offsets) - 1
        self.written += len(shingles)

    def exact_jaccard(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Exact Jaccard of the shingle sets of each pair (records by index), by
        :func:`curata.curation.kernels.pair_jaccard`."""
        from curata.curation.kernels import pair_jaccard

        if self.view is None:
            self.index.write(np.int64(self.written).tobytes())
            self.mappings = (
                _Mapping(self.index, np.int64, self.records + 1),
                _Mapping(self.file, _U64, self.written),
            )
            self.starts, self.view = (m.array for m in self.mappings)
        out = np.empty(len(i), np.float64)
        for lo in range(0, len(i), self.block):
            a, b = i[lo : lo + self.block], j[lo : lo + self.block]
            out[lo : lo + self.block] = pair_jaccard(
                self.view, self.starts, a.astype(np.int64), b.astype(np.int64)
            )
            for mapping in self.mappings:
                mapping.release()
        return out

    def close(self) -> None:
        self.view, self.mappings = None, ()
        self.starts = np.empty(0, np.int64)
        self.file.close()
        self.index.close()


@dataclass(frozen=True)
class _Links:
    """The linked pairs ``i < j`` (or copy and its leader) with their Jaccard and whether
    it is exact."""

    n: int
    i: np.ndarray
    j: np.ndarray
    score: np.ndarray
    exact: np.ndarray

    def of(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score and exactness of the links (a, b), each of which is one of the pairs."""
        keys = np.minimum(self.i, self.j) * self.n + np.maximum(self.i, self.j)
        order = np.argsort(keys)
        at = order[np.searchsorted(keys[order], np.minimum(a, b) * self.n + np.maximum(a, b))]
        return self.score[at], self.exact[at]


@dataclass(frozen=True)
class _Dropped:
    """Who a cluster policy drops (record indices) and why: the survivor, the link that put
    each into its cluster (``via``, its score and exactness), the estimate to the survivor
    where that link is not to the survivor (``indirect``), and the cluster's size."""

    dropped: np.ndarray
    twin: np.ndarray
    via: np.ndarray
    score: np.ndarray
    exact: np.ndarray
    indirect: np.ndarray
    to_survivor: np.ndarray
    size: np.ndarray


Dropped = tuple[str, float, bool, int, str | None, float | None]
"""A dropped record's decision, as kept between ``prepare`` and ``apply``: survivor id,
score, exact, cluster size, via id and estimate to the survivor (the last two when indirect)."""


class _Store:
    """The disk path's files in a step's scratch directory (see :class:`NearDedup`), appended
    batch by batch while ``prepare`` reads the summaries."""

    def __init__(self, root: Path, bands: int, num_perm: int) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.num_perm = root, num_perm
        self.n = 0
        self.shards: list[tuple[Path, int]] = []  # signature shard files and their rows
        self._shard: IO[bytes] | None = None
        self.band_paths = [root / f"band-{b:04d}.u64" for b in range(bands)]
        self._bands = [path.open("wb") for path in self.band_paths]
        self._full = (root / "full.u64").open("wb")
        self._lengths = (root / "lengths.u32").open("wb")
        self._ids = (root / "ids.bin").open("wb")
        self.id_table: list[tuple[int, int, int]] = []  # each batch: first record, byte, width
        self._id_bytes = 0

    def append(self, s: SignatureBatch, bkeys: np.ndarray, full: np.ndarray) -> None:
        if self._shard is None or self.shards[-1][1] >= SHARD_RECORDS:
            if self._shard is not None:
                self._shard.close()
            path = self.root / f"signatures-{len(self.shards):05d}.u32"
            self.shards.append((path, 0))
            self._shard = path.open("wb")
        self._shard.write(np.ascontiguousarray(s.signatures, np.uint32).tobytes())
        self.shards[-1] = (self.shards[-1][0], self.shards[-1][1] + len(s.ids))
        for band, file in zip(bkeys.T, self._bands, strict=True):
            file.write(np.ascontiguousarray(band).tobytes())
        self._full.write(full.tobytes())
        self._lengths.write(s.lengths.astype(np.uint32).tobytes())
        self.id_table.append((self.n, self._id_bytes, s.ids.itemsize))
        self._ids.write(s.ids.tobytes())
        self._id_bytes += len(s.ids) * s.ids.itemsize
        self.n += len(s.ids)

    def finish(self) -> None:
        """Close every file for writing (then they are read back)."""
        for file in (self._shard, *self._bands, self._full, self._lengths, self._ids):
            if file is not None:
                file.close()
        self._shard = None

    def signatures(self) -> _Signatures:
        mappings = [_Mapping(path, np.uint32, rows * self.num_perm) for path, rows in self.shards]
        chunks = [m.array.reshape(-1, self.num_perm) for m in mappings]
        return _Signatures(chunks, mappings, DISK_PAIR_BLOCK)

    def partitions(
        self, name: str, keep: np.ndarray | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The 64-bit keys of a file (a band's, or the full signatures') with their record
        indexes, where ``keep`` (a mask over the records) holds, in partitions by the keys'
        leading bits: equal keys share a partition, and within one the indexes ascend. One
        partition when the records are at most :data:`PARTITION_RECORDS`; else the file is
        split once into partition files, read back one at a time (memory: one partition)."""
        parts = 1
        while parts * PARTITION_RECORDS < self.n:
            parts *= 2
        mapped = np.memmap(self.root / name, _U64, mode="r", shape=(self.n,))
        if parts == 1:
            idx = np.arange(self.n) if keep is None else np.flatnonzero(keep)
            yield np.array(mapped[idx]), idx
            return
        shift = np.uint64(64 - parts.bit_length() + 1)
        paths = [
            (self.root / f"part-{p:05d}.u64", self.root / f"part-{p:05d}.i64") for p in range(parts)
        ]
        files = [(k.open("wb"), i.open("wb")) for k, i in paths]
        try:
            for start in range(0, self.n, PARTITION_RECORDS):
                idx = np.arange(start, min(start + PARTITION_RECORDS, self.n))
                if keep is not None:
                    idx = idx[keep[idx]]
                keys = np.array(mapped[idx])
                part = (keys >> shift).astype(np.int64)
                order = np.argsort(part, kind="stable")
                bounds = np.searchsorted(part[order], np.arange(parts + 1))
                for p, (key_file, idx_file) in enumerate(files):
                    chosen = order[bounds[p] : bounds[p + 1]]
                    key_file.write(keys[chosen].tobytes())
                    idx_file.write(idx[chosen].tobytes())
        finally:
            for key_file, idx_file in files:
                key_file.close()
                idx_file.close()
        del mapped
        for key_path, idx_path in paths:
            keys, idx = np.fromfile(key_path, _U64), np.fromfile(idx_path, np.int64)
            key_path.unlink()
            idx_path.unlink()
            if len(keys):
                yield keys, idx

    def lengths(self, idx: np.ndarray) -> np.ndarray:
        mapped = np.memmap(self.root / "lengths.u32", np.uint32, mode="r", shape=(self.n,))
        return np.asarray(mapped[idx])

    def ids(self, idx: np.ndarray) -> list[str]:
        """The ids of the records at ``idx`` (read from the ids file)."""
        if not len(idx):
            return []
        data = np.memmap(self.root / "ids.bin", np.uint8, mode="r", shape=(self._id_bytes,))
        table = np.array(self.id_table, np.int64)
        batch = np.searchsorted(table[:, 0], idx, side="right") - 1
        width = table[batch, 2]
        start = table[batch, 1] + (idx - table[batch, 0]) * width
        out: list[str] = [""] * len(idx)
        for w in np.unique(width).tolist():  # the ids of one width at once, as numpy "S" reads
            at = np.flatnonzero(width == w)
            raw = np.ascontiguousarray(data[start[at, None] + np.arange(w)]).view(f"S{w}")
            for k, value in zip(at.tolist(), raw.ravel().tolist(), strict=True):
                out[k] = value.decode()
        return out

    def remove(self) -> None:
        """Delete the files (all but the decisions' map)."""
        self.finish()
        for path in [p for p, _ in self.shards] + self.band_paths:
            path.unlink(missing_ok=True)
        for name in ("full.u64", "lengths.u32", "ids.bin"):
            (self.root / name).unlink(missing_ok=True)
        for path in self.root.glob("part-*"):  # a resolution that raised midway
            path.unlink(missing_ok=True)


class NearDedup(Step):
    """Drop near-duplicates (MinHash + LSH), keeping one record per cluster.

    Two ways to hold the state of ``prepare``, with the same decisions (tested): in memory
    when the executor gives no :attr:`~curata.curation.steps.base.Step.scratch` directory
    (about 730 bytes per compared record, see the module docstring), and on disk in that
    directory when it does, after datatrove's decomposition of MinHash (signatures, buckets,
    clusters, filter):

    - while the summaries arrive, each batch is appended to files and forgotten:
      ``signatures-NNNNN.u32`` (shards of at most ``SHARD_RECORDS`` rows of ``num_perm``
      uint32: 512 bytes a record at the default), ``band-BBBB.u64`` (one file per band, the
      record's bucket key in that band: 8 bytes a record per band), ``full.u64`` (a key of
      the whole signature: 8), ``lengths.u32`` (4), ``ids.bin`` (each batch's ids at that
      batch's widest id), and with ``verify: exact`` the shingle hashes (8 bytes a shingle)
      and each record's start in them (8); memory: 16 bytes a batch;
    - records with identical signatures go to the first of them (their full keys, read back
      and sorted: transient 8 bytes a record for each of a handful of arrays);
    - band by band, the band's file is read, the candidate pairs of its buckets found and
      merged into the sorted set of distinct pairs found so far (memory: one band's keys and
      their sort, about 40 bytes a record, freed before the next band, plus 8 bytes a
      distinct candidate pair);
    - the candidates are verified as in memory (signature rows and shingles read from the
      mapped files, ``DISK_PAIR_BLOCK`` pairs at a time, the pages touched let go after each
      block), and the clusters resolved over only the records in some link (union-find by
      connected components, then the same keep-one and ``via`` rules);
    - the dropped records' decisions go to ``dropped.sqlite`` (a
      :class:`~curata.curation.diskmap.DiskMap`, what ``apply`` reads, one query per batch
      for the ids whose 64-bit hash is in the sorted array of the dropped ids' hashes kept in
      memory: 8 bytes a dropped record); every other file is deleted when ``prepare`` ends.

    Disk: about ``4 * num_perm + 8 * bands + 30`` bytes a record plus the ids (750 at the
    defaults) and the shingles with ``exact``, until ``prepare`` ends; then the dropped
    records' decisions only.
    """

    name: ClassVar[str] = "near_dedup"
    summary: ClassVar[str] = (
        "Near-duplicate removal: MinHash over word n-grams, LSH, clusters, one survivor each."
    )
    Params: ClassVar[type[NearDedupParams]] = NearDedupParams
    version: ClassVar[str] = "3"  # 3: the numba MinHash by default (2: recall bands, exact)
    needs_all: ClassVar[bool] = True
    params: NearDedupParams

    def __init__(self, params: NearDedupParams) -> None:
        super().__init__(params)
        self.bands, self.rows = (
            (params.bands, params.rows)
            if params.bands is not None and params.rows is not None
            else recall_bands(params.threshold, params.num_perm, params.candidate_recall)
        )
        self._dropped: dict[str, Dropped] = {}
        self._dropped_path: Path | None = None  # the disk path's decisions
        self._dropped_hashes = np.empty(0, _U64)  # and a hash of each id they hold, sorted
        self._map: DiskMap | None = None  # opened there by the first apply

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_map"] = None  # a SQLite connection does not travel; apply opens it again
        return state

    def summarize(self, batch: Sequence[Item]) -> SignatureBatch:
        p = self.params
        texts = [joined_text(record, p.fields) for _, record in batch]
        if p.backend != "datasketch":
            counts, hashes, offsets = batch_shingle_hashes(texts, p.ngram, p.min_words)
            kept = counts >= p.min_words
            sigs = (
                flat_signatures(hashes, offsets, p.num_perm, p.seed, p.backend)
                if kept.any()
                else np.empty((0, p.num_perm), np.uint32)
            )
        else:
            docs = [words_of(text) for text in texts]
            kept = np.fromiter((len(d) >= p.min_words for d in docs), bool, len(docs))
            docs = [d for d, k in zip(docs, kept.tolist(), strict=True) if k]
            sigs = signatures(
                docs, ngram=p.ngram, num_perm=p.num_perm, seed=p.seed, backend="datasketch"
            )
            if p.verify == "exact":
                hashes, offsets = (
                    shingle_hashes(docs, p.ngram) if docs else (np.empty(0, _U64), np.zeros(1))
                )
        ids = np.array([record_id.encode() for record_id, _ in batch], "S")[kept]
        lengths = np.fromiter(map(len, texts), np.uint32, len(texts))[kept]
        if p.verify != "exact":
            return SignatureBatch(ids, lengths, sigs)
        return SignatureBatch(ids, lengths, sigs, hashes, offsets.astype(_U64))

    def prepare(self, summaries: Iterator[SignatureBatch]) -> None:
        self._dropped, self._dropped_path = {}, None
        self._dropped_hashes = np.empty(0, _U64)
        if self._map is not None:
            self._map.close()
            self._map = None
        directory = self.scratch
        if directory is not None:
            Path(directory).mkdir(parents=True, exist_ok=True)
        block = PAIR_BLOCK if directory is None else DISK_PAIR_BLOCK
        spill = _ShingleSpill(directory, block) if self.params.verify == "exact" else None
        try:
            if directory is None:
                self._prepare(summaries, spill)
            else:
                self._prepare_on_disk(summaries, spill, Path(directory))
        finally:
            if spill is not None:
                spill.close()

    def _spill(self, spill: _ShingleSpill | None, s: SignatureBatch) -> None:
        if spill is not None:
            if s.shingles is None or s.offsets is None:
                raise ValueError("verify: exact needs the summaries' shingle hashes")
            spill.append(s.shingles, s.offsets)

    def _prepare(self, summaries: Iterator[SignatureBatch], spill: _ShingleSpill | None) -> None:
        id_parts, length_parts, chunks, bkey_parts, full_parts = [], [], [], [], []
        for s in summaries:
            if len(s.ids):
                id_parts.append(s.ids)
                length_parts.append(s.lengths)
                chunks.append(s.signatures)
                bkeys = band_keys(s.signatures, self.bands, self.rows)
                bkey_parts.append(bkeys)
                full_parts.append(full_keys(s.signatures, bkeys, self.bands, self.rows))
                self._spill(spill, s)
        if not chunks or sum(map(len, chunks)) < 2:
            return
        ids, lengths = np.concatenate(id_parts), np.concatenate(length_parts)
        sigs, n = _Signatures(chunks), len(ids)
        # records with identical signatures link to the first of them; LSH sees the rest once
        leader = leaders(np.concatenate(full_parts))
        index = np.arange(n)
        unique = np.flatnonzero(leader == index)
        i, j = bucket_pairs(np.concatenate(bkey_parts)[unique])
        copies = np.flatnonzero(leader != index)
        links = self._links(sigs, spill, n, unique[i], unique[j], leader[copies], copies)
        found = self._keep_one_per_cluster(links, lambda idx: lengths[idx], sigs, compress=False)
        if found is not None:
            self._dropped = dict(_decisions(found, lambda idx: [ids[k].decode() for k in idx]))

    def _prepare_on_disk(
        self, summaries: Iterator[SignatureBatch], spill: _ShingleSpill | None, root: Path
    ) -> None:
        """:meth:`_prepare` with its state in files under ``root`` (see the class docstring)."""
        store = _Store(root, self.bands, self.params.num_perm)
        path = root / "dropped.sqlite"
        path.unlink(missing_ok=True)
        decisions = DiskMap(path)
        try:
            for s in summaries:
                if len(s.ids):
                    bkeys = band_keys(s.signatures, self.bands, self.rows)
                    store.append(s, bkeys, full_keys(s.signatures, bkeys, self.bands, self.rows))
                    self._spill(spill, s)
            store.finish()
            if store.n >= 2:
                found = self._resolve_on_disk(store, spill)
                if found is not None:
                    rows = _decisions(found, store.ids)
                    hashes = []
                    while chunk := list(islice(rows, DECISIONS_CHUNK)):
                        chunk.sort(key=lambda row: row[0])  # stable: a later twin still wins
                        decisions.put_many(chunk)
                        hashes.append(_id_hashes([record_id for record_id, _ in chunk]))
                    if hashes:
                        self._dropped_hashes = distinct(np.concatenate(hashes))
        finally:
            decisions.close()
            store.remove()
        self._dropped_path = path

    def _resolve_on_disk(self, store: _Store, spill: _ShingleSpill | None) -> _Dropped | None:
        n = store.n
        copies_parts, lead_parts = [], []
        for keys, idx in store.partitions("full.u64"):
            leader = leaders(keys)
            copy = np.flatnonzero(leader != np.arange(len(keys)))
            copies_parts.append(idx[copy])
            lead_parts.append(idx[leader[copy]])
            del keys, idx, leader, copy
        copies, lead = np.concatenate(copies_parts), np.concatenate(lead_parts)
        order = np.argsort(copies)
        copies, lead = copies[order], lead[order]
        unique = np.ones(n, bool)  # 1 byte a record: the only array as long as the input
        unique[copies] = False
        seen = np.empty(0, np.int64)
        pending: list[np.ndarray] = []  # merged into seen once they outgrow it
        for path in store.band_paths:  # one partition of one band's keys in memory at a time
            for keys, idx in store.partitions(path.name, unique):
                local = band_pairs(keys)
                pending.append(idx[local // len(keys)] * n + idx[local % len(keys)])
                if sum(map(len, pending)) >= max(len(seen), 1 << 16):
                    seen = distinct(np.concatenate((seen, *pending)))
                    pending = []
        seen = distinct(np.concatenate((seen, *pending)))
        i, j = seen // n, seen % n
        del seen, unique
        sigs = store.signatures()
        links = self._links(sigs, spill, n, i, j, lead, copies)
        return self._keep_one_per_cluster(links, store.lengths, sigs, compress=True)

    def _links(
        self,
        sigs: _Signatures,
        spill: _ShingleSpill | None,
        n: int,
        i: np.ndarray,
        j: np.ndarray,
        lead: np.ndarray,
        copies: np.ndarray,
    ) -> _Links:
        """The candidate pairs ``(i, j)`` that ``verify`` links, then each copy (a record
        whose signature equals an earlier one's) linked to its leader."""
        if self.params.verify != "off":
            score, exact = self._similarity(sigs, spill, i, j)
            linked = score >= self.params.threshold
            i, j, score, exact = i[linked], j[linked], score[linked], exact[linked]
        else:
            score, exact = sigs.jaccard(i, j), np.zeros(len(i), bool)
        i, j = np.concatenate((i, lead)), np.concatenate((j, copies))
        score = np.concatenate((score, sigs.jaccard(lead, copies)))
        exact = np.concatenate((exact, np.zeros(len(copies), bool)))
        return _Links(n, i, j, score, exact)

    def _similarity(
        self, sigs: _Signatures, spill: _ShingleSpill | None, i: np.ndarray, j: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Jaccard of each pair, and whether it is exact: the MinHash estimate, replaced by
        the exact value where it is within ``EXACT_MARGIN`` standard errors of the threshold
        (with ``verify: exact``)."""
        score = sigs.jaccard(i, j)
        exact = np.zeros(len(score), bool)
        if spill is not None:
            t = self.params.threshold
            margin = EXACT_MARGIN * math.sqrt(t * (1 - t) / self.params.num_perm)
            exact = np.abs(score - t) <= margin
            score[exact] = spill.exact_jaccard(i[exact], j[exact])
        return score, exact

    def _keep_one_per_cluster(
        self,
        links: _Links,
        lengths: Callable[[np.ndarray], np.ndarray],
        sigs: _Signatures,
        compress: bool,
    ) -> _Dropped | None:
        """The clusters of the links and who each drops (None if nobody). ``compress``:
        the graph has only the records in some link (a record in none is a cluster of its
        own, dropping nobody; the others keep their order, so the same survivors and
        ``via`` come out)."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import breadth_first_order, connected_components

        if compress:
            if not len(links.i):
                return None
            nodes = distinct(np.concatenate((links.i, links.j)))
            n, i, j = len(nodes), np.searchsorted(nodes, links.i), np.searchsorted(nodes, links.j)
        else:
            nodes = np.arange(links.n)
            n, i, j = links.n, links.i, links.j
        graph = coo_matrix((np.ones(len(i), np.int8), (i, j)), shape=(n, n))
        _, label = connected_components(graph, directed=False)
        index = np.arange(n)  # survivor: first of its cluster by (length if longest, index)
        rank = -lengths(nodes).astype(np.int64) if self.params.keep == "longest" else np.zeros(n)
        order = np.lexsort((index, rank, label))
        firsts = order[np.concatenate(([True], label[order][1:] != label[order][:-1]))]
        survivor = np.empty(label.max() + 1, np.int64)
        survivor[label[firsts]] = firsts
        twin = survivor[label]
        size = np.bincount(label)[label]
        dropped = np.flatnonzero(twin != index)
        if not len(dropped):
            return None
        # each member's link into its cluster: its parent on a shortest path to the survivor
        # (one breadth-first search from a node joined to every survivor)
        root = np.full(len(firsts), n)
        wide = coo_matrix(
            (np.ones(len(i) + len(firsts), np.int8), (np.concatenate((i, root)),
             np.concatenate((j, firsts)))), shape=(n + 1, n + 1),
        )  # fmt: skip
        _, parent = breadth_first_order(wide, n, directed=False, return_predecessors=True)
        via = nodes[parent[dropped]]
        twins = nodes[twin[dropped]]
        dropped_at = nodes[dropped]
        score, exact = links.of(dropped_at, via)
        indirect = via != twins
        to_survivor = np.full(len(dropped), np.nan)
        to_survivor[indirect] = sigs.jaccard(dropped_at[indirect], twins[indirect])
        return _Dropped(dropped_at, twins, via, score, exact, indirect, to_survivor, size[dropped])

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        keep = Decision.keep()
        record_ids = [record_id for record_id, _ in batch]
        if self._dropped_path is None:
            hits = list(map(self._dropped.get, record_ids))
        else:
            if self._map is None:
                self._map = DiskMap(self._dropped_path)
            # ask the map only about ids whose hash is a dropped id's (most ids are kept)
            hashes, known = _id_hashes(record_ids), self._dropped_hashes
            at = np.minimum(np.searchsorted(known, hashes), max(len(known) - 1, 0))
            maybe = known[at] == hashes if len(known) else np.zeros(len(hashes), bool)
            found = self._map.get_many([record_ids[k] for k in np.flatnonzero(maybe).tolist()])
            hits = [found.get(record_id) for record_id in record_ids]
        return [keep if hit is None else _drop(*hit) for hit in hits]


def _id_hashes(record_ids: Sequence[str]) -> np.ndarray:
    """A 64-bit hash of each id (of its UTF-8 bytes, NUL-padded to whole words: the same in
    every process; ids differing only in trailing NULs share one, which only costs a look-up)."""
    if not record_ids:
        return np.empty(0, _U64)
    raw = np.array([r.encode() for r in record_ids], "S")
    width = -(-max(raw.itemsize, 1) // 8) * 8
    words = raw.astype(f"S{width}").view(_U64).reshape(len(raw), width // 8)
    return _fold(words)


def _decisions(
    found: _Dropped, ids_at: Callable[[np.ndarray], list[str]]
) -> Iterator[tuple[str, Dropped]]:
    """(id, decision) of each dropped record, in order (a later record with the same id
    replaces an earlier one's; an id that is also a survivor's is not dropped)."""
    kept = set(ids_at(distinct(found.twin)))
    for start in range(0, len(found.dropped), DECISIONS_CHUNK):
        part = slice(start, start + DECISIONS_CHUNK)
        rows = zip(
            ids_at(found.dropped[part]), ids_at(found.twin[part]), ids_at(found.via[part]),
            found.score[part].tolist(), found.exact[part].tolist(),
            found.indirect[part].tolist(), found.to_survivor[part].tolist(),
            found.size[part].tolist(), strict=True,
        )  # fmt: skip
        for record_id, twin, via, s, is_exact, is_indirect, far, size in rows:
            if record_id not in kept:
                yield (
                    record_id,
                    (
                        twin,
                        s,
                        is_exact,
                        int(size),
                        via if is_indirect else None,
                        far if is_indirect else None,
                    ),
                )


def _drop(
    twin: str, score: float, exact: bool, size: int, via: str | None, far: float | None
) -> Decision:
    sign = "=" if exact else "~"
    if via is None:
        reason = f"near-duplicate of {twin} (Jaccard{sign}{score:.2f})"
        extra: dict[str, Any] = {}
    else:
        reason = (
            f"near-duplicate of {twin} via {via} (Jaccard{sign}{score:.2f} to it, "
            f"~{far:.2f} to {twin})"
        )
        extra = {"via": via, "jaccard_to_kept": round(float(far or 0.0), 4)}
    return Decision.drop(
        reason,
        related=twin,
        score=round(score, 4),
        estimate="exact" if exact else "minhash",
        cluster_size=size,
        **extra,
    )
