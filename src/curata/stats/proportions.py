"""Small statistics used across the quality layer (pure functions)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from curata.core.ids import canonical_json


def gold_checks(answers: dict[str, Any], gold: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """(question, right?) for every gold question the answers address (values compared as
    canonical JSON, so key order and number spelling do not matter).

    A preference answer (an object with a ``choice``) is right when its choice is: its
    strength is scored apart (:func:`strength_checks`) and its rationale is free text.
    """
    for name, want in gold.items():
        if name in answers:
            got = answers[name]
            if _is_preference(got) and _is_preference(want):
                yield name, got["choice"] == want["choice"]
            else:
                yield name, canonical_json(got) == canonical_json(want)


def strength_checks(answers: dict[str, Any], gold: dict[str, Any]) -> Iterator[tuple[str, int]]:
    """(question, |strength - gold strength|) for every preference answer that made the gold
    choice with a strength, as the gold answer did (a wrong choice is counted by
    :func:`gold_checks`, not here)."""
    for name, want in gold.items():
        got = answers.get(name)
        if not isinstance(got, dict) or not (_is_preference(got) and _is_preference(want)):
            continue
        if got["choice"] != want["choice"]:
            continue
        mine, theirs = got.get("strength"), want.get("strength")
        if isinstance(mine, int) and isinstance(theirs, int):
            yield name, abs(mine - theirs)


def _is_preference(value: Any) -> bool:
    return isinstance(value, dict) and "choice" in value


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (Wilson 1927; Newcombe 1998, method 3).

    Unlike the normal ("Wald") interval it stays inside [0, 1] and behaves at 0/n and n/n,
    which matters for an annotator's first gold items. ``(0.0, 1.0)`` when ``n`` is 0.
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    return wilson_from_rate(successes / n, n, confidence)


def newcombe_interval(
    x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Interval for ``x1/n1 - x2/n2`` from the two Wilson score intervals (Newcombe 1998,
    "Interval estimation for the difference between independent proportions: comparison of
    eleven methods", Statistics in Medicine 17:873-890, method 10)::

        low  = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)
        high = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)
    """
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both samples need at least one observation")
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, confidence)
    l2, u2 = wilson_interval(x2, n2, confidence)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return max(-1.0, low), min(1.0, high)


def wilson_from_rate(p: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson interval of an estimated proportion ``p`` on a (possibly effective,
    non-integer) sample size ``n``; :func:`wilson_interval` for counts."""
    if n <= 0:
        return 0.0, 1.0
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    z = NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class StratifiedEstimate:
    """A proportion estimated from a stratified sample (see :func:`stratified_proportion`)."""

    p: float
    variance: float
    effective_n: float
    low: float
    high: float


def stratified_proportion(
    strata: list[tuple[int, int, int]], confidence: float = 0.95
) -> StratifiedEstimate | None:
    """The population proportion from a stratified random sample: ``strata`` are
    ``(population N_h, sampled n_h, successes k_h)``; strata with nothing sampled are left
    out and the weights renormalised over the rest.

    Estimate (Cochran 1977, *Sampling Techniques*, ch. 5): p = sum W_h p_h with W_h the
    stratum's share of the population, variance sum W_h^2 (1 - n_h/N_h) p_h (1 - p_h) / (n_h - 1)
    (the unbiased form with the finite-population correction; n_h = 1 contributes the plain
    p_h (1 - p_h)). The interval is Wilson's on Kish's effective sample size p(1 - p) / variance
    (capped at the number sampled when the variance is 0), the usual way to carry the
    Wilson interval over to a survey estimate.
    """
    used = [(N, n, k) for N, n, k in strata if n > 0]
    if not used:
        return None
    total = sum(N for N, _, _ in used)
    p = 0.0
    variance = 0.0
    for N, n, k in used:
        w = N / total
        ph = k / n
        p += w * ph
        fpc = 1.0 - n / N if N > 0 else 0.0
        variance += w * w * fpc * ph * (1.0 - ph) / (n - 1 if n > 1 else 1)
    p = min(1.0, max(0.0, p))
    sampled = sum(n for _, n, _ in used)
    effective = p * (1.0 - p) / variance if variance > 0 else float(sampled)
    low, high = wilson_from_rate(p, effective, confidence)
    return StratifiedEstimate(p, variance, effective, low, high)
