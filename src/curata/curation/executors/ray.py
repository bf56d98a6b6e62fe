"""The Ray executor: the local executor's passes, with the per-record work on a Ray cluster.

Same pipeline, same steps, same result as :func:`curata.curation.executors.local.run`: the
same records in the same order, the same events and the same counts. What decides the result
in stream order stays on the driver; what does not goes to the workers:

- Workers *trace* each input batch through the steps that are not ``needs_all`` (a needs-all
  step is passed over as if it kept every record) and return only the decisions that are not
  "keep", by the record's place in the batch. In a collecting pass they also ``summarize`` the
  records that reach the needs-all step (taken from the trace's copy of the batch, which stays
  in the object store).
- The driver reads the input, then *replays* each batch in batch order as the local executor
  runs it: a step's decisions come from the trace, a needs-all step's ``apply`` runs here, on
  the one prepared copy (its ``prepare`` saw the stream in order, and ``apply`` is called on
  every batch in that order, as the step interface promises: ``exact_dedup`` counts stream
  positions), and every decision goes through the local executor's own bookkeeping
  (``local._decide``: events, counts, and the rule that a change into an id already in the
  data is a drop, which depends on everything before it in the stream). ``prepare`` gets the
  summaries in batch order; surviving records are emitted in batch order.

Why the replay equals the local run: a step that is not ``needs_all`` decides each record on
its own (its decision does not depend on the other records of the batch; true of every
built-in step), and steps are deterministic. The trace may show a step records the true run
never gives it (those a needs-all step or the unique-id rule drops first): their decisions are
ignored, and the other records' decisions are the same. A record a needs-all step changes has
no trace past that step; the driver applies the later steps to it itself. A trace that fails
(a step raised) is redone on the driver, which raises the local executor's own error if the
true run fails, and goes on if the failure was on a record the true run never reaches.

Prepared needs-all steps are never sent to workers. At most 2 x the cluster's CPUs batches
are in flight per stage (tracing, summarising), which bounds the driver's memory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from curata.core.errors import CurataError, ValidationError
from curata.core.records import Record
from curata.curation.executors import local
from curata.curation.executors.local import (
    Batches,
    Event,
    Input,
    Progress,
    RunResult,
    StepFailed,
    StepStats,
)
from curata.curation.pipeline import Pipeline
from curata.curation.steps.base import KEEP, Decision, Item, Step

Traced = tuple[str, Record, str | None, str | None, int | None]
"""An input record as replayed: its place in the batch when its trace holds, else None."""
Trace = tuple[list[dict[int, Decision]], list[float]]
"""Per step, the decisions that are not "keep" by place in the batch; per step, seconds."""
T = TypeVar("T")

_TASK_CACHE: dict[str, Any] = {}  # in a worker: the steps of the current pass, by object id


class RayExecutorError(CurataError):
    """Ray could not be started or reached, or lost a task's result."""


def run(
    pipeline: Pipeline,
    batches: Batches,
    total: int,
    *,
    emit: Callable[[list[Input]], None],
    input_ids: set[str] | None = None,
    progress: Progress | None = None,
    address: str | None = None,
) -> RunResult:
    """Run ``pipeline`` on Ray; the arguments and the result are those of ``local.run``.

    ``address`` is a Ray cluster to connect to (``ray.init(address=...)``); None starts a
    local one with every CPU of this machine. A Ray session already initialised in this
    process is used as it is; one this call starts is shut down when it returns.
    """
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        _connect(ray, address)
    try:
        return _Run(ray, pipeline, batches, total, emit, input_ids, progress).run()
    finally:
        if started_here:
            ray.shutdown()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValidationError("the ray executor needs Ray: pip install 'curata[ray]'") from None
    return ray


def _connect(ray: Any, address: str | None) -> None:
    quiet = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False}
    try:
        if address is None:
            ray.init(num_cpus=os.cpu_count() or 1, **quiet)
        else:
            ray.init(address=address, **quiet)
    except Exception as exc:
        where = "a local Ray cluster" if address is None else f"the Ray cluster at {address}"
        raise RayExecutorError(
            f"could not start or reach {where}: {type(exc).__name__}: {exc}"
        ) from exc


