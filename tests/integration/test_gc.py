"""Ctrl-C during an ingest and `curata gc`: an interrupted ingest says in one line that nothing
was committed and leaves payload files no version references; `gc --dry-run` counts them, `gc`
removes them, and every version still reads back whole (issue #12)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import text_rows, write_jsonl
from tests.integration.test_crash import assert_whole

from curata.core.errors import ConflictError
from curata.store.gc import collect_garbage
from curata.workspace import Workspace

CURATA = str(Path(sys.executable).with_name("curata"))


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "CURATA_HOME": str(home), "LANCE_LOG": "error"}
    env.pop("CURATA_DATABASE_URL", None)  # the workspace's config.json names its database
    return env


def _data_files(home: Path) -> set[str]:
    return {p.name for p in (home / "data" / "records.lance" / "data").glob("*.lance")}


def _interrupted_ingest(home: Path, big: Path) -> subprocess.CompletedProcess[str]:
    """Start `curata ingest`, wait until it has written a payload fragment, press Ctrl-C."""
    before = _data_files(home)
    proc = subprocess.Popen(
        [CURATA, "ingest", str(big), "--source", "web", "--dataset", "raw"],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (_data_files(home) - before):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no payload fragment was written"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture
def interrupted(tmp_path: Path, database_url: str | None) -> Path:
    """A workspace with raw@1 and raw@2, and the leftovers of an interrupted third ingest."""
    home = tmp_path / "ws"
    with Workspace.create(home, database_url=database_url, user="gc") as ws:
        ws.sources.add("web", kind="crawl", license="MIT", origin="https://example.org")
        ws.ingest([write_jsonl(tmp_path / "v1.jsonl", text_rows(2_000))], source="web",
                  dataset="raw")  # fmt: skip
        ws.ingest([write_jsonl(tmp_path / "v2.jsonl", text_rows(3_000, start=1_000))],
                  source="web", dataset="raw")  # fmt: skip
    # on PostgreSQL (a shared database) gc is an admin's: init makes this shell its admin
    init = subprocess.run([CURATA, "init"], env=_env(home), capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert init.returncode == 0, init.stderr
    big = write_jsonl(tmp_path / "big.jsonl", text_rows(400_000, start=10_000))
    done = _interrupted_ingest(home, big)
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip().splitlines() == [
        "interrupted: nothing was committed (raw has no new version); "
        "'curata gc' removes what the interrupted command had written"
    ]
    return home


def test_interrupted_ingest_leaves_orphans_that_gc_removes(interrupted: Path) -> None:
    home = interrupted
    with Workspace.open(home) as ws:
        assert [v.number for v in ws.datasets.log("raw")] == [2, 1]
        digests = {ref: ws.datasets.version(ref).digest for ref in ("raw@1", "raw@2")}
    files_before = _data_files(home)

    dry = subprocess.run([CURATA, "gc", "--dry-run", "--json"], env=_env(home),
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)
    assert planned["dry_run"] is True and planned["files"] >= 1 and planned["bytes"] > 0
    orphans = {Path(p).name for p in planned["paths"]}
    assert orphans and orphans <= files_before
    assert _data_files(home) == files_before  # a dry run removes nothing

    done = subprocess.run([CURATA, "gc"], env=_env(home), capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"removed {planned['files']} unreferenced file(s)" in done.stdout
    assert _data_files(home) == files_before - orphans

    with Workspace.open(home) as ws:
        for ref, digest in digests.items():
            assert ws.datasets.version(ref).digest == digest
            assert_whole(ws, ref)
        assert collect_garbage(ws.store, dry_run=True).files == 0  # nothing left to remove
        [entry] = ws.audit.list(action="store.gc")  # the removal is on record, the dry run not
        assert (entry.details["files"], entry.details["bytes"]) == (
            planned["files"],
            planned["bytes"],
        )
        ws.ingest([home.parent / "v1.jsonl"], source="web", dataset="raw")  # writes still work
        assert_whole(ws, "raw@3")


def test_gc_waits_for_no_writer(ws, tmp_path: Path) -> None:
    """gc never runs while a writer holds a dataset's lock: its new fragments are not yet
    referenced by any version, and removing them would break its commit."""
    with ws.store.dataset_lock("raw"), pytest.raises(ConflictError, match="is being written"):
        collect_garbage(ws.store, dry_run=False)
    assert collect_garbage(ws.store, dry_run=False).files == 0
