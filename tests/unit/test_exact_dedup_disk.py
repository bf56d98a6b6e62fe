"""exact_dedup's needs-all state on disk (issue #17): with a scratch directory, prepare splits
the digests into partition files by their leading bytes, resolves each partition on its own and
keeps only the dropped records' decisions, in a DiskMap. The decisions must be the ones the
in-memory path gives, and those of the sequential rule the step always had (the best by the
keep policy survives, the first in the stream among equals)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from curata.core.records import Record
from curata.curation.diskmap import DiskMap
from curata.curation.steps.base import Decision, Item
from curata.curation.steps.exact_dedup import ExactDedup, ExactDedupParams, Summary

TEXTS = ["alpha beta", "Alpha  Beta", "gamma", "delta epsilon", "zeta", ""]
SCORES: list[Any] = [1, 2, 2.0, 3, -0.5, "n/a", True, None]


def corpus(n: int, seed: int) -> list[list[Item]]:
    """Batches of text and chat records over few distinct texts (many twin groups, some of
    hundreds), metadata scores that tie, are missing or are not numbers, and chat records
    without a user message (nothing selected: never duplicates)."""
    rng = random.Random(seed)
    records: list[Record] = []
    for i in range(n):
        text = rng.choice(TEXTS) if rng.random() < 0.3 else f"text {rng.randrange(n // 3)}"
        if rng.random() < 0.5:
            text = text.upper() + "  "
        metadata: dict[str, Any] = {"n": i}
        score = rng.choice(SCORES)
        if score is not None:
            metadata["score"] = score
        roll = rng.random()
        if roll < 0.7:
            records.append(Record.from_text(text, metadata))
        elif roll < 0.9:
            turns = [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]
            records.append(Record.from_messages(turns, metadata))
        else:  # no user message: no selected text
            records.append(Record.from_messages([{"role": "assistant", "content": text}], metadata))
    batches: list[list[Item]] = []
    while records:
        size = rng.randint(1, 60)
        batches.append([(r.id, r) for r in records[:size]])
        records = records[size:]
    return batches


def run(step: ExactDedup, batches: Sequence[Sequence[Item]]) -> list[Decision]:
    step.prepare(iter([step.summarize(b) for b in batches]))
    return [d for b in batches for d in step.apply(b)]


def sequential(step: ExactDedup, batches: Sequence[Sequence[Item]]) -> list[Decision]:
    """The rule as the step applied it before partitions: one pass in stream order, a record
    replacing the survivor only when strictly better."""
    p = step.params
    best: dict[bytes, list[Any]] = {}  # digest -> [length, value, id, twins]
    for batch in batches:
        for digest, length, value, rid in step.summarize(batch):
            if digest is None:
                continue
            if digest not in best:
                best[digest] = [length, value, rid, 1]
                continue
            b = best[digest]
            b[3] += 1
            if p.keep == "longest":
                better = length > b[0]
            elif p.keep == "metadata" and value is not None:
                better = b[1] is None or (value > b[1] if p.keep_order == "max" else value < b[1])
            else:
                better = False
            if better:
                b[:3] = [length, value, rid]
    out: list[Decision] = []
    for batch in batches:
        for (digest, *_), (rid, _) in zip(step.summarize(batch), batch, strict=True):
            won = best.get(digest) if digest is not None else None
            if won is None or won[2] == rid:
                out.append(Decision.keep())
            else:
                reason = f"exact duplicate of {won[2]} (same normalised text)"
                out.append(Decision.drop(reason, related=won[2], keep=p.keep, twins=won[3]))
    return out


POLICIES: list[dict[str, Any]] = [
    {"keep": "first"},
    {"keep": "longest"},
    {"keep": "metadata", "keep_field": "score", "keep_order": "max"},
    {"keep": "metadata", "keep_field": "score", "keep_order": "min"},
]


def step_of(policy: dict[str, Any], scratch: Path | None = None, **sizes: int) -> ExactDedup:
    step = ExactDedup(ExactDedupParams(fields=("text", "messages.user"), **policy))
    step.scratch = scratch
    for name, value in sizes.items():
        setattr(step, name, value)
    return step


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: "-".join(map(str, p.values())))
def test_disk_and_memory_paths_decide_alike(policy: dict[str, Any], tmp_path: Path) -> None:
    batches = corpus(2000, seed=len(str(policy)))
    expected = sequential(step_of(policy), batches)
    memory = run(step_of(policy), batches)
    # small stages and partitions: many flushes, and partitions split by the second byte
    disk = run(step_of(policy, tmp_path, stage_rows=300, partition_rows=12), batches)
    default = run(step_of(policy, tmp_path / "default"), batches)
    assert memory == expected
    assert disk == expected
    assert default == expected
    drops = [d for d in expected if d.action == "drop"]
    assert len(drops) > 500 and max(d.details["twins"] for d in drops) > 100
    # records without selected text are kept, however many share their text
    records = [r for b in batches for _, r in b]
    assert all(
        d.action == "keep"
        for r, d in zip(records, disk, strict=True)
        if r.kind == "chat" and len(r.messages or []) == 1
    )


def test_partition_files_then_only_the_dropped_ids_on_disk(tmp_path: Path) -> None:
    batches = corpus(2000, seed=7)
    step = step_of({"keep": "longest"}, tmp_path, stage_rows=200, partition_rows=4)
    seen: list[list[str]] = []

    def summaries() -> Iterator[Summary]:
        for batch in batches:
            yield step.summarize(batch)
        seen.append(sorted(p.name for p in (tmp_path / "parts").iterdir()))

    step.prepare(summaries())
    # while streaming: one file per leading byte that had rows (most of the 256)
    assert len(seen) == 1 and 200 < len(seen[0]) <= 256
    assert all(len(name) == len("00.ipc") and name.endswith(".ipc") for name in seen[0])
    # after prepare: the partitions (and their splits) are gone, the decisions stay
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dropped.sqlite"]
    decisions = [d for b in batches for d in step.apply(b)]
    ids = [rid for b in batches for rid, _ in b]
    dropped = {rid for rid, d in zip(ids, decisions, strict=True) if d.action == "drop"}
    assert dropped and decisions == sequential(step_of({"keep": "longest"}), batches)
    step._dropped.close()  # type: ignore[union-attr]  # the map holds an exclusive lock
    stored = DiskMap(tmp_path / "dropped.sqlite")
    try:
        assert len(stored) == len(dropped)
        found = stored.get_many(ids)
        assert set(found) == dropped
        survivor, twins = found[next(iter(dropped))]
        assert survivor in ids and survivor not in dropped and twins >= 2
    finally:
        stored.close()


def test_a_twin_group_larger_than_a_partition_is_resolved_at_once(tmp_path: Path) -> None:
    records = [Record.from_text("same" + " " * (i % 7), {"n": i}) for i in range(500)]
    batches = [[(r.id, r) for r in records[i : i + 50]] for i in range(0, 500, 50)]
    step = step_of({"keep": "longest"}, tmp_path, stage_rows=50, partition_rows=10)
    step.params = ExactDedupParams(keep="longest", collapse_whitespace=False)
    decisions = run(step, batches)
    plain = ExactDedup(ExactDedupParams(keep="longest", collapse_whitespace=False))
    assert decisions == sequential(plain, batches)
    # seven groups of about 70 twins (0 to 6 trailing spaces), each in one partition of more
    # than 10 rows that splitting cannot shrink; the first of each group survives
    assert decisions[6].action == "keep" and decisions[13].related == records[6].id
    assert sum(d.action == "keep" for d in decisions) == 7


def test_prepare_again_starts_over(tmp_path: Path) -> None:
    step = step_of({"keep": "first"}, tmp_path)
    a, b = Record.from_text("x", {"n": 1}), Record.from_text("x", {"n": 2})
    assert [d.action for d in run(step, [[(a.id, a), (b.id, b)]])] == ["keep", "drop"]
    assert [d.action for d in run(step, [[(b.id, b), (a.id, a)]])] == ["keep", "drop"]
