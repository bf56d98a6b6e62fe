"""Labels nobody chose (issue #12), on the pure aggregation functions: the mark, its reason, the
three policies, known (gold) answers, and the policy's validation."""

from __future__ import annotations

import math

import pytest

from curata.annotation.aggregation import aggregate_items, aggregation_policy
from curata.core.errors import ValidationError

# two annotators whose smoothed gold accuracy (0.1) is below chance (1/3) disagree, a and b:
# gold-weighted voting weighs each vote log(0.1 * 2 / 0.9) < 0, so c, which nobody chose,
# scores 0 and wins: p(c) = 1 / (1 + 2 * 0.2 / 0.9)
ITEMS = [[(1, {"t": "a"}), (2, {"t": "b"})], [(1, {"t": "c"}), (3, {"t": "c"})]]
ACCURACY = {(1, "t"): 0.1, (2, "t"): 0.1, (3, "t"): 0.9}
NAMES = {1: "x", 2: "y", 3: "z"}


def _gold_weighted(policy: str) -> dict:
    return aggregate_items("gold-weighted", ITEMS, categorical={"t"}, gold_accuracy=ACCURACY,
                           names=NAMES, outside_votes=policy)[0]["t"]  # fmt: skip


def test_gold_weighted_voting_can_invent_a_label_and_it_is_marked() -> None:
    entry = _gold_weighted("allow")
    p_c = 1 / (1 + 2 * (0.1 * 2 / 0.9))
    assert entry["value"] == "c" and math.isclose(entry["confidence"], p_c)
    mark = entry["outside_votes"]
    assert (mark["label"], mark["answers"], mark["action"]) == ("c", ["a", "b"], "allow")
    assert "x (gold accuracy 10%, chance 33%) answered 'a'" in mark["reason"]
    assert "y (gold accuracy 10%, chance 33%) answered 'b'" in mark["reason"]


def test_review_holds_the_label_back_and_keeps_what_was_said() -> None:
    entry = _gold_weighted("review")
    assert entry["value"] is None and entry["outside_votes"]["action"] == "review"
    assert entry["distribution"] == {"a": 0.5, "b": 0.5} and entry["confidence"] == 0.5


def test_forbid_releases_the_likeliest_answer_given() -> None:
    entry = _gold_weighted("forbid")
    # a and b have the same posterior (1 - p(c)) / 2; either is an answer somebody gave
    assert entry["value"] in ("a", "b") and entry["outside_votes"]["action"] == "forbid"
    assert math.isclose(entry["confidence"], (1 - 1 / (1 + 2 * (0.2 / 0.9))) / 2)


def test_a_label_somebody_chose_is_never_marked() -> None:
    for method in ("majority", "dawid-skene", "gold-weighted"):
        out = aggregate_items(method, ITEMS, categorical={"t"}, gold_accuracy=ACCURACY)
        assert out[1]["t"]["value"] == "c" and "outside_votes" not in out[1]["t"]


@pytest.mark.parametrize("method", ["majority", "dawid-skene", "gold-weighted"])
def test_a_known_answer_is_the_label_whatever_the_method(method: str) -> None:
    items = [[(1, {"t": "a"}), (2, {"t": "a"}), (3, {"t": "b"})]] * 3
    known = [None, {"t": "b"}, None]
    accuracy = {(user, "t"): 0.9 for user in (1, 2, 3)}
    out = aggregate_items(method, items, categorical={"t"}, known=known, gold_accuracy=accuracy)
    assert out[1]["t"]["value"] == "b" and out[1]["t"]["confidence"] == 1.0
    assert out[1]["t"]["gold"] is True and out[1]["t"]["distribution"] == {"b": 1.0}
    assert out[0]["t"]["value"] == "a"


def test_the_policy_is_validated_with_its_path() -> None:
    assert aggregation_policy({}) == {"outside_votes": "review"}
    assert aggregation_policy({"aggregation": {"outside_votes": "forbid"}}) == {
        "outside_votes": "forbid"
    }
    with pytest.raises(ValidationError, match=r"aggregation.outside_votes: 'no' is not one of"):
        aggregation_policy({"aggregation": {"outside_votes": "no"}})
    with pytest.raises(ValidationError, match="aggregation: unknown setting 'x'"):
        aggregation_policy({"aggregation": {"x": 1}})
    with pytest.raises(ValidationError, match="aggregation: expected a mapping"):
        aggregation_policy({"aggregation": "review"})
    with pytest.raises(ValidationError, match="outside_votes: 'sometimes' is not one of"):
        aggregate_items("dawid-skene", ITEMS, categorical={"t"}, outside_votes="sometimes")
