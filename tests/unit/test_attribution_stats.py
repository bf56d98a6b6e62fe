"""Attribution's pure parts: Newcombe's interval for a difference of proportions against the
published worked examples, regressed categories, cosine nearest neighbours, and the ranking of
suspects (shares, gold risk, sentences) on hand-made groups."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from curata.loop.attribution import (
    Annotator,
    GoldAccuracy,
    TracedRecord,
    compare,
    nearest,
    pair_weights,
    rank,
)
from curata.loop.evals import summarize
from curata.stats.proportions import newcombe_interval

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_newcombe_method_10_matches_the_published_examples() -> None:
    """Newcombe (1998), "Interval estimation for the difference between independent proportions:
    comparison of eleven methods", Statistics in Medicine 17:873-890, Table II, method 10 (score
    interval without continuity correction): (a) 56/70 - 48/80 = 0.2000, 0.0524 to 0.3339;
    (b) 9/10 - 3/10 = 0.6000, 0.1705 to 0.8090 (the same figures are the reference values of
    the propint R package's tests)."""
    assert newcombe_interval(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=5e-5)
    assert newcombe_interval(9, 10, 3, 10) == pytest.approx((0.1705, 0.8090), abs=5e-5)
    # swapping the samples mirrors the interval
    low, high = newcombe_interval(48, 80, 56, 70)
    assert (low, high) == pytest.approx((-0.3339, -0.0524), abs=5e-5)


def test_newcombe_at_the_boundary_by_hand() -> None:
    """10/10 vs 0/20: the Wilson limits are 1/(1+z²/10) (lower, for 10/10) and (z²/20)/(1+z²/20)
    (upper, for 0/20); the lower limit is 1 - sqrt((1-l1)² + u2²), the upper is 1."""
    z2 = 1.959963984540054**2
    l1 = 1 / (1 + z2 / 10)
    u2 = (z2 / 20) / (1 + z2 / 20)
    low, high = newcombe_interval(10, 10, 0, 20)
    assert low == pytest.approx(1 - math.sqrt((1 - l1) ** 2 + u2**2), abs=1e-12)
    assert high == 1.0
    with pytest.raises(ValueError):
        newcombe_interval(0, 0, 1, 2)


def test_compare_flags_only_intervals_entirely_below_zero() -> None:
    def triples(spec: dict[str, tuple[int, int]]) -> list[tuple[str, bool | None, None]]:
        return [(cat, i < passed, None) for cat, (passed, n) in spec.items() for i in range(n)]

    # refusal: 48/80 now vs 56/70 before (published interval -0.3339..-0.0524: regressed);
    # math: 9/10 vs 8/10 (better); style: 7/10 vs 8/10 (worse, interval spans 0)
    now = summarize(triples({"refusal": (48, 80), "math": (9, 10), "style": (7, 10)}))
    before = summarize(triples({"refusal": (56, 70), "math": (8, 10), "style": (8, 10)}))
    rows = {c.category: c for c in compare(now, before)}
    assert rows["refusal"].regressed and rows["refusal"].diff == pytest.approx(-0.2)
    assert (rows["refusal"].low, rows["refusal"].high) == pytest.approx(
        (-0.3339, -0.0524), abs=5e-5
    )
    assert rows["refusal"].failed == 32 and rows["refusal"].baseline_passed == 56
    assert not rows["math"].regressed and not rows["style"].regressed
    assert rows["style"].low is not None and rows["style"].low < 0 < rows["style"].high  # type: ignore[operator]
    assert not rows["all"].regressed
    alone = {c.category: c for c in compare(now, None)}
    assert alone["refusal"].diff is None and alone["refusal"].failed == 32


def test_nearest_by_cosine_most_similar_first() -> None:
    training = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-1.0, 0.0]])
    failures = np.array([[3.0, 0.1], [0.0, 1.0]])
    order, sims = nearest(failures, training, 2)
    # cosines of (3, 0.1): 0.99944, 0.03331, 0.73066, -0.99944
    assert order.tolist() == [[0, 2], [1, 2]]
    assert sims[0].tolist() == pytest.approx(
        [3 / math.hypot(3, 0.1), 3.1 / math.hypot(3, 0.1) / math.sqrt(2)]
    )
    assert sims[1].tolist() == pytest.approx([1.0, 1 / math.sqrt(2)])
    assert nearest(failures, training, 10)[0].shape == (2, 4)


def _record(rid: str, entered: str, annotators: list[Annotator]) -> TracedRecord:
    return TracedRecord(rid, rid, "sft@2", entered, "web", "o", project="p", annotators=annotators)


