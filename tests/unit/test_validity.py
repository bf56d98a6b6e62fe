"""Scorer validity statistics (curata.stats.validity) against published worked examples:
Wilson intervals of sensitivity and specificity against Newcombe (1998), Table I; Cohen's kappa
against the worked example of Wikipedia's "Cohen's kappa" article and its Fleiss-Cohen-Everitt
standard error against statsmodels' independent implementation; the Rogan-Gladen correction and
its known-Se/Sp interval against the formulas as published by Rogan and Gladen (1978) and
restated in InfluentialPoints' "Confidence interval for true prevalence" page; the interval with
estimated Se and Sp by its simulated coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa as statsmodels_kappa

from curata.stats.validity import (
    confusion,
    corrected_rate,
    kappa_2x2,
    rogan_gladen,
    validity,
)


def items(tp: int, fp: int, fn: int, tn: int) -> tuple[list[bool | None], list[bool | None]]:
    """(scorer verdicts, human labels) making the given 2x2 table."""
    predicted: list[bool | None] = [True] * (tp + fp) + [False] * (fn + tn)
    truth: list[bool | None] = [True] * tp + [False] * fp + [True] * fn + [False] * tn
    return predicted, truth


def test_sensitivity_and_specificity_carry_newcombe_1998_wilson_intervals() -> None:
    # Newcombe (1998) Table I, method 3 (score): 81/263 -> 0.2553-0.3662, 15/148 -> 0.0624-0.1605
    v = validity(*items(tp=81, fp=133, fn=182, tn=15))
    assert (v.tp, v.fp, v.fn, v.tn, v.n) == (81, 133, 182, 15, 411)
    assert v.sensitivity.value == pytest.approx(81 / 263)
    assert (v.sensitivity.low, v.sensitivity.high) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert v.specificity.value == pytest.approx(15 / 148)
    assert (v.specificity.low, v.specificity.high) == pytest.approx((0.0624, 0.1605), abs=5e-5)
    assert v.accuracy.successes == 96 and v.accuracy.n == 411


def test_a_perfect_scorer_at_0_of_20_errors_gets_newcombes_zero_interval() -> None:
    # Newcombe (1998) Table I: 0/20 -> 0.0000-0.1611; here 20/20 specificity's complement
    v = validity(*items(tp=5, fp=0, fn=0, tn=20))
    assert v.specificity.value == 1.0
    assert 1.0 - v.specificity.low == pytest.approx(0.1611, abs=5e-5)
    assert v.kappa is not None and v.kappa.value == pytest.approx(1.0)


def test_cohens_kappa_matches_the_wikipedia_worked_example_and_statsmodels_se() -> None:
    # Wikipedia, "Cohen's kappa", simple example: 50 proposals, both yes 20, A yes B no 5,
    # A no B yes 10, both no 15: p_o = 0.7, p_e = 0.5, kappa = 0.4.
    k = kappa_2x2(tp=20, fp=5, fn=10, tn=15)
    assert k is not None and k.n == 50
    assert k.value == pytest.approx(0.4)
    reference = statsmodels_kappa([[20, 5], [10, 15]])  # Fleiss, Cohen & Everitt (1969) SE
    assert k.se == pytest.approx(reference.std_kappa, rel=1e-9)
    assert k.se == pytest.approx(0.12700, abs=5e-6)
    assert (k.low, k.high) == pytest.approx((reference.kappa_low, reference.kappa_upp), rel=1e-9)


def test_kappa_is_symmetric_in_the_off_diagonal_only_through_the_margins() -> None:
    a = kappa_2x2(tp=30, fp=4, fn=9, tn=57)
    b = kappa_2x2(tp=30, fp=9, fn=4, tn=57)
    ref_a = statsmodels_kappa([[30, 4], [9, 57]])
    assert a is not None and b is not None
    assert a.value == pytest.approx(b.value) == pytest.approx(ref_a.kappa)
    assert a.se == pytest.approx(ref_a.std_kappa, rel=1e-9)


def test_unjudged_items_are_left_out_and_counted() -> None:
    predicted: list[bool | None] = [True, None, False, True, False]
    truth: list[bool | None] = [True, True, None, False, False]
    assert confusion(predicted, truth) == (1, 1, 0, 1, 2)
    v = validity(predicted, truth)
    assert v.excluded == 2 and v.n == 3
    assert v.to_dict()["sensitivity"]["n"] == 1
    with pytest.raises(ValueError, match="5 verdicts but 4 labels"):
        confusion(predicted, truth[:4])


def test_an_empty_table_has_no_kappa_and_json_safe_rates() -> None:
    v = validity([None], [True])
    assert v.kappa is None and v.n == 0
    assert v.to_dict()["sensitivity"]["value"] is None  # NaN is no JSON


def test_rogan_gladen_inverts_the_observed_rate_of_a_known_truth() -> None:
    # pi = 0.2, Se = 0.8, Sp = 0.9: a scorer reports pi Se + (1 - pi)(1 - Sp) = 0.24
    assert rogan_gladen(0.24, 0.8, 0.9) == pytest.approx(0.2)
    for pi in np.linspace(0, 1, 11):
        observed = pi * 0.7 + (1 - pi) * (1 - 0.85)
        assert rogan_gladen(observed, 0.7, 0.85) == pytest.approx(pi)
    assert rogan_gladen(0.3, 1.0, 1.0) == pytest.approx(0.3)  # a perfect scorer changes nothing


def test_rogan_gladen_with_known_se_sp_matches_the_published_interval_formula() -> None:
    # InfluentialPoints (after Rogan & Gladen 1978): p_true = (p + Sp - 1)/(Se + Sp - 1) and
    # 95% CI p_true +- 1.96 sqrt(p q / (n J^2)), J = Se + Sp - 1. Here p = 60/200, Se = 0.9,
    # Sp = 0.95: p_true = 0.25/0.85 = 0.294118; sqrt(0.21 / (200 * 0.7225)) = 0.0381220.
    c = corrected_rate(60, 200, sensitivity=0.9, specificity=0.95, adjust=False)
    assert c.value == pytest.approx(0.25 / 0.85)
    half = 1.959964 * math.sqrt(0.3 * 0.7 / (200 * 0.85**2))
    assert (c.low, c.high) == pytest.approx((0.25 / 0.85 - half, 0.25 / 0.85 + half), abs=1e-6)
    assert (c.low, c.high) == pytest.approx((0.219399, 0.368836), abs=2e-6)
    assert c.raw.value == 0.3 and not c.clipped


def test_a_corrected_rate_is_clipped_to_zero_and_one_and_says_so() -> None:
    low = corrected_rate(2, 100, sensitivity=(45, 50), specificity=(95, 100))
    assert low.value == 0.0 and low.clipped and low.low == 0.0
    high = corrected_rate(99, 100, sensitivity=(40, 50), specificity=(90, 100))
    assert high.value == 1.0 and high.clipped and high.high == 1.0
    assert 0.0 <= high.low <= high.value <= high.high <= 1.0


def test_a_scorer_no_better_than_chance_cannot_correct() -> None:
    with pytest.raises(ValueError, match="no better than chance"):
        corrected_rate(30, 100, sensitivity=(25, 50), specificity=(25, 50))
    with pytest.raises(ValueError, match="breaches must be in"):
        corrected_rate(101, 100, sensitivity=0.9, specificity=0.9)


def test_estimated_se_and_sp_widen_the_interval() -> None:
    known = corrected_rate(60, 200, sensitivity=0.9, specificity=0.95)
    measured = corrected_rate(60, 200, sensitivity=(45, 50), specificity=(95, 100))
    assert measured.value == pytest.approx(known.value)
    assert measured.high - measured.low > known.high - known.low


def test_validity_corrects_a_campaign_with_its_own_table() -> None:
    v = validity(*items(tp=45, fp=5, fn=5, tn=95))
    c = v.corrected(60, 200)
    assert c.sensitivity == pytest.approx(0.9) and c.specificity == pytest.approx(0.95)
    assert c.value == pytest.approx(0.25 / 0.85)


def test_the_interval_with_estimated_se_and_sp_covers_near_nominal() -> None:
    """Simulated coverage: campaigns of 300 attempts at true rate 0.3, scorer Se 0.85 and Sp 0.9
    measured on 80 human-labelled breaches and 120 non-breaches."""
    rng = np.random.default_rng(7)
    pi, se, sp, n, n_pos, n_neg, reps = 0.3, 0.85, 0.9, 300, 80, 120, 2000
    hits = 0
    for _ in range(reps):
        observed = rng.binomial(n, pi * se + (1 - pi) * (1 - sp))
        c = corrected_rate(int(observed), n, sensitivity=(int(rng.binomial(n_pos, se)), n_pos),
                           specificity=(int(rng.binomial(n_neg, sp)), n_neg))
        hits += c.low <= pi <= c.high
    assert 0.93 <= hits / reps <= 0.985
