"""Failure attribution (#16): from a checkpoint's failing evaluation categories, through its
training data's lineage, to the versions, sources, curation steps and annotation cohorts behind
them.

``attribute(model_ckpt, baseline=None, k=10)``:

1. Pass rate per category of the checkpoint's latest evaluation run of each source (or the runs
   named); with a baseline checkpoint, per category the difference of pass rates with its 95%
   interval (Newcombe 1998, method 10: the hybrid Wilson score interval) and a category is
   *regressed* when the whole interval lies below 0.
2. For each regressed category (without a baseline, or when none regressed: each category with
   failures) the failing examples' inputs and the checkpoint's training records are embedded
   (MiniLM by default) and each failure's ``k`` nearest training records by cosine similarity
   are taken. Each of those is traced: the training version holding it, the version of that
   dataset it *entered* in (the first holding it), its source, the curation events that
   changed it, and, where a release of an annotation project labelled it, the project, the
   annotators of its label with their cohorts and vendors, the guideline version they labelled
   under and that cohort's gold accuracy while they did.
3. With a baseline, the dataset diff between the two checkpoints' training versions and the
   share of the nearest records the baseline never trained on.
4. Suspects: the (failure, neighbour) pairs are grouped by (entered version, cohort, vendor,
   guideline version): a neighbour labelled by several annotators splits its weight among them.
   A group's ``share`` is its part of the pairs; its ``score`` is ``share * risk`` where risk is
   the cohort's gold error rate in the period over the project's (both smoothed as
   (wrong + 1) / (answered + 2)), 1 where there is no gold to judge by. A careless cohort with
   half the neighbours outranks a careful one with the other half.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation.final import CountedAnnotation, counted_annotations
from curata.core.errors import NotFoundError, ValidationError
from curata.loop.evals import CategoryRate, EvalExample, summarize
from curata.stats.proportions import gold_checks, newcombe_interval
from curata.store.records import RecordStore
from curata.store.tables import (
    CohortMemberRow,
    CohortRow,
    CurationEventRow,
    DatasetRow,
    OperationInputRow,
    OperationRow,
    ProjectRow,
    StepRunRow,
    TaskRow,
    UserRow,
    VendorRow,
    VersionRow,
)
from curata.timeutil import as_utc, iso
from curata.versioning.diff import flat_text

if TYPE_CHECKING:
    from curata.loop.service import EvalRun, EvaluationService
    from curata.versioning.service import DatasetService, VersionHandle

Encode = Callable[[list[str]], Any]
"""Texts to one vector each (a 2-D array-like); the default is MiniLM."""

DEFAULT_K = 10
MAX_FAILURES = 200
"""At most this many failing examples of a category are embedded (the first, in run order)."""
MAX_TRAINING = 50_000
"""Training sets larger than this are embedded on an even stride of this many records."""
CURATION_DEPTH = 8


# -- statistics ----------------------------------------------------------------------------------


def z_of(confidence: float) -> float:
    return NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)


def smoothed(right: int, total: int) -> float:
    """Accuracy smoothed as (right + 1) / (total + 2) (never 0 or 1)."""
    return (right + 1) / (total + 2)


def nearest(failures: np.ndarray, training: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each failure's ``k`` nearest training vectors by cosine similarity: (indices, sims),
    each of shape (failures, min(k, training)), most similar first (ties by lower index)."""
    f = _unit(failures)
    t = _unit(training)
    sims = f @ t.T
    k = min(k, t.shape[0])
    # a stable sort on -sim keeps lower indices first among equals (deterministic)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def _unit(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=float)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms == 0, 1.0, norms)


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryComparison:
    """One category's pass rate, and with a baseline, the difference and its interval."""

    category: str
    judged: int
    passed: int
    failed: int
    rate: float | None
    baseline_judged: int | None = None
    baseline_passed: int | None = None
    baseline_rate: float | None = None
    diff: float | None = None
    low: float | None = None
    high: float | None = None
    regressed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Annotator:
    """One annotation behind a released label."""

    user: str
    cohorts: list[str]
    vendor: str | None
    guideline_version: int | None
    submitted_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "cohorts": self.cohorts,
            "vendor": self.vendor,
            "guideline_version": self.guideline_version,
            "submitted_at": iso(self.submitted_at),
        }


