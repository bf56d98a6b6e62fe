"""Validation by simulation (issue #4): over 20 seeds, plant good, careless, spammer,
adversarial and drifting annotators on a fresh project, let them label it through the queue,
and score what the QA layer flags (the quality report's flags plus the drift alerts) against
the planted bad and drifting annotators (precision, recall), the drift alerts' dates against
the planted drift date, and Dawid-Skene's labels against the planted truth (vs majority vote).

    .venv/bin/python bench/simulation.py [--seeds 20] [--items 200]
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import benchlib


def one_seed(seed: int, items: int, root: Path) -> dict[str, Any]:
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
        planted = {"good": 6, "careless": 1, "spammer": 1, "adversarial": 1, "drifter": 1}
        sim = ws.quality.simulate("sim", planted, seed=seed, gold_fraction=0.1)
        report_flags = set(ws.quality.report("sim")["flagged"])
        alerts = ws.quality.drift("sim", by="annotator")["alerts"]
        drift_flags = {a["who"] for a in alerts}
        flagged = report_flags | drift_flags
        bad = set(sim.bad) | set(sim.drifting)
        assert sim.drift_at is not None
        lag = [
            (datetime.fromisoformat(a["since"]) - sim.drift_at).total_seconds() / 60
            for a in alerts
            if a["who"] in sim.drifting
        ]
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
            "drifter_found": bool(set(sim.drifting) & drift_flags),
            "drift_false_alarms": len(drift_flags - set(sim.drifting)),
            "since_minus_planted_min": lag[0] if lag else None,
            "majority_accuracy": accuracy["majority"],
            "dawid_skene_accuracy": accuracy["dawid-skene"],
        }
    finally:
        ws.close()


def main() -> None:
    p = benchlib.parser(__doc__.split("\n", 1)[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--items", type=int, default=200)
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
    found = sum(r["drifter_found"] for r in runs)
    alarms = sum(r["drift_false_alarms"] for r in runs)
    lags = sorted(
        r["since_minus_planted_min"] for r in runs if r["since_minus_planted_min"] is not None
    )
    median_lag = lags[len(lags) // 2] if lags else float("nan")
    print(f"drift: drifter found on {found}/{len(runs)} seeds, {alarms} alerts on others; "
          f"median (estimated since - planted date) {median_lag:+.0f} min")  # fmt: skip
    print(f"{args.seeds} seeds, {args.items} items, 10 annotators each (3 bad, 1 drifter), "
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
            "drifter_found_seeds": found,
            "drift_false_alarms": alarms,
            "median_since_lag_min": median_lag,
            "mean_accuracy": mean,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
