"""Two snapshot ingests into one dataset at once: the second used to wait for the first, then
replace everything it had just written (issue #12: ``-100,000``). A snapshot based on a version
it did not see is a conflict (nothing written) unless forced."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from tests.conftest import text_rows, write_jsonl

from curata.core.errors import ConflictError
from curata.workspace import Workspace


def _blocked_on(lock: Path, timeout: float = 30.0) -> None:
    """Wait until some open file description waits for the flock on ``lock`` (/proc/locks
    lists a waiter with ``->``)."""
    inode = os.stat(lock).st_ino
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/locks") as f:
            for line in f:
                fields = line.split()
                if "->" in fields and fields[fields.index("->") + 5].endswith(f":{inode}"):
                    return
        time.sleep(0.01)
    raise AssertionError(f"nobody waited for {lock}")


def _race(ws: Any, tmp_path: Path, *, force: bool) -> tuple[Any, BaseException | Any]:
    """Ingest A (100 records) and B (30 records), both snapshots of ``raw`` from its first
    version; B starts while A holds the dataset's lock and commits after it."""
    first = write_jsonl(tmp_path / "first.jsonl", text_rows(10, suffix=" v1"))
    ws.ingest([first], source="web", dataset="raw")
    a_file = write_jsonl(tmp_path / "a.jsonl", text_rows(100, suffix=" a"))
    b_file = write_jsonl(tmp_path / "b.jsonl", text_rows(30, suffix=" b"))
    other = Workspace.open(ws.settings.home)
    lock = ws.store.root / "locks" / "raw.lock"
    b_result: dict[str, Any] = {}

    def run_b() -> None:
        try:
            forced = {"force": True} if force else {}
            b_result["ok"] = other.ingest([b_file], source="web", dataset="raw", **forced)
        except BaseException as exc:  # handed to the test thread
            b_result["error"] = exc

    b = threading.Thread(target=run_b)
    started = False

    def progress(done: int, total: int) -> None:
        nonlocal started
        if not started:  # A holds the lock: start B, and go on once B waits for it
            started = True
            b.start()
            _blocked_on(lock)

    try:
        a = ws.ingest([a_file], source="web", dataset="raw", progress=progress)
        b.join(60)
    finally:
        other.close()
    return a, b_result.get("error", b_result.get("ok"))


def test_a_snapshot_based_on_a_version_it_did_not_see_is_a_conflict(ws, tmp_path: Path) -> None:
    a, b = _race(ws, tmp_path, force=False)
    assert a.version.ref == "raw@2" and a.version.record_count == 100
    assert isinstance(b, ConflictError)
    assert str(b) == (
        "dataset 'raw': this snapshot started from raw@1, but raw@2 appeared before it could "
        "be committed; nothing was written (ingest again to replace raw@2, or pass --force)"
    )
    assert sorted(v.ref for v in ws.datasets.log("raw")) == ["raw@1", "raw@2"]
    assert ws.datasets.version("raw").record_count == 100


def test_force_replaces_the_version_that_appeared(ws, tmp_path: Path) -> None:
    a, b = _race(ws, tmp_path, force=True)
    assert a.version.ref == "raw@2"
    assert b.version.ref == "raw@3" and b.version.record_count == 30
    assert b.version.removed == 100 and b.version.parents == ["raw@2"]


def test_appends_racing_each_build_on_the_other(ws, tmp_path: Path) -> None:
    """An append adds to whatever is latest: it never conflicts."""
    first = write_jsonl(tmp_path / "first.jsonl", text_rows(10))
    ws.ingest([first], source="web", dataset="raw")
    results = []
    threads = [
        threading.Thread(
            target=lambda i=i: results.append(
                ws.ingest(
                    [write_jsonl(tmp_path / f"{i}.jsonl", text_rows(20, start=100 * (i + 1)))],
                    source="web",
                    dataset="raw",
                    append=True,
                )
            )
        )
        for i in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.version.ref for r in results) == ["raw@2", "raw@3"]
    assert ws.datasets.version("raw").record_count == 50


def test_two_first_snapshots_of_a_new_dataset_conflict(ws, tmp_path: Path) -> None:
    """Neither saw a version: the one that commits second finds one and stops."""
    dataset = "fresh"
    a_file = write_jsonl(tmp_path / "a.jsonl", text_rows(50, suffix=" a"))
    b_file = write_jsonl(tmp_path / "b.jsonl", text_rows(5, suffix=" b"))
    other = Workspace.open(ws.settings.home)
    errors: list[BaseException] = []

    def run_b() -> None:
        try:
            other.ingest([b_file], source="web", dataset=dataset)
        except ConflictError as exc:
            errors.append(exc)

    b = threading.Thread(target=run_b)
    lock = ws.store.root / "locks" / f"{dataset}.lock"

    def progress(done: int, total: int) -> None:
        if not b.is_alive() and not errors and b.ident is None:
            b.start()
            _blocked_on(lock)

    try:
        ws.ingest([a_file], source="web", dataset=dataset, progress=progress)
        b.join(60)
    finally:
        other.close()
    assert [str(e) for e in errors] == [
        f"dataset {dataset!r}: this snapshot started from no version, but {dataset}@1 appeared "
        f"before it could be committed; nothing was written (ingest again to replace "
        f"{dataset}@1, or pass --force)"
    ]
    assert ws.datasets.version(dataset).record_count == 50
