"""The local executor: streams a version's records through a pipeline in batches.

Memory stays bounded by the batch size plus what each step keeps. A step that needs every
record first (``needs_all``) splits the run into passes: pass *k* runs the steps from the
(*k - 1*)-th such step up to the *k*-th and feeds its summaries to that step's ``prepare``; the
last pass runs the rest and yields the surviving records.

Each step's ``apply`` runs once per record (issue #17). Before each needs-all step, the stream
as it stands (the surviving records with their ids, sources and origins) is written once to an
Arrow IPC file in the run's scratch directory (:mod:`curata.curation.scratch`;
``<home>/scratch/`` in a workspace), and the next pass reads that file instead of the input.
Each pass counts and records what its steps drop and change; the events are spilled per pass
and read back merged by input batch, in the order of a single pass over every step. The rule
that a change into an id already in the data is a drop asks the input's ids and the ids the
changes produced, kept on disk (:class:`~curata.curation.diskmap.DiskMap`) when the caller
gives the ids as batches (``ids``), a batch of ids at a time (see :class:`_InProcess` for how
the single-pass order of that rule is kept, and the one case that makes the run recompute).
After each pass a resumable run (a scratch area with a key) writes a manifest, from which
``resume`` goes on after a kill.

With ``workers`` > 1 the same passes run with the per-record steps (and the needs-all steps'
``summarize``) on that many processes of this machine, their decisions replayed here in batch
order (:mod:`.replay`, :mod:`.processes`): the same result, by the same bookkeeping and the same
passes (each step once per record) and the ids on disk, as the Ray executor does. With
one worker (``workers=1``) everything runs in the calling process, as described above.
:func:`auto_workers` is the rule for choosing the count.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from curata.core.errors import CurataError, ValidationError
from curata.core.records import Record
from curata.curation.diskmap import DiskMap
from curata.curation.pipeline import Pipeline
from curata.curation.scratch import OWNER, Area, RecordSpill, Spill
from curata.curation.scratch import area as scratch_area
from curata.curation.steps.base import Decision, Item, Step
from curata.faults import fault_point

Input = tuple[str, Record, str | None, str | None]
"""(record id, record, source, origin) as read from the input version."""
Batches = Callable[[], Iterator[list[Input]]]
"""Starts a fresh pass over the input, batch by batch, always in the same order."""
Progress = Callable[[int, int, str], None]
"""(records done, records in all passes, what is running)."""

AUTO_MIN_RECORDS = 50_000
"""Below this many input records :func:`auto_workers` runs in-process (see there why)."""
AUTO_MIN_CPUS = 4
"""Below this many CPUs :func:`auto_workers` runs in-process (see there why)."""


@dataclass
class StepStats:
    position: int
    name: str
    records_in: int = 0
    records_out: int = 0
    changed: int = 0
    dropped: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Event:
    """A record a step dropped or changed."""

    position: int
    record_id: str
    action: str
    reason: str
    related: str | None = None
    new_id: str | None = None
    score: float | None = None
    details: dict[str, Any] | None = None
    source: str | None = None


@dataclass
class RunResult:
    """What a run did: per-step counts, and its events, either in ``events`` or, for an
    in-process run in a caller's scratch area, read back from there (``spilled``): read them
    with :meth:`event_batches` either way."""

    stats: list[StepStats]
    events: list[Event] = field(default_factory=list)
    records_in: int = 0
    records_out: int = 0
    spilled: Callable[[], Iterator[list[Event]]] | None = None

    def event_batches(self) -> Iterator[list[Event]]:
        """Every event in the order of the run, a batch at a time (memory: one batch)."""
        if self.spilled is not None:
            yield from self.spilled()
        elif self.events:
            yield self.events


class StepFailed(CurataError):
    """A step raised on a record batch: names the step and the first record of the batch."""


def run(
    pipeline: Pipeline,
    batches: Batches,
    total: int,
    *,
    emit: Callable[[list[Input]], None],
    input_ids: set[str] | None = None,
    ids: IdBatches | None = None,
    progress: Progress | None = None,
    workers: int = 1,
    scratch: Path | None = None,
    area: Area | None = None,
    resume: bool = False,
) -> RunResult:
    """Run ``pipeline`` over the input; ``emit`` receives each batch of surviving records.

    ``input_ids`` (a set) or ``ids`` (the input's ids batch by batch, which the in-process run
    keeps on disk instead) are the ids of the input's records. A change whose result is a record
    already in the data (an input record, or one an earlier change produced) is dropped at that
    step, its reason naming that record: every id stays unique in the stream, so every event
    is about one record. ``workers`` > 1 runs the per-record work on that many processes
    (the same result); 1 runs everything in this process.

    ``area`` is the caller's scratch area (it stays after the return: the result's events are
    read from it, :meth:`RunResult.event_batches`); without one the run makes its own under
    ``scratch`` and hands back its events in memory. ``resume`` (in-process, with a resumable
    ``area``) starts after the passes a killed run of the same key completed.
    """
    if workers < 1:
        raise ValidationError(f"workers: must be at least 1 (got {workers})")
    if workers > 1:
        from curata.curation.executors import processes, replay

        result = replay.run(
            pipeline,
            batches,
            total,
            emit=emit,
            input_ids=input_ids,
            ids=ids,
            progress=progress,
            pool=processes.pool_opener(workers),
            scratch=area.path if area is not None else scratch,
        )
        if area is None:  # the events stay in the caller's scratch directory no longer
            result.events = [e for part in result.event_batches() for e in part]
            result.spilled = None
        return result
    if area is not None:
        return _InProcess(pipeline, batches, total, emit, input_ids, ids, progress, area).run(
            resume
        )
    with scratch_area(scratch) as own:
        result = _InProcess(pipeline, batches, total, emit, input_ids, ids, progress, own).run()
        result.events = [e for part in result.event_batches() for e in part]
        result.spilled = None
        return result


IdBatches = Callable[[], Iterator[Sequence[str]]]
"""The input's record ids, batch by batch."""
MANIFEST = "manifest.json"
"""In a resumable scratch area: what the passes completed so far left there (:func:`_save`)."""


