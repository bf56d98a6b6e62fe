"""McNemar's test and the paired difference of proportions (curata.stats.paired) against
published worked examples and against statsmodels' independent ``mcnemar``."""

from __future__ import annotations

import pytest
from statsmodels.stats.contingency_tables import mcnemar as statsmodels_mcnemar

from curata.stats.paired import mcnemar, paired_difference


@pytest.mark.parametrize(
    ("a", "b", "c", "d", "low", "high"),
    [
        (36, 12, 2, 0, 0.0569, 0.3404),
        (18, 12, 2, 18, 0.0562, 0.3290),
        (53, 0, 0, 1, -0.0729, 0.0729),
        (0, 30, 0, 0, 0.8395, 1.0),
    ],
)
def test_newcombes_paired_examples(a: int, b: int, c: int, d: int, low: float, high: float) -> None:
    """Newcombe (1998), "Improved confidence intervals for the difference between binomial
    proportions based on paired data", Statistics in Medicine 17:2635-2650, Table II, method 10
    (the four worked examples, 95%), as transcribed in the tests of the R package propint
    (``ci.two.dep.props``: "produces the results reported in Newcombe1998"). The second and
    third need Newcombe's continuity-corrected phi: with the plain correlation they would give
    0.0618 to 0.3239 and +-0.0640."""
    got = paired_difference(a, b, c, d)
    assert got.estimate == pytest.approx((b - c) / (a + b + c + d))
    assert (got.low, got.high) == pytest.approx((low, high), abs=5e-5)
    assert got.n == a + b + c + d
    assert got.p1 == pytest.approx((a + b) / got.n) and got.p2 == pytest.approx((a + c) / got.n)


def test_paired_difference_edges() -> None:
    none_discordant = paired_difference(10, 0, 0, 10)
    assert none_discordant.estimate == 0.0
    assert none_discordant.low < 0.0 < none_discordant.high  # never a zero-width interval
    one_way = paired_difference(0, 0, 20, 0)  # every pair moved the same way: -1
    assert one_way.estimate == -1.0 and one_way.low == -1.0
    # phi = 0 (empty margins): U = -1 + sqrt(2) * (Wilson upper limit of 0/20 = 0.1611)
    assert one_way.high == pytest.approx(-1 + 2**0.5 * 0.1611, abs=1e-4)
    mirrored = paired_difference(18, 2, 12, 18)
    assert (mirrored.low, mirrored.high) == pytest.approx((-0.3290, -0.0562), abs=5e-5)
    narrow, wide = (
        paired_difference(18, 12, 2, 18, confidence=0.8),
        paired_difference(18, 12, 2, 18, confidence=0.99),
    )
    assert wide.low < narrow.low < 0.2 < narrow.high < wide.high
    with pytest.raises(ValueError, match="at least one pair"):
        paired_difference(0, 0, 0, 0)
    with pytest.raises(ValueError, match="b must be a non-negative integer"):
        paired_difference(1, -1, 0, 0)
    with pytest.raises(ValueError, match="confidence"):
        paired_difference(1, 1, 1, 1, confidence=1.0)


def test_mcnemar_fagerland_worked_example() -> None:
    """Fagerland, Lydersen and Laake (2013), "The McNemar test for binary matched-pairs data:
    mid-p and asymptotic are better than exact conditional", BMC Med Res Methodol 13:91, and its
    supplement "How to calculate the McNemar mid-p test": Bentur et al.'s airway
    hyper-responsiveness before and after stem cell transplantation in 21 children, discordant
    n12 = 1 and n21 = 7. By the supplement's formulas, exact p = 2 binomcdf(1; 8, 0.5) =
    2 * 9/256 = 0.0703 and mid-p = exact - binompdf(1; 8, 0.5) = 0.0703 - 8/256 = 0.0391;
    McNemar's chi-square 36/8 = 4.5 (p 0.0339), with continuity correction 25/8 = 3.125
    (p 0.0771)."""
    exact = mcnemar(1, 7)
    assert (exact.b, exact.c, exact.method) == (1, 7, "exact")
    assert exact.p_value == pytest.approx(18 / 256, abs=1e-12)
    assert mcnemar(1, 7, method="midp").p_value == pytest.approx(10 / 256, abs=1e-12)
    corrected = mcnemar(1, 7, method="chi2")
    assert corrected.statistic == pytest.approx(3.125)
    assert corrected.p_value == pytest.approx(0.0771, abs=5e-5)
    plain = mcnemar(1, 7, method="chi2", correction=False)
    assert plain.statistic == pytest.approx(4.5)
    assert plain.p_value == pytest.approx(0.0339, abs=5e-5)
    # symmetric in b and c
    assert mcnemar(7, 1, method="midp").p_value == pytest.approx(10 / 256, abs=1e-12)


@pytest.mark.parametrize(
    ("b", "c"), [(1, 7), (12, 5), (0, 9), (30, 41), (150, 86), (2, 3), (400, 460), (1, 1)]
)
def test_mcnemar_matches_statsmodels(b: int, c: int) -> None:
    """statsmodels 0.15 ``mcnemar`` (scipy's binomial): exact and continuity-corrected chi2."""
    table = [[0, b], [c, 0]]
    ref_exact = statsmodels_mcnemar(table, exact=True)
    got = mcnemar(b, c)
    assert got.statistic == ref_exact.statistic
    assert got.p_value == pytest.approx(ref_exact.pvalue, rel=1e-9, abs=1e-15)
    if b != c:  # statsmodels lets the correction push |b - c| - 1 below zero; we stop at 0
        ref_chi2 = statsmodels_mcnemar(table, exact=False, correction=True)
        got_chi2 = mcnemar(b, c, method="chi2")
        assert got_chi2.statistic == pytest.approx(ref_chi2.statistic, rel=1e-12)
        assert got_chi2.p_value == pytest.approx(ref_chi2.pvalue, rel=1e-9)
    ref_plain = statsmodels_mcnemar(table, exact=False, correction=False)
    got_plain = mcnemar(b, c, method="chi2", correction=False)
    assert got_plain.statistic == pytest.approx(ref_plain.statistic, rel=1e-12, abs=1e-15)
    assert got_plain.p_value == pytest.approx(ref_plain.pvalue, rel=1e-9)


def test_mcnemar_edges() -> None:
    for method in ("exact", "midp", "chi2"):
        nothing = mcnemar(0, 0, method=method)  # type: ignore[arg-type]
        assert (nothing.statistic, nothing.p_value) == (0.0, 1.0)
    assert mcnemar(5, 5, method="chi2").p_value == 1.0  # the correction stops at zero
    assert mcnemar(5, 5).p_value == 1.0
    # mid-p at b = c is 1 - P[X = b] / 2 (Fagerland et al. 2013): C(10, 5) / 2^10 = 252/1024
    assert mcnemar(5, 5, method="midp").p_value == pytest.approx(1 - 126 / 1024)
    # all discordant pairs one way: exact p = 2 / 2^m
    assert mcnemar(0, 9).p_value == pytest.approx(2 / 512)
    assert mcnemar(0, 9, method="midp").p_value == pytest.approx(1 / 512)
    # large counts stay finite (log-space binomial)
    assert 0.0 < mcnemar(4800, 5200).p_value < 1e-4
    with pytest.raises(ValueError, match="method"):
        mcnemar(1, 2, method="fisher")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="c must be a non-negative integer"):
        mcnemar(1, -2)
