"""near_dedup: planted near-duplicates are found, clusters keep one record, backends agree,
and the candidate pairs are the ones datasketch's own MinHashLSH finds."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence

import numpy as np
import pydantic
import pytest
from datasketch import MinHash, MinHashLSH
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from curata.core.records import Record
from curata.curation import kernels, shingling
from curata.curation.steps import near_dedup
from curata.curation.steps.base import Decision, Item
from curata.curation.steps.near_dedup import (
    NearDedup,
    NearDedupParams,
    band_keys,
    batch_shingle_hashes,
    bucket_pairs,
    candidate_probability,
    optimal_bands,
    recall_bands,
    shingle_hashes,
    shingles,
    signatures,
    words_of,
)

REASON = re.compile(r"near-duplicate of (\S+) \(Jaccard([~=])(\d\.\d\d)\)")


def exact(a: str, b: str, ngram: int = 5) -> float:
    sa, sb = (set(shingles(words_of(t), ngram)) for t in (a, b))
    return len(sa & sb) / len(sa | sb)


def vocabulary(rng: random.Random, size: int = 4000) -> list[str]:
    words = {
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 9))) for _ in range(size)
    }
    return sorted(words)


def edited(rng: random.Random, words: list[str], vocab: list[str], rate: float) -> list[str]:
    """Each word position, with probability ``rate``, is dropped, swapped with the next or
    followed by an inserted word."""
    out = list(words)
    i = 0
    while i < len(out):
        if rng.random() < rate:
            op = rng.choice(("drop", "swap", "insert"))
            if op == "drop":
                del out[i]
                continue
            if op == "swap" and i + 1 < len(out):
                out[i], out[i + 1] = out[i + 1], out[i]
                i += 1
            elif op == "insert":
                out.insert(i + 1, rng.choice(vocab))
                i += 1
        i += 1
    return out


def planted(
    seed: int = 0, bases: int = 300, length: int = 300, rate: float = 0.005
) -> tuple[list[Item], set[tuple[str, str]]]:
    """Base texts and, for every other one, a near-duplicate placed after all bases; returns
    the items and the (duplicate id, base id) pairs planted."""
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    texts = [[rng.choice(vocab) for _ in range(length)] for _ in range(bases)]
    items = [_item(" ".join(t), i) for i, t in enumerate(texts)]
    pairs = set()
    for b in range(0, bases, 2):
        dup = _item(" ".join(edited(rng, texts[b], vocab, rate)), bases + b)
        items.append(dup)
        pairs.add((dup[0], items[b][0]))
    return items, pairs


def _item(text: str, n: int) -> Item:
    record = Record.from_text(text, {"n": n})
    return record.id, record


def run(items: Sequence[Item], batch: int = 1000, **params: object) -> list[Decision]:
    step = NearDedup(NearDedupParams.model_validate(params))
    batches = [items[i : i + batch] for i in range(0, len(items), batch)]
    step.prepare(iter([step.summarize(b) for b in batches]))
    return [d for b in batches for d in step.apply(b)]


def dropped(items: Sequence[Item], decisions: list[Decision]) -> dict[str, str | None]:
    return {i[0]: d.related for i, d in zip(items, decisions, strict=True) if d.action == "drop"}


def test_planted_near_duplicates_are_found_with_high_recall_and_precision() -> None:
    items, pairs = planted()
    found = dropped(items, run(items))
    hits = {(d, t) for d, t in found.items() if (d, t) in pairs}
    assert len(hits) / len(pairs) >= 0.95  # (9, 13) bands find J=0.93 pairs 98% of the time
    assert len(hits) / len(found) >= 0.99


def test_identical_texts_cluster_behind_the_first_and_the_reason_names_it() -> None:
    text = "The quick brown fox jumps over the lazy dog near the river bank today"
    items = [_item(text, n) for n in range(3)] + [_item("something else entirely, ok", 3)]
    decisions = run(items)
    assert [d.action for d in decisions] == ["keep", "drop", "drop", "keep"]
    for d in decisions[1:3]:
        match = REASON.fullmatch(d.reason)
        assert match and match.groups() == (items[0][0], "~", "1.00")
        assert d.related == items[0][0] and d.score == 1.0
        assert d.details == {"estimate": "minhash", "cluster_size": 3}


def test_unrelated_texts_are_all_kept() -> None:
    rng = random.Random(1)
    vocab = vocabulary(rng)
    items = [_item(" ".join(rng.choices(vocab, k=rng.randint(5, 200))), n) for n in range(400)]
    assert all(d.action == "keep" for d in run(items))


def test_transitive_links_leave_one_survivor() -> None:
    """A-B-C-D, each two word replacements from the last: D is ~0.73 from A, below the
    threshold, yet joins A's cluster through B and C."""
    rng = random.Random(2)
    vocab = vocabulary(rng)
    chain = [rng.sample(vocab, 200)]
    for k in range(3):
        nxt = list(chain[-1])
        for pos in (40 + 60 * k, 70 + 60 * k):
            nxt[pos] = f"new{k}x{pos}"
        chain.append(nxt)
    items = [_item(" ".join(t), n) for n, t in enumerate(chain)]
    decisions = run(items, bands=32, rows=4)
    assert [d.action for d in decisions] == ["keep", "drop", "drop", "drop"]
    assert {d.related for d in decisions[1:]} == {items[0][0]}
    # D (four replacements from B: exact J 0.81) is dropped for its link to B, the member
    # nearest the survivor it is linked to, and the reason says so
    texts = [" ".join(t) for t in chain]
    d = decisions[3]
    assert d.details["via"] == items[1][0] and d.score == round(exact(texts[3], texts[1]), 4)
    assert d.score >= 0.8 and d.details["estimate"] == "exact"
    assert d.details["jaccard_to_kept"] < 0.8
    assert abs(d.details["jaccard_to_kept"] - exact(texts[3], texts[0])) < 0.15
    assert d.reason.startswith(f"near-duplicate of {items[0][0]} via {items[1][0]} (Jaccard=")
    assert "via" not in decisions[1].details and decisions[1].reason == (
        f"near-duplicate of {items[0][0]} (Jaccard={decisions[1].score:.2f})"
    )


