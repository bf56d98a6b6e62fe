"""`curata train` and `curata eval` as a user runs them: register a checkpoint, ingest results
files and a red-team campaign, read pass rates back as tables and as JSON, and get one-line
errors that store nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import text_rows, write_jsonl

FIXTURES = Path(__file__).parents[1] / "fixtures" / "redteam"


def _setup(cli, tmp_path: Path) -> None:
    assert cli("init")[0] == 0
    code, _, err = cli("source", "add", "web", "--kind", "crawl", "--license", "MIT",
                       "--origin", "https://example.org")  # fmt: skip
    assert code == 0, err
    write_jsonl(tmp_path / "a.jsonl", text_rows(3))
    for dataset in ("sft", "safety"):
        code, _, err = cli("ingest", str(tmp_path / "a.jsonl"), "--source", "web",
                           "--dataset", dataset)  # fmt: skip
        assert code == 0, err


def test_train_register_list_show(cli, tmp_path) -> None:
    _setup(cli, tmp_path)
    params = tmp_path / "params.json"
    params.write_text('{"lr": 0.0001, "epochs": 2}', encoding="utf-8")
    args = ("train", "register", "--model", "llama:step-1", "--datasets", "sft@1", "safety@1",
            "--params", str(params), "--json")  # fmt: skip
    code, out, err = cli(*args)
    assert code == 0, err
    data = json.loads(out)
    assert data["name"] == "llama:step-1" and data["versions"] == ["safety@1", "sft@1"]
    assert data["params"] == {"lr": 0.0001, "epochs": 2}
    assert cli(*args)[0] == 0  # the same again: a no-op
    code, _, err = cli("train", "register", "--model", "llama:step-1", "--datasets", "sft@1")
    assert code == 1 and err.startswith("error: llama:step-1 is already registered")
    code, _, err = cli("train", "register", "--model", "llama:step-2", "--datasets", "sft@99")
    assert code == 1 and err.startswith("error: sft@99: no such version")
    code, _, err = cli("train", "register", "--model", "llama", "--datasets", "sft@1")
    assert code == 1 and "expected MODEL:CHECKPOINT" in err and len(err.splitlines()) == 1
    code, out, _ = cli("train", "list", "--json")
    assert code == 0 and [k["name"] for k in json.loads(out)] == ["llama:step-1"]
    code, out, _ = cli("train", "list")
    assert code == 0 and "llama:step-1" in out and "safety@1, sft@1" in out
    code, out, _ = cli("train", "show", "llama:step-1")
    assert code == 0 and "trained on" in out and '"epochs": 2' in out


def test_eval_ingest_list_show(cli, tmp_path) -> None:
    _setup(cli, tmp_path)
    assert cli("train", "register", "--model", "m:c", "--datasets", "sft@1,safety@1")[0] == 0
    rows = [{"id": i, "passed": i % 4 != 0, "category": "qa" if i < 8 else "refusal"}
            for i in range(12)]  # fmt: skip
    results = write_jsonl(tmp_path / "results.jsonl", rows)
    code, out, err = cli("eval", "ingest", "--model", "m:c", str(results), "--json")
    assert code == 0, err
    data = json.loads(out)
    run_id = data["run"]["id"]
    by = {c["category"]: c for c in data["categories"]}
    # by hand: qa ids 0..7 fail at 0 and 4 (6/8); refusal 8..11 fails at 8 (3/4); all 9/12
    assert (by["qa"]["passed"], by["qa"]["judged"]) == (6, 8)
    assert (by["refusal"]["passed"], by["refusal"]["judged"]) == (3, 4)
    assert by["all"]["rate"] == 0.75 and 0 < by["all"]["low"] < 0.75 < by["all"]["high"] < 1
    code, out, _ = cli("eval", "show", str(run_id))
    assert code == 0 and "refusal" in out and "75.0%" in out and "95% interval" in out
    assert json.loads(cli("eval", "show", str(run_id), "--json")[1]) == data
    code, out, _ = cli("eval", "list", "--model", "m:c", "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == [run_id]
    code, out, _ = cli("eval", "list")
    assert code == 0 and "m:c" in out and "9/12" in out

    bad = tmp_path / "bad.csv"
    bad.write_text("id,passed\na,pass\nb,maybe\n", encoding="utf-8")
    code, _, err = cli("eval", "ingest", "--model", "m:c", str(bad))
    assert code == 1
    assert err == "error: bad.csv:3: field 'passed': 'maybe' is not pass/fail/true/false/1/0\n"
    code, _, err = cli("eval", "ingest", "--model", "m:c")
    assert code == 1 and "either a results FILE or --campaign" in err
    assert len(json.loads(cli("eval", "list", "--json")[1])) == 1


def test_eval_ingest_a_red_team_campaign(cli, tmp_path) -> None:
    _setup(cli, tmp_path)
    assert cli("train", "register", "--model", "m:c", "--datasets", "sft@1")[0] == 0
    code, _, err = cli("redteam", "import", str(FIXTURES / "curata_attacks.jsonl"),
                       "--dataset", "mixed", "--source", "web")  # fmt: skip
    assert code == 0, err
    code, out, err = cli("redteam", "run", "--attacks", "mixed", "--target", "scripted", "--json")
    assert code == 0, err
    campaign = json.loads(out)
    code, out, err = cli("eval", "ingest", "--model", "m:c", "--campaign", campaign["id"],
                         "--json")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["run"]["source_kind"] == "redteam" and data["run"]["source"] == campaign["id"]
    assert data["categories"][-1]["examples"] == sum(campaign["verdicts"].values())
