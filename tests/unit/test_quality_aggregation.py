"""Dawid-Skene and gold-weighted voting: against a plain-loop reference, crowd-kit, and known
truth from simulated annotators."""

from __future__ import annotations

import numpy as np
import pytest

from curata.quality.aggregation import dawid_skene, gold_weighted, majority_posteriors


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


def reference_em(items, workers, labels, n_items, n_workers, k, iterations, smoothing=0.01):
    """Dawid & Skene (1979) written with plain loops, for checking the vectorised version."""
    post = np.zeros((n_items, k))
    for i, lab in zip(items, labels, strict=True):
        post[i, lab] += 1
    post /= post.sum(axis=1, keepdims=True)
    for _ in range(iterations):
        priors = post.mean(axis=0)
        conf = np.full((n_workers, k, k), smoothing)
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
        post /= post.sum(axis=1, keepdims=True)
    return post, conf


def test_vectorised_em_equals_the_plain_loop_reference() -> None:
    _, items, workers, labels = simulate(1, n_items=60)
    ours = dawid_skene(
        items, workers, labels, n_items=60, n_workers=10, n_classes=4, tol=0.0, max_iter=7
    )
    post, conf = reference_em(items, workers, labels, 60, 10, 4, iterations=7)
    assert ours.iterations == 7 and not ours.converged
    np.testing.assert_allclose(ours.posteriors, post, atol=1e-10)
    np.testing.assert_allclose(ours.confusion, conf, atol=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_dawid_skene_beats_majority_and_finds_the_spammers(seed: int) -> None:
    truth, items, workers, labels = simulate(seed)
    ds = dawid_skene(items, workers, labels, n_items=400, n_workers=10, n_classes=4)
    mv = majority_posteriors(items, labels, 400, 4)
    assert ds.converged
    ds_acc = float(np.mean(ds.labels == truth))
    mv_acc = float(np.mean(mv.labels == truth))
    assert ds_acc > mv_acc + 0.05
    # within three points of the Bayes-optimal decision made with the *true* confusion matrices
    # (EM estimates 12 confusion cells per annotator from ~200 labels each)
    assert ds_acc >= float(np.mean(oracle(items, workers, labels) == truth)) - 0.03
    diagonal = np.einsum("jkk->jk", ds.confusion).mean(axis=1)
    assert diagonal[:6].min() > 0.75 and diagonal[8:].max() < 0.35  # spammers stand out


def test_dawid_skene_agrees_with_crowd_kit() -> None:
    pd = pytest.importorskip("pandas")
    classification = pytest.importorskip("crowdkit.aggregation")
    _, items, workers, labels = simulate(3)
    frame = pd.DataFrame({"task": items, "worker": workers, "label": labels})
    theirs = classification.DawidSkene(n_iter=500, tol=1e-6).fit_predict(frame)
    ours = dawid_skene(items, workers, labels, n_items=400, n_workers=10, n_classes=4)
    same = np.mean(ours.labels[theirs.index.to_numpy()] == theirs.to_numpy())
    assert same >= 0.99


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
    from curata.quality import aggregation

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
    mv = majority_posteriors(items, labels, 400, 4)
    assert np.mean(gw.labels == truth) > np.mean(mv.labels == truth)
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
    with pytest.raises(ValueError, match="stop"):
        dawid_skene(np.array([0]), np.array([0]), np.array([0]), n_items=1, n_workers=1,
                    n_classes=2, stop="never")  # fmt: skip
