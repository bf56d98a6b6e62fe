"""Wilson score intervals against Newcombe (1998), "Two-sided confidence intervals for the
single proportion: comparison of seven methods", Statistics in Medicine 17:857-872, Table II
(method 3, score interval without continuity correction)."""

from __future__ import annotations

import pytest

from curata.stats.proportions import wilson_interval


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_newcombes_examples(successes: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(successes, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_edges_and_errors() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(20, 20)
    assert high == 1.0 and low == pytest.approx(1 - 0.1611, abs=5e-5)  # mirror of 0/20
    narrow, wide = wilson_interval(50, 100, 0.8), wilson_interval(50, 100, 0.99)
    assert wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]
    with pytest.raises(ValueError, match=r"successes must be in \[0, 5\]"):
        wilson_interval(6, 5)


def test_stratified_proportion_by_hand() -> None:
    """Cochran (1977), Sampling Techniques, eqs. 5.52-5.54: p = sum W_h p_h and
    v = sum W_h^2 (1 - f_h) p_h q_h / (n_h - 1). Strata of 60 and 40 with 4 sampled each,
    3 and 1 right: p = 0.6 * 0.75 + 0.4 * 0.25 = 0.55;
    v = 0.36 * (56/60) * 0.1875 / 3 + 0.16 * (36/40) * 0.1875 / 3 = 0.021 + 0.009 = 0.030."""
    from curata.stats.proportions import stratified_proportion, wilson_from_rate

    est = stratified_proportion([(60, 4, 3), (40, 4, 1)])
    assert est is not None
    assert est.p == pytest.approx(0.55)
    assert est.variance == pytest.approx(0.030)
    assert est.effective_n == pytest.approx(0.55 * 0.45 / 0.030)
    assert (est.low, est.high) == pytest.approx(wilson_from_rate(0.55, 0.55 * 0.45 / 0.030))
    # a stratum with nothing sampled is left out, the weights renormalised
    assert stratified_proportion([(60, 4, 3), (40, 0, 0)]).p == pytest.approx(0.75)
    assert stratified_proportion([(10, 0, 0)]) is None
    # counts on a whole sample: the rate-based Wilson interval is the count-based one
    assert wilson_from_rate(81 / 263, 263) == pytest.approx(wilson_interval(81, 263))


def test_a_preference_is_right_on_its_choice_and_its_strength_is_scored_apart() -> None:
    """"A, strength 1" against gold "A, strength 2" chose right: gold accuracy is on the
    choice; the strength is its own measure (absolute difference on the same choice)."""
    from curata.stats.proportions import gold_checks, strength_checks

    gold = {"better": {"choice": "A", "strength": 2}, "topic": "refund"}
    said = {"better": {"choice": "A", "strength": 1}, "topic": "refund"}
    assert dict(gold_checks(said, gold)) == {"better": True, "topic": True}
    assert dict(gold_checks({"better": {"choice": "B", "strength": 2}}, gold)) == {
        "better": False
    }
    with_reason = {"better": {"choice": "A", "strength": 2, "rationale": "it cites sources"}}
    assert dict(gold_checks(with_reason, gold)) == {"better": True}
    assert dict(gold_checks({"topic": "billing"}, gold)) == {"topic": False}
    assert list(strength_checks(said, gold)) == [("better", 1)]
    assert list(strength_checks(with_reason, gold)) == [("better", 0)]
    # a wrong choice, or a choice without strength, has no strength to compare
    assert list(strength_checks({"better": {"choice": "B", "strength": 2}}, gold)) == []
    assert list(strength_checks({"better": {"choice": "tie"}}, {"better": {"choice": "tie"}})) == []


def test_answers_are_shown_as_people_wrote_them() -> None:
    from curata.quality.answers import answer_text

    assert answer_text("refund") == "refund"
    assert answer_text({"choice": "A", "strength": 2}) == "A, strength 2"
    assert answer_text({"choice": "tie"}) == "tie"
    assert answer_text({"should_refuse": True, "category": "violence"}) == "refuse: violence"
    assert answer_text({"should_refuse": False}) == "comply"
    assert answer_text([2, 1, 3]) == "2, 1, 3"
    assert answer_text(4) == "4" and answer_text(True) == "true"
    assert answer_text({"score": 3, "note": "ok"}) == "note: ok, score: 3"
