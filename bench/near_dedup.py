"""Near-duplicates (issue #5): Curata's ``near_dedup`` step against a datasketch ``MinHashLSH``
pipeline and a raw rensa (``RMinHash`` + ``RMinHashLSH``) pipeline, same parameters (128
permutations, threshold 0.8, 5-word shingles, seed 42), same corpus, same process; docs/s and
precision/recall against planted near-duplicates.

The corpus is real text shipped in the ``gensim`` wheel's test data: the English Wikipedia
excerpt (``enwiki-...-shortened.xml.bz2``, markup stripped with gensim's own ``filter_wiki``)
and the Lee news corpus, cut into sentences, de-duplicated; each base document joins 2-8
random sentences (about 100 words). 20% of the documents are planted near-duplicates of a
base, each edited at a known per-word rate of 0.5%, 1% or 2% (every position, with that
probability, drops its word, swaps it with the next or inserts a word from the corpus) and
redrawn until it differs from every other document. Within a planted cluster the first
document in corpus order is the original; the rest are the planted duplicates.

Timed: Curata's step with its defaults as a user's executor runs it (``summarize`` over
2,000-record batches, ``prepare``, ``apply``; Records built and their ids computed
beforehand: its compiled MinHash, 21 bands x 6 rows, candidates verified exactly near the
threshold), the datasketch
pipeline (per document: lowercased ``\\w+`` words, shingles, ``MinHash.update_batch``,
``MinHashLSH.query`` with datasketch's own optimum of 9 bands x 13 rows, its fastest, drop when
a candidate's estimated Jaccard reaches the threshold, else insert), the same with rensa
(``RMinHash.update``, ``RMinHashLSH`` with 16 bands of 8, as its bands must divide 128), and
Curata's step once more verifying by the estimate alone (``verify: estimate``), and datasketch
with Curata's defaults (21 x 6 bands through ``MinHashLSH(params=...)``, the same exact check
near the threshold on Python sets of shingles), and Curata's step with ``backend: rensa``
(rensa's MinHash instead of its own compiled one). Every
pipeline's drops are scored the same way: precision is the share of drops that are planted
duplicates; recall is the share of planted duplicates dropped for their own cluster, over all
of them and over those whose exact shingle Jaccard to the original reaches the threshold
(the pairs a 0.8-Jaccard deduplicator is asked to find: the goal's measure). Then, for
context, ``ws.curation.curate`` with only ``near_dedup`` (reading from and writing to the
store).

    .venv/bin/python bench/near_dedup.py [--docs 20000 200000] [--repeat 3] [--no-curate]
"""

from __future__ import annotations

import bz2
import gc
import json
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import benchlib

WORD = re.compile(r"\w+")
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
NUM_PERM, THRESHOLD, NGRAM, SEED = 128, 0.8, 5, 42
RATES = (0.005, 0.01, 0.02)
"""Per-word edit rates of the planted near-duplicates, one third each."""
DUP_SHARE = 0.2
"""Share of the corpus that is planted near-duplicates (1-3 per duplicated base)."""
BATCH = 2_000


# -- corpus -----------------------------------------------------------------------------------


def _test_data() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("gensim")
    if spec is None or spec.origin is None:
        sys.exit("this benchmark reads gensim's test corpora: pip install 'curata[bench]'")
    return Path(spec.origin).parent / "test" / "test_data"


def sentences() -> list[str]:
    """Distinct sentences (6-60 words) of the Wikipedia excerpt and the Lee news corpus."""
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    data = _test_data()
    paragraphs: list[str] = []
    wiki = data / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
    with bz2.open(wiki) as f:
        for _title, text, _pageid in extract_pages(f):
            paragraphs += filter_wiki(text).split("\n")
    for name in ("lee_background.cor", "lee.cor"):
        paragraphs += (data / name).read_text(encoding="latin-1").split("\n")
    seen: set[tuple[str, ...]] = set()
    out = []
    for para in paragraphs:
        para = " ".join(para.split())
        if len(para.split()) < 6 or para.startswith(("*", "|", "!", "{", "=")):
            continue
        for s in SENTENCE.split(para):
            words = tuple(WORD.findall(s.lower()))
            if 6 <= len(s.split()) <= 60 and words not in seen:
                seen.add(words)
                out.append(s)
    return out


def edited(rng: random.Random, words: list[str], vocab: list[str], rate: float) -> list[str]:
    """Each position, with probability ``rate``, drops its word, swaps it with the next or is
    followed by a word drawn from ``vocab``."""
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


