"""`curata quality drift`: a simulated annotator who turns careless after a date is found,
with since when; steady annotators (good or bad) are not; a guideline published at the
change is named; the HTML page and the report carry agreement over time per cohort."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import write_jsonl

from curata.core.errors import NotFoundError, ValidationError
from curata.quality.html import render_drift, render_report
from curata.timeutil import as_utc


@pytest.fixture
def simulated(ws, tmp_path: Path):
    rows = [{"text": f"ticket {i}"} for i in range(80)]
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="tickets")
    schema = {"questions": [{"type": "label", "name": "topic", "labels": ["a", "b", "c", "d"]}]}
    ws.projects.create("sim", version="tickets@1", schema=schema, overlap=5, gold_share=0.2)
    planted = {"good": 4, "careless": 1, "spammer": 1, "drifter": 1}
    sim = ws.quality.simulate("sim", planted, seed=5, gold_fraction=0.1)
    return ws, sim


def test_the_drifter_is_found_and_no_one_else(simulated) -> None:
    ws, sim = simulated
    data = ws.quality.drift("sim", by="annotator")
    assert [a["who"] for a in data["alerts"]] == sim.drifting
    alert = data["alerts"][0]
    assert alert["question"] == "topic" and alert["rate_before"] - alert["rate_after"] > 0.3
    assert alert["probability"] >= 0.99
    lo, hi = (as_utc(__import__("datetime").datetime.fromisoformat(t)) for t in alert["window"])
    assert sim.drift_at is not None
    # the planted date lies within an hour of the credible window (labels come every ~3.5 min)
    assert lo.timestamp() - 3600 <= sim.drift_at.timestamp() <= hi.timestamp() + 3600
    assert "no guideline change coincides" in alert["message"]
    # steady careless and spammer annotators are the quality report's business, not drift's
    assert {s["who"] for s in data["series"]} == set(sim.roles)


def test_a_guideline_published_at_the_change_is_named(ws, tmp_path: Path) -> None:
    rows = [{"text": f"t {i}"} for i in range(60)]
    ws.ingest([write_jsonl(tmp_path / "g.jsonl", rows)], source="web", dataset="g")
    ws.workforce.add_user("ann", cohorts=["wave-1"])
    ws.workforce.add_user("ref", cohorts=["wave-1"])
    schema = {"questions": [{"type": "label", "name": "tone", "labels": ["pos", "neg"]}]}
    ws.projects.create("g", version="g@1", schema=schema, overlap=2, members=["ann", "ref"])
    ws.projects.guidelines.publish("g", "# v1")
    done = 0
    while (view := ws.queue.next_task("g", "ref")) is not None:
        ws.queue.submit(view.assignment_id, "ref", {"tone": "pos"})
    while (view := ws.queue.next_task("g", "ann")) is not None:
        if done == 30:
            ws.projects.guidelines.publish("g", "# v2: 'neutral' now counts as neg")
        said = "pos" if done < 30 or done % 4 == 0 else "neg"
        ws.queue.submit(view.assignment_id, "ann", {"tone": said})
        done += 1
    data = ws.quality.drift("g", by="both")
    who = {(a["kind"], a["who"]) for a in data["alerts"]}
    assert ("annotator", "ann") in who
    alert = next(a for a in data["alerts"] if a["who"] == "ann")
    assert alert["guideline_versions"] == [2] and "coincides with guideline v2" in alert["message"]
    assert alert["labels_before"] == pytest.approx(30, abs=3)


def test_report_and_html_carry_time_series_and_confusion(simulated) -> None:
    ws, sim = simulated
    report = ws.quality.report("sim")
    cohorts = {s["who"] for s in report["over_time"]}
    assert cohorts == {"sim-5"}
    bins = report["over_time"][0]["bins"]
    assert sum(b["n"] for b in bins) == report["over_time"][0]["n"] > 0
    [matrix] = report["confusion"]
    assert matrix["labels"] == ["a", "b", "c", "d"]
    spammer = next(n for n, r in sim.roles.items() if r == "spammer")
    rows = matrix["annotators"][spammer]
    assert all(row[1:] == [0, 0, 0] for row in rows)  # always the first label
    page = render_report(report)
    assert "Agreement over time per cohort" in page and "<polyline" in page
    assert "Confusion matrices" in page
    drift_page = render_drift(ws.quality.drift("sim"))
    assert "Alerts" in drift_page and drift_page.count("<polyline") >= 2


def test_drift_errors_and_the_command_line(simulated, capsys, monkeypatch, tmp_path) -> None:
    ws, sim = simulated
    with pytest.raises(ValidationError, match="question 'mood': not a single-choice question"):
        ws.quality.drift("sim", question="mood")
    with pytest.raises(ValidationError, match="by: 'team' is not one of"):
        ws.quality.drift("sim", by="team")
    with pytest.raises(NotFoundError, match="unknown project"):
        ws.quality.drift("nope")
    from curata.cli.main import main

    monkeypatch.delenv("CURATA_DATABASE_URL", raising=False)
    home = str(ws.home)
    page = tmp_path / "drift.html"
    args = ["--home", home, "quality", "drift", "sim", "--by", "annotator"]
    assert main([*args, "--json", "--html", str(page)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [a["who"] for a in data["alerts"]] == sim.drifting
    assert page.read_text("utf-8").startswith("<!doctype html>")
    assert main([*args, "--fail-on-alert"]) == 3
    assert "fell from" in capsys.readouterr().out


def test_a_guideline_published_long_after_the_drop_is_not_named(ws, tmp_path: Path) -> None:
    rows = [{"text": f"t {i}"} for i in range(70)]
    ws.ingest([write_jsonl(tmp_path / "g.jsonl", rows)], source="web", dataset="late")
    for name in ("ann", "ref"):
        ws.workforce.add_user(name)
    schema = {"questions": [{"type": "label", "name": "tone", "labels": ["pos", "neg"]}]}
    ws.projects.create("late", version="late@1", schema=schema, overlap=2, members=["ann", "ref"])
    ws.projects.guidelines.publish("late", "# v1")
    while (view := ws.queue.next_task("late", "ref")) is not None:
        ws.queue.submit(view.assignment_id, "ref", {"tone": "pos"})
    done = 0
    while (view := ws.queue.next_task("late", "ann")) is not None:
        if done == 60:  # v2 comes thirty labels after the drop, not at it
            ws.projects.guidelines.publish("late", "# v2")
        said = "pos" if done < 30 or done % 4 == 0 else "neg"
        ws.queue.submit(view.assignment_id, "ann", {"tone": said})
        done += 1
    alert = next(a for a in ws.quality.drift("late")["alerts"] if a["who"] == "ann")
    assert alert["guideline_versions"] == [] and "no guideline change coincides" in alert["message"]


def test_items_labelled_by_one_person_say_nothing_about_drift(ws, tmp_path: Path) -> None:
    """With overlap 1 the consensus of a live item is its only label: such items are left out
    (an annotator would always agree with themself), so only gold answers count."""
    rows = [{"text": f"t {i}"} for i in range(40)]
    ws.ingest([write_jsonl(tmp_path / "o.jsonl", rows)], source="web", dataset="one")
    ws.workforce.add_user("solo")
    schema = {"questions": [{"type": "label", "name": "tone", "labels": ["pos", "neg"]}]}
    ws.projects.create("one", version="one@1", schema=schema, members=["solo"])
    done = 0
    while (view := ws.queue.next_task("one", "solo")) is not None:
        ws.queue.submit(view.assignment_id, "solo", {"tone": "pos" if done < 20 else "neg"})
        done += 1
    data = ws.quality.drift("one")
    assert data["series"] == [] and data["alerts"] == []


def test_the_dashboards_overview_is_the_reports_and_the_drift_from_one_read(simulated) -> None:
    """``QualityService.overview`` (what the lead dashboard computes) gives what the separate
    report and drift calls give, from one read of the annotations and one consensus."""
    ws, _sim = simulated
    data, reports, drift = ws.quality.overview("sim", by=("cohort", "vendor", "annotator"),
                                               samples=50)  # fmt: skip
    assert len(data.rows) == len(ws.quality.annotations("sim").rows) > 0
    for grouping in ("cohort", "vendor", "annotator"):
        assert reports[grouping] == ws.quality.report("sim", by=grouping, samples=50)
    assert drift == ws.quality.drift("sim", by="both")
    with pytest.raises(ValidationError):
        ws.quality.overview("sim", by=("planet",))
