"""The local executor on worker processes gives the in-process result: the same version
(content digest), the same counts and the same events, over many small batches with planted
exact and near duplicates, personal data, texts that normalise into an input record or into
what an earlier batch produced, records a needs-all step changes, and a step that fails only on
records the true run never gives it. A step that raises in a worker fails the run as it fails
in-process; a worker that dies, or a driver killed mid-run, leaves no version (and no
processes)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import func, select
from tests.conftest import text_rows, write_jsonl
from tests.helpers import events_of, ingest_with_cli
from tests.integration.test_crash import CURATA, _env, assert_whole
from tests.integration.test_curation_ray import WORDS, FirstWord, Fold, Fragile, corpus

from curata.core.errors import CurataError, ValidationError
from curata.curation.executors import local
from curata.curation.executors.processes import WorkerLost
from curata.curation.pipeline import Pipeline, StepSpec, parse_pipeline
from curata.curation.steps.base import Decision, Item, Step
from curata.store.tables import CurationEventRow, OperationRow, StepRunRow
from curata.workspace import Workspace

PIPELINE = {
    "steps": [
        "normalize",
        "exact_dedup",
        {"near_dedup": {"ngram": 3, "threshold": 0.7}},
        "pii",
        {"length": {"min_words": 3}},
    ]
}
PEOPLE = ["anna.smith", "wei.chen", "olga.novak", "tom.brown", "priya.khan"]


def counts(result: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in s.items() if k != "seconds"} for s in result.steps]


def parameters(ws: Any, ref: str) -> dict[str, Any]:
    version = ws.datasets.version(ref)
    with ws.projects.sessions() as s:
        row = s.get(OperationRow, version.operation_id)
        assert row is not None
        return dict(row.parameters)


def nothing_written(ws: Any, dataset: str) -> None:
    assert dataset not in [d.name for d in ws.datasets.list()]
    with ws.projects.sessions() as s:
        assert s.scalar(select(func.count()).select_from(StepRunRow)) == 0
        assert s.scalar(select(func.count()).select_from(CurationEventRow)) == 0


def test_workers_give_the_in_process_result(ws, tmp_path: Path) -> None:
    rows = corpus()
    for i, person in enumerate(PEOPLE * 4):  # personal data the pii step redacts
        rows.insert(7 * i, {"text": f"{' '.join(WORDS[i : i + 12])} write to {person}@example.com"})
    ws.ingest([write_jsonl(tmp_path / "raw.jsonl", rows)], source="web", dataset="raw")
    pipeline = parse_pipeline(PIPELINE)
    a = ws.curation.curate("raw@1", pipeline, "a", batch_size=16, workers=1)
    b = ws.curation.curate("raw@1", pipeline, "b", batch_size=16, workers=2)
    assert b.created and b.version.digest == a.version.digest
    assert b.version.record_count == a.version.record_count == a.records_out
    assert (b.records_in, b.records_out) == (a.records_in, a.records_out) == (len(rows), 235)
    assert counts(b) == counts(a)
    events = events_of(ws, "a@1")
    assert events_of(ws, "b@1") == events and events
    assert b.examples == a.examples
    # every planted kind happened, the unique-id rule included
    dropped = {s["name"]: s["dropped"] for s in a.steps}
    changed = {s["name"]: s["changed"] for s in a.steps}
    assert dropped["normalize"] >= 20 + 15 and dropped["exact_dedup"] >= 25
    assert dropped["near_dedup"] >= 10 and dropped["length"] == 20
    assert changed["pii"] == len(PEOPLE * 4) and changed["normalize"] > 0
    # the worker count is a parameter of the run, not of its output
    assert parameters(ws, "a@1")["workers"] == 1 and parameters(ws, "b@1")["workers"] == 2
    again = ws.curation.curate("raw@1", pipeline, "b", batch_size=16, workers=1)
    assert not again.created and again.version.ref == "b@1"


def test_workers_replay_order_dependent_steps_and_untraced_records(ws, tmp_path) -> None:
    rows = []
    for i in range(120):  # pairs that fold into one text, not in the input
        head = WORDS[i % len(WORDS)]
        rows.append({"text": f"{head}  {WORDS[(i * 7) % len(WORDS)]} item {i % 40}"})
        rows.append({"text": f"{head.upper()} {WORDS[(i * 7) % len(WORDS)]}  ITEM {i % 40}"})
    rows += [{"text": f"{w} poison again"} for w in WORDS]  # first_word drops each first
    ws.ingest([write_jsonl(tmp_path / "raw.jsonl", rows)], source="web", dataset="raw")
    steps = (Fold, FirstWord, Fragile)
    pipeline = Pipeline(tuple(StepSpec(s.name, s.Params(), s) for s in steps))
    a = ws.curation.curate("raw@1", pipeline, "a", batch_size=8, workers=1)
    b = ws.curation.curate("raw@1", pipeline, "b", batch_size=8, workers=2)
    assert b.version.digest == a.version.digest and counts(b) == counts(a)
    assert events_of(ws, "b@1") == events_of(ws, "a@1")
    changed = {s["name"]: s["changed"] for s in a.steps}
    assert changed["fold"] > 0 and changed["first_word"] > 0


class Boom(Step):
    """Fails on the batch holding a text that contains 'boom'."""

    name = "boom"
    summary = "fails on boom"

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        if any("boom" in (r.text or "") for _, r in batch):
            raise RuntimeError("boom went the step")
        return [Decision.keep() for _ in batch]


def test_a_step_that_raises_in_a_worker_fails_as_in_process(ws, tmp_path) -> None:
    rows = text_rows(200)
    rows.insert(150, {"text": "this one goes boom"})
    ws.ingest([write_jsonl(tmp_path / "raw.jsonl", rows)], source="web", dataset="raw")
    specs = parse_pipeline(["normalize", "exact_dedup"]).steps
    pipeline = Pipeline((*specs, StepSpec(Boom.name, Boom.Params(), Boom)))
    messages = []
    for workers in (1, 2):
        with pytest.raises(local.StepFailed) as failed:
            ws.curation.curate("raw@1", pipeline, "b", batch_size=16, workers=workers)
        messages.append(str(failed.value))
    assert messages[1] == messages[0]
    assert "step 'boom' failed on the batch starting at record" in messages[0]
    assert "RuntimeError: boom went the step" in messages[0]
    nothing_written(ws, "b")
    assert _workers() == []


def test_a_worker_that_dies_leaves_no_version(ws, tmp_path, monkeypatch) -> None:
    ws.ingest([write_jsonl(tmp_path / "raw.jsonl", text_rows(300))], source="web", dataset="raw")
    pipeline = parse_pipeline(["normalize", "exact_dedup", {"length": {"min_words": 3}}])
    monkeypatch.setenv("CURATA_FAULT_INJECT", "curate_worker")  # workers kill themselves
    with pytest.raises(WorkerLost, match="local executor was killed by SIGKILL"):
        ws.curation.curate("raw@1", pipeline, "b", batch_size=16, workers=2)
    nothing_written(ws, "b")
    assert _workers() == []
    monkeypatch.delenv("CURATA_FAULT_INJECT")
    done = ws.curation.curate("raw@1", pipeline, "b", batch_size=16, workers=2)
    assert done.created and done.records_out == 300


def test_the_driver_killed_mid_run_leaves_no_version_and_no_workers(
    tmp_path: Path, database_url: str | None
) -> None:
    home = tmp_path / "ws"
    with Workspace.create(home, database_url=database_url, user="crash") as ws:
        ws.sources.add("web", kind="crawl", license="MIT", origin="https://example.org")
        rows = text_rows(3_000) + text_rows(300) + text_rows(300, start=5_000, suffix="   ")
        ws.ingest([write_jsonl(tmp_path / "raw.jsonl", rows)], source="web", dataset="raw")
        expected = ws.curation.curate("raw@1", parse_pipeline(["normalize", "exact_dedup"]), "x")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("steps: [normalize, exact_dedup]\n", "utf-8")
    cmd = [CURATA, "curate", "raw@1", "--pipeline", str(pipeline), "--out", "clean",
           "--workers", "2"]  # fmt: skip
    killed = subprocess.run(cmd, env=_env(home, CURATA_FAULT_INJECT="curate_streaming"),
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _no_processes_of(home), "the workers outlived the killed driver"
    with Workspace.open(home) as ws:
        assert "clean" not in [d.name for d in ws.datasets.list()]
        with ws.projects.sessions() as s:
            assert s.scalar(select(func.count()).select_from(StepRunRow)) == 2  # x@1's
    done = subprocess.run(cmd, env=_env(home), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with Workspace.open(home) as ws:
        again = ws.datasets.version("clean@1")
        assert (again.digest, again.record_count) == (expected.version.digest, 3_300)
        assert_whole(ws, "clean@1")


def _workers() -> list[psutil.Process]:
    """This process's worker processes still running."""
    return [p for p in psutil.Process().children(recursive=True)
            if "executors.processes" in " ".join(p.cmdline())]  # fmt: skip


