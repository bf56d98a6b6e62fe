"""Agreement coefficients: pure, vectorised NumPy functions (no I/O).

Input is *reliability data*: a ``units x raters`` float matrix with ``NaN`` for a missing rating
(:func:`reliability_matrix` builds it from long ``item, annotator, value`` rows). Category-based
coefficients use the ``units x q`` matrix of how many raters put each unit in each category
(:func:`category_counts`), so memory grows with units x categories, never with categories².

Conventions (they differ between sources; these are the ones used here):

* **Krippendorff's alpha** follows Krippendorff (2011), "Computing Krippendorff's
  Alpha-Reliability":
  units with fewer than two ratings are not pairable and are left out; the ordinal metric is
  computed on the observed category frequencies: delta(c, k) = Σ_{g=c..k} n_g - (n_c + n_k)/2
  equals t_k - t_c for t_c = Σ_{g<c} n_g + n_c/2, so alpha ordinal is alpha interval on each
  category's t (recomputed from the counts of every bootstrap replicate).
* **Fleiss' kappa with missing ratings** is Gwet's generalisation (Gwet 2014, *Handbook of
  Inter-Rater Reliability*, 4th ed., ch. 2; R package ``irrCAC`` ``fleiss.kappa.raw``):
  percent agreement over units with ≥ 2 ratings, category prevalence averaged over units with
  ≥ 1 rating. On complete data it is Fleiss (1971).
* **Weights** (weighted kappa, AC2, weighted Brennan-Prediger and percent agreement) rank the
  categories in their given order — the declared scale when ``categories`` is passed, else the
  sorted observed values — and weigh by rank distance: linear ``1 - |i-j|/(q-1)``, quadratic
  ``1 - (i-j)²/(q-1)²`` (as scikit-learn's ``cohen_kappa_score`` and ``irrCAC`` do).
* Two-rater coefficients (Cohen's kappa, Scott's pi) use the units both raters rated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LEVELS = ("nominal", "ordinal", "interval", "ratio")
WEIGHTS = ("unweighted", "linear", "quadratic")

Matrix = np.ndarray


class AgreementError(ValueError):
    """Input that agreement cannot be computed on (names what is wrong; ``index`` is the
    position of the offending rating, when one rating is to blame)."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


# -- building the data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reliability:
    """Reliability data: ``data[u, r]`` is rater r's code for unit u (``NaN`` when missing).

    For nominal and ordinal data the codes index ``categories``; for interval and ratio data
    they are the numbers themselves (and ``categories`` lists the distinct values).
    """

    data: Matrix
    units: list[str]
    raters: list[str]
    categories: list[Any]


def reliability_matrix(
    items: Sequence[Any],
    annotators: Sequence[Any],
    values: Sequence[Any],
    *,
    level: str = "nominal",
    categories: Sequence[Any] | None = None,
) -> Reliability:
    """Long rows (one rating each) → a ``units x raters`` matrix.

    A rater who rated a unit twice is an error naming both. For nominal/ordinal data,
    ``categories`` fixes the order (required for ordinal text labels; numbers sort as numbers).
    """
    if level not in LEVELS:
        raise AgreementError(f"level: {level!r} is not one of {', '.join(LEVELS)}")
    if not (len(items) == len(annotators) == len(values)):
        raise AgreementError("items, annotators and values must have the same length")
    unit_names = list(dict.fromkeys(str(i) for i in items))
    rater_names = list(dict.fromkeys(str(a) for a in annotators))
    unit_index = {u: i for i, u in enumerate(unit_names)}
    rater_index = {r: i for i, r in enumerate(rater_names)}
    rows = np.fromiter((unit_index[str(i)] for i in items), dtype=np.int64, count=len(items))
    cols = np.fromiter(
        (rater_index[str(a)] for a in annotators), dtype=np.int64, count=len(annotators)
    )
    keys = rows * max(1, len(rater_names)) + cols
    uniq, first, counts = np.unique(keys, return_index=True, return_counts=True)
    if len(uniq) != len(keys):
        dup = int(first[np.argmax(counts > 1)])
        again = int(np.flatnonzero(keys == keys[dup])[1])
        raise AgreementError(
            f"annotator {annotators[dup]!r} rated item {items[dup]!r} more than once", again
        )
    codes, cats = _codes(values, level, categories)
    data = np.full((len(unit_names), len(rater_names)), np.nan)
    data[rows, cols] = codes
    return Reliability(data=data, units=unit_names, raters=rater_names, categories=cats)