class _Diverged(Exception):
    """A change produced an id that a record later in the stream, at an earlier step, had
    already produced on an earlier pass: the first-come order of the unique-id rule differs
    from the order the passes ran in (rare; the run then recomputes, :meth:`_InProcess.run`)."""

    def __init__(self, emitted: int) -> None:
        super().__init__(emitted)
        self.emitted = emitted


class _SetIds:
    """A set of ids asked a batch at a time, as :class:`DiskMap` is."""

    def __init__(self, ids: set[str]) -> None:
        self.ids = ids

    def contains_many(self, ids: Sequence[str]) -> set[str]:
        return {i for i in ids if i in self.ids}


class _InProcess:
    """The in-process run: one pass per needs-all step plus the final pass, each step's
    ``apply`` run once per record.

    Pass *k* reads what pass *k - 1* left (pass 0: the input), runs the steps from the
    (*k - 1*)-th needs-all step up to the *k*-th, and writes the survivors to the scratch area
    for pass *k + 1* (:class:`RecordSpill`, one row group per input batch, empty ones kept, so
    batch *i* of every pass is input batch *i*). Every pass counts and records what its steps
    dropped and changed (events spilled per pass and batch, read back merged by input batch:
    the order of one pass over every step). The unique-id rule asks the input's ids and the ids
    the changes produced, both on disk (:class:`DiskMap`), a batch at a time; each produced id
    carries the (batch, step) that made it, so a step sees exactly the ids that came before it
    in stream order, as in a single pass. The one thing the passes cannot see in advance is a
    change at a later step of an *earlier* batch into an id a later batch already produced at
    an earlier step (:class:`_Diverged`); then the run starts over recomputing each pass from
    the input (the algorithm before issue #17, by which that order is defined), without
    emitting again the batches it emitted before it noticed (they were decided as that
    algorithm decides them).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        batches: Batches,
        total: int,
        emit: Callable[[list[Input]], None],
        input_ids: set[str] | None,
        ids: IdBatches | None,
        progress: Progress | None,
        area: Area,
    ) -> None:
        self.pipeline = pipeline
        self.batches = batches
        self.total = total
        self.emit = emit
        self.progress = progress
        self.area = area
        self.input_ids = input_ids
        self.ids = ids
        self.steps = [spec.build() for spec in pipeline.steps]
        self.stats = [StepStats(i, spec.name) for i, spec in enumerate(pipeline.steps)]
        self.barriers = [i for i, s in enumerate(self.steps) if s.needs_all]
        self.done = 0
        self.maps: list[DiskMap] = []
        self._given: Ids | None = None

    def tick(self, n: int, what: str) -> None:
        self.done += n
        if self.progress:
            self.progress(self.done, self.total * (len(self.barriers) + 1), what)

    def map(self, name: str, fresh: bool = True) -> Produced:
        """A map from id to the (batch, step) that produced it: on disk when the input's ids
        are (``ids``), else in memory."""
        if self.ids is None:
            return _Memory()
        path = self.area.path / name
        if fresh:
            path.unlink(missing_ok=True)
        opened = DiskMap(path)
        self.maps.append(opened)
        return opened

    def given(self, built: bool) -> Ids:
        """The input's ids: a set the caller gave, or kept on disk (filled unless ``built``;
        opened once: the map holds its file exclusively)."""
        if self._given is not None:
            return self._given
        if self.ids is None:
            self._given = _SetIds(self.input_ids if self.input_ids is not None else set())
            return self._given
        given = self.map("given.sqlite", fresh=not built)
        assert isinstance(given, DiskMap)
        if not built:
            for part in self.ids():
                given.add_many(part)
        self._given = given
        return given

    def run(self, resume: bool = False) -> RunResult:
        try:
            try:
                return self.once(resume and self.area.resumable and self.ids is not None)
            except _Diverged as diverged:
                (self.area.path / MANIFEST).unlink(missing_ok=True)
                return self.recompute(diverged.emitted)
        finally:
            for opened in self.maps:
                opened.close()

    # -- each step once per record ----------------------------------------------------------

    def once(self, resume: bool) -> RunResult:
        here = self.area.path
        saved = _load(here / MANIFEST) if resume else None
        if saved is not None and len(saved["stats"]) != len(self.stats):
            saved = None
        if saved is None and self.area.resumable:
            for entry in here.iterdir():  # what a run of this key left: start clean
                if entry.name != OWNER:
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        completed = saved["passes"] if saved is not None else 0
        given = self.given(built=saved is not None)
        ends = [*self.barriers, len(self.steps)]
        starts = [0, *self.barriers]
        produced: list[Produced] = []
        events: list[Spill] = []
        sizes: list[int] = saved["sizes"] if saved is not None else []
        result = RunResult(self.stats, records_in=saved["records_in"] if saved else 0)
        if saved is not None:
            for s, values in zip(self.stats, saved["stats"], strict=True):
                vars(s).update(values)
        shared = self.map("produced.sqlite") if self.ids is None else None
        for k, (start, end) in enumerate(zip(starts, ends, strict=True)):
            if k < completed:  # done by the killed run: read what it left
                produced.append(self.map(f"produced-{k}.sqlite", fresh=False))
                events.append(Spill(here / f"events-{k}.arrow", existing=True))
                step = self.steps[end]
                shutil.rmtree(here / f"step-{end}", ignore_errors=True)
                # its summaries again, from the stream before it as that pass left it
                spilled = RecordSpill(here / f"records-{k}.arrow", existing=True).read()
                restored = (
                    _guard(self.stats[end].name, step.summarize, [(i, r) for i, r, _, _ in b])
                    for b in spilled
                )
                prepare_timed(step, restored, here / f"step-{end}")
                self.tick(self.total, f"{self.stats[end].name} (resumed)")
                continue
            source: Iterator[list[Input]]
            if k == 0:
                source = self.sized(sizes, result)
            else:
                source = RecordSpill(here / f"records-{k - 1}.arrow", existing=True).read()
            current = shared if shared is not None else self.map(f"produced-{k}.sqlite")
            maps = [*produced, current] if shared is None else [shared]
            spill = Spill(here / f"events-{k}.arrow")
            if end == len(self.steps):  # the final pass
                for i, batch in enumerate(source):
                    noted: list[Event] = []
                    try:
                        items = self.through(batch, i, start, end, noted, given, maps)
                    except _Diverged:  # batches before i were emitted, as they should be
                        raise _Diverged(i) from None
                    spill.write(noted)
                    result.records_out += len(items)
                    self.emit(items)
                    self.tick(sizes[i], "applying")
                spill.close()
                events.append(spill)
                result.spilled = _merged(events)
                return result
            step = self.steps[end]
            survivors = RecordSpill(here / f"records-{k}.arrow")
            label = f"{self.stats[end].name} (collecting)"

            def summaries(
                start: int = start, end: int = end, step: Step = step,
                source: Iterator[list[Input]] = source, spill: Spill = spill,
                survivors: RecordSpill = survivors, label: str = label,
                maps: list[Produced] = maps,
            ) -> Iterator[Any]:  # fmt: skip
                for i, batch in enumerate(source):
                    noted: list[Event] = []
                    items = self.through(batch, i, start, end, noted, given, maps)
                    spill.write(noted)
                    survivors.write(items)
                    pairs: list[Item] = [(rid, rec) for rid, rec, _, _ in items]
                    started = time.perf_counter()
                    summary = _guard(self.stats[end].name, step.summarize, pairs)
                    self.stats[end].seconds += time.perf_counter() - started
                    self.tick(sizes[i], label)
                    yield summary

            feed = summaries()
            self.stats[end].seconds += prepare_timed(step, feed, here / f"step-{end}")
            for _ in feed:  # a prepare that stopped early: the later passes need every batch
                pass
            for done in (spill, survivors):
                done.close()
            events.append(spill)
            if shared is None:
                produced.append(current)
            if self.area.resumable and self.ids is not None:
                _save(here / MANIFEST, k + 1, self.stats, sizes, result.records_in)
            fault_point("curate_between_passes")
        raise AssertionError("the last pass returns")  # pragma: no cover

    def sized(self, sizes: list[int], result: RunResult) -> Iterator[list[Input]]:
        """The input's batches, noting their sizes (the later passes' progress)."""
        for batch in self.batches():
            sizes.append(len(batch))
            result.records_in += len(batch)
            yield batch

    def through(
        self,
        batch: list[Input],
        number: int,
        start: int,
        end: int,
        events: list[Event] | None,
        given: Ids,
        maps: list[Produced],
    ) -> list[Input]:
        """Batch ``number`` after ``steps[start:end]``, each step's decisions through
        :func:`_decide` in stream order; with ``events`` counts and records every drop and
        change. The ids changes produced are asked of ``maps`` (each id with the batch and
        step that produced it; the last map is this pass's, written here)."""
        items = batch
        for position in range(start, end):
            if not items:
                break
            s = self.stats[position]
            started = time.perf_counter()
            pairs: list[Item] = [(rid, r) for rid, r, _, _ in items]
            decisions: list[Decision] = _guard(s.name, self.steps[position].apply, pairs)
            if len(decisions) != len(items):
                raise StepFailed(
                    f"step {s.name!r} returned {len(decisions)} decisions for {len(items)} records"
                )
            changes = [
                d.record.id
                for (rid, *_), d in zip(items, decisions, strict=True)
                if d.action == "change" and d.record is not None and d.record.id != rid
            ]
            blocked: set[str] = set()
            at = (number, position)
            if changes:
                blocked = given.contains_many(changes)
                rest = [c for c in changes if c not in blocked]
                for known in maps if rest else ():
                    for key, where in known.get_many(rest).items():
                        if tuple(where) > at:
                            raise _Diverged(0)
                        blocked.add(key)
            fresh: set[str] = set()
            kept = []
            present = (blocked, fresh)
            for (rid, record, source, origin), d in zip(items, decisions, strict=True):
                out = _decide(position, rid, record, source, origin, d, events, s, present)
                if out is not None:
                    kept.append(out)
            if fresh:
                maps[-1].put_many((i, at) for i in fresh)
            if events is not None:
                s.records_in += len(items)
                s.records_out += len(kept)
            s.seconds += time.perf_counter() - started
            items = kept
        return items

    # -- the fallback: every pass from the input ----------------------------------------------

    def recompute(self, emitted: int) -> RunResult:
        """The run again, each pass recomputing the steps before its needs-all step from the
        input (fresh steps, fresh counts); the first ``emitted`` batches are not emitted again."""
        self.steps = [spec.build() for spec in self.pipeline.steps]
        self.stats = [StepStats(i, spec.name) for i, spec in enumerate(self.pipeline.steps)]
        self.done = 0
        given = self.given(built=True)
        for k, end in enumerate(self.barriers):
            step = self.steps[end]
            label = f"{self.stats[end].name} (collecting)"

            def summaries(k: int = k, end: int = end, step: Step = step,
                          label: str = label) -> Iterator[Any]:  # fmt: skip
                maps = [self.map(f"again-{k}.sqlite")]
                for i, batch in enumerate(self.batches()):
                    items = self.through(batch, i, 0, end, None, given, maps)
                    pairs: list[Item] = [(rid, rec) for rid, rec, _, _ in items]
                    started = time.perf_counter()
                    summary = _guard(self.stats[end].name, step.summarize, pairs)
                    self.stats[end].seconds += time.perf_counter() - started
                    self.tick(len(batch), label)
                    yield summary

            own = self.area.path / f"again-step-{end}"
            self.stats[end].seconds += prepare_timed(step, summaries(), own)
        result = RunResult(self.stats)
        spill = Spill(self.area.path / "events-again.arrow")
        maps = [self.map("again-final.sqlite")]
        for i, batch in enumerate(self.batches()):
            result.records_in += len(batch)
            noted: list[Event] = []
            items = self.through(batch, i, 0, len(self.steps), noted, given, maps)
            spill.write(noted)
            result.records_out += len(items)
            if i >= emitted:
                self.emit(items)
            self.tick(len(batch), "applying")
        spill.close()
        result.spilled = _merged([spill])
        return result


class Ids(Protocol):
    """Ids asked a batch at a time (:class:`DiskMap`, or a set in memory)."""

    def contains_many(self, ids: Sequence[str]) -> set[str]: ...


class Produced(Protocol):
    """Ids with the (batch, step) that produced them (:class:`DiskMap`, or :class:`_Memory`)."""

    def get_many(self, ids: Sequence[str]) -> dict[str, Any]: ...

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None: ...


class _Memory:
    """A :class:`Produced` in memory, for a run given the input's ids as a set."""

    def __init__(self) -> None:
        self.held: dict[str, Any] = {}

    def get_many(self, ids: Sequence[str]) -> dict[str, Any]:
        return {i: self.held[i] for i in ids if i in self.held}

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None:
        self.held.update(items)


def _merged(spills: Sequence[Spill]) -> Callable[[], Iterator[list[Event]]]:
    """Every pass's events, input batch by input batch (a batch's events in step order: the
    order of a single pass over every step)."""

    def read() -> Iterator[list[Event]]:
        readers = [s.read() for s in spills]
        while True:
            parts = [next(r, None) for r in readers]
            if any(p is None for p in parts):
                return
            yield [e for p in parts if p for e in p]

    return read


def _save(path: Path, passes: int, stats: list[StepStats], sizes: list[int], n: int) -> None:
    """What a resumed run needs to go on after ``passes`` completed passes (written whole,
    then renamed into place: a run killed while writing leaves the previous manifest)."""
    body = {"passes": passes, "stats": [vars(s) for s in stats], "sizes": sizes, "records_in": n}
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(body), "utf-8")
    os.replace(partial, path)


