"""Trace and replay: the local executor's passes, with the per-record work on a pool of workers.

One algorithm for every executor that has workers (a local process pool, a Ray cluster); the
pool is a parameter (:class:`Pool`). Same pipeline, same steps, same result as the in-process
run (:func:`curata.curation.executors.local.run` with one worker): the same records in the same
order, the same events and the same counts. It makes the in-process run's passes (one per
needs-all step plus the final one), and like it runs each step once per record (issue #17):
pass *k* reads the stream as pass *k - 1* left it (spilled by the driver to an Arrow IPC file in
the run's scratch directory; pass 0 reads the input) and runs the steps from the (*k - 1*)-th
needs-all step up to the *k*-th. What decides the result in stream order stays on the driver;
what does not goes to the workers:

- Workers *trace* each batch of the pass through its steps that are not ``needs_all`` (a
  needs-all step is passed over as if it kept every record) and return only the decisions that
  are not "keep", by the record's place in the batch. In a collecting pass they also
  ``summarize`` the records that reach the needs-all step (by place in the trace's copy of the
  batch where the pool keeps that copy near its workers, as Ray's object store does; else the
  driver sends those records).
- The driver *replays* each batch in batch order as the in-process run runs it: a step's
  decisions come from the trace, a needs-all step's ``apply`` runs here, on the one prepared
  copy (prepared steps are never sent to workers; its ``prepare`` got the summaries in batch
  order, so ties such as "the first in the stream" fall as in-process), and every decision
  goes through the in-process run's own bookkeeping (``local._decide``: events, counts, and
  the rule that a change into an id already in the data is a drop). That rule depends on
  everything before it in the stream: each id a change produced is kept with the (batch, step)
  that produced it, so a step sees the ids produced before it in single-pass order. The one
  order the passes cannot see in advance (a change at a later step of an earlier batch into an
  id a later batch produced at an earlier step, on an earlier pass) makes the run start over
  the way it ran before issue #17: each pass traced from the input through every step before
  its needs-all step (:meth:`_Run._recompute`), without emitting again the batches already
  emitted. Surviving records are emitted in batch order; each pass's events are spilled and
  read back merged by input batch.

Why the replay equals the in-process run: a step that is not ``needs_all`` decides each record
on its own (its decision does not depend on the other records of the batch; true of every
built-in step), and steps are deterministic. The trace may show a step records the true run
never gives it (those a needs-all step or the unique-id rule drops first): their decisions are
ignored, and the other records' decisions are the same. A record a needs-all step changes has
no trace past that step; the driver applies the later steps to it itself. A task that fails (a
step raised) is redone on the driver, which raises the in-process run's own error if the true
run fails, and goes on if the failure was on a record the true run never reaches.

Workers get the pipeline's steps once, as built before any pass (:class:`Work`); prepared
needs-all steps are never sent. At most ``pool.window`` batches are in flight per stage
(tracing, summarising), which bounds the driver's memory; the input's ids and the ids changes
produced are kept on disk in the run's scratch directory (id maps, :class:`DiskMap`) when the
caller gives the ids as batches, as the service does.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from curata.core.records import Record
from curata.curation.diskmap import DiskMap
from curata.curation.executors import local
from curata.curation.executors.local import (
    Batches,
    Event,
    IdBatches,
    Ids,
    Input,
    Produced,
    Progress,
    RunResult,
    StepFailed,
    StepStats,
    _Diverged,
    _Memory,
    _merged,
    _SetIds,
)
from curata.curation.pipeline import Pipeline
from curata.curation.scratch import RecordSpill, Spill
from curata.curation.scratch import area as scratch_area
from curata.curation.steps.base import KEEP, Decision, Item, Step

Traced = tuple[str, Record, str | None, str | None, int | None]
"""An input record as replayed: its place in the batch when its trace holds, else None."""
Trace = tuple[list[dict[int, Decision]], list[float]]
"""Per step, the decisions that are not "keep" by place in the batch; per step, seconds."""
Pick = int | Item
"""A record for ``summarize``: its place in the traced view of the batch, or the record."""
T = TypeVar("T")


@dataclass(frozen=True)
class Work:
    """What workers run: the pipeline's step names and steps, as built before any pass."""

    names: list[str]
    steps: list[Step]


class TaskFailed(Exception):
    """A worker's task raised (a step's own error): the driver redoes that work itself."""


