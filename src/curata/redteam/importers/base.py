"""The importer base: one class per public corpus format, whose base owns the loop.

An importer declares its ``format`` name, a ``title`` and the file ``suffixes`` it reads, and
implements :meth:`AttackImporter.rows`: the taxonomy fields of each attack with the line it
starts on. The base checks the file, merges the taxonomy given for the whole import, builds and
checks each :class:`~curata.redteam.attacks.Attack`, enforces the prompt size limit and refuses a
file that holds no attack. Errors name ``file:line`` and the field; readers are pure (no
database, no network), so a malformed file is refused before anything is written.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from curata.core.errors import InputError
from curata.redteam.attacks import Attack, parse_attack
from curata.sourcing.readers.base import decode, too_long

DEFAULT_MAX_PROMPT_BYTES = 1024 * 1024
MAX_FILE_BYTES = 256 * 1024 * 1024
"""Whole-file formats (JSON, YAML) are parsed in memory, so they are capped."""
FORMAT_NAME = re.compile(r"^[a-z][a-z0-9-]{1,39}$")

Row = tuple[int, dict[str, Any]]
"""The line an attack starts on and its fields (``prompt``, taxonomy, corpus fields)."""


class AttackImporter:
    """Reads one public corpus format into attacks (see the module docstring)."""

    format: ClassVar[str]
    title: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for attr in ("format", "title", "suffixes"):
            if attr not in cls.__dict__:
                raise TypeError(f"importer {cls.__name__} must declare {attr!r}")
        if not FORMAT_NAME.match(cls.format):
            raise TypeError(f"importer {cls.__name__}: format {cls.format!r} is not a short slug")
        if not cls.suffixes or not all(s.startswith(".") for s in cls.suffixes):
            raise TypeError(f"importer {cls.__name__}: suffixes are file extensions ('.csv')")

    def __init__(
        self, *, encoding: str = "utf-8", max_prompt_bytes: int = DEFAULT_MAX_PROMPT_BYTES
    ) -> None:
        self.encoding = encoding
        self.max_prompt_bytes = max_prompt_bytes

    def read(
        self, path: str | Path, *, defaults: Mapping[str, Any] | None = None
    ) -> Iterator[tuple[int, Attack]]:
        """Every attack of the file with the line it starts on; ``defaults`` (taxonomy values
        given for the whole import, already checked) override what the format maps."""
        path = Path(path)
        check_file(path)
        given = dict(defaults or {})
        count = 0
        for line, fields in self.rows(path):
            where = f"{path}:{line}"
            attack = parse_attack({**fields, **given}, where=where)
            size = len(attack.prompt.encode("utf-8"))
            if size > self.max_prompt_bytes:
                raise too_long(size, self.max_prompt_bytes, where)
            count += 1
            yield line, attack
        if count == 0:
            raise InputError(f"no attacks in this {self.title} file", path=str(path))

    def rows(self, path: Path) -> Iterator[Row]:
        """The fields of each attack of the file (what a format implements)."""
        raise NotImplementedError

    def sniff(self, head: str) -> bool:
        """Whether a file starting with ``head`` is in this format (for ``auto`` among
        formats that share a suffix; the first importer whose sniff says yes reads it)."""
        return True

    # -- helpers for the formats ------------------------------------------------------------

    def csv_rows(
        self, path: Path, *, required: tuple[str, ...], optional: tuple[str, ...] = ()
    ) -> Iterator[tuple[int, dict[str, str]]]:
        """A CSV file's rows keyed by the canonical column names (matched without regard to
        case or surrounding spaces); a missing required column is an error at line 1."""
        csv.field_size_limit(max(csv.field_size_limit(), self.max_prompt_bytes))
        lines = self.text_lines(path, keep_ends=True)
        reader = csv.reader(text for _, text in lines)
        row_start = 1
        try:
            header = next(reader, None)
            if header is None:
                return
            names = [h.strip().lower() for h in header]
            columns: dict[str, int] = {}
            for name in (*required, *optional):
                if name.lower() in names:
                    columns[name] = names.index(name.lower())
            missing = [n for n in required if n not in columns]
            if missing:
                raise InputError(
                    f"missing column {', '.join(map(repr, missing))} for {self.title} "
                    f"(the header has {', '.join(map(repr, header))}; expected "
                    f"{', '.join((*required, *optional))})",
                    path=str(path),
                    line=1,
                )
            row_start = reader.line_num + 1
            for values in reader:
                line, row_start = row_start, reader.line_num + 1
                if not any(v.strip() for v in values):
                    continue
                if len(values) != len(header):
                    raise InputError(
                        f"{len(values)} values for {len(header)} columns",
                        path=str(path),
                        line=line,
                    )
                yield line, {name: values[i] for name, i in columns.items()}
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise too_long(
                    self.max_prompt_bytes + 1, self.max_prompt_bytes, f"{path}:{row_start}"
                ) from None
            raise InputError(f"malformed CSV: {exc}", path=str(path), line=row_start) from None

    def text_lines(self, path: Path, *, keep_ends: bool = False) -> Iterator[tuple[int, str]]:
        """A text file's lines, numbered from 1, each decoded on its own (so an encoding
        error names its line) and capped in length (a CSV line holds several fields)."""
        cap = self.max_prompt_bytes * 4 + 4096 if keep_ends else self.max_prompt_bytes + 2
        with path.open("rb") as f:
            line_no = 0
            while data := f.readline(cap + 1):
                line_no += 1
                where = f"{path}:{line_no}"
                if len(data) > cap and not data.endswith(b"\n"):
                    raise too_long(len(data), cap, where)
                text = decode(data, _python_codec(self.encoding), where)
                if line_no == 1:
                    text = text.removeprefix("\ufeff")
                yield line_no, text if keep_ends else text.rstrip("\r\n")

    def whole_text(self, path: Path) -> str:
        """A whole-file format's text (capped at :data:`MAX_FILE_BYTES`); an encoding error
        names its line."""
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                f"{self.title} file of {size:,} bytes exceeds the {MAX_FILE_BYTES:,}-byte limit "
                "for files read whole",
                path=str(path),
            )
        data = path.read_bytes()
        try:
            return data.decode(_python_codec(self.encoding)).removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise InputError(
                f"invalid {self.encoding} (byte 0x{data[exc.start : exc.start + 1].hex()}); "
                "pass the file's encoding if it is not UTF-8",
                path=str(path),
                line=line,
            ) from None
        except LookupError:
            raise InputError(f"unknown encoding {self.encoding!r}") from None


def _python_codec(encoding: str) -> str:
    """UTF-8 files may start with a byte-order mark (spreadsheet exports do)."""
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def check_file(path: Path) -> None:
    """The path is an existing, non-empty regular file (InputError naming it otherwise)."""
    if not path.exists():
        raise InputError("no such file", path=str(path))
    if not path.is_file():
        raise InputError("not a regular file", path=str(path))
    if path.stat().st_size == 0:
        raise InputError("no attacks (the file is empty)", path=str(path))


def required_text(row: Mapping[str, str], column: str, *, path: Path, line: int) -> str:
    """A column's value, which must not be blank (InputError naming file:line and column)."""
    value = row.get(column, "")
    if not value.strip():
        raise InputError(
            "empty value (an attack needs it)", path=str(path), line=line, field=column
        )
    return value


def optional_text(row: Mapping[str, str], column: str) -> str | None:
    """A column's value, or None when it is absent or blank."""
    value = row.get(column)
    return value if value is not None and value.strip() else None
