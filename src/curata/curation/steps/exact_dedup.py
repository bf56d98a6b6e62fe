"""The ``exact_dedup`` step: drop records whose normalised text another record already has."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from curata.core.records import Record
from curata.curation.steps.base import Decision, Item, Step, TextParams, text_fields
from curata.curation.steps.field_filter import MISSING, metadata_value

Summary = list[tuple[bytes | None, int, float | None, str]]
"""Per record of a batch: (digest or None when nothing is selected, length, keep value, id)."""


class ExactDedupParams(TextParams):
    """Parameters of :class:`ExactDedup`."""

    lowercase: bool = Field(default=True, description="Compare texts case-insensitively.")
    collapse_whitespace: bool = Field(
        default=True, description="Treat every run of whitespace as one space; ignore edges."
    )
    keep: Literal["first", "longest", "metadata"] = Field(
        default="first",
        description="Which twin survives: the first in the stream, the longest (characters of "
        "the selected text, before normalisation), or the best by metadata (keep_field).",
    )
    keep_field: str | None = Field(
        default=None,
        description="Metadata field (dotted path) ranked when keep is metadata; a record where "
        "it is missing or not a number survives only when no twin has a number.",
    )
    keep_order: Literal["max", "min"] = Field(
        default="max", description="Keep the twin with the largest or the smallest keep_field."
    )

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        if self.keep == "metadata" and not self.keep_field:
            raise ValueError("keep_field is required when keep is 'metadata'")
        if self.keep != "metadata" and self.keep_field is not None:
            raise ValueError(f"keep_field is only used when keep is 'metadata', not {self.keep!r}")


@dataclass(slots=True)
class _Survivor:
    index: int
    length: int
    value: float | None
    id: str
    twins: int = 1


class ExactDedup(Step):
    """Drop every record but one among those with the same normalised selected text.

    The key is BLAKE2b (16 bytes) of the record kind and each selected text with its field
    (the role for chat messages), after the normalisation the parameters select. Ties in the
    keep policy go to the first in the stream. A record with no selected text (e.g. no message
    of the selected role) is never a duplicate.

    Memory: :meth:`prepare` holds one entry per distinct text (digest, position, rank, id),
    then only the texts that have twins; records are known by their position in the stream.
    """

    name = "exact_dedup"
    summary = "Drop exact duplicates of the normalised text, keeping first, longest or best."
    Params = ExactDedupParams
    params: ExactDedupParams
    needs_all = True

    def __init__(self, params: ExactDedupParams) -> None:
        super().__init__(params)
        self._survivors: dict[bytes, _Survivor] | None = None

    def digest(self, record: Record) -> bytes | None:
        """The duplicate key of ``record``, or None when nothing is selected."""
        texts = text_fields(record, self.params.fields)
        if not texts:
            return None
        h = hashlib.blake2b(record.kind.encode(), digest_size=16)
        messages = record.messages or []
        for path, text in texts:
            if path.startswith("messages["):  # messages[i].content: the role, not i
                label = messages[int(path[9 : path.index("]")])].get("role", "")
            else:
                label = path
            if self.params.lowercase:
                text = text.lower()
            if self.params.collapse_whitespace:
                text = " ".join(text.split())
            for part in (str(label).encode(), text.encode("utf-8", "surrogatepass")):
                h.update(len(part).to_bytes(8, "little"))
                h.update(part)
        return h.digest()

    def summarize(self, batch: Sequence[Item]) -> Summary:
        """Per record: its digest, selected length, keep value and id (no text)."""
        out: Summary = []
        for record_id, record in batch:
            length = value = None
            if self.params.keep == "longest":
                length = sum(len(text) for _, text in text_fields(record, self.params.fields))
            elif self.params.keep == "metadata":
                value = _rank_value(metadata_value(record.metadata, self.params.keep_field or ""))
            out.append((self.digest(record), length or 0, value, record_id))
        return out

    def prepare(self, summaries: Iterator[Summary]) -> None:
        """Choose, for each digest, the position of the record that survives."""
        survivors: dict[bytes, _Survivor] = {}
        index = 0
        for summary in summaries:
            for digest, length, value, record_id in summary:
                if digest is not None:
                    best = survivors.get(digest)
                    if best is None:
                        survivors[digest] = _Survivor(index, length, value, record_id)
                    else:
                        best.twins += 1
                        if self._better(length, value, best):
                            survivors[digest] = _Survivor(
                                index, length, value, record_id, best.twins
                            )
                index += 1
        self._survivors = {d: s for d, s in survivors.items() if s.twins > 1}

    def _better(self, length: int, value: float | None, best: _Survivor) -> bool:
        if self.params.keep == "longest":
            return length > best.length
        if self.params.keep == "metadata" and value is not None:
            if best.value is None:
                return True
            return value > best.value if self.params.keep_order == "max" else value < best.value
        return False

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        """Drop each record that is not its digest's survivor, naming the survivor."""
        if self._survivors is None:
            raise RuntimeError("exact_dedup: prepare() must see every batch before apply()")
        out: list[Decision] = []
        for record_id, record in batch:
            digest = self.digest(record)
            survivor = None if digest is None else self._survivors.get(digest)
            # by id, not by position: the executor may apply a step on more than one pass
            if survivor is None or survivor.id == record_id:
                out.append(Decision.keep())
            else:
                out.append(
                    Decision.drop(
                        f"exact duplicate of {survivor.id} (same normalised text)",
                        related=survivor.id,
                        keep=self.params.keep,
                        twins=survivor.twins,
                    )
                )
        return out


def _rank_value(value: Any) -> float | None:
    """A metadata value as a rank: a finite number, else None (booleans are not numbers)."""
    if isinstance(value, bool) or value is MISSING or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