def _ann(user: str, cohort: str, vendor: str, minutes: int) -> Annotator:
    return Annotator(user, [cohort], vendor, 3, T0 + timedelta(minutes=minutes))


def test_gold_risk_is_the_smoothed_error_ratio() -> None:
    g = GoldAccuracy("b", T0, T0, right=8, answered=10, cohort_right=8, cohort_answered=10,
                     project_right=27, project_answered=30)  # fmt: skip
    # (2 + 1) / 12 over (3 + 1) / 32
    assert g.risk == pytest.approx((3 / 12) / (4 / 32))
    assert g.period == 0.8 and g.overall == 0.9
    none = GoldAccuracy("b", T0, T0, 0, 0, 0, 0, 27, 30)
    assert none.risk == 1.0 and none.period is None


def test_rank_puts_the_careless_cohort_first_and_says_why() -> None:
    # four neighbours: r1, r2 labelled by cohort-a, r3 by cohort-b, r4 by both (split weight);
    # each was near one failure except r3, near two
    records = [
        _record("r1", "sft@2", [_ann("a1", "cohort-a", "vendor-A", 1)]),
        _record("r2", "sft@2", [_ann("a1", "cohort-a", "vendor-A", 2)]),
        _record("r3", "sft@2", [_ann("b1", "cohort-b", "vendor-B", 3)]),
        _record("r4", "sft@2", [_ann("a2", "cohort-a", "vendor-A", 4),
                                _ann("b1", "cohort-b", "vendor-B", 5)]),
        _record("r5", "sft@1", []),
    ]  # fmt: skip
    hits = {"r1": 1, "r2": 1, "r3": 2, "r4": 1, "r5": 1}
    weights = [w for r in records for w in pair_weights(r, hits[r.record_id])]
    total = 6.0
    accuracy = {
        "cohort-a": GoldAccuracy("cohort-a", T0, T0, 19, 20, 19, 20, 28, 40),
        "cohort-b": GoldAccuracy("cohort-b", T0, T0, 10, 20, 10, 20, 28, 40),
    }
    asked: list[tuple[str, str, datetime, datetime]] = []

    def gold(project: str, cohort: str, start: datetime, end: datetime) -> GoldAccuracy:
        asked.append((project, cohort, start, end))
        return accuracy[cohort]

    now = summarize([("refusal", i < 6, None) for i in range(20)])
    before = summarize([("refusal", i < 18, None) for i in range(20)])
    comparison = compare(now, before)[0]
    suspects = rank("refusal", weights, gold, {"r3", "r4"}, comparison)
    by = {(s.entered, s.cohort): s for s in suspects}
    # shares by hand: cohort-a 1 + 1 + 0.5 = 2.5 of 6; cohort-b 2 + 0.5; unlabelled r5 1
    assert by[("sft@2", "cohort-a")].share == pytest.approx(2.5 / total)
    assert by[("sft@2", "cohort-b")].share == pytest.approx(2.5 / total)
    assert by[("sft@1", None)].share == pytest.approx(1 / total)
    # risk: cohort-b (10+1)/22 over project (12+1)/42; cohort-a (1+1)/22 over 13/42
    risk_b = (11 / 22) / (13 / 42)
    risk_a = (2 / 22) / (13 / 42)
    assert by[("sft@2", "cohort-b")].score == pytest.approx(2.5 / total * risk_b)
    assert by[("sft@2", "cohort-a")].score == pytest.approx(2.5 / total * risk_a)
    assert [s.cohort for s in suspects] == ["cohort-b", None, "cohort-a"]
    # the period asked about is the span of that cohort's labels on these neighbours
    assert ("p", "cohort-b", T0 + timedelta(minutes=3), T0 + timedelta(minutes=5)) in asked
    # added share: cohort-b's weight is all r3/r4 (added); cohort-a's 0.5 of 2.5
    assert by[("sft@2", "cohort-b")].added_share == 1.0
    assert by[("sft@2", "cohort-a")].added_share == pytest.approx(0.2)
    top = suspects[0].sentence
    assert top == (
        "refusal failures +60 pts; 42% of the nearest records entered in sft@2, labelled by "
        "cohort cohort-b (vendor-B) under guideline v3, whose gold accuracy dropped to 0.50 in "
        "that period (project overall 0.70); 100% of them new since the baseline"
    )
    assert by[("sft@1", None)].sentence.endswith("entered in sft@1, from source web")
