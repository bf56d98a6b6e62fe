"""Dawid-Skene and gold-weighted voting: against a plain-loop reference, crowd-kit, and known
truth from simulated annotators."""

from __future__ import annotations

import numpy as np
import pytest

from curata.stats.aggregation import (
    DirichletPrior,
    dawid_skene,
    gold_weighted,
    majority_labels,
    vote_counts,
)


def majority_vote(items, labels, n_items: int = 400, k: int = 4) -> np.ndarray:
    """The baseline: Curata's one majority vote (a tie is no label, ``TIE``, so it never
    matches the truth), as a majority release gives it."""
    return majority_labels(vote_counts(items, labels, n_items, k))


def simulate(seed: int, n_items: int = 400, k: int = 4, per_item: int = 5):
    """Ten annotators: six good (85% right), two careless (50%), two spammers (always class 0).
    Returns truth and parallel (item, worker, label) arrays."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_items)
    accuracy = np.array([0.85] * 6 + [0.5] * 2 + [0.0] * 2)
    items, workers, labels = [], [], []
    for i in range(n_items):
        for j in rng.choice(10, per_item, replace=False):
            if j >= 8:
                said = 0
            elif rng.random() < accuracy[j]:
                said = truth[i]
            else:
                said = rng.choice([c for c in range(k) if c != truth[i]])
            items.append(i)
            workers.append(j)
            labels.append(said)
    return truth, np.array(items), np.array(workers), np.array(labels)


def oracle(items, workers, labels, n_items: int = 400, k: int = 4) -> np.ndarray:
    """Labels a Bayes-optimal aggregator would pick knowing the simulation's true confusions."""
    conf = np.empty((10, k, k))
    conf[:6] = np.where(np.eye(k, dtype=bool), 0.85, 0.15 / (k - 1))
    conf[6:8] = np.where(np.eye(k, dtype=bool), 0.5, 0.5 / (k - 1))
    conf[8:] = 1e-9
    conf[8:, :, 0] = 1.0
    log_post = np.zeros((n_items, k))
    for i, j, lab in zip(items, workers, labels, strict=True):
        log_post[i] += np.log(conf[j, :, lab])
    return log_post.argmax(axis=1)


def reference_em(
    items, workers, labels, n_items, n_workers, k, iterations, smoothing=0.01, *,
    beta=None, alpha=None, known=None,
):  # fmt: skip
    """Dawid & Skene (1979) written with plain loops, for checking the vectorised version:
    ``beta`` (true x answer) and ``alpha`` are Dirichlet pseudo-counts added in the M-step
    (default: ``smoothing`` in every confusion cell, none on the priors); ``known`` clamps an
    item's posterior to a class (-1: unknown)."""
    beta = np.full((k, k), smoothing) if beta is None else beta
    alpha = np.zeros(k) if alpha is None else alpha
    known = [-1] * n_items if known is None else known

    def clamp(post):
        for i, c in enumerate(known):
            if c >= 0:
                post[i] = 0.0
                post[i, c] = 1.0
        return post

    post = np.zeros((n_items, k))
    for i, lab in zip(items, labels, strict=True):
        post[i, lab] += 1
    post = clamp(post / post.sum(axis=1, keepdims=True))
    for _ in range(iterations):
        priors = (post.sum(axis=0) + alpha) / (n_items + alpha.sum())
        conf = np.tile(beta, (n_workers, 1, 1)).astype(float)
        for i, j, lab in zip(items, workers, labels, strict=True):
            for t in range(k):
                conf[j, t, lab] += post[i, t]
        conf /= conf.sum(axis=2, keepdims=True)
        log_post = np.tile(np.log(priors), (n_items, 1))
        for i, j, lab in zip(items, workers, labels, strict=True):
            for t in range(k):
                log_post[i, t] += np.log(conf[j, t, lab])
        log_post -= log_post.max(axis=1, keepdims=True)
        post = np.exp(log_post)
        post = clamp(post / post.sum(axis=1, keepdims=True))
    return post, conf


