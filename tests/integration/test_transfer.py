"""Label Studio and Argilla formats, both ways: a round trip keeps every answer exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_jsonl

from curata.annotation.interchange import argilla_user_id
from curata.annotation.transfer import read_export
from curata.core.errors import (
    AlreadyExistsError,
    InputError,
    NotFoundError,
    ValidationError,
)

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
    ws.workforce.add_user("rev", role="reviewer")
    ws.workforce.add_user("lead", role="lead")
    ws.projects.create(
        "src", version="t@1", schema=SCHEMA, overlap=2, members=["ann1", "ann2", "rev", "lead"]
    )
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
            out[(item["data"]["curata_id"], a["completed_by"])] = [
                {k: v for k, v in r.items() if k != "id"} for r in a["result"]
            ]
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
    ws = labelled
    task = ws.transfer.export("src", "labelstudio")[0]
    assert set(task) == {"id", "data", "meta", "annotations"}
    assert task["data"]["text"] == "mail 0 about my order" and len(task["data"]["curata_id"]) == 32
    ann1, ann2 = ws.workforce.get("ann1").id, ws.workforce.get("ann2").id
    assert [a["completed_by"] for a in task["annotations"]] == [ann1, ann2]
    assert task["meta"]["curata"]["annotators"] == {str(ann1): "ann1", str(ann2): "ann2"}
    first = task["annotations"][0]
    result = {r["from_name"]: r for r in first["result"]}
    assert result["topic"]["type"] == "choices" and result["topic"]["to_name"] == "text"
    assert result["quality"]["value"]["rating"] in range(1, 6)
    assert result["pii"]["value"] == {"start": 0, "end": 4, "labels": ["EMAIL"], "text": "mail"}
    assert (result["pii"]["type"], result["pii"]["to_name"]) == ("labels", "text")
    assert json.loads(result["better"]["value"]["text"][0]) == answers_for(0)["better"]
    ids = [r["id"] for a in task["annotations"] for r in a["result"]]
    assert len(set(ids)) == len(ids) and all(len(i) == 10 for i in ids)
    assert first["lead_time"] == 1.5 and first["ground_truth"] is False


def test_argilla_shape(labelled) -> None:
    record = labelled.transfer.export("src", "argilla")[0]
    assert len(record["id"]) == 32 and record["fields"] == {"text": "mail 0 about my order"}
    assert record["status"] == "completed"
    users = [argilla_user_id("ann1"), argilla_user_id("ann2")]
    assert [r["user_id"] for r in record["responses"]["topic"]] == users
    assert [r["value"] for r in record["responses"]["flags"]] == [["pii"], ["pii"]]
    assert record["responses"]["pii"][0]["value"] == [{"start": 0, "end": 4, "label": "EMAIL"}]
    assert record["suggestions"] == {}


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
    items[0]["id"] = "0" * 32
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
        return sorted((i["data"] if fmt == "labelstudio" else i["fields"])["text"] for i in items)

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
    curata_id = first["data"]["curata_id"] if fmt == "labelstudio" else first["id"]
    if fmt == "labelstudio":
        pii = next(r for r in first["annotations"][0]["result"] if r["from_name"] == "pii")
        pii["value"]["end"] = 40
    else:
        first["responses"]["pii"][0]["value"] = [{"start": 0, "end": 40, "label": "EMAIL"}]
    message = (
        rf"item 1, record {curata_id}, user 'ann1': question 'pii': span 0: \[0, 40\) "
        r"is not inside the text \(allowed: 0 <= start < end <= 21\)"
    )
    with pytest.raises(InputError, match=message):
        ws.transfer.import_("dst", items, fmt)
    assert ws.projects.get("dst").annotations == 0


def test_adjudication_checks_spans_against_the_record_text(labelled) -> None:
    """An adjudicator's span is held to the record's text like an annotator's: ``mail 1 about
    my order`` has 21 characters, so a span ending at 40 is refused and nothing is recorded."""
    ws = labelled
    second = ws.transfer.export("src", "labelstudio")[1]
    settled = {**answers_for(1), "pii": [{"start": 0, "end": 40, "label": "EMAIL"}]}
    message = (
        rf"task {second['id']}: question 'pii': span 0: \[0, 40\) is not inside the text "
        r"\(allowed: 0 <= start < end <= 21\)"
    )
    with pytest.raises(ValidationError, match=message):
        ws.reviews.adjudicate(second["id"], "lead", settled, reason="settled")
    assert ws.reviews.history(second["id"]) == []
    inside = {**answers_for(1), "pii": [{"start": 0, "end": 4, "label": "EMAIL"}]}
    assert ws.reviews.adjudicate(second["id"], "lead", inside)["answers"]["pii"] == [
        {"start": 0, "end": 4, "label": "EMAIL"}
    ]


def _reviewed(ws) -> tuple[dict, dict]:
    """A reviewer fixes ann1's topic on the first item to 'other'; a lead settles the second
    item's answers with topic 'shipping' and no flags. Returns (first task, second task)."""
    first, second = ws.transfer.export("src", "labelstudio")[:2]
    mine = next(a for a in first["annotations"] if a["completed_by"] == ws.workforce.get("ann1").id)
    fixed = {**answers_for(0), "topic": "other"}
    ws.reviews.decide(mine["id"], "rev", "fix", answers=fixed)
    settled = {**answers_for(1), "topic": "shipping", "flags": None}
    ws.reviews.adjudicate(second["id"], "lead", settled, reason="settled")
    return first, second


