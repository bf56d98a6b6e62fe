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
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

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


def bucket_pairs(keys: np.ndarray, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, sharing a bucket in some band (each pair once); in a
    bucket of more than ``window + 1`` records each links to its next ``window``."""
    n = len(keys)
    found = []
    for band in keys.T:
        order, ordered = _stable_order(band)
        for d in range(1, min(window, n - 1) + 1):
            same = np.flatnonzero(ordered[d:] == ordered[:-d])
            if not len(same):
                break
            found.append(order[same] * n + order[same + d])
    if not found:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pairs = distinct(np.concatenate(found))
    return pairs // n, pairs % n


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

    def __init__(self, chunks: list[np.ndarray]) -> None:
        self.chunks = chunks
        self.starts = np.cumsum([0] + [len(c) for c in chunks])

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
        for lo in range(0, len(i), PAIR_BLOCK):
            a, b = self.rows(i[lo : lo + PAIR_BLOCK]), self.rows(j[lo : lo + PAIR_BLOCK])
            out[lo : lo + PAIR_BLOCK] = (a == b).mean(axis=1)
        return out


class _ShingleSpill:
    """Every compared record's shingle hashes, appended to a temporary file in batch order
    (8 bytes a shingle on disk, 8 bytes a record of offset in memory); read back by pair."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile(prefix="curata-near-dedup-")  # noqa: SIM115
        self.written = 0
        self.parts: list[np.ndarray] = []  # each batch's record starts, as appended
        self.view: np.ndarray | None = None  # the file, mapped once appending is over
        self.starts = np.empty(0, np.int64)  # every record's start, and the end

    def append(self, shingles: np.ndarray, offsets: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(shingles, _U64).tobytes())
        self.parts.append(offsets[:-1].astype(np.int64) + self.written)
        self.written += len(shingles)

    def exact_jaccard(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Exact Jaccard of the shingle sets of each pair (records by index), by
        :func:`curata.curation.kernels.pair_jaccard`."""
        from curata.curation.kernels import pair_jaccard

        if self.view is None:
            self.file.flush()
            self.starts = np.concatenate([*self.parts, [self.written]]).astype(np.int64)
            self.parts = []
            self.view = (
                np.memmap(self.file, _U64, mode="r", shape=(self.written,)).view(np.ndarray)
                if self.written
                else np.empty(0, _U64)
            )
        return pair_jaccard(self.view, self.starts, i.astype(np.int64), j.astype(np.int64))

    def close(self) -> None:
        self.view = None
        self.file.close()


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


class NearDedup(Step):
    """Drop near-duplicates (MinHash + LSH), keeping one record per cluster."""

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
        self._dropped: dict[str, tuple[str, float, bool, int, str | None, float | None]] = {}

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
        spill = _ShingleSpill() if self.params.verify == "exact" else None
        try:
            self._prepare(summaries, spill)
        finally:
            if spill is not None:
                spill.close()

    def _prepare(self, summaries: Iterator[SignatureBatch], spill: _ShingleSpill | None) -> None:
        id_parts, length_parts, chunks, bkey_parts, full_parts = [], [], [], [], []
        for s in summaries:
            if len(s.ids):
                id_parts.append(s.ids)
                length_parts.append(s.lengths)
                chunks.append(s.signatures)
                bkeys = band_keys(s.signatures, self.bands, self.rows)
                bkey_parts.append(bkeys)
                rest = s.signatures[:, self.bands * self.rows :]
                full_parts.append(_fold(np.concatenate((bkeys, rest), axis=1, dtype=_U64)))
                if spill is not None:
                    if s.shingles is None or s.offsets is None:
                        raise ValueError("verify: exact needs the summaries' shingle hashes")
                    spill.append(s.shingles, s.offsets)
        self._dropped = {}
        if not chunks or sum(map(len, chunks)) < 2:
            return
        ids, lengths = np.concatenate(id_parts), np.concatenate(length_parts)
        sigs, n = _Signatures(chunks), len(ids)
        index = np.arange(n)
        # records with identical signatures link to the first of them; LSH sees the rest once
        full = np.concatenate(full_parts)
        order = np.argsort(full, kind="stable")
        heads = np.concatenate(([True], full[order][1:] != full[order][:-1]))
        leader = np.empty(n, np.int64)
        leader[order] = order[np.maximum.accumulate(np.where(heads, np.arange(n), 0))]
        distinct = np.flatnonzero(leader == index)
        i, j = bucket_pairs(np.concatenate(bkey_parts)[distinct])
        i, j = distinct[i], distinct[j]
        if self.params.verify != "off":
            score, exact = self._similarity(sigs, spill, i, j)
            linked = score >= self.params.threshold
            i, j, score, exact = i[linked], j[linked], score[linked], exact[linked]
        else:
            score, exact = sigs.jaccard(i, j), np.zeros(len(i), bool)
        copies = np.flatnonzero(leader != index)
        i, j = np.concatenate((i, leader[copies])), np.concatenate((j, copies))
        score = np.concatenate((score, sigs.jaccard(leader[copies], copies)))
        exact = np.concatenate((exact, np.zeros(len(copies), bool)))
        self._keep_one_per_cluster(ids, lengths, sigs, _Links(n, i, j, score, exact))

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
        self, ids: np.ndarray, lengths: np.ndarray, sigs: _Signatures, links: _Links
    ) -> None:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import breadth_first_order, connected_components

        n, i, j = len(ids), links.i, links.j
        graph = coo_matrix((np.ones(len(i), np.int8), (i, j)), shape=(n, n))
        _, label = connected_components(graph, directed=False)
        index = np.arange(n)  # survivor: first of its cluster by (length if longest, index)
        rank = -lengths.astype(np.int64) if self.params.keep == "longest" else np.zeros(n)
        order = np.lexsort((index, rank, label))
        firsts = order[np.concatenate(([True], label[order][1:] != label[order][:-1]))]
        survivor = np.empty(label.max() + 1, np.int64)
        survivor[label[firsts]] = firsts
        twin = survivor[label]
        size = np.bincount(label)[label]
        dropped = np.flatnonzero(twin != index)
        if not len(dropped):
            return
        # each member's link into its cluster: its parent on a shortest path to the survivor
        # (one breadth-first search from a node joined to every survivor)
        root = np.full(len(firsts), n)
        wide = coo_matrix(
            (np.ones(len(i) + len(firsts), np.int8), (np.concatenate((i, root)),
             np.concatenate((j, firsts)))), shape=(n + 1, n + 1),
        )  # fmt: skip
        _, parent = breadth_first_order(wide, n, directed=False, return_predecessors=True)
        via = parent[dropped]
        score, exact = links.of(dropped, via)
        indirect = via != twin[dropped]
        to_survivor = np.full(len(dropped), np.nan)
        to_survivor[indirect] = sigs.jaccard(dropped[indirect], twin[dropped][indirect])
        kept = {ids[t].decode() for t in distinct(twin[dropped])}
        rows = zip(
            dropped.tolist(), via.tolist(), score.tolist(), exact.tolist(),
            indirect.tolist(), to_survivor.tolist(), strict=True,
        )  # fmt: skip
        for d, v, s, is_exact, is_indirect, far in rows:
            record_id = ids[d].decode()
            if record_id not in kept:
                self._dropped[record_id] = (
                    ids[twin[d]].decode(),
                    s,
                    is_exact,
                    int(size[d]),
                    ids[v].decode() if is_indirect else None,
                    far if is_indirect else None,
                )

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        keep = Decision.keep()
        hits = map(self._dropped.get, [record_id for record_id, _ in batch])
        return [keep if hit is None else _drop(*hit) for hit in hits]


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