class Pool(Protocol):
    """Where trace and summarize tasks run. Tasks are submitted in batch order and their
    results fetched in the same order; a task that raised gives :class:`TaskFailed`, a pool
    that broke (a lost worker, an unreachable cluster) its own :class:`CurataError`."""

    window: int
    """Batches a stage may have in flight."""

    def trace(self, start: int, limit: int, batch: list[Item], keep_view: bool) -> Any:
        """Submit :func:`trace` of ``batch`` through ``steps[start:limit]``; a pending
        trace."""
        ...

    def trace_result(self, pending: Any) -> tuple[Trace, Any]:
        """The trace, and a handle on the traced view to pass to :meth:`summarize` (None
        when the pool keeps no view near its workers)."""
        ...

    def summarize(self, barrier: int, view: Any, picks: list[Pick]) -> Any:
        """Submit :func:`summarize` of ``picks`` by the needs-all step at ``barrier``."""
        ...

    def summary_result(self, pending: Any) -> tuple[Any, float]:
        """The summary and the seconds ``summarize`` took."""
        ...


PoolOpener = Callable[[Work], AbstractContextManager[Pool]]
"""Starts a pool for one run's :class:`Work`, which it copies for its workers before it
returns (the driver then prepares its own steps); leaving the context stops it."""


def run(
    pipeline: Pipeline,
    batches: Batches,
    total: int,
    *,
    emit: Callable[[list[Input]], None],
    input_ids: set[str] | None = None,
    ids: IdBatches | None = None,
    progress: Progress | None = None,
    pool: PoolOpener,
    scratch: Path | None = None,
) -> RunResult:
    """Run ``pipeline`` with its per-record work on ``pool``; the other arguments and the
    result are those of ``local.run``. ``scratch`` is a directory of the driver's for the
    passes' files, where each needs-all step also keeps its state on disk
    (:attr:`~curata.curation.steps.base.Step.scratch`; None: a temporary one). Given the
    input's ids as batches (``ids``), the run keeps them, and the ids changes produce, on disk
    there (:class:`DiskMap`); given a set (``input_ids``), in memory."""
    steps = [spec.build() for spec in pipeline.steps]
    names = [spec.name for spec in pipeline.steps]
    with pool(Work(names, steps)) as opened:
        run = _Run(opened, pipeline, steps, names, batches, total, emit, progress, scratch)
        return run.run(input_ids, ids)


