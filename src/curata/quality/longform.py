"""Reading ratings in long format (one rating per row: item, annotator, value) from CSV, TSV
or JSONL, with errors that name the file, line and column."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curata.core.errors import InputError

COLUMNS = ("item", "annotator", "value")
MAX_ROWS = 50_000_000


@dataclass
class LongRatings:
    """Parallel lists of one rating each, and where each came from (for error messages)."""

    items: list[str] = field(default_factory=list)
    annotators: list[str] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)


def read_long(path: Path, *, columns: tuple[str, str, str] = COLUMNS) -> LongRatings:
    """Ratings from ``path`` (``.csv``, ``.tsv`` or ``.jsonl``/``.json`` lines). Empty values
    are missing ratings and are skipped; a row without one of ``columns`` is an error."""
    if not path.is_file():
        raise InputError("no such file", path=str(path))
    suffix = path.suffix.lower()
    out = LongRatings()
    if suffix in (".jsonl", ".json", ".ndjson"):
        _read_jsonl(path, columns, out)
    elif suffix in (".csv", ".tsv"):
        _read_csv(path, columns, out, "\t" if suffix == ".tsv" else ",")
    else:
        raise InputError(
            f"unknown format {suffix or '(none)'!r}: use .csv, .tsv or .jsonl", path=str(path)
        )
    if not out.values:
        raise InputError("no ratings in the file", path=str(path))
    return out


def _add(
    out: LongRatings, row: dict[str, Any], columns: tuple[str, str, str], path: Path, line: int
) -> None:
    item_col, annotator_col, value_col = columns
    for name in columns:
        if name not in row:
            raise InputError(f"missing column {name!r}", path=str(path), line=line)
    value = row[value_col]
    if value is None or (isinstance(value, str) and not value.strip()):
        return  # a missing rating
    if isinstance(value, (dict, list)):
        raise InputError(
            "a rating must be a single value", path=str(path), line=line, field=value_col
        )
    for name in (item_col, annotator_col):
        if row[name] is None or str(row[name]).strip() == "":
            raise InputError("empty", path=str(path), line=line, field=name)
    if len(out.values) >= MAX_ROWS:
        raise InputError(f"more than {MAX_ROWS:,} ratings", path=str(path), line=line)
    out.items.append(str(row[item_col]).strip())
    out.annotators.append(str(row[annotator_col]).strip())
    out.values.append(value.strip() if isinstance(value, str) else value)
    out.lines.append(line)


def _read_jsonl(path: Path, columns: tuple[str, str, str], out: LongRatings) -> None:
    with path.open(encoding="utf-8-sig") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"malformed JSON: {exc.msg}", path=str(path), line=line_no
                ) from None
            if not isinstance(row, dict):
                raise InputError("each line must be a JSON object", path=str(path), line=line_no)
            _add(out, row, columns, path, line_no)


def _read_csv(path: Path, columns: tuple[str, str, str], out: LongRatings, delimiter: str) -> None:
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            header = reader.fieldnames or []
            missing = [c for c in columns if c not in header]
            if missing:
                raise InputError(
                    f"missing column(s) {', '.join(missing)} "
                    f"(header: {', '.join(header) or 'none'})",
                    path=str(path),
                    line=1,
                )
            for row in reader:
                _add(out, row, columns, path, reader.line_num)
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", path=str(path)) from None
    except csv.Error as exc:
        raise InputError(f"malformed CSV: {exc}", path=str(path)) from None