@dataclass
class Corpus:
    texts: list[str]
    cluster: np.ndarray  # planted cluster of each document, -1 for none
    rate: np.ndarray  # edit rate of a planted duplicate, 0 for originals and the rest
    sentences: int

    @property
    def planted(self) -> np.ndarray:
        """Planted duplicates: cluster members after their cluster's first."""
        out = np.zeros(len(self.texts), bool)
        seen: set[int] = set()
        for i, c in enumerate(self.cluster.tolist()):
            if c >= 0:
                out[i] = c in seen
                seen.add(c)
        return out


def build_corpus(docs: int, seed: int, pool: list[str]) -> Corpus:
    """``docs`` documents, ``DUP_SHARE`` of them planted near-duplicates, in random order."""
    rng = random.Random(seed)
    vocab = sorted({w for s in pool[:5000] for w in s.split()})
    dups = int(docs * DUP_SHARE)
    bases = docs - dups
    order = list(range(len(pool)))
    rng.shuffle(order)
    at = 0
    texts = []
    seen: set[str] = set()
    while len(texts) < bases:
        k = rng.randint(2, 8)
        if at + k > len(order):
            rng.shuffle(order)
            at = 0
        text = " ".join(pool[i] for i in order[at : at + k])
        at += k
        if text not in seen:  # two bases of the same sentences: drawn again
            seen.add(text)
            texts.append(text)
    originals = rng.sample(range(bases), dups // 2)  # 1-3 duplicates each, 2 on average
    cluster = [-1] * bases
    members: dict[int, list[int]] = {}
    rates = [0.0] * bases
    per = [rng.choice((1, 2, 3)) for _ in originals]
    while sum(per) < dups:
        per[rng.randrange(len(per))] += 1
    while sum(per) > dups:
        j = rng.randrange(len(per))
        if per[j] > 1:
            per[j] -= 1
    for c, (b, n) in enumerate(zip(originals, per, strict=True)):
        cluster[b] = c
        members[c] = [b]
        words = texts[b].split()
        for _ in range(n):
            rate = RATES[len(texts) % len(RATES)]
            text = texts[b]
            while text in seen:  # redrawn until it differs from every document
                text = " ".join(edited(rng, words, vocab, rate))
            seen.add(text)
            texts.append(text)
            cluster.append(c)
            rates.append(rate)
            members[c].append(len(texts) - 1)
    perm = list(range(len(texts)))
    rng.shuffle(perm)
    position = {p: i for i, p in enumerate(perm)}
    for group in members.values():  # the original takes its cluster's first position
        first = min(position[m] for m in group)
        other, here = perm[first], position[group[0]]
        perm[first], perm[here] = group[0], other
        position[group[0]], position[other] = first, here
    return Corpus(
        [texts[p] for p in perm],
        np.array([cluster[p] for p in perm]),
        np.array([rates[p] for p in perm]),
        len(pool),
    )


# -- the three pipelines ----------------------------------------------------------------------

Dropped = dict[int, int]
"""Dropped document -> the document it duplicates, by position in the corpus."""


def _shingles(text: str) -> list[str]:
    words = WORD.findall(text.lower())
    if len(words) < NGRAM:
        return [" ".join(words)]
    return [" ".join(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1)]


def run_curata(items: Sequence[Any], **params: Any) -> Dropped:
    """The ``near_dedup`` step (defaults, or with ``params``), driven as an executor
    drives it."""
    from curata.curation.steps.near_dedup import NearDedup, NearDedupParams

    step = NearDedup(NearDedupParams(num_perm=NUM_PERM, threshold=THRESHOLD, ngram=NGRAM,
                                     seed=SEED, **params))  # fmt: skip
    batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
    step.prepare(step.summarize(b) for b in batches)
    decisions = [d for b in batches for d in step.apply(b)]
    at = {record_id: i for i, (record_id, _) in enumerate(items)}
    return {i: at[d.related] for i, d in enumerate(decisions) if d.action == "drop"}


def run_datasketch(texts: Sequence[str]) -> Dropped:
    """datasketch: MinHash per document, MinHashLSH query, verify, insert the kept."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    kept: dict[int, MinHash] = {}
    dropped: Dropped = {}
    for i, text in enumerate(texts):
        m = MinHash(num_perm=NUM_PERM, seed=SEED)
        m.update_batch([s.encode() for s in _shingles(text)])
        twin = next((k for k in lsh.query(m) if m.jaccard(kept[k]) >= THRESHOLD), None)
        if twin is None:
            lsh.insert(i, m)
            kept[i] = m
        else:
            dropped[i] = twin
    return dropped


def run_datasketch_same(texts: Sequence[str]) -> Dropped:
    """datasketch with Curata's defaults: the same 21 x 6 bands (``MinHashLSH(params=...)``),
    and a candidate linked when its estimate is more than 4 standard errors above the
    threshold, or, within 4 standard errors, when the exact shingle Jaccard reaches it."""
    from datasketch import MinHash, MinHashLSH

    from curata.curation.steps.near_dedup import EXACT_MARGIN, recall_bands

    margin = EXACT_MARGIN * (THRESHOLD * (1 - THRESHOLD) / NUM_PERM) ** 0.5
    lsh = MinHashLSH(num_perm=NUM_PERM, params=recall_bands(THRESHOLD, NUM_PERM))
    kept: dict[int, tuple[MinHash, set[str]]] = {}
    dropped: Dropped = {}

    def linked(m: MinHash, sh: set[str], k: int) -> bool:
        other, other_sh = kept[k]
        estimate = m.jaccard(other)
        if abs(estimate - THRESHOLD) > margin:
            return bool(estimate >= THRESHOLD)
        return len(sh & other_sh) / len(sh | other_sh) >= THRESHOLD

    for i, text in enumerate(texts):
        sh = set(_shingles(text))
        m = MinHash(num_perm=NUM_PERM, seed=SEED)
        m.update_batch([s.encode() for s in sh])
        twin = next((k for k in lsh.query(m) if linked(m, sh, k)), None)
        if twin is None:
            lsh.insert(i, m)
            kept[i] = (m, sh)
        else:
            dropped[i] = twin
    return dropped


def run_rensa(texts: Sequence[str]) -> Dropped:
    """rensa: RMinHash per document, RMinHashLSH (16 bands of 8) query, verify, insert."""
    from rensa import RMinHash, RMinHashLSH

    lsh = RMinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, num_bands=RENSA_BANDS)
    kept: dict[int, RMinHash] = {}
    dropped: Dropped = {}
    for i, text in enumerate(texts):
        m = RMinHash(NUM_PERM, SEED)
        m.update(_shingles(text))
        twin = next((k for k in lsh.query(m) if m.jaccard(kept[k]) >= THRESHOLD), None)
        if twin is None:
            lsh.insert(i, m)
            kept[i] = m
        else:
            dropped[i] = twin
    return dropped


RENSA_BANDS = 16
"""rensa's LSH needs bands dividing num_perm; 16 x 8 is its documented setting for 128."""


# -- scoring ----------------------------------------------------------------------------------


def exact_jaccard(a: str, b: str) -> float:
    sa, sb = set(_shingles(a)), set(_shingles(b))
    return len(sa & sb) / len(sa | sb)


def score(corpus: Corpus, dropped: Dropped, jaccard: np.ndarray) -> dict[str, Any]:
    """Precision (planted duplicates among the dropped) and recall (planted duplicates
    dropped as a duplicate of their own cluster), overall, per edit rate and by exact
    Jaccard to the original."""
    planted = corpus.planted
    d = np.fromiter(dropped, np.int64, len(dropped))
    twin = np.fromiter(dropped.values(), np.int64, len(dropped))
    found = np.zeros(len(planted), bool)
    own = planted[d] & (corpus.cluster[d] == corpus.cluster[twin])
    found[d[own]] = True
    out: dict[str, Any] = {
        "dropped": len(d),
        "planted": int(planted.sum()),
        "precision": float(planted[d].mean()) if len(d) else 1.0,
        "recall": float(found[planted].mean()),
        "dropped_not_planted": int((~planted[d]).sum()),
        "planted_dropped_for_another_cluster": int((planted[d] & ~own).sum()),
        "recall_by_rate": {
            f"{r:g}": float(found[planted & (corpus.rate == r)].mean()) for r in RATES
        },
    }
    for lo in (0.8, 0.9):
        sel = planted & (jaccard >= lo)
        out[f"recall_jaccard_ge_{lo:g}"] = float(found[sel].mean())
        out[f"planted_jaccard_ge_{lo:g}"] = int(sel.sum())
    return out


def planted_jaccard(corpus: Corpus) -> np.ndarray:
    """Exact shingle Jaccard of each planted duplicate to its cluster's original (else nan)."""
    out = np.full(len(corpus.texts), np.nan)
    first: dict[int, int] = {}
    for i, c in enumerate(corpus.cluster.tolist()):
        if c < 0:
            continue
        if c in first:
            out[i] = exact_jaccard(corpus.texts[first[c]], corpus.texts[i])
        else:
            first[c] = i
    return out


# -- timing -----------------------------------------------------------------------------------


def _summary(seconds: list[float], docs: int) -> dict[str, Any]:
    best, median = min(seconds), statistics.median(seconds)
    return {"min_s": best, "median_s": median, "runs_s": seconds,
            "docs_per_s": docs / best, "docs_per_s_median": docs / median}  # fmt: skip


def measure(corpus: Corpus, repeat: int) -> dict[str, Any]:
    """Time the three pipelines on one corpus, alternating, and score each one's drops."""
    from curata.core.records import Record

    records = [Record.from_text(t) for t in corpus.texts]
    items = [(r.id, r) for r in records]
    assert len({i for i, _ in items}) == len(items), "texts must be distinct"
    runs: dict[str, Callable[[], Dropped]] = {
        "curata": lambda: run_curata(items),
        "datasketch": lambda: run_datasketch(corpus.texts),
        "rensa": lambda: run_rensa(corpus.texts),
        "curata_estimate": lambda: run_curata(items, verify="estimate"),
        "datasketch_same": lambda: run_datasketch_same(corpus.texts),
        "curata_rensa": lambda: run_curata(items, backend="rensa"),
    }
    warm = Corpus(corpus.texts[:1000], corpus.cluster[:1000], corpus.rate[:1000], 0)
    run_curata(items[:1000]), run_datasketch(warm.texts), run_rensa(warm.texts)
    run_curata(items[:1000], backend="rensa")
    times: dict[str, list[float]] = {name: [] for name in runs}
    drops: dict[str, Dropped] = {}
    for k in range(repeat):  # alternate, rotating the order, so machine load hits all alike
        names = list(runs)[k % len(runs) :] + list(runs)[: k % len(runs)]
        for name in names:
            gc.collect()  # the previous run's garbage is not this one's cost
            t = time.perf_counter()
            drops[name] = runs[name]()
            times[name].append(time.perf_counter() - t)
    jaccard = planted_jaccard(corpus)
    n = len(corpus.texts)
    out: dict[str, Any] = {"docs": n, "planted": int(corpus.planted.sum()),
                           "words_mean": float(np.mean([len(t.split()) for t in corpus.texts])),
                           "planted_jaccard_median": float(np.nanmedian(jaccard))}  # fmt: skip
    for name in runs:
        out[name] = {**_summary(times[name], n), **score(corpus, drops[name], jaccard)}
    out["speedup_vs_datasketch"] = out["datasketch"]["min_s"] / out["curata"]["min_s"]
    out["speedup_vs_datasketch_same"] = out["datasketch_same"]["min_s"] / out["curata"]["min_s"]
    out["estimate_speedup_vs_datasketch"] = (
        out["datasketch"]["min_s"] / out["curata_estimate"]["min_s"]
    )
    out["slowdown_vs_rensa"] = out["curata"]["min_s"] / out["rensa"]["min_s"]
    out["rensa_backend_speedup_vs_datasketch"] = (
        out["datasketch"]["min_s"] / out["curata_rensa"]["min_s"]
    )
    out["median_speedup_vs_datasketch"] = (
        out["datasketch"]["median_s"] / out["curata"]["median_s"]
    )
    return out


def measure_curate(corpus: Corpus, seed: int) -> dict[str, Any]:
    """``ws.curation.curate`` with only ``near_dedup``: read, decide, write ``clean@1``."""
    import shutil

    from curata.curation.pipeline import parse_pipeline

    folder = benchlib.OUT_DIR / f"near-dedup-{len(corpus.texts)}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    path = folder / "corpus.jsonl"
    with path.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps({"n": i, "text": t}) + "\n" for i, t in enumerate(corpus.texts))
    ws = benchlib.open_workspace(folder / "ws", create=True)
    try:
        ws.ingest([path], source=benchlib.SOURCE, dataset="raw", message="corpus")
        t = time.perf_counter()
        result = ws.curation.curate("raw@1", parse_pipeline(["near_dedup"]), "clean")
        seconds = time.perf_counter() - t
    finally:
        ws.close()
    shutil.rmtree(folder, ignore_errors=True)
    n = len(corpus.texts)
    return {"seconds": seconds, "docs_per_s": n / seconds, "records_in": result.records_in,
            "records_out": result.records_out, "dropped": n - result.records_out}  # fmt: skip


