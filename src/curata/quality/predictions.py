"""Reading a model's predictions file for label-noise detection (pure, no database).

:func:`read_predictions` turns a JSONL (``{"record_id": ID, "probs": {LABEL: P, ...}}`` per
line) or CSV (a ``record_id`` column and one column per label) file into record id ->
probability vector in the question's class order, checking every row first: each problem is an
:class:`~curata.core.errors.InputError` naming the file, line and field.
:meth:`curata.quality.service.QualityService.label_noise` uses it for confident learning.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curata.core.errors import InputError

PROB_TOLERANCE = 1e-3
"""How far from 1 a row's probabilities may sum (the row is then renormalised)."""


def read_predictions(
    path: str | os.PathLike[str], *, classes: Sequence[str], known: Collection[str]
) -> dict[str, np.ndarray]:
    """Read a predictions file into record id -> probabilities (in ``classes`` order).

    JSONL: ``{"record_id": ID, "probs": {LABEL: P, ...}}`` per line. CSV: a ``record_id``
    column and one column per label. ``curata_id`` (as in exports) may stand for
    ``record_id``. A label left out has probability 0; records may be left out (they are not
    checked). Errors name the file, line and field: an unknown record id or label, a repeated
    record, a probability that is not a finite number in [0, 1], or a row that does not sum to
    1 within ``PROB_TOLERANCE``.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv"):
        raise InputError("predictions must be a .jsonl or .csv file", path=str(file))
    try:
        text = file.read_text("utf-8-sig")  # a byte-order mark (Excel) is not data
    except OSError as exc:
        raise InputError(f"cannot read the predictions: {exc.strerror}", path=str(file)) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", path=str(file)) from None
    where = str(file)
    rows = _csv_rows(text, where, classes) if suffix == ".csv" else _jsonl_rows(text, where)
    index = {name: k for k, name in enumerate(classes)}
    out: dict[str, np.ndarray] = {}
    first: dict[str, int] = {}
    for line, id_field, raw_id, probs in rows:
        record_id = raw_id.strip().lower()
        if record_id not in known:
            raise InputError(
                f"unknown record id {record_id!r} (not a record of the project)",
                path=where, line=line, field=id_field,
            )  # fmt: skip
        if record_id in out:
            raise InputError(
                f"record {record_id} already has predictions on line {first[record_id]}",
                path=where, line=line, field=id_field,
            )  # fmt: skip
        out[record_id] = _probabilities(probs, index, where, line, csv=suffix == ".csv")
        first[record_id] = line
    if not out:
        raise InputError("no predictions in the file", path=where)
    return out


def _probabilities(
    probs: dict[str, Any], index: dict[str, int], path: str, line: int, *, csv: bool
) -> np.ndarray:
    """One row's probabilities as a vector in class order, checked (labels left out: 0)."""
    vector = np.zeros(len(index))
    for label, value in probs.items():
        field = label if csv else f"probs.{label}"
        problem = None
        if label not in index:
            problem = f"unknown label {label!r} (labels: {', '.join(index)})"
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            problem = f"expected a probability, got {value!r}"
        elif not math.isfinite(value) or not 0.0 <= value <= 1.0:
            problem = f"probability {value!r} is not in [0, 1]"
        if problem is not None:
            raise InputError(problem, path=path, line=line, field=field)
        vector[index[label]] = value
    total = float(vector.sum())
    if abs(total - 1.0) > PROB_TOLERANCE:
        raise InputError(
            f"probabilities sum to {total:.6g}, not 1 (within {PROB_TOLERANCE:g})",
            path=path, line=line, field=None if csv else "probs",
        )  # fmt: skip
    normalised: np.ndarray = vector / total
    return normalised


Row = tuple[int, str, str, dict[str, Any]]
"""A predictions row: line, the id field's name, the record id, label -> raw probability."""


def _jsonl_rows(text: str, path: str) -> list[Row]:
    rows: list[Row] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc.msg})", path=path, line=line) from None
        if not isinstance(obj, dict):
            raise InputError("expected a JSON object", path=path, line=line)
        id_field = "record_id" if "record_id" in obj else "curata_id"
        record_id = obj.get(id_field)
        if not isinstance(record_id, str) or not record_id.strip():
            raise InputError(
                "a record id (string) is required", path=path, line=line, field="record_id"
            )
        probs = obj.get("probs")
        if not isinstance(probs, dict):
            raise InputError(
                "expected an object of label: probability", path=path, line=line, field="probs"
            )
        rows.append((line, id_field, record_id, probs))
    return rows


def _csv_rows(text: str, path: str, classes: Sequence[str]) -> list[Row]:
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None:
        raise InputError("no predictions in the file", path=path)
    header = [h.strip() for h in header]
    id_field = next((h for h in ("record_id", "curata_id") if h in header), None)
    if id_field is None:
        raise InputError("a record_id column is required", path=path, line=1)
    duplicated = [h for h, n in Counter(header).items() if n > 1]
    if duplicated:
        raise InputError("the column is repeated", path=path, line=1, field=duplicated[0])
    unknown = [h for h in header if h != id_field and h not in classes]
    if unknown:
        raise InputError(
            f"unknown label {unknown[0]!r} (labels: {', '.join(classes)})",
            path=path, line=1, field=unknown[0],
        )  # fmt: skip
    rows: list[Row] = []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise InputError(
                f"expected {len(header)} cells, got {len(cells)}", path=path, line=line
            )
        values = dict(zip(header, cells, strict=True))
        probs: dict[str, Any] = {}
        for label, cell in values.items():
            if label == id_field:
                continue
            try:
                probs[label] = float(cell)
            except ValueError:
                raise InputError(
                    f"expected a probability, got {cell!r}", path=path, line=line, field=label
                ) from None
        rows.append((line, id_field, values[id_field], probs))
    return rows
