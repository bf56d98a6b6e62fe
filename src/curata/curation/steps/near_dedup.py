"""Near-duplicate removal: MinHash signatures, LSH banding, union-find clusters, one survivor.

Text is lowercased and split into words by the regex ``\\w+``; a record's shingles are its
runs of ``ngram`` consecutive words joined by one space. A record with at least ``min_words``
but fewer than ``ngram`` words is one shingle (all its words), so it only matches a record with
the same words in the same order; a record with fewer than ``min_words`` words is kept and never
compared.

Candidates are records sharing a bucket in any LSH band (band ``i`` hashes signature slots
``i*rows .. (i+1)*rows``, as datasketch's ``MinHashLSH`` does). With ``verify`` a candidate pair
is linked only when its estimated Jaccard (the fraction of equal signature slots, all
``num_perm`` of them) reaches ``threshold``; the exact Jaccard would need every record's shingle
set in memory across batches, so it is not computed. Linked records form clusters (connected
components, which is what union-find computes); the ``keep`` policy picks the survivor and
every other member is dropped naming it and their estimated Jaccard, which for a member linked
only through others may be below the threshold.

Memory while preparing, per compared record: ``4 * num_perm`` bytes of signature (512 at the
default), the id (32 bytes for a hex id), 4 bytes of length and ``8 * (bands + 1)`` bytes of
bucket keys, about 630 bytes in all (630 MB per million records); afterwards the step keeps
only the dropped records' ids, twins and scores. Decisions are keyed by record id, so
``apply`` may run anywhere in any order; records with one id (same content and metadata) share
a decision, and removing those is ``exact_dedup``'s job.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import chain
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from curata.curation.steps.base import Decision, Item, Step, TextParams, joined_text

WORD = re.compile(r"\w+")
WINDOW = 32
"""A bucket links each member to at most its next WINDOW members (bounds boilerplate buckets)."""
PAIR_BLOCK = 1 << 16
_U64 = np.uint64
_BASE = 0x100000001B3
_BASE_INV = pow(_BASE, -1, 1 << 64)


class NearDedupParams(TextParams):
    """Parameters of :class:`NearDedup`."""

    ngram: int = Field(default=5, ge=1, description="Words per shingle (lowercased \\w+ words).")
    num_perm: int = Field(default=128, ge=2, le=1024, description="MinHash permutations.")
    threshold: float = Field(
        default=0.8, gt=0, le=1, description="Jaccard similarity at which records are duplicates."
    )
    bands: int | None = Field(
        default=None, ge=1, description="LSH bands (with rows; default: chosen from threshold)."
    )
    rows: int | None = Field(default=None, ge=1, description="Signature slots per LSH band.")
    backend: Literal["rensa", "datasketch"] = Field(
        default="rensa", description="MinHash library: rensa (fast) or datasketch (reference)."
    )
    seed: int = Field(default=42, ge=0, lt=1 << 32, description="Seed of the permutations.")
    keep: Literal["first", "longest"] = Field(
        default="first", description="Survivor of a cluster: the first record or the longest."
    )
    verify: bool = Field(
        default=True,
        description="Link a candidate pair only if its estimated Jaccard reaches threshold.",
    )
    min_words: int = Field(
        default=1, ge=1, description="Records with fewer words are kept and never compared."
    )

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither (then threshold chooses them)")
        if self.bands and self.rows and self.bands * self.rows != self.num_perm:
            raise ValueError(
                f"bands * rows must equal num_perm: {self.bands} * {self.rows} = "
                f"{self.bands * self.rows}, num_perm is {self.num_perm}"
            )


@cache
def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimising the equally weighted false positive and false negative
    probability mass around ``threshold`` (datasketch's ``_optimal_param``; ``bands * rows``
    may be below ``num_perm``)."""
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(threshold, num_perm, 0.5, 0.5)
    return int(bands), int(rows)


def words_of(text: str) -> list[str]:
    """The lowercased ``\\w+`` words of a text."""
    return WORD.findall(text.lower())


