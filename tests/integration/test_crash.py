"""Atomicity: `kill -9` in the middle of an ingest leaves every version whole, and no half version.

A subprocess runs `curata ingest` and is killed with SIGKILL, either at a named point between
the commits of an ingest (``CURATA_FAULT_INJECT``) or after a delay while it streams.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import text_rows, write_jsonl

from curata.workspace import Workspace

CURATA = str(Path(sys.executable).with_name("curata"))


def assert_whole(ws: Workspace, ref: str) -> None:
    """Every record of the version is readable, hashes to its id, and the digest matches."""
    version = ws.datasets.version(ref)
    ids = []
    for batch in ws.datasets.iter_records(ref):
        for record_id, record in batch:
            assert record.id == record_id
            ids.append(record_id)
    assert len(ids) == version.record_count
    digest = hashlib.sha256("".join(sorted(ids)).encode("ascii")).hexdigest()
    assert digest == version.digest


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "CURATA_HOME": str(home), "LANCE_LOG": "error", **extra}
    env.pop("CURATA_DATABASE_URL", None)  # the workspace's config.json names its database
    return env


@pytest.fixture
def base(tmp_path: Path, database_url: str | None):
    """A workspace holding raw@1, plus the file for raw@2 and raw@2's expected digest."""
    home = tmp_path / "ws"
    with Workspace.create(home, database_url=database_url, user="crash") as ws:
        ws.sources.add("web", kind="crawl", license="MIT", origin="https://example.org")
        write_jsonl(tmp_path / "v1.jsonl", text_rows(3_000))
        ws.ingest([tmp_path / "v1.jsonl"], source="web", dataset="raw")
        v1_digest = ws.datasets.version("raw@1").digest
    rows = text_rows(3_000, start=1_500) + text_rows(200, start=0, suffix=" (revised)")
    write_jsonl(tmp_path / "v2.jsonl", rows)
    with Workspace.create(tmp_path / "control", user="crash") as control:
        control.sources.add("web", kind="crawl", license="MIT", origin="https://example.org")
        expected = control.ingest([tmp_path / "v2.jsonl"], source="web", dataset="raw").version
    return home, tmp_path / "v2.jsonl", v1_digest, expected.digest, expected.record_count


def _check_after_crash(home: Path, v1_digest: str) -> None:
    with Workspace.open(home) as ws:
        assert [v.number for v in ws.datasets.log("raw")] == [1]
        assert ws.datasets.version("raw@1").digest == v1_digest
        assert_whole(ws, "raw@1")


def _rerun(home: Path, v2: Path, digest: str, count: int) -> None:
    done = subprocess.run(
        [CURATA, "ingest", str(v2), "--source", "web", "--dataset", "raw"],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    with Workspace.open(home) as ws:
        v2_version = ws.datasets.version("raw@2")
        assert (v2_version.digest, v2_version.record_count) == (digest, count)
        assert_whole(ws, "raw@2")
        assert_whole(ws, "raw@1")
        assert ws.audit.verify()[0]


@pytest.mark.parametrize("point", ["before_commit", "after_payloads", "after_manifest"])
def test_kill_between_commits_leaves_no_partial_version(base, point: str) -> None:
    home, v2, v1_digest, digest, count = base
    killed = subprocess.run(
        [CURATA, "ingest", str(v2), "--source", "web", "--dataset", "raw"],
        env=_env(home, CURATA_FAULT_INJECT=point),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    _check_after_crash(home, v1_digest)
    _rerun(home, v2, digest, count)


def test_kill_at_random_moments_while_streaming(tmp_path: Path, database_url: str | None) -> None:
    """A bigger ingest killed after growing delays: each time, raw@2 is absent or whole."""
    home = tmp_path / "ws"
    with Workspace.create(home, database_url=database_url, user="crash") as ws:
        ws.sources.add("web", kind="crawl", license="MIT", origin="https://example.org")
        write_jsonl(tmp_path / "v1.jsonl", text_rows(1_000))
        ws.ingest([tmp_path / "v1.jsonl"], source="web", dataset="raw")
        v1_digest = ws.datasets.version("raw@1").digest
    big = write_jsonl(tmp_path / "big.jsonl", text_rows(60_000, start=500))
    outcomes = []
    for delay in (1.0, 1.6, 2.2, 2.8, 3.4):
        proc = subprocess.Popen(
            [CURATA, "ingest", str(big), "--source", "web", "--dataset", "raw"],
            env=_env(home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        with Workspace.open(home) as ws:
            numbers = [v.number for v in ws.datasets.log("raw")]
            assert ws.datasets.version("raw@1").digest == v1_digest
            assert_whole(ws, "raw@1")
            if numbers == [2, 1]:
                assert_whole(ws, "raw@2")
                outcomes.append("complete")
                break
            assert numbers == [1]
            outcomes.append("absent")
    assert "absent" in outcomes  # at least one kill landed mid-ingest
    _rerun_expected = subprocess.run(
        [CURATA, "ingest", str(big), "--source", "web", "--dataset", "raw"],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert _rerun_expected.returncode == 0, _rerun_expected.stderr
    with Workspace.open(home) as ws:
        assert ws.datasets.version("raw").record_count == 60_000
        assert_whole(ws, "raw")


def test_concurrent_ingests_into_one_dataset_serialise(tmp_path: Path, database_url) -> None:
    """Two forced `curata ingest` snapshots at once: both land, one after the other, each
    whole (unforced, the one that commits second is a conflict: test_ingest_conflict.py)."""
    home = tmp_path / "ws"
    with Workspace.create(home, database_url=database_url, user="crash") as ws:
        ws.sources.add("web", kind="crawl", license="MIT", origin="https://example.org")
    a = write_jsonl(tmp_path / "a.jsonl", text_rows(20_000))
    b = write_jsonl(tmp_path / "b.jsonl", text_rows(20_000, start=10_000))
    procs = [
        subprocess.Popen(
            [CURATA, "ingest", str(path), "--source", "web", "--dataset", "raw", "--force"],
            env=_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in (a, b)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    with Workspace.open(home) as ws:
        log = ws.datasets.log("raw")
        assert [v.number for v in log] == [2, 1] and log[0].parents == ["raw@1"]
        assert [v.record_count for v in log] == [20_000, 20_000]
        assert log[0].digest != log[1].digest
        for v in log:
            assert_whole(ws, v.ref)