def test_labelstudio_export_carries_fixed_and_adjudicated_answers(labelled) -> None:
    ws = labelled
    first, second = _reviewed(ws)
    ann1, lead = ws.workforce.get("ann1").id, ws.workforce.get("lead").id
    tasks = {t["id"]: t for t in ws.transfer.export("src", "labelstudio")}

    def topic(annotation: dict) -> list[str]:
        return next(r for r in annotation["result"] if r["from_name"] == "topic")["value"][
            "choices"
        ]

    by_user = {a["completed_by"]: a for a in tasks[first["id"]]["annotations"]}
    assert topic(by_user[ann1]) == ["other"]  # the reviewer's fix, not ann1's 'billing'
    settled = [a for a in tasks[second["id"]]["annotations"] if a["ground_truth"]]
    assert [(a["completed_by"], topic(a)) for a in settled] == [(lead, ["shipping"])]
    assert not any(r["from_name"] == "flags" for r in settled[0]["result"])


def test_argilla_export_carries_fixed_and_adjudicated_answers(labelled) -> None:
    ws = labelled
    first, second = _reviewed(ws)
    records = {r["id"]: r for r in ws.transfer.export("src", "argilla")}
    one = records[first["data"]["curata_id"]]
    by_user = {r["user_id"]: r["value"] for r in one["responses"]["topic"]}
    assert by_user[argilla_user_id("ann1")] == "other"
    two = records[second["data"]["curata_id"]]
    assert two["suggestions"]["topic"] == {"value": "shipping", "score": 1.0, "agent": "lead"}
    assert "flags" not in two["suggestions"]


def test_labelstudio_folder_passes_label_studio_sdk(labelled, tmp_path: Path) -> None:
    """The labeling config parses and validates in Label Studio's SDK, and every annotation
    (an adjudication included) is valid against it."""
    from label_studio_sdk.label_interface import LabelInterface

    ws = labelled
    _reviewed(ws)
    out = tmp_path / "ls"
    assert ws.transfer.write("src", "labelstudio", out) == 4
    config = LabelInterface((out / "label_config.xml").read_text("utf-8"))
    config.validate()
    assert {c.name for c in config.controls} == {q["name"] for q in SCHEMA["questions"]}
    assert config.get_control("topic").labels == ["billing", "shipping", "other"]
    assert [o.name for o in config.objects] == ["text"]
    tasks = json.loads((out / "tasks.json").read_text("utf-8"))
    assert sum(a["ground_truth"] for t in tasks for a in t["annotations"]) == 1
    for task in tasks:
        assert all(task["data"].get(o.value_name) for o in config.objects)
        for annotation in task["annotations"]:
            assert config.validate_prediction(annotation, return_errors=True) == []
            assert isinstance(annotation["completed_by"], int)
    result = ws.transfer.import_("dst", read_export(out, "labelstudio"), "labelstudio")
    assert (result.annotations, result.skipped) == (8, 0)  # the adjudication is not a vote
    with pytest.raises(AlreadyExistsError, match="already exists"):
        ws.transfer.write("src", "labelstudio", out)


