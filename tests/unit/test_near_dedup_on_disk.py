"""near_dedup with a scratch directory (issue #17): the state of ``prepare`` on disk gives the
decisions the in-memory path gives, for every verify mode and banding, and the decisions' map
holds exactly the dropped ids."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from curata.core.records import Record
from curata.curation.diskmap import DiskMap
from curata.curation.steps.base import Decision, Item
from curata.curation.steps.near_dedup import NearDedup, NearDedupParams


def corpus(seed: int, originals: int = 300) -> list[Item]:
    """Originals, each with a few edited copies (light to heavy edits, so some pairs sit at
    the threshold), exact copies, chains of edits (clusters joined through others), short
    and empty texts, in shuffled order."""
    rng = random.Random(seed)
    vocab = [f"w{k}" for k in range(3000)]
    texts: list[str] = []
    for _ in range(originals):
        words = rng.choices(vocab, k=rng.randint(20, 120))
        texts.append(" ".join(words))
        chain = list(words)
        for _ in range(rng.choice((0, 0, 1, 2, 4, 7))):
            chain = edit(rng, chain, vocab, rng.choice((0.0, 0.01, 0.03, 0.06, 0.1)))
            texts.append(" ".join(chain))
    texts += ["", "", "one", "two words", "two words"]
    rng.shuffle(texts)
    items = [(f"r{k:06d}", Record(kind="text", text=t)) for k, t in enumerate(texts)]
    items.append(("r000003", Record(kind="text", text=texts[7])))  # an id seen twice
    return items


def edit(rng: random.Random, words: list[str], vocab: list[str], rate: float) -> list[str]:
    out = list(words)
    for k in range(len(out)):
        if rng.random() < rate:
            out[k] = rng.choice(vocab)
    return out


def run(
    items: Sequence[Item],
    scratch: Path | None,
    params: dict[str, object] | None = None,
    batch: int = 97,
) -> list[Decision]:
    step = NearDedup(NearDedupParams.parse(params or {}))
    step.scratch = scratch
    batches = [items[k : k + batch] for k in range(0, len(items), batch)]
    step.prepare(step.summarize(b) for b in batches)
    return [d for b in batches for d in step.apply(b)]


PARAMS: list[dict[str, object]] = [
    {},
    {"verify": "estimate"},
    {"verify": "off", "threshold": 0.7},
    {"threshold": 0.6, "keep": "longest"},
    {"bands": 16, "rows": 8, "threshold": 0.9},
    {"num_perm": 64, "bands": 32, "rows": 2, "verify": "off", "ngram": 3},
    {"min_words": 5, "backend": "datasketch", "num_perm": 32, "bands": 8, "rows": 4},
]


@pytest.mark.parametrize("params", PARAMS)
def test_disk_path_decides_what_the_memory_path_decides(
    params: dict[str, object], tmp_path: Path
) -> None:
    items = corpus(seed=len(str(params)))
    memory = run(items, None, params)
    disk = run(items, tmp_path / "near", params)
    assert disk == memory
    drops = [d for d in memory if d.action == "drop"]
    assert len(drops) > 50  # many clusters, so the comparison means something
    assert any("via" in d.details for d in drops) or params.get("verify") == "off"
    left = sorted(p.name for p in (tmp_path / "near").iterdir())
    assert left == ["dropped.sqlite"]  # signatures, bands, ids: deleted after prepare
    stored = DiskMap(tmp_path / "near" / "dropped.sqlite")
    try:
        dropped_ids = {rid for (rid, _), d in zip(items, memory, strict=True) if d.action == "drop"}
        assert len(stored) == len(dropped_ids)
        assert set(stored.get_many([rid for rid, _ in items])) == dropped_ids
    finally:
        stored.close()


def test_batches_of_one_and_shard_boundaries_do_not_change_decisions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from curata.curation.steps import near_dedup

    monkeypatch.setattr(near_dedup, "SHARD_RECORDS", 50)  # many signature shards
    items = corpus(seed=5, originals=80)
    assert run(items, tmp_path / "a", batch=1) == run(items, None, batch=1000)
    assert len(list((tmp_path / "a").iterdir())) == 1


@pytest.mark.parametrize("params", [{}, {"verify": "off", "threshold": 0.7}])
def test_keys_split_in_partitions_decide_what_one_partition_decides(
    params: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past PARTITION_RECORDS records, the full and band keys are resolved partition by
    partition (files split by the keys' leading bits): the same decisions, and no partition
    file left."""
    from curata.curation.steps import near_dedup

    items = corpus(seed=11, originals=200)
    whole = run(items, tmp_path / "whole", params)
    monkeypatch.setattr(near_dedup, "PARTITION_RECORDS", 37)  # 32 partitions or more
    split = run(items, tmp_path / "split", params)
    assert split == whole == run(items, None, params)
    assert sum(d.action == "drop" for d in split) > 40
    assert sorted(p.name for p in (tmp_path / "split").iterdir()) == ["dropped.sqlite"]


def test_too_few_records_and_no_text_drop_nothing(tmp_path: Path) -> None:
    empty = [(f"e{k}", Record(kind="text", text="")) for k in range(5)]
    one = [("a", Record(kind="text", text="a b c d e f"))]
    for items in (empty, one, []):
        assert run(items, tmp_path / "s") == [Decision.keep()] * len(items)
    assert len(DiskMap(tmp_path / "s" / "dropped.sqlite")) == 0


def test_a_prepared_step_pickles_and_its_copy_reads_the_same_map(tmp_path: Path) -> None:
    import pickle

    items = corpus(seed=9, originals=60)
    step = NearDedup(NearDedupParams.parse({}))
    step.scratch = tmp_path
    step.prepare(iter([step.summarize(items)]))
    first = step.apply(items)
    copy = pickle.loads(pickle.dumps(step))
    assert copy.apply(items) == first
    assert sum(d.action == "drop" for d in first) > 10
