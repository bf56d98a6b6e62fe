"""Benchmark 4: latency of fetching one record by id from an N-record version (p50 <= 5 ms).

Draws ~200 random record ids from ``raw@2`` and times ``ws.datasets.record(ref, id)`` for
each (after a short warm-up that is not counted), then the raw store point lookup
``ws.store.get(id)`` for the same ids, and the three steps ``record`` is made of: resolving
the reference (``datasets.handle``), finding the id in the version's manifest
(``store.manifest_lookup``) and reading the payload (``store.take_records``).

    .venv/bin/python bench/fetch.py [--records N] [--samples 200] [--profile] [--clean]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

import benchlib as bl

NAME = "fetch"
TARGET_P50_MS = 5.0
WARMUP = 5


def _time_each(ids: list[str], fn: Callable[[str], Any]) -> list[float]:
    for record_id in ids[:WARMUP]:
        fn(record_id)
    out = []
    for record_id in ids:
        start = time.perf_counter()
        fn(record_id)
        out.append(time.perf_counter() - start)
    return out


def run(records: int, seed: int, samples: int, *, profile: bool = False) -> dict[str, Any]:
    """Time the lookups, print and return the numbers."""
    info = bl.header(f"Benchmark 4: fetch one record by id from a {records:,}-record version")
    home, fixture = bl.ensure_versions(records, seed)
    ws = bl.open_workspace(home)
    ref = fixture["v2"]["ref"]
    try:
        handle = ws.datasets.handle(ref)
        key, mv = handle.storage_key, handle.manifest_version
        all_ids = ws.store.manifest_table(key, mv, ["record_id"]).column("record_id")
        rng = np.random.default_rng(seed + 2)
        picks = rng.choice(len(all_ids), size=min(samples, len(all_ids)), replace=False)
        ids = [all_ids[int(i)].as_py() for i in picks]

        for record_id in ids[:20]:  # correctness: the fetched record is the one asked for
            assert ws.datasets.record(ref, record_id).id == record_id
            stored = ws.store.get(record_id)
            assert stored is not None and stored["id"] == record_id

        measured = {
            "datasets.record": _time_each(ids, lambda i: ws.datasets.record(ref, i)),
            "store.get": _time_each(ids, ws.store.get),
            "  datasets.handle": _time_each(ids, lambda i: ws.datasets.handle(ref)),
            "  store.manifest_lookup": _time_each(
                ids, lambda i: ws.store.manifest_lookup(key, mv, i)
            ),
        }
        rows: dict[str, int] = {}
        for record_id in ids:
            row = ws.store.manifest_lookup(key, mv, record_id)
            assert row is not None
            rows[record_id] = int(row["row"])
        measured["  store.take_records"] = _time_each(
            ids, lambda i: ws.store.take_records([rows[i]])
        )
        if profile:
            import cProfile
            import pstats

            print("--- cProfile of 50 datasets.record calls ---")
            prof = cProfile.Profile()
            prof.runcall(lambda: [ws.datasets.record(ref, i) for i in ids[:50]])
            pstats.Stats(prof).sort_stats("tottime").print_stats(15)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    finally:
        ws.close()

    summaries = {label: bl.latency_summary(times) for label, times in measured.items()}
    print()
    print(f"{len(ids)} random ids from {ref} ({records:,} records), {WARMUP} warm-up calls each")
    print(f"{'call':<26}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'mean ms':>10}{'max ms':>10}")
    for label, s in summaries.items():
        print(
            f"{label:<26}{s['p50_ms']:>10.2f}{s['p95_ms']:>10.2f}{s['p99_ms']:>10.2f}"
            f"{s['mean_ms']:>10.2f}{s['max_ms']:>10.2f}"
        )
    p50 = summaries["datasets.record"]["p50_ms"]
    met = p50 <= TARGET_P50_MS
    print(
        f"datasets.record p50 {p50:.2f} ms, target <= {TARGET_P50_MS:.0f} ms: "
        f"{'MET' if met else 'MISSED'}"
    )
    result = {
        "machine": info,
        "command": f".venv/bin/python bench/fetch.py --records {records} --samples {samples}",
        "records": records,
        "ref": ref,
        "samples": len(ids),
        "warmup": WARMUP,
        "latency": {label.strip(): s for label, s in summaries.items()},
        "target_p50_ms": TARGET_P50_MS,
        "target_met": met,
    }
    bl.save_result(NAME, result)
    return result


def main() -> None:
    """Command line entry point."""
    p = bl.parser(__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=200, help="random ids to fetch (default 200)")
    p.add_argument("--profile", action="store_true", help="print a cProfile of 50 fetches")
    args = p.parse_args()
    run(args.records, args.seed, args.samples, profile=args.profile)
    if args.clean:
        bl.clean(args.records)


if __name__ == "__main__":
    main()