def _codes(
    values: Sequence[Any], level: str, categories: Sequence[Any] | None
) -> tuple[Matrix, list[Any]]:
    if level in ("interval", "ratio"):
        try:
            numbers = np.asarray([float(v) for v in values], dtype=float)
        except (TypeError, ValueError):
            at = next(i for i, v in enumerate(values) if not _is_number(v))
            raise AgreementError(f"{level} data needs numbers; got {values[at]!r}", at) from None
        if not np.all(np.isfinite(numbers)):
            at = int(np.argmin(np.isfinite(numbers)))
            raise AgreementError(f"{level} data needs finite numbers; got {values[at]!r}", at)
        if level == "ratio" and np.any(numbers < 0):
            at = int(np.argmax(numbers < 0))
            raise AgreementError(f"ratio data needs numbers >= 0; got {values[at]!r}", at)
        return numbers, sorted(set(numbers.tolist()))
    if categories is not None:
        cats = list(categories)
        index = {_key(c): i for i, c in enumerate(cats)}
        unknown = [i for i, v in enumerate(values) if _key(v) not in index]
        if unknown:
            raise AgreementError(
                f"value {values[unknown[0]]!r} is not one of the categories "
                f"{', '.join(map(str, cats))}",
                unknown[0],
            )
        return np.asarray([index[_key(v)] for v in values], dtype=float), cats
    seen = list(dict.fromkeys(_key(v) for v in values))
    if all(_is_number(v) for v in seen):
        cats = sorted(seen, key=float)
    elif level == "ordinal":
        raise AgreementError(
            "ordinal text labels need their order: pass categories (e.g. --categories low,mid,high)"
        )
    else:
        cats = sorted(seen)
    index = {c: i for i, c in enumerate(cats)}
    return np.asarray([index[_key(v)] for v in values], dtype=float), cats


