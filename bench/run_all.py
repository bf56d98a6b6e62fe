"""Run every Curata benchmark of issue #2 in order, print a summary, then delete the data.

Each benchmark runs as its own process (the ingest benchmark starts one more for the ingest
alone). They share fixtures under ``bench/out/``: the ingest benchmark's workspace is
version 1 for the update benchmark, whose two versions the diff and fetch benchmarks use.
Results go to ``bench/out/results.json`` (rewritten by each full run).

    .venv/bin/python bench/run_all.py [--records N] [--keep]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import benchlib as bl

SCRIPTS = ("ingest.py", "update.py", "diff.py", "fetch.py")


def summary_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(benchmark, measured, target, verdict) rows from ``results.json``'s sections."""
    rows: list[tuple[str, str, str, str]] = []
    ing = results.get("ingest")
    if ing:
        rows.append(
            (
                "1. ingest",
                f"{ing['records_per_s']:,.0f} records/s ({ing['ingest_s']:.1f} s, "
                f"input {bl.human_bytes(ing['input_bytes'])}), peak RSS "
                f"{bl.human_bytes(ing['peak_rss_bytes'])}",
                "(none: report)",
                "-",
            )
        )
    upd = results.get("update")
    if upd:
        cur, dl = upd["curata"], upd["delta"]
        rows.append(
            (
                "2. 1% update",
                f"Curata +{bl.human_bytes(cur['bytes_added'])} = {cur['ratio']:.2%} of "
                f"{bl.human_bytes(cur['base_bytes'])}; Delta +{bl.human_bytes(dl['bytes_added'])}"
                f" = {dl['ratio']:.2%} of {bl.human_bytes(dl['base_bytes'])}",
                f"<= {upd['target_ratio']:.0%} of base",
                "MET" if upd["target_met"] else "MISSED",
            )
        )
    dif = results.get("diff")
    if dif:
        for label, mode in dif["modes"].items():
            rows.append(
                (
                    f"3. diff ({label})",
                    f"median {mode['median_s']:.3f} s of {len(mode['runs_s'])}",
                    f"<= {dif['target_s']:.0f} s",
                    "MET" if mode["target_met"] else "MISSED",
                )
            )
    fet = results.get("fetch")
    if fet:
        rec, get = fet["latency"]["datasets.record"], fet["latency"]["store.get"]
        rows.append(
            (
                "4. fetch by id",
                f"datasets.record p50 {rec['p50_ms']:.1f} ms, p95 {rec['p95_ms']:.1f} ms; "
                f"store.get p50 {get['p50_ms']:.1f} ms, p95 {get['p95_ms']:.1f} ms",
                f"p50 <= {fet['target_p50_ms']:.0f} ms",
                "MET" if fet["target_met"] else "MISSED",
            )
        )
    return rows


def main() -> None:
    """Command line entry point."""
    p = bl.parser(__doc__.splitlines()[0])
    p.add_argument("--keep", action="store_true", help="keep the generated data and workspaces")
    args = p.parse_args()
    info = bl.header(f"Curata benchmarks (issue #2), {args.records:,} records")
    bl.RESULTS_FILE.unlink(missing_ok=True)
    start = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        for script in SCRIPTS:
            cmd = [
                sys.executable,
                str(bl.BENCH_DIR / script),
                "--records",
                str(args.records),
                "--seed",
                str(args.seed),
            ]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True)
            timings[script] = time.perf_counter() - t0
            print(flush=True)
    finally:
        if not args.keep:
            bl.clean(args.records)
    total = time.perf_counter() - start
    results = json.loads(bl.RESULTS_FILE.read_text())
    print("=" * 78)
    print(f"SUMMARY ({args.records:,} records; total {total:.0f} s)")
    print("=" * 78)
    bl.print_machine(info)
    for name, measured, target, verdict in summary_rows(results):
        print(f"{name:<16} {verdict:<7} target {target}")
        print(f"{'':<16} {measured}")
    print("script wall times: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    bl.save_result("run_all", {"machine": info, "total_s": total, "script_s": timings})


if __name__ == "__main__":
    main()
