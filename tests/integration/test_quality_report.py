"""`curata quality report`: gold accuracy with Wilson intervals, agreement with the consensus,
and flags, on a project labelled by careful annotators and planted spammers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.conftest import write_jsonl

from curata.core.errors import NotFoundError, ValidationError
from curata.stats.proportions import wilson_interval
from curata.store.tables import TaskRow


@pytest.fixture
def labelled(ws, tmp_path: Path):
    """Three careful annotators (c2 slips on every third item) in an internal cohort, two
    spammers from vendor acme who always answer "spam"; 24 items, overlap 5, 4 gold items."""
    rows = [{"text": f"item {i}"} for i in range(24)]
    ws.ingest([write_jsonl(tmp_path / "q.jsonl", rows)], source="web", dataset="qr")
    for name in ("c1", "c2", "c3"):
        ws.workforce.add_user(name, cohorts=["in-house"])
    for name in ("s1", "s2"):
        ws.workforce.add_user(name, vendor="acme", cohorts=["acme-wave-1"])
    people = ["c1", "c2", "c3", "s1", "s2"]
    schema = {"questions": [{"type": "label", "name": "topic", "labels": ["ok", "bad", "spam"]}]}
    ws.projects.create("qr", version="qr@1", schema=schema, overlap=5, members=people,
                       gold_share=0.99)  # fmt: skip
    ws.queue.reseed(7)  # gold first: a record met as gold is never served live (#12)
    ws.projects.guidelines.publish("qr", "# v1")
    ids = {r.text: i for b in ws.datasets.iter_records("qr@1") for i, r in b}
    ws.projects.gold.add_items(
        "qr", [(ids[f"item {i}"], {"topic": "ok" if i % 2 else "bad"}) for i in range(4)]
    )
    for name in people:
        while (view := ws.queue.next_task("qr", name)) is not None:
            n = int(view.record["text"].split()[1])
            truth = "ok" if n % 2 else "bad"
            slipped = name.startswith("s") or (name == "c2" and n % 3 == 0)
            said = "spam" if slipped else truth
            ws.queue.submit(view.assignment_id, name, {"topic": said})
    return ws


def test_the_planted_spammers_are_flagged(labelled) -> None:
    report = labelled.quality.report("qr")
    assert report["flagged"] == ["s1", "s2"]
    rows = {g["group"]: g for g in report["groups"]}
    assert rows["c1"]["gold_accuracy"] == 1.0 and rows["c1"]["gold_answered"] == 4
    assert rows["s1"]["gold_by_question"]["topic"]["answered"] == 4
    assert rows["s1"]["gold_by_question"]["topic"]["accuracy"] == 0.0
    assert rows["s1"]["gold_accuracy"] == 0.0
    # Wilson 95% for 0/4 and 4/4: [0, 0.490] and [0.510, 1], so the two cannot overlap
    assert rows["s1"]["gold_high"] < 0.5 < rows["c1"]["gold_low"]
    assert rows["c1"]["consensus_agreement"] == 1.0
    assert rows["s1"]["estimated_accuracy"] < 0.3 < 0.9 < rows["c3"]["estimated_accuracy"]
    assert "Dawid-Skene" in rows["s2"]["flags"][0]


def test_grouped_by_vendor_cohort_and_guideline(labelled) -> None:
    quality = labelled.quality
    vendors = {g["group"]: g for g in quality.report("qr", by="vendor")["groups"]}
    assert set(vendors) == {"acme", "(internal)"}
    assert vendors["acme"]["gold_answered"] == 8 and vendors["acme"]["gold_accuracy"] == 0.0
    cohorts = {g["group"] for g in quality.report("qr", by="cohort")["groups"]}
    assert cohorts == {"in-house", "acme-wave-1"}
    guidelines = quality.report("qr", by="guideline")["groups"]
    assert [g["group"] for g in guidelines] == ["qr@v1"]
    with pytest.raises(ValidationError, match="by: 'team' is not one of"):
        quality.report("qr", by="team")
    with pytest.raises(NotFoundError, match="unknown project 'nope'"):
        quality.report("nope")


def test_the_report_from_the_command_line(labelled, capsys, monkeypatch) -> None:
    from curata.cli.main import main

    monkeypatch.delenv("CURATA_DATABASE_URL", raising=False)  # the workspace's own config
    home = str(labelled.home)
    assert main(["--home", home, "quality", "report", "qr", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["flagged"] == ["s1", "s2"]
    page = labelled.home / "report.html"
    assert (
        main(["--home", home, "quality", "report", "qr", "--by", "vendor", "--html", str(page)])
        == 0
    )
    out = capsys.readouterr().out
    assert "acme" in out and "(internal)" in out and "HTML report with charts" in out
    assert "<svg" in page.read_text("utf-8")
    assert main(["--home", home, "quality", "report", "qr", "--confidence", "2"]) == 1
    assert "confidence: must be between 0 and 1" in capsys.readouterr().err


def test_the_html_report_draws_intervals_and_escapes_names(labelled, tmp_path) -> None:
    from curata.quality.html import render_report

    data = labelled.quality.report("qr")
    hostile = "<script>alert(1)</script>"  # hostile names, shown as text
    data["groups"][0]["group"] = hostile
    data["over_time"][0]["who"] = hostile
    matrices = data["confusion"][0]["annotators"]
    matrices[hostile] = matrices.pop(next(iter(matrices)))
    page = render_report(data)
    assert page.startswith("<!doctype html>") and "<script>" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4
    assert page.count("<svg") == 3  # gold accuracy, consensus, agreement over time
    # one dot per group with gold answers, one per group with consensus answers, and one per
    # cohort and time bin
    with_gold = sum(g["gold_accuracy"] is not None for g in data["groups"])
    with_consensus = sum(g["consensus_agreement"] is not None for g in data["groups"])
    bins = sum(len(s["bins"]) for s in data["over_time"])
    assert len(data["over_time"]) == 2  # two cohorts, one question
    assert page.count("<circle") == with_gold + with_consensus + bins
    # five annotators, one question: five confusion matrices of 3 x 3
    assert page.count('<table class="cm">') == 5
    assert "#c0392b" in page  # flagged annotators are drawn in red
    assert "Flagged" in page and "Dawid-Skene" in page


def test_agreement_per_question_type_through_the_report(ws, tmp_path: Path) -> None:
    """Three annotators who give identical answers, varied across items, agree perfectly on
    every question type: every statistic is 1 (span texts come from the record store, written
    responses through MiniLM). One changed rating brings the rating statistics below 1."""
    rows = [{"prompt": f"q{i}", "response": f"Paris and Lyon, take {i}"} for i in range(6)]
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="typed")
    people = ["x", "y", "z"]
    for name in people:
        ws.workforce.add_user(name)
    schema = {
        "questions": [
            {"type": "rating", "name": "helpful", "points": 5},
            {"type": "preference", "name": "better"},
            {"type": "ranking", "name": "order", "responses": 3},
            {"type": "span", "name": "places", "labels": ["LOC"], "field": "response"},
            {"type": "response", "name": "rewrite"},
            {"type": "text", "name": "note", "required": False},
        ]
    }
    ws.projects.create("typed", version="typed@1", schema=schema, overlap=3, members=people)
    orders = [[1, 2, 3], [3, 1, 2], [2, 3, 1]]
    for name in people:
        while (view := ws.queue.next_task("typed", name)) is not None:
            i = int(view.record["prompt"][1:])
            rating = (i % 5) + 1
            if name == "z" and i == 0:
                rating = 5  # the one disagreement
            spans = [{"start": 0, "end": 5, "label": "LOC"}]
            if i % 2:
                spans.append({"start": 10, "end": 14, "label": "LOC"})
            answers = {
                "helpful": rating,
                "better": {"choice": "AB"[i % 2]},
                "order": orders[i % 3],
                "places": spans,
                "rewrite": {"text": ["The capital of France.", "Stock prices fell today."][i % 2]},
            }
            ws.queue.submit(view.assignment_id, name, answers)
    data = ws.quality.report("typed", samples=50)
    got = {q["question"]: q for q in data["agreement"]}
    assert list(got) == ["helpful", "better", "order", "places", "rewrite", "note"]
    values = {(q, s["name"]): s["value"] for q in got for s in got[q].get("statistics", [])}
    for name in ("better", "order", "places", "rewrite"):
        stats = [v for (q, _), v in values.items() if q == name]
        assert stats and all(v == pytest.approx(1.0, abs=1e-6) for v in stats), name
    assert values[("order", "kendall_w")] == pytest.approx(1.0)
    assert values[("places", "token_f1")] == pytest.approx(1.0)
    assert values[("rewrite", "embedding_cosine")] == pytest.approx(1.0, abs=1e-5)
    helpful = [v for (q, _), v in values.items() if q == "helpful"]
    assert helpful and all(v < 1.0 for v in helpful)
    assert "skipped" in got["note"]
    for s in got["helpful"]["statistics"]:
        assert s["units"] == 6
        if s["low"] is not None:
            assert s["low"] <= s["value"] + 1e-9 and s["high"] <= 1.0 + 1e-9


def test_gold_accuracy_per_question_in_the_html() -> None:
    from curata.quality.html import render_report

    def q(right: int, n: int) -> dict:
        low, high = wilson_interval(right, n)
        return {"answered": n, "accuracy": right / n, "low": low, "high": high}

    group = {
        "group": "ann", "annotations": 10, "gold_answered": 8, "gold_accuracy": 0.75,
        "gold_low": 0.4, "gold_high": 0.93, "consensus_answered": 0,
        "consensus_agreement": None, "consensus_low": None, "consensus_high": None,
        "estimated_accuracy": None, "flags": [],
        "gold_by_question": {"tone": q(4, 4), "topic": q(2, 4)},
    }  # fmt: skip
    page = render_report({"project": "p", "by": "annotator", "confidence": 0.95,
                          "groups": [group]})  # fmt: skip
    assert "Gold accuracy per question" in page
    # Wilson 95% for 2 of 4: [0.150, 0.850] (Newcombe 1998, method 3)
    assert "50% of 4 (0.15-0.85)" in page and "100% of 4" in page


@pytest.fixture
def reviewed(ws, tmp_path: Path):
    """Two annotators on four items: a says x x y y, b says x y y x; a reviewer fixes b's
    answer on item 3 to y, and a lead adjudicates item 1 to y. Returns (ws, item 1's task)."""
    rows = [{"text": f"item {i}"} for i in range(4)]
    ws.ingest([write_jsonl(tmp_path / "r.jsonl", rows)], source="web", dataset="rv")
    for name in ("a", "b"):
        ws.workforce.add_user(name)
    ws.workforce.add_user("rev", role="reviewer")
    ws.workforce.add_user("boss", role="lead")
    schema = {"questions": [{"type": "label", "name": "topic", "labels": ["x", "y"]}]}
    ws.projects.create("rv", version="rv@1", schema=schema, overlap=2, owner="boss",
                       members=["a", "b", "rev", "boss"])  # fmt: skip
    said = {"a": "xxyy", "b": "xyyx"}
    to_fix = None
    for name in ("a", "b"):
        while (view := ws.queue.next_task("rv", name)) is not None:
            n = int(view.record["text"].split()[1])
            done = ws.queue.submit(view.assignment_id, name, {"topic": said[name][n]})
            if name == "b" and n == 3:
                to_fix = done.annotation_id
    ws.reviews.decide(to_fix, "rev", "fix", answers={"topic": "y"}, reason="it is y")
    record = {r.text: i for b in ws.datasets.iter_records("rv@1") for i, r in b}["item 1"]
    with ws.projects.sessions() as session:
        task = session.scalar(select(TaskRow.id).where(TaskRow.record_id == record))
    ws.reviews.adjudicate(task, "boss", {"topic": "y"}, reason="policy")
    return ws


def test_the_gate_the_report_and_the_release_read_the_same_final_labels(reviewed) -> None:
    """Krippendorff's nominal alpha on the final labels (x,x) (x,y) (y,y) (y,y): with
    o_xy = o_yx = 1, n_x = 3, n_y = 5, n = 8, alpha = 1 - (n - 1) * 2 / (2 n_x n_y)
    = 1 - 14/30 = 0.5333 (Krippendorff 2011, section A). Without the reviewer's fix
    (x,x) (x,y) (y,y) (y,x) it would be 1 - 28/32 = 0.125."""
    ws = reviewed
    report = ws.quality.report("rv", samples=0)
    assert "final labels after review" in report["labels"]["agreement"]
    [topic] = report["agreement"]
    alpha = {s["name"]: s["value"] for s in topic["statistics"]}["krippendorff_alpha_nominal"]
    assert alpha == pytest.approx(8 / 15, abs=1e-9)
    ws.projects.set_gates("rv", {"alpha": {"topic": 0.9}})
    with pytest.raises(ValidationError, match="blocked by 1 quality gate") as blocked:
        ws.releases.release("rv")
    assert "alpha[topic] (nominal) >= 0.9: measured 0.533" in str(blocked.value)
    assert "final labels after review" in str(blocked.value)
    released = ws.releases.release("rv", override="pilot", by="boss")
    [gate] = released.gates
    assert gate.measured == pytest.approx(alpha, abs=1e-12)
    assert "final labels after review" in gate.to_dict()["labels"]


def test_consensus_and_confusion_use_the_adjudication_and_score_what_was_submitted(
    reviewed,
) -> None:
    """Item 1 was adjudicated to y, so it is y in the consensus; each annotator's own answer
    (b's x on item 3, before the fix) is what their confusion matrix and agreement count."""
    report = reviewed.quality.report("rv", samples=0)
    assert "as submitted" in report["labels"]["annotators"]
    [matrix] = report["confusion"]
    assert matrix["labels"] == ["x", "y"]
    # rows: the item's final label (x, y, y, y); columns: the annotator's own answer
    assert matrix["annotators"] == {"a": [[1, 0], [1, 2]], "b": [[1, 0], [1, 2]]}
    rows = {g["group"]: g for g in report["groups"]}
    assert rows["a"]["consensus_agreement"] == 0.75 and rows["b"]["consensus_agreement"] == 0.75


def test_the_command_line_says_which_labels_it_read(reviewed, capsys, monkeypatch) -> None:
    from curata.cli.main import main

    monkeypatch.delenv("CURATA_DATABASE_URL", raising=False)  # the workspace's own config
    home = str(reviewed.home)
    assert main(["--home", home, "quality", "report", "rv", "--samples", "0"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "Agreement reads the final labels after review" in out
    assert "Annotator scores read each annotator's own answers as submitted" in out
    assert out.count("Krippendorff's alpha (nominal)") == 1
    assert "Fleiss' kappa (nominal)" in out  # every statistic, each once, with its level
    assert main(["--home", home, "quality", "report", "rv", "--json", "--samples", "0"]) == 0
    labels = json.loads(capsys.readouterr().out)["labels"]
    assert labels["agreement"].startswith("final labels after review")
    assert main(["--home", home, "quality", "drift", "rv", "--json"]) == 0
    assert "as submitted" in json.loads(capsys.readouterr().out)["labels"]["annotators"]


def test_preferences_score_choice_and_strength_apart_and_read_as_written(
    ws, tmp_path: Path, capsys, monkeypatch
) -> None:
    """p always answers "A, strength 1", q "A, strength 2", and the gold answer is "A,
    strength 2": both chose right (gold accuracy 100%); p's strength is 1 off. Confusion
    matrices compare choices (the consensus is a choice, strength scored apart against gold),
    labelled as people wrote them, not Python dicts."""
    from curata.quality.html import render_report

    rows = [{"prompt": f"q{i}", "response": f"r{i}"} for i in range(5)]
    ws.ingest([write_jsonl(tmp_path / "p.jsonl", rows)], source="web", dataset="pp")
    for name in ("p", "q"):
        ws.workforce.add_user(name)
    schema = {"questions": [{"type": "preference", "name": "better", "strength_levels": 2}]}
    ws.projects.create("pp", version="pp@1", schema=schema, overlap=2, members=["p", "q"],
                       gold_share=0.99)  # fmt: skip
    ws.queue.reseed(7)
    ids = {r.prompt: i for b in ws.datasets.iter_records("pp@1") for i, r in b}
    ws.projects.gold.add_items("pp", [(ids["q0"], {"better": {"choice": "A", "strength": 2}})])
    for name, strength in (("p", 1), ("q", 2)):
        while (view := ws.queue.next_task("pp", name)) is not None:
            said = {"better": {"choice": "A", "strength": strength}}
            ws.queue.submit(view.assignment_id, name, said)
    report = ws.quality.report("pp", samples=0)
    rows_by = {g["group"]: g for g in report["groups"]}
    for name, off in (("p", 1.0), ("q", 0.0)):
        assert rows_by[name]["gold_answered"] >= 1 and rows_by[name]["gold_accuracy"] == 1.0
        strength = rows_by[name]["gold_strength"]["better"]
        assert strength["mean_abs_diff"] == off and strength["compared"] >= 1
        assert strength["exact"] == (1.0 if off == 0 else 0.0)
    [matrix] = report["confusion"]
    assert matrix["labels"] == ["A"] and matrix["values"] == ["A"]
    page = render_report(report)
    assert "<th>A</th>" in page and "{&#x27;choice" not in page
    from curata.cli.main import main

    monkeypatch.delenv("CURATA_DATABASE_URL", raising=False)  # the workspace's own config
    assert main(["--home", str(ws.home), "quality", "report", "pp", "--samples", "0"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "strength, p on better: off by 1.00 on average from gold, 0% exact" in out


def test_a_fixed_gold_answer_is_fixed_on_its_live_copy_and_scored_once(ws, tmp_path) -> None:
    """a answers the gold copy of record 0 wrong (y, gold x) and a reviewer fixes it: the
    copy that counts for record 0's live item carries the fix (agreement reads x), while a's
    gold accuracy still counts the miss, once."""
    from curata.annotation.final import counted_annotations

    rows = [{"text": f"item {i}"} for i in range(3)]
    ws.ingest([write_jsonl(tmp_path / "g.jsonl", rows)], source="web", dataset="gc")
    for name in ("a", "b"):
        ws.workforce.add_user(name)
    ws.workforce.add_user("rev", role="reviewer")
    schema = {"questions": [{"type": "label", "name": "topic", "labels": ["x", "y"]}]}
    ws.projects.create("gc", version="gc@1", schema=schema, overlap=2, members=["a", "b", "rev"],
                       gold_share=0.99)  # fmt: skip
    ws.queue.reseed(7)
    ids = {r.text: i for b in ws.datasets.iter_records("gc@1") for i, r in b}
    ws.projects.gold.add_items("gc", [(ids["item 0"], {"topic": "x"})])
    missed = None
    for name in ("a", "b"):
        while (view := ws.queue.next_task("gc", name)) is not None:
            said = "y" if name == "a" and view.record["text"] == "item 0" else "x"
            done = ws.queue.submit(view.assignment_id, name, {"topic": said})
            if said == "y":
                missed = done.annotation_id
    assert missed is not None
    ws.reviews.decide(missed, "rev", "fix", answers={"topic": "x"}, reason="gold says x")
    with ws.projects.sessions() as session:
        project_id = session.scalar(select(TaskRow.project_id).where(TaskRow.kind == "gold"))
        counted = counted_annotations(session, project_id=project_id)
    copies = sorted((c.submitted["topic"], c.answers["topic"], c.kind) for c in counted if c.copied)
    assert copies == [("x", "x", "live"), ("y", "x", "live")]  # b's, and a's with the fix
    report = ws.quality.report("gc", samples=0)
    a = {g["group"]: g for g in report["groups"]}["a"]
    assert (a["gold_answered"], a["gold_accuracy"]) == (1, 0.0)
    assert a["annotations"] == 3  # three records, the copy not counted again
    [topic] = report["agreement"]
    assert {s["name"]: s["value"] for s in topic["statistics"]}["percent_agreement"] == 1.0
