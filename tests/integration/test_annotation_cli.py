"""Annotation from the command line: users, tokens, projects, guidelines, and `curata serve`."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.conftest import write_jsonl
from tests.helpers import free_port, ingest_with_cli

SCHEMA = {
    "questions": [
        {"type": "preference", "name": "better"},
        {"type": "refusal", "name": "refuse", "categories": ["violence", "fraud"]},
    ]
}


@pytest.fixture
def pairs(cli, tmp_path: Path):
    """The ``cli`` fixture, its workspace holding pairs@1 (four prompt/response pairs), and
    SCHEMA in ``schema.json``."""
    rows = [{"prompt": f"p{i}", "response": f"r{i}"} for i in range(4)]
    ingest_with_cli(cli, write_jsonl(tmp_path / "p.jsonl", rows), "pairs")
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA), "utf-8")
    return cli


def test_users_projects_and_guidelines(pairs, tmp_path: Path) -> None:
    cli = pairs
    code, out, err = cli(
        "user", "add", "ann", "--vendor", "acme", "--cohort", "wave-1", "--language", "fr"
    )
    assert code == 0, err
    assert cli("user", "add", "lead", "--role", "lead")[0] == 0
    assert cli("user", "add", "x", "--role", "boss")[0] == 2
    users = json.loads(cli("user", "list", "--json")[1])
    users = [u for u in users if u["name"] != "cli-tester"]  # a shared database's first admin
    assert [(u["name"], u["vendor"], u["cohorts"]) for u in users] == [
        ("ann", "acme", ["wave-1"]),
        ("lead", None, []),
    ]
    code, token, _ = cli("user", "token", "ann")
    assert code == 0 and token.startswith("cur_")
    code, out, err = cli(
        "project",
        "create",
        "prefs",
        "--version",
        "pairs@1",
        "--schema",
        tmp_path / "schema.json",
        "--overlap",
        "3",
        "--owner",
        "lead",
        "--member",
        "ann",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["tasks"] == 4
    shown = json.loads(cli("project", "show", "prefs", "--json")[1])
    assert (shown["overlap"], shown["owner"], shown["members"]) == (3, "lead", ["ann", "lead"])
    assert "prefs" in cli("project", "list")[1]
    code, out, _ = cli("project", "set", "prefs", "--overlap", "2")
    assert code == 0 and "overlap 2" in out
    (tmp_path / "g.md").write_text("# Guideline\nPrefer honest answers.", "utf-8")
    assert cli("guideline", "publish", "prefs", tmp_path / "g.md", "--note", "first")[0] == 0
    g = json.loads(cli("guideline", "show", "prefs", "--json")[1])
    assert g["version"] == 1 and "honest" in g["body"]
    code, out, err = cli("annotate", "release", "prefs", "--json")
    assert code == 0, err
    released = json.loads(out)
    assert released["version"]["ref"] == "prefs-labels@1" and released["unlabelled"] == 4
    status = json.loads(cli("tasks", "status", "prefs", "--json")[1])
    assert (status["items"], status["labels_needed"], status["eta"]) == (4, 8, None)
    assert "labels/hour" in cli("tasks", "status", "prefs")[1]
    code, out, err = cli("annotate", "release", "prefs", "--aggregate", "dawid-skene", "--json")
    assert code == 0 and json.loads(out)["version"]["ref"] == "prefs-labels@2", err
    code, _, err = cli("annotate", "release", "prefs", "--aggregate", "mode")
    assert code == 2 and "mode" in err
    code, out, err = cli("project", "recalibrate", "prefs", "ann", "--reason", "retrained")
    assert code == 0 and "takes calibration on prefs again" in out, err
    code, _, err = cli("project", "recalibrate", "prefs", "nobody")
    assert code != 0 and "'nobody'" in err
    assert json.loads(cli("user", "revoke", "ann", "--json")[1]) == {"user": "ann", "revoked": 1}


def test_bad_schema_files_are_named(pairs, tmp_path: Path) -> None:
    cli = pairs
    bad = tmp_path / "bad.json"
    bad.write_text('{"questions": [\n  {"type": "label",}\n]}', "utf-8")
    code, _, err = cli("project", "create", "p", "--version", "pairs@1", "--schema", bad)
    assert code == 1 and f"{bad}:2: malformed JSON" in err
    bad.write_text(json.dumps({"questions": [{"type": "label", "name": "l"}]}), "utf-8")
    code, _, err = cli("project", "create", "p", "--version", "pairs@1", "--schema", bad)
    assert code == 1 and "schema: questions.0.label.labels: Field required" in err


def _idle_connection_survives(port: int, idle_s: float) -> bool:
    """Whether a keep-alive connection still answers after ``idle_s`` seconds of silence."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/health")
        conn.getresponse().read()
        time.sleep(idle_s)
        try:
            conn.request("GET", "/health")
            return conn.getresponse().status == 200
        except (http.client.RemoteDisconnected, ConnectionError):
            return False
    finally:
        conn.close()


