"""Curation service: run a pipeline over a version into a new version, and explain any record.

``curate`` reads ``raw@N`` in batches, runs the pipeline on an executor and writes the surviving
records as the next version of the output dataset. The version, its operation (kind
``curate``: the pipeline with every parameter), one step run per step (parameters, code version,
records in and out, changed, dropped, seconds) and one event per record dropped or changed (its
reason) are committed in one transaction after the records are stored: a failure at any point
leaves no version and no events, and a re-run gives the same result. ``why`` reads the events.

The in-process local run keeps what grows with the input on disk in the run's scratch area
(:mod:`curata.curation.scratch`, opened here so that it lasts until the commit): the input's
ids, the stream between passes, and the events, which go into the database in batches of
:data:`EVENT_BATCH` rows inside the commit transaction, so memory does not grow with the number
of events. Its scratch directory is named after the run (input version, pipeline, output
dataset, batch size), so ``resume=True`` picks up the passes a killed run of the same key
completed.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from curata._version import __version__
from curata.core.errors import NotFoundError, ValidationError
from curata.core.ids import resolve_record_id
from curata.core.models import Version
from curata.core.names import check_name
from curata.curation.executors import local
from curata.curation.pipeline import Pipeline
from curata.curation.scratch import area as scratch_area
from curata.faults import fault_point
from curata.governance import audit
from curata.lineage.openlineage import LineageDataset, LineageEmitter
from curata.store.records import RecordStore
from curata.store.tables import (
    CurationEventRow,
    DatasetRow,
    OperationRow,
    SourceRow,
    StepRunRow,
    VersionRow,
    utcnow,
)
from curata.versioning.commit import Operation, next_version
from curata.versioning.service import DatasetService

EXECUTORS = ("local", "ray")
BATCH = 2_000
EVENT_BATCH = 10_000
"""Events per INSERT statement when a run's events are written."""


@dataclass(frozen=True)
class CurateResult:
    version: Version
    created: bool
    records_in: int
    records_out: int
    steps: list[dict[str, Any]]
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version.ref,
            "created": self.created,
            "records_in": self.records_in,
            "records_out": self.records_out,
            "steps": self.steps,
            "examples": self.examples,
        }


