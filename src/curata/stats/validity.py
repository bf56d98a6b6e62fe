"""How well a scorer agrees with human labels, and a success rate corrected for its errors.

Pure functions over plain values. A *positive* is a breach (the attack succeeded); a scorer's
verdict and a human's label per item are given as ``True`` (breach), ``False`` (no breach) or
``None`` (not judged: a target error, an empty reply, an unlabelled item), and items with a
``None`` on either side are left out and counted.

- :func:`validity`: the 2x2 table, sensitivity (breaches the scorer catches), specificity
  (non-breaches it leaves alone) and accuracy with Wilson intervals
  (:func:`curata.stats.proportions.wilson_interval`; Newcombe 1998, method 3), and Cohen's
  kappa (:func:`curata.stats.agreement.cohen_kappa`) with the large-sample standard error of
  Fleiss, Cohen and Everitt (1969) and a normal interval clipped to [-1, 1].
- :func:`rogan_gladen` and :func:`corrected_rate`: the rate of breaches in a campaign corrected
  for the scorer's measured error, (p_obs + Sp - 1) / (Se + Sp - 1) (Rogan and Gladen 1978,
  "Estimating prevalence from the results of a screening test", Am J Epidemiol 107:71-76),
  clipped to [0, 1]. Its interval is the delta-method one: Var = [Var(p_obs) + pi^2 Var(Se) +
  (1 - pi)^2 Var(Sp)] / J^2 with J = Se + Sp - 1 (Rogan and Gladen's variance, extended to
  estimated Se and Sp as in Greiner and Gardner 2000, Prev Vet Med 45:3-22); with ``adjust``
  (default) each of the three proportions first gets z^2/2 added successes and failures, the
  Agresti-Coull device Lang and Reiczigel (2014, Prev Vet Med 113:13-22) found to bring this
  interval's coverage near nominal (it is widened, if need be, to hold the estimate). Se and Sp
  given as floats are taken as known (no variance).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from curata.stats.agreement import cohen_kappa
from curata.stats.proportions import wilson_interval


@dataclass(frozen=True)
class Rate:
    """A proportion ``successes / n`` with its Wilson interval (``value`` NaN when n is 0)."""

    value: float
    low: float
    high: float
    successes: int
    n: int


def rate(successes: int, n: int, confidence: float = 0.95) -> Rate:
    """``successes / n`` with its Wilson interval."""
    low, high = wilson_interval(successes, n, confidence)
    return Rate(successes / n if n else float("nan"), low, high, successes, n)


@dataclass(frozen=True)
class Kappa:
    """Cohen's kappa with its large-sample standard error and normal interval."""

    value: float
    se: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class Validity:
    """A scorer against human labels (see :func:`validity`): the 2x2 table (``tp``: both say
    breach, ``fp``: the scorer alone, ``fn``: the humans alone, ``tn``: neither), the items
    left out, and the statistics."""

    tp: int
    fp: int
    fn: int
    tn: int
    excluded: int
    sensitivity: Rate
    specificity: Rate
    accuracy: Rate
    kappa: Kappa | None

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def corrected(self, breaches: int, n: int, *, confidence: float = 0.95,
                  adjust: bool = True) -> CorrectedRate:
        """A campaign's ``breaches / n`` corrected for this scorer's measured error."""
        return corrected_rate(breaches, n, sensitivity=(self.tp, self.tp + self.fn),
                              specificity=(self.tn, self.tn + self.fp),
                              confidence=confidence, adjust=adjust)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["n"] = self.n
        return _finite(out)


def _finite(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with NaN and infinite floats (nested too) as None, for JSON."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[key] = _finite(value)
        elif isinstance(value, float) and not math.isfinite(value):
            out[key] = None
        else:
            out[key] = value
    return out


def confusion(predicted: Sequence[bool | None], truth: Sequence[bool | None]) -> tuple[int, ...]:
    """``(tp, fp, fn, tn, excluded)`` of the scorer's ``predicted`` against the human ``truth``
    (``True`` = breach); a ``None`` on either side excludes the item."""
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} verdicts but {len(truth)} labels")
    tp = fp = fn = tn = excluded = 0
    for p, t in zip(predicted, truth, strict=True):
        if p is None or t is None:
            excluded += 1
        elif p and t:
            tp += 1
        elif p:
            fp += 1
        elif t:
            fn += 1
        else:
            tn += 1
    return tp, fp, fn, tn, excluded


def validity(predicted: Sequence[bool | None], truth: Sequence[bool | None], *,
             confidence: float = 0.95) -> Validity:
    """Sensitivity, specificity and accuracy (Wilson intervals) and Cohen's kappa (with
    interval) of a scorer's verdicts against human labels; see the module docstring."""
    tp, fp, fn, tn, excluded = confusion(predicted, truth)
    return Validity(
        tp, fp, fn, tn, excluded,
        sensitivity=rate(tp, tp + fn, confidence),
        specificity=rate(tn, tn + fp, confidence),
        accuracy=rate(tp + tn, tp + fp + fn + tn, confidence),
        kappa=kappa_2x2(tp, fp, fn, tn, confidence=confidence),
    )


