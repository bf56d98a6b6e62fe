"""Streaming file readers: each yields raw objects with the place they came from."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, cast

from curata.core.errors import InputError

FORMATS = ("jsonl", "json", "csv", "parquet", "txt")
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "txt",
    ".text": "txt",
    ".md": "txt",
}


@dataclass(frozen=True, slots=True)
class RawItem:
    """One object read from a file, and where: ``file:line`` or ``file:row N``."""

    value: Any
    where: str


class Reader(Protocol):
    """A streaming reader over one file; ``bytes_read`` grows as it goes (for progress)."""

    bytes_read: int

    def __iter__(self) -> Iterator[RawItem]: ...


def detect_format(path: Path, fmt: str) -> str:
    """Return the reader format for ``path`` (``auto``: by extension, looking through ``.gz``)."""
    if fmt != "auto":
        if fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r} (choose from auto, {', '.join(FORMATS)})")
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in EXTENSIONS:
        return EXTENSIONS[suffixes[-1]]
    raise InputError(
        f"cannot tell the format from the extension {''.join(path.suffixes)!r}; "
        f"use --format ({', '.join(FORMATS)})",
        path=str(path),
    )


class CountingFile:
    """Wraps a binary file and counts the compressed-or-not bytes consumed from disk."""

    def __init__(self, path: Path) -> None:
        self.raw = path.open("rb")
        gz = path.suffix.lower() == ".gz"
        self.stream: IO[bytes] = cast(
            IO[bytes], gzip.GzipFile(fileobj=self.raw) if gz else self.raw
        )

    @property
    def position(self) -> int:
        return self.raw.tell()

    def close(self) -> None:
        self.stream.close()
        self.raw.close()

    def __enter__(self) -> CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decode(data: bytes, encoding: str, where: str) -> str:
    """Decode bytes or raise an error naming the place and the offending byte."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise InputError(
            f"invalid {encoding} (byte 0x{bad} at column {exc.start + 1}); "
            "pass --encoding if the file is not UTF-8",
            where=where,
        ) from None
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}") from None


def too_long(size: int, limit: int, where: str) -> InputError:
    """The error for a record past the size limit (names the limit and how to raise it)."""
    return InputError(
        f"record of {size:,} bytes exceeds the limit of {limit:,} bytes "
        "(raise it with --max-record-bytes)",
        where=where,
    )