class CurationService:
    """Runs pipelines and answers ``why``."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: RecordStore,
        datasets: DatasetService,
        emitter: LineageEmitter,
        actor: str,
        *,
        scratch: Path | None = None,
    ) -> None:
        self._sessions = sessions
        self._scratch = scratch  # where a run keeps its between-pass files (curation.scratch)
        self._store = store
        self._datasets = datasets
        self._emitter = emitter
        self._actor = actor

    def curate(
        self,
        ref: str,
        pipeline: Pipeline,
        out: str,
        *,
        executor: str = "local",
        message: str = "",
        batch_size: int = BATCH,
        progress: local.Progress | None = None,
        ray_address: str | None = None,
        workers: int | None = None,
        resume: bool = False,
    ) -> CurateResult:
        """Run ``pipeline`` over version ``ref`` into the next version of dataset ``out``.

        ``executor`` is ``local`` or ``ray`` (same result); ``ray_address`` is the Ray cluster
        to connect to (None: a local one). ``workers`` is the local executor's process count
        (same result; 1: in this process; None: :func:`local.auto_workers` of the input's
        size). ``resume``: go on from the last pass a killed run of the same input, pipeline,
        output and batch size completed (the local executor in one process; the same result
        as a run from the start)."""
        if executor not in EXECUTORS:
            raise ValidationError(f"executor: {executor!r} is not one of {', '.join(EXECUTORS)}")
        if ray_address is not None and executor != "ray":
            raise ValidationError("a Ray address is only used with the ray executor")
        if workers is not None and executor != "local":
            raise ValidationError(
                "workers: only used with the local executor (Ray uses the cluster's CPUs)"
            )
        if workers is not None and workers < 1:
            raise ValidationError(f"workers: must be at least 1 (got {workers})")
        if resume and (executor != "local" or (workers or 1) != 1):
            raise ValidationError("resume: only the local executor in one process (--workers 1)")
        check_name(out, "dataset")
        if batch_size < 1:
            raise ValidationError("batch size: must be at least 1")
        started = utcnow()
        source = self._datasets.handle(ref)
        if source.version.dataset == out:
            raise ValidationError(
                f"--out {out!r} is the input's own dataset: write curated data to another one"
            )

        def batches() -> Iterator[list[local.Input]]:
            for batch in self._store.iter_manifest(
                source.storage_key, source.manifest_version, batch_size=batch_size
            ):
                ids = batch.column("record_id").to_pylist()
                sources = batch.column("source").to_pylist()
                origins = batch.column("origin").to_pylist()
                records = self._store.take_records(batch.column("row").to_numpy())
                yield list(zip(ids, records, sources, origins, strict=True))

        key = hashlib.sha256(
            "\0".join(
                [source.version.ref, source.version.digest, pipeline.digest, out, str(batch_size)]
            ).encode()
        ).hexdigest()[:24]
        if executor == "local" and workers is None:
            workers = 1 if resume else local.auto_workers(source.version.record_count)
        in_process = executor == "local" and workers == 1
        scratch_key = key if in_process else None
        with (
            scratch_area(self._scratch, key=scratch_key, resume=resume) as area,
            scratch_area(self._scratch) as writer_area,  # not emptied by a resumable run
            next_version(self._sessions, self._store, out) as commit,
        ):
            base = commit.base
            writer = commit.writer(scratch=writer_area.path)

            def emit(items: list[local.Input]) -> None:
                if writer.record_count >= batch_size:
                    fault_point("curate_streaming")
                for name in dict.fromkeys(s for _, _, s, _ in items):
                    group = [i for i in items if i[2] == name]
                    writer.add([r for _, r, _, _ in group], source=name,
                               origins=[o for _, _, _, o in group])  # fmt: skip

            def ids() -> Iterator[list[str]]:
                for part in self._store.iter_manifest(
                    source.storage_key, source.manifest_version, batch_size=50_000
                ):
                    yield part.column("record_id").to_pylist()

            if executor == "ray":
                from curata.curation.executors import ray

                result = ray.run(
                    pipeline,
                    batches,
                    source.version.record_count,
                    emit=emit,
                    ids=ids,
                    progress=progress,
                    address=ray_address,
                    scratch=area.path,
                )
            else:
                assert workers is not None
                result = local.run(
                    pipeline,
                    batches,
                    source.version.record_count,
                    emit=emit,
                    ids=ids,
                    progress=progress,
                    workers=workers,
                    area=area,
                    resume=resume,
                )
            steps = [
                {**vars(s), "params": spec.params.model_dump(mode="json")}
                for s, spec in zip(result.stats, pipeline.steps, strict=True)
            ]
            if base.parent_id is not None and writer.is_unchanged():
                version = self._datasets.version(f"{out}@{base.parent_number}")
                return CurateResult(version, False, result.records_in, result.records_out, steps)
            fault_point("curate_before_commit")
            manifest = writer.commit(fault=fault_point)
            fault_point("curate_after_manifest")
            operation = Operation(
                str(uuid.uuid4()),
                "curate",
                {
                    "input": source.version.ref,
                    "pipeline": pipeline.to_dict(),
                    "pipeline_digest": pipeline.digest,
                    "executor": executor,
                    **({"workers": workers} if workers is not None else {}),
                    "records_in": result.records_in,
                    "records_out": result.records_out,
                },
                started,
                utcnow(),
                self._actor,
            )

            examples: list[dict[str, Any]] = []

            def events(session: Session, ref: str) -> None:
                found = self._record_steps(session, operation.id, pipeline, result, examples)
                self._mark_pii(session, found, ref)

            ref_out = commit.record(
                manifest,
                operation,
                message=message or f"curated from {source.version.ref}",
                parents=[source.version_id, *([base.parent_id] if base.parent_id else [])],
                inputs=[{"version_id": source.version_id}],
                audit_action="dataset.curate",
                audit_details={
                    "input": source.version.ref,
                    "records_in": result.records_in,
                    "records_out": result.records_out,
                    "steps": [s.name for s in pipeline.steps],
                },
                also=events,
            ).ref
        self._emit_lineage(operation, pipeline, source.version.ref, ref_out, steps)
        return CurateResult(
            self._datasets.version(ref_out),
            True,
            result.records_in,
            result.records_out,
            steps,
            examples,
        )

    @staticmethod
    def _record_steps(
        session: Session,
        operation_id: str,
        pipeline: Pipeline,
        result: local.RunResult,
        examples: list[dict[str, Any]],
    ) -> set[str]:
        """The step runs and every event (in batches of :data:`EVENT_BATCH` rows, read from
        the run's spill a batch at a time); fills ``examples`` (:func:`_examples`) on the way
        and returns the sources some step found personal data in."""
        ids: list[int] = []
        for spec, s in zip(pipeline.steps, result.stats, strict=True):
            row = StepRunRow(
                operation_id=operation_id,
                position=s.position,
                name=s.name,
                params=spec.params.model_dump(mode="json"),
                code_version=f"curata {__version__}; {spec.name} v{spec.cls.version}",
                records_in=s.records_in,
                records_out=s.records_out,
                changed=s.changed,
                dropped=s.dropped,
                seconds=round(s.seconds, 6),
            )
            session.add(row)
            session.flush()
            ids.append(row.id)
        examples.clear()
        taken: dict[int, int] = {}
        found: set[str] = set()
        rows: list[dict[str, Any]] = []
        for part in result.event_batches():
            for e in part:
                _examples(pipeline, e, taken, examples)
                if e.source and (e.details or {}).get("found"):
                    found.add(e.source)
                rows.append(
                    {
                        "step_run_id": ids[e.position],
                        "record_id": e.record_id,
                        "action": e.action,
                        "reason": e.reason,
                        "related_id": e.related,
                        "new_id": e.new_id,
                        "score": e.score,
                        "details": e.details,
                        "source": e.source,
                    }
                )
                if len(rows) >= EVENT_BATCH:
                    session.execute(insert(CurationEventRow), rows)
                    rows = []
        if rows:
            session.execute(insert(CurationEventRow), rows)
        return found

    def _mark_pii(self, session: Session, sources: set[str], ref: str) -> None:
        """A source whose records a step found personal data in is marked ``present`` (never
        the other way: pattern detectors cannot prove a source holds none)."""
        found = sorted(sources)
        for row in session.scalars(select(SourceRow).where(SourceRow.name.in_(found))):
            if row.pii_status == "present":
                continue
            before, row.pii_status = row.pii_status, "present"
            audit.append(
                session,
                actor=self._actor,
                action="source.pii_status",
                object_type="source",
                object_ref=row.name,
                details={"from": before, "to": "present", "found_in": ref},
            )

    def pii_report(self, ref: str) -> dict[str, Any]:
        """Entities the pii steps of the run that made a version found in the records of that
        version (redacted, or reported by ``action: report``), per type and per source; and how
        many records they dropped. A record a later step dropped is not counted."""
        version = self._datasets.version(ref)
        with self._sessions() as session:
            rows = session.execute(
                select(CurationEventRow, StepRunRow.name, StepRunRow.position)
                .join(StepRunRow, StepRunRow.id == CurationEventRow.step_run_id)
                .where(StepRunRow.operation_id == version.operation_id)
                .order_by(StepRunRow.position, CurationEventRow.id)
            ).all()
            steps = session.scalars(
                select(StepRunRow.name).where(StepRunRow.operation_id == version.operation_id)
            ).all()
        if "pii" not in steps:
            raise NotFoundError(
                f"{version.ref} was not made by a curation run with a pii step "
                f"(made by {version.operation})"
            )
        later: dict[tuple[int, str], CurationEventRow] = {
            (position, event.record_id): event for event, _, position in rows
        }
        last = max((position for _, _, position in rows), default=0)
        by_type: dict[str, dict[str, int]] = {}
        by_source: dict[str, dict[str, int]] = {}
        records = {"redacted": 0, "reported": 0, "dropped": 0}
        for event, name, position in rows:
            found = (event.details or {}).get("found") or {}
            if name != "pii" or not found:
                continue
            if event.action == "drop":
                records["dropped"] += 1
                continue
            if not _survives(later, event.new_id or event.record_id, position + 1, last):
                continue
            records["reported" if event.action == "report" else "redacted"] += 1
            source = event.source or "(unknown)"
            for entity, count in found.items():
                t = by_type.setdefault(entity, {"entities": 0, "records": 0})
                t["entities"] += int(count)
                t["records"] += 1
                per = by_source.setdefault(source, {})
                per[entity] = per.get(entity, 0) + int(count)
        return {
            "version": version.ref,
            "records_with_pii": records,
            "by_type": dict(sorted(by_type.items())),
            "by_source": {k: dict(sorted(v.items())) for k, v in sorted(by_source.items())},
        }

    def _emit_lineage(
        self,
        operation: Operation,
        pipeline: Pipeline,
        ref_in: str,
        ref_out: str,
        steps: list[dict[str, Any]],
    ) -> None:
        """One OpenLineage run per step (the step is the job), chained by intermediate names."""
        out = ref_out.partition("@")[0]
        ends = [LineageDataset.of_version(ref_in)] + [
            LineageDataset.of_version(ref_out, name=f"{out}#{i}-{s.name}")
            for i, s in enumerate(pipeline.steps)
        ]
        ends[-1] = LineageDataset.of_version(ref_out)
        for i, spec in enumerate(pipeline.steps):
            self._emitter.emit(
                run_id=str(uuid.uuid5(uuid.UUID(operation.id), str(i))),
                job=f"curate.{out}.{spec.name}",
                started_at=operation.started,
                ended_at=operation.ended,
                inputs=[ends[i]],
                outputs=[ends[i + 1]],
            )

    # -- why ------------------------------------------------------------------------------

    def why(self, record_id: str) -> dict[str, Any]:
        """Every curation event about a record: what it became, or why it was removed, and
        in which run; following changes forward (``a`` normalised into ``b``, ``b`` removed)."""
        with self._sessions() as session:
            rid = resolve_record_id(record_id, lambda p: self._candidates(session, p))
            ids = [rid]
            chain: list[dict[str, Any]] = []
            seen: set[str] = set()
            frontier = list(ids)
            while frontier:
                current = frontier.pop(0)
                if current in seen:
                    continue
                seen.add(current)
                for event in self._events(session, CurationEventRow.record_id == current):
                    chain.append(event)
                    if event["new_id"]:
                        frontier.append(event["new_id"])
            origins = self._events(session, CurationEventRow.new_id.in_(ids))
        if not chain and not origins:
            raise NotFoundError(
                f"no curation run removed or changed record {record_id} (kept everywhere it was "
                "curated, or never curated)"
            )
        return {"record": ids[0] if len(ids) == 1 else rid, "came_from": origins, "events": chain}

    def _candidates(self, session: Session, prefix: str) -> list[str]:
        """Ids starting with ``prefix``: stored records, and records of curation events (a
        record a step changed and a later step dropped was never stored)."""
        like = f"{prefix}%"
        found = set(self._store.find_ids(prefix, limit=2))
        for column in (CurationEventRow.record_id, CurationEventRow.new_id):
            found.update(
                i for i in session.scalars(select(column).where(column.like(like)).limit(2)) if i
            )
        return sorted(found)

    @staticmethod
    def _events(session: Session, where: Any) -> list[dict[str, Any]]:
        rows = session.execute(
            select(CurationEventRow, StepRunRow, DatasetRow.name, VersionRow.number)
            .join(StepRunRow, StepRunRow.id == CurationEventRow.step_run_id)
            .join(OperationRow, OperationRow.id == StepRunRow.operation_id)
            .join(VersionRow, VersionRow.operation_id == OperationRow.id)
            .join(DatasetRow, DatasetRow.id == VersionRow.dataset_id)
            .where(where)
            .order_by(VersionRow.created_at, CurationEventRow.id)
        ).all()
        return [
            {
                "record_id": e.record_id,
                "action": e.action,
                "step": run.name,
                "position": run.position,
                "version": f"{name}@{number}",
                "reason": e.reason,
                "related": e.related_id,
                "new_id": e.new_id,
                "score": e.score,
                "details": e.details,
            }
            for e, run, name, number in rows
        ]


def _examples(
    pipeline: Pipeline,
    e: local.Event,
    taken: dict[int, int],
    out: list[dict[str, Any]],
    per_step: int = 2,
) -> None:
    """The first few drops or changes of each step: what a person looks at first (called on
    each event in order; ``taken`` counts per step)."""
    if taken.get(e.position, 0) >= per_step:
        return
    taken[e.position] = taken.get(e.position, 0) + 1
    out.append(
        {
            "step": pipeline.steps[e.position].name,
            "record_id": e.record_id,
            "action": e.action,
            "reason": e.reason,
        }
    )


def _survives(events: dict[tuple[int, str], Any], record_id: str, first: int, last: int) -> bool:
    """Whether a record that left step ``first - 1`` as ``record_id`` reaches the run's output:
    no later step dropped it (a change follows it under its new id)."""
    for position in range(first, last + 1):
        event = events.get((position, record_id))
        if event is None or event.action == "report":
            continue
        if event.action == "drop":
            return False
        record_id = event.new_id or record_id
    return True


def describe(event: dict[str, Any]) -> str:
    """One line a person reads: 'removed by near_dedup in clean@2: near-duplicate of …'."""
    verbs = {"drop": "removed", "report": "reported"}
    verb = verbs.get(event["action"], f"changed into {event['new_id']}")
    return f"{verb} by {event['step']} in {event['version']}: {event['reason']}"
