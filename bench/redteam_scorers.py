"""Scorer validity (issue #14): the refusal scorer against the GCG paper's substring list on the
hand-labelled replies of ``tests/fixtures/redteam/refusal_validity.jsonl``, in the same run.

Prints each scorer's accuracy on all items, on the ``holdout`` split (written after the patterns
were frozen) and per language and per case; sensitivity, specificity and Cohen's kappa with
intervals (breach = positive, empty replies left out); and replies scored per second. With
``--embeddings`` the refusal scorer with its MiniLM component (``embeddings=true``) is measured
too (loads the model once, offline). Results go to ``bench/out/results.json`` [redteam_scorers].

Then the same two scorers on real replies: ``tests/fixtures/redteam/smollm2_replies.jsonl``, what
SmolLM2-135M-Instruct answered to harmful and benign prompts (``bench/redteam_real_outputs.py``),
each reply labelled by a person reading it (refused or complied, the rule of the hand-written
set). Printed: the 2x2 table, sensitivity, specificity, accuracy (Wilson intervals) and Cohen's
kappa with its interval, all from :func:`curata.stats.validity.validity` (breach = positive, empty
replies left out), and accuracy by prompt kind and language [redteam_scorers_real].

    .venv/bin/python bench/redteam_scorers.py [--embeddings] [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import benchlib
from curata.redteam.scorers import ScoredInput, Scorer, registry
from curata.stats.validity import validity

FIXTURE = benchlib.REPO_ROOT / "tests" / "fixtures" / "redteam" / "refusal_validity.jsonl"
REAL = FIXTURE.with_name("smollm2_replies.jsonl")
EXPECTED = {"refused": "refused", "complied": "breach", "empty": "empty"}


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


def evaluate(scorer: Scorer, rows: list[dict[str, str]], repeat: int) -> dict[str, Any]:
    """Accuracy overall, by split, language and case; validity statistics; replies per second."""
    verdicts = [scorer.score(ScoredInput(reply=r["reply"])).verdict for r in rows]
    right = [v == EXPECTED[r["label"]] for v, r in zip(verdicts, rows, strict=True)]
    groups: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for ok, r in zip(right, rows, strict=True):
        for key in ("split", "lang", "case"):
            groups[key][r[key]].append(ok)
    truth = [None if r["label"] == "empty" else r["label"] == "complied" for r in rows]
    predicted = [None if v in ("empty", "error") else v == "breach" for v in verdicts]
    stats = validity(predicted, truth).to_dict()
    start = time.perf_counter()
    for _ in range(repeat):
        for r in rows:
            scorer.score(ScoredInput(reply=r["reply"]))
    seconds = time.perf_counter() - start
    return {
        "accuracy": sum(right) / len(rows),
        "n": len(rows),
        **{f"by_{key}": {name: {"accuracy": sum(v) / len(v), "n": len(v)}
                         for name, v in sorted(groups[key].items())} for key in groups},
        "sensitivity": stats["sensitivity"],
        "specificity": stats["specificity"],
        "kappa": stats["kappa"],
        "replies_per_s": repeat * len(rows) / seconds,
    }


def show(results: dict[str, dict[str, Any]]) -> None:
    names = list(results)
    width = max(20, *(len(n) for n in names))
    print(f"\n{'':<32}" + "".join(f"{n:>{width + 2}}" for n in names))

    def line(label: str, values: list[str]) -> None:
        print(f"{label:<32}" + "".join(f"{v:>{width + 2}}" for v in values))

    first = results[names[0]]
    line(f"all ({first['n']})", [f"{results[n]['accuracy']:.3f}" for n in names])
    for key in ("by_split", "by_lang", "by_case"):
        print(f"-- {key[3:]}")
        for group, cell in first[key].items():
            line(f"  {group} ({cell['n']})", [f"{results[n][key][group]['accuracy']:.3f}"
                                              for n in names])
    print("-- validity (breach = positive)")
    for stat in ("sensitivity", "specificity", "kappa"):
        line(f"  {stat}", [f"{results[n][stat]['value']:.3f} [{results[n][stat]['low']:.2f}-"
                           f"{results[n][stat]['high']:.2f}]" for n in names])
    line("replies/s", [f"{results[n]['replies_per_s']:,.0f}" for n in names])


def evaluate_real(scorer: Scorer, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A scorer against the human labels of real replies: :func:`validity`'s statistics
    (breach = positive; an ``empty`` label or an ``empty``/``error`` verdict leaves the item
    out), and accuracy by prompt kind and by language."""
    verdicts = [scorer.score(ScoredInput(reply=r["reply"], prompt=r["prompt"])).verdict
                for r in rows]
    truth = [None if r["label"] == "empty" else r["label"] == "complied" for r in rows]
    predicted = [None if v in ("empty", "error") else v == "breach" for v in verdicts]
    groups: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for v, r in zip(verdicts, rows, strict=True):
        for key in ("kind", "lang"):
            groups[key][r[key]].append(v == EXPECTED[r["label"]])
    return {
        **validity(predicted, truth).to_dict(),
        **{f"by_{key}": {name: {"accuracy": sum(v) / len(v), "n": len(v)}
                         for name, v in sorted(groups[key].items())} for key in groups},
        "verdicts": verdicts,
    }


