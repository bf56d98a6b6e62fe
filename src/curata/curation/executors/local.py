"""The local executor: streams a version's records through a pipeline in batches.

Memory stays bounded by the batch size plus what each step keeps (a dedup step keeps a few
bytes to a few hundred bytes per record). A step that needs every record first (``needs_all``)
splits the run into passes: pass *k* streams the input through the steps before the *k*-th such
step (applying those already prepared) and feeds its summaries to that step's ``prepare``; the
last pass applies every step, records every drop and change, and yields the surviving records.
Earlier steps are recomputed on each pass rather than stored, so no intermediate copy of the
data is written; steps are deterministic, so every pass sees the same records in the same order.

With ``workers`` > 1 the same passes run with the per-record steps (and the needs-all steps'
``summarize``) on that many processes of this machine, their decisions replayed here in batch
order (:mod:`.replay`, :mod:`.processes`): the same result, by the same bookkeeping. With one
worker (``workers=1``) everything runs in the calling process, as described above.
:func:`auto_workers` is the rule for choosing the count.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from curata.core.errors import CurataError, ValidationError
from curata.core.records import Record
from curata.curation.pipeline import Pipeline
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
    given = input_ids if input_ids is not None else set()
    produced: set[str] = set()
    steps = [spec.build() for spec in pipeline.steps]
    stats = [StepStats(i, spec.name) for i, spec in enumerate(pipeline.steps)]
    barriers = [i for i, s in enumerate(steps) if s.needs_all]
    passes = len(barriers) + 1
    done = 0

    def tick(n: int, what: str) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, total * passes, what)

    for barrier in barriers:
        step = steps[barrier]
        label = f"{stats[barrier].name} (collecting)"

        def summaries(
            barrier: int = barrier, step: Step = step, label: str = label
        ) -> Iterator[Any]:
            produced.clear()
            for batch in batches():
                items = _through(steps[:barrier], stats, batch, None, (given, produced))
                pairs: list[Item] = [(rid, rec) for rid, rec, _, _ in items]
                started = time.perf_counter()
                summary = _guard(stats[barrier].name, step.summarize, pairs)
                stats[barrier].seconds += time.perf_counter() - started
                tick(len(batch), label)
                yield summary

        stats[barrier].seconds += prepare_timed(step, summaries())
    result = RunResult(stats)
    for s in stats:  # the counts are those of the final pass
        s.records_in = s.records_out = s.changed = s.dropped = 0
    produced.clear()
    for batch in batches():
        result.records_in += len(batch)
        items = _through(steps, stats, batch, result.events, (given, produced))
        result.records_out += len(items)
        emit(items)
        tick(len(batch), "applying")
    return result


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


def prepare_timed(step: Step, summaries: Iterator[Any]) -> float:
    """Run ``step.prepare`` over ``summaries``; return the seconds ``prepare`` itself took
    (producing the summaries: reading, earlier steps, ``summarize``, is timed elsewhere)."""
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


def _through(
    steps: Sequence[Step],
    stats: list[StepStats],
    batch: list[Input],
    events: list[Event] | None,
    present: tuple[set[str], set[str]],
) -> list[Input]:
    """The batch after ``steps``; with ``events`` (the final pass) counts and records them."""
    items = batch
    for position, step in enumerate(steps):
        if not items:
            break
        s = stats[position]
        started = time.perf_counter()
        pairs: list[Item] = [(rid, rec) for rid, rec, _, _ in items]
        decisions = _guard(s.name, step.apply, pairs)
        if len(decisions) != len(items):
            raise StepFailed(
                f"step {s.name!r} returned {len(decisions)} decisions for {len(items)} records"
            )
        kept: list[Input] = []
        for (rid, record, source, origin), d in zip(items, decisions, strict=True):
            kept_item = _decide(position, rid, record, source, origin, d, events, s, present)
            if kept_item is not None:
                kept.append(kept_item)
        if events is not None:
            s.records_in += len(items)
            s.records_out += len(kept)
            s.seconds += time.perf_counter() - started
        items = kept
    return items


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
