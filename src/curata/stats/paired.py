"""Paired binary outcomes: McNemar's test and the difference of two paired proportions.

Each of ``n`` units (an attack, a patient) is classified twice, and the 2x2 table counts
``a`` (positive both times), ``b`` (positive the first time only), ``c`` (positive the second
time only) and ``d`` (neither). Only the discordant ``b`` and ``c`` carry evidence of a change.

- :func:`mcnemar`: the test of marginal homogeneity. ``exact`` (the default) is the conditional
  binomial test, two-sided p = min(1, 2 P[X <= min(b, c)]) with X ~ Bin(b + c, 1/2); ``midp``
  subtracts the probability of the observed table once, p = exact - P[X = b] (and
  1 - P[X = b] / 2 when b = c), as Fagerland, Lydersen and Laake (2013, "The McNemar test for
  binary matched-pairs data: mid-p and asymptotic are better than exact conditional", BMC Med
  Res Methodol 13:91) define and recommend; ``chi2`` is McNemar's (1947) asymptotic test,
  (|b - c| - 1)^2 / (b + c) on one degree of freedom with Edwards' continuity correction (the
  corrected numerator never goes below 0), or (b - c)^2 / (b + c) with ``correction=False``.
- :func:`paired_difference`: p1 - p2 = (b - c) / n with Newcombe's (1998) hybrid score
  interval, method 10 of "Improved confidence intervals for the difference between binomial
  proportions based on paired data", Statistics in Medicine 17:2635-2650: the Wilson intervals
  (l1, u1) and (l2, u2) of the two margins are combined as
  L = theta - sqrt((p1 - l1)^2 - 2 phi (p1 - l1)(u2 - p2) + (u2 - p2)^2) and
  U = theta + sqrt((u1 - p1)^2 - 2 phi (u1 - p1)(p2 - l2) + (p2 - l2)^2), where phi is the
  correlation of the pairs with Newcombe's continuity-corrected numerator: ad - bc is replaced
  by max(ad - bc - n/2, 0) when positive, and phi is 0 when a margin is empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from curata.stats.proportions import wilson_interval

McNemarMethod = Literal["exact", "midp", "chi2"]


@dataclass(frozen=True)
class McNemar:
    """McNemar's test on the discordant counts ``b`` and ``c`` (see :func:`mcnemar`).

    ``statistic`` is min(b, c) for the exact and mid-p tests (as statsmodels reports it) and
    the chi-square value for ``chi2``.
    """

    b: int
    c: int
    statistic: float
    p_value: float
    method: McNemarMethod
    correction: bool


@dataclass(frozen=True)
class PairedDifference:
    """p1 - p2 of a paired 2x2 table with Newcombe's method-10 interval at ``confidence``."""

    estimate: float
    low: float
    high: float
    p1: float
    p2: float
    n: int
    confidence: float


def mcnemar(b: int, c: int, *, method: McNemarMethod = "exact", correction: bool = True) -> McNemar:
    """McNemar's two-sided test that the discordant pairs split evenly.

    ``correction`` applies to ``chi2`` only. With no discordant pair (b = c = 0) nothing
    speaks against the null: every method returns p = 1 (statistic 0).
    """
    _check_counts(b=b, c=c)
    if method not in ("exact", "midp", "chi2"):
        raise ValueError(f"method must be 'exact', 'midp' or 'chi2', got {method!r}")
    m = b + c
    if method == "chi2":
        if m == 0:
            return McNemar(b, c, 0.0, 1.0, method, correction)
        gap = max(abs(b - c) - (1.0 if correction else 0.0), 0.0)
        stat = gap * gap / m
        # chi-square with one degree of freedom: P[Z^2 >= stat] = 2 (1 - Phi(sqrt(stat)))
        p = math.erfc(math.sqrt(stat / 2.0))
        return McNemar(b, c, stat, min(1.0, p), method, correction)
    k = min(b, c)
    exact = min(1.0, 2.0 * _binomial_half_cdf(k, m))
    if method == "exact":
        return McNemar(b, c, float(k), exact, method, correction)
    if m == 0:
        midp = 1.0
    elif b == c:
        midp = 1.0 - 0.5 * _binomial_half_pmf(k, m)
    else:
        midp = exact - _binomial_half_pmf(k, m)
    return McNemar(b, c, float(k), min(1.0, max(0.0, midp)), method, correction)


def paired_difference(
    a: int, b: int, c: int, d: int, *, confidence: float = 0.95
) -> PairedDifference:
    """p1 - p2 = (b - c) / n of the paired table ``a b / c d`` (p1 = (a + b) / n,
    p2 = (a + c) / n) with Newcombe's (1998) method-10 interval (module docstring).

    The interval stays within [-1, 1] and has positive width even at b = c = 0. A table with
    no pair (n = 0) has no difference to estimate: :class:`ValueError`.
    """
    _check_counts(a=a, b=b, c=c, d=d)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    n = a + b + c + d
    if n == 0:
        raise ValueError("a paired difference needs at least one pair (a + b + c + d = 0)")
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson_interval(a + b, n, confidence)
    l2, u2 = wilson_interval(a + c, n, confidence)
    phi = _newcombe_phi(a, b, c, d)
    theta = p1 - p2
    down = (p1 - l1) ** 2 - 2.0 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2
    up = (u1 - p1) ** 2 - 2.0 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2
    low = max(-1.0, theta - math.sqrt(max(down, 0.0)))
    high = min(1.0, theta + math.sqrt(max(up, 0.0)))
    return PairedDifference(theta, low, high, p1, p2, n, confidence)


def _newcombe_phi(a: int, b: int, c: int, d: int) -> float:
    """Newcombe's (1998) phi for method 10: the pairs' correlation, its numerator ad - bc
    shrunk by n/2 towards 0 when positive; 0 when any margin is empty."""
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins == 0:
        return 0.0
    n = a + b + c + d
    cross = a * d - b * c
    numerator = max(cross - n / 2.0, 0.0) if cross > 0 else float(cross)
    return numerator / math.sqrt(margins)


def _binomial_half_pmf(k: int, m: int) -> float:
    """P[X = k] for X ~ Bin(m, 1/2), in log space so that large m neither overflows nor
    underflows before the end."""
    if not 0 <= k <= m:
        return 0.0
    log = math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1) - m * math.log(2.0)
    return math.exp(log)


def _binomial_half_cdf(k: int, m: int) -> float:
    """P[X <= k] for X ~ Bin(m, 1/2)."""
    if k >= m:
        return 1.0
    return math.fsum(_binomial_half_pmf(i, m) for i in range(k + 1))


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