def test_exact_verification_keeps_pairs_the_estimate_puts_on_the_wrong_side() -> None:
    """Pairs whose exact Jaccard is just above the threshold: the estimate (128 slots, standard
    error ~0.035) puts about half of them below it; the exact check links them all, and
    rejects the pairs just below it."""
    rng = random.Random(11)
    vocab = vocabulary(rng)
    above, below = [], []
    while len(above) < 40 or len(below) < 40:
        base = rng.sample(vocab, 120)
        dup = list(base)
        for pos in rng.sample(range(120), 3):  # 3 replaced words: exact J ~0.78-0.85
            dup[pos] = rng.choice(vocab) + "z"
        j = exact(" ".join(base), " ".join(dup))
        if 0.8 <= j < 0.84 and len(above) < 40:
            above.append((" ".join(base), " ".join(dup)))
        elif 0.76 <= j < 0.8 and len(below) < 40:
            below.append((" ".join(base), " ".join(dup)))
    items = [_item(t, n) for n, t in enumerate(t for pair in above + below for t in pair)]
    found = dropped(items, run(items, verify="exact"))
    estimated = dropped(items, run(items, verify="estimate"))
    above_ids = {items[2 * k + 1][0] for k in range(40)}
    assert set(found) == above_ids  # every pair above, none below (exact check)
    assert len(set(estimated) & above_ids) <= 34  # the estimate misses some of them
    assert all(items[2 * k][0] == found[items[2 * k + 1][0]] for k in range(40))


def test_verify_true_and_false_keep_their_first_meaning() -> None:
    assert NearDedupParams(verify=True).verify == "estimate"
    assert NearDedupParams(verify=False).verify == "off"
    with pytest.raises(pydantic.ValidationError, match="verify"):
        NearDedupParams(verify="maybe")


@pytest.mark.parametrize(("keep", "survivor"), [("first", 0), ("longest", 1)])
def test_keep_policy_picks_the_survivor(keep: str, survivor: int) -> None:
    rng = random.Random(3)
    base = rng.sample(vocabulary(rng), 100)
    items = [_item(" ".join(base), 0), _item(" ".join([*base, "and", "a", "longer", "end"]), 1)]
    decisions = run(items, keep=keep, bands=32, rows=4)
    assert decisions[survivor].action == "keep"
    assert decisions[1 - survivor].related == items[survivor][0]