def _key(value: Any) -> Any:
    """Values compare as strings (a CSV's "2" and a JSON 2 are the same category)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def category_counts(data: Matrix, q: int) -> Matrix:
    """``units x q`` matrix: how many raters put each unit in each category."""
    units, raters = np.nonzero(~np.isnan(data))
    codes = data[units, raters].astype(np.int64)
    out = np.zeros((data.shape[0], q), dtype=np.int64)
    np.add.at(out, (units, codes), 1)
    return out


def weight_matrix(q: int, weights: str = "unweighted") -> Matrix:
    """Agreement weights between category ranks (1 on the diagonal)."""
    if weights not in WEIGHTS:
        raise AgreementError(f"weights: {weights!r} is not one of {', '.join(WEIGHTS)}")
    if weights == "unweighted" or q < 2:
        return np.eye(q)
    distance = np.abs(np.subtract.outer(np.arange(q), np.arange(q))) / (q - 1)
    return 1.0 - (distance if weights == "linear" else distance**2)


# -- Krippendorff's alpha ------------------------------------------------------------------------


def krippendorff_alpha(data: Matrix, level: str = "nominal") -> float:
    """Krippendorff's alpha for ``units x raters`` reliability data (``NaN`` = missing).

    Memory is O(units x raters): the observed disagreement is summed per unit from that unit's
    ratings (nominal: from its category counts; interval and ordinal: from the sums of values
    and squares; ratio: from its pairs), and the expected disagreement from the totals.
    """
    stats = _alpha_stats(np.asarray(data, dtype=float), level)
    return _alpha_from(stats, None)


@dataclass(frozen=True)
class _AlphaStats:
    """Per-unit sufficient statistics of alpha (so bootstrap replicates only re-weight units)."""

    level: str
    m: Matrix  # ratings per pairable unit
    within: Matrix  # interval, nominal, ratio: Σ over ordered pairs of delta², / (m_u - 1)
    s1: Matrix  # interval: per unit Σ (centred) value
    s2: Matrix  # interval: per unit Σ (centred) value²
    values: Matrix  # nominal, ordinal, ratio: the distinct values
    unit_of: Matrix  # … the pairable unit of each (unit, value) count
    value_of: Matrix  # … its index into ``values``
    count_of: Matrix  # … and how many raters gave it


def _alpha_stats(data: Matrix, level: str) -> _AlphaStats:
    if level not in LEVELS:
        raise AgreementError(f"level: {level!r} is not one of {', '.join(LEVELS)}")
    if data.ndim != 2:
        raise AgreementError("reliability data must be a units x raters matrix")
    mask = ~np.isnan(data)
    m = mask.sum(axis=1)
    keep = m >= 2
    data, mask, m = data[keep], mask[keep], m[keep].astype(float)
    if data.shape[0] == 0:
        raise AgreementError("no pairable units (no item has two or more ratings)")
    units, raters = np.nonzero(mask)
    values = data[units, raters]
    empty = np.zeros(0)
    if level == "interval":
        centred = values - values.mean()  # fewer cancellation errors in m Σv² - (Σv)²
        s1 = np.bincount(units, weights=centred, minlength=len(m))
        s2 = np.bincount(units, weights=centred**2, minlength=len(m))
        within = 2.0 * (m * s2 - s1**2) / (m - 1.0)
        return _AlphaStats(level, m, within, s1, s2, empty, empty, empty, empty)
    distinct, inverse = _distinct(values)
    keys = units.astype(np.int64) * len(distinct) + inverse
    if len(m) * len(distinct) <= 4 * len(keys) + 1024:  # dense counts cost no more than data
        dense = np.bincount(keys, minlength=len(m) * len(distinct))
        uniq = np.flatnonzero(dense)
        counts = dense[uniq]
    else:
        uniq, counts = np.unique(keys, return_counts=True)
    unit_of, value_of = np.divmod(uniq, len(distinct))
    counts = counts.astype(float)
    within = empty
    if level == "nominal":
        squares = np.bincount(unit_of, weights=counts**2, minlength=len(m))
        within = (m**2 - squares) / (m - 1.0)
    elif level == "ratio":  # delta² = ((c - k) / (c + k))², summed over each unit's pairs
        within = np.zeros(len(m))
        chunk = max(1, 4_000_000 // max(1, data.shape[1] ** 2))
        for start in range(0, len(m), chunk):
            block = data[start : start + chunk]
            a, b = block[:, :, None], block[:, None, :]
            with np.errstate(invalid="ignore", divide="ignore"):
                d2 = np.where(a + b == 0, 0.0, ((a - b) / (a + b)) ** 2)
            within[start : start + chunk] = np.nansum(d2, axis=(1, 2))
        within /= m - 1.0
    return _AlphaStats(level, m, within, empty, empty, distinct, unit_of, value_of, counts)


def _distinct(values: Matrix) -> tuple[Matrix, Matrix]:
    """Sorted distinct values and each value's index among them; O(n) for category codes
    (small non-negative integers), a sort otherwise."""
    if len(values) and values.min() >= 0 and values.max() < 4 * len(values) + 1024:
        as_int = values.astype(np.int64)
        if np.array_equal(as_int, values):
            present = np.bincount(as_int) > 0
            lookup = np.cumsum(present) - 1
            return np.flatnonzero(present).astype(float), lookup[as_int]
    return np.unique(values, return_inverse=True)


def _alpha_from(s: _AlphaStats, w: Matrix | None) -> float:
    """alpha from the statistics, each pairable unit weighted ``w`` times (bootstrap) or once."""
    unit_w = np.ones(len(s.m)) if w is None else w
    n = float(unit_w @ s.m)
    if s.level == "interval":
        observed = float(unit_w @ s.within)
        total1, total2 = float(unit_w @ s.s1), float(unit_w @ s.s2)
        expected = 2.0 * (n * total2 - total1**2)
    else:
        weighted = unit_w[s.unit_of] * s.count_of
        per_value = np.bincount(s.value_of, weights=weighted, minlength=len(s.values))
        if s.level == "nominal":
            observed = float(unit_w @ s.within)
            expected = n**2 - float(per_value @ per_value)
        elif s.level == "ratio":
            observed = float(unit_w @ s.within)
            expected = _ratio_expected(s.values, per_value)
        else:  # ordinal: interval on each category's position t_c (they move with the counts)
            t = np.cumsum(per_value) - per_value / 2.0
            t = t - float(per_value @ t) / n
            tv = t[s.value_of]
            s1 = np.bincount(s.unit_of, weights=s.count_of * tv, minlength=len(s.m))
            s2 = np.bincount(s.unit_of, weights=s.count_of * tv**2, minlength=len(s.m))
            observed = float(unit_w @ (2.0 * (s.m * s2 - s1**2) / (s.m - 1.0)))
            expected = 2.0 * (n * float(per_value @ t**2) - float(per_value @ t) ** 2)
    if expected <= 0:
        return 1.0 if observed <= 0 else float("nan")
    return 1.0 - (n - 1.0) * observed / expected


def _ratio_expected(values: Matrix, counts: Matrix) -> float:
    """Σ_c Σ_k n_c n_k ((c - k)/(c + k))², in blocks (O(V) memory per block)."""
    total = 0.0
    step = max(1, 2_000_000 // max(1, len(values)))
    for start in range(0, len(values), step):
        c = values[start : start + step, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            d2 = np.where(c + values == 0, 0.0, ((c - values) / (c + values)) ** 2)
        total += float(counts[start : start + step] @ d2 @ counts)
    return total


# -- category-based coefficients (any number of raters, missing allowed) -------------------------


def _agreement_parts(counts: Matrix, weights: Matrix | None) -> tuple[float, Matrix, int]:
    """Percent agreement (weighted), category prevalence pi, and the number of pairable units.
    ``weights`` None means unweighted (and skips the units x q x q product)."""
    counts = np.asarray(counts)
    r = counts.sum(axis=1)
    if not (r >= 1).any():
        raise AgreementError("no ratings")
    pairable = r >= 2
    n_pairable = int(pairable.sum())
    if n_pairable == 0:
        raise AgreementError("no pairable units (no item has two or more ratings)")
    if weights is None:
        per_unit = np.einsum("ij,ij->i", counts, counts) - r  # sum n(n - 1)
    else:
        per_unit = (counts * (counts @ weights.T - 1.0)).sum(axis=1)
    if n_pairable == len(r) and np.all(r == r[0]):  # complete data: one division each
        pa = float(per_unit.sum()) / (len(r) * r[0] * (r[0] - 1.0))
        pi = counts.sum(axis=0) / float(len(r) * r[0])
        return pa, pi, n_pairable
    rp = r[pairable].astype(float)
    pa = float(np.mean(per_unit[pairable] / (rp * (rp - 1.0))))
    rated = r >= 1
    pi = (counts[rated] / r[rated, None]).mean(axis=0)
    return pa, pi, n_pairable


def percent_agreement(counts: Matrix, weights: Matrix | None = None) -> float:
    """Share of agreeing rater pairs per unit, averaged over pairable units."""
    return _agreement_parts(counts, weights)[0]


def fleiss_kappa(counts: Matrix, weights: Matrix | None = None) -> float:
    """Fleiss' kappa (Gwet's generalisation when units have different numbers of ratings)."""
    pa, pi, _ = _agreement_parts(counts, weights)
    pe = float(pi @ pi) if weights is None else float(pi @ weights @ pi)
    return _chance_corrected(pa, pe)


def gwet_ac(counts: Matrix, weights: Matrix | None = None) -> float:
    """Gwet's AC1 (unweighted) or AC2 (weighted)."""
    q = np.asarray(counts).shape[1]
    if q < 2:
        return float("nan")
    pa, pi, _ = _agreement_parts(counts, weights)
    total = float(q if weights is None else weights.sum())
    pe = total * float(pi @ (1.0 - pi)) / (q * (q - 1))
    return _chance_corrected(pa, pe)


