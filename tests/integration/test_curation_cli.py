"""`curata curate`, `curata steps list` and `curata why` as a user runs them: a YAML pipeline
of built-in steps over an ingested version; pipeline mistakes are named before any data is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import write_jsonl
from tests.helpers import ingest_with_cli

ROWS = [
    {"text": "The café opened at nine and served fresh bread to the early crowd."},
    {"text": "The cafÃ© opened at nine and served fresh bread to the early crowd."},  # mojibake
    {"text": "the café  opened at nine and served fresh bread to the early crowd."},
    {"text": "Too short."},
    {"text": "A completely different sentence about trains leaving the station on time."},
]


@pytest.fixture
def raw(cli, tmp_path: Path) -> Path:
    """The directory of the test's files, with ROWS ingested as raw@1 through the CLI."""
    ingest_with_cli(cli, write_jsonl(tmp_path / "raw.jsonl", ROWS), "raw")
    return tmp_path


def test_curate_and_ask_why(cli, raw: Path) -> None:
    pipeline = raw / "pipeline.yaml"
    pipeline.write_text(
        "steps:\n  - normalize\n  - exact_dedup\n  - length: {min_words: 3}\n", "utf-8"
    )
    code, out, err = cli("curate", "raw@1", "--pipeline", pipeline, "--out", "clean", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["version"] == "clean@1" and result["records_out"] == 2
    steps = {s["name"]: s for s in result["steps"]}
    # the mojibake copy becomes the first text exactly (dropped: identical); the double space
    # only whitespace-normalised (it differs in case): exact_dedup finds it
    assert steps["normalize"]["changed"] == 1 and steps["normalize"]["dropped"] == 1
    assert steps["exact_dedup"]["dropped"] == 1
    assert steps["length"]["dropped"] == 1
    code, out, _ = cli("dataset", "export", "clean@1", "--format", "jsonl", "--out",
                       raw / "clean.jsonl")  # fmt: skip
    texts = [json.loads(line)["text"] for line in (raw / "clean.jsonl").read_text().splitlines()]
    assert texts[0] == ROWS[0]["text"] and len(texts) == 2
    # why the mojibake copy is gone: repaired by normalize into the first text itself
    code, out, _ = cli("dataset", "export", "raw@1", "--format", "jsonl", "--out",
                       raw / "raw-out.jsonl")  # fmt: skip
    ids = {
        json.loads(line)["text"]: json.loads(line)["curata_id"]
        for line in (raw / "raw-out.jsonl").read_text().splitlines()
    }
    code, out, err = cli("why", ids[ROWS[1]["text"]])
    assert code == 0, err
    said = " ".join(out.split())
    assert "removed by normalize in clean@1: normalised: unicode repaired" in said
    assert f"the result is identical to record {ids[ROWS[0]['text']]}, already in the data" in said
    # the double space: normalised into a new record, then a duplicate of the first text
    code, out, _ = cli("why", ids[ROWS[2]["text"]])
    said = " ".join(out.split())
    assert "changed into" in said and "by normalize in clean@1" in said
    assert f"removed by exact_dedup in clean@1: exact duplicate of {ids[ROWS[0]['text']]}" in said
    code, out, _ = cli("why", ids[ROWS[3]["text"]], "--json")
    [event] = json.loads(out)["events"]
    assert event["step"] == "length" and "min_words" in event["reason"]
    code, _, err = cli("why", ids[ROWS[0]["text"]])
    assert code == 1 and "no curation run removed or changed" in err


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("steps:\n  - normalise\n", ".yaml", "steps[0]: unknown step 'normalise' (available: "),
        ("steps:\n  - length: {min_words: -1}\n", ".yaml", "steps[0].length.min_words"),
        ("steps:\n  - exact_dedup: {keep: random}\n", ".yaml", "steps[0].exact_dedup.keep"),
        ("steps:\n  - normalize\n  - length: {min_wrods: 3}\n", ".yaml",
         "steps[1].length.min_wrods: Extra inputs are not permitted"),
        ("steps: [normalize\n", ".yaml", "malformed YAML"),
        ('{"steps": []}', ".json", "a pipeline is a non-empty list of steps"),
        ("pipeline: [normalize]\n", ".yaml", "unknown key 'pipeline'"),
        ("steps:\n  - decontaminate: {eval_file: /nope/eval.jsonl}\n", ".yaml",
         "steps[0].decontaminate.eval_file: no such file: /nope/eval.jsonl"),
        ("steps:\n  - language\n", ".yaml", "steps[0].language.allow: Field required"),
    ],
)  # fmt: skip
def test_pipeline_mistakes_are_named(cli, raw: Path, content, suffix, message) -> None:
    pipeline = raw / f"p{suffix}"
    pipeline.write_text(content, "utf-8")
    code, _, err = cli("curate", "raw@1", "--pipeline", pipeline, "--out", "clean")
    assert code == 1 and message in err and str(pipeline) in err
    assert cli("dataset", "show", "clean")[0] == 1  # nothing was written