@pytest.mark.parametrize("fast_backend", ["numba", "rensa"])
def test_backends_agree_on_what_is_dropped(fast_backend: str) -> None:
    """The backends use different hash families, so each pair's fate is two independent
    draws: found with p(J) = P(shares a band) * P(linked), linked when the estimate is
    above the exact-check window, or inside it with an exact J >= 0.8. They may disagree
    only on planted pairs, and on about sum 2p(1-p) of them: allowed is that expectation
    plus three standard deviations."""
    items, pairs = planted(seed=4, bases=200)
    fast = dropped(items, run(items, backend=fast_backend))
    reference = dropped(items, run(items, backend="datasketch"))
    texts = {record_id: record.text or "" for record_id, record in items}
    expected = 0.0
    for dup, base in pairs:
        a, b = (set(shingles(words_of(texts[x]), 5)) for x in (dup, base))
        jaccard = len(a & b) / len(a | b)
        margin = near_dedup.EXACT_MARGIN * (0.8 * 0.2 / 128) ** 0.5
        above = binom.sf(math.ceil((0.8 + margin) * 128) - 1, 128, jaccard)
        window = binom.sf(math.ceil((0.8 - margin) * 128) - 1, 128, jaccard) - above
        p = candidate_probability(jaccard, 21, 6) * (above + window * (jaccard >= 0.8))
        expected += 2 * p * (1 - p)
    differ = set(fast) ^ set(reference)
    assert differ <= {dup for dup, _ in pairs}
    assert len(differ) <= expected + 3 * expected**0.5
    assert len(fast) >= 0.95 * len(pairs)


@pytest.mark.parametrize("backend", ["numba", "rensa", "datasketch"])
def test_estimated_jaccard_matches_the_exact_one(backend: str) -> None:
    rng = random.Random(5)
    vocab = vocabulary(rng)
    a = rng.sample(vocab, 300)
    b = edited(rng, a, vocab, 0.03)
    sa, sb = set(shingles(a, 5)), set(shingles(b, 5))
    exact = len(sa & sb) / len(sa | sb)
    sigs = signatures([a, b], ngram=5, num_perm=1024, seed=7, backend=backend)
    estimate = float((sigs[0] == sigs[1]).mean())
    assert abs(estimate - exact) < 4 * (exact * (1 - exact) / 1024) ** 0.5


def test_compiled_minhash_estimates_are_unbiased_with_binomial_spread() -> None:
    """With independent random permutations, the share of equal slots of a pair with Jaccard
    J is Binomial(num_perm, J) / num_perm (Broder 1997): over 300 pairs with fresh seeds, the
    standardised errors must have mean ~0 (+-3/sqrt(300)) and spread ~1, which a biased or
    correlated hash family would miss. Distinct seeds must give distinct permutations."""
    rng = random.Random(11)
    vocab = vocabulary(rng)
    z: list[float] = []
    seed = 0
    while len(z) < 300:
        a = rng.sample(vocab, 150)
        b = edited(rng, a, vocab, rng.uniform(0.005, 0.06))
        sa, sb = set(shingles(a, 5)), set(shingles(b, 5))
        exact = len(sa & sb) / len(sa | sb)
        if exact == 1:  # no edit drawn: no spread to standardise by
            continue
        seed += 1
        sigs = signatures([a, b], ngram=5, num_perm=256, seed=seed, backend="numba")
        z.append(((sigs[0] == sigs[1]).mean() - exact) / math.sqrt(exact * (1 - exact) / 256))
    assert abs(float(np.mean(z))) < 3 / math.sqrt(300)
    assert 0.85 < float(np.std(z)) < 1.15
    first, second = kernels.permutations(128, 1), kernels.permutations(128, 2)
    assert (first[0] % 2 == 1).all() and not np.array_equal(first[0], second[0])