class _Run:
    """One run: the driver's state (steps, stats, ids produced so far) across its passes."""

    def __init__(
        self,
        pool: Pool,
        pipeline: Pipeline,
        steps: list[Step],
        names: list[str],
        batches: Batches,
        total: int,
        emit: Callable[[list[Input]], None],
        progress: Progress | None,
        scratch: Path | None = None,
    ) -> None:
        self.pool = pool
        self.pipeline = pipeline
        self.scratch = scratch
        self.batches = batches
        self.total = total
        self.emit = emit
        self.progress = progress
        self.given: Ids = _SetIds(set())
        """The input's ids."""
        self.produced: Produced = _Memory()
        """The passes: each id a change produced, with the (batch, step) that produced it."""
        self.seen: set[str] = set()
        """The fallback (:meth:`_recompute`): the ids changes produced so far in its pass."""
        self.steps = steps  # the workers' copies were taken when the pool opened
        self.names = names
        self.stats = [StepStats(i, name) for i, name in enumerate(names)]
        self.barriers = [i for i, s in enumerate(self.steps) if s.needs_all]
        self.done = 0
        self.sizes: list[int] = []

    def run(self, input_ids: set[str] | None, ids: IdBatches | None) -> RunResult:
        if self.scratch is not None:  # the caller's: the result's events are read from it
            return self._run_in(self.scratch, input_ids, ids)
        with scratch_area(None) as own:
            result = self._run_in(own.path, input_ids, ids)
            result.events = [e for part in result.event_batches() for e in part]
            result.spilled = None
            return result

    def _run_in(self, here: Path, input_ids: set[str] | None, ids: IdBatches | None) -> RunResult:
        here.mkdir(parents=True, exist_ok=True)
        maps: list[DiskMap] = []
        try:
            if ids is not None:
                given = DiskMap(here / "replay-given.sqlite")
                maps.append(given)
                for part in ids():
                    given.add_many(part)
                self.given = given
                self.produced = DiskMap(here / "replay-produced.sqlite")
                maps.append(self.produced)
            elif input_ids is not None:
                self.given = _SetIds(input_ids)
            try:
                return self._passes(here)
            except _Diverged as diverged:
                return self._recompute(here, diverged.emitted)
        finally:
            for opened in maps:
                opened.close()

    # -- the passes: each step once per record ----------------------------------------------

    def _passes(self, here: Path) -> RunResult:
        """The in-process run's passes (:class:`local._InProcess`): pass *k* takes what pass
        *k - 1* left (pass 0: the input), its workers trace the steps from the (*k - 1*)-th
        needs-all step up to the *k*-th (the needs-all step itself runs here), the survivors
        are spilled for pass *k + 1* and their summaries feed the *k*-th needs-all step. Each
        pass counts and records its own steps' drops and changes; the events are read back
        merged by input batch. The unique-id rule sees the ids produced before it in stream
        order by their (batch, step); a change into an id a later batch produced at an earlier
        step cannot be decided in this order (:class:`_Diverged`: the run starts over)."""
        ends = [*self.barriers, len(self.steps)]
        starts = [0, *self.barriers]
        spills: list[Spill] = []
        result = RunResult(self.stats)
        for k, (start, end) in enumerate(zip(starts, ends, strict=True)):
            source: Iterator[list[Input]]
            if k == 0:
                source = self._sized(result)
            else:
                source = RecordSpill(here / f"replay-records-{k - 1}.arrow", existing=True).read()
            events = Spill(here / f"replay-events-{k}.arrow")
            spills.append(events)
            traced = enumerate(self._traces(source, start, end, keep_view=end < len(self.steps)))
            if end == len(self.steps):  # the final pass
                for number, (batch, pending) in traced:
                    trace, _ = self._get_trace(pending)
                    noted: list[Event] = []
                    try:
                        items = self._replay_pass(batch, trace, number, start, end, noted)
                    except _Diverged:  # the batches before this one were emitted, rightly
                        raise _Diverged(number) from None
                    events.write(noted)
                    kept = [(rid, record, src, origin) for rid, record, src, origin, _ in items]
                    result.records_out += len(kept)
                    self.emit(kept)
                    self._tick(self.sizes[number], "applying")
                events.close()
                result.spilled = _merged(spills)
                return result
            survivors = RecordSpill(here / f"replay-records-{k}.arrow")
            summaries = self._pass_summaries(traced, start, end, events, survivors)
            prepared = local.prepare_timed(self.steps[end], summaries, here / f"step-{end}")
            self.stats[end].seconds += prepared
            for _ in summaries:  # a prepare that stopped early: the later passes need every batch
                pass
            events.close()
            survivors.close()
        raise AssertionError("the last pass returns")  # pragma: no cover

    def _sized(self, result: RunResult) -> Iterator[list[Input]]:
        """The input's batches, noting their sizes (the later passes' progress)."""
        for batch in self.batches():
            self.sizes.append(len(batch))
            result.records_in += len(batch)
            yield batch

    def _pass_summaries(
        self,
        traced: Iterator[tuple[int, tuple[list[Input], Any]]],
        start: int,
        end: int,
        events: Spill,
        survivors: RecordSpill,
    ) -> Iterator[Any]:
        """Every batch's summary for the needs-all step at ``end``, in batch order; each batch
        replayed through ``steps[start:end]`` first, its events and survivors spilled."""
        label = f"{self.names[end]} (collecting)"

        def submitted() -> Iterator[tuple[int, list[Item], Any]]:
            for number, (batch, pending) in traced:
                trace, view = self._get_trace(pending)
                noted: list[Event] = []
                items = self._replay_pass(batch, trace, number, start, end, noted)
                events.write(noted)
                survivors.write([(rid, r, src, o) for rid, r, src, o, _ in items])
                yield (number, *self._summarize(end, items, trace, view))

        for number, pairs, pending in _ahead(submitted(), self.pool.window):
            yield self._summary(end, pairs, pending)
            self._tick(self.sizes[number], label)

    def _replay_pass(
        self,
        batch: list[Input],
        trace: Trace | None,
        number: int,
        start: int,
        end: int,
        events: list[Event],
    ) -> list[Traced]:
        """Batch ``number`` after ``steps[start:end]`` (its trace covers those steps),
        decided as the in-process run decides it, every drop and change counted and noted."""
        items: list[Traced] = [(rid, r, s, o, i) for i, (rid, r, s, o) in enumerate(batch)]
        for position in range(start, end):
            if not items:
                break
            step = self.steps[position]
            s = self.stats[position]
            started = time.perf_counter()
            decisions = self._decisions(position, step, items, trace, start)
            at = (number, position)
            present: tuple[set[str], set[str]] = (self._blocked(items, decisions, at), set())
            kept = _kept(position, step, items, decisions, events, s, present)
            if present[1]:
                self.produced.put_many((i, at) for i in present[1])
            s.records_in += len(items)
            s.records_out += len(kept)
            s.seconds += time.perf_counter() - started
            if trace is not None:
                s.seconds += trace[1][position - start]
            items = kept
        return items

    def _blocked(
        self, items: list[Traced], decisions: Sequence[Decision], at: tuple[int, int]
    ) -> set[str]:
        """The ids the batch's changes at one step would produce that are already in the data
        before it in stream order (the input's, or produced at an earlier (batch, step))."""
        changes = _new_ids(items, decisions)
        if not changes:
            return set()
        blocked = self.given.contains_many(changes)
        rest = [c for c in changes if c not in blocked]
        for key, where in self.produced.get_many(rest).items() if rest else ():
            if tuple(where) > at:
                raise _Diverged(0)
            blocked.add(key)
        return blocked

    # -- the fallback: every pass traced from the input --------------------------------------

    def _recompute(self, here: Path, emitted: int) -> RunResult:
        """The run again, each pass tracing the steps before its needs-all step from the input
        (fresh steps, fresh counts): the order the unique-id rule is defined by. The first
        ``emitted`` batches are not emitted again (the passes emitted them, decided alike)."""
        self.steps = [spec.build() for spec in self.pipeline.steps]
        self.stats = [StepStats(i, name) for i, name in enumerate(self.names)]
        self.done = 0
        for barrier in self.barriers:
            step = self.steps[barrier]
            prepared = local.prepare_timed(
                step, self._summaries(barrier), here / f"again-step-{barrier}"
            )
            self.stats[barrier].seconds += prepared
        result = RunResult(self.stats)
        self.seen.clear()
        traced = enumerate(self._traces(self.batches(), 0, len(self.steps)))
        for number, (batch, pending) in traced:
            result.records_in += len(batch)
            trace, _ = self._get_trace(pending)
            items = self._replay(batch, trace, len(self.steps), result.events)
            kept = [(rid, record, src, origin) for rid, record, src, origin, _ in items]
            result.records_out += len(kept)
            if number >= emitted:
                self.emit(kept)
            self._tick(len(batch), "applying")
        return result

    def _summaries(self, barrier: int) -> Iterator[Any]:
        """Every batch's summary for the needs-all step at ``barrier``, in batch order."""
        label = f"{self.names[barrier]} (collecting)"
        self.seen.clear()

        def submitted() -> Iterator[tuple[int, list[Item], Any]]:
            for batch, pending in self._traces(self.batches(), 0, barrier, keep_view=True):
                trace, view = self._get_trace(pending)
                items = self._replay(batch, trace, barrier, None)
                yield (len(batch), *self._summarize(barrier, items, trace, view))

        for size, pairs, pending in _ahead(submitted(), self.pool.window):
            yield self._summary(barrier, pairs, pending)
            self._tick(size, label)

    def _replay(
        self,
        batch: list[Input],
        trace: Trace | None,
        limit: int,
        events: list[Event] | None,
    ) -> list[Traced]:
        """The batch after ``steps[:limit]``, decided as the in-process run decides it; with
        ``events`` (the final pass) counts and records every drop and change."""
        items: list[Traced] = [(rid, r, s, o, i) for i, (rid, r, s, o) in enumerate(batch)]
        for position, step in enumerate(self.steps[:limit]):
            if not items:
                break
            s = self.stats[position]
            started = time.perf_counter()
            decisions = self._decisions(position, step, items, trace, 0)
            changes = _new_ids(items, decisions)
            present = (self.given.contains_many(changes) if changes else set(), self.seen)
            kept = _kept(position, step, items, decisions, events, s, present)
            if events is not None:
                s.records_in += len(items)
                s.records_out += len(kept)
                s.seconds += time.perf_counter() - started
                if trace is not None:
                    s.seconds += trace[1][position]
            items = kept
        return items

    # -- shared by both ---------------------------------------------------------------------

    def _traces(
        self, source: Iterator[list[Input]], start: int, limit: int, *, keep_view: bool = False
    ) -> Iterator[tuple[list[Input], Any]]:
        """Each batch of ``source`` with its pending trace through ``steps[start:limit]``, in
        batch order, at most ``window`` ahead of the caller."""

        def submitted() -> Iterator[tuple[list[Input], Any]]:
            for batch in source:
                pairs = [(rid, record) for rid, record, _, _ in batch]
                yield batch, self.pool.trace(start, limit, pairs, keep_view)

        return _ahead(submitted(), self.pool.window)

    def _get_trace(self, pending: Any) -> tuple[Trace | None, Any]:
        """The trace and view, or (None, None) when a step raised on the worker (the driver
        redoes the batch)."""
        try:
            return self.pool.trace_result(pending)
        except TaskFailed:
            return None, None

    def _summarize(
        self, barrier: int, items: list[Traced], trace: Trace | None, view: Any
    ) -> tuple[list[Item], Any]:
        """Submit the summary of the records that reach ``barrier``: by place in the traced
        view where the pool keeps one near its workers, else the records themselves."""
        pairs: list[Item] = [(rid, record) for rid, record, _, _, _ in items]
        picks: list[Pick]
        if trace is None or view is None:
            picks, view = list(pairs), None
        else:
            picks = [i if i is not None else (rid, r) for rid, r, _, _, i in items]
        return pairs, self.pool.summarize(barrier, view, picks)

    def _summary(self, barrier: int, pairs: list[Item], pending: Any) -> Any:
        """A submitted summary; one whose task raised is redone here (the step's own error)."""
        try:
            summary, seconds = self.pool.summary_result(pending)
        except TaskFailed:
            started = time.perf_counter()
            summary = local._guard(self.names[barrier], self.steps[barrier].summarize, pairs)
            seconds = time.perf_counter() - started
        self.stats[barrier].seconds += seconds
        return summary

    def _decisions(
        self,
        position: int,
        step: Step,
        items: list[Traced],
        trace: Trace | None,
        offset: int,
    ) -> Sequence[Decision]:
        """One decision per item: a needs-all step's own, else the trace's (which starts at
        step ``offset``) where it holds and the step's own (applied here) for the records
        without one."""
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
        found, own = trace[0][position - offset], iter(computed)
        return [next(own) if i is None else found.get(i, KEEP) for _, _, _, _, i in items]

    def _tick(self, n: int, what: str) -> None:
        self.done += n
        if self.progress:
            self.progress(self.done, self.total * (len(self.barriers) + 1), what)


