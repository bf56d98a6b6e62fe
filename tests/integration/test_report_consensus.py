"""One number per quantity (#12): the quality report's and drift's consensus label of an item is
the label the release gives it (same function, same method, the project's settings: gold
clamped, Dirichlet prior, outside-votes policy), not a plain Dawid-Skene of their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import write_jsonl

SCHEMA = {"questions": [{"type": "label", "name": "parity", "labels": ["even", "odd"]}]}
# record -> what both annotators answer; doc 0's known (gold) answer is "odd"
SAID = {"doc 0": "even", "doc 1": "odd", "doc 2": "even", "doc 3": "odd"}


def _project(ws, tmp_path: Path) -> None:
    rows = [{"text": text} for text in SAID]
    ws.ingest([write_jsonl(tmp_path / "p.jsonl", rows)], source="web", dataset="p")
    for name in ("ann1", "ann2"):
        ws.workforce.add_user(name, role="annotator")
    ws.projects.create("p", version="p@1", schema=SCHEMA, overlap=2, members=["ann1", "ann2"])
    ids = {r.text: i for b in ws.datasets.iter_records("p@1") for i, r in b}
    ws.projects.gold.add_items("p", [(ids["doc 0"], {"parity": "odd"})])  # gold_share 0: unseen
    for name in ("ann1", "ann2"):
        while (view := ws.queue.next_task("p", name)) is not None:
            ws.queue.submit(view.assignment_id, name, {"parity": SAID[view.record["text"]]})


def test_the_report_consensus_is_the_released_label(ws, tmp_path: Path) -> None:
    _project(ws, tmp_path)
    ref = ws.releases.release("p", aggregate="dawid-skene").version.ref
    out = tmp_path / "labels.jsonl"
    ws.export(ref, format="jsonl", out=out)
    released = {
        r["text"]: r["curata_labels"]["parity"]
        for r in map(json.loads, out.read_text().split("\n")[:-1])
    }
    # doc 0 is released with its known answer although both annotators said "even" (a plain
    # Dawid-Skene of the two answers says "even")
    assert released == {"doc 0": "odd", "doc 1": "odd", "doc 2": "even", "doc 3": "odd"}

    report = ws.quality.report("p", samples=10)
    groups = {g["group"]: g for g in report["groups"]}
    for name in ("ann1", "ann2"):
        # right on docs 1-3 against the released label; doc 0 is a gold record they met live,
        # so it is scored against its known answer, once, as a gold miss (not again here)
        assert (groups[name]["consensus_answered"], groups[name]["consensus_agreement"]) == (
            3,
            1.0,
        )
        assert (groups[name]["gold_answered"], groups[name]["gold_accuracy"]) == (1, 0.0)
    [matrix] = report["confusion"]
    assert matrix["labels"] == ["even", "odd"]  # rows: the released label; columns: the answer
    assert matrix["annotators"]["ann1"] == [[1, 0], [1, 2]]
    assert "dawid-skene" in report["labels"]["consensus"]
    assert "annotate release --aggregate dawid-skene" in report["labels"]["annotators"]

    drift = ws.quality.drift("p", by="annotator", min_segment=1)
    [series] = [s for s in drift["series"] if s["who"] == "ann1"]
    assert series["n"] == 4
    assert sum(b["n"] * b["rate"] for b in series["bins"]) == 3  # doc 0 disagrees


def test_a_label_the_release_holds_is_no_consensus_in_the_report(ws, tmp_path: Path) -> None:
    """Three good annotators voting billing / other / shipping: plain Dawid-Skene says
    `refund`, the release (policy review) holds the item without a label, so the report
    compares nobody with it; with policy allow the release says `refund` and so does the
    report."""
    from tests.integration.test_release_outside_votes import TOPICS, _label_project, _support_plan

    plan = _support_plan()
    _label_project(ws, tmp_path, "support", TOPICS, plan)
    # g1 answers 10 refund requests (every third; half of them `billing`, the other two
    # annotators `refund`), 12 other items with everyone, and item 66 (`billing`)
    mine = [i for i, votes in enumerate(plan) if "g1" in votes]
    assert len(mine) == 23
    wrong = [i for i in mine if i < 30 and plan[i]["g1"] != "refund"]
    assert len(wrong) == 5

    assert ws.releases.release("support", aggregate="dawid-skene").held == 1
    g1 = {g["group"]: g for g in ws.quality.report("support", samples=0)["groups"]}
    assert g1["g1"]["consensus_answered"] == 22  # item 66 has no label
    assert g1["g1"]["consensus_agreement"] == pytest.approx(17 / 22)

    ws.projects.set_aggregation("support", {"outside_votes": "allow"})
    g1 = {g["group"]: g for g in ws.quality.report("support", samples=0)["groups"]}
    assert g1["g1"]["consensus_answered"] == 23  # item 66 is `refund`: g1's `billing` misses
    assert g1["g1"]["consensus_agreement"] == pytest.approx(17 / 23)
