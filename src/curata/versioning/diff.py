"""Differences between two versions, computed on manifests with vectorised set operations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.compute as pc

from curata.core.records import Record
from curata.store.records import RecordStore, ids_to_numpy

if TYPE_CHECKING:
    from curata.versioning.service import VersionHandle

PREVIEW_CHARS = 80


def preview(record: Record, limit: int = PREVIEW_CHARS) -> str:
    """A one-line glimpse of a record's content."""
    text = flat_text(record)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def change_preview(old: Record, new: Record, limit: int = PREVIEW_CHARS) -> tuple[str, str]:
    """Glimpses of two versions of a record, starting just before their first difference."""
    a, b = flat_text(old), flat_text(new)
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    start = max(0, common - 20)
    lead = "…" if start else ""

    def clip(text: str) -> str:
        text = lead + text[start:]
        return text if len(text) <= limit else text[: limit - 1] + "…"

    return clip(a), clip(b)


def flat_text(record: Record) -> str:
    """A record's content as one line of text."""
    if record.kind == "text":
        text = record.text or ""
    elif record.kind == "pair":
        text = f"{record.prompt} → {record.response}"
    else:
        text = " | ".join(f"{m.get('role')}: {m.get('content')}" for m in (record.messages or []))
    return " ".join(text.split())


def key_value(record: Record, key: str) -> Any:
    """The identity value of a record: a metadata field or a content field."""
    if key in record.metadata:
        return record.metadata[key]
    return record.content().get(key)


@dataclass
class Diff:
    """Counts and samples of what changed from version ``a`` to version ``b``."""

    a: str
    b: str
    key: str | None
    added: int
    removed: int
    changed: int
    unchanged: int
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "key": self.key,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "samples": self.samples,
        }


def diff_versions(
    store: RecordStore, a: VersionHandle, b: VersionHandle, *, key: str | None, samples: int
) -> Diff:
    """Compare the manifests of two versions (of the same or different datasets)."""
    ta = store.manifest_table(a.storage_key, a.manifest_version, ["record_id", "row"])
    tb = store.manifest_table(b.storage_key, b.manifest_version, ["record_id", "row"])
    col_a, col_b = ta.column("record_id"), tb.column("record_id")
    ids_a, ids_b = ids_to_numpy(col_a), ids_to_numpy(col_b)
    rows_a, rows_b = ta.column("row").to_numpy(), tb.column("row").to_numpy()
    # Arrow's hash-based membership: ~2.5x faster than np.isin on S32 (bench/diagnose.py).
    in_b = pc.is_in(col_a, value_set=col_b.combine_chunks()).to_numpy(zero_copy_only=False)
    in_a = pc.is_in(col_b, value_set=col_a.combine_chunks()).to_numpy(zero_copy_only=False)
    removed_idx, added_idx = np.flatnonzero(~in_b), np.flatnonzero(~in_a)
    unchanged = int(in_b.sum())
    changed_pairs: list[tuple[int, int]] = []
    if key and len(removed_idx) and len(added_idx):
        old = store.take_records(rows_a[removed_idx])
        new = store.take_records(rows_b[added_idx])
        by_key: dict[str, int] = {}
        for i, record in zip(removed_idx, old, strict=True):
            value = key_value(record, key)
            if value is not None:
                by_key[repr(value)] = int(i)
        matched_new: list[int] = []
        for j, record in zip(added_idx, new, strict=True):
            value = key_value(record, key)
            if value is not None and repr(value) in by_key:
                changed_pairs.append((by_key.pop(repr(value)), int(j)))
                matched_new.append(int(j))
        matched_old = {i for i, _ in changed_pairs}
        removed_idx = np.array(
            [i for i in removed_idx if int(i) not in matched_old], dtype=np.int64
        )
        added_idx = np.setdiff1d(added_idx, np.array(matched_new, dtype=np.int64))
    result = Diff(
        a=a.version.ref,
        b=b.version.ref,
        key=key,
        added=len(added_idx),
        removed=len(removed_idx),
        changed=len(changed_pairs),
        unchanged=unchanged,
    )
    if samples > 0:
        result.samples = _samples(
            store, ids_a, ids_b, rows_a, rows_b, added_idx, removed_idx, changed_pairs, key, samples
        )
    return result


def _samples(
    store: RecordStore,
    ids_a: np.ndarray,
    ids_b: np.ndarray,
    rows_a: np.ndarray,
    rows_b: np.ndarray,
    added_idx: np.ndarray,
    removed_idx: np.ndarray,
    changed_pairs: list[tuple[int, int]],
    key: str | None,
    n: int,
) -> dict[str, list[dict[str, Any]]]:
    added = [
        {"id": ids_b[i].decode(), "preview": preview(r)}
        for i, r in zip(added_idx[:n], store.take_records(rows_b[added_idx[:n]]), strict=True)
    ]
    removed = [
        {"id": ids_a[i].decode(), "preview": preview(r)}
        for i, r in zip(removed_idx[:n], store.take_records(rows_a[removed_idx[:n]]), strict=True)
    ]
    pairs = changed_pairs[:n]
    old = store.take_records([int(rows_a[i]) for i, _ in pairs])
    new = store.take_records([int(rows_b[j]) for _, j in pairs])
    changed = []
    for (i, j), o, nw in zip(pairs, old, new, strict=True):
        before, after = change_preview(o, nw)
        changed.append(
            {
                "key": key_value(o, key) if key else None,
                "old_id": ids_a[i].decode(),
                "new_id": ids_b[j].decode(),
                "old": before,
                "new": after,
            }
        )
    return {"added": added, "removed": removed, "changed": changed}
