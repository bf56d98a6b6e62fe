"""The local executor: streams a version's records through a pipeline in batches.

Memory stays bounded by the batch size plus what each step keeps (a dedup step keeps a few
bytes to a few hundred bytes per record). A step that needs every record first (``needs_all``)
splits the run into passes: pass *k* streams the input through the steps before the *k*-th such
step and feeds its summaries to that step's ``prepare``; the last pass applies every step,
records every drop and change, and yields the surviving records.

Each step's ``apply`` runs once per record (issue #17). What a pass decided (every step's
decision about every record that reached it, by the record's place in its input batch, the
changed records included) is written once, batch by batch, to an Arrow IPC file in the run's
scratch directory (:mod:`curata.curation.scratch`; ``<home>/scratch/`` in a workspace); the
later passes read the input again alongside those files and take the decisions from them
instead of running the earlier steps again. Every decision still goes through the same
bookkeeping in stream order on every pass (:func:`_decide`: events, counts, and the rule that
a change into an id already in the data is a drop), so each pass sees the records that it saw
when it recomputed the earlier steps, and the output, events and counts are those of that
algorithm. A record that reaches a step without a decision on file (possible only when that
rule drops differently on a later pass) is decided by running the step on it. The scratch
directory is removed when the run ends, however it ends.

With ``workers`` > 1 the same passes run with the per-record steps (and the needs-all steps'
``summarize``) on that many processes of this machine, their decisions replayed here in batch
order (:mod:`.replay`, :mod:`.processes`): the same result, by the same bookkeeping. With one
worker (``workers=1``) everything runs in the calling process, as described above. (The
worker processes, like the Ray executor, still trace the earlier steps again on each pass.)
:func:`auto_workers` is the rule for choosing the count.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curata.core.errors import CurataError, ValidationError
from curata.core.records import Record
from curata.curation.pipeline import Pipeline
from curata.curation.scratch import Area, Spill
from curata.curation.scratch import area as scratch_area
from curata.curation.steps.base import Decision, Item, Step

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
    stats: list[StepStats]
    events: list[Event] = field(default_factory=list)
    records_in: int = 0
    records_out: int = 0


class StepFailed(CurataError):
    """A step raised on a record batch: names the step and the first record of the batch."""


def run(
    pipeline: Pipeline,
    batches: Batches,
    total: int,
    *,
    emit: Callable[[list[Input]], None],
    input_ids: set[str] | None = None,
    progress: Progress | None = None,
    workers: int = 1,
    scratch: Path | None = None,
) -> RunResult:
    """Run ``pipeline`` over the input; ``emit`` receives each batch of surviving records.

    ``input_ids`` are the ids of the input's records. A change whose result is a record
    already in the data (an input record, or one an earlier change produced) is dropped at that
    step, its reason naming that record: every id stays unique in the stream, so every event
    is about one record. ``workers`` > 1 runs the per-record work on that many processes
    (the same result); 1 runs everything in this process.
    """
    if workers < 1:
        raise ValidationError(f"workers: must be at least 1 (got {workers})")
    if workers > 1:
        from curata.curation.executors import processes, replay

        return replay.run(
            pipeline,
            batches,
            total,
            emit=emit,
            input_ids=input_ids,
            progress=progress,
            pool=processes.pool_opener(workers),
        )
    with scratch_area(scratch) as area:
        return _InProcess(pipeline, batches, total, emit, input_ids, progress, area).run()


Known = dict[int, dict[int, Decision]]
"""For one input batch: per step position, the step's decision by the record's place in the
batch, for every record that reached the step (a step absent: not run yet)."""


class _InProcess:
    """The in-process run: one pass per needs-all step plus the final pass, each step's
    ``apply`` run once per record (what it decided is spilled to the scratch area for the
    later passes to read)."""

    def __init__(
        self,
        pipeline: Pipeline,
        batches: Batches,
        total: int,
        emit: Callable[[list[Input]], None],
        input_ids: set[str] | None,
        progress: Progress | None,
        area: Area,
    ) -> None:
        self.batches = batches
        self.total = total
        self.emit = emit
        self.progress = progress
        self.area = area
        self.given = input_ids if input_ids is not None else set()
        self.produced: set[str] = set()
        self.steps = [spec.build() for spec in pipeline.steps]
        self.stats = [StepStats(i, spec.name) for i, spec in enumerate(pipeline.steps)]
        self.barriers = [i for i, s in enumerate(self.steps) if s.needs_all]
        self.spills: list[Spill] = []
        self.done = 0

    def tick(self, n: int, what: str) -> None:
        self.done += n
        if self.progress:
            self.progress(self.done, self.total * (len(self.barriers) + 1), what)

    def known(self) -> Iterator[Known]:
        """Per input batch, what the spills written so far hold about it, merged."""
        readers = [spill.read() for spill in self.spills]
        while True:
            merged: Known = {}
            for reader in readers:
                part = next(reader, None)
                if part is None:
                    return
                for position, decided in part.items():
                    merged.setdefault(position, {}).update(decided)
            yield merged

    def passes(self, limit: int) -> Iterator[tuple[list[Input], list[Input], Known]]:
        """Each input batch, the batch after ``steps[:limit]`` and what this pass decided
        that no earlier pass had (the steps it ran)."""
        self.produced.clear()
        known = self.known() if self.spills else None
        for batch in self.batches():
            before: Known = {} if known is None else next(known, {})
            new: Known = {}
            items = self.through(batch, limit, before, new, None)
            yield batch, items, new

    def run(self) -> RunResult:
        for k, barrier in enumerate(self.barriers):
            step = self.steps[barrier]
            spill = Spill(self.area.path / f"pass-{k + 1}.arrow")
            label = f"{self.stats[barrier].name} (collecting)"

            def summaries(barrier: int = barrier, step: Step = step, spill: Spill = spill,
                          label: str = label) -> Iterator[Any]:  # fmt: skip
                for batch, items, new in self.passes(barrier):
                    spill.write(new)
                    pairs: list[Item] = [(rid, rec) for rid, rec, _, _ in items]
                    started = time.perf_counter()
                    summary = _guard(self.stats[barrier].name, step.summarize, pairs)
                    self.stats[barrier].seconds += time.perf_counter() - started
                    self.tick(len(batch), label)
                    yield summary

            own = self.area.path / f"step-{barrier}"
            self.stats[barrier].seconds += prepare_timed(step, summaries(), own)
            spill.close()
            self.spills.append(spill)
        result = RunResult(self.stats)
        self.produced.clear()
        known = self.known() if self.spills else None
        for batch in self.batches():
            result.records_in += len(batch)
            before: Known = {} if known is None else next(known, {})
            items = self.through(batch, len(self.steps), before, {}, result.events)
            result.records_out += len(items)
            self.emit(items)
            self.tick(len(batch), "applying")
        return result

    def through(
        self, batch: list[Input], limit: int, before: Known, new: Known, events: list[Event] | None
    ) -> list[Input]:
        """The batch after ``steps[:limit]``: each step's decision is taken from ``before``
        where an earlier pass made it, else the step runs (its decisions noted in ``new``);
        every decision then goes through :func:`_decide`, in stream order. With ``events``
        (the final pass) counts and records every drop and change."""
        items = [(rid, r, s, o, i) for i, (rid, r, s, o) in enumerate(batch)]
        present = (self.given, self.produced)
        for position, step in enumerate(self.steps[:limit]):
            if not items:
                break
            s = self.stats[position]
            started = time.perf_counter()
            found = before.get(position)
            here = items if found is None else [it for it in items if it[4] not in found]
            computed: list[Decision] = []
            if here:
                pairs: list[Item] = [(rid, r) for rid, r, _, _, _ in here]
                computed = _guard(s.name, step.apply, pairs)
                if len(computed) != len(here):
                    raise StepFailed(
                        f"step {s.name!r} returned {len(computed)} decisions for {len(here)} "
                        "records"
                    )
                noted = new.setdefault(position, {})
                for item, d in zip(here, computed, strict=True):
                    noted[item[4]] = d
                s.seconds += time.perf_counter() - started
            if found is None:
                decisions: Sequence[Decision] = computed
            else:
                own = iter(computed)
                decisions = [found[i] if i in found else next(own) for *_, i in items]
            started = time.perf_counter()
            kept = []
            for (rid, record, source, origin, place), d in zip(items, decisions, strict=True):
                out = _decide(position, rid, record, source, origin, d, events, s, present)
                if out is not None:
                    kept.append((*out, place))
            if events is not None:
                s.records_in += len(items)
                s.records_out += len(kept)
                s.seconds += time.perf_counter() - started
            items = kept
        return [(rid, r, s, o) for rid, r, s, o, _ in items]


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
    input does not win back; and on 2 CPUs, where the driver shares the CPUs with the two
    workers, they were no faster than one process at 20,000 and 100,000 records.
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
