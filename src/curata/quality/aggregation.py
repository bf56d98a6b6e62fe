"""Label aggregation across annotators: Dawid-Skene EM and gold-weighted voting (pure NumPy).

Both take parallel integer arrays — one entry per label: the item, the annotator and the class
— and return a posterior (soft label) per item. Dawid & Skene (1979), "Maximum likelihood
estimation of observer error-rates using the EM algorithm", *Applied Statistics* 28(1):
each annotator j has a confusion matrix pi_j[k, l] = P(says l | truth k); EM alternates the
posterior of each item's true class (E) and the priors and confusion matrices (M), starting
from majority-vote posteriors. Every step is a handful of ``bincount`` calls over the labels,
so an iteration is O(labels x classes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Matrix = np.ndarray


@dataclass(frozen=True)
class Posteriors:
    """Soft labels (``items x classes``) and, for Dawid-Skene, what EM estimated."""

    posteriors: Matrix
    confusion: Matrix | None = None  # annotators x classes x classes (rows: true class)
    priors: Matrix | None = None
    iterations: int = 0
    converged: bool = True
    log_likelihood: float | None = None

    @property
    def labels(self) -> Matrix:
        return np.asarray(self.posteriors.argmax(axis=1))

    @property
    def confidence(self) -> Matrix:
        return np.asarray(self.posteriors.max(axis=1))


def _check(items: Matrix, workers: Matrix, labels: Matrix, n_classes: int) -> None:
    if not (len(items) == len(workers) == len(labels)):
        raise ValueError("items, workers and labels must have the same length")
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must be class indices in [0, {n_classes})")


def vote_counts(items: Matrix, labels: Matrix, n_items: int, n_classes: int,
                weights: Matrix | None = None) -> Matrix:  # fmt: skip
    """``items x classes`` (weighted) vote counts."""
    flat = np.bincount(items * n_classes + labels, weights=weights, minlength=n_items * n_classes)
    return flat.reshape(n_items, n_classes)


def majority_posteriors(items: Matrix, labels: Matrix, n_items: int, n_classes: int) -> Posteriors:
    """Vote shares per item (uniform for an item without votes)."""
    counts = vote_counts(items, labels, n_items, n_classes)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, counts / totals, 1.0 / n_classes)
    return Posteriors(shares)


def dawid_skene(
    items: Matrix,
    workers: Matrix,
    labels: Matrix,
    *,
    n_items: int,
    n_workers: int,
    n_classes: int,
    tol: float = 1e-6,
    max_iter: int = 500,
    smoothing: float = 0.01,
    stop: str = "posteriors",
) -> Posteriors:
    """Dawid-Skene EM run to convergence (or ``max_iter``): with ``stop="posteriors"`` until
    no posterior moves by more than ``tol``; with ``stop="likelihood"`` until the
    log-likelihood per label improves by less than ``tol`` (crowd-kit's criterion).

    ``smoothing`` is added to every confusion count (a symmetric Dirichlet prior), so an
    annotator never has a zero probability of any answer.
    """
    items = np.asarray(items, dtype=np.int64)
    workers = np.asarray(workers, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    _check(items, workers, labels, n_classes)
    if stop not in ("posteriors", "likelihood"):
        raise ValueError(f"stop: {stop!r} is not 'posteriors' or 'likelihood'")
    k = n_classes
    post = majority_posteriors(items, labels, n_items, k).posteriors
    wl = workers * k + labels  # (worker, said) cell of each label
    confusion = np.zeros((n_workers, k, k))
    priors = np.full(k, 1.0 / k)
    log_lik = None
    converged = False
    iteration = 0
    while iteration < max_iter:
        iteration += 1
        # M-step: priors and each annotator's confusion matrix from the current posteriors
        priors = post.mean(axis=0)
        priors = np.clip(priors, 1e-12, None) / np.clip(priors, 1e-12, None).sum()
        for truth in range(k):
            confusion[:, truth, :] = np.bincount(
                wl, weights=post[items, truth], minlength=n_workers * k
            ).reshape(n_workers, k)
        confusion += smoothing
        confusion /= confusion.sum(axis=2, keepdims=True)
        # E-step: log P(truth = t | labels) ∝ log prior_t + Σ log pi_j[t, said]
        log_cells = np.log(confusion).transpose(0, 2, 1).reshape(n_workers * k, k)
        log_post = np.tile(np.log(priors), (n_items, 1))
        for truth in range(k):
            log_post[:, truth] += np.bincount(
                items, weights=log_cells[wl, truth], minlength=n_items
            )
        top = log_post.max(axis=1, keepdims=True)
        unnormalised = np.exp(log_post - top)
        norm = unnormalised.sum(axis=1, keepdims=True)
        new_post = unnormalised / norm
        previous, log_lik = log_lik, float((np.log(norm) + top).sum())
        if stop == "posteriors":
            change = float(np.abs(new_post - post).max()) if n_items else 0.0
        else:
            gain = np.inf if previous is None else (log_lik - previous)
            change = gain / max(1, len(labels))
        post = new_post
        if change < tol:
            converged = True
            break
    return Posteriors(post, confusion, priors, iteration, converged, log_lik)


def gold_weighted(
    items: Matrix,
    workers: Matrix,
    labels: Matrix,
    accuracy: Matrix,
    *,
    n_items: int,
    n_classes: int,
) -> Posteriors:
    """Votes weighted by each annotator's accuracy on gold items.

    Under the "one-coin" model (an annotator is right with probability a_j, otherwise picks one
    of the other classes uniformly), the posterior of class k is proportional to
    exp(Σ_j w_j [label_j = k]) with w_j = log(a_j (K - 1) / (1 - a_j)); an annotator at chance
    (a_j = 1/K) weighs nothing, one below chance counts against their answer. ``accuracy``
    (per annotator) should be smoothed, e.g. (correct + 1) / (answered + 2), and is clipped to
    [0.001, 0.999].
    """
    items = np.asarray(items, dtype=np.int64)
    workers = np.asarray(workers, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    _check(items, workers, labels, n_classes)
    a = np.clip(np.asarray(accuracy, dtype=float), 0.001, 0.999)
    k = max(n_classes, 2)
    w = np.log(a * (k - 1) / (1.0 - a))
    scores = vote_counts(items, labels, n_items, n_classes, weights=w[workers])
    scores -= scores.max(axis=1, keepdims=True)
    odds = np.exp(scores)
    return Posteriors(odds / odds.sum(axis=1, keepdims=True))
