"""Writing a version out: JSON Lines, Parquet, or a Hugging Face datasets folder."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curata.core.errors import ValidationError
from curata.core.records import Record

EXPORT_FORMATS = ("jsonl", "parquet", "hf")
Batches = Iterator[list[dict[str, Any]]]
"""Batches of exported rows (see :func:`flat_row`)."""


def flat_row(
    record_id: str, record: Record, columns: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The exported shape: content and metadata side by side, plus ``curata_id`` and the
    version's per-record columns (a release's labels) as ``curata_<column>``.

    Re-ingesting an export of a plain version gives the same record ids (``curata_id`` is
    ignored on ingest).
    """
    extra = {f"curata_{k}": v for k, v in (columns or {}).items()}
    return {"curata_id": record_id, **record.to_flat(), **extra}


def _columnar(rows: list[dict[str, Any]]) -> pa.Table:
    """Arrow table of flat rows; nested values (messages, dict metadata) stay nested."""
    return pa.Table.from_pylist(rows)


def write_jsonl(batches: Batches, out: Path) -> int:
    count = 0
    with out.open("w", encoding="utf-8") as f:
        for batch in batches:
            for row in batch:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
    return count


def write_parquet(batches: Batches, out: Path) -> int:
    """One Parquet file; the schema is the union of every batch's columns."""
    tables = [_columnar(batch) for batch in batches]
    table = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
    pq.write_table(table, out)
    return int(table.num_rows)


def write_hf(batches: Batches, out: Path, *, name: str, card: str) -> int:
    """A folder ``datasets.load_dataset(path)`` reads: ``data/train-*.parquet`` and a card."""
    data = out / "data"
    data.mkdir(parents=True)
    count = write_parquet(batches, data / "train-00000-of-00001.parquet")
    (out / "README.md").write_text(card, encoding="utf-8")
    return count


def export(
    batches_factory: Callable[[], Batches],
    *,
    fmt: str,
    out: Path,
    name: str,
    card: str,
    overwrite: bool = False,
) -> int:
    """Write to a temporary path, then move into place, so a failed export leaves nothing."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(f"format: {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    if out.exists() and not overwrite:
        raise ValidationError(f"{out} already exists (pass --overwrite to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        if fmt == "jsonl":
            count = write_jsonl(batches_factory(), tmp)
        elif fmt == "parquet":
            count = write_parquet(batches_factory(), tmp)
        else:
            count = write_hf(batches_factory(), tmp, name=name, card=card)
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    return count