@dataclass
class TracedRecord:
    """A training record near failures, and where it came from."""

    record_id: str
    preview: str
    training_version: str
    entered: str
    source: str | None
    origin: str | None
    hits: int = 0
    best_similarity: float = -1.0
    in_added: bool | None = None
    curation: list[dict[str, Any]] = field(default_factory=list)
    project: str | None = None
    release: str | None = None
    annotators: list[Annotator] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "preview": self.preview,
            "training_version": self.training_version,
            "entered": self.entered,
            "source": self.source,
            "origin": self.origin,
            "hits": self.hits,
            "best_similarity": round(self.best_similarity, 4),
            "in_added": self.in_added,
            "curation": self.curation,
            "project": self.project,
            "release": self.release,
            "annotators": [a.to_dict() for a in self.annotators],
        }


@dataclass(frozen=True)
class GoldAccuracy:
    """A cohort's gold accuracy in a period, beside its whole-project figure and everyone's."""

    cohort: str
    start: datetime
    end: datetime
    right: int
    answered: int
    cohort_right: int
    cohort_answered: int
    project_right: int
    project_answered: int

    @property
    def period(self) -> float | None:
        return self.right / self.answered if self.answered else None

    @property
    def cohort_overall(self) -> float | None:
        return self.cohort_right / self.cohort_answered if self.cohort_answered else None

    @property
    def overall(self) -> float | None:
        return self.project_right / self.project_answered if self.project_answered else None

    @property
    def risk(self) -> float:
        """The cohort's smoothed gold error rate in the period over the project's (1: no gold
        in the period, nothing to judge by)."""
        if not self.answered or not self.project_answered:
            return 1.0
        mine = 1.0 - smoothed(self.right, self.answered)
        everyone = 1.0 - smoothed(self.project_right, self.project_answered)
        return mine / everyone

    def to_dict(self) -> dict[str, Any]:
        return {
            "cohort": self.cohort,
            "start": iso(self.start),
            "end": iso(self.end),
            "period": self.period,
            "answered": self.answered,
            "cohort_overall": self.cohort_overall,
            "cohort_answered": self.cohort_answered,
            "overall": self.overall,
            "project_answered": self.project_answered,
            "risk": self.risk,
        }


@dataclass
class Suspect:
    """A group of nearest records sharing where they entered and who labelled them."""

    category: str
    entered: str
    cohort: str | None
    vendor: str | None
    guideline: str | None
    source: str | None
    share: float
    records: int
    score: float
    gold: GoldAccuracy | None
    added_share: float | None
    sentence: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "entered": self.entered,
            "cohort": self.cohort,
            "vendor": self.vendor,
            "guideline": self.guideline,
            "source": self.source,
            "share": self.share,
            "records": self.records,
            "score": self.score,
            "gold": self.gold.to_dict() if self.gold else None,
            "added_share": self.added_share,
            "sentence": self.sentence,
        }


@dataclass
class CategoryAttribution:
    """The nearest training records of one category's failures, and the suspects among them."""

    comparison: CategoryComparison
    failures: int
    embedded: int
    nearest: list[TracedRecord]
    suspects: list[Suspect]
    added_share: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.comparison.category,
            "failures": self.failures,
            "embedded": self.embedded,
            "added_share": self.added_share,
            "suspects": [s.to_dict() for s in self.suspects],
            "nearest": [r.to_dict() for r in self.nearest],
        }


@dataclass
class Attribution:
    """Everything ``curata attribute`` shows: categories, traced neighbours, ranked suspects."""

    checkpoint: str
    baseline: str | None
    runs: list[int]
    baseline_runs: list[int]
    k: int
    training_versions: list[str]
    training_records: int
    embedded_records: int
    categories: list[CategoryComparison]
    attributed: list[CategoryAttribution]
    diff: list[dict[str, Any]]
    note: str | None = None

    @property
    def suspects(self) -> list[Suspect]:
        """Every category's suspects, highest score first."""
        found = [s for a in self.attributed for s in a.suspects]
        return sorted(found, key=lambda s: (-s.score, -s.share, s.category, s.entered))

    @property
    def regressed(self) -> list[str]:
        return [c.category for c in self.categories if c.regressed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "baseline": self.baseline,
            "runs": self.runs,
            "baseline_runs": self.baseline_runs,
            "k": self.k,
            "training_versions": self.training_versions,
            "training_records": self.training_records,
            "embedded_records": self.embedded_records,
            "categories": [c.to_dict() for c in self.categories],
            "regressed": self.regressed,
            "diff": self.diff,
            "attributed": [a.to_dict() for a in self.attributed],
            "suspects": [s.to_dict() for s in self.suspects],
            "note": self.note,
        }


