"""Benchmark 2: storage cost of a 1% scattered update, Curata versus Delta Lake.

Changes the text of 1% of the records (random ids, ids and keys kept), ingests the result
as version 2 and compares the store's growth with the base version's size (target: at most
2%). The same rows and the same update go through Delta Lake (``deltalake``): a
``write_deltalake`` of the N rows, then a ``MERGE ... WHEN MATCHED UPDATE`` of the changed
rows. Leaves the two-version workspace for the diff and fetch benchmarks.

    .venv/bin/python bench/update.py [--records N] [--clean]
"""

from __future__ import annotations

import shutil
import time
from typing import Any

import benchlib as bl

NAME = "update"
TARGET_SHARE = 0.02


def delta_lake(records: int, seed: int, changed_ids: list[int]) -> dict[str, Any]:
    """Write the base rows as a Delta table, merge the 1% update, measure the growth."""
    import pyarrow as pa
    import pyarrow.json as pj
    from deltalake import DeltaTable, write_deltalake

    schema = pa.schema([("id", pa.int64()), ("text", pa.string()), ("lang", pa.string())])
    options = pj.ParseOptions(explicit_schema=schema)
    base = pj.read_json(bl.input_file(records, seed), parse_options=options)
    update = pj.read_json(bl.versions_dir(records) / "update.jsonl", parse_options=options)
    source = update.take(pa.array(changed_ids, pa.int64()))  # row i holds id i
    assert source.column("id").to_pylist() == changed_ids

    path = bl.OUT_DIR / f"delta-{records}"
    shutil.rmtree(path, ignore_errors=True)
    start = time.perf_counter()
    write_deltalake(path, base)
    write_s = time.perf_counter() - start
    size_v0 = bl.dir_size(path)
    files_v0 = len(DeltaTable(path).file_uris())

    start = time.perf_counter()
    metrics = (
        DeltaTable(path)
        .merge(source, predicate="t.id = s.id", source_alias="s", target_alias="t")
        .when_matched_update_all()
        .execute()
    )
    merge_s = time.perf_counter() - start
    size_v1 = bl.dir_size(path)
    table = DeltaTable(path)
    rows = table.count()
    files_v1 = len(table.file_uris())
    shutil.rmtree(path)
    return {
        "base_bytes": size_v0,
        "after_bytes": size_v1,
        "bytes_added": size_v1 - size_v0,
        "ratio": (size_v1 - size_v0) / size_v0,
        "write_s": write_s,
        "merge_s": merge_s,
        "rows_after": rows,
        "data_files_base": files_v0,
        "data_files_after_live": files_v1,
        "merge_metrics": {k: v for k, v in metrics.items() if isinstance(v, int | float)},
    }


def run(records: int, seed: int) -> dict[str, Any]:
    """Build the two versions, run the Delta Lake comparison, print and return the numbers."""
    info = bl.header(f"Benchmark 2: bytes added by a 1% scattered update of {records:,} records")
    fixture = bl.build_versions(records, seed)
    changes = len(fixture["changed_ids"])
    size_v1, size_v2 = fixture["size_v1_bytes"], fixture["size_v2_bytes"]
    added = size_v2 - size_v1
    ratio = added / size_v1
    v2 = fixture["v2"]
    print("running the same update through Delta Lake ...", flush=True)
    delta = delta_lake(records, seed, fixture["changed_ids"])
    result = {
        "machine": info,
        "command": f".venv/bin/python bench/update.py --records {records}",
        "records": records,
        "changed_records": changes,
        "curata": {
            "base_bytes": size_v1,
            "after_bytes": size_v2,
            "bytes_added": added,
            "bytes_added_reported": v2["bytes_added_reported"],
            "ratio": ratio,
            "ingest_v2_s": fixture["ingest_v2_s"],
            "v2_records": v2["records"],
            "v2_added": v2["added"],
            "v2_removed": v2["removed"],
            "growth_by_category": fixture["growth_by_category"],
        },
        "delta": delta,
        "target_ratio": TARGET_SHARE,
        "target_met": ratio <= TARGET_SHARE,
        "curata_vs_delta_bytes_added": (
            added / delta["bytes_added"] if delta and delta["bytes_added"] else None
        ),
    }
    print()
    print(f"records / changed       {records:,} / {changes:,} texts (ids kept)")
    print("Curata (Lance store, ws.store.size_bytes)")
    print(f"  base (v1)             {bl.human_bytes(size_v1)} ({size_v1:,} bytes)")
    print(f"  after v2              {bl.human_bytes(size_v2)} ({size_v2:,} bytes)")
    print(
        f"  bytes added           {added:,} = {ratio:.2%} of base  (target <= 2%: "
        f"{'MET' if result['target_met'] else 'MISSED'})"
    )
    print(f"  version.bytes_added   {v2['bytes_added_reported']:,}")
    print(
        f"  v2 ingest time        {fixture['ingest_v2_s']:.2f} s "
        f"(+{v2['added']:,} / -{v2['removed']:,} records)"
    )
    print("  growth by part of the store:")
    for cat, n in fixture["growth_by_category"].items():
        print(f"    {cat:<28} {n:>14,} bytes  ({n / size_v1:.2%} of base)")
    if delta is not None:
        print("Delta Lake (deltalake, MERGE when_matched_update_all)")
        print(
            f"  base                  {bl.human_bytes(delta['base_bytes'])} "
            f"({delta['base_bytes']:,} bytes, {delta['data_files_base']} data file(s))"
        )
        print(f"  bytes added           {delta['bytes_added']:,} = {delta['ratio']:.2%} of base")
        print(f"  write / merge time    {delta['write_s']:.2f} s / {delta['merge_s']:.2f} s")
        mm = delta["merge_metrics"]
        print(
            f"  merge                 updated {mm.get('num_target_rows_updated')}, copied "
            f"{mm.get('num_target_rows_copied')}, files removed "
            f"{mm.get('num_target_files_removed')}, added {mm.get('num_target_files_added')}"
        )
    vs_delta = result["curata_vs_delta_bytes_added"]
    if vs_delta is not None:
        print(f"Curata bytes added / Delta bytes added = {vs_delta:.3f}")
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