def test_vectorised_em_equals_the_plain_loop_reference() -> None:
    _, items, workers, labels = simulate(1, n_items=60)
    ours = dawid_skene(
        items, workers, labels, n_items=60, n_workers=10, n_classes=4, tol=0.0, max_iter=7,
        smoothing=0.01,
    )  # fmt: skip
    post, conf = reference_em(items, workers, labels, 60, 10, 4, iterations=7)
    assert ours.iterations == 7 and not ours.converged
    np.testing.assert_allclose(ours.posteriors, post, atol=1e-10)
    np.testing.assert_allclose(ours.confusion, conf, atol=1e-10)


def test_default_prior_and_gold_clamping_equal_the_plain_loop_reference() -> None:
    """The releases' prior is Carpenter's (2.5 K on the diagonal, 1 off it; 3 per class), added
    as pseudo-counts; gold items stay at their known class through every iteration."""
    _, items, workers, labels = simulate(5, n_items=60)
    known = np.full(60, -1)
    known[[0, 7, 30]] = [2, 0, 3]
    ours = dawid_skene(
        items, workers, labels, n_items=60, n_workers=10, n_classes=4, tol=0.0, max_iter=7,
        known=known, prior=DirichletPrior.default(4),
    )  # fmt: skip
    beta = np.where(np.eye(4, dtype=bool), 10.0, 1.0)
    post, conf = reference_em(
        items, workers, labels, 60, 10, 4, iterations=7, beta=beta, alpha=np.full(4, 3.0),
        known=known,
    )  # fmt: skip
    np.testing.assert_allclose(ours.posteriors, post, atol=1e-10)
    np.testing.assert_allclose(ours.confusion, conf, atol=1e-10)
    assert list(ours.labels[[0, 7, 30]]) == [2, 0, 3]
    np.testing.assert_array_equal(ours.posteriors[[0, 7, 30]], np.eye(4)[[2, 0, 3]])


def test_gold_items_anchor_what_an_annotator_means() -> None:
    """Three sloppy annotators answer 2 on most items whose truth is 0 (outvoted by three
    careful ones) and 2 on items only they label: plain Dawid-Skene decodes their unanimous 2
    as 0, a label none of them chose. Gold items where the truth is 2 and they answered 2 are
    clamped to 2 whatever the model says, and teach it that their 2 also means 2."""
    items, workers, labels = [], [], []

    def add(item: int, votes: dict[int, int]) -> None:
        for worker, said in votes.items():
            items.append(item)
            workers.append(worker)
            labels.append(said)

    for i in range(24):  # class 0: careful 0, 1, 5 say 0; two of the sloppy 2, 3, 4 say 2
        add(i, {0: 0, 1: 0, 5: 0, 2 + i % 3: 2, 2 + (i + 1) % 3: 2})
    for i in range(24, 30):  # class 1: everyone right
        add(i, {0: 1, 1: 1, 2 + i % 3: 1})
    for i in range(30, 34):  # class 2: everyone right
        add(i, {0: 2, 1: 2, 2 + i % 3: 2})
    for i in range(34, 40):  # only the sloppy three, unanimous 2
        add(i, {2: 2, 3: 2, 4: 2})
    arrays = np.array(items), np.array(workers), np.array(labels)
    shape = {"n_items": 40, "n_workers": 6, "n_classes": 3}
    plain = dawid_skene(*arrays, **shape)  # 0.01 in every confusion cell, no gold
    default = DirichletPrior.default(3)
    assert list(plain.labels[34:]) == [0] * 6  # a label none of them chose
    unanchored = dawid_skene(*arrays, **shape, prior=default)
    known = np.full(40, -1)
    known[[34, 35, 36]] = 2  # gold: the truth is what they said
    anchored = dawid_skene(*arrays, **shape, prior=default, known=known)
    np.testing.assert_array_equal(anchored.posteriors[34:37], [[0.0, 0.0, 1.0]] * 3)
    # the other three unanimous items: gold moved them towards what was said
    assert (anchored.posteriors[37:, 2] > unanchored.posteriors[37:, 2] + 0.1).all()
    assert anchored.confusion is not None and unanchored.confusion is not None
    assert (anchored.confusion[2:5, 2, 2] > unanchored.confusion[2:5, 2, 2]).all()
    # a gold item keeps its known class even against unanimous votes
    known[0] = 1
    flipped = dawid_skene(*arrays, **shape, prior=default, known=known)
    np.testing.assert_array_equal(flipped.posteriors[0], [0.0, 1.0, 0.0])