def _no_processes_of(home: Path, wait: float = 15.0) -> bool:
    """True once no process runs with ``CURATA_HOME`` set to ``home``."""
    deadline = time.monotonic() + wait
    while True:
        alive = []
        for p in psutil.process_iter():
            try:
                if p.environ().get("CURATA_HOME") == str(home):
                    alive.append(p)
            except psutil.Error:
                continue
        if not alive or time.monotonic() > deadline:
            return not alive
        time.sleep(0.2)


def test_the_in_flight_batches_are_bounded(tmp_path) -> None:
    """At most 2 x workers batches wait between being read and being emitted."""
    records = [(f"{i:032x}", t) for i, t in enumerate(_texts(400))]
    read = emitted = most = 0

    def batches() -> Iterator[list[local.Input]]:
        nonlocal read, most
        for start in range(0, len(records), 10):
            read += 1
            most = max(most, read - emitted)
            yield [(rid, r, "web", None) for rid, r in records[start : start + 10]]

    def emit(items: list[local.Input]) -> None:
        nonlocal emitted
        emitted += 1

    result = local.run(parse_pipeline(["normalize"]), batches, len(records), emit=emit, workers=2)
    assert result.records_out == 400 and emitted == 40
    assert most <= 2 * 2 + 1


def _texts(n: int) -> list[Any]:
    from curata.core.records import Record

    return [Record.from_text(f"text number {i}  with spaces") for i in range(n)]


