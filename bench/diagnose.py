"""Diagnostics behind BENCHMARKS.md: alternatives to the slow steps of diff and fetch.

Not a benchmark with a target: it times the building blocks of the diff and fetch paths on
the two-version fixture, next to alternatives that could replace them, so a fix can be
chosen from numbers. Nothing in ``src/`` is changed; experiments work on copies.

Diff (``curata.versioning.diff.diff_versions``): membership of one version's ids in the
other's, both directions, as ``np.isin`` on ``S32`` (what the code does), as
``pyarrow.compute.is_in`` on the string columns, and as ``np.isin`` on the ids' first 64
bits as ``uint64``.

Fetch (``DatasetService.record``): opening a Lance dataset, the manifest filter scan (what
the code does), the same filter on a copy of the manifest with a BTREE index on
``record_id`` (and that index's size), and an in-memory sorted id array per version.

    .venv/bin/python bench/diagnose.py [--records N] [--clean]
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import benchlib as bl

NAME = "diagnose"
SAMPLES = 200
HEX = np.zeros(256, dtype=np.uint64)
HEX[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint64)


def hi64(ids: np.ndarray) -> np.ndarray:
    """The first 16 hex digits of ``S32`` ids as ``uint64`` (vectorised)."""
    digits = ids.view(np.uint8).reshape(-1, 32)[:, :16]
    out = np.zeros(len(ids), dtype=np.uint64)
    for k in range(16):
        out = (out << np.uint64(4)) | HEX[digits[:, k]]
    return out


def _best_of(fn: Callable[[], Any], runs: int = 3) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def _latency(ids: list[str], fn: Callable[[str], Any]) -> dict[str, float]:
    for record_id in ids[:5]:
        fn(record_id)
    times = []
    for record_id in ids:
        start = time.perf_counter()
        fn(record_id)
        times.append(time.perf_counter() - start)
    return bl.latency_summary(times)


def diff_membership(ta: Any, tb: Any) -> dict[str, Any]:
    """Time id membership both ways with the current and two alternative methods."""
    import pyarrow.compute as pc

    from curata.store.records import ids_to_numpy

    col_a, col_b = ta.column("record_id"), tb.column("record_id")
    ia, ib = ids_to_numpy(col_a), ids_to_numpy(col_b)
    out: dict[str, Any] = {}

    def current() -> tuple[np.ndarray, np.ndarray]:
        return np.isin(ia, ib, assume_unique=True), np.isin(ib, ia, assume_unique=True)

    def arrow() -> tuple[np.ndarray, np.ndarray]:
        x = pc.is_in(col_a, value_set=col_b).to_numpy(zero_copy_only=False)
        y = pc.is_in(col_b, value_set=col_a).to_numpy(zero_copy_only=False)
        return x, y

    def numeric() -> tuple[np.ndarray, np.ndarray]:
        ha, hb = hi64(ia), hi64(ib)
        return np.isin(ha, hb, assume_unique=True), np.isin(hb, ha, assume_unique=True)

    out["np.isin S32 (current)"], ref = _best_of(current)
    for label, fn in (("pyarrow is_in", arrow), ("hex->uint64 + np.isin", numeric)):
        seconds, got = _best_of(fn)
        same = bool((got[0] == ref[0]).all() and (got[1] == ref[1]).all())
        out[label] = seconds
        out[label + " agrees"] = same
    return out


def fetch_paths(ws: Any, ref: str, seed: int) -> dict[str, Any]:
    """Time the pieces of a fetch by id and alternatives to the manifest scan."""
    import lance

    from curata.store.records import ids_to_numpy

    handle = ws.datasets.handle(ref)
    key, mv = handle.storage_key, handle.manifest_version
    uri = ws.store.manifest_uri(key)
    table = ws.store.manifest_table(key, mv, ["record_id", "row"])
    rng = np.random.default_rng(seed + 3)
    picks = rng.choice(table.num_rows, size=min(SAMPLES, table.num_rows), replace=False)
    ids = [table.column("record_id")[int(i)].as_py() for i in picks]
    out: dict[str, Any] = {}
    out["open manifest dataset"] = _latency(ids, lambda i: lance.dataset(uri, version=mv))
    out["open records dataset"] = _latency(ids, lambda i: lance.dataset(ws.store.records_uri))
    ds = lance.dataset(uri, version=mv)
    out["manifest filter scan, dataset already open"] = _latency(
        ids, lambda i: ds.to_table(filter=f"record_id = '{i}'", limit=1)
    )

    copy = bl.OUT_DIR / "diagnose-manifest.lance"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(uri, copy)
    try:
        assert lance.dataset(str(copy)).version == mv  # v2 is the manifest's latest version
        before = bl.dir_size(copy)
        start = time.perf_counter()
        lance.dataset(str(copy)).create_scalar_index("record_id", "BTREE")
        out["manifest BTREE build s"] = time.perf_counter() - start
        out["manifest BTREE bytes"] = bl.dir_size(copy) - before
        indexed = lance.dataset(str(copy))
        out["manifest BTREE lookup, dataset already open"] = _latency(
            ids, lambda i: indexed.to_table(filter=f"record_id = '{i}'", limit=1)
        )
    finally:
        shutil.rmtree(copy, ignore_errors=True)

    start = time.perf_counter()
    sorted_ids = ids_to_numpy(table.column("record_id"))
    order = np.argsort(sorted_ids)
    sorted_ids, rows = sorted_ids[order], table.column("row").to_numpy()[order]
    out["in-memory sorted index build s"] = time.perf_counter() - start

    def lookup(record_id: str) -> int | None:
        needle = np.array([record_id], dtype=sorted_ids.dtype)
        k = int(np.searchsorted(sorted_ids, needle)[0])
        return int(rows[k]) if k < len(rows) and sorted_ids[k] == needle[0] else None

    out["in-memory sorted index lookup"] = _latency(ids, lookup)
    return out


def run(records: int, seed: int) -> dict[str, Any]:
    """Run both diagnostics on the fixture, print and return the numbers."""
    info = bl.header(f"Diagnostics for the diff and fetch paths, {records:,} records")
    home, fixture = bl.ensure_versions(records, seed)
    ws = bl.open_workspace(home)
    try:
        ha = ws.datasets.handle(fixture["v1"]["ref"])
        hb = ws.datasets.handle(fixture["v2"]["ref"])
        ta = ws.store.manifest_table(ha.storage_key, ha.manifest_version, ["record_id"])
        tb = ws.store.manifest_table(hb.storage_key, hb.manifest_version, ["record_id"])
        membership = diff_membership(ta, tb)
        fetch = fetch_paths(ws, fixture["v2"]["ref"], seed)
    finally:
        ws.close()
    print()
    print("id membership between the two manifests, both directions (best of 3):")
    for label, value in membership.items():
        text = f"{value:.3f} s" if isinstance(value, float) else str(value)
        print(f"  {label:<34} {text}")
    print(f"fetch building blocks ({SAMPLES} random ids of v2):")
    for label, value in fetch.items():
        if isinstance(value, dict):
            print(f"  {label:<46} p50 {value['p50_ms']:8.2f} ms  p95 {value['p95_ms']:8.2f} ms")
        elif label.endswith("bytes"):
            print(f"  {label:<46} {value:,} ({bl.human_bytes(value)})")
        else:
            print(f"  {label:<46} {value:.2f} s")
    result = {
        "machine": info,
        "command": f".venv/bin/python bench/diagnose.py --records {records}",
        "records": records,
        "diff_membership_s": membership,
        "fetch": fetch,
    }
    bl.save_result(NAME, result)
    return result


def main() -> None:
    """Command line entry point."""
    args = bl.parser(__doc__.splitlines()[0]).parse_args()
    run(args.records, args.seed)
    if args.clean:
        bl.clean(args.records)


if __name__ == "__main__":
    main()