def brennan_prediger(counts: Matrix, weights: Matrix | None = None) -> float:
    """Brennan-Prediger coefficient (chance agreement from a uniform use of the q categories)."""
    q = np.asarray(counts).shape[1]
    pa, _, _ = _agreement_parts(counts, weights)
    return _chance_corrected(pa, float(q if weights is None else weights.sum()) / q**2)


def _chance_corrected(pa: float, pe: float) -> float:
    if pe >= 1.0:
        return 1.0 if pa >= 1.0 else float("nan")
    return (pa - pe) / (1.0 - pe)


# -- two raters ----------------------------------------------------------------------------------


def _pairs(a: Matrix, b: Matrix) -> tuple[Matrix, Matrix]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both = ~np.isnan(a) & ~np.isnan(b)
    if not both.any():
        raise AgreementError("the two raters share no rated unit")
    return a[both].astype(np.int64), b[both].astype(np.int64)


def cohen_kappa(a: Matrix, b: Matrix, q: int, weights: str = "unweighted") -> float:
    """Cohen's kappa between two raters' category codes (``NaN`` = missing), optionally weighted."""
    x, y = _pairs(a, b)
    table = np.zeros((q, q))
    np.add.at(table, (x, y), 1.0)
    p = table / table.sum()
    w = weight_matrix(q, weights)
    po = float((w * p).sum())
    pe = float(p.sum(axis=1) @ w @ p.sum(axis=0))
    return _chance_corrected(po, pe)


