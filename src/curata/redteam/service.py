"""The red-team service: attack sets as versioned datasets.

:meth:`RedTeamService.import_attacks` reads a public corpus file through its importer and
commits the next version of an attack-set dataset through ingest (one version-commit path: the
source checked, the lock, lineage and audit as any ingest); :meth:`RedTeamService.attacks` lists
and filters a version's attacks; :meth:`RedTeamService.taxonomy_counts` counts them per
taxonomy field, the basis of the coverage grid.
"""

from __future__ import annotations

import builtins
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curata.core.errors import ValidationError
from curata.core.models import Version
from curata.core.records import Record
from curata.redteam.attacks import (
    CATEGORIES,
    DIRECTNESS,
    FRAMINGS,
    HARM_AREAS,
    PROVENANCES,
    TAXONOMY_FIELDS,
    Attack,
    check_taxonomy,
    owasp_id,
)
from curata.redteam.coverage import DIMENSIONS, AttackCoverage, Encode, coverage_grid, diversity
from curata.redteam.importers import IMPORTERS, detect_format
from curata.sourcing.ingest import IngestService
from curata.versioning.service import DatasetService

KEY_FIELD = "corpus_id"
"""An attack set's key: the same corpus row across versions is one attack, changed or not."""

COUNTED = (*TAXONOMY_FIELDS[:-1], "corpus")
"""The fields :meth:`RedTeamService.taxonomy_counts` counts (``benign`` is counted apart)."""


@dataclass(frozen=True)
class AttackImport:
    """What an import did: a new version of the attack set, or none (content unchanged)."""

    dataset: str
    format: str
    path: str
    version: Version
    changed: bool
    attacks_read: int
    duplicates: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "format": self.format,
            "path": self.path,
            "changed": self.changed,
            "attacks_read": self.attacks_read,
            "duplicates": self.duplicates,
            "version": self.version.to_dict(),
        }


@dataclass(frozen=True)
class StoredAttack:
    """An attack of a version, with its record id (what campaigns and findings point to)."""

    id: str
    attack: Attack

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "prompt": self.attack.prompt, **self.attack.taxonomy()}


@dataclass(frozen=True)
class AttackListing:
    """The attacks of a version that pass a filter."""

    ref: str
    filters: dict[str, Any]
    total: int
    """How many attacks the version holds (before filtering)."""
    attacks: list[StoredAttack] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "filters": self.filters,
            "total": self.total,
            "matched": len(self.attacks),
            "attacks": [a.to_dict() for a in self.attacks],
        }


@dataclass(frozen=True)
class TaxonomyCounts:
    """How many attacks of a version fall in each value of each taxonomy field (an attack
    probing two OWASP risks counts under both; an attack without a harm area or author is
    counted under ``none``)."""

    ref: str
    total: int
    benign: int
    counts: dict[str, dict[str, int]]

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "total": self.total, "benign": self.benign, "counts": self.counts}