# -- comparison and ranking (pure) ---------------------------------------------------------------


def compare(
    rates: Sequence[CategoryRate],
    baseline: Sequence[CategoryRate] | None,
    confidence: float = 0.95,
) -> list[CategoryComparison]:
    """Per category (``all`` last), the pass rate and, with a baseline, the difference
    (checkpoint - baseline) with its Newcombe interval; regressed when the interval is below 0."""
    base = {r.category: r for r in baseline or []}
    out = []
    for r in rates:
        row = CategoryComparison(r.category, r.judged, r.passed, r.judged - r.passed, r.rate)
        b = base.get(r.category)
        if b is not None:
            row = CategoryComparison(
                r.category, r.judged, r.passed, r.judged - r.passed, r.rate,
                baseline_judged=b.judged, baseline_passed=b.passed, baseline_rate=b.rate,
            )  # fmt: skip
            if r.judged and b.judged:
                low, high = newcombe_interval(r.passed, r.judged, b.passed, b.judged, confidence)
                row = CategoryComparison(
                    r.category, r.judged, r.passed, r.judged - r.passed, r.rate,
                    baseline_judged=b.judged, baseline_passed=b.passed, baseline_rate=b.rate,
                    diff=r.passed / r.judged - b.passed / b.judged, low=low, high=high,
                    regressed=high < 0 and r.category != "all",
                )  # fmt: skip
        out.append(row)
    return out


@dataclass(frozen=True)
class Weight:
    """One (failure, neighbour) pair's part in a suspect group."""

    entered: str
    cohort: str | None
    vendor: str | None
    guideline: str | None
    source: str | None
    record_id: str
    weight: float
    labelled_at: datetime | None
    project: str | None


def pair_weights(record: TracedRecord, hits: int) -> list[Weight]:
    """The groups a neighbour met ``hits`` times falls in: one per (annotator, cohort) of its
    label, splitting the weight evenly; one group without a cohort when nothing labelled it."""
    slots: list[tuple[str | None, str | None, str | None, datetime | None]] = []
    for a in record.annotators:
        guideline = (
            f"{record.project}@v{a.guideline_version}" if a.guideline_version is not None else None
        )
        cohorts: list[str | None] = list(a.cohorts) or [None]
        for cohort in cohorts:
            slots.append((cohort, a.vendor, guideline, a.submitted_at))
    if not slots:
        slots = [(None, None, None, None)]
    each = hits / len(slots)
    return [
        Weight(record.entered, c, v, g, record.source, record.record_id, each, at, record.project)
        for c, v, g, at in slots
    ]


def rank(
    category: str,
    weights: Sequence[Weight],
    gold: Callable[[str, str, datetime, datetime], GoldAccuracy | None],
    added: set[str] | None,
    comparison: CategoryComparison,
) -> list[Suspect]:
    """Group pair weights by (entered, cohort, vendor, guideline) and score each group: share
    of the pairs times the cohort's gold risk in the period its labels were given."""
    total = sum(w.weight for w in weights)
    if total <= 0:
        return []
    groups: dict[tuple[str, str | None, str | None, str | None], list[Weight]] = defaultdict(list)
    for w in weights:
        groups[(w.entered, w.cohort, w.vendor, w.guideline)].append(w)
    suspects = []
    for (entered, cohort, vendor, guideline), members in groups.items():
        share = sum(w.weight for w in members) / total
        times = [w.labelled_at for w in members if w.labelled_at is not None]
        project = next((w.project for w in members if w.project), None)
        accuracy = None
        if cohort is not None and project is not None and times:
            accuracy = gold(project, cohort, min(times), max(times))
        sources: dict[str, float] = defaultdict(float)
        for w in members:
            if w.source:
                sources[w.source] += w.weight
        source = max(sorted(sources), key=lambda s: sources[s]) if sources else None
        ids = {w.record_id for w in members}
        added_share = (
            sum(w.weight for w in members if w.record_id in added) / sum(w.weight for w in members)
            if added is not None
            else None
        )
        suspect = Suspect(
            category=category, entered=entered, cohort=cohort, vendor=vendor,
            guideline=guideline, source=source, share=share, records=len(ids),
            score=share * (accuracy.risk if accuracy else 1.0), gold=accuracy,
            added_share=added_share,
        )  # fmt: skip
        suspect.sentence = sentence(suspect, comparison)
        suspects.append(suspect)
    suspects.sort(key=lambda s: (-s.score, -s.share, s.entered, s.cohort or ""))
    return suspects


