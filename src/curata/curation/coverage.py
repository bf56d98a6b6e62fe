"""Coverage of a dataset against a target sample (e.g. production traffic).

Per slice of a metadata field, or per embedding cluster: the share of the data and of the
target, their Jensen-Shannon divergence, the most under-represented slices, and how many
records of a slice would bring it to the target's share. Pure: plain values and arrays in,
JSON-able dicts out; :mod:`curata.curation.coverage_service` loads the data.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from itertools import pairwise
from typing import Any

import numpy as np

MISSING = "(missing)"
"""The slice of records without the field (or with null); a value spelled so shares it."""
OTHER = "(other)"
EXAMPLE_CHARS = 160


def slice_label(value: Any) -> str:
    """The slice a metadata value falls in: strings as they are, other values as JSON."""
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def jensen_shannon(p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray) -> float:
    """Jensen-Shannon divergence of two distributions (counts or shares), base 2: in [0, 1].

    JSD = (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2; equal to the square of
    ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.
    """
    a = np.asarray(p, dtype=float)
    b = np.asarray(q, dtype=float)
    if a.shape != b.shape or a.sum() <= 0 or b.sum() <= 0 or (a < 0).any() or (b < 0).any():
        raise ValueError("two non-negative distributions of the same length, each with mass")
    a, b = a / a.sum(), b / b.sum()
    m = (a + b) / 2

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))

    return min(1.0, max(0.0, (kl(a) + kl(b)) / 2))


def records_to_parity(
    data_count: int,
    data_total: int,
    target_count: int,
    target_total: int,
    *,
    population: int | None = None,
) -> int | None:
    """How many records of one slice, added alone, bring its share up to the target's.

    With target share t and, in a data set of N records, a records of the slice, the smallest
    integer n with (a + n) / (N + n) >= t is ceil((t N - a) / (1 - t)). ``population`` is N
    when the counts come from a sample of it (a is then its share times N). 0 when the slice
    is not under-represented; None when the target is all this slice (no n reaches it).
    Computed in exact fractions.
    """
    t = Fraction(target_count, target_total)
    n = data_total if population is None else population
    share = Fraction(data_count, data_total) if data_total else Fraction(0)
    if share >= t:
        return 0
    if t == 1:
        return None
    return max(1, math.ceil((t * n - share * n) / (1 - t)))


def compare_counts(
    data_counts: Mapping[str, int],
    target_counts: Mapping[str, int],
    *,
    order: Sequence[str] | None = None,
    population: int | None = None,
) -> dict[str, Any]:
    """The share table of two count maps: per slice counts, shares, gap (target minus data)
    and records to parity; JSD over every slice. ``order`` fixes the row order (default: by
    target share, then data share, descending)."""
    data_total, target_total = sum(data_counts.values()), sum(target_counts.values())
    names = (
        list(order)
        if order is not None
        else sorted(
            set(data_counts) | set(target_counts),
            key=lambda s: (-target_counts.get(s, 0), -data_counts.get(s, 0), s),
        )
    )
    slices: list[dict[str, Any]] = []
    for name in names:
        a, b = data_counts.get(name, 0), target_counts.get(name, 0)
        data_share = a / data_total if data_total else 0.0
        target_share = b / target_total if target_total else 0.0
        slices.append(
            {
                "slice": name,
                "data_count": a,
                "target_count": b,
                "data_share": data_share,
                "target_share": target_share,
                "gap": target_share - data_share,
                "records_to_parity": records_to_parity(
                    a, data_total, b, target_total, population=population
                )
                if target_total
                else 0,
            }
        )
    jsd = None
    if data_total and target_total:
        jsd = jensen_shannon([s["data_count"] for s in slices], [s["target_count"] for s in slices])
    return {"data_total": data_total, "target_total": target_total, "jsd": jsd, "slices": slices}


def under_represented(
    slices: Sequence[dict[str, Any]], *, top: int = 5, min_gap: float = 0.0
) -> list[dict[str, Any]]:
    """The slices whose target share exceeds their data share by more than ``min_gap``,
    largest gap first (at most ``top``)."""
    short = [s for s in slices if s["gap"] > min_gap]
    short.sort(key=lambda s: (-s["gap"], str(s["slice"])))
    return short[:top]


def quantile_edges(target_values: Sequence[float], bins: int) -> list[float]:
    """Cut points of numeric bins: the 1/bins .. (bins-1)/bins quantiles of the target values
    (linear interpolation), duplicates dropped. Bin i holds values v with edge[i-1] <= v <
    edge[i]; the outer bins are open, so data outside the target's range still has a bin."""
    if bins < 2 or not len(target_values):
        return []
    cuts = np.quantile(np.asarray(target_values, dtype=float), np.arange(1, bins) / bins)
    return sorted({float(c) for c in cuts})


def bin_labels(edges: Sequence[float]) -> list[str]:
    """Readable names of the bins cut at ``edges`` (len(edges) + 1 of them)."""
    if not edges:
        return ["all"]
    inner = [f"[{lo:g}, {hi:g})" for lo, hi in pairwise(edges)]
    return [f"< {edges[0]:g}", *inner, f">= {edges[-1]:g}"]


def _examples(labels: Sequence[str], examples: Mapping[int, str], n: int) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for index in sorted(i for i in examples if i < len(labels)):
        kept = found.setdefault(labels[index], [])
        if len(kept) < n:
            kept.append(truncate(examples[index]))
    return found


def truncate(text: str, limit: int = EXAMPLE_CHARS) -> str:
    """One line of at most ``limit`` characters (an ellipsis marks a cut)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def slice_shares(
    data_values: Sequence[Any],
    target_values: Sequence[Any],
    *,
    bins: int = 5,
    examples: Mapping[int, str] | None = None,
    top: int = 5,
    max_slices: int = 50,
) -> dict[str, Any]:
    """Compare one metadata field: shares per slice, JSD, the most under-represented slices.

    Missing values (absent or null) form their own slice, ``(missing)``. A field whose
    non-missing values are all numbers, with more than ``bins`` distinct ones in the target,
    is cut into ``bins`` quantile bins of the target (see :func:`quantile_edges`); any other
    field is categorical. ``examples`` maps positions in ``target_values`` to texts; up to two
    of each under-represented slice are shown. Past ``max_slices`` the smallest slices are
    summed as ``(other)`` (JSD and the ranking use every slice).
    """
    present = [v for v in (*data_values, *target_values) if v is not None]
    target_numbers = {v for v in target_values if v is not None}
    numeric = bool(present) and all(map(_is_number, present)) and len(target_numbers) > bins
    result: dict[str, Any] = {"kind": "numeric" if numeric else "categorical"}
    order: list[str] | None = None
    label: Callable[[Any], str] = slice_label
    if numeric:
        edges = quantile_edges([v for v in target_values if v is not None], bins)
        names = bin_labels(edges)

        def binned(v: Any) -> str:
            return MISSING if v is None else names[int(np.searchsorted(edges, v, side="right"))]

        label = binned

        result["edges"] = edges
        order = [*names, MISSING]
    data_labels = [label(v) for v in data_values]
    target_labels = [label(v) for v in target_values]
    data_counts, target_counts = Counter(data_labels), Counter(target_labels)
    if order is not None:
        order = [s for s in order if data_counts[s] or target_counts[s]]
    table = compare_counts(data_counts, target_counts, order=order)
    shown = _examples(target_labels, examples or {}, 2)
    short = under_represented(table["slices"], top=top)
    result.update(
        jsd=table["jsd"],
        data_total=table["data_total"],
        target_total=table["target_total"],
        slice_count=len(table["slices"]),
        slices=_capped(table["slices"], max_slices),
        under_represented=[{**s, "examples": shown.get(s["slice"], [])} for s in short],
    )
    return result


def _capped(slices: list[dict[str, Any]], max_slices: int) -> list[dict[str, Any]]:
    if len(slices) <= max_slices:
        return slices
    kept, rest = slices[: max_slices - 1], slices[max_slices - 1 :]
    other: dict[str, Any] = {"slice": OTHER, "records_to_parity": None, "merged": len(rest)}
    for key in ("data_count", "target_count", "data_share", "target_share", "gap"):
        other[key] = sum(s[key] for s in rest)
    return [*kept, other]


def default_k(n_target: int) -> int:
    """Clusters when none is asked for: round(sqrt(n)), between 2 and 20."""
    return max(2, min(20, round(math.sqrt(n_target))))


def top_terms(texts: Sequence[str], labels: np.ndarray, k: int, *, n: int = 3) -> list[list[str]]:
    """Per cluster, its ``n`` most distinctive terms: highest mean TF-IDF weight over its texts
    minus the mean over the other clusters' texts, positive only (English stop words dropped;
    words of two letters or more), so words every cluster shares do not describe one."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        stop_words="english", token_pattern=r"(?u)\b[^\W\d_]{2,}\b", sublinear_tf=True
    )
    try:
        weights = vectorizer.fit_transform(texts)
    except ValueError:  # no words at all
        return [[] for _ in range(k)]
    vocabulary = vectorizer.get_feature_names_out()
    out: list[list[str]] = []
    for c in range(k):
        rows = np.flatnonzero(labels == c)
        if not len(rows):
            out.append([])
            continue
        score = np.asarray(weights[rows].mean(axis=0)).ravel()
        others = np.flatnonzero(labels != c)
        if len(others):
            score = score - np.asarray(weights[others].mean(axis=0)).ravel()
        best = [i for i in np.argsort(-score, kind="stable")[:n] if score[i] > 1e-9]
        out.append([str(vocabulary[i]) for i in best])
    return out


