"""Coverage and diversity of an attack set: which taxonomy combinations it tries, which it
leaves empty or thin, what to write next, and how varied its prompts are.

:func:`coverage_grid` counts attacks in every cell of every pair of taxonomy dimensions. An
axis holds the values seen plus, for a closed vocabulary (category, framing, directness, harm
area, provenance), every declared value, so a combination no attack tries shows as an empty
cell. Suggestions rank the empty cells first, then the thin ones (fewer than ``thin``
attacks); within the same count, by the count the cell would hold if its two dimensions were
independent (``total * share(row value) * share(column value)``, the marginal shares),
highest first: the gap least explained by the set simply lacking either value; ties in grid
order (pairs of ``dims`` in order, then row, then column). Cells of a declared value no attack
has expect 0 and so come after the empty cells of values in use.

:func:`diversity` measures the prompts: the near-duplicate rate (texts with at least one other
text at Jaccard >= the threshold on word shingles, found with the MinHash, LSH banding and
exact check of :mod:`curata.curation.steps.near_dedup`) and the embedding dispersion (mean
pairwise cosine distance, ``1 -`` :func:`curata.stats.typed.response_similarity`). Pure: plain
values in, plain values out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from curata.core.errors import ValidationError
from curata.curation.coverage import truncate
from curata.redteam.attacks import (
    CATEGORIES,
    DIRECTNESS,
    FRAMINGS,
    HARM_AREAS,
    PROVENANCES,
    TAXONOMY_FIELDS,
    Attack,
)

DIMENSIONS = ("category", "technique", "framing", "language", "directness")
DECLARED: dict[str, tuple[str, ...]] = {
    "category": CATEGORIES,
    "framing": FRAMINGS,
    "directness": DIRECTNESS,
    "harm_area": HARM_AREAS,
    "provenance": PROVENANCES,
}
"""The closed vocabularies: every value shows on an axis, seen or not."""
NONE = "none"
"""The axis value of an attack without a value (no harm area, no author)."""
MAX_SUGGESTIONS = 20
MAX_PAIRS = 20

Encode = Callable[[list[str]], Any]


@dataclass(frozen=True)
class Cell:
    """One cell of a pair grid: ``row_dim=row`` and ``col_dim=col``, its attack count, and
    the count expected if the two dimensions were independent."""

    row_dim: str
    row: str
    col_dim: str
    col: str
    count: int
    expected: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "dims": [self.row_dim, self.col_dim],
            "values": [self.row, self.col],
            "count": self.count,
            "expected": round(self.expected, 4),
        }


@dataclass(frozen=True)
class PairGrid:
    """Counts of attacks for every (row value, column value) of two dimensions."""

    row_dim: str
    col_dim: str
    rows: list[str]
    cols: list[str]
    counts: list[list[int]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dims": [self.row_dim, self.col_dim],
            "rows": self.rows,
            "cols": self.cols,
            "counts": self.counts,
        }


@dataclass(frozen=True)
class CoverageGrid:
    """A set's coverage: marginal counts per dimension, a grid per pair of dimensions, its
    empty and thin cells, declared values no attack has, and the cells to fill next."""

    total: int
    dims: tuple[str, ...]
    thin: int
    marginals: dict[str, dict[str, int]]
    grids: list[PairGrid]
    empty: list[Cell]
    thin_cells: list[Cell]
    missing: dict[str, list[str]]
    suggestions: list[Cell]

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "dims": list(self.dims),
            "thin": self.thin,
            "cells": sum(len(g.rows) * len(g.cols) for g in self.grids),
            "marginals": self.marginals,
            "grids": [g.to_dict() for g in self.grids],
            "empty": [c.to_dict() for c in self.empty],
            "thin_cells": [c.to_dict() for c in self.thin_cells],
            "missing": self.missing,
            "suggestions": [c.to_dict() for c in self.suggestions],
        }


@dataclass(frozen=True)
class Diversity:
    """How varied a set's texts are (``dispersion`` is None for fewer than two texts)."""

    texts: int
    near_dup_threshold: float
    near_duplicates: int
    """Texts with at least one other text at Jaccard >= the threshold."""
    near_dup_pairs: list[tuple[int, int, float]] = field(default_factory=list)
    """Up to :data:`MAX_PAIRS` linked pairs (indices into the texts, exact Jaccard)."""
    pair_count: int = 0
    dispersion: float | None = None
    examples: list[tuple[str, str]] = field(default_factory=list)
    """The two texts of each of ``near_dup_pairs``, shortened."""

    @property
    def near_dup_rate(self) -> float:
        return self.near_duplicates / self.texts if self.texts else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "texts": self.texts,
            "near_dup_threshold": self.near_dup_threshold,
            "near_duplicates": self.near_duplicates,
            "near_dup_rate": self.near_dup_rate,
            "near_dup_pair_count": self.pair_count,
            "near_dup_pairs": [
                {"a": a, "b": b, "jaccard": round(j, 4), "texts": list(texts)}
                for (a, b, j), texts in zip(self.near_dup_pairs, self.examples, strict=True)
            ],
            "dispersion": self.dispersion,
        }