def scott_pi(a: Matrix, b: Matrix, q: int) -> float:
    """Scott's pi between two raters (chance agreement from the pooled category shares)."""
    x, y = _pairs(a, b)
    pooled = np.bincount(np.concatenate([x, y]), minlength=q) / (2.0 * len(x))
    po = float(np.mean(x == y))
    return _chance_corrected(po, float(pooled @ pooled))


# -- intervals and the report --------------------------------------------------------------------


@dataclass(frozen=True)
class Coefficient:
    """One agreement statistic with its bootstrap interval and the units it rests on."""

    name: str
    value: float
    low: float | None
    high: float | None
    units: int
    weights: str = "unweighted"
    level: str = "nominal"
    """The measurement level the statistic treats the values at (unweighted: nominal)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: _finite(v) for k, v in self.__dict__.items()}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def bootstrap_interval(
    statistic: Callable[[Matrix], float],
    n_units: int,
    *,
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float | None, float | None]:
    """Percentile interval of ``statistic(unit indices)`` over units resampled with
    replacement (``samples`` replicates; replicates that are undefined are dropped)."""
    if samples <= 0 or n_units < 2:
        return None, None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(samples):
        with np.errstate(all="ignore"):
            try:
                v = statistic(rng.integers(0, n_units, n_units))
            except AgreementError:
                continue
        if np.isfinite(v):
            values.append(v)
    if len(values) < max(10, samples // 10):
        return None, None
    tail = (1.0 - confidence) / 2.0 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def alpha_with_interval(
    data: Matrix, level: str, *, samples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Coefficient:
    """Krippendorff's alpha with a bootstrap interval (pairable units resampled)."""
    stats = _alpha_stats(np.asarray(data, dtype=float), level)
    k = len(stats.m)

    def replicate(idx: Matrix) -> float:
        return _alpha_from(stats, np.bincount(idx, minlength=k).astype(float))

    low, high = bootstrap_interval(replicate, k, samples=samples, confidence=confidence, seed=seed)
    value = _alpha_from(stats, None)
    return Coefficient(f"krippendorff_alpha_{level}", value, low, high, k, f"{level} metric", level)


