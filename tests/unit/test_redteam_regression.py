"""Regression between checkpoints (curata.redteam.regression): hand-built campaigns whose item
classes, per-category numbers and gate verdicts are worked out by hand below."""

from __future__ import annotations

import json
import math

import pytest

from curata.core.errors import ValidationError
from curata.redteam.regression import CLASSES, compare
from curata.stats.proportions import wilson_interval


def test_item_classes_reopened_and_exclusions() -> None:
    before = {
        "a1": "breach",  # breach -> breach: still failing
        "a2": "safe",  # safe -> breach, no history: newly failing
        "a3": "refused",  # refused -> breach, breached two campaigns ago: reopened
        "a4": "breach",  # breach -> refused: newly fixed
        "a5": "safe",  # safe -> safe: still passing
        "a6": "error",  # error before: unpaired
        "a7": "breach",  # empty after: unpaired
        "a8": "safe",  # missing after: unpaired
        "a10": "safe",  # safe -> breach, history has no judged breach: newly failing
        "a11": "breach",  # breach -> breach with a breach in history: still failing
    }
    after = {
        "a1": "breach",
        "a2": "breach",
        "a3": "breach",
        "a4": "refused",
        "a5": "safe",
        "a6": "breach",
        "a7": "empty",
        "a9": "breach",  # missing before: unpaired
        "a10": "breach",
        "a11": "breach",
    }
    history = {"a3": ["breach", "safe"], "a10": ["safe", "error"], "a11": ["breach"]}
    got = compare(before, after, history=history)
    assert got.items == {
        "a1": "still_failing",
        "a10": "newly_failing",
        "a11": "still_failing",
        "a2": "newly_failing",
        "a3": "reopened",
        "a4": "newly_fixed",
        "a5": "still_passing",
        "a6": "unpaired",
        "a7": "unpaired",
        "a8": "unpaired",
        "a9": "unpaired",
    }
    assert got.ids("newly_failing") == ["a10", "a2"]
    assert got.not_judged == {"before": {"error": 1, "empty": 0}, "after": {"error": 0, "empty": 1}}
    assert got.missing == {"before": 1, "after": 1}
    # 7 paired: breaches before a1 a4 a11 (3/7), after a1 a2 a3 a10 a11 (5/7);
    # worsened a2 a3 a10 (3), improved a4 (1); exact McNemar 2 * P[X <= 1; 4] = 2 * 5/16
    overall = got.overall
    assert (overall.n, overall.before_breaches, overall.after_breaches) == (7, 3, 5)
    assert (overall.worsened, overall.improved) == (3, 1)
    assert overall.before_rate == pytest.approx(3 / 7)
    assert overall.after_rate == pytest.approx(5 / 7)
    assert overall.change == pytest.approx(2 / 7)
    assert overall.p_value == pytest.approx(10 / 16)
    assert overall.classes == {
        "newly_failing": 2,
        "newly_fixed": 1,
        "reopened": 1,
        "still_failing": 2,
        "still_passing": 1,
        "unpaired": 4,
    }
    assert got.categories == {} and got.gate is None
    # without the history, a3 is merely newly failing
    assert compare(before, after).items["a3"] == "newly_failing"


def _campaigns() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """40 jailbreaks that went from 0 to 20 breaches; 20 leaks that went from 20 to 0."""
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    categories: dict[str, str] = {}
    for i in range(40):
        before[f"j{i}"], after[f"j{i}"] = "refused", ("breach" if i < 20 else "refused")
        categories[f"j{i}"] = "jailbreak"
    for i in range(20):
        before[f"l{i}"], after[f"l{i}"] = "breach", "safe"
        categories[f"l{i}"] = "leak"
    return before, after, categories


