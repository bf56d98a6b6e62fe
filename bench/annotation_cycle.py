"""The annotation hot path in one process: ``next_task`` + ``submit`` through the queue service.

``bench/annotation_load.py`` measures the served API under load, where the server, PostgreSQL
and the driver share the machine's cores and throughput moves by ±15% between runs. This loop
has no HTTP and no concurrency: a few annotators take turns on a PostgreSQL workspace until
every task has its answers, and the script prints the client's CPU per cycle, which repeats to
a few percent, so two commits can be compared by alternating runs (it found the +3% of the
#13 re-run, see BENCHMARKS.md). ``--no-gc`` switches the garbage collector off for the loop,
to tell a cost of live objects from a cost of code.

    .venv/bin/python bench/annotation_cycle.py [--records 500] [--annotators 20] [--overlap 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import time

import psycopg

import benchlib as bl
from annotation_load import LABELS, PG, build_workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--no-gc", action="store_true", help="no garbage collection in the loop")
    args = parser.parse_args()
    bl.header("Annotation hot path in one process (issue #3, re-run after #13)")
    work = bl.OUT_DIR / f"annotation-cycle-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    data = work / "records.jsonl"
    with data.open("w", encoding="utf-8") as f:
        for i in range(args.records):
            f.write(json.dumps({"id": i, "text": f"record {i} about parcels and refunds"}) + "\n")
    schema = f"bench_cycle_{os.getpid()}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    try:
        ws, users = build_workspace(work / "home", url, data, args.annotators, args.overlap)
        cycles = 0
        gc.collect()
        if args.no_gc:
            gc.disable()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        active = list(users)
        while active:
            for user in list(active):
                view = ws.queue.next_task("load", user)
                if view is None:
                    active.remove(user)
                    continue
                answer = {"topic": LABELS[cycles % len(LABELS)]}
                ws.queue.submit(view.assignment_id, user, answer)
                cycles += 1
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        gc.enable()
        ws.close()
    finally:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{cycles} cycles, client CPU {cpu / cycles * 1000:.3f} ms per "
        f"cycle, wall {wall / cycles * 1000:.3f} ms per cycle"
        + (" (no garbage collection)" if args.no_gc else "")
    )


if __name__ == "__main__":
    sys.exit(main())