def _load(path: Path) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return loaded


def cpus() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def auto_workers(records: int) -> int:
    """The worker count ``workers="auto"`` means for an input of ``records`` records: one per
    CPU (:func:`cpus`) on a machine of :data:`AUTO_MIN_CPUS` CPUs or more, for inputs of
    :data:`AUTO_MIN_RECORDS` records or more; else 1 (in-process).

    Measured (BENCHMARKS.md, issue #5): worker processes pay a fixed start-up (about 0.5 s,
    plus each step's first use: about 1 s more for ``pii``, in every worker) that a small
    input does not win back. On 2 CPUs, where the driver shares the CPUs with the two
    workers, they were no faster than one process at 20,000 and 100,000 records while they
    traced every pass from the input; since they run each step once per record, 1.30x at
    100,000 (one process is kept there: it alone resumes).
    """
    return cpus() if records >= AUTO_MIN_RECORDS and cpus() >= AUTO_MIN_CPUS else 1


def prepare_timed(step: Step, summaries: Iterator[Any], scratch: Path | None = None) -> float:
    """Run ``step.prepare`` over ``summaries``; return the seconds ``prepare`` itself took
    (producing the summaries: reading, earlier steps, ``summarize``, is timed elsewhere).
    ``scratch`` (made if missing) becomes the step's :attr:`~Step.scratch` directory."""
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
        step.scratch = scratch
    spent = 0.0

    def counted() -> Iterator[Any]:
        nonlocal spent
        while True:
            started = time.perf_counter()
            try:
                item = next(summaries)
            except StopIteration:
                spent += time.perf_counter() - started
                return
            spent += time.perf_counter() - started
            yield item

    started = time.perf_counter()
    step.prepare(counted())
    return time.perf_counter() - started - spent


