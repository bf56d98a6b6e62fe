"""`curata curate --executor ray --ray-address ADDR` on a Ray cluster that runs apart from the
curating process: a head node started with `ray start --head` (its own processes, reached over
127.0.0.1), the CLI as a separate process connecting to it. The output version has the local
executor's digest, and an address where no cluster listens is a one-line error with no
version written."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import write_jsonl
from tests.helpers import free_port
from tests.integration.test_curation_ray import PIPELINE, corpus

from curata.workspace import Workspace

RAY = Path(sys.executable).with_name("ray")
TOKEN = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
         "RAY_USAGE_STATS_ENABLED": "0"}  # fmt: skip
"""Ray's token authentication, as a team would run a cluster: the head and every client share
the token (here in the environment, so no ~/.ray/auth_token of the machine is used)."""


@pytest.fixture(scope="module")
def head() -> Iterator[str]:
    """A one-CPU Ray head node in its own process group; its GCS address. Its session files
    live in a temporary directory of its own (short: Ray's socket paths must fit in 107
    bytes), so it leaves no ``/tmp/ray/ray_current_cluster`` behind for later ``ray.init``."""
    pytest.importorskip("ray")
    if not RAY.exists():
        pytest.fail(f"the ray extra is installed but {RAY} is missing")
    port = free_port()
    env = {**os.environ, **TOKEN}
    temp = tempfile.mkdtemp(prefix="cr", dir="/tmp")
    proc = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", f"--port={port}", "--num-cpus=1",
         "--node-ip-address=127.0.0.1", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={temp}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"ray start --head exited {proc.returncode}: {err[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail("the Ray head did not listen within 90 s")
        yield address
    finally:
        # start_new_session: the head's process group is its pid (alive or not), so a
        # head that exited early does not turn its start-up failure into a teardown error
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        shutil.rmtree(temp, ignore_errors=True)


def _cli(home: Path, *args: str, database_url: str | None) -> subprocess.CompletedProcess[str]:
    """``curata`` as its own process (so Ray is reached from outside the test process)."""
    env = {**os.environ, "CURATA_HOME": str(home), **TOKEN}
    env.pop("CURATA_DATABASE_URL", None)
    if database_url:
        env["CURATA_DATABASE_URL"] = database_url
    curata = Path(sys.executable).with_name("curata")
    return subprocess.run(
        [str(curata), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _workspace(tmp_path: Path, database_url: str | None, rows: list[dict[str, str]]) -> Path:
    home = tmp_path / "ws"
    ws = Workspace.create(home, database_url=database_url, user="tester")
    try:
        ws.sources.add("web", kind="crawl", license="CC-BY-4.0", origin="https://example.org")
        ws.ingest([write_jsonl(tmp_path / "raw.jsonl", rows)], source="web", dataset="raw")
    finally:
        ws.close()
    (tmp_path / "p.json").write_text(json.dumps(PIPELINE), "utf-8")
    return home


def test_a_separate_ray_cluster_gives_the_local_result(
    head: str, tmp_path: Path, database_url: str | None
) -> None:
    home = _workspace(tmp_path, database_url, corpus())
    pipeline = str(tmp_path / "p.json")
    done = _cli(home, "curate", "raw@1", "--pipeline", pipeline, "--out", "remote",
                "--executor", "ray", "--ray-address", head, database_url=database_url)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    done = _cli(home, "curate", "raw@1", "--pipeline", pipeline, "--out", "local",
                "--workers", "1", database_url=database_url)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ws = Workspace.open(home, database_url=database_url)
    try:
        remote, local = ws.datasets.version("remote@1"), ws.datasets.version("local@1")
        assert remote.digest == local.digest
        assert remote.record_count == local.record_count < len(corpus())
    finally:
        ws.close()


def test_an_address_with_no_cluster_is_a_one_line_error(
    tmp_path: Path, database_url: str | None
) -> None:
    pytest.importorskip("ray")
    home = _workspace(tmp_path, database_url, corpus()[:40])
    address = f"127.0.0.1:{free_port()}"
    pipeline = str(tmp_path / "p.json")
    args = ("--executor", "ray", "--ray-address", address)
    done = _cli(home, "curate", "raw@1", "--pipeline", pipeline, "--out", "x", *args,
                database_url=database_url)  # fmt: skip
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1] == (
        f"error: could not reach the Ray cluster at {address}: nothing accepted a connection "
        f"on {address} within 10 s (Connection refused); is its head node running?"
    ), done.stderr[-2000:]
    ws = Workspace.open(home, database_url=database_url)
    try:
        assert [d.name for d in ws.datasets.list()] == ["raw"]
    finally:
        ws.close()
