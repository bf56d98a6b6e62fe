"""Benchmark 3: wall time of a diff between two N-record versions (target: at most 2 s).

Diffs ``raw@1`` and ``raw@2`` of the update benchmark (1% of texts changed), three runs each:
with ``key="id"`` (changed records paired by their ``id`` field) and without a key
(``by_key=False``), both through ``ws.datasets.diff``.

    .venv/bin/python bench/diff.py [--records N] [--profile] [--clean]
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import benchlib as bl

NAME = "diff"
RUNS = 3
TARGET_S = 2.0


def run(records: int, seed: int, *, profile: bool = False) -> dict[str, Any]:
    """Time the keyed and keyless diffs, print and return the numbers."""
    info = bl.header(f"Benchmark 3: diff of two {records:,}-record versions")
    home, fixture = bl.ensure_versions(records, seed)
    changes = len(fixture["changed_ids"])
    ws = bl.open_workspace(home)
    a, b = fixture["v1"]["ref"], fixture["v2"]["ref"]
    try:

        def keyed() -> Any:
            return ws.datasets.diff(a, b, key=bl.KEY, samples=0)

        def keyless() -> Any:
            return ws.datasets.diff(a, b, by_key=False, samples=0)

        modes: dict[str, Any] = {}
        for label, fn, expect in (
            ("key=id", keyed, {"added": 0, "removed": 0, "changed": changes}),
            ("no key", keyless, {"added": changes, "removed": changes, "changed": 0}),
        ):
            times = []
            diff = None
            for _ in range(RUNS):
                start = time.perf_counter()
                diff = fn()
                times.append(time.perf_counter() - start)
            assert diff is not None
            counts = {
                "added": diff.added,
                "removed": diff.removed,
                "changed": diff.changed,
                "unchanged": diff.unchanged,
            }
            ok = all(counts[k] == v for k, v in expect.items())
            median = statistics.median(times)
            modes[label] = {
                "runs_s": times,
                "median_s": median,
                "counts": counts,
                "counts_correct": ok,
                "target_met": median <= TARGET_S,
            }
            runs = ", ".join(f"{t:.3f}" for t in times)
            print(
                f"{label:<7} median {median:.3f} s (runs {runs})  "
                f"target <= {TARGET_S:.0f} s: {'MET' if median <= TARGET_S else 'MISSED'}"
            )
            print(f"        {counts}  {'as expected' if ok else 'UNEXPECTED'}")
        if profile:
            import cProfile
            import pstats

            for label, fn in (("key=id", keyed), ("no key", keyless)):
                print(f"--- cProfile of one diff ({label}) ---")
                prof = cProfile.Profile()
                prof.runcall(fn)
                pstats.Stats(prof).sort_stats("cumulative").print_stats(18)
    finally:
        ws.close()
    result = {
        "machine": info,
        "command": f".venv/bin/python bench/diff.py --records {records}",
        "records": records,
        "changed_records": changes,
        "runs": RUNS,
        "target_s": TARGET_S,
        "modes": modes,
    }
    bl.save_result(NAME, result)
    return result


def main() -> None:
    """Command line entry point."""
    p = bl.parser(__doc__.splitlines()[0])
    p.add_argument("--profile", action="store_true", help="print a cProfile of each diff")
    args = p.parse_args()
    run(args.records, args.seed, profile=args.profile)
    if args.clean:
        bl.clean(args.records)


if __name__ == "__main__":
    main()
