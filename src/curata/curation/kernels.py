"""Compiled loops (numba) for near-duplicate detection: hashing the shingles of a byte stream
of texts, the exact Jaccard of pairs of shingle sets, and a MinHash of flat shingle hashes
(the ``numba`` backend).

The first two compute what a numpy or Python reference computes, value for value (the tests
compare them), in one pass without temporaries: the numpy version of the hashing made about
fifteen passes over eight bytes per input byte, and the exact check built two Python sets per
pair. Functions are compiled on first use and cached next to this module (``cache=True``), so
only the first run on a machine pays the compilation (about 7 s for the three on the
2-CPU machine of BENCHMARKS.md).

All arithmetic is on ``uint64`` and wraps modulo 2**64; numba turns a ``uint64`` mixed with a
signed integer into a float, so every constant below is an explicit ``np.uint64``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_U64 = np.uint64
BASE = _U64(0x100000001B3)
BASE_INV = _U64(pow(0x100000001B3, -1, 1 << 64))
_ONE = _U64(1)
_SPACE = _U64(32 + 1)


@njit(cache=True, nogil=True, inline="always")
def _mix(x: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """splitmix64's finaliser (as :func:`curata.curation.shingling._mix`)."""
    x ^= x >> _U64(30)
    x *= _U64(0xBF58476D1CE4E5B9)
    x ^= x >> _U64(27)
    x *= _U64(0x94D049BB133111EB)
    x ^= x >> _U64(31)
    return x


