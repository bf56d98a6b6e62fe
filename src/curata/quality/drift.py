"""Drift: has an annotator's (or a cohort's) agreement fallen, since when, on which question?

Each annotator's labels on a question (as they submitted them), oldest first, become a sequence
of outcomes: 1 when the label matched the gold answer (gold items) or the item's final label
(live items labelled by two or more people: alone on an item, one only agrees with oneself),
else 0. The final label is the label a release gives the item (:func:`curata.annotation.final.
item_labels`, by default Dawid-Skene with the release's gold clamping, prior and outside-votes
policy; the adjudication where there is one), the same one the quality report reads; it
includes the annotator's own vote, which with an overlap of 3 or more moves it little. A
preference is compared by its choice. A live answer the queue copied from the annotator's gold
or calibration answer is the same answer: it gives no outcome of its own.
:func:`change_point` fits the Bayesian single change-point model for a Bernoulli sequence
(Smith 1975, "A Bayesian approach to inference about a change-point in a sequence of random
variables", Biometrika 62(2):407-416; with uniform Beta(1, 1) priors on both rates):

* no change:   every outcome ~ Bernoulli(p), p ~ U(0, 1);
  marginal likelihood ``B(k + 1, n - k + 1)``;
* change at t: outcomes before t ~ Bernoulli(p1), from t on ~ Bernoulli(p2), p1, p2 ~ U(0, 1)
  independently, t uniform over the positions that leave ``min_segment`` outcomes each side.

The Bayes factor of the two, with even prior odds, gives the probability that the rate changed;
the posterior over t says since when (its mode, and the shortest run of positions holding 90%
of the posterior). The model needs no baseline rate: a steady annotator, good or bad, gives no
alert (the quality report judges their level); a drop does. The uniform priors make the test
conservative (an Occam penalty for the extra rate), which is what keeps false alarms rare
across many annotators.

An alert is raised when the change probability reaches ``probability`` (default 0.95) and the
posterior mean rate after the change is at least ``min_drop`` below the rate before it.
It names who, the question, since when (the time of the first outcome after the change) and
any guideline version published within the credible window, or first used by the annotator
inside it, because a guideline change that coincides with a drop is usually its cause.

:func:`change_point`, :func:`rolling_rates` and :func:`drift_report` take values;
:class:`curata.quality.service.QualityService` reads the project for the last.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from curata.core.errors import ValidationError
from curata.quality.report import Consensus, ProjectAnnotations, labels_used
from curata.stats.proportions import wilson_interval
from curata.timeutil import as_utc, iso

BY = ("annotator", "cohort", "both")


@dataclass(frozen=True)
class ChangePoint:
    """The fit of one outcome sequence (positions are 0-based indexes into it)."""

    n: int
    probability: float  # P(the rate changed | outcomes), prior odds 1:1
    bayes_factor: float  # change vs no change (inf when it overflows)
    at: int  # most probable first position after the change
    window: tuple[int, int]  # shortest set of positions holding ``credible`` of the posterior
    before: float  # posterior mean rate before ``at``
    after: float  # posterior mean rate from ``at`` on


def change_point(
    outcomes: Sequence[int] | np.ndarray, *, min_segment: int = 5, credible: float = 0.9
) -> ChangePoint | None:
    """Fit the single change-point model to 0/1 ``outcomes``; None when the sequence is too
    short to have ``min_segment`` outcomes on both sides of any change."""
    x = np.asarray(outcomes, dtype=np.int64)
    if x.ndim != 1 or (x.size and not np.isin(x, (0, 1)).all()):
        raise ValidationError("outcomes must be a sequence of 0 and 1")
    if min_segment < 1:
        raise ValidationError("min_segment must be at least 1")
    n = int(x.size)
    if n < 2 * min_segment:
        return None
    # scipy loads here, not with the module: the workspace builds the quality service, and
    # every API worker would otherwise carry scipy's objects through each garbage collection
    from scipy.special import betaln, logsumexp

    k = int(x.sum())
    ones = np.concatenate(([0], np.cumsum(x)))  # ones[t]: successes among the first t
    t = np.arange(min_segment, n - min_segment + 1)  # change before position t
    k1, k2 = ones[t], k - ones[t]
    n1, n2 = t, n - t
    log_m1 = betaln(k1 + 1, n1 - k1 + 1) + betaln(k2 + 1, n2 - k2 + 1)
    log_change = logsumexp(log_m1) - math.log(len(t))
    log_bf = float(log_change - betaln(k + 1, n - k + 1))
    probability = 1.0 / (1.0 + math.exp(-log_bf)) if log_bf > -700 else 0.0
    posterior = np.exp(log_m1 - logsumexp(log_m1))
    best = int(np.argmax(posterior))
    lo, hi = _shortest(posterior, credible)
    at = int(t[best])
    return ChangePoint(
        n=n,
        probability=probability,
        bayes_factor=math.exp(log_bf) if log_bf < 700 else math.inf,
        at=at,
        window=(int(t[lo]), int(t[hi])),
        before=(int(k1[best]) + 1) / (at + 2),
        after=(int(k2[best]) + 1) / (n - at + 2),
    )


def _shortest(posterior: np.ndarray, credible: float) -> tuple[int, int]:
    """The shortest run of consecutive positions holding at least ``credible`` of the
    posterior (the most probable such run on ties)."""
    prefix = np.concatenate(([0.0], np.cumsum(posterior)))
    need = prefix[:-1] + credible - 1e-12  # mass from each start
    ends = np.searchsorted(prefix, need, side="left")  # first k with prefix[k] >= need
    starts = np.arange(len(posterior))
    ok = ends <= len(posterior)
    if not ok.any():
        return 0, len(posterior) - 1
    lengths = np.where(ok, ends - starts, np.iinfo(np.int64).max)
    shortest = lengths.min()
    candidates = np.flatnonzero(lengths == shortest)
    mass = prefix[ends[candidates]] - prefix[candidates]
    lo = int(candidates[int(np.argmax(mass))])
    return lo, int(ends[lo]) - 1


def rolling_rates(
    times: Sequence[datetime], outcomes: Sequence[int], edges: Sequence[datetime]
) -> list[dict[str, Any]]:
    """Share of 1s per time bin ``[edges[i], edges[i+1])`` (the last bin closed), with a 95%
    Wilson interval; empty bins are left out."""
    out: list[dict[str, Any]] = []
    if len(edges) < 2:
        return out
    bins: dict[int, list[int]] = defaultdict(list)
    last = len(edges) - 2
    for when, ok in zip(times, outcomes, strict=True):
        bins[min(bisect_right(edges, when, 1, last + 1) - 1, last)].append(ok)
    for i in sorted(bins):
        hits, n = sum(bins[i]), len(bins[i])
        low, high = wilson_interval(hits, n)
        out.append(
            {"start": iso(edges[i]), "end": iso(edges[i + 1]), "n": n, "rate": hits / n,
             "low": low, "high": high}
        )  # fmt: skip
    return out


@dataclass
class _Stream:
    times: list[datetime]
    outcomes: list[int]
    guidelines: list[int | None]


def _streams(
    data: ProjectAnnotations, by: str, consensus: Consensus
) -> dict[tuple[str, str, str], _Stream]:
    """(kind, who, question) -> outcomes oldest first."""
    streams: dict[tuple[str, str, str], _Stream] = {}

    def add(key: tuple[str, str, str], when: datetime, ok: int, guideline: int | None) -> None:
        s = streams.setdefault(key, _Stream([], [], []))
        s.times.append(when)
        s.outcomes.append(ok)
        s.guidelines.append(guideline)

    labelled: Counter[tuple[int, str]] = Counter(
        (row.task_id, name) for row in data.rows if row.kind == "live" for name in row.answers
    )
    for row in data.rows:
        if row.copied:  # the same answer as on the record's gold copy: one outcome, there
            continue
        user_id, task_id, answers = row.user_id, row.task_id, row.submitted
        gold, guideline, submitted = row.known, row.guideline_version, row.submitted_at
        user = data.users[user_id]
        for name in sorted(data.categorical & set(answers)):
            if gold is not None or row.kind == "gold":  # a gold item, or a gold record met live
                if not gold or name not in gold:
                    continue
                want = data.key(name, gold[name])
            else:
                label = consensus.get((task_id, name))
                if label is None or labelled[(task_id, name)] < 2:
                    continue  # alone on an item, one agrees with oneself: nothing to learn
                want = label
            ok = int(data.key(name, answers[name]) == want)
            if by in ("annotator", "both"):
                add(("annotator", user.name, name), submitted, ok, guideline)
            if by in ("cohort", "both"):
                for cohort in data.cohorts.get(user_id, []):
                    add(("cohort", cohort, name), submitted, ok, guideline)
    return streams


def agreement_over_time(
    data: ProjectAnnotations, kind: str, consensus: Consensus, bins: int = 12
) -> list[dict[str, Any]]:
    """Per cohort (or annotator) and question, the share of labels matching gold or the
    consensus in each of ``bins`` equal time bins spanning the project's labelling."""
    return _series(data, _streams(data, kind, consensus), bins)


