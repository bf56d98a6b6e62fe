"""`curata tasks status`: the labelling pace over the time labelling took, and no ETA for a
finished project."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from tests.conftest import write_jsonl

from curata.core.errors import NotFoundError, ValidationError
from curata.store.tables import utcnow
from curata.timeutil import iso


def _project(ws, tmp_path: Path, items: int) -> None:
    rows = [{"text": f"item {i}"} for i in range(items)]
    ws.ingest([write_jsonl(tmp_path / "s.jsonl", rows)], source="web", dataset="st")
    ws.workforce.add_user("ann")
    schema = {"questions": [{"type": "label", "name": "topic", "labels": ["x", "y"]}]}
    ws.projects.create("st", version="st@1", schema=schema, overlap=1, members=["ann"])


def _label(ws, count: int, start, seconds: float):
    """``count`` labels by ann, evenly over ``seconds`` from ``start`` (first lease to last
    submission); returns the last submission's time."""
    step = timedelta(seconds=seconds / count)
    for k in range(count):
        view = ws.queue.next_task("st", "ann", now=start + k * step)
        ws.queue.submit(view.assignment_id, "ann", {"topic": "x"}, now=start + (k + 1) * step)
    return start + count * step


def test_43_labels_in_a_minute_are_43_a_minute_and_a_finished_project_is_done(
    ws, tmp_path: Path, capsys, monkeypatch
) -> None:
    _project(ws, tmp_path, 43)
    start = utcnow() - timedelta(hours=2)
    end = _label(ws, 43, start, 60.0)
    s = ws.projects.status("st", window_hours=24)
    # 43 labels between the first lease and the last submission, 60 s apart: 2,580 an hour
    assert s.labels_per_hour == pytest.approx(43 * 60, rel=1e-6)
    assert s.per_annotator[0]["per_hour"] == pytest.approx(43 * 60, rel=1e-6)
    assert s.window["from"] == iso(start) and s.window["to"] == iso(end)
    assert s.window["hours"] == pytest.approx(1 / 60, rel=1e-6)
    assert s.done and s.eta is None and s.labels_done == s.labels_needed == 43
    from curata.cli.main import main

    monkeypatch.delenv("CURATA_DATABASE_URL", raising=False)  # the workspace's own config
    assert main(["--home", str(ws.home), "tasks", "status", "st"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "done" in out and "ETA" not in out
    assert "2,580.0 labels/hour" in out and "first lease" in out
    assert main(["--home", str(ws.home), "tasks", "status", "st", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["done"] is True and data["eta"] is None and data["window"]["to"] == iso(end)


def test_the_eta_continues_the_measured_pace(ws, tmp_path: Path) -> None:
    _project(ws, tmp_path, 20)
    start = utcnow() - timedelta(minutes=30)
    _label(ws, 10, start, 600.0)  # 10 labels in 10 minutes: 60 an hour
    s = ws.projects.status("st", window_hours=24)
    assert s.labels_per_hour == pytest.approx(60.0, rel=1e-6)
    assert not s.done
    minutes_left = (s.eta - utcnow()).total_seconds() / 60
    assert 9.0 < minutes_left <= 10.0  # 10 labels to go at 60 an hour


def test_no_labels_in_the_window_means_no_pace(ws, tmp_path: Path) -> None:
    _project(ws, tmp_path, 5)
    _label(ws, 2, utcnow() - timedelta(hours=30), 60.0)
    s = ws.projects.status("st", window_hours=24)
    assert s.labels_per_hour is None and s.eta is None and not s.done
    assert s.window["from"] is None and s.per_annotator == []


def test_status_needs_a_known_project_and_a_positive_window(ws, tmp_path: Path) -> None:
    _project(ws, tmp_path, 2)
    with pytest.raises(ValidationError, match=r"^hours: must be positive$"):
        ws.projects.status("st", window_hours=0)
    with pytest.raises(NotFoundError, match=r"^unknown project 'nope'$"):
        ws.projects.status("nope")