class RedTeamService:
    """Attack sets: import them from public corpora, list and count their taxonomy."""

    def __init__(
        self, ingest: IngestService, datasets: DatasetService, *, max_record_bytes: int
    ) -> None:
        self._ingest = ingest
        self._datasets = datasets
        self._max_record_bytes = max_record_bytes

    def import_attacks(
        self,
        path: str | Path,
        *,
        dataset: str,
        source: str,
        format: str = "auto",
        message: str | None = None,
        append: bool = False,
        force: bool = False,
        encoding: str = "utf-8",
        **taxonomy: Any,
    ) -> AttackImport:
        """Read a corpus file (``format``: ``auto`` or one of :data:`IMPORTERS`) into the next
        version of the attack set ``dataset``, its records attributed to the registered
        ``source``. ``taxonomy`` (``language='fr'``, ``benign=True``, ``category=…``) sets a
        field for every attack of the file, over what the format maps.

        A snapshot by default (the file is the set's whole new content; ``append`` adds to
        it); unchanged content makes no version; a malformed file (InputError naming
        ``file:line`` and the field) leaves no version. Attacks are keyed by ``corpus_id``, so
        a diff of two versions shows a corpus row whose text changed as changed.
        """
        path = Path(path)
        given = check_taxonomy(taxonomy)
        fmt = detect_format(path, format)
        importer = IMPORTERS[fmt](encoding=encoding, max_prompt_bytes=self._max_record_bytes)

        def records(file: Path) -> Iterator[tuple[str, Record]]:
            for line, attack in importer.read(file, defaults=given):
                yield f"{file}:{line}", attack.to_record()

        result = self._ingest.ingest(
            [path],
            source=source,
            dataset=dataset,
            format=fmt,
            message=message if message is not None else f"import {fmt} {path.name}",
            key=KEY_FIELD,
            append=append,
            encoding=encoding,
            force=force,
            reader=records,
        )
        return AttackImport(
            dataset=dataset,
            format=fmt,
            path=str(path),
            version=result.version,
            changed=result.changed,
            attacks_read=result.records_read,
            duplicates=result.duplicates,
        )

    def iter_attacks(self, ref: str) -> Iterator[StoredAttack]:
        """Every attack of a version, in manifest order (InputError naming the record when a
        record of the version is not an attack)."""
        name = self._datasets.version(ref).ref
        for batch in self._datasets.iter_records(name):
            for record_id, record in batch:
                yield StoredAttack(
                    record_id, Attack.from_record(record, where=f"{name} {record_id}")
                )

    def attacks(
        self,
        ref: str,
        *,
        category: str | None = None,
        harm_area: str | None = None,
        technique: str | None = None,
        framing: str | None = None,
        language: str | None = None,
        directness: str | None = None,
        owasp: str | None = None,
        provenance: str | None = None,
        benign: bool | None = None,
        corpus: str | None = None,
        limit: int | None = None,
    ) -> AttackListing:
        """The attacks of a version matching every filter given (``owasp``: the attack probes
        that risk; ``limit``: at most that many, in manifest order)."""
        filters: dict[str, Any] = {
            k: v
            for k, v in {
                "category": _one_of(category, CATEGORIES, "category"),
                "harm_area": _one_of(harm_area, HARM_AREAS, "harm-area"),
                "technique": technique,
                "framing": _one_of(framing, FRAMINGS, "framing"),
                "language": language,
                "directness": _one_of(directness, DIRECTNESS, "directness"),
                "owasp": _owasp(owasp),
                "provenance": _one_of(provenance, PROVENANCES, "provenance"),
                "benign": benign,
                "corpus": corpus,
            }.items()
            if v is not None
        }
        if limit is not None and limit < 0:
            raise ValidationError("limit: must not be negative")
        version = self._datasets.version(ref)
        matched: builtins.list[StoredAttack] = []
        total = 0
        for stored in self.iter_attacks(version.ref):
            total += 1
            if (limit is None or len(matched) < limit) and _matches(stored.attack, filters):
                matched.append(stored)
        return AttackListing(ref=version.ref, filters=filters, total=total, attacks=matched)

    def taxonomy_counts(self, ref: str) -> TaxonomyCounts:
        """Counts per value of each taxonomy field (:data:`COUNTED`) over a version."""
        version = self._datasets.version(ref)
        counters: dict[str, Counter[str]] = {name: Counter() for name in COUNTED}
        total = benign = 0
        for stored in self.iter_attacks(version.ref):
            total += 1
            benign += stored.attack.benign
            for name in COUNTED:
                value = getattr(stored.attack, name)
                values = value if isinstance(value, tuple) else (value,)
                for v in values or ("none",):
                    counters[name]["none" if v is None else str(v)] += 1
        counts = {
            name: dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
            for name, counter in counters.items()
        }
        return TaxonomyCounts(ref=version.ref, total=total, benign=benign, counts=counts)

    def coverage(
        self,
        ref: str,
        *,
        dims: tuple[str, ...] = DIMENSIONS,
        thin: int = 3,
        near_dup_threshold: float = 0.8,
        encode: Encode | None = None,
        max_suggestions: int = 20,
    ) -> AttackCoverage:
        """Coverage grid over ``dims`` and diversity of a version's attacks (see
        :mod:`curata.redteam.coverage`; ``encode``: the embedding for the dispersion, MiniLM
        by default); ``.to_dict()`` for ``--json``, ``.to_html()`` for the report."""
        version = self._datasets.version(ref)
        attacks = [stored.attack for stored in self.iter_attacks(version.ref)]
        return AttackCoverage(
            ref=version.ref,
            grid=coverage_grid(attacks, dims, thin=thin, max_suggestions=max_suggestions),
            diversity=diversity(
                [a.prompt for a in attacks], near_dup_threshold=near_dup_threshold, encode=encode
            ),
            benign=sum(a.benign for a in attacks),
        )


def _one_of(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if value is not None and value not in allowed:
        raise ValidationError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _owasp(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return owasp_id(value)
    except ValueError as exc:
        raise ValidationError(f"owasp: {exc}") from None


def _matches(attack: Attack, filters: dict[str, Any]) -> bool:
    for name, wanted in filters.items():
        value = getattr(attack, name)
        if name == "owasp":
            if wanted not in value:
                return False
        elif value != wanted:
            return False
    return True
