"""`curata pii report VERSION` counts what is in that version; `action: report` changes nothing
and records each finding's type and span in the run's events (issue #12)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import write_jsonl

from curata.core.records import Record

ROWS = [
    {"text": "Write to jane.doe@example.com about the garden party next week, please."},
    {"text": "Card 4111 1111 1111 1111 was charged twice; mail bob@example.org about it today."},
    {"text": "Mail x@example.com now"},  # redacted, then dropped as too short
    {"text": "Nothing personal in this long post about gardening and growing tomatoes."},
]


def _setup(cli, tmp_path: Path, pipeline: str) -> dict:
    assert cli("init")[0] == 0
    add = ("source", "add", "forum", "--kind", "crawl", "--license", "MIT", "--origin", "x")
    assert cli(*add)[0] == 0
    data = write_jsonl(tmp_path / "forum.jsonl", ROWS)
    assert cli("ingest", data, "--source", "forum", "--dataset", "raw")[0] == 0
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(pipeline, "utf-8")
    code, out, err = cli("curate", "raw@1", "--pipeline", spec, "--out", "safe", "--json")
    assert code == 0, err
    return json.loads(out)


def test_pii_report_counts_only_the_records_of_the_version(cli, tmp_path: Path) -> None:
    run = _setup(cli, tmp_path, "steps:\n  - pii: {action: redact}\n  - length: {min_words: 5}\n")
    assert run["records_out"] == 3
    code, out, err = cli("pii", "report", "safe@1", "--json")
    assert code == 0, err
    report = json.loads(out)
    # three records were redacted, but the short one is not in safe@1
    assert report["records_with_pii"] == {"redacted": 2, "reported": 0, "dropped": 0}
    assert report["by_type"] == {
        "CREDIT_CARD": {"entities": 1, "records": 1},
        "EMAIL_ADDRESS": {"entities": 2, "records": 2},
    }
    assert report["by_source"] == {"forum": {"CREDIT_CARD": 1, "EMAIL_ADDRESS": 2}}


def test_report_action_changes_nothing_and_the_report_counts_its_findings(
    cli, tmp_path: Path
) -> None:
    run = _setup(cli, tmp_path, "steps:\n  - pii: {action: report}\n")
    assert run["records_out"] == 4
    pii = {s["name"]: s for s in run["steps"]}["pii"]
    assert pii["changed"] == 0 and pii["dropped"] == 0
    code, out, err = cli("dataset", "export", "safe@1", "--format", "jsonl", "--out",
                         tmp_path / "safe.jsonl")  # fmt: skip
    assert code == 0, err
    lines = (tmp_path / "safe.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["text"] for x in lines) == sorted(r["text"] for r in ROWS)
    code, out, _ = cli("pii", "report", "safe@1", "--json")
    report = json.loads(out)
    assert report["records_with_pii"] == {"redacted": 0, "reported": 3, "dropped": 0}
    assert report["by_type"]["EMAIL_ADDRESS"] == {"entities": 3, "records": 3}
    # the events say where each finding is: type and span, never the value
    card_text = ROWS[1]["text"]
    code, out, err = cli("why", Record.from_text(card_text).id, "--json")
    assert code == 0, err
    [event] = json.loads(out)["events"]
    assert event["action"] == "report" and event["step"] == "pii"
    spans = event["details"]["spans"]
    assert [(s["entity"], card_text[s["start"] : s["end"]]) for s in spans] == [
        ("CREDIT_CARD", "4111 1111 1111 1111"),
        ("EMAIL_ADDRESS", "bob@example.org"),
    ]
    assert all(s["field"] == "text" for s in spans)
    assert "4111" not in json.dumps(event)


def test_report_events_are_the_same_with_worker_processes(cli, tmp_path: Path) -> None:
    """The process executor replays the workers' decisions: a report is kept and recorded."""
    _setup(cli, tmp_path, "steps:\n  - pii: {action: report}\n  - length: {min_words: 5}\n")
    spec = tmp_path / "pipeline.yaml"
    code, out, err = cli("curate", "raw@1", "--pipeline", spec, "--out", "par", "--workers",
                         "2", "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["records_out"] == 3
    reports = [json.loads(cli("pii", "report", ref, "--json")[1]) for ref in ("safe@1", "par@1")]
    assert reports[0]["records_with_pii"] == {"redacted": 0, "reported": 2, "dropped": 0}
    assert reports[0]["by_type"] == reports[1]["by_type"]
    assert reports[0]["records_with_pii"] == reports[1]["records_with_pii"]
