"""Word shingles and their MinHash signatures, for whole batches of texts at once.

Text is lowercased and split into words by the regex ``\\w+``; a text's shingles are its runs
of ``ngram`` consecutive words joined by one space (all its words if fewer). A batch is split
and hashed as one UTF-8 byte stream by a compiled loop (the same words and shingle hashes as
splitting each text with :func:`words_of` and hashing with :func:`shingle_hashes`, the numpy
reference), and its signatures are computed in one call: by Curata's compiled MinHash
(``numba``) or rensa; datasketch is the reference backend. Pure functions: no state but a
cache of powers.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Sequence
from functools import cache, partial
from itertools import chain

import numpy as np

WORD = re.compile(r"\w+")
_U64 = np.uint64
_BASE = 0x100000001B3
_BASE_INV = pow(_BASE, -1, 1 << 64)


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
    texts: Sequence[str], ngram: int, min_words: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Word counts of ``texts``, and :func:`shingle_hashes` of those with at least
    ``min_words`` words (as :func:`words_of` splits them), from one byte stream of the whole
    batch (hashed by :func:`curata.curation.kernels.stream_shingle_hashes`)."""
    from curata.curation.kernels import stream_shingle_hashes

    data, bounds = _lowered_stream(texts)
    return stream_shingle_hashes(data, _word_bytes(data), bounds, ngram, min_words)


def _lowered_stream(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The lowercased texts as one UTF-8 stream ``\\n t0 \\n t1 ... \\n``, and the offset of
    the ``\\n`` after each text. (Texts are lowercased one by one: lowercasing the joined
    batch is twice as slow once one text is not ASCII, which makes the whole string wide.)"""
    encoded = [t.lower().encode("utf-8", "surrogatepass") for t in texts]
    data = np.frombuffer(b"\n".join((b"", *encoded, b"")), np.uint8)
    return data, np.cumsum(np.fromiter(map(len, encoded), np.int64, len(encoded)) + 1)


def flat_signatures(
    hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int, backend: str
) -> np.ndarray:
    """MinHash signatures (``rows x num_perm``, uint32) of the rows of flat shingle hashes
    (row ``d`` is ``hashes[offsets[d] : offsets[d + 1]]``), by the compiled kernel
    (``numba``) or rensa's digest matrix."""
    if backend == "numba":
        from curata.curation.kernels import minhash_signatures, permutations

        return minhash_signatures(hashes, offsets, *permutations(num_perm, seed))
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
    if backend != "datasketch":
        return flat_signatures(*shingle_hashes(docs, ngram), num_perm, seed, backend)
    from datasketch import MinHash

    sets = ([s.encode() for s in shingles(words, ngram)] for words in docs)
    minhashes = MinHash.generator(sets, num_perm=num_perm, seed=seed)
    return np.vstack([m.hashvalues for m in minhashes]).astype(np.uint32)