def _changed_files() -> list[str]:
    import subprocess

    mine = ["bench/near_dedup.py", "src/curata/curation/steps/near_dedup.py",
            "src/curata/curation/shingling.py", "src/curata/curation/kernels.py",
            "tests/unit/test_near_dedup.py"]  # fmt: skip
    out = subprocess.run(["git", "status", "--porcelain", "--", *mine], cwd=benchlib.REPO_ROOT,
                         capture_output=True, text=True, check=False).stdout  # fmt: skip
    return [line[3:] for line in out.splitlines()]


def _print(r: dict[str, Any]) -> None:
    print(f"\n{r['docs']:,} documents ({r['planted']:,} planted near-duplicates, "
          f"{r['words_mean']:.0f} words on average; planted pairs' median exact Jaccard "
          f"{r['planted_jaccard_median']:.3f})")  # fmt: skip
    print(
        f"{'':12} {'docs/s':>9} {'(median)':>9} {'dropped':>8} {'precision':>9} "
        f"{'recall':>7}  recall by rate {'/'.join(f'{x:g}' for x in RATES)}  J>=0.8  J>=0.9"
    )
    for name in ("curata", "datasketch", "rensa", "curata_estimate", "datasketch_same",
                 "curata_rensa"):  # fmt: skip
        m = r[name]
        rates = "/".join(f"{v:.3f}" for v in m["recall_by_rate"].values())
        print(f"{name:12} {m['docs_per_s']:9,.0f} {m['docs_per_s_median']:9,.0f} "
              f"{m['dropped']:8,} {m['precision']:9.4f} {m['recall']:7.4f}  {rates:>27}  "
              f"{m['recall_jaccard_ge_0.8']:.3f}   {m['recall_jaccard_ge_0.9']:.3f}")  # fmt: skip
    print(f"Curata vs datasketch: {r['speedup_vs_datasketch']:.1f}x faster (its own bands and "
          f"estimate; {r['estimate_speedup_vs_datasketch']:.1f}x with verify: estimate), "
          f"{r['speedup_vs_datasketch_same']:.1f}x (same bands and exact check); Curata vs raw "
          f"rensa: {r['slowdown_vs_rensa']:.2f}x the time (min of runs; medians: "
          f"{r['median_speedup_vs_datasketch']:.1f}x datasketch); Curata with backend: rensa "
          f"{r['rensa_backend_speedup_vs_datasketch']:.1f}x datasketch")  # fmt: skip