def sentence(s: Suspect, c: CategoryComparison) -> str:
    """One line a person reads: the category's change, then who and what is behind it."""
    if c.diff is not None:
        head = f"{s.category} failures {-100 * c.diff:+.0f} pts"
    else:
        head = f"{s.category}: {c.failed} of {c.judged} failed"
    words = f"{head}; {100 * s.share:.0f}% of the nearest records entered in {s.entered}"
    if s.cohort is not None or s.guideline is not None:
        who = f"cohort {s.cohort}" if s.cohort else "annotators without a cohort"
        if s.vendor:
            who += f" ({s.vendor})"
        words += f", labelled by {who}"
        if s.guideline:
            words += f" under guideline v{s.guideline.rsplit('@v', 1)[-1]}"
        g = s.gold
        if g is not None and g.period is not None and g.overall is not None:
            verb = "dropped to" if g.period < g.overall else "was"
            words += (
                f", whose gold accuracy {verb} {g.period:.2f} in that period "
                f"(project overall {g.overall:.2f})"
            )
    elif s.source:
        words += f", from source {s.source}"
    if s.added_share is not None and s.added_share > 0:
        words += f"; {100 * s.added_share:.0f}% of them new since the baseline"
    return words


# -- the service ---------------------------------------------------------------------------------