def test_compiled_pair_jaccard_equals_python_sets() -> None:
    """Rows with repeated values, a row paired with itself, disjoint rows, and values that
    collide in the kernel's table (equal low bits)."""
    rng = np.random.default_rng(8)
    rows = [rng.integers(0, 40, rng.integers(1, 60)).astype(np.uint64) for _ in range(40)]
    rows.append(np.array([1 << 40, 2 << 40, 3 << 40, 1 << 40], np.uint64))  # low bits all 0
    rows.append(np.array([2 << 40, 5 << 40], np.uint64))
    values = np.concatenate(rows)
    starts = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    i = np.array([*rng.integers(0, 42, 300), 40, 3, 5], np.int64)
    j = np.array([*rng.integers(0, 42, 300), 41, 3, 5], np.int64)
    got = kernels.pair_jaccard(values, starts, i, j)
    for a, b, value in zip(i.tolist(), j.tolist(), got.tolist(), strict=True):
        sa, sb = set(rows[a].tolist()), set(rows[b].tolist())
        assert value == len(sa & sb) / len(sa | sb)
    assert got[-3] == 1 / 4 and got[-1] == 1.0


def test_stable_order_is_numpys_stable_argsort() -> None:
    rng = np.random.default_rng(3)
    for values in (
        rng.integers(0, 50, 5000).astype(np.uint64),  # many ties
        rng.integers(0, 1 << 63, 5000).astype(np.uint64),  # almost none
        np.zeros(7, np.uint64),
        np.empty(0, np.uint64),
    ):
        order, ordered = near_dedup._stable_order(values)
        assert order.tolist() == np.argsort(values, kind="stable").tolist()
        assert ordered.tolist() == np.sort(values).tolist()


def test_shingle_hashes_depend_only_on_the_shingle_text() -> None:
    doc = words_of("Déjà vu, the quick brown fox")
    hashes, offsets = shingle_hashes([doc, ["x"], doc[:2]], 2)
    alone = [shingle_hashes([list(s.split(" "))], 2)[0][0] for s in shingles(doc, 2)]
    assert offsets.tolist() == [0, 5, 6, 7]
    assert hashes[:5].tolist() == alone and hashes[6] == hashes[0]
    assert len(set(hashes[:6].tolist())) == 6


# letters, digits, underscore, punctuation, whitespace, accents (precomposed and combining),
# a dotted capital I (lowercases to two characters), Greek capitals (final sigma), the Kelvin
# sign (lowercases to ASCII), superscripts and fractions (word characters), CJK, an emoji, a dash
TRICKY = "aZ9_ .,;:'\n\t-éÉe\u0301İΣΟΔΟΣ\u212as²½日本語😀—\u00a0"


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.text(alphabet=TRICKY, max_size=40), max_size=12),
    ngram=st.integers(1, 6),
    min_words=st.integers(1, 3),
)
def test_batch_tokenising_matches_words_of_and_per_document_hashing(
    texts: list[str], ngram: int, min_words: int
) -> None:
    counts, hashes, offsets = batch_shingle_hashes(texts, ngram, min_words)
    docs = [words_of(t) for t in texts]
    assert counts.tolist() == [len(d) for d in docs]
    kept = [d for d in docs if len(d) >= min_words]
    if kept:
        expected, expected_offsets = shingle_hashes(kept, ngram)
        assert hashes.tolist() == expected.tolist()
        assert offsets.tolist() == expected_offsets.tolist()
    else:
        assert len(hashes) == 0 and offsets.tolist() == [0]


def test_hashes_of_a_stream_longer_than_the_kept_powers_are_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    texts = ["The quick brown fox jumps over the lazy dog", "Über straße naïve café déjà vu"]
    docs = [words_of(t) for t in texts]
    before = shingle_hashes(docs, 3)
    monkeypatch.setattr(shingling._Powers, "kept", 8)
    monkeypatch.setattr(shingling._Powers, "table", np.ones(1, np.uint64))
    after = shingle_hashes(docs, 3)
    assert all(a.tolist() == b.tolist() for a, b in zip(before, after, strict=True))
    assert len(shingling._Powers.table) <= 9


