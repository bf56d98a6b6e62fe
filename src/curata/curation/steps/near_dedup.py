"""Near-duplicate removal: MinHash signatures, LSH banding, union-find clusters, one survivor.

Text is lowercased and split into words by the regex ``\\w+``; a record's shingles are its
runs of ``ngram`` consecutive words joined by one space. A record with at least ``min_words``
but fewer than ``ngram`` words is one shingle (all its words), so it only matches a record with
the same words in the same order; a record with fewer than ``min_words`` words is kept and never
compared. With rensa, a batch is split and hashed as one UTF-8 byte stream in numpy (the same
words and shingle hashes as splitting each record), and rensa computes all its signatures in
one call.

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
from functools import cache, partial
from itertools import chain, pairwise
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from curata.curation.steps.base import Decision, Item, Step, TextParams, joined_text

WORD = re.compile(r"\w+")
WINDOW = 32
"""A bucket links each member to at most its next WINDOW members (bounds boilerplate buckets)."""
PAIR_BLOCK = 1 << 16
STREAM_BYTES = 1 << 18
"""Texts are split and hashed in runs of about this many bytes (so the arrays stay in cache)."""
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
    """splitmix64's finaliser, elementwise on uint64, in place (``x`` is returned)."""
    tmp = np.empty_like(x)
    for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        x ^= np.right_shift(x, _U64(shift), out=tmp)
        x *= _U64(factor)
    x ^= np.right_shift(x, _U64(31), out=tmp)
    return x


class _Powers:
    """``B**k`` (mod 2**64) for ``k`` up to the longest stream so far, kept up to 2**20
    (8 MiB); a longer stream's are made anew each time."""

    kept = 1 << 20
    table: np.ndarray = np.ones(1, _U64)

    @classmethod
    def upto(cls, n: int) -> np.ndarray:
        table: np.ndarray = cls.table
        if len(table) <= n:
            size = max(n + 1, min(2 * len(table), cls.kept + 1))
            table = np.cumprod(np.concatenate(([_U64(1)], np.full(size - 1, _BASE, _U64))))
            if size <= cls.kept + 1:
                cls.table = table
        return table


def _hash_shingles(
    data: np.ndarray, starts: np.ndarray, ends: np.ndarray, counts: np.ndarray, ngram: int
) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes and row offsets from a UTF-8 byte stream of words joined by single
    spaces, the words' byte spans in it and each document's word count (at least one)."""
    size = len(data)
    powers = _Powers.upto(size)
    prefix = np.empty(size + 1, _U64)
    prefix[0] = 0
    # UTF-8 has no byte 0xFF, so c + 1 fits a byte
    np.cumsum(np.multiply(data + np.uint8(1), powers[1 : size + 1]), out=prefix[1:])
    per_word = np.repeat(counts, counts)
    doc_end = np.repeat(np.cumsum(counts), counts)
    k = np.arange(len(starts))
    valid = (k + ngram <= doc_end) | ((per_word < ngram) & (k == doc_end - per_word))
    first = k[valid]
    s, e = starts[first], ends[np.minimum(first + ngram - 1, doc_end[valid] - 1)]
    # sum (c_j + 1) B^(j+1) over [s, e), times B^(size-s) B^-size: B^(j-s+1), position-free
    hashes = prefix[e]
    hashes -= prefix[s]
    hashes *= powers[size - s]
    hashes *= _U64(pow(_BASE_INV, size, 1 << 64))
    hashes ^= (e - s).astype(_U64)
    offsets = np.concatenate(([0], np.cumsum(np.maximum(counts - ngram + 1, 1))))
    return _mix(hashes), offsets.astype(_U64)


def shingle_hashes(docs: Sequence[Sequence[str]], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every document's shingles (flat) and the row offsets into them.

    A shingle's hash is a polynomial hash (mod 2**64) of its UTF-8 text, as :func:`shingles`
    writes it, computed for a whole batch at once from prefix sums over the joined words.
    Every document must have at least one word.
    """
    counts = np.fromiter(map(len, docs), np.int64, len(docs))
    words = [w.encode() for w in chain.from_iterable(docs)]
    lengths = np.fromiter(map(len, words), np.int64, len(words))
    ends = np.cumsum(lengths + 1) - 1
    data = np.frombuffer(b" ".join(words), np.uint8)
    return _hash_shingles(data, ends - lengths, ends, counts, ngram)


@cache
def _is_word_char(code: int) -> bool:
    return WORD.fullmatch(chr(code)) is not None


def _word_bytes(data: np.ndarray) -> np.ndarray:
    """Which bytes of a UTF-8 stream belong to a ``\\w`` character (non-ASCII characters are
    decoded and asked of the regex, once per distinct character)."""
    mask: np.ndarray = np.subtract(data, ord("a"), dtype=np.uint8) < 26  # wraps below "a"
    mask |= np.subtract(data, ord("0"), dtype=np.uint8) < 10
    mask |= data == ord("_")
    mask |= np.subtract(data, ord("A"), dtype=np.uint8) < 26
    high = np.flatnonzero(data >= 0x80)
    if not len(high):
        return mask
    lead = data[high] >= 0xC0
    at = high[lead]
    first = data[at].astype(np.uint32)
    width = 2 + (first >= 0xE0) + (first >= 0xF0)
    code = first & np.where(width == 2, 0x1F, np.where(width == 3, 0x0F, 0x07)).astype(np.uint32)
    for i in (1, 2, 3):
        more = width > i
        code[more] = (code[more] << 6) | (data[at[more] + i] & 0x3F)
    codes, which = np.unique(code, return_inverse=True)
    is_word = np.fromiter(map(_is_word_char, codes.tolist()), bool, len(codes))
    mask[high] = is_word[which][np.cumsum(lead) - 1]
    return mask


