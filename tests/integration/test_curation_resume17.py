"""Issue #17 in the in-process local executor: a run killed between passes resumes from the last
completed pass (``--resume``) without running the earlier steps again, and gives the version an
uninterrupted run gives; the killed run's scratch directory survives the stale-directory
cleanup of other runs; the rare case where the passes' order would change the unique-id rule's
first-come order falls back to recomputing and still gives the worker processes' result."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_jsonl
from tests.helpers import events_of
from tests.integration.test_curation_ray import corpus

from curata.curation.executors import local, replay
from curata.curation.pipeline import Pipeline, StepSpec
from curata.curation.steps.base import Decision, Item, Step, replace_texts
from curata.curation.steps.exact_dedup import ExactDedup
from curata.curation.steps.length import Length
from curata.curation.steps.near_dedup import NearDedup
from curata.curation.steps.normalize import Normalize
from curata.faults import FAULT_ENV

COUNT_ENV = "CURATA_TEST_APPLY_LOG"
ROOT = Path(__file__).resolve().parents[2]


class CountedNormalize(Normalize):
    """``normalize`` that appends one line per record it is applied to, to the file named by
    ``CURATA_TEST_APPLY_LOG`` (evidence across processes of what ran, with no timing)."""

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        log = os.environ.get(COUNT_ENV)
        if log:
            with open(log, "a", encoding="utf-8") as f:
                f.writelines(f"{rid}\n" for rid, _ in batch)
        out: list[Decision] = super().apply(batch)
        return out


def pipeline() -> Pipeline:
    params = {"near_dedup": {"ngram": 3, "threshold": 0.7}, "length": {"min_words": 3}}
    classes: list[type[Step]] = [CountedNormalize, ExactDedup, NearDedup, Length]
    return Pipeline(tuple(StepSpec(c.name, c.Params(**params.get(c.name, {})), c) for c in classes))


SCRIPT = """
import sys
from curata.workspace import Workspace
from tests.integration.test_curation_resume17 import pipeline
ws = Workspace.open(sys.argv[1])
r = ws.curation.curate("raw@1", pipeline(), sys.argv[2], batch_size=16, workers=1,
                       resume=sys.argv[3] == "resume")
