"""Validation by simulation (issue #4): over 20 seeds, plant good, careless, spammer and
adversarial annotators on a fresh project, let them label it through the queue, and score the
quality report's flags against the planted bad annotators (precision, recall) and Dawid-Skene's
labels against the planted truth (vs majority vote).

    .venv/bin/python bench/simulation.py [--seeds 20] [--items 60]
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib


def one_seed(seed: int, items: int, root: Path) -> dict[str, Any]:
    from curata.quality.report import quality_report
    from curata.quality.simulate import simulate_annotators
    from curata.workspace import Workspace

    home = root / f"ws-{seed}"
    ws = Workspace.create(home, user="bench")
    try:
        data = root / f"items-{seed}.jsonl"
        data.write_text("".join(json.dumps({"text": f"ticket {i}"}) + "\n" for i in range(items)))
        ws.sources.add("gen", kind="synthetic", license="CC0-1.0", origin="bench://sim")
        ws.ingest([data], source="gen", dataset="tickets")
        schema = {"questions": [{"type": "label", "name": "topic", "labels": list("abcd")}]}
        ws.projects.create("sim", version="tickets@1", schema=schema, overlap=5, gold_share=0.2)
        planted = {"good": 6, "careless": 1, "spammer": 1, "adversarial": 1}
        sim = simulate_annotators(ws, "sim", planted, seed=seed, gold_fraction=0.1)
        flagged = set(quality_report(ws.projects.sessions, "sim")["flagged"])
        bad = set(sim.bad)
        accuracy = {}
        for method in ("majority", "dawid-skene"):
            ref = ws.releases.release("sim", aggregate=method, dataset=f"sim-{method}").version.ref
            out = root / f"{seed}-{method}.jsonl"
            ws.export(ref, format="jsonl", out=out)
            rows = [json.loads(line) for line in out.read_text().splitlines()]
            accuracy[method] = sum(
                r["curata_labels"]["topic"] == sim.truth[r["curata_id"]] for r in rows
            ) / len(rows)
        return {
            "seed": seed,
            "true_positives": len(flagged & bad),
            "false_positives": len(flagged - bad),
            "false_negatives": len(bad - flagged),
            "majority_accuracy": accuracy["majority"],
            "dawid_skene_accuracy": accuracy["dawid-skene"],
        }
    finally:
        ws.close()


def main() -> None:
    p = benchlib.parser(__doc__.split("\n", 1)[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--items", type=int, default=60)
    args = p.parse_args()
    info = benchlib.header("Validation by simulation (issue #4)")
    root = Path(tempfile.mkdtemp(prefix="curata-sim-"))
    t = time.perf_counter()
    try:
        runs = [one_seed(seed, args.items, root) for seed in range(args.seeds)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    tp = sum(r["true_positives"] for r in runs)
    fp = sum(r["false_positives"] for r in runs)
    fn = sum(r["false_negatives"] for r in runs)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    ds_wins = sum(r["dawid_skene_accuracy"] > r["majority_accuracy"] for r in runs)
    mean = {
        k: sum(r[k] for r in runs) / len(runs)
        for k in ("majority_accuracy", "dawid_skene_accuracy")
    }
    print(f"{args.seeds} seeds, {args.items} items, 9 annotators each (3 planted bad), "
          f"{time.perf_counter() - t:.0f} s: flags precision {precision:.3f}, recall "
          f"{recall:.3f} ({tp} TP, {fp} FP, {fn} FN); accuracy vs truth: majority "
          f"{mean['majority_accuracy']:.3f}, Dawid-Skene {mean['dawid_skene_accuracy']:.3f} "
          f"(better on {ds_wins}/{len(runs)} seeds)")  # fmt: skip
    benchlib.save_result(
        "simulation",
        {
            "machine": info,
            "command": " ".join(["python", *sys.argv]),
            "precision": precision,
            "recall": recall,
            "dawid_skene_better_seeds": ds_wins,
            "mean_accuracy": mean,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