class _Run:
    """One run: the driver's state (steps, stats, ids produced so far) across its passes."""

    def __init__(
        self,
        ray: Any,
        pipeline: Pipeline,
        batches: Batches,
        total: int,
        emit: Callable[[list[Input]], None],
        input_ids: set[str] | None,
        progress: Progress | None,
    ) -> None:
        self.ray = ray
        self.batches = batches
        self.total = total
        self.emit = emit
        self.progress = progress
        self.given = input_ids if input_ids is not None else set()
        self.produced: set[str] = set()
        self.steps = [spec.build() for spec in pipeline.steps]
        self.names = [spec.name for spec in pipeline.steps]
        self.stats = [StepStats(i, name) for i, name in enumerate(self.names)]
        self.barriers = [i for i, s in enumerate(self.steps) if s.needs_all]
        self.done = 0
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.window = max(2, 2 * cpus)
        self.trace_task = ray.remote(_trace).options(num_returns=2)
        self.summarize_task = ray.remote(_summarize)
        # what workers run: every step but the needs-all ones, sent once
        self.traced = self._put((self.names, [None if s.needs_all else s for s in self.steps]))

    def run(self) -> RunResult:
        for barrier in self.barriers:
            step = self.steps[barrier]
            summarizer = self._put((self.names[barrier], step))
            prepared = local.prepare_timed(step, self._summaries(barrier, summarizer))
            self.stats[barrier].seconds += prepared
        result = RunResult(self.stats)
        self.produced.clear()
        for batch, trace in self._traces(len(self.steps), keep_view=False):
            result.records_in += len(batch)
            items = self._replay(batch, self._get_trace(trace), len(self.steps), result.events)
            kept = [(rid, record, source, origin) for rid, record, source, origin, _ in items]
            result.records_out += len(kept)
            self.emit(kept)
            self._tick(len(batch), "applying")
        return result

    # -- the passes -----------------------------------------------------------------------

    def _summaries(self, barrier: int, summarizer: Any) -> Iterator[Any]:
        """Every batch's summary for the needs-all step at ``barrier``, in batch order."""
        label = f"{self.names[barrier]} (collecting)"
        self.produced.clear()

        def submitted() -> Iterator[tuple[int, list[Item], Any]]:
            for batch, refs in self._traces(barrier, keep_view=True):
                trace, view_ref = self._get_trace(refs), refs[1]
                items = self._replay(batch, trace, barrier, None)
                pairs: list[Item] = [(rid, record) for rid, record, _, _, _ in items]
                if trace is None:  # the view is lost with the trace: send the records
                    picks: list[int | Item] = list(pairs)
                    view_ref = None
                else:
                    picks = [i if i is not None else (rid, r) for rid, r, _, _, i in items]
                ref = self.summarize_task.remote([summarizer], view_ref, picks)
                yield len(batch), pairs, ref

        for size, pairs, ref in _ahead(submitted(), self.window):
            try:
                summary, seconds = self.ray.get(ref)
            except self.ray.exceptions.RayTaskError:  # redo it here: the step's own error
                started = time.perf_counter()
                summary = local._guard(self.names[barrier], self.steps[barrier].summarize, pairs)
                seconds = time.perf_counter() - started
            except self.ray.exceptions.RayError as exc:
                raise RayExecutorError(f"ray: {type(exc).__name__}: {exc}") from exc
            self.stats[barrier].seconds += seconds
            self._tick(size, label)
            yield summary

    def _traces(self, limit: int, *, keep_view: bool) -> Iterator[tuple[list[Input], Any]]:
        """Each input batch with its trace through ``steps[:limit]`` (refs), in batch order,
        at most ``window`` ahead of the caller."""

        def submitted() -> Iterator[tuple[list[Input], Any]]:
            for batch in self.batches():
                pairs = [(rid, record) for rid, record, _, _ in batch]
                yield batch, self.trace_task.remote([self.traced], limit, pairs, keep_view)

        return _ahead(submitted(), self.window)

    def _get_trace(self, refs: tuple[Any, Any]) -> Trace | None:
        """The trace, or None when a step raised on the worker (the driver redoes it)."""
        try:
            trace: Trace = self.ray.get(refs[0])
        except self.ray.exceptions.RayTaskError:
            with contextlib.suppress(self.ray.exceptions.RayTaskError):
                self.ray.get(refs[1])  # seen, so Ray does not log it as unhandled
            return None
        except self.ray.exceptions.RayError as exc:
            raise RayExecutorError(f"ray: {type(exc).__name__}: {exc}") from exc
        return trace

    # -- the replay -----------------------------------------------------------------------

    def _replay(
        self,
        batch: list[Input],
        trace: Trace | None,
        limit: int,
        events: list[Event] | None,
    ) -> list[Traced]:
        """The batch after ``steps[:limit]``, decided as ``local._through`` decides it; with
        ``events`` (the final pass) counts and records every drop and change."""
        items: list[Traced] = [(rid, r, s, o, i) for i, (rid, r, s, o) in enumerate(batch)]
        present = (self.given, self.produced)
        for position, step in enumerate(self.steps[:limit]):
            if not items:
                break
            s = self.stats[position]
            started = time.perf_counter()
            decisions = self._decisions(position, step, items, trace)
            kept: list[Traced] = []
            for (rid, record, source, origin, place), d in zip(items, decisions, strict=True):
                out = local._decide(position, rid, record, source, origin, d, events, s, present)
                if out is None:
                    continue
                if step.needs_all and out[0] != rid:  # changed here: the trace ends
                    place = None
                kept.append((*out, place))
            if events is not None:
                s.records_in += len(items)
                s.records_out += len(kept)
                s.seconds += time.perf_counter() - started
                if trace is not None:
                    s.seconds += trace[1][position]
            items = kept
        return items

    def _decisions(
        self, position: int, step: Step, items: list[Traced], trace: Trace | None
    ) -> Sequence[Decision]:
        """One decision per item: a needs-all step's own, else the trace's where it holds and
        the step's own (applied here) for the records without one."""
        name = self.names[position]
        if step.needs_all or trace is None:
            here = items
        else:
            here = [item for item in items if item[4] is None]
        computed: list[Decision] = []
        if here:
            computed = local._guard(name, step.apply, [(rid, r) for rid, r, _, _, _ in here])
            if len(computed) != len(here):
                raise StepFailed(
                    f"step {name!r} returned {len(computed)} decisions for {len(here)} records"
                )
        if here is items:
            return computed
        assert trace is not None
        found, own = trace[0][position], iter(computed)
        return [next(own) if i is None else found.get(i, KEEP) for _, _, _, _, i in items]

    # -- plumbing -------------------------------------------------------------------------

    def _put(self, value: Any) -> Any:
        try:
            return self.ray.put(value)
        except Exception as exc:
            raise ValidationError(
                f"the ray executor cannot send the pipeline's steps to its workers "
                f"(a step that cannot be pickled?): {type(exc).__name__}: {exc}"
            ) from exc

    def _tick(self, n: int, what: str) -> None:
        self.done += n
        if self.progress:
            self.progress(self.done, self.total * (len(self.barriers) + 1), what)


