"""Preference and ranking answers are aggregated on what a data lead means by agreement (#12):
a preference on its choice (the median strength of those who chose the winner beside it,
rationales not voted on), a ranking on its candidates' mean ranks, by every method."""

from __future__ import annotations

import pytest

from curata.annotation.aggregation import aggregate_items, majority

TYPES = {"better": "preference", "order": "ranking"}
ITEM = [
    (1, {"better": {"choice": "A", "strength": 1, "rationale": "short"}}),
    (2, {"better": {"choice": "A", "strength": 3, "rationale": "clearly right"}}),
    (3, {"better": {"choice": "B", "strength": 2}}),
]


def test_majority_votes_on_the_choice_and_takes_the_median_strength_of_the_winners() -> None:
    [combined] = [majority([answers for _, answers in ITEM], TYPES)]
    assert combined["better"] == {
        "value": {"choice": "A", "strength": 2},  # median of 1 and 3; B's 2 is not counted
        "confidence": pytest.approx(2 / 3),
        "votes": 3,
        "tied": False,
        "distribution": {"A": pytest.approx(2 / 3), "B": pytest.approx(1 / 3)},
    }


def test_an_even_number_of_strengths_has_a_half_way_median_and_no_strength_none() -> None:
    two = [{"better": {"choice": "B", "strength": 1}}, {"better": {"choice": "B", "strength": 2}}]
    assert majority(two, TYPES)["better"]["value"] == {"choice": "B", "strength": 1.5}
    plain = [{"better": {"choice": "tie"}}, {"better": {"choice": "tie", "rationale": "same"}}]
    assert majority(plain, TYPES)["better"]["value"] == {"choice": "tie"}


def test_gold_weighted_votes_on_the_choice() -> None:
    # one-coin weights with K = 2 choices: w = log(a / (1 - a)); 0.9 -> log 9, 0.2 -> log 1/4,
    # so A scores 9 * 9 = 81 and B 1/4: P(A) = 81 / 81.25
    accuracy = {(1, "better"): 0.9, (2, "better"): 0.9, (3, "better"): 0.2}
    [combined] = aggregate_items(
        "gold-weighted", [ITEM], categorical={"better"}, gold_accuracy=accuracy, types=TYPES
    )
    assert combined["better"]["value"] == {"choice": "A", "strength": 2}
    assert combined["better"]["confidence"] == pytest.approx(81 / 81.25)
    assert combined["better"]["distribution"] == {
        "A": pytest.approx(81 / 81.25),
        "B": pytest.approx(0.25 / 81.25),
    }


def test_dawid_skene_models_the_choice_and_clamps_gold_on_it() -> None:
    second = [
        (1, {"better": {"choice": "B", "strength": 1}}),
        (2, {"better": {"choice": "B", "strength": 2}}),
        (3, {"better": {"choice": "B", "strength": 2, "rationale": "why not"}}),
    ]
    gold = {"choice": "B", "strength": 3}
    first, known = aggregate_items(
        "dawid-skene",
        [ITEM, second],
        categorical={"better"},
        known=[None, {"better": gold}],
        types=TYPES,
    )
    assert first["better"]["value"] == {"choice": "A", "strength": 2}
    assert set(first["better"]["distribution"]) == {"A", "B"}  # two choices, not five answers
    assert "outside_votes" not in first["better"]
    assert known["better"]["value"] == gold and known["better"]["distribution"] == {"B": 1.0}


@pytest.mark.parametrize("method", ["majority", "dawid-skene", "gold-weighted"])
def test_a_ranking_is_ordered_by_mean_rank_by_every_method(method: str) -> None:
    # mean ranks: (1 + 1 + 2) / 3, (2 + 3 + 1) / 3, (3 + 2 + 3) / 3 -> [1, 2, 3]
    item = [(1, {"order": [1, 2, 3]}), (2, {"order": [1, 3, 2]}), (3, {"order": [2, 1, 3]})]
    [combined] = aggregate_items(method, [item], categorical={"order"}, types=TYPES)
    assert combined["order"]["value"] == [1, 2, 3]
    assert combined["order"]["confidence"] == pytest.approx(7 / 9)
    assert combined["order"]["distribution"] == {
        "[1,2,3]": pytest.approx(1 / 3),
        "[1,3,2]": pytest.approx(1 / 3),
        "[2,1,3]": pytest.approx(1 / 3),
    }
