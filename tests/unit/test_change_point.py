"""The Bayesian change-point model of :mod:`curata.quality.drift`.

The closed form (Beta functions) is checked against an independent computation: the same
marginal likelihoods integrated numerically with scipy.integrate.quad (Smith 1975, Biometrika
62(2):407-416, eqs. for the Bernoulli case with uniform priors)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy.integrate import quad

from curata.core.errors import ValidationError
from curata.quality.drift import change_point, rolling_rates


def _marginal(x: np.ndarray) -> float:
    k, n = int(x.sum()), len(x)
    return quad(lambda p: p**k * (1 - p) ** (n - k), 0, 1, epsabs=0, epsrel=1e-12)[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_change_probability_and_posterior_match_numerical_integration(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.random(14) < 0.85, rng.random(12) < 0.35]).astype(int)
    m = 4
    positions = range(m, len(x) - m + 1)
    m1 = np.array([_marginal(x[:t]) * _marginal(x[t:]) for t in positions])
    bf = m1.mean() / _marginal(x)
    fit = change_point(x, min_segment=m)
    assert fit is not None
    assert fit.bayes_factor == pytest.approx(bf, rel=1e-8)
    assert fit.probability == pytest.approx(bf / (1 + bf), rel=1e-8)
    best = list(positions)[int(np.argmax(m1))]
    assert fit.at == best
    k1 = int(x[:best].sum())
    assert fit.before == pytest.approx((k1 + 1) / (best + 2))
    assert fit.after == pytest.approx((int(x[best:].sum()) + 1) / (len(x) - best + 2))
    lo, hi = fit.window
    posterior = m1 / m1.sum()
    assert posterior[lo - m : hi - m + 1].sum() >= 0.9
    # no shorter run of positions holds 90% (brute force over every run)
    n = len(posterior)
    shortest = min(
        b - a for a in range(n) for b in range(a, n) if posterior[a : b + 1].sum() >= 0.9
    )
    assert hi - lo == shortest


def test_a_drop_is_found_where_it_happened() -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.random(60) < 0.9, rng.random(60) < 0.4]).astype(int)
    fit = change_point(x)
    assert fit is not None and fit.probability > 0.999
    assert abs(fit.at - 60) <= 8
    assert fit.before - fit.after > 0.3


def test_steady_annotators_rarely_raise_an_alarm() -> None:
    """Good (0.9) and bad (0.4) annotators with no change: the conservative uniform priors keep
    the share of sequences that reach P(change) >= 0.99 low."""
    rng = np.random.default_rng(11)
    alarms = 0
    runs = 300
    for i in range(runs):
        rate = 0.9 if i % 2 else 0.4
        fit = change_point((rng.random(80) < rate).astype(int))
        assert fit is not None
        alarms += fit.probability >= 0.99
    assert alarms / runs < 0.02


def test_short_or_malformed_sequences() -> None:
    assert change_point([1, 0, 1], min_segment=5) is None
    with pytest.raises(ValidationError, match="0 and 1"):
        change_point([1, 2, 0] * 5)
    with pytest.raises(ValidationError, match="min_segment"):
        change_point([1, 0] * 10, min_segment=0)


def test_rolling_rates_bin_by_time_with_wilson_intervals() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    times = [t0 + timedelta(hours=h) for h in range(10)]
    outcomes = [1, 1, 1, 1, 1, 0, 0, 0, 1, 0]
    edges = [t0, t0 + timedelta(hours=5), t0 + timedelta(hours=9)]
    rates = rolling_rates(times, outcomes, edges)
    assert [r["n"] for r in rates] == [5, 5]  # the last bin is closed: hour 9 counts
    assert rates[0]["rate"] == 1.0 and rates[1]["rate"] == pytest.approx(0.2)
    for r in rates:
        assert r["low"] <= r["rate"] <= r["high"]
    assert math.isclose(rates[0]["high"], 1.0)