def _decide(
    position: int,
    rid: str,
    record: Record,
    source: str | None,
    origin: str | None,
    d: Decision,
    events: list[Event] | None,
    s: StepStats,
    present: tuple[set[str], set[str]],
) -> Input | None:
    if d.action == "keep":
        return rid, record, source, origin
    if d.action == "report":  # kept as it is; what the step found is recorded
        if events is not None:
            events.append(
                Event(position, rid, "report", d.reason, None, None, d.score, d.details, source)
            )
        return rid, record, source, origin
    if d.action == "drop":
        if events is not None:
            s.dropped += 1
            events.append(
                Event(
                    position,
                    rid,
                    "drop",
                    d.reason,
                    d.related,
                    None,
                    d.score,
                    d.details or None,
                    source,
                )
            )
        return None
    assert d.record is not None, "a change carries the new record"
    new_id = d.record.id
    if new_id == rid:
        return rid, record, source, origin
    given, produced = present
    if new_id in given or new_id in produced:
        if events is not None:
            s.dropped += 1
            reason = f"{d.reason}; the result is identical to record {new_id}, already in the data"
            events.append(
                Event(
                    position, rid, "drop", reason, new_id, None, d.score, d.details or None, source
                )
            )
        return None
    produced.add(new_id)
    if events is not None:
        s.changed += 1
        events.append(
            Event(
                position, rid, "change", d.reason, None, new_id, d.score, d.details or None, source
            )
        )
    return new_id, d.record, source, origin


def _guard(name: str, call: Callable[[Sequence[Item]], Any], items: Sequence[Item]) -> Any:
    try:
        return call(items)
    except CurataError:
        raise
    except Exception as exc:
        first = items[0][0] if items else "-"
        raise StepFailed(
            f"step {name!r} failed on the batch starting at record {first}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
