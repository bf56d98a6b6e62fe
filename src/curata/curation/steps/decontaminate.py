"""The ``decontaminate`` step: drop or flag records that share word n-grams with an eval set.

Method (Brown et al. 2020, "Language Models are Few-Shot Learners", appendix C): GPT-3's
training data was filtered for 13-gram overlaps with every benchmark, a gram being "a
lowercase, whitespace delimited word with no punctuation". Here a text is lower-cased
(``lowercase``), every character that is neither a word character (``\\w``: a letter, digit or
underscore of any script) nor whitespace is deleted (``strip_punctuation``: "Don't" is
``dont``, "well-known" ``wellknown``, "2 + 2 = 4" ``2 2 4``; EleutherAI's lm-evaluation-harness
janitor likewise deletes punctuation rather than splitting on it), and the rest is split on
whitespace. Grams never span two texts (fields, messages, eval items).

Short texts: GPT-3 ignored examples under 8 words (spurious collisions). With ``short: whole``
an eval text of ``min_words`` to ``ngram - 1`` words is one gram of all its words, matched
wherever a record contains it (so a short record matches only by containing, e.g. being, a
short eval text); ``short: skip`` ignores such eval texts. Texts under ``min_words`` words (or
``ngram``, if smaller) are never compared.

Memory: the eval set is read once, when the step is built, into a set of BLAKE2b-64 digests of
its distinct grams: about 70-90 bytes per gram (a 36-byte int plus the set's slots). The first
match re-reads the file (where the step runs: a worker, too) into a digest -> line map for the
reasons (about 80 bytes per gram; it replaces the set, so the peak is about twice that).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from curata.core.errors import InputError
from curata.core.records import Record
from curata.curation.steps.base import Decision, Item, Step, TextParams, text_fields

EVAL_FIELDS = ("text", "prompt", "response", "question", "answer", "input", "output", "messages")
_PUNCTUATION = re.compile(r"[^\w\s]+")
_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "csv"}


class DecontaminateParams(TextParams):
    """Parameters of :class:`Decontaminate`."""

    eval_file: str = Field(
        description="The evaluation set: JSONL (one object per line), CSV (with a header) or "
        "plain text (one example per line); a path relative to the working directory."
    )
    eval_format: Literal["auto", "jsonl", "csv", "text"] = Field(
        default="auto",
        description="Format of eval_file; auto: .jsonl/.ndjson/.json are JSONL, .csv/.tsv "
        "CSV, anything else text.",
    )
    eval_fields: tuple[str, ...] = Field(
        default=EVAL_FIELDS,
        description="JSONL keys or CSV columns read as eval texts (a list value gives each "
        "string, or each message's content); other keys and non-text values are ignored.",
    )
    ngram: int = Field(default=13, ge=1, description="Words per gram (13, as in GPT-3).")
    min_overlap: int = Field(
        default=1, ge=1, description="Distinct grams a record must share with the eval set."
    )
    action: Literal["drop", "flag"] = Field(
        default="drop",
        description="drop the record, or flag it: keep it with metadata 'contaminated'.",
    )
    lowercase: bool = Field(default=True, description="Compare words case-insensitively.")
    strip_punctuation: bool = Field(
        default=True, description="Delete every character that is not a word character or space."
    )
    short: Literal["whole", "skip"] = Field(
        default="whole",
        description="An eval text shorter than ngram words: one gram of all its words "
        "(matched where a record contains it), or skip it.",
    )
    min_words: int = Field(
        default=8,
        ge=1,
        description="Texts with fewer words (or fewer than ngram, if smaller) are never "
        "compared (GPT-3 ignored examples under 8 words).",
    )

    @field_validator("eval_file")
    @classmethod
    def _exists(cls, value: str) -> str:
        if not Path(value).is_file():
            raise ValueError(f"{'not a' if Path(value).exists() else 'no such'} file: {value}")
        return value


class Decontaminate(Step):
    """Drop (or flag) records sharing at least ``min_overlap`` grams with an evaluation set.

    Matches count distinct grams over all the selected texts of a record; the example shown is
    the first matching gram in reading order (texts in order; within one, ``ngram``-grams
    before short-text grams), with the eval line where it first occurs.
    """

    name = "decontaminate"
    summary = "Drop or flag records sharing word n-grams with an evaluation set (GPT-3 style)."
    Params = DecontaminateParams
    params: DecontaminateParams

    def __init__(self, params: DecontaminateParams) -> None:
        super().__init__(params)
        self._path = Path(params.eval_file)
        self._floor = min(params.min_words, params.ngram)
        self._short: tuple[int, ...] = ()  # word counts of the short eval texts
        self._lines: dict[int, int] | None = None
        grams: set[int] = set()
        self.digest, count = self._load(lambda key, _line: grams.add(key))
        self._grams: set[int] | dict[int, int] = grams  # a dict once lines are needed
        if not count:
            raise InputError(
                f"no eval text of {self._floor} or more words in the fields "
                f"{', '.join(params.eval_fields)}",
                path=str(self._path),
            )

    def words(self, text: str) -> list[str]:
        """The normalised words of ``text``."""
        if self.params.lowercase:
            text = text.lower()
        if self.params.strip_punctuation:
            text = _PUNCTUATION.sub("", text)
        return text.split()

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        """Drop (or flag) each record with ``min_overlap`` or more matching grams."""
        return [self._decide(record) for _, record in batch]

    def _decide(self, record: Record) -> Decision:
        matched: dict[int, str] = {}  # digest -> gram, in reading order
        grams = self._grams
        for _, text in text_fields(record, self.params.fields):
            words = self.words(text)
            if len(words) < self._floor:
                continue
            for size in (self.params.ngram, *self._short):
                keys = _keys(words, size)
                for i in [i for i, key in enumerate(keys) if key in grams]:
                    matched.setdefault(keys[i], " ".join(words[i : i + size]))
        if len(matched) < self.params.min_overlap:
            return Decision.keep()
        key, gram = next(iter(matched.items()))
        line = self._line(key)
        example = gram if len(gram) <= 60 else _shorten(gram)
        sizes = sorted({len(g.split()) for g in matched.values()}, reverse=True)
        reason = (
            f"{len(matched)} of its {'/'.join(map(str, sizes))}-grams appear in eval set "
            f"{self._path.name} (first at '{example}' from eval line {line})"
        )
        found: dict[str, Any] = {
            "eval_file": self._path.name,
            "eval_sha256": self.digest,
            "matches": len(matched),
            "example": example,
            "eval_line": line,
        }
        if self.params.action == "drop":
            return Decision.drop(f"contaminated: {reason}", **found)
        changed = dataclasses.replace(record, metadata={**record.metadata, "contaminated": found})
        return Decision.change(changed, f"flagged as contaminated: {reason}", **found)

    def _line(self, key: int) -> int:
        """The eval line where a gram first occurs (the first call re-reads the eval file)."""
        if self._lines is None:
            lines: dict[int, int] = {}
            digest, _ = self._load(lambda k, line: lines.setdefault(k, line))
            if digest != self.digest:
                raise InputError("the eval set changed during the run", path=str(self._path))
            self._lines = self._grams = lines
        return self._lines[key]

    def _load(self, add: Callable[[int, int], object]) -> tuple[str, int]:
        """Feed ``add(digest, line)`` every gram of the eval set; its sha256 and text count."""
        p, short, count = self.params, set(), 0
        sha = hashlib.sha256()
        for line, text in self._texts(sha):
            words = self.words(text)
            if len(words) < self._floor or (len(words) < p.ngram and p.short == "skip"):
                continue
            size = min(p.ngram, len(words))
            if size < p.ngram:
                short.add(size)
            count += 1
            for key in _keys(words, size):
                add(key, line)
        self._short = tuple(sorted(short, reverse=True))
        return sha.hexdigest(), count

    def _texts(self, sha: Any) -> Iterator[tuple[int, str]]:
        """(line, text) of every eval text, hashing the file's bytes into ``sha``."""
        p, path = self.params, str(self._path)
        fmt = _FORMATS.get(self._path.suffix.lower(), "text")
        fmt = fmt if p.eval_format == "auto" else p.eval_format
        lines = _decoded(self._path, sha)
        if fmt == "csv":
            yield from _csv_texts(lines, p.eval_fields, path, self._path.suffix.lower())
            return
        for n, text in (pair for pair in lines if pair[1].strip()):
            if fmt == "text":
                yield n, text
            else:
                try:
                    item = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise InputError(f"malformed JSON: {exc.msg}", path=path, line=n) from None
                if not isinstance(item, dict):
                    raise InputError("a JSONL line must be an object", path=path, line=n)
                if not any(f in item for f in p.eval_fields):
                    keys = ", ".join(map(str, item)) or "none"
                    problem = f"none of the eval_fields {', '.join(p.eval_fields)} (keys: {keys})"
                    raise InputError(problem, path=path, line=n)
                yield from ((n, t) for f in p.eval_fields for t in _strings(item.get(f)))


