"""ProjectService.progress: the annotate page's counts equal what ``status`` says over all
time (live items, those complete, each user's labels), for users with and without labels."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_jsonl

SCHEMA = {"questions": [{"type": "label", "name": "topic", "labels": ["a", "b"]}]}


def test_progress_matches_status_over_all_time(ws, tmp_path: Path) -> None:
    rows = [{"text": f"ticket {i}"} for i in range(4)]
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="tickets")
    for name in ("ann", "bob", "cy"):
        ws.workforce.add_user(name, role="annotator")
    ws.projects.create("triage", version="tickets@1", schema=SCHEMA,
                       members=["ann", "bob", "cy"])  # fmt: skip
    ws.projects.set_overlap("triage", 2)
    for user, count in (("ann", 3), ("bob", 1)):
        for _ in range(count):
            view = ws.queue.next_task("triage", user)
            assert view is not None
            ws.queue.submit(view.assignment_id, user, {"topic": "a"})
    ws.queue.next_task("triage", "cy")  # a lease, no label

    status = ws.projects.status("triage", window_hours=24.0 * 365 * 30)
    labels = {a["annotator"]: a["labels"] for a in status.per_annotator}
    for user in ("ann", "bob", "cy", "nobody"):
        progress = ws.projects.progress("triage", user)
        assert progress.items == status.items == 4
        assert progress.complete == status.items_complete == 1
        assert progress.mine == labels.get(user, 0)
    assert ws.projects.progress("triage", "ann").mine == 3


def test_settings_are_read_without_the_annotations(ws, tmp_path: Path) -> None:
    rows = [{"text": f"ticket {i}"} for i in range(2)]
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="tickets")
    ws.projects.create("triage", version="tickets@1", schema=SCHEMA, review={"mode": "all"})
    settings, published = ws.projects.settings("triage")
    assert settings == ws.quality.annotations("triage").settings  # what the report reads
    assert settings["review"]["mode"] == "all" and published == []
    ws.projects.set_gates("triage", {"min_annotations": 2})
    ws.projects.guidelines.publish("triage", "# v1\nLabel the topic.")
    ws.projects.guidelines.publish("triage", "# v2\nAlso the tone.", note="tone")
    settings, published = ws.projects.settings("triage")
    assert settings["gates"] == ws.quality.annotations("triage").settings["gates"]
    assert [v for v, _ in published] == [1, 2]
    assert published[0][1] <= published[1][1]
    assert published == list(ws.quality.annotations("triage").guidelines)