def _values(item: Attack | Mapping[str, Any], dim: str) -> tuple[str, ...]:
    value = getattr(item, dim) if isinstance(item, Attack) else item.get(dim)
    items = tuple(value) if isinstance(value, list | tuple) else (value,)
    return tuple(NONE if v is None else str(v) for v in items) or (NONE,)


def _axis(dim: str, counts: Counter[str]) -> list[str]:
    declared = DECLARED.get(dim, ())
    extra = sorted((v for v in counts if v not in declared), key=lambda v: (-counts[v], v))
    return [*declared, *extra]


def coverage_grid(
    attacks: Sequence[Attack | Mapping[str, Any]],
    dims: Sequence[str] = DIMENSIONS,
    *,
    thin: int = 3,
    max_suggestions: int = MAX_SUGGESTIONS,
) -> CoverageGrid:
    """Count ``attacks`` (or their taxonomy dicts) in every cell of every pair of ``dims``.

    A multi-valued field (``owasp``) counts an attack under each of its values. Empty cells
    are those with no attack, thin ones those with fewer than ``thin``; ``suggestions`` are the
    first ``max_suggestions`` of them, ranked as the module says.
    """
    dims = tuple(dims)
    unknown = [d for d in dims if d not in TAXONOMY_FIELDS]
    if unknown:
        raise ValidationError(
            f"dims: {', '.join(unknown)} not a taxonomy field (one of {', '.join(TAXONOMY_FIELDS)})"
        )
    if len(set(dims)) != len(dims) or len(dims) < 2:
        raise ValidationError("dims: give at least two distinct taxonomy fields")
    if thin < 1:
        raise ValidationError("thin: must be at least 1")
    rows = [{d: _values(a, d) for d in dims} for a in attacks]
    total = len(rows)
    marginal = {d: Counter(v for r in rows for v in r[d]) for d in dims}
    axes = {d: _axis(d, marginal[d]) for d in dims}
    grids: list[PairGrid] = []
    empty: list[Cell] = []
    thin_cells: list[Cell] = []
    for a, b in combinations(dims, 2):
        pair = Counter((x, y) for r in rows for x in r[a] for y in r[b])
        counts = [[pair[(x, y)] for y in axes[b]] for x in axes[a]]
        grids.append(PairGrid(a, b, list(axes[a]), list(axes[b]), counts))
        for x, line in zip(axes[a], counts, strict=True):
            for y, n in zip(axes[b], line, strict=True):
                if n < thin:
                    expected = marginal[a][x] * marginal[b][y] / total if total else 0.0
                    (thin_cells if n else empty).append(Cell(a, x, b, y, n, expected))
    ranked = sorted(empty + thin_cells, key=lambda c: (c.count, -c.expected))
    return CoverageGrid(
        total=total,
        dims=dims,
        thin=thin,
        marginals={d: {v: marginal[d][v] for v in axes[d]} for d in dims},
        grids=grids,
        empty=empty,
        thin_cells=thin_cells,
        missing={d: [v for v in DECLARED[d] if not marginal[d][v]] for d in dims if d in DECLARED},
        suggestions=ranked[:max_suggestions],
    )


