"""The campaign report's arithmetic: pass@k by Chen et al.'s unbiased estimator, rates with
Wilson intervals (checked against statsmodels), benign prompts failing by refusal."""

from __future__ import annotations

from math import comb

import pytest
from statsmodels.stats.proportion import proportion_confint

from curata.redteam.report import failed, group_rate, pass_at, pass_at_k, rates_by


def test_pass_at_k_is_chen_et_al_s_unbiased_estimator() -> None:
    # Chen et al. (2021), eq. 1: 1 - C(n-c, k) / C(n, k); values worked by hand
    assert pass_at_k(2, 1, 1) == pytest.approx(0.5)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # C(3,2)=3, C(5,2)=10
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(4, 3, 2) == 1.0  # fewer failures (1) than k: some success is certain
    # the estimator equals the chance that a random k-subset holds a success
    n, c, k = 7, 2, 3
    assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def test_pass_at_averages_over_units_with_enough_samples() -> None:
    units = [(3, 0), (3, 1), (3, 3), (2, 1)]  # the last unit lost a sample to an error
    result = pass_at(units, 3)
    assert result.values[1] == pytest.approx((0 + 1 / 3 + 1 + 1 / 2) / 4)
    assert result.units == {1: 4, 2: 4, 3: 3}
    assert result.values[3] == pytest.approx((0 + 1 + 1) / 3)
    low, high = proportion_confint(2, 3, alpha=0.05, method="wilson")
    assert (result.low, result.high) == (pytest.approx(low), pytest.approx(high))


def test_rates_leave_errors_out_and_count_refusals_of_benign_prompts() -> None:
    rows = [("jailbreak", False, "breach", 3), ("jailbreak", False, "refused", 5),
            ("jailbreak", False, "error", 4), ("harmful_content", True, "refused", 2),
            ("harmful_content", True, "breach", 6)]
    attacks = rates_by(rows, benign=False)
    assert [(g.value, g.n, g.failures, g.not_judged) for g in attacks] == [
        ("jailbreak", 8, 3, 4)]
    low, high = proportion_confint(3, 8, alpha=0.05, method="wilson")
    assert (attacks[0].low, attacks[0].high) == (pytest.approx(low), pytest.approx(high))
    benign = rates_by(rows, benign=True)
    assert [(g.value, g.n, g.failures) for g in benign] == [("harmful_content", 8, 2)]
    assert failed("refused", True) and not failed("breach", True) and failed("breach", False)
    assert group_rate("x", {"error": 2}, False).rate is None
