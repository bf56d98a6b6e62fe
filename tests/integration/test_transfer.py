"""Label Studio and Argilla formats, both ways: a round trip keeps every answer exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import write_jsonl

from curata.core.errors import InputError, NotFoundError

SCHEMA = {
    "questions": [
        {"type": "label", "name": "topic", "labels": ["billing", "shipping", "other"]},
        {
            "type": "label",
            "name": "flags",
            "labels": ["pii", "toxic"],
            "multiple": True,
            "required": False,
        },
        {"type": "rating", "name": "quality", "points": 5},
        {"type": "preference", "name": "better", "strength_levels": 2},
        {"type": "ranking", "name": "order", "responses": 3},
        {"type": "refusal", "name": "refuse", "categories": ["fraud"]},
        {"type": "response", "name": "rewrite"},
        {"type": "span", "name": "pii", "labels": ["EMAIL"], "required": False},
        {"type": "text", "name": "comment"},
    ]
}


def answers_for(i: int) -> dict:
    return {
        "topic": ["billing", "shipping"][i % 2],
        "flags": ["pii"],
        "quality": 1 + i % 5,
        "better": {"choice": "A", "strength": 2, "rationale": "clearer"},
        "order": [1, 2, 2],
        "refuse": {"should_refuse": True, "category": "fraud"},
        "rewrite": {"text": f"Better answer {i}"},
        "pii": [{"start": 0, "end": 4, "label": "EMAIL"}],
        "comment": "<b>verbatim</b>",
    }


@pytest.fixture
def labelled(ws, tmp_path: Path):
    rows = [{"text": f"mail {i} about my order"} for i in range(4)]
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="t")
    ws.workforce.add_user("ann1")
    ws.workforce.add_user("ann2")
    ws.projects.create("src", version="t@1", schema=SCHEMA, overlap=2, members=["ann1", "ann2"])
    ws.projects.create("dst", version="t@1", schema=SCHEMA, overlap=2, members=["ann1", "ann2"])
    i = 0
    for user in ("ann1", "ann2"):
        while (view := ws.queue.next_task("src", user)) is not None:
            ws.queue.submit(view.assignment_id, user, answers_for(i), duration_ms=1500)
            i += 1
    return ws


def _answers(ws, project: str) -> dict:
    out = {}
    for item in ws.transfer.export(project, "labelstudio"):
        for a in item["annotations"]:
            out[(item["data"]["curata_id"], a["completed_by"])] = a["result"]
    return out


@pytest.mark.parametrize("fmt", ["labelstudio", "argilla"])
def test_round_trip_keeps_every_answer(labelled, fmt: str) -> None:
    ws = labelled
    exported = ws.transfer.export("src", fmt)
    assert len(exported) == 4
    result = ws.transfer.import_("dst", json.loads(json.dumps(exported)), fmt)
    assert (result.annotations, result.skipped) == (8, 0)
    assert _answers(ws, "dst") == _answers(ws, "src")
    again = ws.transfer.import_("dst", exported, fmt)
    assert (again.annotations, again.skipped) == (0, 8)  # importing twice adds nothing
    assert ws.projects.get("dst").complete == 4


def test_labelstudio_shape(labelled) -> None:
    task = labelled.transfer.export("src", "labelstudio")[0]
    assert set(task) == {"id", "data", "annotations"}
    assert task["data"]["text"].startswith("mail") and len(task["data"]["curata_id"]) == 32
    result = {r["from_name"]: r for r in task["annotations"][0]["result"]}
    assert result["topic"]["type"] == "choices" and result["topic"]["to_name"] == "text"
    assert result["quality"]["value"]["rating"] in range(1, 6)
    assert result["pii"] == {
        "from_name": "pii",
        "to_name": "text",
        "type": "labels",
        "value": {"start": 0, "end": 4, "labels": ["EMAIL"]},
    }
    assert task["annotations"][0]["lead_time"] == 1.5


def test_argilla_shape(labelled) -> None:
    row = labelled.transfer.export("src", "argilla")[0]
    assert row["status"] == "completed"
    assert row["topic.responses.users"] == ["ann1", "ann2"]
    assert row["flags.responses"] == [["pii"], ["pii"]]
    assert row["pii.responses"][0] == [{"start": 0, "end": 4, "label": "EMAIL"}]


def test_bad_imports_add_nothing(labelled) -> None:
    ws = labelled
    items = ws.transfer.export("src", "labelstudio")
    items[2]["annotations"][0]["completed_by"] = "stranger"
    with pytest.raises(NotFoundError, match="item 3: unknown user 'stranger'"):
        ws.transfer.import_("dst", items, "labelstudio")
    items = ws.transfer.export("src", "labelstudio")
    items[1]["annotations"][1]["result"][0]["value"]["choices"] = ["weather"]
    with pytest.raises(
        InputError, match=r"item 2, record [0-9a-f]{32}, user 'ann2': question 'topic'"
    ):
        ws.transfer.import_("dst", items, "labelstudio")
    items = ws.transfer.export("src", "argilla")
    items[0]["curata_id"] = "0" * 32
    with pytest.raises(NotFoundError, match="item 1: no item of project 'dst'"):
        ws.transfer.import_("dst", items, "argilla")
    assert ws.projects.get("dst").annotations == 0
    items = ws.transfer.export("src", "labelstudio")
    items[0]["annotations"][0]["completed_by"] = "newcomer"
    result = ws.transfer.import_("dst", items, "labelstudio", create_users=True)
    assert result.users_created == ["newcomer"] and ws.workforce.get("newcomer").role == "annotator"


@pytest.mark.parametrize("fmt", ["labelstudio", "argilla"])
def test_export_leaves_out_records_above_the_clearance(ws, tmp_path: Path, fmt: str) -> None:
    ws.sources.add(
        "medical",
        kind="vendor",
        license="LicenseRef-dua",
        origin="s3://m",
        sensitivity="restricted",
    )
    ws.ingest(
        [write_jsonl(tmp_path / "a.jsonl", [{"text": "public note"}])], source="web", dataset="mix"
    )
    ws.ingest(
        [write_jsonl(tmp_path / "b.jsonl", [{"text": "patient record"}])],
        source="medical",
        dataset="mix",
        append=True,
    )
    schema = {"questions": [{"type": "label", "name": "ok", "labels": ["yes", "no"]}]}
    ws.projects.create("notes", version="mix@2", schema=schema, overlap=1)

    def texts(clearance: str | None) -> list[str]:
        items = ws.transfer.export("notes", fmt, clearance=clearance)
        return sorted((i["data"] if fmt == "labelstudio" else i)["text"] for i in items)

    assert texts("internal") == ["public note"]
    assert texts("confidential") == ["public note"]
    assert texts("restricted") == ["patient record", "public note"]
    assert texts(None) == ["patient record", "public note"]
    with pytest.raises(InputError, match="clearance: 'secret' is not one of"):
        ws.transfer.export("notes", fmt, clearance="secret")


@pytest.mark.parametrize("fmt", ["labelstudio", "argilla"])
def test_import_checks_spans_against_the_record_text(labelled, fmt: str) -> None:
    """``mail 0 about my order`` has 21 characters: a span ending at 40 is refused."""
    ws = labelled
    items = ws.transfer.export("src", fmt)
    first = items[0]
    curata_id = first["data"]["curata_id"] if fmt == "labelstudio" else first["curata_id"]
    if fmt == "labelstudio":
        pii = next(r for r in first["annotations"][0]["result"] if r["from_name"] == "pii")
        pii["value"]["end"] = 40
    else:
        first["pii.responses"][0] = [{"start": 0, "end": 40, "label": "EMAIL"}]
    message = (
        rf"item 1, record {curata_id}, user 'ann1': question 'pii': span 0: \[0, 40\) "
        r"is not inside the text \(allowed: 0 <= start < end <= 21\)"
    )
    with pytest.raises(InputError, match=message):
        ws.transfer.import_("dst", items, fmt)
    assert ws.projects.get("dst").annotations == 0
