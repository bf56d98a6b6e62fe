"""The one version-commit path (``curata.versioning.commit``): a release's version counts what
it added and removed against its parent, as ingest and curation do, has a digest of its entries
(ids with labels) by the same definition as theirs (ids alone), and its
gate override is written with it or not at all; a commit that lost a race names the dataset."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import write_jsonl

from curata.core.errors import ConflictError
from curata.store.tables import utcnow
from curata.versioning import commit as commit_module
from curata.versioning.commit import Operation, next_version


def _labelled(ws: Any, tmp_path: Path) -> None:
    """Project ``lab`` over 4 records, each labelled ``a`` by its one annotator."""
    rows = [{"text": f"item {i}"} for i in range(4)]
    ws.ingest([write_jsonl(tmp_path / "lab.jsonl", rows)], source="web", dataset="lab")
    ws.workforce.add_user("a1")
    ws.workforce.add_user("boss", role="lead")
    schema = {"questions": [{"type": "label", "name": "topic", "labels": ["a", "b"]}]}
    ws.projects.create("lab", version="lab@1", schema=schema, overlap=1, members=["a1", "boss"])
    while (view := ws.queue.next_task("lab", "a1")) is not None:
        ws.queue.submit(view.assignment_id, "a1", {"topic": "a"})


def test_a_release_counts_changes_against_its_parent(ws, tmp_path) -> None:
    _labelled(ws, tmp_path)
    first = ws.releases.release("lab").version
    assert (first.added, first.removed, first.record_count) == (4, 0, 4)
    with ws.engine.connect() as conn:
        task_id = conn.execute(sa.text("SELECT min(id) FROM tasks")).scalar_one()
    ws.reviews.adjudicate(task_id, "boss", {"topic": "b"}, reason="it is b")
    second = ws.releases.release("lab").version
    # one record's labels changed: its old entry is removed, its new one added
    assert (second.added, second.removed, second.record_count) == (1, 1, 4)
    assert second.parents == ["lab@1", "lab-labels@1"]
    again = ws.releases.release("lab").version
    assert (again.added, again.removed) == (0, 0)
    # the digest is over the version's entries, as for every version: the same labels give
    # the same digest, a changed label another (a plain version's entries are its ids)
    ids = sorted(i for batch in ws.datasets.iter_records("lab@1") for i, _ in batch)
    plain = hashlib.sha256("".join(ids).encode("ascii")).hexdigest()
    assert ws.datasets.version("lab@1").digest == plain
    assert again.digest == second.digest != first.digest
    assert plain not in (first.digest, second.digest)
    rows = [r for batch in ws.datasets.iter_rows("lab-labels@2") for r in batch]
    assert sorted(r["curata_labels"]["topic"] for r in rows) == ["a", "a", "a", "b"]


def _gated(ws: Any, tmp_path: Path) -> None:
    """Project ``gated`` whose alpha gate fails (its two annotators disagree on half)."""
    rows = [{"text": f"item {i}"} for i in range(6)]
    ws.ingest([write_jsonl(tmp_path / "g.jsonl", rows)], source="web", dataset="gated")
    for name in ("x1", "x2"):
        ws.workforce.add_user(name)
    ws.workforce.add_user("boss", role="lead")
    schema = {"questions": [{"type": "label", "name": "topic", "labels": ["a", "b"]}]}
    ws.projects.create(
        "gated", version="gated@1", schema=schema, overlap=2, owner="boss", members=["x1", "x2"]
    )
    ws.projects.set_gates("gated", {"alpha": {"topic": 0.67}, "min_annotations": 2})
    for name in ("x1", "x2"):
        while (view := ws.queue.next_task("gated", name)) is not None:
            n = int(view.record["text"].split()[1])
            said = "a" if (name == "x1" or n % 2) else "b"
            ws.queue.submit(view.assignment_id, name, {"topic": said})


def test_a_gate_override_is_audited_only_with_its_release(ws, tmp_path, monkeypatch) -> None:
    """A failure after the override is written, before the version commits, leaves neither
    (the override used to be committed first, in a transaction of its own)."""
    _gated(ws, tmp_path)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("crash inside the version's transaction")

    with monkeypatch.context() as patch:
        patch.setattr(commit_module, "record_sources", crash)
        with pytest.raises(RuntimeError, match="crash inside"):
            ws.releases.release("gated", override="pilot", by="boss")
    assert ws.audit.list(action="release.gate_override") == []
    assert ws.audit.list(action="project.release") == []
    assert [d.name for d in ws.datasets.list()] == ["gated"]
    released = ws.releases.release("gated", override="pilot", by="boss")
    [event] = ws.audit.list(action="release.gate_override")
    [release] = ws.audit.list(action="project.release")
    assert event.details["reason"] == "pilot" and release.object_ref == released.version.ref
    assert event.id < release.id  # logged in the release's transaction, before the version


def test_a_commit_that_lost_the_race_names_the_dataset(ws, tmp_path) -> None:
    """Two commits built on the same base: the second fails whole, as one ConflictError."""
    ws.ingest([write_jsonl(tmp_path / "a.jsonl", [{"text": "a"}])], source="web", dataset="raw")
    handle = ws.datasets.handle("raw@1")
    with ws.engine.connect() as conn:
        query = (
            "SELECT v.id FROM versions v JOIN datasets d ON d.id = v.dataset_id "
            "WHERE d.name = 'raw' AND v.number = 1"
        )
        assert handle.version_id == conn.execute(sa.text(query)).scalar_one()
    sessions = ws.datasets._sessions

    def operation() -> Operation:
        now = utcnow()
        return Operation(str(uuid.uuid4()), "ingest", {}, now, now, "tester")

    with next_version(sessions, ws.store, "raw") as commit:
        base = commit.base
        assert (base.number, base.parent_ref, base.parent_id) == (2, "raw@1", handle.version_id)
        writer = commit.writer()
        writer.keep_parent()
        manifest = writer.commit()
        recorded = commit.record(
            manifest, operation(), message="one", parents=[base.parent_id], inputs=[],
            audit_action="dataset.ingest", audit_details={},
        )  # fmt: skip
        assert recorded.ref == "raw@2"
        with pytest.raises(ConflictError, match=r"dataset 'raw' gained a version while this"):
            commit.record(
                manifest, operation(), message="two", parents=[base.parent_id], inputs=[],
                audit_action="dataset.ingest", audit_details={},
            )  # fmt: skip
    assert [v.message for v in ws.datasets.log("raw")] == ["one", ""]
    assert ws.datasets.handle("raw@2").version_id == recorded.version_id
