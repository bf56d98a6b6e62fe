"""Each curation step runs once per record (issue #17): with two needs-all steps the
in-process run makes three passes over the input, but the steps before a needs-all step are
not run again on the later passes (they read the stream as it stood, from the scratch area). The
scratch files are gone after a run, after a run that raised, and a killed run's leftovers are
removed when the next run starts. The output is the one the worker processes give, which run
each step once per record too (their passes read the driver's spill of the stream)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_jsonl
from tests.helpers import events_of
from tests.integration.test_curation_ray import corpus

from curata.curation import scratch
from curata.curation.pipeline import Pipeline, StepSpec, parse_pipeline
from curata.curation.steps.base import Decision, Item, Step
from curata.curation.steps.exact_dedup import ExactDedup
from curata.curation.steps.length import Length
from curata.curation.steps.near_dedup import NearDedup
from curata.curation.steps.normalize import Normalize

APPLIED: dict[str, Counter[str]] = {}
SUMMARIZED: dict[str, Counter[str]] = {}
SCRATCH_SEEN: list[list[str]] = []
HOME: list[Path] = []


def counting(cls: type[Step]) -> type[Step]:
    """``cls`` with every record id its ``apply`` and ``summarize`` see counted."""

    class Counting(cls):  # type: ignore[valid-type,misc]
        def apply(self, batch: Sequence[Item]) -> list[Decision]:
            APPLIED.setdefault(self.name, Counter()).update(rid for rid, _ in batch)
            if self.name == "near_dedup" and HOME:  # the final pass: what the scratch holds
                SCRATCH_SEEN.append(sorted(p.name for p in (HOME[0] / "scratch").rglob("*")))
            out: list[Decision] = super().apply(batch)
            return out

        def summarize(self, batch: Sequence[Item]) -> Any:
            SUMMARIZED.setdefault(self.name, Counter()).update(rid for rid, _ in batch)
            return super().summarize(batch)

    return Counting


class Boom(Length):
    """``length`` that fails on the final pass, after both spills were written."""

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        raise RuntimeError("boom")


STEPS = [Normalize, ExactDedup, NearDedup, Length]


def pipeline_of(classes: list[type[Step]]) -> Pipeline:
    """The steps at their defaults; near_dedup finds the corpus's planted near twins with
    3-word shingles at 0.7, and length drops texts under 3 words (as in test_curation_workers)."""
    params = {"near_dedup": {"ngram": 3, "threshold": 0.7}, "length": {"min_words": 3}}
    return Pipeline(tuple(StepSpec(c.name, c.Params(**params.get(c.name, {})), c) for c in classes))


@pytest.fixture()
def raw(ws: Any, tmp_path: Path) -> int:
    rows = corpus() + [{"text": f"short {i}"} for i in range(20)]  # length drops these
    ws.ingest([write_jsonl(tmp_path / "raw.jsonl", rows)], source="web", dataset="raw")
    APPLIED.clear()
    SUMMARIZED.clear()
    SCRATCH_SEEN.clear()
    HOME[:] = [ws.home]
    return len(rows)


def test_each_step_sees_each_record_once(ws: Any, raw: int) -> None:
    counted = pipeline_of([counting(c) for c in STEPS])
    a = ws.curation.curate("raw@1", counted, "a", batch_size=16, workers=1)
    assert a.records_in == raw and raw > 250
    # normalize ran exactly once per input record (not once per pass: 3 passes here)
    assert sum(APPLIED["normalize"].values()) == raw
    assert set(APPLIED["normalize"].values()) == {1}
    for name in ("exact_dedup", "near_dedup", "length"):
        assert max(APPLIED[name].values()) == 1, name
        assert max(SUMMARIZED.get(name, Counter({"": 1})).values()) == 1, name
    steps = {s["name"]: s for s in a.steps}
    # every step was applied to exactly the records that reached it in the run's counts
    for name in ("normalize", "exact_dedup", "near_dedup", "length"):
        assert sum(APPLIED[name].values()) == steps[name]["records_in"], name
    assert steps["exact_dedup"]["dropped"] > 0 and steps["near_dedup"]["dropped"] > 0
    assert steps["length"]["dropped"] > 0
    # during the final pass the stream as it stood before each of the two needs-all steps was
    # in the run's scratch directory; now it is gone
    assert SCRATCH_SEEN and all(
        {"records-0.arrow", "records-1.arrow"} <= set(seen) for seen in SCRATCH_SEEN
    )
    assert list((ws.home / "scratch").iterdir()) == []
    # the same output as the worker processes
    b = ws.curation.curate("raw@1", pipeline_of(STEPS), "b", batch_size=16, workers=2)
    assert b.version.digest == a.version.digest
    assert (b.records_in, b.records_out) == (a.records_in, a.records_out)
    assert [{k: v for k, v in s.items() if k != "seconds"} for s in b.steps] == [
        {k: v for k, v in s.items() if k != "seconds"} for s in a.steps
    ]
    assert events_of(ws, "b@1") == events_of(ws, "a@1")


def test_the_scratch_is_removed_after_a_failed_run(ws: Any, raw: int) -> None:
    with pytest.raises(Exception, match="boom"):
        ws.curation.curate("raw@1", pipeline_of([*STEPS[:3], Boom]), "a", batch_size=16)
    assert list((ws.home / "scratch").iterdir()) == []
    assert "a" not in [d.name for d in ws.datasets.list()]


def test_a_killed_runs_leftovers_are_removed_at_the_next_start(ws: Any, raw: int) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process id that is gone
    root = ws.home / "scratch"
    host = scratch._host()
    stale = root / f"curate-{host}-{dead.pid}-0badc0de"
    stale.mkdir(parents=True)
    (stale / "pass-1.arrow").write_bytes(b"left by a killed run")
    live = root / f"curate-{host}-{os.getpid()}-feedbeef"  # a run still going: kept
    live.mkdir()
    other = root / "curate-elsewhere.example-1-0abc"  # another host's: kept
    other.mkdir()
    ws.curation.curate("raw@1", parse_pipeline(["normalize", "exact_dedup"]), "a", batch_size=64)
    assert sorted(p.name for p in root.iterdir()) == sorted([live.name, other.name])


def test_a_pipeline_without_needs_all_steps_writes_no_scratch(ws: Any, raw: int) -> None:
    ws.curation.curate("raw@1", pipeline_of([counting(Normalize)]), "a", batch_size=16)
    assert sum(APPLIED["normalize"].values()) == raw
    assert not (ws.home / "scratch").exists() or list((ws.home / "scratch").iterdir()) == []


class Logged:
    """Mixed in before a step: appends every record id its ``apply`` sees to a file of its
    process (worker processes are other processes: counters in memory would not come back)."""

    name: str

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        where = Path(os.environ["CURATA_TEST_APPLIED"]) / f"{self.name}-{os.getpid()}.txt"
        with where.open("a", encoding="utf-8") as out:
            out.writelines(f"{rid}\n" for rid, _ in batch)
        decisions: list[Decision] = super().apply(batch)  # type: ignore[misc]
        return decisions


class LoggedNormalize(Logged, Normalize): ...


class LoggedExactDedup(Logged, ExactDedup): ...


class LoggedNearDedup(Logged, NearDedup): ...


class LoggedLength(Logged, Length): ...


def test_worker_processes_run_each_step_once_per_record(
    ws: Any, raw: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "applied"
    logs.mkdir()
    monkeypatch.setenv("CURATA_TEST_APPLIED", str(logs))
    steps = [LoggedNormalize, LoggedExactDedup, LoggedNearDedup, LoggedLength]
    b = ws.curation.curate("raw@1", pipeline_of(steps), "b", batch_size=16, workers=2)
    seen: dict[str, Counter[str]] = {}
    pids: dict[str, set[str]] = {}
    for log in logs.iterdir():
        name, pid = log.stem.rsplit("-", 1)
        seen.setdefault(name, Counter()).update(log.read_text("utf-8").split())
        pids.setdefault(name, set()).add(pid)
    counted = {s["name"]: s["records_in"] for s in b.steps}
    assert counted["normalize"] == raw
    for name in ("normalize", "exact_dedup", "near_dedup", "length"):
        assert max(seen[name].values()) == 1, name  # no record twice, on any pass
    # the per-record steps ran in the two workers, each once per record that reached it (the
    # workers also trace records a needs-all step then drops: at most what entered the pass)
    assert len(pids["normalize"]) == 2 and str(os.getpid()) not in pids["normalize"]
    assert sum(seen["normalize"].values()) == raw
    assert counted["length"] <= sum(seen["length"].values()) <= counted["near_dedup"]
    # the needs-all steps' apply ran in the driver, on exactly the records that reached them
    assert pids["exact_dedup"] == pids["near_dedup"] == {str(os.getpid())}
    assert sum(seen["exact_dedup"].values()) == counted["exact_dedup"]
    assert sum(seen["near_dedup"].values()) == counted["near_dedup"]
    a = ws.curation.curate("raw@1", pipeline_of(STEPS), "a", batch_size=16, workers=1)
    assert b.version.digest == a.version.digest
    assert events_of(ws, "b@1") == events_of(ws, "a@1")
