"""Dawid-Skene at scale (issue #4): Curata's vectorised EM against crowd-kit's DawidSkene on the
same 1,000,000 labels (200,000 items x 5 labels from 100 annotators, 5 classes), both running
crowd-kit's algorithm to the same tolerance; time (min and median of --repeat runs each,
alternating), iterations, and agreement of the labels with each other and with the planted
truth (majority vote's accuracy for reference), then Curata's stricter default for reference.
Both are warmed up untimed on 1,000 items first (imports).

    .venv/bin/python bench/aggregation.py [--items 200000] [--tol 1e-5] [--repeat 3]
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import numpy as np

import benchlib


def simulate(items: int, seed: int) -> dict[str, np.ndarray]:
    """100 annotators: 70 good (80% right), 20 careless (45%), 10 spammers (always class 0);
    each item labelled by 5 distinct annotators drawn at random; 5 classes."""
    rng = np.random.default_rng(seed)
    k, per_item, n_workers = 5, 5, 100
    truth = rng.integers(0, k, items)
    accuracy = np.array([0.8] * 70 + [0.45] * 20 + [0.0] * 10)
    workers = np.argsort(rng.random((items, n_workers)), axis=1)[:, :per_item].ravel()
    item_idx = np.repeat(np.arange(items), per_item)
    right = rng.random(len(workers)) < accuracy[workers]
    wrong = (truth[item_idx] + rng.integers(1, k, len(workers))) % k
    labels = np.where(right, truth[item_idx], wrong)
    labels = np.where(workers >= 90, 0, labels)
    return {"items": item_idx, "workers": workers, "labels": labels, "truth": truth}


def _summary(seconds: list[float]) -> dict[str, Any]:
    return {"min_s": min(seconds), "median_s": statistics.median(seconds), "runs_s": seconds}


def main() -> None:
    p = benchlib.parser(__doc__.split("\n", 1)[0])
    p.add_argument("--items", type=int, default=200_000)
    p.add_argument("--tol", type=float, default=1e-5)
    p.add_argument("--repeat", type=int, default=3, help="timed runs of each (default 3)")
    args = p.parse_args()
    info = benchlib.header("Dawid-Skene at scale (issue #4)")
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    from curata.stats.aggregation import dawid_skene, majority_posteriors

    data = simulate(args.items, args.seed)
    n, k = len(data["labels"]), 5
    print(f"{n:,} labels, {args.items:,} items, 100 annotators, {k} classes; crowd-kit's "
          f"algorithm on both sides: majority-vote start, no smoothing (1e-10 floors), stop "
          f"when the ELBO per label rises by less than {args.tol:g}")  # fmt: skip
    frame = pd.DataFrame(
        {"task": data["items"], "worker": data["workers"], "label": data["labels"]}
    )

    def ours_run(**kw: Any) -> Any:
        return dawid_skene(
            data["items"], data["workers"], data["labels"],
            n_items=args.items, n_workers=100, n_classes=k, max_iter=1000, **kw,
        )  # fmt: skip

    # untimed warm-up of both on 1,000 items: imports (SciPy's sparse module, pandas paths)
    few = frame["task"] < 1000
    dawid_skene(data["items"][few], data["workers"][few], data["labels"][few], n_items=1000,
                n_workers=100, n_classes=k, smoothing=0.0, stop="elbo")  # fmt: skip
    DawidSkene(n_iter=1000, tol=args.tol).fit_predict(frame[few])
    ours_times: list[float] = []
    theirs_times: list[float] = []
    for _ in range(args.repeat):  # alternate, so drifting machine load hits both alike
        t = time.perf_counter()
        ours = ours_run(tol=args.tol, smoothing=0.0, stop="elbo")
        ours_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        model = DawidSkene(n_iter=1000, tol=args.tol)
        theirs_labels = model.fit_predict(frame)
        theirs_times.append(time.perf_counter() - t)
    theirs = np.full(args.items, -1)
    theirs[theirs_labels.index.to_numpy()] = theirs_labels.to_numpy()
    probas = model.probas_
    assert probas is not None
    theirs_post = np.full((args.items, k), np.nan)
    theirs_post[probas.index.to_numpy()] = probas[sorted(probas.columns)].to_numpy()
    t = time.perf_counter()
    strict = ours_run(tol=1e-6)  # Curata's default: smoothing 0.01, max posterior change
    strict_s = time.perf_counter() - t
    majority = majority_posteriors(data["items"], data["labels"], args.items, k).labels
    ours_t, theirs_t = _summary(ours_times), _summary(theirs_times)
    result: dict[str, Any] = {
        "machine": info,
        "command": " ".join(["python", *sys.argv]),
        "labels": n,
        "tol": args.tol,
        "curata": ours_t,
        "crowdkit": theirs_t,
        "speedup_min": theirs_t["min_s"] / ours_t["min_s"],
        "speedup_median": theirs_t["median_s"] / ours_t["median_s"],
        "curata_iterations": ours.iterations,
        "curata_converged": ours.converged,
        "crowdkit_iterations": len(model.loss_history_),
        "same_labels": float(np.mean(ours.labels == theirs)),
        "different_labels": int(np.sum(ours.labels != theirs)),
        "max_posterior_difference": float(np.abs(ours.posteriors - theirs_post).max()),
        "curata_accuracy": float(np.mean(ours.labels == data["truth"])),
        "crowdkit_accuracy": float(np.mean(theirs == data["truth"])),
        "majority_accuracy": float(np.mean(majority == data["truth"])),
        "curata_default_s": strict_s,
        "curata_default_iterations": strict.iterations,
        "curata_default_same_labels": float(np.mean(strict.labels == theirs)),
        "curata_default_accuracy": float(np.mean(strict.labels == data["truth"])),
    }
    print(f"Curata    min {ours_t['min_s']:.3f} s, median {ours_t['median_s']:.3f} s "
          f"({ours.iterations} iterations, converged {ours.converged})")  # fmt: skip
    print(f"crowd-kit min {theirs_t['min_s']:.3f} s, median {theirs_t['median_s']:.3f} s "
          f"({result['crowdkit_iterations']} iterations)")  # fmt: skip
    print(f"ratio (crowd-kit / Curata): {result['speedup_min']:.1f}x on min, "
          f"{result['speedup_median']:.1f}x on median; same labels {result['same_labels']:.4%} "
          f"({result['different_labels']} differ), max posterior difference "
          f"{result['max_posterior_difference']:.1e}")  # fmt: skip
    print(f"accuracy vs truth: Curata {result['curata_accuracy']:.4f}, crowd-kit "
          f"{result['crowdkit_accuracy']:.4f}, "
          f"majority {result['majority_accuracy']:.4f}")  # fmt: skip
    print(f"Curata's default (smoothing 0.01, max posterior change < 1e-6): {strict_s:.3f} s "
          f"({strict.iterations} iterations), same labels as crowd-kit "
          f"{result['curata_default_same_labels']:.4%}, accuracy "
          f"{result['curata_default_accuracy']:.4f}")  # fmt: skip
    benchlib.save_result("aggregation", result)


if __name__ == "__main__":
    main()
