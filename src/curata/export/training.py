"""Writing a labelled version as a TRL training file (dpo, sft, kto, prompt-completion).

The conversion itself is :mod:`curata.export.preference`; this module picks the preference
question, decides the conversational form, streams the rows and writes them atomically
(JSON Lines, or Parquet when OUT ends in ``.parquet``), counting every excluded record by
reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curata.core.errors import ValidationError
from curata.export.formats import Batches
from curata.export.formats import export as write_atomically
from curata.export.preference import (
    CONVERTERS,
    TRAINING_FORMATS,
    has_chat_context,
    preference_questions,
)


@dataclass(frozen=True)
class TrainingExport:
    """What a training export wrote: rows, the records they came from, and what was left out."""

    format: str
    out: str
    question: str | None
    conversational: bool
    records: int
    used: int
    rows: int
    excluded: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def describe(self) -> str:
        """One line for people: what was written and every exclusion with its count."""
        form = "conversational" if self.conversational else "plain"
        line = (
            f"{self.rows:,} {self.format} rows from {self.used:,} of {self.records:,} records "
            f"({form}) to {self.out}"
        )
        if self.excluded:
            reasons = ", ".join(f"{n:,} {why}" for why, n in sorted(self.excluded.items()))
            line += f"; excluded: {reasons}"
        return line


def _scan(batches: Batches, question: str | None) -> tuple[str | None, bool]:
    """The preference question (named, or the only one the labels hold) and whether any
    record has a chat context."""
    found: set[str] = set()
    chat = False
    for batch in batches:
        for row in batch:
            chat = chat or has_chat_context(row)
            if isinstance(row.get("responses"), list):
                found |= preference_questions(row.get("curata_labels"))
    if question is not None:
        if found and question not in found:
            raise ValidationError(
                f"question: {question!r} holds no preference or ranking labels in this "
                f"version (found: {', '.join(sorted(found))})"
            )
        return question, chat
    if len(found) > 1:
        raise ValidationError(
            f"question: the labels hold several preference or ranking questions "
            f"({', '.join(sorted(found))}); name one with --question"
        )
    return (found.pop() if found else None), chat


def export_training(
    batches_factory: Callable[[], Batches],
    *,
    fmt: str,
    out: Path,
    question: str | None = None,
    overwrite: bool = False,
) -> TrainingExport:
    """Convert every row of a version to ``fmt`` and write them to ``out`` (nothing is written
    when no record gives a training row, or on any error)."""
    if fmt not in TRAINING_FORMATS:
        raise ValidationError(f"format: {fmt!r} is not one of {', '.join(TRAINING_FORMATS)}")
    if out.exists() and not overwrite:
        raise ValidationError(f"{out} already exists (pass --overwrite to replace it)")
    name, chat = _scan(batches_factory(), question)
    if name is None and fmt in ("dpo", "kto"):
        raise ValidationError(
            f"{fmt} needs preference or ranking labels on pairwise records and this version "
            "has none (release a project with a preference or ranking question first)"
        )
    conversational = fmt == "sft" or chat
    convert = CONVERTERS[fmt]
    excluded: Counter[str] = Counter()
    counts = {"records": 0, "used": 0, "rows": 0}

    def converted() -> Iterator[list[dict[str, Any]]]:
        for batch in batches_factory():
            rows: list[dict[str, Any]] = []
            for row in batch:
                counts["records"] += 1
                result = convert(row, question=name or "", conversational=conversational)
                if result.excluded is not None:
                    excluded[result.excluded] += 1
                    continue
                counts["used"] += 1
                rows.extend(result.rows)
            counts["rows"] += len(rows)
            if rows:
                yield rows
        if counts["rows"] == 0:
            reasons = ", ".join(f"{n} {why}" for why, n in sorted(excluded.items()))
            raise ValidationError(
                f"no {fmt} rows to write: every one of {counts['records']} records was "
                f"excluded ({reasons or 'the version is empty'})"
            )

    target = "parquet" if out.suffix == ".parquet" else "jsonl"
    write_atomically(converted, fmt=target, out=out, name="", card="", overwrite=overwrite)
    return TrainingExport(
        format=fmt,
        out=str(out),
        question=name,
        conversational=conversational,
        records=counts["records"],
        used=counts["used"],
        rows=counts["rows"],
        excluded=dict(excluded),
    )