def cluster_coverage(
    data_vectors: np.ndarray,
    target_vectors: np.ndarray,
    target_texts: Sequence[str],
    *,
    k: int | None = None,
    seed: int = 0,
    population: int | None = None,
    top: int = 5,
) -> dict[str, Any]:
    """Compare data and target over clusters of the target's embeddings.

    k-means (k-means++, fixed ``seed``) is fitted on the target vectors; each data vector goes
    to its nearest centroid. Clusters are numbered by target size, largest first, and each is
    described by its top TF-IDF terms and the two target texts nearest its centroid.
    ``population`` is the data's full size when ``data_vectors`` is a sample of it (it scales
    the records to parity). ``k`` defaults to :func:`default_k` and is capped at the number of
    distinct target vectors.
    """
    from sklearn.cluster import KMeans

    target = np.asarray(target_vectors, dtype=float)
    data = np.asarray(data_vectors, dtype=float)
    distinct = len(np.unique(target, axis=0)) if len(target) else 0
    if distinct < 2:
        return {"skipped": "the target needs at least two distinct texts to cluster"}
    k = min(k or default_k(len(target)), distinct)
    model = KMeans(n_clusters=k, random_state=seed, n_init=3).fit(target)
    raw_target = np.asarray(model.labels_)
    raw_data = model.predict(data) if len(data) else np.zeros(0, dtype=int)
    sizes = np.bincount(raw_target, minlength=k)
    rank = np.empty(k, dtype=int)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(k)
    target_labels, data_labels = rank[raw_target], rank[raw_data]
    centroids = np.empty_like(model.cluster_centers_)
    centroids[rank] = model.cluster_centers_
    terms = top_terms(target_texts, target_labels, k)
    names = [f"cluster {c}" for c in range(k)]
    table = compare_counts(
        Counter(names[c] for c in data_labels),
        Counter(names[c] for c in target_labels),
        population=population,
    )
    described = {}
    for c in range(k):
        members = np.flatnonzero(target_labels == c)
        distance = np.linalg.norm(target[members] - centroids[c], axis=1)
        nearest = members[np.argsort(distance, kind="stable")[:2]]
        described[names[c]] = {
            "cluster": c,
            "terms": terms[c],
            "examples": [truncate(target_texts[i]) for i in nearest],
        }
    slices = [{**s, **described[s["slice"]]} for s in table["slices"]]
    return {
        "k": k,
        "seed": seed,
        "data_sample": len(data),
        "target_sample": len(target),
        "jsd": table["jsd"],
        "slices": slices,
        "under_represented": under_represented(slices, top=top),
        "data_labels": data_labels.tolist(),
        "target_labels": target_labels.tolist(),
    }