def show_real(results: dict[str, dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    """The real-reply table: one column per scorer."""
    names = list(results)
    width = max(24, *(len(n) for n in names))
    labels = {k: sum(r["label"] == k for r in rows) for k in ("refused", "complied", "empty")}
    print(f"\nreal replies: {len(rows)} ({labels['refused']} refused, {labels['complied']} "
          f"complied, {labels['empty']} empty by the human labels)")
    print(f"{'':<28}" + "".join(f"{n:>{width + 2}}" for n in names))

    def line(label: str, values: list[str]) -> None:
        print(f"{label:<28}" + "".join(f"{v:>{width + 2}}" for v in values))

    line("tp fp fn tn (excluded)", [f"{results[n]['tp']} {results[n]['fp']} {results[n]['fn']} "
                                    f"{results[n]['tn']} ({results[n]['excluded']})"
                                    for n in names])
    for stat in ("accuracy", "sensitivity", "specificity", "kappa"):
        line(stat, [_cell(results[n][stat]) for n in names])
    for key in ("by_kind", "by_lang"):
        print(f"-- {key[3:]}")
        for group, cell in results[names[0]][key].items():
            line(f"  {group} ({cell['n']})", [f"{results[n][key][group]['accuracy']:.3f}"
                                              for n in names])


def _cell(stat: dict[str, Any] | None) -> str:
    if stat is None or stat["value"] is None:
        return "n/a"
    low = "?" if stat["low"] is None else f"{stat['low']:.2f}"
    high = "?" if stat["high"] is None else f"{stat['high']:.2f}"
    return f"{stat['value']:.3f} [{low}-{high}]"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--embeddings", action="store_true", help="also the MiniLM component")
    p.add_argument("--repeat", type=int, default=20, help="passes over the set for replies/s")
    p.add_argument("--fixture", type=Path, default=FIXTURE)
    p.add_argument("--real", type=Path, default=REAL, help="labelled real replies")
    args = p.parse_args()
    benchlib.header("Scorer validity: refusal vs the GCG substring list (issue #14)")
    rows = load(args.fixture)
    scorers: dict[str, Scorer] = {
        "refusal": registry()["refusal"](),
        "gcg_substrings": registry()["gcg_substrings"](),
    }
    if args.embeddings:
        scorers["refusal+minilm"] = registry()["refusal"].create({"embeddings": True})
    results = {}
    for name, scorer in scorers.items():
        repeat = 1 if name.endswith("minilm") else args.repeat
        results[name] = evaluate(scorer, rows, repeat)
    show(results)
    benchlib.save_result("redteam_scorers", {"fixture": str(args.fixture.name),
                                             "results": results})
    if args.real.exists():
        real = load(args.real)
        measured = {name: evaluate_real(scorer, real) for name, scorer in scorers.items()}
        show_real(measured, real)
        for cell in measured.values():
            del cell["verdicts"]
        benchlib.save_result("redteam_scorers_real", {"fixture": str(args.real.name),
                                                      "model": real[0]["model"],
                                                      "results": measured})


if __name__ == "__main__":
    main()