def test_the_prior_keeps_a_one_item_annotator_non_degenerate() -> None:
    """An annotator seen once, answering 1 on a gold item whose truth is 0: without a prior their
    row for 0 says "always answers 1" and every other row is a guess; with the releases' prior
    (K = 3: 7.5 on the diagonal, 1 off it) each row is those pseudo-counts plus their label."""
    items = np.array([0, 0, 1, 1, 2])
    workers = np.array([0, 1, 0, 1, 2])
    labels = np.array([0, 0, 2, 2, 1])
    known = np.array([-1, -1, 0])
    bare = dawid_skene(items, workers, labels, n_items=3, n_workers=3, n_classes=3,
                       smoothing=0.0, known=known)  # fmt: skip
    assert bare.confusion is not None
    np.testing.assert_allclose(bare.confusion[2, 0], [0.0, 1.0, 0.0], atol=1e-9)  # degenerate
    ours = dawid_skene(items, workers, labels, n_items=3, n_workers=3, n_classes=3,
                       known=known, prior=DirichletPrior.default(3))  # fmt: skip
    assert ours.confusion is not None
    np.testing.assert_allclose(ours.confusion[2, 0], [7.5 / 10.5, 2 / 10.5, 1 / 10.5])
    np.testing.assert_allclose(ours.confusion[2, 1], [1 / 9.5, 7.5 / 9.5, 1 / 9.5])
    np.testing.assert_allclose(ours.confusion[2, 2], [1 / 9.5, 1 / 9.5, 7.5 / 9.5])