class AttributionService:
    """Traces a checkpoint's evaluation failures to the training data behind them."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: RecordStore,
        datasets: DatasetService,
        evaluation: EvaluationService,
        *,
        encode: Encode | None = None,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._datasets = datasets
        self._evaluation = evaluation
        self._encode = encode

    def attribute(
        self,
        model_ckpt: str,
        baseline: str | None = None,
        k: int = DEFAULT_K,
        *,
        runs: list[int] | None = None,
        baseline_runs: list[int] | None = None,
        confidence: float = 0.95,
        encode: Encode | None = None,
    ) -> Attribution:
        """Attribute ``model_ckpt``'s failures (see the module docstring)."""
        if k < 1:
            raise ValidationError(f"k: must be at least 1, got {k}")
        checkpoint = self._evaluation.checkpoint(model_ckpt)
        if not checkpoint.versions:
            raise ValidationError(
                f"{checkpoint.name} has no training versions (register them with "
                "'curata train register')"
            )
        base_ckpt = self._evaluation.checkpoint(baseline) if baseline else None
        if base_ckpt is not None and base_ckpt.name == checkpoint.name:
            raise ValidationError(f"--baseline: {baseline} is the checkpoint itself")
        run_ids = self._runs(checkpoint.name, runs)
        examples = [e for run in run_ids for e in self._evaluation.results(run)]
        rates = summarize((e.category, e.passed, e.score) for e in examples)
        base_ids: list[int] = []
        base_rates = None
        if base_ckpt is not None:
            base_ids = self._runs(base_ckpt.name, baseline_runs)
            base_rates = summarize(
                (e.category, e.passed, e.score)
                for run in base_ids
                for e in self._evaluation.results(run)
            )
        categories = compare(rates, base_rates, confidence)
        targets, note = self._targets(categories, base_ckpt is not None)

        handles = [self._datasets.handle(ref) for ref in checkpoint.versions]
        training = _TrainingSet.load(self._store, handles)
        added: set[str] | None = None
        diff: list[dict[str, Any]] = []
        if base_ckpt is not None:
            base_handles = [self._datasets.handle(ref) for ref in base_ckpt.versions]
            diff = self._diff(handles, base_handles)
            base_ids_set: set[str] = set()
            for h in base_handles:
                table = self._store.manifest_table(h.storage_key, h.manifest_version, ["record_id"])
                base_ids_set.update(table.column("record_id").to_pylist())
            added = {rid for rid in training.ids if rid not in base_ids_set}

        attributed: list[CategoryAttribution] = []
        if targets and not training.ids:
            note = f"{', '.join(checkpoint.versions)} hold no records: nothing to trace"
        if targets and training.ids:
            fn = encode or self._encode or _minilm
            sample = training.sample(MAX_TRAINING)
            texts = training.texts(self._store, sample)
            vectors = np.asarray(fn(texts), dtype=float).reshape(len(texts), -1)
            tracer = _Tracer(self._sessions, self._store, training)
            for comparison in targets:
                failing = [
                    e for e in examples if e.category == comparison.category and e.passed is False
                ][:MAX_FAILURES]
                attributed.append(
                    self._attribute_category(
                        comparison, failing, fn, vectors, sample, k, tracer, added
                    )
                )
        return Attribution(
            checkpoint=checkpoint.name,
            baseline=base_ckpt.name if base_ckpt else None,
            runs=run_ids,
            baseline_runs=base_ids,
            k=k,
            training_versions=checkpoint.versions,
            training_records=len(training.ids),
            embedded_records=min(len(training.ids), MAX_TRAINING),
            categories=categories,
            attributed=attributed,
            diff=diff,
            note=note,
        )

    # -- steps -----------------------------------------------------------------------------------

    def _runs(self, name: str, wanted: list[int] | None) -> list[int]:
        """The named runs (each must be of the checkpoint), else the latest run of each
        source; an error when the checkpoint has none."""
        runs: list[EvalRun] = self._evaluation.runs(model_ckpt=name)
        if wanted:
            mine = {r.id for r in runs}
            for run_id in wanted:
                run = self._evaluation.run(run_id)  # NotFound for an unknown id
                if run_id not in mine:
                    raise ValidationError(
                        f"evaluation run {run_id} is of {run.checkpoint}, not of {name}"
                    )
            return sorted(set(wanted))
        if not runs:
            raise NotFoundError(
                f"{name} has no evaluation runs (add one with 'curata eval ingest --model {name}')"
            )
        latest: dict[tuple[str, str], int] = {}
        for r in runs:  # newest first
            latest.setdefault((r.source_kind, r.source), r.id)
        return sorted(latest.values())

    @staticmethod
    def _targets(
        categories: list[CategoryComparison], with_baseline: bool
    ) -> tuple[list[CategoryComparison], str | None]:
        failing = [c for c in categories if c.category != "all" and c.failed > 0]
        if not with_baseline:
            return failing, None if failing else "no failures to attribute"
        regressed = [c for c in failing if c.regressed]
        if regressed:
            return regressed, None
        if not failing:
            return [], "no failures to attribute"
        return failing, (
            "no category regressed (no interval entirely below 0): attributing every category "
            "with failures"
        )

    def _diff(self, new: list[VersionHandle], old: list[VersionHandle]) -> list[dict[str, Any]]:
        """Per dataset, records added and removed from the baseline's version to the
        checkpoint's (a dataset only one of them trained on counts whole)."""
        by_name_new = {h.version.dataset: h for h in new}
        by_name_old = {h.version.dataset: h for h in old}
        out = []
        for name in sorted(set(by_name_new) | set(by_name_old)):
            a, b = by_name_old.get(name), by_name_new.get(name)
            if a is not None and b is not None:
                d = self._datasets.diff(a.version.ref, b.version.ref, by_key=False, samples=0)
                out.append(
                    {"dataset": name, "baseline": a.version.ref, "checkpoint": b.version.ref,
                     "added": d.added, "removed": d.removed, "unchanged": d.unchanged}
                )  # fmt: skip
            elif b is not None:
                out.append(
                    {"dataset": name, "baseline": None, "checkpoint": b.version.ref,
                     "added": b.version.record_count, "removed": 0, "unchanged": 0}
                )  # fmt: skip
            else:
                assert a is not None
                out.append(
                    {"dataset": name, "baseline": a.version.ref, "checkpoint": None,
                     "added": 0, "removed": a.version.record_count, "unchanged": 0}
                )  # fmt: skip
        return out

    def _attribute_category(
        self,
        comparison: CategoryComparison,
        failing: list[EvalExample],
        encode: Encode,
        vectors: np.ndarray,
        sample: np.ndarray,
        k: int,
        tracer: _Tracer,
        added: set[str] | None,
    ) -> CategoryAttribution:
        if not failing:
            return CategoryAttribution(comparison, 0, 0, [], [], None)
        queries = np.asarray(encode([e.input for e in failing]), dtype=float)
        queries = queries.reshape(len(failing), -1)
        order, sims = nearest(queries, vectors, k)
        hits: dict[int, int] = defaultdict(int)
        best: dict[int, float] = {}
        for row_order, row_sims in zip(order, sims, strict=True):
            for j, s in zip(row_order, row_sims, strict=True):
                index = int(sample[int(j)])
                hits[index] += 1
                best[index] = max(best.get(index, -1.0), float(s))
        traced = tracer.trace(sorted(hits))
        weights: list[Weight] = []
        for index, record in traced.items():
            record.hits = hits[index]
            record.best_similarity = best[index]
            record.in_added = (record.record_id in added) if added is not None else None
            weights.extend(pair_weights(record, hits[index]))
        suspects = rank(comparison.category, weights, tracer.gold, added, comparison)
        records = sorted(traced.values(), key=lambda r: (-r.hits, -r.best_similarity))
        pairs = sum(hits.values())
        added_share = (
            sum(hits[i] for i, r in traced.items() if r.in_added) / pairs
            if added is not None and pairs
            else None
        )
        return CategoryAttribution(comparison, len(failing), len(failing), records, suspects,
                                   added_share)  # fmt: skip


