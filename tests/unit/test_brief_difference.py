"""The brief's difference interval against Newcombe's published worked examples."""

from __future__ import annotations

import pytest

from curata.loop.briefs import rate_difference


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2", "low", "high"),
    [
        # Newcombe (1998), "Interval estimation for the difference between independent
        # proportions: comparison of eleven methods", Statistics in Medicine 17:873-890,
        # Table II, method 10 (score interval combining the two Wilson intervals)
        (56, 70, 48, 80, 0.0524, 0.3339),  # example (a)
        (9, 10, 3, 10, 0.1705, 0.8090),  # example (b)
        (5, 56, 0, 29, -0.0381, 0.1926),  # example (d)
        (0, 10, 0, 20, -0.1611, 0.2775),  # example (e)
        (0, 10, 0, 10, -0.2775, 0.2775),  # example (f)
        (10, 10, 0, 20, 0.6791, 1.0000),  # example (g)
        (10, 10, 0, 10, 0.6075, 1.0000),  # example (h)
    ],
)
def test_newcombe_method_10(k1: int, n1: int, k2: int, n2: int, low: float, high: float) -> None:
    d, lo, hi = rate_difference(k1, n1, k2, n2)
    assert d == pytest.approx(k1 / n1 - k2 / n2)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


def test_an_empty_sample_has_no_interval() -> None:
    with pytest.raises(ValueError, match="at least one observation"):
        rate_difference(0, 0, 1, 2)