def test_a_zero_prior_is_crowd_kits_estimate() -> None:
    """``DirichletPrior`` of zeros is crowd-kit's unregularised DawidSkene: same labels,
    posteriors, class priors and iteration count."""
    pd = pytest.importorskip("pandas")
    classification = pytest.importorskip("crowdkit.aggregation")
    _, items, workers, labels = simulate(6, per_item=3)
    zero = DirichletPrior(np.zeros((4, 4)), np.zeros(4))
    ours = dawid_skene(items, workers, labels, n_items=400, n_workers=10, n_classes=4,
                       tol=1e-7, max_iter=200, prior=zero, stop="elbo")  # fmt: skip
    frame = pd.DataFrame({"task": items, "worker": workers, "label": labels})
    model = classification.DawidSkene(n_iter=200, tol=1e-7)
    theirs = model.fit_predict(frame)
    assert ours.iterations == len(model.loss_history_)
    assert np.array_equal(ours.labels[theirs.index.to_numpy()], theirs.to_numpy())
    probas = model.probas_[[0, 1, 2, 3]]
    np.testing.assert_allclose(ours.posteriors[probas.index.to_numpy()], probas, atol=1e-9)
    np.testing.assert_allclose(ours.priors, model.priors_[[0, 1, 2, 3]], atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_dawid_skene_beats_majority_and_finds_the_spammers(seed: int) -> None:
    truth, items, workers, labels = simulate(seed)
    ds = dawid_skene(items, workers, labels, n_items=400, n_workers=10, n_classes=4)
    mv = majority_vote(items, labels)
    assert ds.converged
    ds_acc = float(np.mean(ds.labels == truth))
    mv_acc = float(np.mean(mv == truth))
    # the baseline's ties (about 12% of items) are no label, which costs it about 2 points: the
    # margin required grows by as much (it was 0.05 when a tie went to the lowest class)
    assert ds_acc > mv_acc + 0.07
    # within three points of the Bayes-optimal decision made with the *true* confusion matrices
    # (EM estimates 12 confusion cells per annotator from ~200 labels each)
    assert ds_acc >= float(np.mean(oracle(items, workers, labels) == truth)) - 0.03
    diagonal = np.einsum("jkk->jk", ds.confusion).mean(axis=1)
    assert diagonal[:6].min() > 0.75 and diagonal[8:].max() < 0.35  # spammers stand out


@pytest.mark.parametrize("seed", range(3))
def test_the_release_prior_stays_close_to_crowd_kit(seed: int) -> None:
    """With 200 labels per annotator the prior moves only items near a tie: the labels agree
    with crowd-kit's unregularised DawidSkene on >= 97% of items and are as accurate (to a
    point)."""
    pd = pytest.importorskip("pandas")
    classification = pytest.importorskip("crowdkit.aggregation")
    truth, items, workers, labels = simulate(seed)
    frame = pd.DataFrame({"task": items, "worker": workers, "label": labels})
    found = classification.DawidSkene(n_iter=500, tol=1e-6).fit_predict(frame)
    theirs = found.to_numpy()[np.argsort(found.index.to_numpy())]
    ours = dawid_skene(items, workers, labels, n_items=400, n_workers=10, n_classes=4,
                       prior=DirichletPrior.default(4))  # fmt: skip
    assert np.mean(ours.labels == theirs) >= 0.97
    assert np.mean(ours.labels == truth) >= np.mean(theirs == truth) - 0.01


@pytest.mark.parametrize(
    ("seed", "per_item", "tol", "shuffle"),
    [(0, 5, 1e-5, False), (1, 5, 1e-8, True), (2, 3, 1e-5, True), (3, 8, 1e-8, False)],
)
def test_crowd_kit_settings_reproduce_crowd_kit(
    seed: int, per_item: int, tol: float, shuffle: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``smoothing=0, stop="elbo"`` is crowd-kit's DawidSkene: the same ELBO at every
    iteration, so the same stopping iteration, and the same posteriors, priors, error matrices
    and labels (8 labels per item drive posteriors under crowd-kit's 1e-10 entropy floor)."""
    pd = pytest.importorskip("pandas")
    classification = pytest.importorskip("crowdkit.aggregation")
    from curata.stats import aggregation

    _, items, workers, labels = simulate(seed, per_item=per_item)
    if shuffle:  # labels not grouped by item
        order = np.random.default_rng(seed).permutation(len(items))
        items, workers, labels = items[order], workers[order], labels[order]
    elbos: list[float] = []
    elbo = aggregation._elbo

    def recording(*args):  # type: ignore[no-untyped-def]
        elbos.append(elbo(*args) / len(labels))
        return elbos[-1] * len(labels)

    monkeypatch.setattr(aggregation, "_elbo", recording)
    ours = dawid_skene(items, workers, labels, n_items=400, n_workers=10, n_classes=4, tol=tol,
                       max_iter=200, smoothing=0.0, stop="elbo")  # fmt: skip
    frame = pd.DataFrame({"task": items, "worker": workers, "label": labels})
    model = classification.DawidSkene(n_iter=200, tol=tol)
    theirs = model.fit_predict(frame)
    assert ours.converged and ours.iterations == len(model.loss_history_) > 2
    np.testing.assert_allclose(elbos, model.loss_history_, rtol=0, atol=1e-12)
    assert np.array_equal(ours.labels[theirs.index.to_numpy()], theirs.to_numpy())
    probas = model.probas_[[0, 1, 2, 3]]  # crowd-kit orders classes as they first appear
    np.testing.assert_allclose(ours.posteriors[probas.index.to_numpy()], probas, atol=1e-9)
    np.testing.assert_allclose(ours.priors, model.priors_[[0, 1, 2, 3]], atol=1e-12)
    errors = model.errors_[[0, 1, 2, 3]]  # rows (worker, answer), columns true class
    w, said = (errors.index.get_level_values(i).to_numpy() for i in (0, 1))
    assert ours.confusion is not None
    np.testing.assert_allclose(ours.confusion[w, :, said], errors, atol=1e-12)


@pytest.mark.parametrize("smoothing", [0.01, 0.0])
def test_items_and_annotators_without_labels(smoothing: float) -> None:
    """An item nobody labelled gets the priors; an annotator with no labels a uniform confusion
    matrix; neither changes what the others get."""
    _, items, workers, labels = simulate(4, n_items=100)
    kw = {"n_classes": 4, "tol": 0.0, "max_iter": 6, "smoothing": smoothing}
    base = dawid_skene(items, workers, labels, n_items=100, n_workers=10, **kw)
    # items 100 and 101 unlabelled, annotator 10 idle; labels shuffled and items renumbered
    order = np.random.default_rng(0).permutation(len(items))
    moved = np.where(items >= 50, items + 2, items)[order]
    wider = dawid_skene(moved, workers[order], labels[order], n_items=102, n_workers=11, **kw)
    kept = np.r_[0:50, 52:102]
    np.testing.assert_allclose(wider.posteriors[kept], base.posteriors, atol=1e-12)
    np.testing.assert_allclose(wider.posteriors[50:52], [base.priors / base.priors.sum()] * 2)
    assert base.confusion is not None and wider.confusion is not None
    np.testing.assert_allclose(wider.confusion[:10], base.confusion, atol=1e-12)
    np.testing.assert_allclose(wider.confusion[10], 0.25)


def test_gold_weighted_votes_follow_gold_accuracy() -> None:
    truth, items, workers, labels = simulate(2)
    # accuracy each annotator showed on gold (smoothed); the spammers' is near chance or below
    accuracy = np.array([0.85] * 6 + [0.5] * 2 + [0.25] * 2)
    gw = gold_weighted(items, workers, labels, accuracy, n_items=400, n_classes=4)
    mv = majority_vote(items, labels)
    assert np.mean(gw.labels == truth) > np.mean(mv == truth)
    np.testing.assert_allclose(gw.posteriors.sum(axis=1), 1.0)
    # an annotator at chance (1/K) carries no weight: one such vote leaves a uniform posterior
    alone = gold_weighted(
        np.array([0]), np.array([0]), np.array([2]), np.array([0.25]), n_items=1, n_classes=4
    )
    np.testing.assert_allclose(alone.posteriors, [[0.25] * 4])


def test_bad_label_arrays_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        dawid_skene(np.array([0]), np.array([0, 1]), np.array([0]), n_items=1, n_workers=2,
                    n_classes=2)  # fmt: skip
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\)"):
        dawid_skene(np.array([0]), np.array([0]), np.array([5]), n_items=1, n_workers=1,
                    n_classes=2)  # fmt: skip
    with pytest.raises(ValueError, match=r"workers must be indices in \[0, 1\)"):
        dawid_skene(np.array([0]), np.array([1]), np.array([0]), n_items=1, n_workers=1,
                    n_classes=2)  # fmt: skip
    with pytest.raises(ValueError, match=r"items must be indices in \[0, 1\)"):
        dawid_skene(np.array([3]), np.array([0]), np.array([0]), n_items=1, n_workers=1,
                    n_classes=2)  # fmt: skip
    with pytest.raises(ValueError, match=r"known must be -1 or class indices in \[0, 2\)"):
        dawid_skene(np.array([0]), np.array([0]), np.array([0]), n_items=1, n_workers=1,
                    n_classes=2, known=np.array([2]))  # fmt: skip
    with pytest.raises(ValueError, match="pseudo-counts must be >= 0"):
        dawid_skene(np.array([0]), np.array([0]), np.array([0]), n_items=1, n_workers=1,
                    n_classes=2, prior=DirichletPrior.symmetric(2, -1.0))  # fmt: skip
    with pytest.raises(ValueError, match="expected 2 x 2 confusion"):
        dawid_skene(np.array([0]), np.array([0]), np.array([0]), n_items=1, n_workers=1,
                    n_classes=2, prior=DirichletPrior.default(3))  # fmt: skip
    with pytest.raises(ValueError, match="stop"):
        dawid_skene(np.array([0]), np.array([0]), np.array([0]), n_items=1, n_workers=1,
                    n_classes=2, stop="never")  # fmt: skip