def kappa_2x2(tp: int, fp: int, fn: int, tn: int, *, confidence: float = 0.95) -> Kappa | None:
    """Cohen's kappa of the 2x2 table (scorer rows, humans columns) with the Fleiss, Cohen and
    Everitt (1969) large-sample standard error:
    Var = [sum_i p_ii (1 - (p_i. + p_.i)(1 - k))^2 + (1 - k)^2 sum_(i != j) p_ij (p_.i + p_j.)^2
    - (k - p_e (1 - k))^2] / (n (1 - p_e)^2). None when the table is empty."""
    n = tp + fp + fn + tn
    if n == 0:
        return None
    scorer = np.array([1] * (tp + fp) + [0] * (fn + tn))
    humans = np.array([1] * tp + [0] * fp + [1] * fn + [0] * tn)
    k = cohen_kappa(scorer, humans, 2)
    table = np.array([[tn, fn], [fp, tp]], dtype=float) / n
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    pe = float(rows @ cols)
    if not math.isfinite(k) or pe >= 1.0:
        return Kappa(k, float("nan"), float("nan"), float("nan"), n)
    diagonal = sum(table[i, i] * (1 - (rows[i] + cols[i]) * (1 - k)) ** 2 for i in range(2))
    off = sum(table[i, j] * (cols[i] + rows[j]) ** 2
              for i in range(2) for j in range(2) if i != j)
    variance = (diagonal + (1 - k) ** 2 * off - (k - pe * (1 - k)) ** 2) / (n * (1 - pe) ** 2)
    se = math.sqrt(max(0.0, float(variance)))
    z = _z(confidence)
    return Kappa(k, se, max(-1.0, k - z * se), min(1.0, k + z * se), n)


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    return NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)


def rogan_gladen(observed: float, sensitivity: float, specificity: float) -> float:
    """The true rate behind an observed one, (observed + Sp - 1) / (Se + Sp - 1), not clipped
    (outside [0, 1] when the observed rate is below 1 - Sp or above Se). A scorer no better
    than chance (Se + Sp <= 1) corrects nothing: a ValueError."""
    j = sensitivity + specificity - 1.0
    if j <= 0:
        raise ValueError(f"sensitivity {sensitivity:.3f} + specificity {specificity:.3f} <= 1: "
                         "the scorer is no better than chance, its rate cannot be corrected")
    return (observed + specificity - 1.0) / j


@dataclass(frozen=True)
class CorrectedRate:
    """A rate of breaches raw (with its Wilson interval) and corrected for the scorer's
    sensitivity and specificity (clipped to [0, 1]; ``clipped`` says the estimate was outside)."""

    raw: Rate
    value: float
    low: float
    high: float
    sensitivity: float
    specificity: float
    clipped: bool

    def to_dict(self) -> dict[str, Any]:
        return _finite(asdict(self))


def _proportion(value: float | tuple[int, int], name: str) -> tuple[float, float | None]:
    """(estimate, sample size or None when known) of a sensitivity or specificity."""
    if isinstance(value, tuple):
        successes, n = value
        if n <= 0 or not 0 <= successes <= n:
            raise ValueError(f"{name} needs 0 <= successes <= n and n > 0, got {successes}/{n}")
        return successes / n, float(n)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return float(value), None


def corrected_rate(
    breaches: int,
    n: int,
    *,
    sensitivity: float | tuple[int, int],
    specificity: float | tuple[int, int],
    confidence: float = 0.95,
    adjust: bool = True,
) -> CorrectedRate:
    """The Rogan-Gladen corrected rate of ``breaches / n`` and its interval (module docstring).

    ``sensitivity`` and ``specificity`` are ``(successes, n)`` as measured against human
    labels, or floats when known exactly."""
    if n <= 0 or not 0 <= breaches <= n:
        raise ValueError(f"breaches must be in [0, n] with n > 0, got {breaches}/{n}")
    se, n_se = _proportion(sensitivity, "sensitivity")
    sp, n_sp = _proportion(specificity, "specificity")
    raw = rate(breaches, n, confidence)
    estimate = rogan_gladen(breaches / n, se, sp)
    value = min(1.0, max(0.0, estimate))
    z = _z(confidence)
    add = z * z / 2.0 if adjust else 0.0

    def shifted(p: float, size: float | None) -> tuple[float, float]:
        if size is None:
            return p, 0.0
        q = (p * size + add) / (size + 2 * add)
        return q, q * (1.0 - q) / (size + 2 * add)

    p_a, var_p = shifted(breaches / n, float(n))
    se_a, var_se = shifted(se, n_se)
    sp_a, var_sp = shifted(sp, n_sp)
    j = se_a + sp_a - 1.0
    if j <= 0:
        low, high = 0.0, 1.0
    else:
        centre = min(1.0, max(0.0, (p_a + sp_a - 1.0) / j))
        variance = (var_p + centre**2 * var_se + (1.0 - centre) ** 2 * var_sp) / j**2
        half = z * math.sqrt(variance)
        low, high = max(0.0, centre - half), min(1.0, centre + half)
    low, high = min(low, value), max(high, value)
    return CorrectedRate(raw, value, low, high, se, sp, clipped=estimate != value)
