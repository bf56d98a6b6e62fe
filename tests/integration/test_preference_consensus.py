"""Preference consensus (#12): a preference is aggregated on its choice (strength apart, the
median of those who chose the winner; rationales not voted on) and a ranking on its candidates'
mean ranks (Borda), so annotators who agree on the choice or nearly on the order give a label
and a training pair, whatever else differs in their answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_jsonl

PEOPLE = ("ann1", "ann2", "ann3")
PREFERENCE = {"questions": [{"type": "preference", "name": "better", "strength_levels": 3}]}
# prompt -> (candidates, each annotator's answer naming the candidate by its text)
PAIRS: dict[str, tuple[list[str], list[dict[str, Any]]]] = {
    "Capital of France?": (
        ["Paris.", "Lyon."],
        [
            {"choice": "Paris.", "strength": 1, "rationale": "short"},
            {"choice": "Paris.", "strength": 3, "rationale": "clearly right"},
            {"choice": "Lyon.", "strength": 2},
        ],
    ),
    "Boiling point of water?": (
        ["About 90 C.", "100 degrees Celsius."],
        [
            {"choice": "100 degrees Celsius.", "strength": 2, "rationale": "exact"},
            {"choice": "100 degrees Celsius.", "strength": 2, "rationale": "correct value"},
            {"choice": "100 degrees Celsius.", "strength": 3},
        ],
    ),
}
RANKING = {"questions": [{"type": "ranking", "name": "order", "responses": 3}]}
# prompt -> (candidates, each annotator's ranks in candidate order)
RANKS: dict[str, tuple[list[str], list[list[int]]]] = {
    "Rank the greetings.": (["hello", "hi", "yo"], [[1, 2, 3], [1, 3, 2], [2, 1, 3]]),
    "Rank the farewells.": (["bye", "ciao", "later"], [[1, 2, 3], [2, 1, 3], [2, 2, 1]]),
}


def _answer_pairs(ws, project: str) -> None:
    for column, user in enumerate(PEOPLE):
        while (view := ws.queue.next_task(project, user)) is not None:
            _, answers = PAIRS[view.record["prompt"]]
            answer = dict(answers[column])
            answer["choice"] = next(
                c["letter"] for c in view.record["responses"] if c["text"] == answer["choice"]
            )
            ws.queue.submit(view.assignment_id, user, {"better": answer})


def _answer_ranks(ws, project: str) -> None:
    for column, user in enumerate(PEOPLE):
        while (view := ws.queue.next_task(project, user)) is not None:
            texts, answers = RANKS[view.record["prompt"]]
            rank = dict(zip(texts, answers[column], strict=True))
            shown = {c["letter"]: rank[c["text"]] for c in view.record["responses"]}
            ws.queue.submit(view.assignment_id, user, {"order": shown})


def _project(ws, tmp_path: Path, name: str, rows: list[dict[str, Any]], schema: Any) -> None:
    ws.ingest([write_jsonl(tmp_path / f"{name}.jsonl", rows)], source="web", dataset=name)
    for user in PEOPLE:
        ws.workforce.add_user(user, role="annotator")
    ws.projects.create(name, version=f"{name}@1", schema=schema, overlap=3, members=list(PEOPLE))


def _labels(ws, ref: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / f"{ref.replace('@', '-')}.jsonl"
    ws.export(ref, format="jsonl", out=out)
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    return {r["prompt"]: (r["curata_labels"], r["curata_confidence"]) for r in rows}


@pytest.mark.parametrize("method", ["majority", "dawid-skene"])
def test_a_preference_is_released_on_its_choice_with_the_median_strength(
    ws, tmp_path: Path, method: str
) -> None:
    rows = [{"prompt": p, "responses": texts} for p, (texts, _) in PAIRS.items()]
    _project(ws, tmp_path, "pairs", rows, PREFERENCE)
    _answer_pairs(ws, "pairs")
    ref = ws.releases.release("pairs", aggregate=method).version.ref
    labels = _labels(ws, ref, tmp_path)
    # Paris (A) by two of three, strengths 1 and 3; 100 degrees (B) by all, strengths 2, 2, 3
    assert labels["Capital of France?"][0] == {"better": {"choice": "A", "strength": 2}}
    assert labels["Boiling point of water?"][0] == {"better": {"choice": "B", "strength": 2}}
    if method == "majority":
        assert labels["Capital of France?"][1] == {"better": pytest.approx(2 / 3)}
        assert labels["Boiling point of water?"][1] == {"better": 1.0}


def test_the_cli_dpo_export_keeps_pairs_that_differ_only_in_strength_or_rationale(
    cli, tmp_path: Path
) -> None:
    from curata.workspace import Workspace

    assert cli("init")[0] == 0
    with Workspace.open(cli.home) as ws:  # type: ignore[attr-defined]
        ws.sources.add("web", kind="crawl", license="CC-BY-4.0", origin="https://example.org")
        rows = [{"prompt": p, "responses": texts} for p, (texts, _) in PAIRS.items()]
        _project(ws, tmp_path, "pairs", rows, PREFERENCE)
        _answer_pairs(ws, "pairs")
        ref = ws.releases.release("pairs").version.ref
    out = tmp_path / "dpo.jsonl"
    code, stdout, stderr = cli("dataset", "export", ref, "--format", "dpo", "--out", out)
    assert code == 0, stderr
    assert stdout.strip() == f"Exported 2 dpo rows from 2 of 2 records (plain) to {out}"
    pairs = {
        r["prompt"]: (r["chosen"], r["rejected"])
        for r in map(json.loads, out.read_text("utf-8").splitlines())
    }
    assert pairs == {
        "Capital of France?": ("Paris.", "Lyon."),
        "Boiling point of water?": ("100 degrees Celsius.", "About 90 C."),
    }


def test_a_ranking_is_released_in_mean_rank_order(ws, tmp_path: Path) -> None:
    rows = [{"prompt": p, "responses": texts} for p, (texts, _) in RANKS.items()]
    _project(ws, tmp_path, "ranks", rows, RANKING)
    _answer_ranks(ws, "ranks")
    ref = ws.releases.release("ranks").version.ref
    labels = _labels(ws, ref, tmp_path)
    # greetings: mean ranks hello 4/3, hi 2, yo 8/3 -> [1, 2, 3] though no two rankings match;
    # of the 3 pairs x 3 annotators, 7 judgements order a pair as the consensus does
    assert labels["Rank the greetings."][0] == {"order": [1, 2, 3]}
    assert labels["Rank the greetings."][1] == {"order": pytest.approx(7 / 9)}
    # farewells: bye 5/3, ciao 5/3, later 7/3 -> bye and ciao share first place; of the 3 pairs
    # x 3 annotators, 5 judgements match: ann1 and ann2 put both before later, ann3 ties bye
    # and ciao
    assert labels["Rank the farewells."][0] == {"order": [1, 1, 2]}
    assert labels["Rank the farewells."][1] == {"order": pytest.approx(5 / 9)}
    dpo = ws.export_training(ref, format="dpo", out=tmp_path / "dpo.jsonl")
    assert (dpo.used, dpo.rows, dpo.excluded) == (2, 5, {})
    got = sorted(
        (r["chosen"], r["rejected"])
        for r in map(json.loads, (tmp_path / "dpo.jsonl").read_text("utf-8").splitlines())
    )
    assert got == sorted(
        [("hello", "hi"), ("hello", "yo"), ("hi", "yo"), ("bye", "later"), ("ciao", "later")]
    )
