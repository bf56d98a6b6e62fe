"""Coverage against a target sample: shares, JSD, quantile bins, the brief and clusters."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from curata.curation.coverage import (
    MISSING,
    OTHER,
    brief_sentence,
    cluster_coverage,
    compare_counts,
    default_k,
    jensen_shannon,
    quantile_edges,
    records_to_parity,
    slice_shares,
    sourcing_brief,
    under_represented,
)


def test_categorical_shares_keep_missing_values_as_their_own_slice() -> None:
    data = ["en"] * 6 + ["de"] * 2 + [None] * 2
    target = ["en"] * 4 + ["de"] * 4 + ["fr"] * 1 + [None]
    result = slice_shares(data, target, examples={4: "hallo", 5: "guten tag", 6: "x", 8: "salut"})
    assert result["kind"] == "categorical"
    rows = {s["slice"]: s for s in result["slices"]}
    assert set(rows) == {"en", "de", "fr", MISSING}
    assert (rows[MISSING]["data_share"], rows[MISSING]["target_share"]) == (0.2, 0.1)
    assert (rows["fr"]["data_count"], rows["fr"]["target_share"]) == (0, 0.1)
    assert rows["de"]["gap"] == pytest.approx(0.2)
    # ranked by target share minus data share; examples are the target's texts of the slice
    short = result["under_represented"]
    assert [s["slice"] for s in short] == ["de", "fr"]
    assert short[0]["examples"] == ["hallo", "guten tag"] and short[1]["examples"] == ["salut"]
    assert [s["slice"] for s in result["slices"]][:2] == ["en", "de"]  # by target share


def test_non_string_values_are_slices_by_their_json() -> None:
    result = slice_shares([True, 3, {"a": 1}], [True, "3", False])
    assert {s["slice"] for s in result["slices"]} == {"true", "3", '{"a": 1}', "false"}
    assert result["kind"] == "categorical"


@pytest.mark.parametrize("seed", range(6))
def test_jsd_is_the_square_of_scipys_base_2_distance(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p, q = rng.integers(0, 20, 8), rng.integers(0, 20, 8)
    p[seed % 8] = 0  # zero cells on one side only
    q[0] += 1
    expected = jensenshannon(p, q, base=2) ** 2
    assert jensen_shannon(p, q) == pytest.approx(expected, abs=1e-12)
    assert 0.0 <= jensen_shannon(p, q) <= 1.0


def test_jsd_bounds_and_bad_input() -> None:
    assert jensen_shannon([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0)
    assert jensen_shannon([1, 0], [0, 5]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        jensen_shannon([0, 0], [1, 1])
    assert compare_counts({}, {"a": 1})["jsd"] is None


@pytest.mark.parametrize(
    ("a", "n_data", "b", "m_target"),
    [(10, 100, 50, 100), (0, 1000, 1, 3), (7, 90, 33, 211), (1, 101, 1, 100), (0, 5, 99, 100)],
)
def test_records_to_parity_is_the_smallest_count_that_reaches_the_target_share(
    a: int, n_data: int, b: int, m_target: int
) -> None:
    n = records_to_parity(a, n_data, b, m_target)
    assert n is not None and n >= 1
    t = Fraction(b, m_target)
    assert Fraction(a + n, n_data + n) >= t  # re-adding n records reaches the share
    assert Fraction(a + n - 1, n_data + n - 1) < t  # one fewer does not
    assert n == -((-(b * n_data - a * m_target)) // (m_target - b))  # the closed form


def test_records_to_parity_edge_cases_and_population_scaling() -> None:
    assert records_to_parity(50, 100, 40, 100) == 0  # over-represented
    assert records_to_parity(10, 100, 10, 10) is None  # the target is all this slice
    assert records_to_parity(10, 100, 50, 100) == 80
    # shares from a 100-record sample of 10,000: scaled to the population
    assert records_to_parity(10, 100, 50, 100, population=10_000) == 8_000


def test_numeric_fields_are_binned_by_quantiles_of_the_target() -> None:
    target = list(range(1, 101))
    assert quantile_edges(target, 4) == [25.75, 50.5, 75.25]
    data = [-5, 10, 30, 60, 1000, None]
    result = slice_shares(data, target, bins=4)
    assert result["kind"] == "numeric" and result["edges"] == [25.75, 50.5, 75.25]
    rows = [(s["slice"], s["data_count"], s["target_count"]) for s in result["slices"]]
    assert rows == [
        ("< 25.75", 2, 25),  # below the target's range: still the first bin
        ("[25.75, 50.5)", 1, 25),
        ("[50.5, 75.25)", 1, 25),
        (">= 75.25", 1, 25),
        (MISSING, 1, 0),
    ]
    # few distinct target values, or any non-number: categorical
    assert slice_shares([1, 2, 3], [1, 2, 3, 1], bins=5)["kind"] == "categorical"
    assert slice_shares([1.5, "x"], list(range(50)))["kind"] == "categorical"
    # ties collapse duplicate cut points
    assert quantile_edges([0] * 90 + list(range(10)), 5) == [0.0]


def test_many_slices_are_capped_with_an_other_row_but_ranked_in_full() -> None:
    data = [f"v{i}" for i in range(100)]
    target = [f"v{i}" for i in range(100)] + ["rare"] * 20
    result = slice_shares(data, target, max_slices=10)
    assert len(result["slices"]) == 10 and result["slices"][-1]["slice"] == OTHER
    assert result["slices"][-1]["merged"] == 92 and result["slice_count"] == 101
    assert sum(s["target_count"] for s in result["slices"]) == 120
    assert result["under_represented"][0]["slice"] == "rare"


def test_under_represented_ranking_and_the_brief() -> None:
    lang = {"field": "lang", **slice_shares(["en"] * 90 + ["de"] * 10, ["en"] * 50 + ["de"] * 50)}
    topic = {
        "field": "topic",
        **slice_shares(["a"] * 97 + ["b"] * 3, ["a"] * 96 + ["b"] * 4),
    }
    assert [s["slice"] for s in under_represented(lang["slices"])] == ["de"]
    items = sourcing_brief([topic, lang], None, min_gap=0.02)
    assert [(i["label"], i["records"]) for i in items] == [("lang=de", 80)]
    assert brief_sentence(items) == "add ~80 records of lang=de"
    assert "nothing to source" in brief_sentence([])
    tokens = {"field": "tokens", **slice_shares([1, 2, 3, None] * 5, list(range(40)), bins=4)}
    labels = [i["label"] for i in sourcing_brief([tokens], None, per_field=5)]
    assert labels == ["tokens >= 29.25", "tokens in [19.5, 29.25)", "tokens in [9.75, 19.5)"]
    missing = {"field": "lang", **slice_shares(["en"] * 9, ["en"] * 5 + [None] * 5)}
    assert sourcing_brief([missing], None)[0]["label"] == "lang missing"


def _blobs(rng: np.random.Generator, centres: np.ndarray, sizes: list[int]) -> np.ndarray:
    return np.concatenate([centres[i] + rng.normal(size=(n, 8)) for i, n in enumerate(sizes)])


def test_clusters_fit_on_the_target_and_assign_data_to_the_nearest_centroid() -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 8)) * 6
    topics = ["billing invoice", "shipping parcel", "refund charge"]

    def encode(texts: list[str]) -> np.ndarray:  # a fake encoder: the topic's blob, plus noise
        return np.stack(
            [centres[topics.index(t.split(" #")[0])] + rng.normal(size=8) for t in texts]
        )

    target_texts = [f"{t} #{i}" for t in topics for i in range(40)]
    data_texts = [f"{t} #{i}" for t, n in zip(topics, [80, 15, 5], strict=True) for i in range(n)]
    result = cluster_coverage(
        encode(data_texts), encode(target_texts), target_texts, k=3, population=1000
    )
    assert result["k"] == 3 and result["target_sample"] == 120 and result["data_sample"] == 100
    # each data point lands in the cluster holding its topic's target points
    found: dict[str, set[int]] = {}
    for text, label in zip(target_texts, result["target_labels"], strict=True):
        found.setdefault(text.split(" #")[0], set()).add(label)
    assert all(len(labels) == 1 for labels in found.values())  # k-means recovered the blobs
    target_of = {topic: labels.pop() for topic, labels in found.items()}
    assert sorted(target_of.values()) == [0, 1, 2]
    expected = [target_of[t.split(" #")[0]] for t in data_texts]
    assert result["data_labels"] == expected
    worst = result["under_represented"][0]
    assert worst["terms"] == ["charge", "refund"]  # distinctive: "#i" numbers are not words
    assert worst["examples"][0].startswith("refund charge")
    assert (worst["data_share"], worst["target_share"]) == pytest.approx((0.05, 1 / 3))
    # shares from the sample, counts for the population of 1,000
    assert worst["records_to_parity"] == 425
    brief = sourcing_brief([], result)
    assert brief[0]["label"] == f"cluster {worst['cluster']} 'charge, refund'"


def test_default_k_and_degenerate_targets() -> None:
    assert [default_k(n) for n in (1, 9, 100, 10_000)] == [2, 3, 10, 20]
    same = np.ones((5, 4))
    assert "skipped" in cluster_coverage(np.ones((2, 4)), same, ["a"] * 5)
    # k is capped at the number of distinct target vectors
    two = np.array([[0.0, 1.0]] * 3 + [[1.0, 0.0]] * 3)
    assert cluster_coverage(two, two, ["x"] * 6, k=5)["k"] == 2
