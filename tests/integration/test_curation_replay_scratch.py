"""The worker processes (and Ray, by the same replay) give the driver's needs-all steps a scratch
directory of their own, so their state is on disk there as in one process (issue #17); the
result is the in-process one."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

from tests.integration.test_curation_ray import PIPELINE, corpus

from curata.core.records import Record
from curata.curation.diskmap import DiskMap
from curata.curation.executors import local
from curata.curation.pipeline import parse_pipeline


def _inputs() -> list[local.Input]:
    return [(f"r{i:04d}", Record(kind="text", text=row["text"]), "web", None)
            for i, row in enumerate(corpus())]  # fmt: skip


def _run(
    workers: int, scratch: Path, *, ids_on_disk: bool = False
) -> tuple[list[str], list[tuple[int, str, str]]]:
    """The run's output ids and events; the input's ids given as a set, or (``ids_on_disk``)
    as batches, which the run keeps on disk."""
    rows = _inputs()

    def batches() -> Iterator[list[local.Input]]:
        for start in range(0, len(rows), 37):
            yield rows[start : start + 37]

    def ids() -> Iterator[list[str]]:
        for start in range(0, len(rows), 50):
            yield [rid for rid, *_ in rows[start : start + 50]]

    out: list[str] = []
    result = local.run(
        parse_pipeline(PIPELINE),
        batches,
        len(rows),
        emit=lambda items: out.extend(rid for rid, *_ in items),
        input_ids=None if ids_on_disk else {rid for rid, *_ in rows},
        ids=ids if ids_on_disk else None,
        workers=workers,
        scratch=scratch,
    )
    return out, [(e.position, e.record_id, e.action) for e in result.events]


def test_worker_processes_keep_dedup_state_in_the_scratch_directory(tmp_path: Path) -> None:
    kept, events = _run(2, tmp_path / "workers")
    gc.collect()  # the run's steps, and with them their maps' exclusive locks, are gone
    # exact_dedup (position 1) and near_dedup (2) each kept their dropped ids on disk there
    for position in (1, 2):
        files = list((tmp_path / "workers" / f"step-{position}").iterdir())
        assert [f.name for f in files if f.suffix == ".sqlite"] == ["dropped.sqlite"]
        dropped = {rid for p, rid, action in events if p == position and action == "drop"}
        assert dropped, "the corpus plants duplicates for both steps"
        stored = DiskMap(tmp_path / "workers" / f"step-{position}" / "dropped.sqlite")
        assert stored.contains_many(sorted(dropped)) == dropped
    assert (kept, events) == _run(1, tmp_path / "one")


def test_worker_processes_keep_the_input_ids_on_disk_when_given_as_batches(tmp_path: Path) -> None:
    rows = _inputs()
    out, events = _run(2, tmp_path / "disk", ids_on_disk=True)
    gc.collect()
    given = DiskMap(tmp_path / "disk" / "replay-given.sqlite")
    assert len(given) == len(rows) and given.contains_many([rows[5][0], "nope"]) == {rows[5][0]}
    produced = DiskMap(tmp_path / "disk" / "replay-produced.sqlite")
    changed = [e for e in events if e[2] == "change"]
    assert changed and len(produced) == len(changed)  # every id a change produced, on disk
    assert (out, events) == _run(2, tmp_path / "memory")  # as with the ids as a set
