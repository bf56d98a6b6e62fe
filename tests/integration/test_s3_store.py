"""The team deployment, simulated on one machine (docs/deployment.md): the record store on an
object store (S3 protocol: a moto server on 127.0.0.1 that the module starts), the metadata on
PostgreSQL or SQLite, curation on the local executor and on a local Ray cluster, and
``curata serve --workers 2`` over it all.

The same loop (ingest, append, an update that drops records, curation, a labelled release, an
export) run on a local store gives the same versions: the same content digests and record
counts, and byte-identical export files; the bucket holds the Lance datasets, the workspace's
home holds no record data; garbage collection refuses on an object store."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import log_in, write_jsonl
from tests.helpers import free_port
from tests.integration.test_curation_ray import PIPELINE, corpus

from curata.core.errors import ValidationError
from curata.curation.pipeline import parse_pipeline
from curata.workspace import Workspace

BUCKET = "curata-test"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
SCHEMA = {"questions": [{"type": "label", "name": "topic", "labels": ["a", "b"]}]}


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """A moto S3 server on 127.0.0.1 with one bucket; the Lance storage options that reach it
    (``allow_http``: the server speaks plain HTTP)."""
    boto3 = pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **KEYS)
        client.create_bucket(Bucket=BUCKET)
        yield {"aws_endpoint": endpoint, "aws_region": "us-east-1", "allow_http": "true", **KEYS}
    finally:
        server.stop()


@pytest.fixture
def postgres() -> Iterator[str]:
    """A PostgreSQL URL pinned to a fresh schema (the team deployment's metadata database)."""
    from tests.conftest import pg_schema_url

    with pg_schema_url() as url:
        yield url


def _fresh_url() -> str:
    """A store of its own in the bucket, for one test."""
    return f"s3://{BUCKET}/stores/{uuid.uuid4().hex}"


def _bucket_keys(options: dict[str, str], prefix: str) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=options["aws_endpoint"], region_name="us-east-1",
                          **KEYS)  # fmt: skip
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def _loop(ws: Workspace, files: Path, out: Path) -> dict[str, Any]:
    """Ingest, append, drop, curate, label and release, export; what each step produced."""
    ws.sources.add("web", kind="crawl", license="CC-BY-4.0", origin="https://example.org")
    rows = corpus()
    files.mkdir(exist_ok=True)
    first = write_jsonl(files / "raw.jsonl", rows[:250])
    extra = write_jsonl(files / "more.jsonl", rows[250:])
    fewer = write_jsonl(files / "fewer.jsonl", rows[20:])
    ws.ingest([first], source="web", dataset="raw")  # raw@1
    ws.ingest([extra], source="web", dataset="raw", append=True)  # raw@2: adds
    ws.ingest([fewer], source="web", dataset="raw")  # raw@3: drops the first 20
    ws.curation.curate("raw@3", parse_pipeline(PIPELINE), "clean", batch_size=32)
    lab = write_jsonl(files / "lab.jsonl", [{"text": f"item {i}"} for i in range(4)])
    ws.ingest([lab], source="web", dataset="lab")
    ws.workforce.add_user("a1")
    ws.projects.create("lab", version="lab@1", schema=SCHEMA, overlap=1, members=["a1"])
    while (view := ws.queue.next_task("lab", "a1")) is not None:
        ws.queue.submit(view.assignment_id, "a1", {"topic": "a" if "1" in view.record["text"]
                                                   else "b"})  # fmt: skip
    ws.releases.release("lab")  # lab-labels@1, written whole (write_manifest)
    refs = ["raw@1", "raw@2", "raw@3", "clean@1", "lab@1", "lab-labels@1"]
    versions = {ref: ws.datasets.version(ref) for ref in refs}
    exports = {}
    for ref in ("clean@1", "lab-labels@1"):
        path = out / f"{ref.replace('@', '-')}.jsonl"
        ws.export(ref, format="jsonl", out=path)
        exports[ref] = path.read_bytes()
    return {
        "versions": {
            r: (v.digest, v.record_count, v.added, v.removed) for r, v in versions.items()
        },
        "exports": exports,
    }


def test_the_loop_on_s3_gives_the_local_versions(
    tmp_path: Path, database_url: str | None, s3: dict[str, str]
) -> None:
    prefix = f"stores/{uuid.uuid4().hex}"
    local = Workspace.create(tmp_path / "local", user="tester")
    remote = Workspace.create(tmp_path / "remote", database_url=database_url,
                              data_url=f"s3://{BUCKET}/{prefix}", data_options=s3,
                              user="tester")  # fmt: skip
    try:
        (tmp_path / "out-local").mkdir()
        (tmp_path / "out-remote").mkdir()
        expected = _loop(local, tmp_path / "files", tmp_path / "out-local")
        got = _loop(remote, tmp_path / "files", tmp_path / "out-remote")
        assert got["versions"] == expected["versions"]
        # corpus() has 310 distinct texts (200 + 25 + 20 + 15 + 2 x 15 + 20): 250, then the
        # other 60 appended, then a file without the first 20
        assert [got["versions"][f"raw@{n}"][1:] for n in (1, 2, 3)] == [
            (250, 250, 0), (310, 60, 0), (290, 0, 20)]  # fmt: skip
        assert got["exports"] == expected["exports"]
        assert got["exports"]["lab-labels@1"].count(b"\n") == 4
        assert remote.settings.data_url == f"s3://{BUCKET}/{prefix}"
        assert not (tmp_path / "remote" / "data").exists()  # no record data in the home

        keys = _bucket_keys(s3, prefix + "/")
        with remote.engine.connect() as conn:
            storage_keys = set(conn.execute(sa.text("SELECT storage_key FROM datasets")).scalars())
        assert len(storage_keys) == 4  # raw, clean, lab, lab-labels
        for place in ["records.lance", *(f"manifests/{k}.lance" for k in storage_keys)]:
            assert any(k.startswith(f"{prefix}/{place}/data/") for k in keys), place
            assert any(k.startswith(f"{prefix}/{place}/_versions/") for k in keys), place
        raw3 = remote.datasets.version("raw@3")
        assert raw3.bytes_added == 0 < remote.datasets.version("raw@2").bytes_added  # a delete

        with pytest.raises(ValidationError, match="object store"):
            remote.collect_garbage(dry_run=True)
    finally:
        local.close()
        remote.close()