def shingles(words: Sequence[str], ngram: int) -> list[str]:
    """The shingles of a word list: runs of ``ngram`` words, or all words if fewer."""
    if len(words) < ngram:
        return [" ".join(words)]
    return list(map(" ".join, zip(*(words[i:] for i in range(ngram)), strict=False)))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, elementwise on uint64."""
    x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
    out: np.ndarray = x ^ (x >> _U64(31))
    return out


def shingle_hashes(docs: Sequence[Sequence[str]], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every document's shingles (flat) and the row offsets into them.

    A shingle's hash is a polynomial hash (mod 2**64) of its UTF-8 text, as :func:`shingles`
    writes it, computed for a whole batch at once from prefix sums over the joined words.
    Every document must have at least one word.
    """
    counts = np.fromiter(map(len, docs), np.int64, len(docs))
    data = np.frombuffer(" ".join(chain.from_iterable(docs)).encode(), np.uint8)
    ends = np.append(np.flatnonzero(data == 32), len(data))  # a space never occurs in a word
    starts = np.concatenate(([0], ends[:-1] + 1))
    per_word = np.repeat(counts, counts)
    doc_end = np.repeat(np.cumsum(counts), counts)
    k = np.arange(len(starts))
    valid = (k + ngram <= doc_end) | ((per_word < ngram) & (k == doc_end - per_word))
    first = k[valid]
    s, e = starts[first], ends[np.minimum(first + ngram - 1, doc_end[valid] - 1)]
    size = len(data)
    powers = np.cumprod(np.concatenate(([_U64(1)], np.full(size, _BASE, _U64))))
    prefix = np.concatenate(([_U64(0)], np.cumsum((data.astype(_U64) + _U64(1)) * powers[1:])))
    # sum (c_j + 1) B^(j+1) over [s, e), times B^(size-s) B^-size: B^(j-s+1), position-free
    scaled = (prefix[e] - prefix[s]) * powers[size - s] * _U64(pow(_BASE_INV, size, 1 << 64))
    hashes = _mix(scaled ^ (e - s).astype(_U64))
    offsets = np.concatenate(([0], np.cumsum(np.maximum(counts - ngram + 1, 1))))
    return hashes, offsets.astype(_U64)


def signatures(
    docs: Sequence[Sequence[str]], *, ngram: int, num_perm: int, seed: int, backend: str
) -> np.ndarray:
    """MinHash signatures (``len(docs) x num_perm``, uint32) of word lists' shingle sets."""
    if not docs:
        return np.empty((0, num_perm), np.uint32)
    if backend == "rensa":
        import rensa

        hashes, offsets = shingle_hashes(docs, ngram)
        matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
            hashes, offsets, num_perm, seed
        )
        flat = array("I", chain.from_iterable(matrix.to_rows()))
        return np.frombuffer(flat, np.uint32).reshape(len(docs), num_perm)
    from datasketch import MinHash

    sets = ([s.encode() for s in shingles(words, ngram)] for words in docs)
    minhashes = MinHash.generator(sets, num_perm=num_perm, seed=seed)
    return np.vstack([m.hashvalues for m in minhashes]).astype(np.uint32)


def _fold(values: np.ndarray) -> np.ndarray:
    """A 64-bit key of each row of the last axis of a uint32 array."""
    key = np.zeros(values.shape[:-1], _U64)
    for j in range(values.shape[-1]):  # uint64 arrays wrap silently (mod 2**64)
        key = (key ^ values[..., j].astype(_U64)) * _U64(0x9E3779B97F4A7C15)
    return _mix(key)


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Bucket key of every record in every band (``n x bands``, uint64)."""
    return _fold(sigs[:, : bands * rows].reshape(len(sigs), bands, rows))


def bucket_pairs(keys: np.ndarray, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, sharing a bucket in some band (each pair once); in a
    bucket of more than ``window + 1`` records each links to its next ``window``."""
    n = len(keys)
    found = []
    for band in keys.T:
        order = np.argsort(band, kind="stable")
        ordered = band[order]
        for d in range(1, min(window, n - 1) + 1):
            same = np.flatnonzero(ordered[d:] == ordered[:-d])
            if not len(same):
                break
            found.append(order[same] * n + order[same + d])
    if not found:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pairs = np.unique(np.concatenate(found))
    return pairs // n, pairs % n


