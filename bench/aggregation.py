"""Dawid-Skene at scale (issue #4): Curata's vectorised EM against crowd-kit's DawidSkene on the
same 1,000,000 labels (200,000 items x 5 labels from 100 annotators, 5 classes), both run to
the same tolerance; time, iterations, and agreement of the labels with each other and with the
planted truth (majority vote's accuracy for reference).

    .venv/bin/python bench/aggregation.py [--items 200000]
"""

from __future__ import annotations

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


def main() -> None:
    p = benchlib.parser(__doc__.split("\n", 1)[0])
    p.add_argument("--items", type=int, default=200_000)
    p.add_argument("--tol", type=float, default=1e-5)
    args = p.parse_args()
    info = benchlib.header("Dawid-Skene at scale (issue #4)")
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    from curata.quality.aggregation import dawid_skene, majority_posteriors

    data = simulate(args.items, args.seed)
    n = len(data["labels"])
    print(f"{n:,} labels, {args.items:,} items, 100 annotators, 5 classes, tol {args.tol:g} "
          "on the change of log-likelihood per label (crowd-kit's criterion)")  # fmt: skip
    t = time.perf_counter()
    ours = dawid_skene(
        data["items"], data["workers"], data["labels"],
        n_items=args.items, n_workers=100, n_classes=5, tol=args.tol, max_iter=1000,
        stop="likelihood",
    )  # fmt: skip
    ours_s = time.perf_counter() - t
    t = time.perf_counter()
    strict = dawid_skene(
        data["items"], data["workers"], data["labels"],
        n_items=args.items, n_workers=100, n_classes=5, tol=1e-6, max_iter=1000,
    )  # fmt: skip
    strict_s = time.perf_counter() - t
    frame = pd.DataFrame(
        {"task": data["items"], "worker": data["workers"], "label": data["labels"]}
    )
    t = time.perf_counter()
    model = DawidSkene(n_iter=1000, tol=args.tol)
    theirs_labels = model.fit_predict(frame)
    theirs_s = time.perf_counter() - t
    theirs = np.full(args.items, -1)
    theirs[theirs_labels.index.to_numpy()] = theirs_labels.to_numpy()
    majority = majority_posteriors(data["items"], data["labels"], args.items, 5).labels
    result: dict[str, Any] = {
        "machine": info,
        "command": " ".join(["python", *sys.argv]),
        "labels": n,
        "curata_s": ours_s,
        "crowdkit_s": theirs_s,
        "speedup": theirs_s / ours_s,
        "curata_iterations": ours.iterations,
        "curata_converged": ours.converged,
        "crowdkit_iterations": len(getattr(model, "loss_history_", [])) or None,
        "same_labels": float(np.mean(ours.labels == theirs)),
        "curata_strict_s": strict_s,
        "curata_strict_iterations": strict.iterations,
        "strict_same_labels": float(np.mean(strict.labels == theirs)),
        "curata_accuracy": float(np.mean(ours.labels == data["truth"])),
        "crowdkit_accuracy": float(np.mean(theirs == data["truth"])),
        "majority_accuracy": float(np.mean(majority == data["truth"])),
    }
    print(f"Curata {ours_s:.2f} s ({ours.iterations} iterations, converged {ours.converged}); "
          f"crowd-kit {theirs_s:.2f} s ({result['crowdkit_iterations']} iterations): "
          f"{result['speedup']:.1f}x; same labels {result['same_labels']:.4%}; accuracy "
          f"Curata {result['curata_accuracy']:.4f}, crowd-kit {result['crowdkit_accuracy']:.4f}, "
          f"majority {result['majority_accuracy']:.4f}")  # fmt: skip
    print(f"Curata to max posterior change < 1e-6: {strict_s:.2f} s ({strict.iterations} "
          f"iterations), same labels as crowd-kit {result['strict_same_labels']:.4%}")  # fmt: skip
    benchlib.save_result("aggregation", result)


if __name__ == "__main__":
    main()