def test_auto_runs_in_process_below_the_threshold(ws, tmp_path, monkeypatch) -> None:
    ws.ingest([write_jsonl(tmp_path / "raw.jsonl", text_rows(50))], source="web", dataset="raw")
    result = ws.curation.curate("raw@1", parse_pipeline(["normalize"]), "a")
    assert parameters(ws, result.version.ref)["workers"] == 1
    for doc in ("docs/cli.md", "docs/curation.md"):  # the rule as the docs state it
        text = " ".join((Path(__file__).resolve().parents[2] / doc).read_text("utf-8").split())
        assert f"{local.AUTO_MIN_CPUS} CPUs or more for" in text, doc
        assert f"{local.AUTO_MIN_RECORDS:,} records or more" in text, doc
    monkeypatch.setattr(local, "cpus", lambda: 3)
    assert local.auto_workers(10**9) == 1
    monkeypatch.setattr(local, "cpus", lambda: 4)
    assert local.auto_workers(local.AUTO_MIN_RECORDS - 1) == 1
    assert local.auto_workers(local.AUTO_MIN_RECORDS) == 4
    monkeypatch.setattr(local, "cpus", lambda: 2)
    monkeypatch.setattr(local, "AUTO_MIN_CPUS", 2)
    monkeypatch.setattr(local, "AUTO_MIN_RECORDS", 10)
    result = ws.curation.curate("raw@1", parse_pipeline(["length"]), "b")
    assert parameters(ws, result.version.ref)["workers"] == 2