def _minilm(texts: list[str]) -> Any:
    from curata.stats.typed import minilm_encode

    return minilm_encode(texts)


# -- reading the training data and its lineage --------------------------------------------------


@dataclass
class _TrainingSet:
    """The checkpoint's training records: one entry per distinct record id (the first training
    version holding it), with its store row and manifest source."""

    ids: list[str]
    rows: np.ndarray
    version_of: list[int]  # index into handles
    sources: list[str | None]
    origins: list[str | None]
    handles: list[VersionHandle]

    @classmethod
    def load(cls, store: RecordStore, handles: list[VersionHandle]) -> _TrainingSet:
        seen: set[str] = set()
        ids: list[str] = []
        rows: list[int] = []
        version_of: list[int] = []
        sources: list[str | None] = []
        origins: list[str | None] = []
        for i, h in enumerate(handles):
            table = store.manifest_table(
                h.storage_key, h.manifest_version, ["record_id", "row", "source", "origin"]
            )
            for rid, row, source, origin in zip(
                table.column("record_id").to_pylist(),
                table.column("row").to_pylist(),
                table.column("source").to_pylist(),
                table.column("origin").to_pylist(),
                strict=True,
            ):
                if rid in seen:
                    continue
                seen.add(rid)
                ids.append(rid)
                rows.append(row)
                version_of.append(i)
                sources.append(source)
                origins.append(origin)
        return cls(ids, np.asarray(rows, dtype=np.int64), version_of, sources, origins, handles)

    def sample(self, limit: int) -> np.ndarray:
        """Indices of the records to embed: all, or an even stride of ``limit``."""
        n = len(self.ids)
        if n <= limit:
            return np.arange(n)
        return np.unique(np.linspace(0, n - 1, limit).astype(np.int64))

    def texts(self, store: RecordStore, indices: np.ndarray) -> list[str]:
        out: list[str] = []
        for start in range(0, len(indices), 10_000):
            chunk = indices[start : start + 10_000]
            out.extend(flat_text(r) for r in store.take_records(self.rows[chunk]))
        return out


