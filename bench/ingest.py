"""Benchmark 1: ingest N small JSONL records (default 1,000,000); records/s and peak memory.

The ingest runs in a fresh child process so its RSS high-water mark (``ru_maxrss``) measures
the ingest alone (plus the interpreter and imports, reported separately as the baseline).
The resulting workspace is kept as the version-1 fixture the other benchmarks start from.

    .venv/bin/python bench/ingest.py [--records N] [--profile] [--clean]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import benchlib as bl

NAME = "ingest"
RESULT_PREFIX = "RESULT "


def child(input_path: Path, home: Path, profile: bool) -> None:
    """Run in the child process: import, create a workspace, ingest, report JSON on stdout."""
    import psutil

    from curata.workspace import Workspace  # imported here so the baseline counts it

    proc = psutil.Process()
    baseline_rss = proc.memory_info().rss
    baseline_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    shutil.rmtree(home, ignore_errors=True)
    ws = Workspace.create(home, user="bench")
    ws.sources.add(bl.SOURCE, kind="synthetic", license="CC0-1.0", origin="bench://generated")
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    timeline: list[tuple[float, int]] = []  # (share of the input read, RSS) as reading goes

    def progress(done: int, total: int) -> None:
        share = done / total if total else 1.0
        last = timeline[-1][0] if timeline else 0.0
        if share - last >= 0.25 or (done == total and share > last):
            timeline.append((share, proc.memory_info().rss))

    start = time.perf_counter()
    res = ws.ingest(
        [input_path],
        source=bl.SOURCE,
        dataset=bl.DATASET,
        key=bl.KEY,
        message="v1",
        progress=progress,
    )
    seconds = time.perf_counter() - start
    if profiler is not None:
        import pstats

        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(30)
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    storage_key = ws.datasets.handle(res.version.ref).storage_key
    out = {
        "ingest_s": seconds,
        "records": res.version.record_count,
        "records_read": res.records_read,
        "duplicates": res.duplicates,
        "bytes_added_reported": res.version.bytes_added,
        "store_bytes": ws.store.size_bytes(storage_key),
        "baseline_rss_bytes": baseline_rss,
        "baseline_maxrss_bytes": baseline_maxrss,
        "peak_rss_bytes": maxrss,
        "end_rss_bytes": proc.memory_info().rss,
        "rss_while_reading": [{"read": round(f, 3), "rss_bytes": r} for f, r in timeline],
    }
    ws.close()
    print(RESULT_PREFIX + json.dumps(out), flush=True)


def run(records: int, seed: int, *, profile: bool = False) -> dict[str, Any]:
    """Generate the input, run the child ingest, print and return the numbers."""
    info = bl.header(f"Benchmark 1: ingest {records:,} JSONL records")
    path = bl.input_file(records, seed)
    input_bytes = path.stat().st_size
    home = bl.base_dir(records) / "ws"
    bl.base_marker(records).unlink(missing_ok=True)
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--input",
        str(path),
        "--home",
        str(home),
        *(["--profile"] if profile else []),
    ]
    print(f"ingesting in a child process ({path.name}, {bl.human_bytes(input_bytes)}) ...")
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    child_wall = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if not lines:
        raise RuntimeError("the ingest child printed no result")
    out = json.loads(lines[-1][len(RESULT_PREFIX) :])
    children_maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    bl.base_marker(records).write_text(json.dumps({"records": records, "seed": seed}))

    rate = out["records"] / out["ingest_s"]
    result = {
        "machine": info,
        "command": f".venv/bin/python bench/ingest.py --records {records}",
        "records": records,
        "input_bytes": input_bytes,
        "input_mib_per_s": input_bytes / 2**20 / out["ingest_s"],
        "records_per_s": rate,
        "child_wall_s": child_wall,
        "profiled": profile,
        **out,
        "children_maxrss_bytes": children_maxrss,
        "peak_rss_above_baseline_bytes": out["peak_rss_bytes"] - out["baseline_rss_bytes"],
    }
    print()
    print(f"input file          {bl.human_bytes(input_bytes)} ({input_bytes:,} bytes)")
    print(f"records ingested    {out['records']:,} (read {out['records_read']:,})")
    print(f"ingest time         {out['ingest_s']:.2f} s   (child process total {child_wall:.2f} s)")
    print(f"throughput          {rate:,.0f} records/s, {result['input_mib_per_s']:.2f} MiB/s")
    print(f"peak RSS            {bl.human_bytes(out['peak_rss_bytes'])} (ru_maxrss of the child)")
    print(f"  after imports     {bl.human_bytes(out['baseline_rss_bytes'])}")
    print(f"  ingest's share    {bl.human_bytes(result['peak_rss_above_baseline_bytes'])}")
    per_record = result["peak_rss_above_baseline_bytes"] / max(1, records)
    print(f"  per record        {per_record:,.0f} bytes")
    steps = ", ".join(
        f"{p['read']:.0%} {bl.human_bytes(p['rss_bytes'])}" for p in out["rss_while_reading"]
    )
    print(f"  RSS while reading {steps} (then commit: payloads, manifest, id index)")
    print(f"store size (v1)     {bl.human_bytes(out['store_bytes'])}")
    if profile:
        print("(profiled run: timings include cProfile overhead; not saved)")
    else:
        bl.save_result(NAME, result)
    return result


def main() -> None:
    """Command line entry point."""
    p = bl.parser(__doc__.splitlines()[0])
    p.add_argument("--profile", action="store_true", help="print a cProfile of the ingest")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.input, args.home, args.profile)
        return
    run(args.records, args.seed, profile=args.profile)
    if args.clean:
        bl.clean(args.records)


if __name__ == "__main__":
    os.environ.setdefault("LANCE_LOG", "error")
    main()
