"""Training and evaluation runs (#16) on SQLite and PostgreSQL: which versions trained a
checkpoint, results ingested from JSONL, CSV, lm-evaluation-harness sample logs and red-team
campaigns, pass rates per category with Wilson intervals, and bad input that stores nothing."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.conftest import text_rows, write_jsonl

from curata.core.errors import AlreadyExistsError, InputError, NotFoundError, ValidationError
from curata.store.tables import EvalResultRow, EvalRunRow

FIXTURES = Path(__file__).parents[1] / "fixtures" / "redteam"


def _trained(ws: Any, tmp_path: Path) -> None:
    """Versions sft@1, sft@2, safety@1 and a checkpoint llama:step-100 trained on sft@2."""
    write_jsonl(tmp_path / "a.jsonl", text_rows(3))
    write_jsonl(tmp_path / "b.jsonl", text_rows(3, start=3))
    ws.ingest([tmp_path / "a.jsonl"], source="web", dataset="sft")
    ws.ingest([tmp_path / "b.jsonl"], source="web", dataset="sft", append=True)
    ws.ingest([tmp_path / "a.jsonl"], source="web", dataset="safety")
    ws.evaluation.register("llama", "step-100", ["sft@2", "safety@1"], {"lr": 2e-5})


def _stored(ws: Any) -> tuple[int, int]:
    with ws._sessions() as session:
        runs = session.scalar(select(func.count()).select_from(EvalRunRow))
        results = session.scalar(select(func.count()).select_from(EvalResultRow))
        return int(runs or 0), int(results or 0)


def test_register_list_show_and_idempotence(ws, tmp_path) -> None:
    _trained(ws, tmp_path)
    k = ws.evaluation.checkpoint("llama:step-100")
    assert k.versions == ["safety@1", "sft@2"] and k.params == {"lr": 2e-5}
    assert k.registered_by == "tester" and k.eval_runs == 0
    again = ws.evaluation.register("llama", "step-100", ["safety@1", "sft@2"], {"lr": 2e-5})
    assert again == k
    with pytest.raises(AlreadyExistsError, match="other versions"):
        ws.evaluation.register("llama", "step-100", ["sft@1", "safety@1"], {"lr": 2e-5})
    with pytest.raises(AlreadyExistsError, match="other params"):
        ws.evaluation.register("llama", "step-100", ["sft@2", "safety@1"], {"lr": 1e-5})
    with pytest.raises(NotFoundError, match=r"^sft@99: no such version"):
        ws.evaluation.register("llama", "step-200", ["sft@99"])
    with pytest.raises(ValidationError, match="MODEL:CHECKPOINT"):
        ws.evaluation.checkpoint("llama-step-100")
    ws.evaluation.register("llama", "step-200", ["sft@1"])
    assert [c.name for c in ws.evaluation.checkpoints()] == ["llama:step-200", "llama:step-100"]
    assert [e.action for e in ws.audit.list(limit=1000) if e.action == "train.register"] == [
        "train.register"
    ] * 2


def test_jsonl_results_and_their_summary(ws, tmp_path) -> None:
    _trained(ws, tmp_path)
    rows = [
        {"id": "r1", "input": "hi", "output": "no", "passed": "fail", "category": "refusal",
         "judge": "gpt"},
        {"id": "r2", "input": "x", "output": "y", "passed": True, "category": "refusal"},
        {"id": "r3", "input": "x", "output": "y", "passed": 1, "category": "refusal"},
        {"id": 4, "input": "2+2", "output": "4", "score": 0.5, "passed": "PASS",
         "category": "math"},
        {"id": "m5", "input": "2+3", "output": "6", "score": 0.25, "category": "math"},
    ]  # fmt: skip
    summary = ws.evaluation.ingest("llama:step-100", write_jsonl(tmp_path / "res.jsonl", rows))
    run = summary.run
    assert (run.checkpoint, run.source_kind, run.source) == ("llama:step-100", "jsonl", "res.jsonl")
    import hashlib

    assert run.source_sha256 == hashlib.sha256((tmp_path / "res.jsonl").read_bytes()).hexdigest()
    assert run.counts == {"examples": 5, "judged": 4, "passed": 3, "categories": 2}
    by = {c.category: c for c in ws.evaluation.summary(run.id).categories}
    assert list(by) == ["math", "refusal", "all"]
    # by hand: refusal 2 of 3 passed; math 1 of 1 judged (m5 has only a score); all 3 of 4
    assert (by["refusal"].passed, by["refusal"].judged, by["refusal"].rate) == (2, 3, 2 / 3)
    assert (by["math"].examples, by["math"].judged, by["math"].rate) == (2, 1, 1.0)
    assert by["math"].mean_score == pytest.approx((0.5 + 0.25) / 2)
    assert by["all"].rate == 0.75 and by["all"].mean_score == pytest.approx(0.375)
    # Wilson (1927) interval for 2/3 at z = 1.96, computed here from its formula
    z, n, p = 1.959963984540054, 3, 2 / 3
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)
    assert (by["refusal"].low, by["refusal"].high) == pytest.approx((low, high))
    results = {e.example_id: e for e in ws.evaluation.results(run.id)}
    assert results["r1"].metadata == {"judge": "gpt"} and results["r1"].passed is False
    assert results["4"].passed is True and results["m5"].passed is None
    assert [r.id for r in ws.evaluation.runs(model_ckpt="llama:step-100")] == [run.id]
    assert ws.evaluation.checkpoint("llama:step-100").eval_runs == 1


def test_a_wilson_interval_matches_newcombes_worked_example(ws, tmp_path) -> None:
    """15 of 148: 0.0624 to 0.1605 (Newcombe 1998, Statistics in Medicine 17:857-872, Table II,
    method 3, the Wilson score interval)."""
    _trained(ws, tmp_path)
    rows = [{"id": i, "passed": i < 15, "category": "qa"} for i in range(148)]
    summary = ws.evaluation.ingest("llama:step-100", write_jsonl(tmp_path / "qa.jsonl", rows))
    qa = summary.categories[0]
    assert (qa.category, qa.passed, qa.judged) == ("qa", 15, 148)
    assert (qa.low, qa.high) == pytest.approx((0.0624, 0.1605), abs=5e-5)


def test_csv_results_keep_other_columns_as_metadata(ws, tmp_path) -> None:
    _trained(ws, tmp_path)
    path = tmp_path / "res.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "input", "output", "score", "passed", "category", "grader"])
        w.writerow(["a", "q, with comma", "out", "1.0", "true", "qa", "human"])
        w.writerow(["b", "q2", "out2", "0", "0", "qa", "model"])
        w.writerow(["c", "q3", "out3", "0.7", "", "style", ""])
    summary = ws.evaluation.ingest("llama:step-100", path)
    assert summary.run.source_kind == "csv"
    by = {c.category: c for c in summary.categories}
    assert (by["qa"].passed, by["qa"].judged) == (1, 2) and by["style"].judged == 0
    assert by["style"].rate is None and by["style"].mean_score == pytest.approx(0.7)
    results = {e.example_id: e for e in ws.evaluation.results(summary.run.id)}
    assert results["a"].input == "q, with comma" and results["a"].metadata == {"grader": "human"}


def _lm_eval_log(tmp_path: Path) -> Path:
    """A sample log as lm-evaluation-harness writes it with ``--log_samples``: one line per doc."""
    lines = [
        {"doc_id": 0, "doc": {"question": "2+2?", "answer": "4"}, "target": "4",
         "arguments": {"gen_args_0": {"arg_0": "Q: 2+2?\nA:", "arg_1": {"until": ["\n"]}}},
         "resps": [["4"]], "filtered_resps": ["4"], "filter": "strict-match",
         "metrics": ["exact_match"], "doc_hash": "a", "prompt_hash": "b", "target_hash": "c",
         "exact_match": 1.0},
        {"doc_id": 1, "doc": {"question": "3+3?", "answer": "6"}, "target": "6",
         "arguments": {"gen_args_0": {"arg_0": "Q: 3+3?\nA:", "arg_1": {"until": ["\n"]}}},
         "resps": [["5"]], "filtered_resps": ["5"], "filter": "strict-match",
         "metrics": ["exact_match"], "exact_match": 0.0},
        {"doc_id": 2, "doc": {"question": "1+1?", "answer": "2"}, "target": "2",
         "arguments": [["Q: 1+1?\nA:", " 2"]], "resps": [[[-0.1, True]]],
         "filtered_resps": [[-0.1, True]], "acc": 1},
    ]  # fmt: skip
    return write_jsonl(tmp_path / "samples_gsm8k_2024-05-01T12-00-00.123456.jsonl", lines)


def test_lm_eval_sample_logs(ws, tmp_path) -> None:
    _trained(ws, tmp_path)
    summary = ws.evaluation.ingest("llama:step-100", _lm_eval_log(tmp_path))
    assert summary.run.source_kind == "lm-eval"
    gsm = summary.categories[0]
    assert (gsm.category, gsm.examples, gsm.passed, gsm.judged) == ("gsm8k", 3, 2, 3)
    results = {e.example_id: e for e in ws.evaluation.results(summary.run.id)}
    assert results["0"].input == "Q: 2+2?\nA:" and results["1"].output == "5"
    assert results["1"].metadata["target"] == "6" and results["1"].metadata["metric"] == (
        "exact_match"
    )
    assert results["2"].input == "Q: 1+1?\nA:" and results["2"].metadata["metric"] == "acc"


@pytest.mark.parametrize(
    ("name", "lines", "message"),
    [
        ("results.jsonl", ['{"id": "a", "passed": true}', '{"id": "b", "passed": "maybe"}'],
         "results.jsonl:2: field 'passed': 'maybe' is not pass/fail/true/false/1/0"),
        ("results.jsonl", ['{"id": "a", "passed": 1}', "", '{"id": "a", "passed": 0}'],
         "results.jsonl:3: field 'id': duplicate id 'a' (first on line 1)"),
        ("results.jsonl", ['{"id": "a", "score": NaN}'],
         "results.jsonl:1: field 'score': nan is not a finite number"),
        ("results.jsonl", ['{"id": "a", "score": Infinity}'],
         "results.jsonl:1: field 'score': inf is not a finite number"),
        ("results.jsonl", ['{"id": "a", "category": "x"}'],
         "results.jsonl:1: field 'score': needs a score or passed"),
        ("results.jsonl", ['{"id": "a", "passed": 1}', "{not json"],
         "results.jsonl:2: not valid JSON"),
        ("results.csv", ["id,score", "a,0.5", "b,nan"],
         "results.csv:3: field 'score': 'nan' is not a finite number"),
        ("results.csv", ["id,passed", "a,pass", "b,ok"],
         "results.csv:3: field 'passed': 'ok' is not pass/fail/true/false/1/0"),
        ("results.csv", ["id,passed", "a,pass", "a,fail"],
         "results.csv:3: field 'id': duplicate id 'a' (first on line 2)"),
        ("samples_mmlu_2024-01-01T00-00-00.jsonl", ['{"doc_id": 0, "acc": 1}',
                                                    '{"doc_id": 0, "acc": 0}'],
         "samples_mmlu_2024-01-01T00-00-00.jsonl:2: field 'id': duplicate id '0'"),
        ("samples_mmlu_2024-01-01T00-00-00.jsonl", ['{"doc_id": 0}'],
         "samples_mmlu_2024-01-01T00-00-00.jsonl:1: no metric field"),
    ],
)  # fmt: skip
def test_bad_input_names_file_line_and_field_and_stores_nothing(
    ws, tmp_path, name: str, lines: list[str], message: str
) -> None:
    _trained(ws, tmp_path)
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        ws.evaluation.ingest("llama:step-100", path)
    assert str(info.value).startswith(message)
    assert _stored(ws) == (0, 0)


def test_unknown_checkpoint_or_bad_name_stores_nothing(ws, tmp_path) -> None:
    _trained(ws, tmp_path)
    path = write_jsonl(tmp_path / "ok.jsonl", [{"id": 1, "passed": True}])
    with pytest.raises(NotFoundError, match="llama:step-9: no such checkpoint"):
        ws.evaluation.ingest("llama:step-9", path)
    with pytest.raises(ValidationError, match="expected MODEL:CHECKPOINT"):
        ws.evaluation.ingest("llama", path)
    with pytest.raises(ValidationError, match="expected MODEL:CHECKPOINT"):
        ws.evaluation.register("llama", "", ["sft@1"])
    assert _stored(ws) == (0, 0)


def test_a_red_team_campaign_is_an_evaluation_source(ws, tmp_path) -> None:
    _trained(ws, tmp_path)
    ws.redteam.import_attacks(FIXTURES / "curata_attacks.jsonl", dataset="mixed", source="web")
    campaign = ws.campaigns.create(attacks="mixed", target="scripted")
    ws.campaigns.run(campaign.id)
    attempts = list(ws.campaigns.iter_attempts(campaign.id))
    summary = ws.evaluation.ingest_campaign("llama:step-100", campaign.id)
    assert (summary.run.source_kind, summary.run.source) == ("redteam", campaign.id)
    judged = [a for a in attempts if a.verdict in ("breach", "refused", "safe")]
    overall = summary.categories[-1]
    assert overall.examples == len(attempts) and overall.judged == len(judged)
    assert overall.passed == sum(not a.failed for a in judged)
    for row in summary.categories[:-1]:
        mine = [a for a in judged if a.category == row.category]
        assert row.passed == sum(not a.failed for a in mine) and row.judged == len(mine)
    assert any(not a.failed for a in judged) and any(a.failed for a in judged)
    results = ws.evaluation.results(summary.run.id)
    assert {r.metadata["verdict"] for r in results} == {a.verdict for a in attempts}
    with pytest.raises(NotFoundError):
        ws.evaluation.ingest_campaign("llama:step-100", "no-such-campaign")
    assert _stored(ws)[0] == 1
    assert json.dumps(summary.to_dict())