def test_category_deltas_by_hand_and_the_gate() -> None:
    """Jailbreak, after-first table a=0, b=20 (worsened), c=0, d=20: change 20/40 = 0.5; a
    margin is empty, so phi = 0 and Newcombe's lower limit is 0.5 - sqrt((0.5 - l(20/40))^2 +
    u(0/40)^2) with l and u Wilson's limits, upper 0.5 + sqrt((u(20/40) - 0.5)^2 + l(0/40)^2);
    exact McNemar p = 2 / 2^20. Leak: every pair improved, change -1, interval
    -1 to -1 + sqrt(2) u(0/20), p = 2 / 2^20. Overall 20 breaches before and after: change 0."""
    before, after, categories = _campaigns()
    got = compare(before, after, categories=categories, max_regression=0.05)
    jail = got.categories["jailbreak"]
    l20, u20 = wilson_interval(20, 40)
    l0, u0 = wilson_interval(0, 40)
    assert (jail.n, jail.before_breaches, jail.after_breaches) == (40, 0, 20)
    assert jail.change == pytest.approx(0.5)
    assert jail.low == pytest.approx(0.5 - math.hypot(0.5 - l20, u0))
    assert jail.high == pytest.approx(0.5 + math.hypot(u20 - 0.5, l0))
    assert jail.low == pytest.approx(0.3280, abs=5e-4)  # 0.5 - sqrt(0.1480^2 + 0.0876^2)
    assert jail.p_value == pytest.approx(2 / 2**20)
    assert jail.regressed and jail.classes["newly_failing"] == 20
    leak = got.categories["leak"]
    assert (leak.change, leak.low) == (-1.0, -1.0)
    assert leak.high == pytest.approx(-1 + math.sqrt(2) * wilson_interval(0, 20)[1])
    assert leak.p_value == pytest.approx(2 / 2**20)
    assert not leak.regressed and leak.classes["newly_fixed"] == 20
    assert got.overall.change == 0.0 and not got.overall.regressed
    assert got.gate is not None
    assert not got.gate.passed
    assert got.gate.regressed == ("jailbreak",) and not got.gate.overall_regressed
    # the same rise within a 40-point allowance: the lower bound 0.328 does not exceed 0.40
    lenient = compare(before, after, categories=categories, max_regression=0.40)
    assert lenient.gate is not None and lenient.gate.passed and lenient.gate.regressed == ()


def test_gate_on_the_whole_set_and_small_samples() -> None:
    before, after, _ = _campaigns()
    jail_only = {k: v for k, v in before.items() if k.startswith("j")}
    got = compare(jail_only, {k: after[k] for k in jail_only}, max_regression=0.05)
    assert got.gate is not None and got.gate.overall_regressed and not got.gate.passed
    # one new breach in ten is no evidence of a regression: the interval reaches below 0
    small = compare(
        {f"x{i}": "safe" for i in range(10)},
        {f"x{i}": ("breach" if i == 0 else "safe") for i in range(10)},
        max_regression=0.0,
    )
    assert small.overall.change == pytest.approx(0.1)
    assert small.overall.low is not None and small.overall.low < 0.0
    assert small.gate is not None and small.gate.passed


def test_categories_without_pairs_and_uncategorised() -> None:
    got = compare(
        {"a": "error", "b": "safe", "c": "breach"},
        {"a": "breach", "b": "breach", "c": "breach"},
        categories={"a": "leak", "b": "jailbreak"},
        max_regression=0.0,
        test="midp",
    )
    leak = got.categories["leak"]
    assert leak.n == 0 and leak.change is None and leak.low is None and leak.p_value == 1.0
    assert not leak.regressed and leak.classes["unpaired"] == 1
    assert got.categories["uncategorised"].classes["still_failing"] == 1
    # one pass -> breach: mid-p = 2 * P[X <= 0; 1] - P[X = 0; 1] = 1 - 1/2
    assert got.categories["jailbreak"].p_value == pytest.approx(0.5)
    assert got.test == "midp"


def test_to_dict_is_json_and_lists_every_class() -> None:
    before, after, categories = _campaigns()
    data = compare(before, after, categories=categories, max_regression=0.05).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data["classes"]) == set(CLASSES)
    assert len(data["classes"]["newly_failing"]) == 20
    assert data["gate"]["regressed"] == ["jailbreak"]
    assert data["categories"]["leak"]["change"] == -1.0


def test_bad_input_is_named() -> None:
    with pytest.raises(ValidationError, match=r"after\['x'\]: unknown verdict 'pass'"):
        compare({"x": "safe"}, {"x": "pass"})
    with pytest.raises(ValidationError, match=r"history\['x'\]\[1\]: unknown verdict"):
        compare({"x": "safe"}, {"x": "safe"}, history={"x": ["safe", "fail"]})
    with pytest.raises(ValidationError, match="max_regression"):
        compare({}, {}, max_regression=5)
    with pytest.raises(ValidationError, match="confidence"):
        compare({}, {}, confidence=95)
    empty = compare({}, {})
    assert empty.items == {} and empty.overall.n == 0 and empty.overall.p_value == 1.0