def test_candidate_pairs_equal_datasketch_minhashlsh() -> None:
    rng = random.Random(6)
    vocab = vocabulary(rng)
    docs = []
    for rate in (0.01, 0.03, 0.05, 0.08, 0.12):
        for _ in range(8):
            base = rng.sample(vocab, 80)
            docs += [base, edited(rng, base, vocab, rate), edited(rng, base, vocab, rate)]
    sigs = signatures(docs, ngram=3, num_perm=128, seed=1, backend="datasketch")
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    assert (lsh.b, lsh.r) == optimal_bands(0.8, 128)
    minhashes = [MinHash(num_perm=128, hashvalues=s, scheme="affine32") for s in sigs]
    for n, m in enumerate(minhashes):
        lsh.insert(n, m)
    expected = {(min(n, k), max(n, k)) for n, m in enumerate(minhashes) for k in lsh.query(m)}
    expected = {p for p in expected if p[0] != p[1]}
    i, j = bucket_pairs(band_keys(sigs, *optimal_bands(0.8, 128)))
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == expected
    assert 20 < len(expected) < 120  # some pairs in, some out
    # the default (recall) banding, given to MinHashLSH as its params
    bands, rows = recall_bands(0.8, 128)
    lsh = MinHashLSH(num_perm=128, params=(bands, rows))
    for n, m in enumerate(minhashes):
        lsh.insert(n, m)
    expected = {(min(n, k), max(n, k)) for n, m in enumerate(minhashes) for k in lsh.query(m)}
    expected = {p for p in expected if p[0] != p[1]}
    i, j = bucket_pairs(band_keys(sigs, bands, rows))
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == expected


def test_decisions_do_not_depend_on_batch_boundaries() -> None:
    items, _ = planted(seed=7, bases=120)
    one = run(items, batch=len(items))
    assert run(items, batch=37) == one
    assert any(d.action == "drop" for d in one)


def test_short_texts_are_one_shingle_and_min_words_skips() -> None:
    items = [_item(t, n) for n, t in enumerate(["Hello world!", "hello, WORLD", "Hello there", ""])]
    assert [d.action for d in run(items)] == ["keep", "drop", "keep", "keep"]
    assert all(d.action == "keep" for d in run(items, min_words=3))


def test_chat_and_pair_records_are_compared_on_their_texts() -> None:
    text = "please summarise the attached quarterly report for the board meeting tomorrow"
    chat = Record.from_messages([{"role": "user", "content": text}])
    pair = Record.from_pair(text, "")
    decisions = run([(chat.id, chat), (pair.id, pair)])
    assert decisions[1].related == chat.id


def test_bands_times_rows_must_equal_num_perm() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"bands \* rows must equal num_perm"):
        NearDedupParams(bands=10, rows=10)
    with pytest.raises(pydantic.ValidationError, match="both bands and rows"):
        NearDedupParams(bands=8)
    step = NearDedup(NearDedupParams(bands=16, rows=8))
    assert (step.bands, step.rows) == (16, 8)
    assert (NearDedup(NearDedupParams()).bands, NearDedup(NearDedupParams()).rows) == (21, 6)


@pytest.mark.parametrize(
    ("threshold", "num_perm", "recall"), [(0.8, 128, 0.99), (0.5, 64, 0.99), (0.9, 256, 0.999)]
)
def test_default_bands_are_the_fewest_candidates_that_reach_the_recall_floor(
    threshold: float, num_perm: int, recall: float
) -> None:
    bands, rows = recall_bands(threshold, num_perm, recall)
    assert bands == num_perm // rows
    assert candidate_probability(threshold, bands, rows) >= recall
    more = rows + 1  # one more row per band would miss the floor
    assert candidate_probability(threshold, num_perm // more, more) < recall


def test_candidate_probability_is_the_s_curve_of_mining_of_massive_datasets() -> None:
    """Leskovec, Rajaraman and Ullman, Mining of Massive Datasets (3rd ed.), Example 3.22:
    b = 20 bands of r = 5 rows; at s = 0.8, 1 - (1 - 0.8**5)**20 = 0.99965."""
    assert candidate_probability(0.8, 20, 5) == pytest.approx(0.99965, abs=1e-5)
    assert candidate_probability(0.3, 20, 5) == pytest.approx(0.047, abs=5e-4)


@pytest.mark.parametrize(("threshold", "num_perm"), [(0.5, 64), (0.7, 128), (0.9, 256)])
def test_threshold_chooses_the_bands_datasketch_chooses(threshold: float, num_perm: int) -> None:
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert optimal_bands(threshold, num_perm) == (lsh.b, lsh.r)