def test_workers_errors(ws, tmp_path) -> None:
    ws.ingest([write_jsonl(tmp_path / "raw.jsonl", text_rows(5))], source="web", dataset="raw")
    pipeline = parse_pipeline(["normalize"])
    with pytest.raises(ValidationError, match=r"^workers: must be at least 1 \(got 0\)$"):
        ws.curation.curate("raw@1", pipeline, "a", workers=0)
    with pytest.raises(ValidationError, match="only used with the local executor"):
        ws.curation.curate("raw@1", pipeline, "a", executor="ray", workers=2)


def test_cli_workers(cli, tmp_path: Path) -> None:
    ingest_with_cli(cli, write_jsonl(tmp_path / "raw.jsonl", corpus()[:80]), "raw")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("steps: [normalize, exact_dedup, {length: {min_words: 3}}]\n", "utf-8")
    args = ("curate", "raw@1", "--pipeline", pipeline, "--out")
    for bad, says in [("0", "--workers: must be at least 1 (or auto), got 0"),
                      ("-3", "--workers: must be at least 1 (or auto), got -3"),
                      ("two", "--workers: 'two' is not a whole number or auto")]:  # fmt: skip
        code, _, err = cli(*args, "x", "--workers", bad)
        assert (code, err) == (1, f"error: {says}\n")
    code, _, err = cli(*args, "x", "--workers", "2", "--executor", "ray")
    assert code == 1 and "workers: only used with the local executor" in err
    assert len(err.splitlines()) == 1
    code, out, err = cli(*args, "a", "--json")
    assert code == 0, err
    code, out2, err = cli(*args, "b", "--workers", "2", "--json")
    assert code == 0, err
    assert json.loads(out2)["records_out"] == json.loads(out)["records_out"]
    show = [json.loads(cli("dataset", "show", f"{d}@1", "--json")[1]) for d in "ab"]
    assert show[0]["digest"] == show[1]["digest"]


def test_a_step_the_workers_cannot_load_is_named(ws, tmp_path) -> None:
    ws.ingest([write_jsonl(tmp_path / "raw.jsonl", text_rows(20))], source="web", dataset="raw")

    class Local(Step):  # defined in a function: cannot be pickled by reference
        name = "local_step"
        summary = "keeps"

        def apply(self, batch: Sequence[Item]) -> list[Decision]:
            return [Decision.keep() for _ in batch]

    pipeline = Pipeline((StepSpec(Local.name, Local.Params(), Local),))
    with pytest.raises(CurataError, match="cannot send the pipeline's steps to its worker"):
        ws.curation.curate("raw@1", pipeline, "b", batch_size=4, workers=2)
    assert ws.curation.curate("raw@1", pipeline, "b", batch_size=4, workers=1).created


class MainStep(Step):
    """Keeps every record; made to look defined in a script's ``__main__``."""

    name = "main_step"
    summary = "keeps"

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        return [Decision.keep() for _ in batch]


def test_a_step_from_the_callers_main_module_is_named(ws, tmp_path, monkeypatch) -> None:
    """Workers do not import the caller's ``__main__`` (a script there would run again)."""
    ws.ingest([write_jsonl(tmp_path / "raw.jsonl", text_rows(20))], source="web", dataset="raw")
    monkeypatch.setattr(MainStep, "__module__", "__main__")
    monkeypatch.setattr(sys.modules["__main__"], "MainStep", MainStep, raising=False)
    pipeline = Pipeline((StepSpec(MainStep.name, MainStep.Params(), MainStep),))
    with pytest.raises(ValidationError, match="worker processes cannot load the pipeline's steps"):
        ws.curation.curate("raw@1", pipeline, "b", batch_size=4, workers=2)
    nothing_written(ws, "b")
    assert _workers() == []