def batch_shingle_hashes(
    texts: Sequence[str], ngram: int, min_words: int = 1, *, stream_bytes: int = STREAM_BYTES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Word counts of ``texts``, and :func:`shingle_hashes` of those with at least
    ``min_words`` words (as :func:`words_of` splits them), tokenised as byte streams of about
    ``stream_bytes`` each."""
    encoded = [t.lower().encode("utf-8", "surrogatepass") for t in texts]
    sizes = np.fromiter(map(len, encoded), np.int64, len(encoded)) + 1
    cuts = np.flatnonzero(np.diff(np.cumsum(sizes) // stream_bytes)) + 1
    bounds = [0, *cuts.tolist(), len(encoded)]
    parts = [_stream_hashes(encoded[a:b], ngram, min_words) for a, b in pairwise(bounds)]
    shift = np.cumsum([_U64(0)] + [offsets[-1] for _, _, offsets in parts[:-1]], dtype=_U64)
    return (
        np.concatenate([counts for counts, _, _ in parts]),
        np.concatenate([hashes for _, hashes, _ in parts]),
        np.concatenate(
            [[_U64(0)]] + [o[1:] + k for (_, _, o), k in zip(parts, shift, strict=True)]
        ),
    )


def _stream_hashes(
    encoded: Sequence[bytes], ngram: int, min_words: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`batch_shingle_hashes` of lowercased UTF-8 texts, as one byte stream."""
    data = np.frombuffer(b"\n".join((b"", *encoded, b"")), np.uint8)
    mask = _word_bytes(data)
    edges = np.flatnonzero(mask[1:] != mask[:-1]) + 1
    starts, ends = edges[::2], edges[1::2]
    bounds = np.cumsum(np.fromiter(map(len, encoded), np.int64, len(encoded)) + 1)
    counts = np.diff(np.searchsorted(starts, np.concatenate(([0], bounds))))
    kept = counts >= min_words
    if not kept.all():
        keep_word = np.repeat(kept, counts)
        lo, size = starts[~keep_word], (ends - starts)[~keep_word]
        mask[np.repeat(lo - np.cumsum(size) + size, size) + np.arange(size.sum())] = False
        starts, ends = starts[keep_word], ends[keep_word]
    mask[ends] = True  # the byte after a word becomes the space before the next
    stream = data[mask]
    lengths = ends - starts
    ends = np.cumsum(lengths + 1) - 1
    stream[ends] = 32
    hashes, offsets = _hash_shingles(stream, ends - lengths, ends, counts[kept], ngram)
    return counts, hashes, offsets


def _rensa_signatures(
    hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int
) -> np.ndarray:
    import rensa

    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets, num_perm, seed)
    flat = b"".join(map(partial(array, "I"), matrix.to_rows()))  # rows are lists of ints
    return np.frombuffer(flat, np.uint32).reshape(len(offsets) - 1, num_perm)


def signatures(
    docs: Sequence[Sequence[str]], *, ngram: int, num_perm: int, seed: int, backend: str
) -> np.ndarray:
    """MinHash signatures (``len(docs) x num_perm``, uint32) of word lists' shingle sets."""
    if not docs:
        return np.empty((0, num_perm), np.uint32)
    if backend == "rensa":
        return _rensa_signatures(*shingle_hashes(docs, ngram), num_perm, seed)
    from datasketch import MinHash

    sets = ([s.encode() for s in shingles(words, ngram)] for words in docs)
    minhashes = MinHash.generator(sets, num_perm=num_perm, seed=seed)
    return np.vstack([m.hashvalues for m in minhashes]).astype(np.uint32)


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
        texts = [joined_text(record, p.fields) for _, record in batch]
        if p.backend == "rensa":
            counts, hashes, offsets = batch_shingle_hashes(texts, p.ngram, p.min_words)
            kept = counts >= p.min_words
            sigs = (
                _rensa_signatures(hashes, offsets, p.num_perm, p.seed)
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
        ids = np.array([record_id.encode() for record_id, _ in batch], "S")[kept]
        lengths = np.fromiter(map(len, texts), np.uint32, len(texts))[kept]
        return SignatureBatch(ids, lengths, sigs)

    def prepare(self, summaries: Iterator[SignatureBatch]) -> None:
        p = self.params
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
        keep = Decision.keep()
        hits = map(self._dropped.get, [record_id for record_id, _ in batch])
        return [keep if hit is None else _drop(*hit) for hit in hits]


def _drop(twin: str, score: float, size: int) -> Decision:
    return Decision.drop(
        f"near-duplicate of {twin} (Jaccard~{score:.2f})",
        related=twin,
        score=round(score, 4),
        estimate="minhash",
        cluster_size=size,
    )
