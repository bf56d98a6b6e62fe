"""Where one annotation cycle spends its time (issue #3 diagnosis), without HTTP.

Builds the same fixture as ``bench/annotation_load.py`` in a fresh PostgreSQL schema, then runs
``workforce.authenticate`` + ``queue.next_task`` + ``authenticate`` + ``queue.submit`` (what
the two requests do inside the server) for ``--cycles`` cycles in one thread, timing each call
and profiling the whole loop with cProfile.

    .venv/bin/python bench/annotation_profile.py --tasks 300 --cycles 300
"""

from __future__ import annotations

import cProfile
import os
import pstats
import shutil
import time

import psycopg

import benchlib
from annotation_load import LABELS, PG, WORK, build_workspace, records


def main() -> None:
    p = benchlib.parser(__doc__.split("\n", 1)[0])
    p.add_argument("--tasks", type=int, default=300)
    p.add_argument("--cycles", type=int, default=300)
    p.add_argument("--annotators", type=int, default=20)
    p.add_argument("--no-profile", action="store_true", help="time the calls without cProfile")
    args = p.parse_args()
    benchlib.header("Annotation cycle profile (issue #3)")

    schema = f"bench_prof_{os.getpid()}"
    home = WORK / "profile-home"
    shutil.rmtree(home, ignore_errors=True)
    WORK.mkdir(parents=True, exist_ok=True)
    data = WORK / f"profile-{args.tasks}.jsonl"
    import json

    data.write_text("".join(json.dumps(r) + "\n" for r in records(args.tasks, args.seed)))
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    try:
        ws, users = build_workspace(home, url, data, args.annotators, overlap=3)
        tokens = {u: ws.workforce.issue_token(u) for u in users}
        times: dict[str, list[float]] = {"auth": [], "next_task": [], "submit": []}
        prof = cProfile.Profile()
        done = 0
        if not args.no_profile:
            prof.enable()
        while done < args.cycles:
            user = users[done % len(users)]
            t0 = time.perf_counter()
            ws.workforce.authenticate(tokens[user])
            t1 = time.perf_counter()
            view = ws.queue.next_task("load", user)
            t2 = time.perf_counter()
            if view is None:
                break
            ws.workforce.authenticate(tokens[user])
            t3 = time.perf_counter()
            ws.queue.submit(view.assignment_id, user, {"topic": LABELS[done % 3]})
            t4 = time.perf_counter()
            times["auth"] += [t1 - t0, t3 - t2]
            times["next_task"].append(t2 - t1)
            times["submit"].append(t4 - t3)
            done += 1
        prof.disable()
        print(f"{done} cycles, one thread, no HTTP, cProfile {'off' if args.no_profile else 'on'}")
        for name, values in times.items():
            s = benchlib.latency_summary(values)
            print(f"  {name:<10} p50 {s['p50_ms']:6.2f} ms  p99 {s['p99_ms']:6.2f} ms  "
                  f"mean {s['mean_ms']:6.2f} ms")  # fmt: skip
        if not args.no_profile:
            pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        ws.close()
    finally:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    main()
