"""``--format hf`` writes what ``datasets.load_from_disk`` reads, with a fixed soft-label schema."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.conftest import write_jsonl

SCHEMA = {
    "questions": [{"type": "label", "name": "topic", "labels": ["billing", "shipping", "other"]}]
}


@pytest.fixture
def released(ws, tmp_path: Path):
    """A release of three items: votes 2:1 billing, 3:0 shipping, 1:1:1 (a tie)."""
    rows = [{"text": f"message {i}"} for i in range(3)]
    ws.ingest([write_jsonl(tmp_path / "m.jsonl", rows)], source="web", dataset="m")
    votes = {
        "message 0": ["billing", "billing", "shipping"],
        "message 1": ["shipping", "shipping", "shipping"],
        "message 2": ["billing", "shipping", "other"],
    }
    users = ["a1", "a2", "a3"]
    for user in users:
        ws.workforce.add_user(user)
    ws.projects.create("p", version="m@1", schema=SCHEMA, overlap=3, members=users)
    for position, user in enumerate(users):
        while (view := ws.queue.next_task("p", user)) is not None:
            answer = votes[view.record["text"]][position]
            ws.queue.submit(view.assignment_id, user, {"topic": answer})
    ws.releases.release("p")
    return ws


def test_hf_export_loads_with_load_from_disk(released, tmp_path: Path) -> None:
    import datasets

    out = tmp_path / "hf"
    assert released.export("p-labels@1", format="hf", out=out) == 3
    loaded = datasets.load_from_disk(str(out))
    assert isinstance(loaded, datasets.DatasetDict) and list(loaded) == ["train"]
    train = loaded["train"]
    answer = {"answer": datasets.Value("string"), "p": datasets.Value("float64")}
    assert train.features["curata_soft_labels"] == {"topic": datasets.List(answer)}
    assert train.features["text"] == datasets.Value("string")
    assert train.features["curata_labels"] == {"topic": datasets.Value("string")}
    assert train.features["curata_annotators"] == datasets.Value("int64")
    by_text = {row["text"]: row for row in train}
    soft = {
        text: {s["answer"]: s["p"] for s in row["curata_soft_labels"]["topic"]}
        for text, row in by_text.items()
    }
    assert soft["message 0"] == pytest.approx({"billing": 2 / 3, "shipping": 1 / 3})
    assert soft["message 1"] == pytest.approx({"shipping": 1.0})
    assert soft["message 2"] == pytest.approx({"billing": 1 / 3, "shipping": 1 / 3, "other": 1 / 3})
    assert by_text["message 0"]["curata_labels"] == {"topic": "billing"}
    assert by_text["message 2"]["curata_labels"] == {"topic": None}
    assert "p-labels@1" in (out / "README.md").read_text("utf-8")
    # the Hub's loader reads the same folder
    assert (
        datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache")).num_rows
        == 3
    )


def test_parquet_export_has_the_fixed_soft_label_schema(released, tmp_path: Path) -> None:
    released.export("p-labels@1", format="parquet", out=tmp_path / "x.parquet")
    field = pq.read_schema(tmp_path / "x.parquet").field("curata_soft_labels")
    assert str(field.type) == ("struct<topic: list<element: struct<answer: string, p: double>>>")