def _offline_argilla() -> Any:
    """Argilla's SDK builds settings only with a client, and a client logs in first: this one
    answers that login (GET /api/v1/me) and nothing else, so no server is needed."""
    import argilla as rg
    import httpx

    def login(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/me":
            user = {"id": "00000000-0000-0000-0000-000000000001", "username": "test"}
            return httpx.Response(200, json={**user, "role": "owner"})
        return httpx.Response(404, json={"detail": "offline"})

    return rg.Argilla(
        api_url="http://argilla.invalid",
        api_key="offline",
        mounts={"all://": httpx.MockTransport(login)},
    )


def test_argilla_folder_loads_with_argilla_sdk(labelled, tmp_path: Path) -> None:
    """What ``rg.Dataset.from_disk`` reads: the settings, the dataset model and the records."""
    import argilla as rg
    from argilla._models import DatasetModel

    ws = labelled
    first, second = _reviewed(ws)
    out = tmp_path / "argilla"
    assert ws.transfer.write("src", "argilla", out) == 4
    client = _offline_argilla()
    settings = rg.Settings.from_json(out / ".argilla" / "settings.json")
    questions = {q.name: q for q in settings.questions}
    assert isinstance(questions["topic"], rg.LabelQuestion)
    assert questions["topic"].labels == ["billing", "shipping", "other"]
    assert isinstance(questions["flags"], rg.MultiLabelQuestion)
    assert isinstance(questions["quality"], rg.RatingQuestion)
    assert questions["quality"].values == [1, 2, 3, 4, 5]
    assert isinstance(questions["pii"], rg.SpanQuestion) and questions["pii"].field == "text"
    assert isinstance(questions["better"], rg.TextQuestion)
    assert [f.name for f in settings.fields] == ["text"]
    assert settings.distribution.min_submitted == 2
    model = DatasetModel(**json.loads((out / ".argilla" / "dataset.json").read_text("utf-8")))
    assert model.name == "src"
    raw = json.loads((out / "records.json").read_text("utf-8"))
    dataset = rg.Dataset(name=model.name, settings=settings, client=client)
    records = {r.id: r for r in (rg.Record.from_dict(d, dataset=dataset) for d in raw)}
    one = records[first["data"]["curata_id"]]
    assert one.fields["text"] == "mail 0 about my order"
    by_user = {str(r.user_id): r.value for r in one.responses["topic"]}
    assert set(by_user) == {argilla_user_id("ann1"), argilla_user_id("ann2")}
    assert by_user[argilla_user_id("ann1")] == "other"  # the reviewer's fix
    assert records[second["data"]["curata_id"]].suggestions["topic"].value == "shipping"
    for record in records.values():
        for response in record.responses:
            question = questions[response.question_name]
            if isinstance(question, rg.MultiLabelQuestion):
                assert set(response.value) <= set(question.labels)
            elif isinstance(question, rg.LabelQuestion):
                assert response.value in question.labels
        record.api_model()  # the SDK's models accept every record against the settings
    result = ws.transfer.import_("dst", read_export(out, "argilla"), "argilla")
    assert (result.annotations, result.skipped) == (8, 0)


@pytest.mark.parametrize(
    ("row", "objects"),
    [
        ({"prompt": "Where is my parcel?", "response": "It ships today."}, ["prompt", "response"]),
        (
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "yo"},
                ]
            },
            ["messages"],
        ),
    ],
)
def test_pair_and_chat_records_export_for_both_tools(
    ws, tmp_path: Path, row: dict, objects: list[str]
) -> None:
    from label_studio_sdk.label_interface import LabelInterface

    ws.ingest([write_jsonl(tmp_path / "r.jsonl", [row])], source="web", dataset="r")
    ws.workforce.add_user("ann1")
    schema = {
        "questions": [
            {"type": "label", "name": "topic", "labels": ["billing", "shipping"]},
            {"type": "rating", "name": "quality", "points": 3},
        ]
    }
    ws.projects.create("p", version="r@1", schema=schema, overlap=1, members=["ann1"])
    view = ws.queue.next_task("p", "ann1")
    ws.queue.submit(view.assignment_id, "ann1", {"topic": "shipping", "quality": 2})
    ws.transfer.write("p", "labelstudio", tmp_path / "ls")
    config = LabelInterface((tmp_path / "ls" / "label_config.xml").read_text("utf-8"))
    config.validate()
    assert [o.name for o in config.objects] == objects
    [task] = json.loads((tmp_path / "ls" / "tasks.json").read_text("utf-8"))
    [annotation] = task["annotations"]
    assert config.validate_prediction(annotation, return_errors=True) == []
    assert {r["to_name"] for r in annotation["result"]} == {objects[0]}
    ws.transfer.write("p", "argilla", tmp_path / "ar")
    settings = json.loads((tmp_path / "ar" / ".argilla" / "settings.json").read_text("utf-8"))
    assert [(f["name"], f["type"]) for f in settings["fields"]] == [
        (name, "chat" if name == "messages" else "text") for name in objects
    ]
    [record] = json.loads((tmp_path / "ar" / "records.json").read_text("utf-8"))
    assert record["fields"] == row