def _ahead(source: Iterator[T], window: int) -> Iterator[T]:
    """``source`` in order, pulling up to ``window`` items ahead of the consumer (pulling an
    item is what submits its task)."""
    pending: deque[T] = deque()
    for item in source:
        pending.append(item)
        if len(pending) > window:
            yield pending.popleft()
    while pending:
        yield pending.popleft()


# -- the tasks (run in Ray workers) ---------------------------------------------------------


def _cached(box: list[Any]) -> Any:
    """The object behind the ref in ``box``, fetched once per worker process and pass."""
    import ray

    key = box[0].hex()
    if key not in _TASK_CACHE:
        if len(_TASK_CACHE) >= 4:
            _TASK_CACHE.clear()
        _TASK_CACHE[key] = ray.get(box[0])
    return _TASK_CACHE[key]


def _trace(
    box: list[Any], limit: int, batch: list[Item], keep_view: bool
) -> tuple[Trace, list[Item | None] | None]:
    """Apply ``steps[:limit]`` (all but the needs-all ones) to the batch; the decisions that
    are not "keep", the seconds per step and, with ``keep_view``, the batch after them."""
    names, steps = _cached(box)
    alive = [(i, rid, record) for i, (rid, record) in enumerate(batch)]
    decisions: list[dict[int, Decision]] = []
    seconds: list[float] = []
    for name, step in zip(names[:limit], steps[:limit], strict=True):
        found: dict[int, Decision] = {}
        decisions.append(found)
        started = time.perf_counter()
        if step is not None and alive:
            out = local._guard(name, step.apply, [(rid, r) for _, rid, r in alive])
            if len(out) != len(alive):
                raise StepFailed(
                    f"step {name!r} returned {len(out)} decisions for {len(alive)} records"
                )
            survivors = []
            for (i, rid, record), d in zip(alive, out, strict=True):
                if d.action == "keep":
                    survivors.append((i, rid, record))
                    continue
                found[i] = d
                if d.action == "change" and d.record is not None and d.record.id != rid:
                    survivors.append((i, d.record.id, d.record))
                elif d.action == "change":
                    survivors.append((i, rid, record))
            alive = survivors
        seconds.append(time.perf_counter() - started)
    view: list[Item | None] | None = None
    if keep_view:
        view = [None] * len(batch)
        for i, rid, record in alive:
            view[i] = (rid, record)
    return (decisions, seconds), view


def _summarize(
    box: list[Any], view: list[Item | None] | None, picks: list[int | Item]
) -> tuple[Any, float]:
    """The needs-all step's summary of the records that reach it (by place in the traced
    view, or given), and the seconds it took."""
    name, step = _cached(box)
    items: list[Item] = []
    for pick in picks:
        if isinstance(pick, int):
            assert view is not None
            traced = view[pick]
            assert traced is not None, "a record the trace dropped cannot reach the step"
            items.append(traced)
        else:
            items.append(pick)
    started = time.perf_counter()
    summary = local._guard(name, step.summarize, items)
    return summary, time.perf_counter() - started
