"""Label aggregation across annotators: Dawid-Skene EM and gold-weighted voting (NumPy, SciPy).

Both take parallel integer arrays — one entry per label: the item, the annotator and the class
— and return a posterior (soft label) per item. Dawid & Skene (1979), "Maximum likelihood
estimation of observer error-rates using the EM algorithm", *Applied Statistics* 28(1):
each annotator j has a confusion matrix pi_j[k, l] = P(says l | truth k); EM alternates the
posterior of each item's true class (E) and the priors and confusion matrices (M), starting
from majority-vote posteriors. Every step is a sparse-dense product over the labels, so an
iteration is O(labels x classes). Items with a known answer (gold) are clamped to it, and the
M-step adds Dirichlet pseudo-counts (:class:`DirichletPrior`) so that an annotator seen on a
handful of items never gets a degenerate confusion matrix.
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


TIE = -1
"""The class index :func:`majority_labels` gives an item without a majority."""


def majority_labels(counts: Matrix) -> Matrix:
    """Each item's majority class from an ``items x classes`` vote-count matrix.

    The one tie rule of Curata's majority votes: an item whose top count is shared by two or
    more classes (or that has no votes) has no majority, :data:`TIE` (-1), never the first class
    in some order. Callers decide what a tie means to them and say so: a release gives the
    question no value and marks it ``tied``
    (:func:`curata.annotation.aggregation.majority`); label-noise detection, which must train
    on a label for every item, names its own choice where it calls this."""
    counts = np.asarray(counts)
    if counts.shape[0] == 0 or counts.shape[1] == 0:
        return np.full(counts.shape[0], TIE, dtype=np.int64)
    top = counts.max(axis=1, keepdims=True)
    leaders = (counts == top).sum(axis=1)
    winner = counts.argmax(axis=1)
    return np.where((leaders == 1) & (top[:, 0] > 0), winner, TIE).astype(np.int64)


def majority_posteriors(items: Matrix, labels: Matrix, n_items: int, n_classes: int) -> Posteriors:
    """Vote shares per item (uniform for an item without votes)."""
    counts = vote_counts(items, labels, n_items, n_classes)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, counts / totals, 1.0 / n_classes)
    return Posteriors(shares)


@dataclass(frozen=True)
class DirichletPrior:
    """Dirichlet pseudo-counts added in Dawid-Skene's M-step.

    ``confusion`` (``classes x classes``, rows the true class) is added to every annotator's
    expected counts of (true class, answer), ``classes`` (per class) to the expected class
    counts; the M-step then takes each row's posterior mean, ``(counts + prior) / (row total +
    prior total)``. All zero is crowd-kit's plain maximum likelihood (observed cells floored at
    1e-10, unobserved ones probability 0).
    """

    confusion: Matrix
    classes: Matrix

    @classmethod
    def default(cls, n_classes: int) -> DirichletPrior:
        """Releases' default: Carpenter's Dawid-Skene priors (Stan example models,
        ``knitr/noisy-raters/dawid-skene/sim-fit.R``, after Passonneau & Carpenter 2014,
        "The benefits of a model of annotation", TACL 2): per confusion row 2.5 K on the
        diagonal and 1 off it ("75%-ish accuracy": 2.5K / (3.5K - 1), 0.79 for K = 3, 0.74 for
        K = 10), and 3 per class on the class priors ("modest regularization")."""
        k = n_classes
        return cls(np.where(np.eye(k, dtype=bool), 2.5 * k, 1.0), np.full(k, 3.0))

    @classmethod
    def symmetric(cls, n_classes: int, smoothing: float) -> DirichletPrior:
        """``smoothing`` in every confusion cell and none on the class priors (Curata's
        default before issue #12: 0.01; ``0.0`` is crowd-kit's maximum likelihood)."""
        k = n_classes
        return cls(np.full((k, k), float(smoothing)), np.zeros(k))

    def check(self, n_classes: int) -> None:
        """Refuse pseudo-counts of the wrong shape or below zero."""
        k = n_classes
        if np.shape(self.confusion) != (k, k) or np.shape(self.classes) != (k,):
            raise ValueError(f"prior: expected {k} x {k} confusion and {k} class pseudo-counts")
        if bool((np.asarray(self.confusion) < 0).any() or (np.asarray(self.classes) < 0).any()):
            raise ValueError("prior: pseudo-counts must be >= 0")

    @property
    def is_zero(self) -> bool:
        """No pseudo-counts at all (crowd-kit's M-step)."""
        return not (np.asarray(self.confusion).any() or np.asarray(self.classes).any())


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
    prior: DirichletPrior | None = None,
    smoothing: float | None = None,
    known: Matrix | None = None,
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

    ``prior`` adds Dirichlet pseudo-counts to every annotator's confusion counts and to the
    class counts: :meth:`DirichletPrior.default` (what releases use) keeps an annotator seen on
    one item at a diagonal-heavy confusion matrix instead of a degenerate one. Without
    ``prior``, 0.01 in every confusion cell (``DirichletPrior.symmetric(n_classes, 0.01)``, the
    quality report's estimate of who is reliable, where the data should speak even on small
    projects). ``smoothing=s`` is shorthand for ``DirichletPrior.symmetric(n_classes, s)``. A
    zero prior (``smoothing=0``) is
    crowd-kit's M-step: the counts of answers an annotator gave are floored at 1e-10, answers
    they never gave get probability 0, and the class priors are the mean posterior floored at
    1e-10. An item without labels gets the class priors as its posterior.

    ``known`` (per item, a class index or -1) clamps an item's posterior to its known answer
    (a gold item) at the start and after every E-step, so confusion matrices and class priors
    are learned from gold too and a gold item's label is its known answer; its likelihood term
    is that of its labels under the known class. A known item need not have labels.

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
    if smoothing is not None:
        if prior is not None:
            raise ValueError("give prior or smoothing, not both")
        if smoothing < 0:
            raise ValueError("smoothing must be >= 0")
        prior = DirichletPrior.symmetric(n_classes, smoothing)
    if prior is None:
        prior = DirichletPrior.symmetric(n_classes, 0.01)
    prior.check(n_classes)
    known_all = np.full(n_items, -1, dtype=np.int64)
    if known is not None:
        known_all = np.asarray(known, dtype=np.int64)
        if known_all.shape != (n_items,):
            raise ValueError(f"known must have one entry per item ({n_items})")
        if bool(((known_all < -1) | (known_all >= n_classes)).any()):
            raise ValueError(f"known must be -1 or class indices in [0, {n_classes})")
    k, n = n_classes, len(labels)
    per = max(n, 1)  # per label
    n_cells = n_workers * k
    zero_prior = prior.is_zero
    beta = np.ascontiguousarray(np.asarray(prior.confusion, dtype=float).T)  # answer x true
    alpha = np.asarray(prior.classes, dtype=float)

    # EM runs over the items with labels or a known answer (rows), in (class, item) layout so
    # that every per-item reduction over classes is an elementwise pass over k contiguous rows
    per_item = np.bincount(items, minlength=n_items)
    labelled = (per_item > 0) | (known_all >= 0)
    if n == 0 and not bool(labelled.any()):
        uniform = np.full((n_items, k), 1.0 / k)
        confusion = np.full((n_workers, k, k), 1.0 / k)
        return Posteriors(uniform, confusion, np.full(k, 1.0 / k), 0, True, 0.0)
    if bool(labelled.all()):
        rows, m = items, n_items
    else:
        rows = (np.cumsum(labelled) - 1)[items]
        m = int(labelled.sum())
    known_rows = known_all[labelled]
    clamped = np.flatnonzero(known_rows >= 0)
    clamped_class = known_rows[clamped]
    cells = workers * k + labels  # (annotator, answer) cell of each label
    incidence = _incidence(rows, cells, m, n_cells)  # m x cells
    incidence_t = incidence.T  # cells x m (CSC view, no copy)
    answer = np.zeros((n_cells, k))
    answer[np.arange(n_cells), np.arange(n_cells) % k] = 1.0
    votes = np.asarray(incidence @ answer)  # m x k majority counts
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(per_item[labelled][:, None] > 0, votes / per_item[labelled][:, None], 0)
    post = np.ascontiguousarray(shares.T)  # k x m
    post[:, clamped] = 0.0
    post[clamped_class, clamped] = 1.0
    shifted = np.empty_like(post)  # log posterior minus its per-item maximum
    spare = np.empty_like(post) if stop == "posteriors" else post
    scratch = np.empty_like(post) if stop == "elbo" else post
    top = np.empty(m)
    norm = np.empty(m)
    observed = np.bincount(cells, minlength=n_cells) > 0
    floor = np.where(observed, _FLOOR, 0.0)[:, None]
    conf_view = np.empty((n_cells, k))  # cell (annotator, answer) x true class
    prior_cells = np.tile(beta, (n_workers, 1))  # cell (annotator, answer) x true class

    def m_step(post: Matrix) -> tuple[Matrix, Matrix, Matrix, Matrix]:
        counts = np.asarray(incidence_t @ post.T)  # cells x true class, expected counts
        if zero_prior:
            np.maximum(counts, floor, out=conf_view)
        else:
            np.add(counts, prior_cells, out=conf_view)
        by_worker = conf_view.reshape(n_workers, k, k)  # annotator x answer x true class
        totals = by_worker.sum(axis=1, keepdims=True)
        if not bool(totals.all()):  # no labels (and no pseudo-counts) for a true class
            by_worker[:, :, :] = np.where(totals > 0, by_worker, 1.0)
            totals = by_worker.sum(axis=1, keepdims=True)
        conf = by_worker / totals
        log_conf = np.log(np.where(conf > 0, conf, 1.0)).reshape(n_cells, k)
        if zero_prior:
            priors = np.maximum(post.mean(axis=1), _FLOOR)
        else:
            priors = np.maximum((post.sum(axis=1) + alpha) / (m + alpha.sum()), _FLOOR)
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
        if len(clamped):  # a known item: its posterior is its answer, its likelihood P(labels, it)
            new[:, clamped] = 0.0
            new[clamped_class, clamped] = 1.0
            log_norm[clamped] = shifted[clamped_class, clamped]
        previous, log_lik = log_lik, float(log_norm.sum() + top.sum())
        if stop == "posteriors":
            np.subtract(new, post, out=post)
            change = float(np.abs(post).max())
            spare, post = post, new
        else:
            post = new
            if stop == "likelihood":
                change = np.inf if previous is None else (log_lik - previous) / per
        if stop != "elbo":
            if change < tol:
                converged = True
            if converged or iteration == max_iter:
                break  # keep the priors and confusion matrices this E-step used
        counts, conf, log_conf, priors = m_step(post)
        if stop == "elbo":
            new_elbo = _elbo(counts, log_conf, priors, post, shifted, log_norm, scratch) / per
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