def brief_label(field: str | None, item: dict[str, Any], *, numeric: bool = False) -> str:
    """How the brief names a slice: ``lang=de``, ``tokens in [10, 20)``, ``tokens >= 40``,
    ``lang missing`` or ``cluster 4 'refund, invoice, charge'``."""
    name = str(item["slice"])
    if field is None:
        terms = ", ".join(item.get("terms", []))
        return f"{name} '{terms}'" if terms else name
    if name == MISSING:
        return f"{field} missing"
    if numeric:
        return f"{field} in {name}" if name.startswith("[") else f"{field} {name}"
    return f"{field}={name}"


def sourcing_brief(
    fields: Sequence[dict[str, Any]],
    clusters: dict[str, Any] | None,
    *,
    per_field: int = 3,
    min_gap: float = 0.01,
) -> list[dict[str, Any]]:
    """What to source: per field and for the clusters, the (up to ``per_field``) slices short
    by more than ``min_gap`` of the target share, largest gap first. Each item's ``records``
    is its own records to parity: the counts are alternatives, not a sum (adding one slice
    lowers every other slice's share)."""
    groups: list[tuple[str | None, bool, Sequence[dict[str, Any]]]] = [
        (f["field"], f.get("kind") == "numeric", f["under_represented"]) for f in fields
    ]
    if clusters and "slices" in clusters:
        groups.append((None, False, clusters["under_represented"]))
    items = []
    for field, numeric, short in groups:
        for s in [s for s in short if s["gap"] > min_gap][:per_field]:
            items.append(
                {
                    "field": field,
                    "slice": s["slice"],
                    "label": brief_label(field, s, numeric=numeric),
                    "records": s["records_to_parity"],
                    "data_share": s["data_share"],
                    "target_share": s["target_share"],
                    "gap": s["gap"],
                }
            )
    items.sort(key=lambda i: -i["gap"])
    return items


def brief_sentence(items: Sequence[dict[str, Any]]) -> str:
    """The brief in one line: ``add ~340 records of lang=de; ~120 of cluster 4 '...'``."""
    if not items:
        return "no slice is under-represented: nothing to source"
    parts = []
    for n, item in enumerate(items):
        label = item["label"]
        if item["records"] is None:
            parts.append(f"records of {label} (the target is all of it)")
        else:
            parts.append(f"~{item['records']:,} {'records ' if n == 0 else ''}of {label}")
    return "add " + "; ".join(parts)
