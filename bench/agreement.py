"""Agreement at scale (issue #4): Curata's coefficients against the `krippendorff` package and
statsmodels, on the same generated data, in the same process.

1. Krippendorff's alpha, 20 raters x 200,000 units, 30% of ratings missing, nominal and interval
   (5 categories): time of each (best of 3) and the two values.
2. alpha interval on 3 raters x 100,000 units with ~1,000 distinct values: time and peak memory
   (each side in a fresh subprocess, so peak RSS is its own); the package is expected to fail
   to allocate its values x values x units arrays.
3. Fleiss' kappa on 1,000,000 items (10 ratings each, 5 categories): time vs statsmodels.

    .venv/bin/python bench/agreement.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import numpy as np

import benchlib


def ratings(units: int, raters: int, q: int, missing: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, q, units)
    noisy = rng.random((units, raters)) < 0.3
    data = np.where(noisy, rng.integers(0, q, (units, raters)), truth[:, None]).astype(float)
    data[rng.random((units, raters)) < missing] = np.nan
    return data


def best_of(n: int, fn: Any) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(n):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return min(times), value


def alpha_pair(seed: int) -> dict[str, Any]:
    import krippendorff

    from curata.stats.agreement import krippendorff_alpha

    data = ratings(200_000, 20, 5, 0.3, seed)
    out: dict[str, Any] = {}
    for level in ("nominal", "interval"):
        ours_s, ours = best_of(3, lambda level=level: krippendorff_alpha(data, level))
        theirs_s, theirs = best_of(
            3,
            lambda level=level: krippendorff.alpha(
                reliability_data=data.T, level_of_measurement=level
            ),
        )
        out[level] = {
            "curata_s": ours_s,
            "krippendorff_s": theirs_s,
            "time_ratio": ours_s / theirs_s,
            "curata": ours,
            "krippendorff": theirs,
            "abs_diff": abs(ours - theirs),
        }
        print(f"alpha {level:<8} 20x200k: Curata {ours_s:.3f} s, krippendorff {theirs_s:.3f} s, "
              f"ratio {ours_s / theirs_s:.2f}; values {ours!r} vs {theirs!r}")  # fmt: skip
    return out


CHILD = """
import json, resource, sys, time
import numpy as np
rng = np.random.default_rng({seed})
truth = rng.integers(0, 1000, 100_000).astype(float)
data = truth[:, None] + rng.integers(-3, 4, (100_000, 3))
data = np.clip(data, 0, 999)
t = time.perf_counter()
try:
    if "{who}" == "curata":
        from curata.stats.agreement import krippendorff_alpha
        value = krippendorff_alpha(data, "interval")
    else:
        import krippendorff
        value = krippendorff.alpha(reliability_data=data.T, level_of_measurement="interval")
    error = None
except MemoryError as exc:
    value, error = None, f"MemoryError: {{exc}}"
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"value": value, "seconds": seconds, "peak_rss": peak, "error": error,
                   "distinct": int(len(np.unique(data)))}}))
"""


def alpha_many_values(seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for who in ("curata", "krippendorff"):
        # a 4 GiB address-space cap, so the package fails fast instead of swapping the machine
        code = CHILD.format(seed=seed, who=who)
        cmd = [sys.executable, "-c", f"import resource; resource.setrlimit(resource.RLIMIT_AS, "
               f"(4 << 30, 4 << 30)); exec({code!r})"]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or not proc.stdout.strip():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            out[who] = {"error": f"exit {proc.returncode}: {tail[0]}"}
        else:
            out[who] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = out[who]
        if r.get("error"):
            print(f"alpha interval 3x100k, ~1000 values: {who}: {r['error']}")
        else:
            print(f"alpha interval 3x100k, {r['distinct']} values: {who} {r['seconds']:.3f} s, "
                  f"peak RSS {benchlib.human_bytes(r['peak_rss'])}, "
                  f"alpha {r['value']!r}")  # fmt: skip
    return out


def fleiss(seed: int) -> dict[str, Any]:
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    from curata.stats.agreement import fleiss_kappa

    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 5, 1_000_000)
    probs = np.full((1_000_000, 5), 0.1)
    probs[np.arange(1_000_000), truth] = 0.6
    cumulative = probs.cumsum(axis=1)
    draws = (rng.random((1_000_000, 10))[:, :, None] > cumulative[:, None, :]).sum(axis=2)
    counts = np.stack([(draws == k).sum(axis=1) for k in range(5)], axis=1)
    ours_s, ours = best_of(3, lambda: fleiss_kappa(counts))
    theirs_s, theirs = best_of(3, lambda: sm_fleiss(counts, method="fleiss"))
    print(f"Fleiss kappa 1M items: Curata {ours_s:.3f} s, statsmodels {theirs_s:.3f} s, "
          f"ratio {ours_s / theirs_s:.2f}; values {ours!r} vs {theirs!r}")  # fmt: skip
    return {
        "curata_s": ours_s,
        "statsmodels_s": theirs_s,
        "time_ratio": ours_s / theirs_s,
        "curata": ours,
        "statsmodels": theirs,
        "abs_diff": abs(ours - theirs),
    }


def main() -> None:
    p = benchlib.parser(__doc__.split("\n", 1)[0])
    args = p.parse_args()
    info = benchlib.header("Agreement at scale (issue #4)")
    result = {
        "machine": info,
        "command": " ".join(["python", *sys.argv]),
        "alpha_20x200k": alpha_pair(args.seed),
        "alpha_interval_many_values": alpha_many_values(args.seed),
        "fleiss_1m": fleiss(args.seed),
    }
    benchlib.save_result("agreement", result)


if __name__ == "__main__":
    main()