def _series(
    data: ProjectAnnotations, streams: dict[tuple[str, str, str], _Stream], bins: int
) -> list[dict[str, Any]]:
    times = [r.submitted_at for r in data.rows]
    edges = _edges(min(times), max(times), bins) if times else []
    return [
        {"kind": k, "who": who, "question": name, "n": len(s.outcomes),
         "bins": rolling_rates(s.times, s.outcomes, edges)}
        for (k, who, name), s in sorted(streams.items())
    ]  # fmt: skip


def check_options(*, by: str, probability: float, min_drop: float, bins: int) -> None:
    """Refuse drift options out of range (before anything is read)."""
    if by not in BY:
        raise ValidationError(f"by: {by!r} is not one of {', '.join(BY)}")
    if not 0.5 <= probability < 1.0:
        raise ValidationError("probability: must be in [0.5, 1)")
    if not 0.0 <= min_drop < 1.0:
        raise ValidationError("min_drop: must be in [0, 1)")
    if not 1 <= bins <= 200:
        raise ValidationError("bins: must be between 1 and 200")


def drift_report(
    data: ProjectAnnotations,
    consensus: Consensus,
    *,
    by: str = "both",
    question: str | None = None,
    probability: float = 0.95,
    min_drop: float = 0.15,
    min_segment: int = 5,
    bins: int = 12,
    method: str = "dawid-skene",
) -> dict[str, Any]:
    """Alerts and per-bin agreement series for a project's annotations (plain data; see the
    module doc); live answers are compared with ``consensus``, the labels a release by
    ``method`` gives (``method`` only names it in the output)."""
    check_options(by=by, probability=probability, min_drop=min_drop, bins=bins)
    project_name = data.project
    if question is not None and question not in data.categorical:
        known = ", ".join(sorted(data.categorical)) or "none"
        raise ValidationError(
            f"question {question!r}: not a single-choice question of {project_name!r} "
            f"(those are: {known})"
        )
    streams = _streams(data, by, consensus)
    if question is not None:
        streams = {k: v for k, v in streams.items() if k[2] == question}
    alerts: list[dict[str, Any]] = []
    for (kind, who, name), s in sorted(streams.items()):
        fit = change_point(s.outcomes, min_segment=min_segment)
        if fit is None or fit.probability < probability or fit.before - fit.after < min_drop:
            continue
        alerts.append(_alert(kind, who, name, s, fit, data.guidelines))
    alerts.sort(key=lambda a: (a["kind"] != "annotator", a["since"], a["who"]))
    return {
        "project": project_name,
        "by": by,
        "labels": labels_used(method, data.settings),
        "method": method,
        "question": question,
        "probability": probability,
        "min_drop": min_drop,
        "alerts": alerts,
        "series": _series(data, streams, bins),
    }