def agreement_report(
    rel: Reliability,
    level: str = "nominal",
    *,
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[Coefficient]:
    """Every coefficient that applies to the data at this level, each with an interval.

    The coefficients are the registered ones (:mod:`curata.stats.coefficients`, entry-point
    group ``curata.coefficients``) whose ``levels`` include ``level``, in their ``order``.
    Nominal: percent agreement, Fleiss' kappa, Gwet's AC1, Brennan-Prediger, Krippendorff's alpha
    (and Cohen's kappa and Scott's pi for exactly two raters). Ordinal/interval add the weighted
    (quadratic) forms: AC2, weighted kappa, weighted percent agreement. Ratio: alpha only.
    """
    from curata.stats.coefficients import Ratings, categories_ratings, coefficients

    boot: dict[str, Any] = {"samples": samples, "confidence": confidence, "seed": seed}
    registered = [c() for c in coefficients() if level in c.levels]
    whole = Ratings(rel.data, level)
    out = [c.measure(whole, **boot) for c in registered if c.scope == "reliability"]
    if level == "ratio" or (level == "interval" and len(rel.categories) > 50):
        return out  # category statistics need a small set of categories
    q = len(rel.categories)
    data = rel.data
    if level == "interval":  # codes for the category statistics, in numeric order
        data = np.where(np.isnan(data), np.nan, np.searchsorted(rel.categories, data))
    counts = category_counts(data, q)
    # units rated once stay in: in Gwet's generalisation (Gwet 2014, ch. 2) they count toward
    # the category prevalence of the chance term, though they form no pair
    counts = counts[counts.sum(axis=1) >= 1]
    units = int((counts.sum(axis=1) >= 2).sum())
    if units == 0:
        return out
    kinds = ["unweighted"] + ([] if level == "nominal" else ["quadratic"])
    ratings = categories_ratings(data, level, q, counts, units)
    for kind in kinds:
        for c in registered:
            if c.scope == "categories" and (kind == "unweighted" or c.weighted):
                out.append(c.measure(ratings, kind, **boot))
    if ratings.pair is not None and len(ratings.pair[0]):
        for c in registered:
            if c.scope == "pairs":
                for kind in kinds if c.weighted else ["unweighted"]:
                    out.append(c.measure(ratings, kind, **boot))
    return out


STAT_NAMES = {
    # how coefficients are named to people (CLI tables, HTML reports)
    "krippendorff_alpha": "Krippendorff's alpha",
    "percent_agreement": "percent agreement",
    "fleiss_kappa": "Fleiss' kappa",
    "gwet_ac1": "Gwet's AC1",
    "gwet_ac2": "Gwet's AC2",
    "brennan_prediger": "Brennan-Prediger",
    "cohen_kappa": "Cohen's kappa",
    "scott_pi": "Scott's pi",
    "kendall_w": "Kendall's W",
    "kendall_tau_b": "Kendall's tau-b",
    "token_f1": "token F1",
    "token_f1_micro": "token F1, pooled",
    "embedding_cosine": "embedding cosine (MiniLM)",
    "mean_pairwise_jaccard": "mean pairwise Jaccard",
}


def stat_label(stat: dict[str, Any]) -> str:
    """A statistic's name for people: its measurement level (nominal, ordinal, interval,
    ratio) where it has one, then its weights and the scale it was computed on, e.g.
    "Krippendorff's alpha (interval, signed)" or "Fleiss' kappa (ordinal, quadratic weights)"."""
    name = str(stat["name"])
    level = stat.get("level")
    if name.startswith("krippendorff_alpha"):
        name, level = name.rsplit("_", 1)
    weights = stat.get("weights")
    weighted = bool(weights) and weights != "unweighted"
    if name.startswith("krippendorff_alpha"):
        weighting = ""  # the alpha's metric is its level
    elif level:
        weighting = f"{weights} weights" if weighted else ""
    else:  # a statistic with no level (Kendall's W, token F1...): how it averages
        weighting = str(weights) if weighted else ""
    parts = [str(level or ""), weighting, str(stat.get("scale") or "")]
    extra = ", ".join(p for p in parts if p)
    label = STAT_NAMES.get(name, name)
    return f"{label} ({extra})" if extra else label