@pytest.mark.parametrize(("workers", "keep_alive"), [("1", ["--keep-alive", "1"]), ("2", [])])
def test_serve_starts_the_api(pairs, workers: str, keep_alive: list[str]) -> None:
    """The workspace from `pairs` (CURATA_HOME and the database come from the environment).
    Idle connections stay open for --keep-alive seconds (75 by default: annotators pause
    between items longer than uvicorn's 5 s default)."""
    port = free_port()
    env = {**os.environ, "LANCE_LOG": "error"}
    exe = str(Path(sys.executable).with_name("curata"))
    proc = subprocess.Popen(
        [exe, "serve", "--port", str(port), "--workers", workers, *keep_alive],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its workers too can be ended, whatever happens
    )
    try:
        deadline = time.monotonic() + 60  # two workers importing everything on a busy machine
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "curata serve did not answer"
                time.sleep(0.2)
        assert r.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/me").status_code == 401
        assert httpx.get(f"http://127.0.0.1:{port}/login").status_code == 200  # the web app
        assert _idle_connection_survives(port, 2.5) is (not keep_alive)
    finally:
        # the whole group: a worker left behind would hold the database's connections
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


def test_gold_file_is_all_or_nothing(pairs, tmp_path: Path) -> None:
    from curata.core.records import Record

    cli = pairs
    cli("user", "add", "ann")
    code, _, err = cli(
        "project",
        "create",
        "prefs",
        "--version",
        "pairs@1",
        "--schema",
        tmp_path / "schema.json",
        "--member",
        "ann",
        "--review",
        "all",
    )
    assert code == 0, err
    ids = [Record.from_pair(f"p{i}", f"r{i}").id for i in range(3)]
    answers = {"better": "A", "refuse": {"should_refuse": False}}
    gold = tmp_path / "gold.jsonl"
    lines = [
        {"record_id": ids[0], "answers": answers},
        {"record_id": ids[1], "answers": answers},
        {"record_id": ids[2], "answers": {**answers, "better": "Z"}},
    ]
    text = [json.dumps(x) for x in lines]
    gold.write_text("\n".join([*text[:2], "", text[2]]) + "\n", "utf-8")  # item 3 on line 4
    code, _, err = cli("project", "gold", "prefs", gold)
    assert code == 1 and f"{gold}:4: record {ids[2]}: gold answers: question 'better'" in err
    assert json.loads(cli("project", "show", "prefs", "--json")[1])["gold_tasks"] == 0
    gold.write_text(json.dumps({"record_id": "nope", "answers": answers}) + "\n", "utf-8")
    code, _, err = cli("project", "gold", "prefs", gold)  # one item: still its file line
    assert code == 1 and f"{gold}:1: record nope is not an item of project 'prefs'" in err
    gold.write_text("\n".join(json.dumps(x) for x in lines[:2]) + "\n", "utf-8")
    assert cli("project", "gold", "prefs", gold)[0] == 0
    shown = json.loads(cli("project", "show", "prefs", "--json")[1])
    assert shown["gold_tasks"] == 2 and shown["review"]["mode"] == "all"


def test_gates_block_a_release_until_the_owner_overrides(pairs, tmp_path: Path) -> None:
    cli = pairs
    users = json.loads(cli("user", "list", "--json")[1])
    if not users:  # the CLI's own user (on a shared database, init made it the admin)
        assert cli("user", "add", "cli-tester", "--role", "lead")[0] == 0
    assert cli("user", "add", "ann")[0] == 0
    code, _, err = cli(
        "project", "create", "gated", "--version", "pairs@1", "--schema",
        tmp_path / "schema.json", "--owner", "cli-tester", "--member", "ann",
    )  # fmt: skip
    assert code == 0, err
    code, _, err = cli("project", "gate", "gated", "--alpha", "better")
    assert code == 1 and "--alpha 'better': expected QUESTION=NUMBER" in err
    code, out, err = cli(
        "project", "gate", "gated", "--min-annotations", "2", "--gold-accuracy", "0.9", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["gates"] == {"gold_accuracy": 0.9, "min_annotations": 2}
    code, _, err = cli("annotate", "release", "gated")
    assert code == 1 and "blocked by 2 quality gate(s)" in err
    assert "min_annotations >= 2: not measurable (no labelled items)" in err
    code, _, err = cli("annotate", "release", "gated", "--reason", "x")
    assert code == 1 and "--reason goes with --override-gates" in err
    code, out, err = cli(
        "annotate", "release", "gated", "--override-gates", "--reason", "empty pilot", "--json"
    )
    assert code == 0, err
    assert [g["passed"] for g in json.loads(out)["gates"]] == [False, False]
    log = json.loads(cli("audit", "log", "--action", "release.gate_override", "--json")[1])
    assert log[0]["actor"] == "cli-tester" and log[0]["details"]["reason"] == "empty pilot"
    assert cli("project", "gate", "gated", "--clear")[0] == 0