@njit(cache=True, nogil=True)
def stream_shingle_hashes(
    data: np.ndarray, word: np.ndarray, bounds: np.ndarray, ngram: int, min_words: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Word counts of every document, and the shingle hashes and row offsets of those with at
    least ``min_words`` words, from a UTF-8 stream ``data`` whose bytes ``word`` marks as
    belonging to a ``\\w`` character; document ``d`` is ``data[bounds[d - 1] + 1 : bounds[d]]``
    (``bounds[-1]`` read as 0), and no word runs across a bound.

    A shingle is ``ngram`` consecutive words joined by one space (all the words if fewer); its
    hash is ``mix(sum((c_k + 1) * B**(k + 1)) ^ len)`` over its bytes ``c_0 .. c_len-1``,
    mod 2**64: the value :func:`curata.curation.shingling._hash_shingles` gives.
    """
    docs = len(bounds)
    counts = np.zeros(docs, np.int64)
    hashes = np.empty(len(data) // 2 + 1, np.uint64)  # at most one word per two bytes
    offsets = np.zeros(docs + 1, np.uint64)
    widest = 0
    for d in range(docs):
        widest = max(widest, bounds[d] - (bounds[d - 1] if d else 0))
    ps = np.empty(widest // 2 + 1, np.uint64)  # one document's words, in its joined text:
    pe = np.empty(len(ps), np.uint64)  # prefix sums before the first and after the last byte,
    vs = np.empty(len(ps), np.int64)  # and the positions of those bytes
    ve = np.empty(len(ps), np.int64)
    power = np.empty(widest + 2, np.uint64)  # B**k and B**-k
    back = np.empty(widest + 2, np.uint64)
    power[0] = back[0] = _ONE
    for k in range(1, widest + 2):
        power[k] = power[k - 1] * BASE
        back[k] = back[k - 1] * BASE_INV
    out = 0
    kept = 0
    lo = 1
    for d in range(docs):
        hi = bounds[d]
        prefix, at, n, inside = _U64(0), 0, 0, 0
        start, start_at = prefix, at  # the sums and position where the current word starts
        for k in range(lo, hi):  # branch-free: words, and the prefix sums of their joined text
            w = int(word[k])
            end = inside & (1 - w)  # the byte after a word: the space before the next word
            ps[n], vs[n], pe[n], ve[n] = start, start_at, prefix, at  # kept if a word ends
            n += end
            at += w | end
            prefix += _U64(w * (int(data[k]) + 1) + end * 33) * power[at]
            start = start if w else prefix
            start_at = start_at if w else at
            inside = w
        if inside:
            ps[n], vs[n], pe[n], ve[n] = start, start_at, prefix, at
            n += 1
        counts[d] = n
        lo = hi + 1
        if n < min_words:
            continue
        last = n - ngram if n >= ngram else 0
        for first in range(last + 1):
            e = min(first + ngram, n) - 1
            hashes[out] = _mix(((pe[e] - ps[first]) * back[vs[first]]) ^ _U64(ve[e] - vs[first]))
            out += 1
        kept += 1
        offsets[kept] = out
    return counts, hashes[:out].copy(), offsets[: kept + 1].copy()


@njit(cache=True, nogil=True)
def pair_jaccard(
    values: np.ndarray, starts: np.ndarray, i: np.ndarray, j: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """Exact Jaccard of the sets ``values[starts[a] : starts[a + 1]]`` and the same for ``b``,
    for each pair ``(a, b)`` of ``zip(i, j)``; values are (mixed) 64-bit hashes and may repeat
    within a record. Counted in one open-addressing table per pair (linear probing, slot = the
    low bits of the hash), which flags which side holds each distinct value."""
    longest = 1
    for p in range(len(i)):
        size = starts[i[p] + 1] - starts[i[p]] + starts[j[p] + 1] - starts[j[p]]
        longest = max(longest, size)
    slots = 16
    while slots < 2 * longest:
        slots *= 2
    mask = _U64(slots - 1)
    keys = np.empty(slots, np.uint64)
    sides = np.zeros(slots, np.uint8)  # 1: in a, 2: in b, 3: both; 0: empty
    used = np.empty(longest, np.int64)
    out = np.empty(len(i), np.float64)
    for p in range(len(i)):
        filled = 0
        only_a = only_b = both = 0
        for side in (1, 2):
            record = i[p] if side == 1 else j[p]
            for k in range(starts[record], starts[record + 1]):
                value = values[k]
                slot = np.int64(value & mask)
                while sides[slot] != 0 and keys[slot] != value:
                    slot = (slot + 1) & np.int64(mask)
                flag = sides[slot]
                if flag == 0:
                    keys[slot] = value
                    sides[slot] = np.uint8(side)
                    used[filled] = slot
                    filled += 1
                    if side == 1:
                        only_a += 1
                    else:
                        only_b += 1
                elif flag == 1 and side == 2:
                    sides[slot] = 3
                    only_a -= 1
                    both += 1
        out[p] = both / (only_a + only_b + both) if filled else 1.0
        for k in range(filled):
            sides[used[k]] = 0
    return out


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``num_perm`` hash functions of :func:`minhash_signatures` for a seed: odd 64-bit
    multipliers and 64-bit addends drawn from numpy's PCG64."""
    rng = np.random.Generator(np.random.PCG64(seed))
    a = rng.integers(0, 1 << 63, num_perm, dtype=np.uint64) * _U64(2) + _ONE
    b = rng.integers(0, 1 << 64, num_perm, dtype=np.uint64, endpoint=False)
    return a, b


@njit(cache=True, nogil=True)
def minhash_signatures(
    hashes: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """MinHash signatures (``rows x len(a)``, uint32) of the rows of ``hashes`` (row ``d`` is
    ``hashes[offsets[d] : offsets[d + 1]]``, at least one value).

    Slot ``p`` is the minimum over the row of ``h_p(x) = (a_p * x + b_p) >> 32`` (mod 2**64)
    with ``x`` the low 32 bits of a value: multiply-add-shift, a strongly universal family
    from 32-bit keys to 32-bit values for random 64-bit ``a_p``, ``b_p`` (Dietzfelbinger 1996;
    Thorup, "High Speed Hashing for Integers and Strings", 2015, section 3.3). The values are
    already mixed 64-bit hashes, so their low 32 bits are uniform; two distinct shingles of a
    pair share them with probability about ``2**-32`` each.
    """
    rows = len(offsets) - 1
    slots = len(a)
    out = np.empty((rows, slots), np.uint32)
    low = np.empty(slots, np.uint32)
    for d in range(rows):
        low[:] = np.uint32(0xFFFFFFFF)
        for k in range(offsets[d], offsets[d + 1]):
            x = hashes[k] & _U64(0xFFFFFFFF)
            for p in range(slots):
                low[p] = min(low[p], np.uint32((a[p] * x + b[p]) >> _U64(32)))
        out[d, :] = low
    return out