def test_a_directory_is_not_a_pipeline(cli, raw: Path) -> None:
    code, _, err = cli("curate", "raw@1", "--pipeline", raw, "--out", "clean")
    assert code == 1 and "not a file (a pipeline is one YAML or JSON file)" in err


def test_steps_list(cli) -> None:
    code, out, _ = cli("steps", "list", "--json")
    steps = {s["name"]: s for s in json.loads(out)}
    assert {"normalize", "exact_dedup", "length", "field_filter"} <= set(steps)
    keep = next(p for p in steps["exact_dedup"]["params"] if p["name"] == "keep")
    assert keep["type"] == "first|longest|metadata" and keep["default"] == "first"
    assert steps["exact_dedup"]["needs_all"] is True
    code, out, _ = cli("steps", "list")
    assert code == 0 and "normalize" in out


def test_pii_is_redacted_reported_per_source_and_marks_the_source(cli, tmp_path: Path) -> None:
    assert cli("init")[0] == 0
    for name in ("forum", "tickets"):
        args = ("source", "add", name, "--kind", "crawl", "--license", "MIT", "--origin", "x")
        assert cli(*args)[0] == 0
    forum = write_jsonl(tmp_path / "forum.jsonl", [
        {"text": "Write to jane.doe@example.com or call me on +1 415 555 0132 tomorrow."},
        {"text": "Nothing personal in this post about gardening and tomatoes."},
    ])  # fmt: skip
    tickets = write_jsonl(tmp_path / "tickets.jsonl", [
        {"text": "My card 4111 1111 1111 1111 was charged twice, mail me at bob@example.org"},
    ])  # fmt: skip
    assert cli("ingest", forum, "--source", "forum", "--dataset", "raw")[0] == 0
    assert cli("ingest", tickets, "--source", "tickets", "--dataset", "raw", "--append")[0] == 0
    pipeline = tmp_path / "pii.yaml"
    pipeline.write_text("steps:\n  - pii: {action: placeholder}\n", "utf-8")
    code, out, err = cli("curate", "raw@2", "--pipeline", pipeline, "--out", "safe", "--json")
    assert code == 0, err
    assert {s["name"]: s for s in json.loads(out)["steps"]}["pii"]["changed"] == 2
    cli("dataset", "export", "safe@1", "--format", "jsonl", "--out", tmp_path / "safe.jsonl")
    texts = [json.loads(x)["text"] for x in (tmp_path / "safe.jsonl").read_text().splitlines()]
    joined = " ".join(texts)
    assert "jane.doe@example.com" not in joined and "4111 1111 1111 1111" not in joined
    assert "<EMAIL_ADDRESS_1>" in joined and "<CREDIT_CARD_1>" in joined
    code, out, _ = cli("pii", "report", "safe@1", "--json")
    report = json.loads(out)
    assert report["records_with_pii"] == {"redacted": 2, "reported": 0, "dropped": 0}
    assert report["by_type"]["EMAIL_ADDRESS"] == {"entities": 2, "records": 2}
    assert report["by_source"]["tickets"] == {"CREDIT_CARD": 1, "EMAIL_ADDRESS": 1}
    assert report["by_source"]["forum"]["EMAIL_ADDRESS"] == 1
    code, out, _ = cli("source", "list", "--json")
    status = {s["name"]: s["pii_status"] for s in json.loads(out)}
    assert status == {"forum": "present", "tickets": "present"}
    code, out, _ = cli("audit", "log", "--action", "source.pii_status", "--json")
    assert {e["object_ref"] for e in json.loads(out)} == {"forum", "tickets"}
    code, out, _ = cli("lineage", "safe@1")
    assert "via curate" in out and "pii (~2)" in out
    code, _, err = cli("pii", "report", "raw@2")
    assert code == 1 and "not made by a curation run with a pii step" in err
