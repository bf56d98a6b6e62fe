"""Small statistics used across the quality layer (pure functions)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from statistics import NormalDist
from typing import Any

from curata.core.ids import canonical_json


def gold_checks(answers: dict[str, Any], gold: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """(question, right?) for every gold question the answers address (values compared as
    canonical JSON, so key order and number spelling do not matter)."""
    for name, want in gold.items():
        if name in answers:
            yield name, canonical_json(answers[name]) == canonical_json(want)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (Wilson 1927; Newcombe 1998, method 3).

    Unlike the normal ("Wald") interval it stays inside [0, 1] and behaves at 0/n and n/n,
    which matters for an annotator's first gold items. ``(0.0, 1.0)`` when ``n`` is 0.
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    z = NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    return max(0.0, centre - half), min(1.0, centre + half)
