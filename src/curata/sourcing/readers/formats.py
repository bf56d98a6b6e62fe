"""The readers for each supported file format (JSONL, JSON, CSV/TSV, Parquet, plain text)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from curata.core.errors import InputError
from curata.sourcing.readers.base import CountingFile, RawItem, Reader, decode, too_long

JSON_FILE_LIMIT = 1024 * 1024 * 1024


class JsonlReader:
    """One JSON object per line; blank lines are skipped; lines are read with a length cap."""

    def __init__(self, path: Path, *, encoding: str, max_record_bytes: int) -> None:
        self.path, self.encoding, self.limit = path, encoding, max_record_bytes
        self.bytes_read = 0

    def __iter__(self) -> Iterator[RawItem]:
        with CountingFile(self.path) as f:
            line_no = 0
            while True:
                data = f.stream.readline(self.limit + 1)
                if not data:
                    break
                line_no += 1
                where = f"{self.path}:{line_no}"
                if len(data) > self.limit and not data.endswith(b"\n"):
                    raise too_long(len(data), self.limit, where)
                self.bytes_read = f.position
                text = decode(data, self.encoding, where).strip()
                if not text:
                    continue
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise InputError(
                        f"malformed JSON: {exc.msg} (column {exc.colno})", where=where
                    ) from None
                if not isinstance(value, dict):
                    raise InputError(
                        f"expected a JSON object, got {type(value).__name__}", where=where
                    )
                yield RawItem(value, where)


class JsonReader:
    """A JSON array of objects (or one object); loaded whole, so capped at 1 GiB: use JSONL."""

    def __init__(self, path: Path, *, encoding: str, max_record_bytes: int) -> None:
        self.path, self.encoding, self.limit = path, encoding, max_record_bytes
        self.bytes_read = 0

    def __iter__(self) -> Iterator[RawItem]:
        size = self.path.stat().st_size
        if size > JSON_FILE_LIMIT:
            raise InputError(
                f"JSON file of {size:,} bytes exceeds the {JSON_FILE_LIMIT:,}-byte limit for "
                "whole-file JSON; convert it to JSONL (one object per line) to stream it",
                path=str(self.path),
            )
        with CountingFile(self.path) as f:
            data = f.stream.read()
            self.bytes_read = f.position
        text = decode(data, self.encoding, str(self.path))
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            problem = f"malformed JSON: {exc.msg}"
            raise InputError(problem, path=str(self.path), line=exc.lineno) from None
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            where = f"{self.path}:[{i}]"
            if not isinstance(item, dict):
                raise InputError(f"expected a JSON object, got {type(item).__name__}", where=where)
            yield RawItem(item, where)


class CsvReader:
    """CSV (or TSV, by extension) with a header row; every value arrives as a string."""

    def __init__(self, path: Path, *, encoding: str, max_record_bytes: int) -> None:
        self.path, self.encoding, self.limit = path, encoding, max_record_bytes
        self.bytes_read = 0

    def __iter__(self) -> Iterator[RawItem]:
        delimiter = "\t" if ".tsv" in [s.lower() for s in self.path.suffixes] else ","
        csv.field_size_limit(self.limit)
        with CountingFile(self.path) as f:
            text = io.TextIOWrapper(f.stream, encoding=self.encoding, newline="")
            reader = csv.DictReader(text, delimiter=delimiter)
            row_start = 1
            try:
                header = reader.fieldnames
                if header is None:
                    return
                if len(set(header)) != len(header):
                    raise InputError("duplicate column names in the header", where=f"{self.path}:1")
                row_start = reader.line_num + 1
                for row in reader:
                    where = f"{self.path}:{row_start}"
                    row_start = reader.line_num + 1
                    self.bytes_read = f.position
                    if None in row:
                        raise InputError(
                            f"{len(header) + len(row[None])} values for {len(header)} columns",
                            where=where,
                        )
                    yield RawItem({k: v for k, v in row.items()}, where)
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"invalid {self.encoding} near line {row_start} ({exc.reason}); "
                    "pass --encoding if the file is not UTF-8",
                    where=f"{self.path}:{row_start}",
                ) from None
            except csv.Error as exc:
                if "field larger than field limit" in str(exc):
                    raise too_long(self.limit + 1, self.limit, f"{self.path}:{row_start}") from None
                raise InputError(
                    f"malformed CSV: {exc}", where=f"{self.path}:{row_start}"
                ) from None


class ParquetReader:
    """Parquet, read a row group batch at a time; rows are numbered from 1."""

    def __init__(self, path: Path, *, encoding: str, max_record_bytes: int) -> None:
        self.path = path
        self.bytes_read = 0

    def __iter__(self) -> Iterator[RawItem]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(self.path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"not a readable Parquet file: {exc}", path=str(self.path)) from None
        total = max(1, pf.metadata.num_rows)
        size = self.path.stat().st_size
        row = 0
        for batch in pf.iter_batches(batch_size=5_000):
            for value in batch.to_pylist():
                row += 1
                yield RawItem(value, f"{self.path}:row {row}")
            self.bytes_read = int(size * row / total)


class TextReader:
    """Plain text: each non-blank line is one text record."""

    def __init__(self, path: Path, *, encoding: str, max_record_bytes: int) -> None:
        self.path, self.encoding, self.limit = path, encoding, max_record_bytes
        self.bytes_read = 0

    def __iter__(self) -> Iterator[RawItem]:
        with CountingFile(self.path) as f:
            line_no = 0
            while True:
                data = f.stream.readline(self.limit + 1)
                if not data:
                    break
                line_no += 1
                where = f"{self.path}:{line_no}"
                if len(data) > self.limit and not data.endswith(b"\n"):
                    raise too_long(len(data), self.limit, where)
                self.bytes_read = f.position
                text = decode(data, self.encoding, where).rstrip("\r\n")
                if text.strip():
                    yield RawItem({"text": text}, where)


READERS: dict[str, Callable[..., Reader]] = {
    "jsonl": JsonlReader,
    "json": JsonReader,
    "csv": CsvReader,
    "parquet": ParquetReader,
    "txt": TextReader,
}
