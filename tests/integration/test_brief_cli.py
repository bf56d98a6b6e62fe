"""`curata brief` as a user runs it: create an annotation brief from the command line, read it
back as text and JSON (hostile text printed as written, not as markup), close it refused and
then as ineffective with the numbers, and one-line errors that store nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import write_jsonl

SOON = (datetime.now(UTC).date() + timedelta(days=7)).isoformat()
HOSTILE = "[bold]<script>alert('x')</script>"


def _results(tmp_path: Path, name: str, passed: int, total: int) -> Path:
    rows = [{"id": i, "passed": i < passed, "category": "refusal"} for i in range(total)]
    return write_jsonl(tmp_path / name, rows)


def _setup(cli, tmp_path: Path) -> None:
    assert cli("init")[0] == 0
    code, _, err = cli("source", "add", "web", "--kind", "crawl", "--license", "MIT",
                       "--origin", "https://example.org")  # fmt: skip
    assert code == 0, err
    rows = [{"text": f"ticket {i}", "lang": "de" if i % 2 else "en"} for i in range(4)]
    write_jsonl(tmp_path / "t.jsonl", rows)
    assert cli("ingest", str(tmp_path / "t.jsonl"), "--source", "web", "--dataset", "t")[0] == 0
    assert cli("user", "add", "boss", "--role", "lead")[0] == 0
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"questions": [
        {"type": "label", "name": "topic", "labels": ["a", "b"]}]}), "utf-8")  # fmt: skip
    code, _, err = cli("project", "create", "triage", "--version", "t@1", "--schema", str(schema))
    assert code == 0, err
    assert cli("train", "register", "--model", "m:1", "--datasets", "t@1")[0] == 0
    code, _, err = cli("eval", "ingest", "--model", "m:1",
                       str(_results(tmp_path, "base.jsonl", 48, 80)))  # fmt: skip
    assert code == 0, err


def test_create_show_list_and_close(cli, tmp_path) -> None:
    _setup(cli, tmp_path)
    base = ("brief", "create", "--type", "annotation", "--project", "triage",
            "--filter", "lang=de", "--category", "refusal", "--baseline", "1",
            "--volume", "10", "--owner", "boss", "--due", SOON)  # fmt: skip
    code, out, err = cli(*base, "--reason", HOSTILE, "--json")
    assert code == 0, err
    brief = json.loads(out)
    assert brief["status"] == "in_progress" and brief["work"]["tasks"] == 2
    assert brief["reason"] == HOSTILE and brief["evidence"] == {"eval_run": 1}
    assert brief["target"]["filter"] == {"lang": "de"}
    code, out, _ = cli("brief", "show", str(brief["id"]))
    assert code == 0 and "[bold]<script>alert('x')</script>" in out
    assert "0/2 tasks done" in out
    code, out, _ = cli("brief", "list", "--status", "active", "--json")
    assert code == 0 and [b["id"] for b in json.loads(out)] == [brief["id"]]
    code, out, _ = cli("brief", "list")
    assert code == 0 and "boss" in out and "annotation" in out
    code, _, err = cli("eval", "ingest", "--model", "m:1",
                       str(_results(tmp_path, "after.jsonl", 50, 80)))  # fmt: skip
    assert code == 0, err
    code, _, err = cli("brief", "close", str(brief["id"]), "--eval", "2")
    assert code == 1 and "not closed: refusal pass rate 60.0% (48/80" in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = cli("brief", "close", str(brief["id"]), "--eval", "2", "--ineffective",
                         "--json")  # fmt: skip
    assert code == 0, err
    outcome = json.loads(out)["outcome"]
    assert (outcome["baseline"]["passed"], outcome["follow_up"]["passed"]) == (48, 50)
    code, out, _ = cli("brief", "list", "--status", "active", "--json")
    assert json.loads(out) == []


def test_bad_input_is_one_line_and_stores_nothing(cli, tmp_path) -> None:
    _setup(cli, tmp_path)
    base = ("brief", "create", "--type", "annotation", "--project", "triage",
            "--filter", "lang=de", "--reason", "r", "--owner", "boss")  # fmt: skip
    for extra, message in [
        (("--volume", "0", "--due", SOON), "volume: must be between 1"),
        (("--volume", "5", "--due", "2001-01-01"), "due: 2001-01-01 is in the past"),
        (("--volume", "5", "--due", SOON, "--owner", "ghost"), "owner: unknown user 'ghost'"),
        (
            ("--volume", "5", "--due", SOON, "--category", "nope", "--baseline", "1"),
            "run 1 has no category 'nope'",
        ),
        (("--volume", "5", "--due", SOON, "--evidence", "[1]"), "expected a JSON object"),
        (("--volume", "5", "--due", SOON, "--labelled-by", "wave"), "expected cohort:NAME"),
    ]:
        code, _, err = cli(*base, *extra)
        assert code == 1 and message in err, (extra, err)
        assert len(err.strip().splitlines()) == 1
    code, out, _ = cli("brief", "list", "--json")
    assert code == 0 and json.loads(out) == []
    code, _, err = cli("brief", "show", "99")
    assert code == 1 and "no brief 99" in err


def test_on_a_shared_database_only_leads_and_admins_manage_briefs(
    cli, tmp_path, database_url, monkeypatch
) -> None:
    if database_url is None:
        return  # the embedded database has one user, who may do everything
    _setup(cli, tmp_path)
    assert cli("user", "add", "ann", "--role", "annotator")[0] == 0
    assert cli("project", "add-member", "triage", "boss", "ann")[0] == 0
    monkeypatch.delenv("CURATA_USER")  # the token says who acts
    ann = ("--token", cli("user", "token", "ann")[1].strip())
    boss = ("--token", cli("user", "token", "boss")[1].strip())
    args = ("brief", "create", "--type", "annotation", "--project", "triage",
            "--filter", "lang=de", "--reason", "r", "--owner", "boss",
            "--volume", "3", "--due", SOON)  # fmt: skip
    code, _, err = cli(*ann, *args)
    assert code == 1 and "project.admin: role 'annotator' may not" in err
    code, _, err = cli(*ann, "brief", "list")
    assert code == 1 and "audit.read: role 'annotator' may not" in err
    code, out, err = cli(*boss, *args, "--json")
    assert code == 0, err
    assert json.loads(out)["created_by"] == "boss"
