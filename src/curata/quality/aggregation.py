"""Label aggregation across annotators: Dawid-Skene EM and gold-weighted voting (NumPy, SciPy).

Both take parallel integer arrays — one entry per label: the item, the annotator and the class
— and return a posterior (soft label) per item. Dawid & Skene (1979), "Maximum likelihood
estimation of observer error-rates using the EM algorithm", *Applied Statistics* 28(1):
each annotator j has a confusion matrix pi_j[k, l] = P(says l | truth k); EM alternates the
posterior of each item's true class (E) and the priors and confusion matrices (M), starting
from majority-vote posteriors. Every step is a sparse-dense product over the labels, so an
iteration is O(labels x classes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


_FLOOR = 1e-10
"""crowd-kit's ``_EPS``: the least a prior, an observed confusion cell (with ``smoothing=0``) or,
in the ELBO's entropy, a posterior may be."""


def _check_ids(items: Matrix, workers: Matrix, n_items: int, n_workers: int) -> None:
    if len(items) and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(f"items must be indices in [0, {n_items})")
    if len(workers) and (workers.min() < 0 or workers.max() >= n_workers):
        raise ValueError(f"workers must be indices in [0, {n_workers})")


def _incidence(rows: Matrix, cells: Matrix, n_rows: int, n_cells: int) -> Any:
    """``n_rows x n_cells`` sparse count matrix: one entry per label at (its item, its cell).

    Built directly as CSR when the labels come grouped by item (no sort), else via COO."""
    from scipy import sparse

    index = np.int32 if max(n_rows, n_cells, len(rows)) < 2**31 - 1 else np.int64
    ones = np.ones(len(rows))
    if len(rows) < 2 or bool(np.all(rows[1:] >= rows[:-1])):
        indptr = np.zeros(n_rows + 1, dtype=index)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        return sparse.csr_matrix((ones, cells.astype(index), indptr), shape=(n_rows, n_cells))
    return sparse.csr_matrix((ones, (rows, cells)), shape=(n_rows, n_cells))


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
    """Dawid-Skene EM from majority-vote posteriors, run to convergence (or ``max_iter`` E-steps).

    Initialisation: the majority-vote shares of each labelled item, then an M-step. Each
    iteration is an E-step (posteriors from the priors and confusion matrices) followed by a
    convergence test; ``stop`` picks the test:

    * ``"posteriors"`` (default): stop when no posterior moved by more than ``tol``;
    * ``"likelihood"``: stop when the log-likelihood of the labels, per label, rose by less than
      ``tol`` since the previous E-step;
    * ``"elbo"``: crowd-kit's rule. After the E-step an M-step, then the evidence lower bound
      per label (expected complete-data log-likelihood, with crowd-kit's prior term counted once
      per *label*, plus the entropy of the posteriors floored at 1e-10); stop when it rose by
      less than ``tol`` (a fall stops too). The first iteration never stops.

    Returned: the posteriors of the last E-step; with ``"elbo"`` the priors and confusion
    matrices of the M-step after it (as crowd-kit's ``priors_``/``errors_``), otherwise the
    ones that E-step used. ``iterations`` counts E-steps (crowd-kit's ``len(loss_history_)``).

    ``smoothing`` is added to every confusion count (a symmetric Dirichlet prior), so an
    annotator never has a zero probability of any answer. ``smoothing=0`` is crowd-kit's
    M-step instead: the counts of answers an annotator gave are floored at 1e-10, answers they
    never gave get probability 0. Priors are the mean posterior of the labelled items, floored
    at 1e-10; an item without labels gets the priors as its posterior.

    crowd-kit 1.4.2's ``DawidSkene(n_iter=max_iter, tol=tol)`` is therefore
    ``dawid_skene(..., tol=tol, max_iter=max_iter, smoothing=0.0, stop="elbo")``: same
    initialisation, update order, floors and stopping rule, so the same number of iterations
    and the same labels (argmax, first class on an exact tie, as pandas' ``idxmax``) up to
    floating-point summation order: crowd-kit sums with pandas ``groupby`` and in base 2, this
    with a sparse item x (annotator, answer) count matrix in base e. (crowd-kit only knows the
    classes that occur in the data; a class nobody answered has a floored prior here instead.)

    Each iteration is two sparse-dense products over the labels (E: items x cells times the
    cells' log-probabilities; M: its transpose times the posteriors) plus a few passes over the
    ``classes x items`` posteriors, so O(labels x classes) with no per-label Python.
    """
    items = np.asarray(items, dtype=np.int64)
    workers = np.asarray(workers, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    _check(items, workers, labels, n_classes)
    _check_ids(items, workers, n_items, n_workers)
    if stop not in ("posteriors", "likelihood", "elbo"):
        raise ValueError(f"stop: {stop!r} is not 'posteriors', 'likelihood' or 'elbo'")
    if smoothing < 0:
        raise ValueError("smoothing must be >= 0")
    k, n = n_classes, len(labels)
    n_cells = n_workers * k
    if n == 0:
        uniform = np.full((n_items, k), 1.0 / k)
        confusion = np.full((n_workers, k, k), 1.0 / k)
        return Posteriors(uniform, confusion, np.full(k, 1.0 / k), 0, True, 0.0)

    # EM runs over the labelled items only (rows), in (class, item) layout so that every
    # per-item reduction over classes is an elementwise pass over k contiguous rows
    per_item = np.bincount(items, minlength=n_items)
    labelled = per_item > 0
    if bool(labelled.all()):
        rows, m = items, n_items
    else:
        rows = (np.cumsum(labelled) - 1)[items]
        m = int(labelled.sum())
    cells = workers * k + labels  # (annotator, answer) cell of each label
    incidence = _incidence(rows, cells, m, n_cells)  # m x cells
    incidence_t = incidence.T  # cells x m (CSC view, no copy)
    answer = np.zeros((n_cells, k))
    answer[np.arange(n_cells), np.arange(n_cells) % k] = 1.0
    votes = np.asarray(incidence @ answer)  # m x k majority counts
    post = np.ascontiguousarray((votes / per_item[labelled][:, None]).T)  # k x m
    shifted = np.empty_like(post)  # log posterior minus its per-item maximum
    spare = np.empty_like(post) if stop == "posteriors" else post
    scratch = np.empty_like(post) if stop == "elbo" else post
    top = np.empty(m)
    norm = np.empty(m)
    observed = np.bincount(cells, minlength=n_cells) > 0
    floor = np.where(observed, _FLOOR, 0.0)[:, None]
    conf_view = np.empty((n_cells, k))  # cell (annotator, answer) x true class

    def m_step(post: Matrix) -> tuple[Matrix, Matrix, Matrix, Matrix]:
        counts = np.asarray(incidence_t @ post.T)  # cells x true class, expected counts
        if smoothing > 0:
            np.add(counts, smoothing, out=conf_view)
        else:
            np.maximum(counts, floor, out=conf_view)
        by_worker = conf_view.reshape(n_workers, k, k)  # annotator x answer x true class
        totals = by_worker.sum(axis=1, keepdims=True)
        if smoothing == 0 and not bool(totals.all()):  # an annotator with no labels
            by_worker[:, :, :] = np.where(totals > 0, by_worker, 1.0)
            totals = by_worker.sum(axis=1, keepdims=True)
        conf = by_worker / totals
        log_conf = np.log(np.where(conf > 0, conf, 1.0)).reshape(n_cells, k)
        priors = np.maximum(post.mean(axis=1), _FLOOR)
        return counts, conf, log_conf, priors

    counts, conf, log_conf, priors = m_step(post)
    log_lik: float | None = None
    elbo = -np.inf
    converged = False
    iteration = 0
    while iteration < max_iter:
        iteration += 1
        # E-step: log P(truth = t | labels) = log prior_t + sum of log pi_j[t, said] + const
        log_priors = np.log(priors)
        np.add(np.asarray(incidence @ log_conf).T, log_priors[:, None], out=shifted)
        np.max(shifted, axis=0, out=top)
        shifted -= top
        new = spare
        np.exp(shifted, out=new)
        np.sum(new, axis=0, out=norm)
        new /= norm
        log_norm = np.log(norm)
        previous, log_lik = log_lik, float(log_norm.sum() + top.sum())
        if stop == "posteriors":
            np.subtract(new, post, out=post)
            change = float(np.abs(post).max())
            spare, post = post, new
        else:
            post = new
            if stop == "likelihood":
                change = np.inf if previous is None else (log_lik - previous) / n
        if stop != "elbo":
            if change < tol:
                converged = True
            if converged or iteration == max_iter:
                break  # keep the priors and confusion matrices this E-step used
        counts, conf, log_conf, priors = m_step(post)
        if stop == "elbo":
            new_elbo = _elbo(counts, log_conf, priors, post, shifted, log_norm, scratch) / n
            if new_elbo - elbo < tol:
                converged = True
                break
            elbo = new_elbo
    post_items = np.ascontiguousarray(post.T)
    if m < n_items:
        full = np.tile(priors / priors.sum(), (n_items, 1))
        full[labelled] = post_items
        post_items = full
    confusion = np.ascontiguousarray(conf.transpose(0, 2, 1))  # annotator x true x answer
    return Posteriors(post_items, confusion, priors, iteration, converged, log_lik)


def _elbo(
    counts: Matrix, log_conf: Matrix, priors: Matrix, post: Matrix, shifted: Matrix,
    log_norm: Matrix, scratch: Matrix,
) -> float:  # fmt: skip
    """crowd-kit's evidence lower bound, from the M-step's expected counts (cells x classes).

    Expected complete-data log-likelihood: the sum over labels and classes of
    post * (log pi[cell, class] + log prior[class]) = sum of counts * (log_conf + log prior);
    entropy: -sum of post * log max(post, 1e-10), where log post = shifted - log_norm."""
    joint = float(np.vdot(counts, log_conf) + counts.sum(axis=0) @ np.log(priors))
    entropy = float(log_norm.sum() - np.vdot(post, shifted))  # rows of post sum to 1
    tiny = post < _FLOOR
    n_tiny = int(np.count_nonzero(tiny))
    if n_tiny:  # crowd-kit clips posteriors at 1e-10 before taking the entropy
        np.multiply(post, tiny, out=scratch)  # the tiny posteriors, 0 elsewhere
        entropy += float(np.vdot(scratch, shifted) - scratch.sum(axis=0) @ log_norm)
        entropy -= n_tiny * _FLOOR * float(np.log(_FLOOR))
    return joint + entropy


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
