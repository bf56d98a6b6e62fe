"""Lineage both ways, OpenLineage events, and the append-only, hash-chained audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.conftest import text_rows, write_jsonl

from curata.core.errors import NotFoundError, ValidationError


@pytest.fixture
def history(ws, tmp_path: Path):
    ws.sources.add(
        "vendor", kind="vendor", license="LicenseRef-vendor", origin="s3://vendor/batch1"
    )
    write_jsonl(tmp_path / "crawl.jsonl", text_rows(6))
    write_jsonl(tmp_path / "vendor.jsonl", text_rows(2, start=100))
    ws.ingest([tmp_path / "crawl.jsonl"], source="web", dataset="raw", message="crawl")
    ws.ingest([tmp_path / "vendor.jsonl"], source="vendor", dataset="raw", append=True)
    write_jsonl(tmp_path / "crawl2.jsonl", text_rows(3))
    ws.ingest([tmp_path / "crawl2.jsonl"], source="web", dataset="raw")
    return ws


def test_upstream_reaches_every_source_through_each_operation(history, tmp_path: Path) -> None:
    graph = history.lineage.upstream("raw@3")
    assert graph.root == "version:raw@3"
    types = {n["id"]: n["type"] for n in graph.nodes.values()}
    assert types == {
        "version:raw@3": "version",
        "version:raw@2": "version",
        "version:raw@1": "version",
        "source:web": "source",
        "source:vendor": "source",
    }
    edges = {(e["from"], e["to"]) for e in graph.edges}
    assert edges == {
        ("source:web", "version:raw@3"),
        ("version:raw@2", "version:raw@3"),
        ("source:vendor", "version:raw@2"),
        ("version:raw@1", "version:raw@2"),
        ("source:web", "version:raw@1"),
    }
    vendor_edge = next(e for e in graph.edges if e["from"] == "source:vendor")
    assert vendor_edge["operation"] == "ingest" and vendor_edge["records"] == 2
    assert vendor_edge["file"] == str((tmp_path / "vendor.jsonl").resolve())
    assert len(vendor_edge["file_digest"]) == 64 and vendor_edge["code_version"].startswith(
        "curata "
    )
    assert graph.nodes["source:vendor"]["license"] == "LicenseRef-vendor"


def test_record_lineage_lists_every_version_holding_it(history) -> None:
    ws = history
    first = {i: r for b in ws.datasets.iter_records("raw@1") for i, r in b}
    kept = next(i for i, r in first.items() if r.metadata["id"] == 0)
    dropped = next(i for i, r in first.items() if r.metadata["id"] == 5)
    found = ws.lineage.record(kept[:10])  # a prefix is enough
    assert found.record_id == kept
    assert [a["version"] for a in found.appearances] == ["raw@1", "raw@2", "raw@3"]
    assert [a["added_here"] for a in found.appearances] == [True, False, False]
    assert found.appearances[0]["source"] == "web"
    assert found.appearances[0]["origin"].endswith("crawl.jsonl:1")
    assert [a["version"] for a in ws.lineage.record(dropped).appearances] == ["raw@1", "raw@2"]


def test_record_lineage_errors(history) -> None:
    with pytest.raises(ValidationError, match="not a record id"):
        history.lineage.record("xyz")
    with pytest.raises(NotFoundError, match="no record id starts with"):
        history.lineage.record("ffffffffffff")


def test_each_operation_is_an_openlineage_run_event(history) -> None:
    path = history.settings.openlineage_file
    events = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"] * 3
    complete = events[-1]
    assert (complete["job"]["namespace"], complete["job"]["name"]) == ("curata", "ingest.raw")
    [output] = complete["outputs"]
    assert (output["namespace"], output["name"]) == ("curata.dataset", "raw")
    assert output["facets"]["version"]["datasetVersion"] == "3"
    fields = {f["name"]: f["type"] for f in output["facets"]["schema"]["fields"]}
    assert {"curata_id", "kind", "text", "messages", "prompt", "response", "metadata"} <= set(
        fields
    )
    assert fields["text"] == "large_string"
    inputs = {(i["namespace"], i["name"]): i for i in complete["inputs"]}
    assert {("curata.source", "web"), ("curata.dataset", "raw")} <= set(inputs)
    assert inputs["curata.dataset", "raw"]["facets"]["version"]["datasetVersion"] == "2"
    assert complete["run"]["runId"] == history.datasets.version("raw@3").operation_id
    assert complete["schemaURL"].startswith("https://openlineage.io/spec/")


def test_openlineage_jobs_are_named_by_dataset_and_step(ws, tmp_path: Path) -> None:
    """Ingest, each curation step and a release are jobs of their own dataset or project."""
    from curata.curation.pipeline import parse_pipeline

    rows = [{"text": t} for t in ("one two three", "one two three", "four five six")]
    ws.ingest([write_jsonl(tmp_path / "r.jsonl", rows)], source="web", dataset="raw")
    steps = parse_pipeline({"steps": ["exact_dedup", {"length": {"min_words": 1}}]})
    ws.curation.curate("raw@1", steps, "clean")
    ws.workforce.add_user("ann")
    schema = {"questions": [{"type": "label", "name": "ok", "labels": ["yes", "no"]}]}
    ws.projects.create("check", version="clean@1", schema=schema, overlap=1, members=["ann"])
    while (view := ws.queue.next_task("check", "ann")) is not None:
        ws.queue.submit(view.assignment_id, "ann", {"ok": "yes"})
    ws.releases.release("check")
    lines = ws.settings.openlineage_file.read_text("utf-8").splitlines()
    complete = [e for e in map(json.loads, lines) if e["eventType"] == "COMPLETE"]
    assert [e["job"]["name"] for e in complete] == [
        "ingest.raw",
        "curate.clean.exact_dedup",
        "curate.clean.length",
        "release.check",
    ]

    def ends(event: dict) -> tuple[list, list]:
        return (
            [(d["name"], d["facets"]["version"]["datasetVersion"]) for d in event["inputs"]],
            [(d["name"], d["facets"]["version"]["datasetVersion"]) for d in event["outputs"]],
        )

    assert ends(complete[1]) == ([("raw", "1")], [("clean#0-exact_dedup", "1")])
    assert ends(complete[2]) == ([("clean#0-exact_dedup", "1")], [("clean", "1")])
    released = complete[3]["outputs"][0]
    assert (released["name"], released["facets"]["version"]["datasetVersion"]) == (
        "check-labels",
        "1",
    )
    fields = {f["name"] for f in released["facets"]["schema"]["fields"]}
    assert {"text", "labels", "confidence", "annotators", "soft_labels"} <= fields
    assert complete[3]["inputs"][0]["name"] == "check"


def test_openlineage_over_http_to_a_real_socket(tmp_path: Path, database_url) -> None:
    """CURATA_OPENLINEAGE_URL sends the events to an HTTP endpoint (a server on 127.0.0.1)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from curata.workspace import Workspace

    received: list[dict] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "event": json.loads(body)})
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        ws = Workspace.create(tmp_path / "w", database_url=database_url, openlineage_url=url)
        ws.sources.add("web", kind="crawl", license="MIT", origin="https://example.org")
        write_jsonl(tmp_path / "a.jsonl", text_rows(3))
        ws.ingest([tmp_path / "a.jsonl"], source="web", dataset="raw")
        ws.close()
    finally:
        server.shutdown()
    assert [r["event"]["eventType"] for r in received] == ["START", "COMPLETE"]
    assert all(r["path"] == "/api/v1/lineage" for r in received)
    output = received[1]["event"]["outputs"][0]
    assert (output["name"], output["facets"]["version"]["datasetVersion"]) == ("raw", "1")
    assert not (tmp_path / "w" / "openlineage" / "events.jsonl").exists()


def test_audit_log_records_who_did_what(history) -> None:
    events = history.audit.list(limit=100)
    actions = [e.action for e in reversed(events)]
    assert actions == [
        "workspace.init",
        "source.add",
        "source.add",
        "dataset.ingest",
        "dataset.ingest",
        "dataset.ingest",
    ]
    assert {e.actor for e in events} == {"tester"}
    assert [e.object_ref for e in history.audit.list(action="dataset.ingest")] == [
        "raw@3",
        "raw@2",
        "raw@1",
    ]
    assert history.audit.verify() == (True, 6, None)


def test_audit_log_is_append_only(history) -> None:
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), history.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET actor = 'mallory'"))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), history.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events"))
    assert history.audit.verify()[0]


def test_tampering_past_the_trigger_is_detected(history) -> None:
    with history.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(sa.text("DROP TRIGGER audit_events_no_update"))
        else:
            conn.execute(sa.text("DROP TRIGGER audit_events_append_only ON audit_events"))
        conn.execute(sa.text("UPDATE audit_events SET actor = 'mallory' WHERE id = 3"))
    intact, checked, broken = history.audit.verify()
    assert (intact, checked, broken) == (False, 2, 3)