def _edges(first: datetime, last: datetime, bins: int) -> list[datetime]:
    if last <= first:
        return [first, last]
    span = last - first
    return [first + span * i / bins for i in range(bins)] + [last]


def _alert(
    kind: str,
    who: str,
    question: str,
    s: _Stream,
    fit: ChangePoint,
    guidelines: list[tuple[int, datetime]],
) -> dict[str, Any]:
    lo, hi = fit.window
    since = s.times[fit.at]
    start, end = s.times[max(lo - 1, 0)], s.times[hi]
    published = [
        v for v, when in guidelines if as_utc(start) <= as_utc(when) <= as_utc(end) and v > 1
    ]
    # a version the annotator first used inside the credible window (not any time later)
    before = {g for g in s.guidelines[:lo] if g is not None}
    around = {g for g in s.guidelines[lo : hi + 1] if g is not None}
    first_used = sorted(around - before)
    coincides = sorted(set(published) | set(first_used))
    if coincides:
        note = "coincides with guideline " + ", ".join(f"v{v}" for v in coincides)
    else:
        note = "no guideline change coincides"
    return {
        "kind": kind,
        "who": who,
        "question": question,
        "since": iso(since),
        "window": [iso(s.times[lo]), iso(s.times[hi])],
        "labels_before": fit.at,
        "labels_after": fit.n - fit.at,
        "rate_before": fit.before,
        "rate_after": fit.after,
        "probability": fit.probability,
        "guideline_versions": coincides,
        "message": (
            f"{kind} {who}: agreement on '{question}' fell from {fit.before:.0%} to "
            f"{fit.after:.0%} since {as_utc(since):%Y-%m-%d %H:%M} UTC (P(change) "
            f"{fit.probability:.3f}, "
            f"{fit.at} labels before, {fit.n - fit.at} after); {note}"
        ),
    }
