"""Writing a version out: JSON Lines, Parquet, or a Hugging Face datasets folder.

The columnar formats (Parquet, hf) hold a release's soft labels in one fixed shape, per question
a list of ``{answer, p}``, so the schema does not grow a field per distinct answer; JSON Lines
keeps them as the mapping answer -> probability.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curata.core.errors import ValidationError

EXPORT_FORMATS = ("jsonl", "parquet", "hf")
SOFT_LABELS = "curata_soft_labels"
HF_SPLIT = "train"
HF_SHARD = "data-00000-of-00001.arrow"
Batches = Iterator[list[dict[str, Any]]]
"""Batches of exported rows (see :func:`curata.core.records.flat_row`)."""


def _soft_label_list(row: dict[str, Any]) -> dict[str, Any]:
    """A row whose soft labels ``{question: {answer: p}}`` read ``{question: [{answer, p}]}``."""
    soft = row.get(SOFT_LABELS)
    if not isinstance(soft, dict):
        return row
    fixed = {
        question: None
        if dist is None
        else [{"answer": answer, "p": float(p)} for answer, p in dist.items()]
        for question, dist in soft.items()
    }
    return {**row, SOFT_LABELS: fixed}


def _columnar(rows: list[dict[str, Any]]) -> pa.Table:
    """Arrow table of flat rows; nested values (messages, dict metadata) stay nested."""
    return pa.Table.from_pylist([_soft_label_list(row) for row in rows])


def _table(batches: Batches) -> pa.Table:
    """One table of every batch; the schema is the union of their columns."""
    tables = [_columnar(batch) for batch in batches]
    return pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})


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
    table = _table(batches)
    pq.write_table(table, out)
    return int(table.num_rows)


_HF_DTYPES = {"double": "float64", "float": "float32", "halffloat": "float16"}


def hf_feature(arrow_type: pa.DataType) -> Any:
    """The ``datasets`` feature (as its JSON) of an Arrow type: a struct is a dict of features,
    a list ``List``, anything else a ``Value`` (datasets' ``generate_from_arrow_type``)."""
    if pa.types.is_struct(arrow_type):
        return {f.name: hf_feature(f.type) for f in arrow_type}
    if pa.types.is_list(arrow_type):
        return {"feature": hf_feature(arrow_type.value_type), "_type": "List"}
    if pa.types.is_large_list(arrow_type):
        return {"feature": hf_feature(arrow_type.value_type), "_type": "LargeList"}
    dtype = str(arrow_type)
    return {"dtype": _HF_DTYPES.get(dtype, dtype), "_type": "Value"}


def write_hf(batches: Batches, out: Path, *, name: str, card: str) -> int:
    """A folder ``datasets.load_from_disk(path)`` reads as a ``DatasetDict`` with one split,
    ``train`` (the layout ``DatasetDict.save_to_disk`` writes: ``dataset_dict.json``, and per
    split an Arrow stream with ``dataset_info.json`` and ``state.json``), and a card.

    ``datasets.load_dataset(path)`` reads the same folder. Features are declared from the Arrow
    schema, in the info file and in the stream's ``huggingface`` metadata, as datasets does.
    """
    table = _table(batches)
    info = {
        "citation": "",
        "description": f"{name}: exported by Curata (see README.md)",
        "features": {f.name: hf_feature(f.type) for f in table.schema},
        "homepage": "",
        "license": "",
    }
    table = table.replace_schema_metadata({"huggingface": json.dumps({"info": info})})
    split = out / HF_SPLIT
    split.mkdir(parents=True)
    digest = hashlib.sha256()
    with (
        pa.OSFile(str(split / HF_SHARD), "wb") as sink,
        pa.ipc.new_stream(sink, table.schema) as writer,
    ):
        writer.write_table(table)
    with (split / HF_SHARD).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    state: dict[str, Any] = {
        "_data_files": [{"filename": HF_SHARD}],
        "_fingerprint": digest.hexdigest()[:16],
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": HF_SPLIT,
    }
    (split / "dataset_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    (split / "state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
    (out / "dataset_dict.json").write_text(json.dumps({"splits": [HF_SPLIT]}), encoding="utf-8")
    (out / "README.md").write_text(card, encoding="utf-8")
    return int(table.num_rows)


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