def _kept(
    position: int,
    step: Step,
    items: list[Traced],
    decisions: Sequence[Decision],
    events: list[Event] | None,
    s: StepStats,
    present: tuple[set[str], set[str]],
) -> list[Traced]:
    """The items that survive ``decisions`` at ``position``, each through ``local._decide``
    (counts, events, the unique-id rule against ``present``); a record a needs-all step
    changed loses its place in the trace."""
    kept: list[Traced] = []
    for (rid, record, source, origin, place), d in zip(items, decisions, strict=True):
        out = local._decide(position, rid, record, source, origin, d, events, s, present)
        if out is None:
            continue
        if step.needs_all and out[0] != rid:  # changed here: the trace ends
            place = None
        kept.append((*out, place))
    return kept


def _new_ids(items: list[Traced], decisions: Sequence[Decision]) -> list[str]:
    """The ids the changes among ``decisions`` would give their records (where they differ)."""
    return [
        d.record.id
        for (rid, *_), d in zip(items, decisions, strict=True)
        if d.action == "change" and d.record is not None and d.record.id != rid
    ]


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


# -- the tasks (run on workers) -------------------------------------------------------------


def trace(
    work: Work, start: int, limit: int, batch: list[Item], keep_view: bool
) -> tuple[Trace, list[Item | None] | None]:
    """Apply ``steps[start:limit]`` (all but the needs-all ones) to the batch; per step from
    ``start``, the decisions that are not "keep" and the seconds it took; with ``keep_view``,
    the batch after them."""
    alive = [(i, rid, record) for i, (rid, record) in enumerate(batch)]
    decisions: list[dict[int, Decision]] = []
    seconds: list[float] = []
    for name, step in zip(work.names[start:limit], work.steps[start:limit], strict=True):
        found: dict[int, Decision] = {}
        decisions.append(found)
        started = time.perf_counter()
        if not step.needs_all and alive:
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
                elif d.action in ("change", "report"):
                    survivors.append((i, rid, record))
            alive = survivors
        seconds.append(time.perf_counter() - started)
    view: list[Item | None] | None = None
    if keep_view:
        view = [None] * len(batch)
        for i, rid, record in alive:
            view[i] = (rid, record)
    return (decisions, seconds), view


def summarize(
    work: Work, barrier: int, view: list[Item | None] | None, picks: list[Pick]
) -> tuple[Any, float]:
    """The needs-all step's summary of the records that reach it (by place in the traced
    view, or given), and the seconds it took."""
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
    summary = local._guard(work.names[barrier], work.steps[barrier].summarize, items)
    return summary, time.perf_counter() - started
