"""Atomicity of curation: `kill -9` at any point of `curata curate` leaves no output version,
no step runs and no events, and the re-run gives the version an uninterrupted run gives."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.conftest import text_rows, write_jsonl
from tests.integration.test_crash import CURATA, _env, assert_whole

from curata.store.tables import CurationEventRow, StepRunRow
from curata.workspace import Workspace

PIPELINE = "steps:\n  - normalize\n  - exact_dedup\n  - length: {min_words: 3}\n"


def _prepare(root: Path, database_url: str | None, name: str) -> Path:
    home = root / name
    with Workspace.create(home, database_url=database_url, user="crash") as ws:
        ws.sources.add("web", kind="crawl", license="MIT", origin="https://example.org")
        # 600 exact duplicates; 300 with trailing spaces, which normalize changes (new records)
        rows = text_rows(3_000) + text_rows(600) + text_rows(300, start=5_000, suffix="   ")
        ws.ingest([write_jsonl(root / f"{name}.jsonl", rows)], source="web", dataset="raw")
    return home


def _curate(home: Path, pipeline: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CURATA, "curate", "raw@1", "--pipeline", str(pipeline), "--out", "clean"],
        env=_env(home, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "point", ["curate_streaming", "curate_before_commit", "after_payloads", "curate_after_manifest"]
)
def test_kill_during_curation_leaves_nothing_and_the_rerun_is_whole(
    tmp_path: Path, database_url: str | None, point: str
) -> None:
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(PIPELINE, "utf-8")
    control = _prepare(tmp_path, None, "control")
    assert _curate(control, pipeline).returncode == 0
    with Workspace.open(control) as ws:
        expected = ws.datasets.version("clean@1")
    home = _prepare(tmp_path, database_url, "ws")
    killed = _curate(home, pipeline, CURATA_FAULT_INJECT=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with Workspace.open(home) as ws:
        assert [d.name for d in ws.datasets.list()] == ["raw"]
        with ws.projects.sessions() as s:
            assert s.scalar(select(func.count()).select_from(StepRunRow)) == 0
            assert s.scalar(select(func.count()).select_from(CurationEventRow)) == 0
        assert_whole(ws, "raw@1")
    done = _curate(home, pipeline)
    assert done.returncode == 0, done.stderr
    with Workspace.open(home) as ws:
        again = ws.datasets.version("clean@1")
        assert (again.digest, again.record_count) == (expected.digest, expected.record_count)
        assert_whole(ws, "clean@1")
        assert ws.audit.verify()[0]