print(r.version.digest)
"""


def curate_in_child(home: Path, out: str, log: Path, *, resume: bool, fault: str | None) -> Any:
    env = {**os.environ, COUNT_ENV: str(log), "PYTHONPATH": str(ROOT)}
    env.pop(FAULT_ENV, None)
    if fault:
        env[FAULT_ENV] = fault
    args = [str(home), out, "resume" if resume else "fresh"]
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], env=env, cwd=ROOT, capture_output=True, text=True
    )


def lines(path: Path) -> int:
    return len(path.read_text("utf-8").splitlines()) if path.exists() else 0


def test_a_run_killed_between_passes_resumes_without_recomputing(tmp_path: Path) -> None:
    from curata.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws", user="tester")
    ws.sources.add("web", kind="crawl", license="CC-BY-4.0", origin="https://example.org")
    rows = corpus() + [{"text": f"short {i}"} for i in range(20)]
    ws.ingest([write_jsonl(tmp_path / "raw.jsonl", rows)], source="web", dataset="raw")
    home = ws.home
    scratch = home / "scratch"
    # killed right after the first pass (normalize on every record, exact_dedup's summaries)
    log = tmp_path / "applied-killed.txt"
    killed = curate_in_child(home, "a", log, resume=False, fault="curate_between_passes")
    assert killed.returncode == -9, killed.stderr
    assert lines(log) == len(rows)  # normalize saw every record once before the kill
    # the resumable directory, and the output writer's (an ordinary one of the killed process)
    left = sorted(p.name for p in scratch.iterdir())
    assert len(left) == 2 and left[0].startswith("curate-") and left[1].startswith("resume-")
    assert (scratch / left[1] / "manifest.json").exists()
    assert "a" not in [d.name for d in ws.datasets.list()]  # nothing committed
    # another run's start clears stale directories, but not a resumable one
    other = Pipeline((StepSpec("normalize", Normalize.Params(), Normalize),))
    ws.curation.curate("raw@1", other, "c", batch_size=16)
    assert [p.name for p in scratch.iterdir()] == left[1:]
    # resumed: normalize is not applied again (the first pass is read back), and done
    again = tmp_path / "applied-resumed.txt"
    resumed = curate_in_child(home, "a", again, resume=True, fault=None)
    assert resumed.returncode == 0, resumed.stderr
    assert lines(again) == 0
    assert list(scratch.iterdir()) == []  # a successful run removes its directory
    # the same version an uninterrupted run gives, with the same counts and events
    whole = tmp_path / "applied-whole.txt"
    fresh = curate_in_child(home, "b", whole, resume=False, fault=None)
    assert fresh.returncode == 0, fresh.stderr
    assert lines(whole) == len(rows)
    assert resumed.stdout.split()[-1] == fresh.stdout.split()[-1]
    a, b = ws.datasets.version("a@1"), ws.datasets.version("b@1")
    assert a.digest == b.digest and a.record_count == b.record_count
    assert events_of(ws, "a@1") == events_of(ws, "b@1") and events_of(ws, "a@1")
    ws.close()


def test_resume_without_a_killed_run_starts_from_the_beginning(ws: Any, tmp_path: Path) -> None:
    rows = corpus()
    ws.ingest([write_jsonl(tmp_path / "raw.jsonl", rows)], source="web", dataset="raw")
    steps = (StepSpec("normalize", Normalize.Params(), Normalize),
             StepSpec("exact_dedup", ExactDedup.Params(), ExactDedup))  # fmt: skip
    a = ws.curation.curate("raw@1", Pipeline(steps), "a", batch_size=16, resume=True)
    b = ws.curation.curate("raw@1", Pipeline(steps), "b", batch_size=16)
    assert a.created and a.version.digest == b.version.digest
    assert a.records_in == len(rows) and a.records_out == b.records_out < len(rows)
    assert list((ws.home / "scratch").iterdir()) == []


class Upper(Step):
    """Changes a record whose text starts with 'late' into its text upper-cased (a step after
    the needs-all step: runs on the final pass)."""

    name = "upper"
    summary = "upper-cases texts starting with late"

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        return [
            Decision.change(replace_texts(r, {"text": (r.text or "").upper()}), "upper")
            if (r.text or "").startswith("late")
            else Decision.keep()
            for _, r in batch
        ]


class Shout(Step):
    """Changes a record whose text starts with 'early' into 'LATE …' upper-cased (before the
    needs-all step: runs on the first pass)."""

    name = "shout"
    summary = "shouts texts starting with early"

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        out = []
        for _, r in batch:
            text = r.text or ""
            if text.startswith("early"):
                out.append(Decision.change(replace_texts(r, {"text": "LATE" + text[5:].upper()}),
                                           "shout"))  # fmt: skip
            else:
                out.append(Decision.keep())
        return out


def test_a_first_come_order_the_passes_cannot_see_falls_back_to_recomputing(
    ws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # batch 0 holds "late x" (upper, after exact_dedup, makes "LATE X"); batch 3 holds
    # "early x" (shout, before exact_dedup, makes "LATE X" on the first pass): in stream order
    # batch 0's change comes first, so batch 3's is the drop
    filler = [{"text": f"filler text number {i}"} for i in range(60)]
    rows = [{"text": "late x"}, *filler[:40], {"text": "early x"}, *filler[40:]]
    ws.ingest([write_jsonl(tmp_path / "raw.jsonl", rows)], source="web", dataset="raw")
    specs = (
        StepSpec(Shout.name, Shout.Params(), Shout),
        StepSpec("exact_dedup", ExactDedup.Params(), ExactDedup),
        StepSpec(Upper.name, Upper.Params(), Upper),
    )
    fallbacks: list[str] = []
    for owner, method in ((local._InProcess, "recompute"), (replay._Run, "_recompute")):
        original = getattr(owner, method)

        def spy(self: Any, *args: Any, _original: Any = original, _name: str = method) -> Any:
            fallbacks.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(owner, method, spy)
    a = ws.curation.curate("raw@1", Pipeline(specs), "a", batch_size=10, workers=1)
    b = ws.curation.curate("raw@1", Pipeline(specs), "b", batch_size=10, workers=2)
    # both the in-process passes and the worker processes' passes saw it and fell back
    assert fallbacks == ["recompute", "_recompute"]
    assert a.version.digest == b.version.digest and a.records_out == b.records_out
    counts = [{k: v for k, v in s.items() if k != "seconds"} for s in a.steps]
    assert counts == [{k: v for k, v in s.items() if k != "seconds"} for s in b.steps]
    events = events_of(ws, "a@1")
    assert events == events_of(ws, "b@1")
    shout = [e for e in events if e[1] == "shout"]
    assert [e[3] for e in shout] == ["drop"] and "already in the data" in shout[0][4]
    assert [e[3] for e in events if e[1] == "upper"] == ["change"]
    assert list((ws.home / "scratch").iterdir()) == []


def test_a_second_run_of_a_key_in_use_gets_a_directory_of_its_own(tmp_path: Path) -> None:
    from curata.curation import scratch

    root = tmp_path / "scratch"
    busy = root / f"{scratch.RESUMABLE}-k"
    busy.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (busy / scratch.OWNER).write_text(f"{scratch._host()} {other.pid}", "utf-8")
        (busy / "manifest.json").write_text("{}", "utf-8")
        with scratch.area(root, key="k") as opened:
            assert not opened.resumable and opened.path.name.startswith(f"{scratch.PREFIX}-")
        assert (busy / "manifest.json").exists()  # the live run's files were left alone
    finally:
        other.kill()
        other.wait()
    with scratch.area(root, key="k") as opened:  # its process gone: the key's directory again
        assert opened.resumable and opened.path == busy
        assert not (busy / "manifest.json").exists()  # an ordinary run starts clean
    assert list(root.iterdir()) == []


def test_events_are_read_back_a_batch_at_a_time_not_held(tmp_path: Path) -> None:
    from curata.core.records import Record
    from curata.curation import scratch
    from curata.curation.executors import local

    texts = [f"text  number {i % 50}" for i in range(200)]  # normalize changes each; dups
    records = [Record.from_text(t) for t in texts]
    rows = [(r.id, r, "web", None) for r in records]

    def batches() -> Any:
        for start in range(0, len(rows), 20):
            yield rows[start : start + 20]

    specs = (StepSpec("normalize", Normalize.Params(), Normalize),
             StepSpec("exact_dedup", ExactDedup.Params(), ExactDedup))  # fmt: skip
    kept: list[Any] = []
    with scratch.area(tmp_path / "scratch", key="k") as opened:
        result = local.run(
            Pipeline(specs), batches, len(rows), emit=kept.extend,
            ids=lambda: iter([[rid for rid, *_ in rows]]), area=opened,
        )  # fmt: skip
        assert result.events == []  # nothing held: the events are in the scratch area
        parts = list(result.event_batches())
        assert len(parts) == 10 and max(len(p) for p in parts) <= 2 * 20
    events = [e for p in parts for e in p]
    # 150 repeats of 50 texts collide after normalize (the first of each is changed, then
    # the rest are drops: identical to a record already in the data)
    assert sum(e.action == "change" for e in events) == 50 and len(kept) == 50
    assert sum(e.action == "drop" for e in events) == 150