def main() -> None:
    p = benchlib.parser(__doc__.split("\n", 1)[0])
    p.add_argument("--docs", type=int, nargs="+", default=[20_000, 200_000])
    p.add_argument("--repeat", type=int, default=3, help="timed runs of each (default 3)")
    p.add_argument("--no-curate", action="store_true", help="skip the ws.curation.curate run")
    args = p.parse_args()
    info = benchlib.header("Near-duplicates (issue #5)")
    changed = _changed_files()
    commit = info["git"]["commit"]
    code = f"uncommitted changes on top of {commit}" if changed else f"commit {commit}"
    print(
        f"near-dup code: {code}; rensa {benchlib._version_of('rensa')}, datasketch "
        f"{benchlib._version_of('datasketch')}, gensim {benchlib._version_of('gensim')}"
    )
    print(f"parameters: num_perm {NUM_PERM}, threshold {THRESHOLD}, {NGRAM}-word shingles, "
          f"seed {SEED}; Curata LSH 21 bands x 6 rows (its default), datasketch 9 x 13 (its "
          f"optimum), rensa {RENSA_BANDS} x {NUM_PERM // RENSA_BANDS}")  # fmt: skip
    t = time.perf_counter()
    pool = sentences()
    print(f"corpus: {len(pool):,} distinct sentences from gensim's test data "
          f"({time.perf_counter() - t:.1f} s)")  # fmt: skip
    result: dict[str, Any] = {"machine": info, "command": " ".join(["python", *sys.argv]),
                              "code": code, "sentences": len(pool), "sizes": {}}  # fmt: skip
    for n in args.docs:
        corpus = build_corpus(n, args.seed, pool)
        r = measure(corpus, args.repeat)
        if not args.no_curate:
            r["curate"] = measure_curate(corpus, args.seed)
        _print(r)
        if "curate" in r:
            c = r["curate"]
            print(f"ws.curation.curate (near_dedup only, store read and write): "
                  f"{c['docs_per_s']:,.0f} docs/s, {c['dropped']:,} dropped")  # fmt: skip
        result["sizes"][str(n)] = r
    benchlib.save_result("near_dedup", result)


if __name__ == "__main__":
    main()