def test_a_workspace_reopens_its_s3_store_from_the_environment(
    tmp_path: Path, s3: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``curata init --data-url s3://…`` saves the URL, never the options: every later process
    (a CLI run, a serve worker) gets them from CURATA_DATA_OPTIONS or AWS_* variables."""
    url = _fresh_url()
    home = tmp_path / "ws"
    with Workspace.create(home, data_url=url, data_options=s3, user="tester") as ws:
        ws.sources.add("web", kind="crawl", license="CC-BY-4.0", origin="https://example.org")
        ws.ingest([write_jsonl(tmp_path / "a.jsonl", [{"text": "hello s3"}])], source="web",
                  dataset="a")  # fmt: skip
        digest = ws.datasets.version("a@1").digest
    saved = json.loads((home / "config.json").read_text("utf-8"))
    assert saved["data_url"] == url and "testing" not in json.dumps(saved)
    monkeypatch.setenv("CURATA_DATA_OPTIONS", json.dumps(s3))
    with Workspace.open(home) as ws:
        assert ws.datasets.version("a@1").digest == digest
        texts = [r["text"] for batch in ws.datasets.iter_rows("a@1") for r in batch]
        assert texts == ["hello s3"]
    monkeypatch.delenv("CURATA_DATA_OPTIONS")
    monkeypatch.setenv("AWS_ENDPOINT", s3["aws_endpoint"])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with Workspace.open(home) as ws:
        assert ws.datasets.version("a@1").digest == digest


def test_ray_curation_on_s3_and_postgresql(
    tmp_path: Path, s3: dict[str, str], postgres: str
) -> None:
    """The team deployment's curation: metadata on PostgreSQL, records on S3, the run on a
    (local, 2-CPU) Ray cluster; the version is the local executor's."""
    ray = pytest.importorskip("ray")
    ws = Workspace.create(tmp_path / "ws", database_url=postgres, user="tester",
                          data_url=_fresh_url(), data_options=s3)  # fmt: skip
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        ws.sources.add("web", kind="crawl", license="CC-BY-4.0", origin="https://example.org")
        ws.ingest([write_jsonl(tmp_path / "raw.jsonl", corpus())], source="web", dataset="raw")
        pipeline = parse_pipeline(PIPELINE)
        a = ws.curation.curate("raw@1", pipeline, "a", batch_size=32)
        b = ws.curation.curate("raw@1", pipeline, "b", executor="ray", batch_size=32)
        va, vb = a.version, b.version
        assert (vb.digest, vb.record_count) == (va.digest, va.record_count)
        assert 0 < vb.record_count < 310
    finally:
        ray.shutdown()
        ws.close()


def test_serve_workers_share_the_s3_store(
    tmp_path: Path, s3: dict[str, str], postgres: str
) -> None:
    """``curata serve --workers 2`` on the S3 store: each worker process opens the workspace
    (store options from the environment) and serves records read from the bucket."""
    home = tmp_path / "ws"
    ws = Workspace.create(home, database_url=postgres, user="tester",
                          data_url=_fresh_url(), data_options=s3)  # fmt: skip
    ws.sources.add("web", kind="crawl", license="CC-BY-4.0", origin="https://example.org")
    texts = [f"served from the bucket {i}" for i in range(3)]
    ws.ingest([write_jsonl(tmp_path / "s.jsonl", [{"text": t} for t in texts])], source="web",
              dataset="s")  # fmt: skip
    token = log_in(ws)
    ws.workforce.add_user("a1")
    ws.projects.create("p", version="s@1", schema=SCHEMA, overlap=1, members=["a1", "tester"])
    ws.close()
    port = free_port()
    env = {**os.environ, "LANCE_LOG": "error", "CURATA_HOME": str(home),
           "CURATA_DATABASE_URL": postgres, "CURATA_DATA_OPTIONS": json.dumps(s3)}  # fmt: skip
    exe = str(Path(sys.executable).with_name("curata"))
    proc = subprocess.Popen([exe, "serve", "--port", str(port), "--workers", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "curata serve did not answer"
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(6):  # fresh connections: the kernel spreads them over both workers
            r = httpx.get(f"{base}/api/v1/projects/p/export", headers=headers, timeout=30)
            assert r.status_code == 200, r.text
            assert sorted(item["data"]["text"] for item in r.json()) == texts
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate(timeout=20)
    started = {line.split("[")[-1].rstrip("]") for line in err.decode().splitlines()
               if "Started server process" in line}  # fmt: skip
    assert len(started) == 2, err.decode()[:6000]  # two worker processes, each opened it