class _Tracer:
    """Traces training records (by index into the training set) through lineage."""

    def __init__(
        self, sessions: sessionmaker[Session], store: RecordStore, training: _TrainingSet
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._training = training
        self._projects: dict[str, _ProjectPeople] = {}
        self._release: dict[int, tuple[str, str, datetime] | None] = {}

    def trace(self, indices: list[int]) -> dict[int, TracedRecord]:
        t = self._training
        by_version: dict[int, list[int]] = defaultdict(list)
        for i in indices:
            by_version[t.version_of[i]].append(i)
        out: dict[int, TracedRecord] = {}
        with self._sessions() as session:
            previews = {
                i: flat_text(r)
                for i, r in zip(indices, self._store.take_records(t.rows[indices]), strict=True)
            }
            for v, members in by_version.items():
                handle = t.handles[v]
                entered = self._entered(session, handle, [t.ids[i] for i in members])
                release = self._release_of(session, handle.version_id)
                for i in members:
                    rid = t.ids[i]
                    text = previews[i]
                    out[i] = TracedRecord(
                        record_id=rid,
                        preview=text if len(text) <= 80 else text[:79] + "…",
                        training_version=handle.version.ref,
                        entered=entered[rid],
                        source=t.sources[i],
                        origin=t.origins[i],
                        curation=self._curation(session, rid),
                    )
                if release is not None:
                    project, ref, ended = release
                    people = self._people(session, project)
                    for i in members:
                        out[i].project, out[i].release = project, ref
                        # a record curated after its release was labelled as what it was
                        before = [c["from"] for c in out[i].curation if c["from"]]
                        for rid in [t.ids[i], *before]:
                            out[i].annotators = people.of(rid, ended)
                            if out[i].annotators:
                                break
        return out

    def _entered(self, session: Session, handle: VersionHandle, ids: list[str]) -> dict[str, str]:
        """The first version of the training version's dataset holding each record."""
        dataset = session.scalar(
            select(DatasetRow).where(DatasetRow.name == handle.version.dataset)
        )
        assert dataset is not None
        versions = session.scalars(
            select(VersionRow)
            .where(
                VersionRow.dataset_id == dataset.id,
                VersionRow.number <= handle.version.number,
            )
            .order_by(VersionRow.number)
        ).all()
        found: dict[str, str] = {}
        for version in versions:
            left = [rid for rid in ids if rid not in found]
            if not left:
                break
            table = self._store.manifest_table(
                dataset.storage_key, version.manifest_version, ["record_id"]
            )
            present = pc.is_in(
                pa.array(left, pa.string()), value_set=table.column("record_id").combine_chunks()
            ).to_pylist()
            for rid, hit in zip(left, present, strict=True):
                if hit:
                    found[rid] = f"{dataset.name}@{version.number}"
        return {rid: found.get(rid, handle.version.ref) for rid in ids}

    def _release_of(self, session: Session, version_id: int) -> tuple[str, str, datetime] | None:
        """The annotation release nearest upstream of a version: (project, version ref, when)."""
        if version_id in self._release:
            return self._release[version_id]
        queue, seen, found = [version_id], set(), None
        while queue and found is None:
            vid = queue.pop(0)
            if vid in seen:
                continue
            seen.add(vid)
            version = session.get(VersionRow, vid)
            assert version is not None
            op = session.get(OperationRow, version.operation_id)
            assert op is not None
            if op.kind == "release" and op.parameters.get("project"):
                ds = session.get(DatasetRow, version.dataset_id)
                assert ds is not None
                found = (
                    str(op.parameters["project"]),
                    f"{ds.name}@{version.number}",
                    as_utc(op.ended_at),
                )
                break
            queue.extend(
                v
                for v in session.scalars(
                    select(OperationInputRow.version_id).where(
                        OperationInputRow.operation_id == op.id,
                        OperationInputRow.version_id.is_not(None),
                    )
                )
                if v is not None
            )
        self._release[version_id] = found
        return found

    @staticmethod
    def _curation(session: Session, record_id: str) -> list[dict[str, Any]]:
        """The curation events that made this record (a change into it, back through what it
        was), and any that touched it without dropping it, oldest step last."""
        out: list[dict[str, Any]] = []
        current, seen = record_id, set()
        for _ in range(CURATION_DEPTH):
            if current in seen:
                break
            seen.add(current)
            rows = session.execute(
                select(CurationEventRow, StepRunRow)
                .join(StepRunRow, StepRunRow.id == CurationEventRow.step_run_id)
                .where(
                    or_(CurationEventRow.new_id == current, CurationEventRow.record_id == current)
                )
                .order_by(CurationEventRow.id)
            ).all()
            previous = None
            for event, step in rows:
                if event.record_id == current and event.new_id != current and event.new_id:
                    continue  # what it later became: not this record's past
                out.append(
                    {
                        "step": step.name,
                        "operation_id": step.operation_id,
                        "action": event.action,
                        "reason": event.reason,
                        "from": event.record_id if event.new_id == current else None,
                    }
                )
                if event.new_id == current and event.record_id != current:
                    previous = event.record_id
            if previous is None:
                break
            current = previous
        return out

    def _people(self, session: Session, project: str) -> _ProjectPeople:
        if project not in self._projects:
            self._projects[project] = _ProjectPeople.read(session, project)
        return self._projects[project]

    def gold(self, project: str, cohort: str, start: datetime, end: datetime) -> GoldAccuracy:
        people = self._projects[project]
        return people.gold(cohort, start, end)


@dataclass
class _ProjectPeople:
    """A project's counted annotations, who made them, and every gold check."""

    name: str
    by_record: dict[str, list[CountedAnnotation]]
    users: dict[int, str]
    vendors: dict[int, str | None]
    cohorts: dict[int, list[str]]
    checks: list[tuple[int, datetime, bool]]  # (user, when, right)

    @classmethod
    def read(cls, session: Session, name: str) -> _ProjectPeople:
        project = session.scalar(select(ProjectRow).where(ProjectRow.name == name))
        if project is None:  # released, then the project was removed: nothing to say
            return cls(name, {}, {}, {}, {}, [])
        rows = counted_annotations(session, project_id=project.id)
        record_of = dict(
            session.execute(
                select(TaskRow.id, TaskRow.record_id).where(TaskRow.project_id == project.id)
            ).all()
        )
        by_record: dict[str, list[CountedAnnotation]] = defaultdict(list)
        checks: list[tuple[int, datetime, bool]] = []
        for a in rows:
            if a.kind == "live":
                by_record[record_of[a.task_id]].append(a)
            known = a.known
            if known is not None:
                for _, right in gold_checks(a.submitted, known):
                    checks.append((a.user_id, as_utc(a.submitted_at), right))
        vendor_names = dict(session.execute(select(VendorRow.id, VendorRow.name)).all())
        users = {}
        vendors: dict[int, str | None] = {}
        for user in session.scalars(select(UserRow)):
            users[user.id] = user.name
            vendors[user.id] = vendor_names.get(user.vendor_id) if user.vendor_id else None
        cohorts: dict[int, list[str]] = defaultdict(list)
        for user_id, cohort in session.execute(
            select(CohortMemberRow.user_id, CohortRow.name)
            .join(CohortRow, CohortRow.id == CohortMemberRow.cohort_id)
            .order_by(CohortRow.name)
        ):
            cohorts[user_id].append(cohort)
        return cls(name, dict(by_record), users, vendors, dict(cohorts), checks)

    def of(self, record_id: str, released_at: datetime) -> list[Annotator]:
        """The annotations behind a record's released label (those submitted by the release)."""
        return [
            Annotator(
                user=self.users.get(a.user_id, str(a.user_id)),
                cohorts=list(self.cohorts.get(a.user_id, [])),
                vendor=self.vendors.get(a.user_id),
                guideline_version=a.guideline_version,
                submitted_at=as_utc(a.submitted_at),
            )
            for a in self.by_record.get(record_id, [])
            if as_utc(a.submitted_at) <= released_at
        ]

    def gold(self, cohort: str, start: datetime, end: datetime) -> GoldAccuracy:
        members = {u for u, names in self.cohorts.items() if cohort in names}
        right = answered = c_right = c_answered = p_right = p_answered = 0
        for user, at, ok in self.checks:
            p_right += ok
            p_answered += 1
            if user in members:
                c_right += ok
                c_answered += 1
                if start <= at <= end:
                    right += ok
                    answered += 1
        return GoldAccuracy(
            cohort, start, end, right, answered, c_right, c_answered, p_right, p_answered
        )