def _shorten(gram: str) -> str:
    """The first words of a gram that fit in ~60 characters, then " ..."."""
    cut = gram[:57]
    if " " in cut and gram[57] != " ":
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + " ..."


def _keys(words: list[str], size: int) -> list[int]:
    """BLAKE2b-64 of the UTF-8 of every ``size``-word gram (its words joined by one space)."""
    text = " ".join(words)
    data = text.encode()
    lengths = map(len, words) if text.isascii() else (len(w.encode()) for w in words)
    starts = [0, *accumulate(n + 1 for n in lengths)]  # byte offset of each word
    blake2b, from_bytes = hashlib.blake2b, int.from_bytes
    return [
        from_bytes(blake2b(data[a : b - 1], digest_size=8).digest(), "little")
        for a, b in zip(starts, starts[size:], strict=False)
    ]


def _strings(value: Any) -> Iterator[str]:
    """The texts of a JSON value: a string, or a list's strings and messages' contents."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                content = item.get("content", item.get("text"))
                yield from _strings(content if isinstance(content, str | list) else None)
            elif isinstance(item, str):
                yield item


def _decoded(path: Path, sha: Any) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 file (a byte-order mark is ignored)."""
    try:
        with path.open("rb") as file:
            for n, raw in enumerate(file, 1):
                sha.update(raw)
                try:
                    text = raw.decode("utf-8-sig" if n == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise InputError(
                        f"not UTF-8 (byte {exc.start + 1} of the line)", path=str(path), line=n
                    ) from None
                yield n, text
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None


def _csv_texts(
    lines: Iterator[tuple[int, str]], fields: Sequence[str], path: str, suffix: str
) -> Iterator[tuple[int, str]]:
    """(line, cell) of the selected columns of a CSV (a TSV for ``.tsv``)."""
    rows = (text for _, text in lines)
    reader = csv.reader(rows, delimiter="\t" if suffix == ".tsv" else ",", strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        columns = [i for i, name in enumerate(header) if name.strip() in fields]
        if not columns:
            problem = f"none of the eval_fields {', '.join(fields)} (columns: {', '.join(header)})"
            raise InputError(f"the header has {problem}", path=path, line=1)
        start = reader.line_num + 1
        for row in reader:
            if row and len(row) != len(header):
                raise InputError(
                    f"{len(row)} columns, the header has {len(header)}", path=path, line=start
                )
            yield from ((start, row[i]) for i in columns if row)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"malformed CSV: {exc}", path=path, line=reader.line_num) from None