@dataclass(frozen=True)
class SignatureBatch:
    """What :meth:`NearDedup.summarize` keeps of a batch: the compared records only."""

    ids: np.ndarray  # bytes (numpy "S"), UTF-8 record ids
    lengths: np.ndarray  # uint32, characters of the compared text
    signatures: np.ndarray  # uint32, len(ids) x num_perm


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


class NearDedup(Step):
    """Drop near-duplicates (MinHash + LSH), keeping one record per cluster."""

    name: ClassVar[str] = "near_dedup"
    summary: ClassVar[str] = (
        "Near-duplicate removal: MinHash over word n-grams, LSH, clusters, one survivor each."
    )
    Params: ClassVar[type[NearDedupParams]] = NearDedupParams
    version: ClassVar[str] = "1"
    needs_all: ClassVar[bool] = True
    params: NearDedupParams

    def __init__(self, params: NearDedupParams) -> None:
        super().__init__(params)
        self.bands, self.rows = (
            (params.bands, params.rows)
            if params.bands is not None and params.rows is not None
            else optimal_bands(params.threshold, params.num_perm)
        )
        self._dropped: dict[str, tuple[str, float, int]] = {}

    def summarize(self, batch: Sequence[Item]) -> SignatureBatch:
        p = self.params
        ids, lengths, docs = [], [], []
        for record_id, record in batch:
            text = joined_text(record, p.fields)
            words = words_of(text)
            if len(words) >= p.min_words:
                ids.append(record_id.encode())
                lengths.append(len(text))
                docs.append(words)
        sigs = signatures(docs, ngram=p.ngram, num_perm=p.num_perm, seed=p.seed, backend=p.backend)
        return SignatureBatch(np.array(ids, "S"), np.array(lengths, np.uint32), sigs)

    def prepare(self, summaries: Iterator[SignatureBatch]) -> None:
        p = self.params
        id_parts, length_parts, chunks, bkey_parts, full_parts = [], [], [], [], []
        for s in summaries:
            if len(s.ids):
                id_parts.append(s.ids)
                length_parts.append(s.lengths)
                chunks.append(s.signatures)
                bkey_parts.append(band_keys(s.signatures, self.bands, self.rows))
                full_parts.append(_fold(s.signatures))
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
        if p.verify:
            linked = sigs.jaccard(i, j) >= p.threshold
            i, j = i[linked], j[linked]
        copies = np.flatnonzero(leader != index)
        i, j = np.concatenate((i, leader[copies])), np.concatenate((j, copies))
        self._keep_one_per_cluster(ids, lengths, sigs, i, j)

    def _keep_one_per_cluster(
        self,
        ids: np.ndarray,
        lengths: np.ndarray,
        sigs: _Signatures,
        i: np.ndarray,
        j: np.ndarray,
    ) -> None:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        n = len(ids)
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
        jaccard = sigs.jaccard(dropped, twin[dropped])
        kept = {ids[t].decode() for t in np.unique(twin[dropped])}
        for d, score in zip(dropped.tolist(), jaccard.tolist(), strict=True):
            record_id = ids[d].decode()
            if record_id not in kept:
                self._dropped[record_id] = (ids[twin[d]].decode(), score, int(size[d]))

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        out = []
        for record_id, _ in batch:
            hit = self._dropped.get(record_id)
            if hit is None:
                out.append(Decision.keep())
                continue
            twin, score, size = hit
            out.append(
                Decision.drop(
                    f"near-duplicate of {twin} (Jaccard~{score:.2f})",
                    related=twin,
                    score=round(score, 4),
                    estimate="minhash",
                    cluster_size=size,
                )
            )
        return out