def near_duplicate_pairs(
    texts: Sequence[str],
    *,
    threshold: float = 0.8,
    ngram: int = 5,
    num_perm: int = 128,
    seed: int = 42,
) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, jaccard)``, ``i < j``, of texts whose word-shingle sets have Jaccard >=
    ``threshold``: LSH candidates from the near-dedup step's MinHash signatures and bands,
    each decided by its exact Jaccard. A text without words is never compared."""
    from curata.curation.kernels import pair_jaccard
    from curata.curation.shingling import batch_shingle_hashes, flat_signatures
    from curata.curation.steps.near_dedup import band_keys, bucket_pairs, recall_bands

    if len(texts) < 2:
        return []
    counts, hashes, offsets = batch_shingle_hashes(list(texts), ngram, 1)
    compared = np.flatnonzero(counts >= 1)
    if len(compared) < 2:
        return []
    sigs = flat_signatures(hashes, offsets, num_perm, seed, "numba")
    bands, rows = recall_bands(threshold, num_perm)
    i, j = bucket_pairs(band_keys(sigs, bands, rows))
    starts = offsets.astype(np.int64)
    score = pair_jaccard(hashes, starts, i.astype(np.int64), j.astype(np.int64))
    linked = score >= threshold
    return [
        (int(compared[a]), int(compared[b]), float(s))
        for a, b, s in zip(i[linked], j[linked], score[linked], strict=True)
    ]


def diversity(
    texts: Sequence[str],
    *,
    near_dup_threshold: float = 0.8,
    encode: Encode | None = None,
    ngram: int = 5,
) -> Diversity:
    """Near-duplicate rate and embedding dispersion of ``texts``.

    ``encode`` maps a list of texts to one vector each (default: the MiniLM encoder of
    :func:`curata.stats.typed.minilm_encode`); dispersion is the mean over pairs of
    ``1 - cos(u, v)``: 0 when every text says the same, about 1 for unrelated texts.
    """
    from curata.stats.typed import response_similarity

    if not 0 < near_dup_threshold <= 1:
        raise ValidationError("near_dup_threshold: must be in (0, 1]")
    pairs = near_duplicate_pairs(texts, threshold=near_dup_threshold, ngram=ngram)
    linked = {k for i, j, _ in pairs for k in (i, j)}
    shown = sorted(pairs)[:MAX_PAIRS]
    dispersion: float | None = None
    if len(texts) >= 2:
        similarity = response_similarity([list(texts)], encode=encode).value
        if math.isfinite(similarity):
            dispersion = max(0.0, 1.0 - similarity)
    return Diversity(
        texts=len(texts),
        near_dup_threshold=near_dup_threshold,
        near_duplicates=len(linked),
        near_dup_pairs=shown,
        pair_count=len(pairs),
        dispersion=dispersion,
        examples=[(truncate(texts[i]), truncate(texts[j])) for i, j, _ in shown],
    )


@dataclass(frozen=True)
class AttackCoverage:
    """Coverage and diversity of one attack-set version."""

    ref: str
    grid: CoverageGrid
    diversity: Diversity
    benign: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "benign": self.benign,
            **self.grid.to_dict(),
            "diversity": self.diversity.to_dict(),
        }

    def to_html(self) -> str:
        """The report as a self-contained HTML page (:mod:`curata.redteam.coverage_html`)."""
        from curata.redteam.coverage_html import render_coverage

        return render_coverage(self.to_dict())
