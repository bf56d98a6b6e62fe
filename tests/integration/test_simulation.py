"""Planted annotators through the real queue: the report flags exactly the planted bad ones,
and Dawid-Skene beats majority vote against the planted truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import log_in, write_jsonl

from curata.core.errors import ValidationError


@pytest.fixture
def project(ws, tmp_path: Path):
    rows = [{"text": f"ticket {i}"} for i in range(40)]
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="tickets")
    schema = {"questions": [{"type": "label", "name": "topic", "labels": ["a", "b", "c", "d"]}]}
    ws.projects.create("sim", version="tickets@1", schema=schema, overlap=5, gold_share=0.2)
    return ws


@pytest.mark.parametrize("seed", [1, 2])
def test_planted_bad_annotators_are_flagged_and_ds_beats_majority(project, tmp_path, seed) -> None:
    ws = project
    planted = {"good": 4, "careless": 1, "spammer": 1, "adversarial": 1}
    sim = ws.quality.simulate("sim", planted, seed=seed, gold_fraction=0.1)
    assert sim.labels >= 40 * 5 and len(sim.roles) == 7
    flagged = set(ws.quality.report("sim")["flagged"])
    assert flagged == set(sim.bad)  # precision and recall 1 on this run

    def accuracy(method: str) -> float:
        ref = ws.releases.release("sim", aggregate=method, dataset=f"sim-{method}").version.ref
        out = tmp_path / f"{method}-{seed}.jsonl"
        ws.export(ref, format="jsonl", out=out)
        rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
        return sum(r["curata_labels"]["topic"] == sim.truth[r["curata_id"]] for r in rows) / len(
            rows
        )

    assert accuracy("dawid-skene") > accuracy("majority")


def test_simulation_refuses_what_it_cannot_simulate(project) -> None:
    with pytest.raises(ValidationError, match="role 'sleepy' is not one of"):
        project.quality.simulate("sim", {"sleepy": 2})
    with pytest.raises(ValidationError, match="at least two annotators"):
        project.quality.simulate("sim", {"good": 1})
    with pytest.raises(ValidationError, match="drift_after: must be between 0 and 1"):
        project.quality.simulate("sim", {"good": 2}, drift_after=1.5)
    schema = {"questions": [{"type": "label", "name": "topic", "labels": ["a", "b"]}]}
    project.projects.create("nogold", version="tickets@1", schema=schema)
    with pytest.raises(ValidationError, match="serves no gold items"):
        project.quality.simulate("nogold", {"good": 2})


def test_simulation_from_the_command_line(project, capsys, monkeypatch) -> None:
    from curata.cli.main import main

    monkeypatch.delenv("CURATA_DATABASE_URL", raising=False)
    log_in(project)  # simulate annotators adds users: an admin's token on PostgreSQL
    args = ["--home", str(project.home), "simulate", "annotators", "sim", "--good", "3"]
    assert main([*args, "--seed", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted(data["roles"].values()) == [
        "adversarial", "careless", "drifter", "good", "good", "good", "spammer"
    ]  # fmt: skip
    assert data["drifting"] == ["sim-3-drifter-1"] and data["drift_at"] is not None
    assert main([*args, "--seed", "4"]) == 1
    assert "already has gold items" in capsys.readouterr().err
    assert main([*args, "--seed", "4", "--drifter", "0", "--gold-fraction", "0"]) == 0
    assert "planted as bad" in capsys.readouterr().out
