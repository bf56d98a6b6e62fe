"""Agreement coefficients against published worked examples and independent libraries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from curata.stats.agreement import (
    AgreementError,
    agreement_report,
    alpha_with_interval,
    brennan_prediger,
    category_counts,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac,
    krippendorff_alpha,
    percent_agreement,
    reliability_matrix,
    scott_pi,
    weight_matrix,
)

nan = np.nan

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four observers,
# twelve units, values 1-5, with missing data. Published results (p. 4-7): nominal .743,
# ordinal .815, interval .849, ratio .797. The same data is "raw_4raters" in Gwet's Handbook
# of Inter-Rater Reliability (4th ed.), shipped with irrCAC; irrCAC's own test suite
# (tests/test_fleiss.py, test_gwet.py, test_bp.py) expects for it: percent agreement 0.818,
# Fleiss' kappa 0.76117, Gwet's AC1 0.77544, Brennan-Prediger 0.773.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
).T  # units x raters


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorffs_own_worked_example(level: str, published: float) -> None:
    data = KRIPPENDORFF_2011 - (1 if level in ("nominal", "ordinal") else 0)  # codes from 0
    assert krippendorff_alpha(data, level) == pytest.approx(published, abs=5e-4)


def test_gwets_handbook_example_for_category_coefficients() -> None:
    counts = category_counts(KRIPPENDORFF_2011 - 1, 5)
    assert percent_agreement(counts) == pytest.approx(0.818, abs=5e-4)
    assert fleiss_kappa(counts) == pytest.approx(0.76117, abs=5e-6)
    assert gwet_ac(counts) == pytest.approx(0.77544, abs=5e-6)
    assert brennan_prediger(counts) == pytest.approx(0.773, abs=5e-4)


def test_the_report_keeps_units_rated_once_in_the_chance_term() -> None:
    """Unit 12 has one rating: it forms no pair but counts toward category prevalence in
    Gwet's generalisation, so the report gives the handbook's values, not those of the
    pairable units alone."""
    units = [f"u{i}" for i in range(12)]
    items, raters, values = [], [], []
    for u, row in zip(units, KRIPPENDORFF_2011, strict=True):
        for r, v in enumerate(row):
            if not np.isnan(v):
                items.append(u)
                raters.append(f"r{r}")
                values.append(int(v))
    rel = reliability_matrix(items, raters, values, level="nominal")
    got = {c.name: c for c in agreement_report(rel, "nominal", samples=0)}
    assert got["fleiss_kappa"].value == pytest.approx(0.76117, abs=5e-6)
    assert got["gwet_ac1"].value == pytest.approx(0.77544, abs=5e-6)
    assert got["percent_agreement"].value == pytest.approx(0.818, abs=5e-4)
    assert got["fleiss_kappa"].units == 11  # pairable units


def test_fleiss_1971_example_as_worked_on_wikipedia() -> None:
    # Fleiss' kappa, Wikipedia "Worked example": 10 subjects, 14 raters, 5 categories;
    # P-bar = 0.378, P_e = 0.213, kappa = 0.210.
    counts = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    assert percent_agreement(counts) == pytest.approx(0.378, abs=5e-4)
    assert fleiss_kappa(counts) == pytest.approx(0.210, abs=5e-4)


def test_cohens_kappa_example_as_worked_on_wikipedia() -> None:
    # Cohen's kappa, Wikipedia "Simple example": 50 grant proposals, two readers;
    # yes/yes 20, A yes & B no 5, A no & B yes 10, no/no 15 -> p_o 0.7, p_e 0.5, kappa 0.4.
    a = np.array([1] * 20 + [1] * 5 + [0] * 10 + [0] * 15, dtype=float)
    b = np.array([1] * 20 + [0] * 5 + [1] * 10 + [0] * 15, dtype=float)
    assert cohen_kappa(a, b, 2) == pytest.approx(0.4, abs=1e-12)
    # Scott's pi on the same table: pooled shares (45/100, 55/100): p_e = 0.505
    assert scott_pi(a, b, 2) == pytest.approx((0.7 - 0.505) / (1 - 0.505), abs=1e-12)


def _random_ratings(seed: int, units: int, raters: int, q: int, missing: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, q, units)
    noise = rng.random((units, raters)) < 0.35
    data = np.where(noise, rng.integers(0, q, (units, raters)), truth[:, None]).astype(float)
    data[rng.random((units, raters)) < missing] = np.nan
    return data


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_alpha_matches_the_krippendorff_package_on_random_data(level: str, seed: int) -> None:
    krippendorff = pytest.importorskip("krippendorff")
    data = _random_ratings(seed, 300, 6, 5, 0.3)
    if level == "ratio":
        data = data + 1.0  # ratio data are positive magnitudes
    theirs = krippendorff.alpha(reliability_data=data.T, level_of_measurement=level)
    assert krippendorff_alpha(data, level) == pytest.approx(theirs, abs=1e-9)


def test_alpha_on_many_distinct_interval_values_matches_the_package() -> None:
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 300, 400).astype(float)
    data = truth[:, None] + rng.normal(0, 20, (400, 3)).round()
    theirs = krippendorff.alpha(reliability_data=data.T, level_of_measurement="interval")
    assert krippendorff_alpha(data, "interval") == pytest.approx(theirs, abs=1e-9)


def test_fleiss_matches_statsmodels_on_complete_random_data() -> None:
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    for seed in range(3):
        counts = category_counts(_random_ratings(seed, 500, 7, 4, 0.0), 4)
        assert fleiss_kappa(counts) == pytest.approx(
            inter_rater.fleiss_kappa(counts, method="fleiss"), abs=1e-12
        )
        # Brennan-Prediger is statsmodels' "randolph" (free-marginal) kappa for q categories
        assert brennan_prediger(counts) == pytest.approx(
            inter_rater.fleiss_kappa(counts, method="randolph"), abs=1e-12
        )


@pytest.mark.parametrize("weights", ["unweighted", "linear", "quadratic"])
def test_cohen_matches_scikit_learn(weights: str) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    data = _random_ratings(11, 400, 2, 5, 0.0)
    a, b = data[:, 0], data[:, 1]
    theirs = metrics.cohen_kappa_score(a, b, weights=None if weights == "unweighted" else weights)
    assert cohen_kappa(a, b, 5, weights) == pytest.approx(theirs, abs=1e-12)


def test_weighted_category_coefficients_by_hand() -> None:
    # q = 3, quadratic weights [[1, .75, 0], [.75, 1, .75], [0, .75, 1]]; unit 1 rated (0, 1),
    # unit 2 rated (2, 2). Weighted counts r* = r W': unit 1 (1.75, 1.75, .75), unit 2
    # (0, 1.5, 2); agreement per unit sum r (r* - 1) / (r (r - 1)) = 1.5/2 and 2/2, so
    # pa = 0.875. Prevalence pi = (.25, .25, .5). Fleiss: pe = pi W pi = .65625, kappa = 7/11.
    # AC2: pe = sum(W) sum pi(1 - pi) / (q (q - 1)) = 6 * .625 / 6 = .625, AC2 = 2/3.
    # Brennan-Prediger: pe = sum(W) / q^2 = 2/3, BP = 0.625.
    counts = np.array([[1, 1, 0], [0, 0, 2]])
    w = weight_matrix(3, "quadratic")
    np.testing.assert_allclose(w, [[1, 0.75, 0], [0.75, 1, 0.75], [0, 0.75, 1]])
    assert percent_agreement(counts, w) == pytest.approx(0.875)
    assert fleiss_kappa(counts, w) == pytest.approx(7 / 11)
    assert gwet_ac(counts, w) == pytest.approx(2 / 3)
    assert brennan_prediger(counts, w) == pytest.approx(0.625)
    # identity weights give the unweighted coefficients back
    data = _random_ratings(5, 200, 5, 4, 0.25)
    c = category_counts(data, 4)
    assert gwet_ac(c, weight_matrix(4, "unweighted")) == pytest.approx(gwet_ac(c))


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_data() -> None:
    small_data, large_data = _random_ratings(3, 60, 4, 3, 0.1), _random_ratings(3, 2000, 4, 3, 0.1)
    small = alpha_with_interval(small_data, "nominal", samples=300)
    large = alpha_with_interval(large_data, "nominal", samples=300)
    for coef in (small, large):
        assert coef.low is not None and coef.high is not None
        assert coef.low <= coef.value <= coef.high
    assert (large.high - large.low) < (small.high - small.low) / 2
    pairable = [int(((~np.isnan(d)).sum(axis=1) >= 2).sum()) for d in (small_data, large_data)]
    assert [small.units, large.units] == pairable and pairable[0] < 60  # some units had < 2


def test_report_lists_what_applies_per_level() -> None:
    items, annotators, values = [], [], []
    for u, row in enumerate(KRIPPENDORFF_2011):
        for r, v in enumerate(row):
            if not math.isnan(v):
                items.append(f"u{u}")
                annotators.append(f"r{r}")
                values.append(str(int(v)))
    rel = reliability_matrix(items, annotators, values, level="ordinal")
    report = agreement_report(rel, "ordinal", samples=50)
    names = {(c.name, c.weights) for c in report}
    assert ("krippendorff_alpha_ordinal", "ordinal metric") in names
    assert ("gwet_ac2", "quadratic") in names and ("fleiss_kappa", "quadratic") in names
    alpha = next(c for c in report if c.name == "krippendorff_alpha_ordinal")
    assert alpha.value == pytest.approx(0.815, abs=5e-4) and alpha.units == 11
    two = reliability_matrix(["a", "a", "b", "b"], ["x", "y", "x", "y"], ["1", "1", "0", "1"])
    assert {"cohen_kappa", "scott_pi"} <= {c.name for c in agreement_report(two, samples=0)}


def test_bad_inputs_are_named() -> None:
    with pytest.raises(AgreementError, match="annotator 'x' rated item 'a' more than once"):
        reliability_matrix(["a", "a"], ["x", "x"], ["1", "2"])
    with pytest.raises(AgreementError, match="ordinal text labels need their order"):
        reliability_matrix(["a", "a"], ["x", "y"], ["low", "high"], level="ordinal")
    with pytest.raises(AgreementError, match="interval data needs numbers; got 'high'"):
        reliability_matrix(["a", "a"], ["x", "y"], ["1", "high"], level="interval")
    with pytest.raises(AgreementError, match="value 'huge' is not one of the categories"):
        reliability_matrix(["a"], ["x"], ["huge"], categories=["low", "high"])
    with pytest.raises(AgreementError, match="no pairable units"):
        krippendorff_alpha(np.array([[1.0, nan], [nan, 2.0]]))
    with pytest.raises(AgreementError, match="level: 'fuzzy'"):
        krippendorff_alpha(np.array([[1.0, 1.0]]), "fuzzy")
