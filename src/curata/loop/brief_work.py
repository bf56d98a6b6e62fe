"""What a remediation brief materialises into (:mod:`curata.loop.briefs`), and its progress.

* annotation: the project's live items the slice names (record ids, a record-metadata filter,
  and/or the items labelled by a cohort, vendor or user), at most the brief's volume, are sent
  back for labelling the way a guideline change re-opens items
  (:func:`curata.annotation.guidelines._reopen`): their current annotations (the named
  labellers' only, with ``labelled_by``) are marked superseded and their slots given back; the
  items are raised to :data:`BRIEF_PRIORITY` so the queue serves them first. The tasks are
  recorded in ``brief_tasks``; progress is how many are complete again (``submitted >=
  overlap``).
* sourcing: a request naming the dataset version, the coverage gaps of its saved coverage report
  (``<home>/coverage/NAME@N.json``, ``curata coverage --save``), narrowed to the slice's field
  and value when given, and the volume wanted; progress is the records the dataset gained since.
* redteam: a red-team campaign (:class:`~curata.redteam.campaigns.CampaignService`) of the
  slice's attack set against its target, restricted to its attack category, with the brief's
  volume as the attempts budget; progress is the campaign's status and attempts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from curata.core.errors import NotFoundError, ValidationError
from curata.curation.coverage_service import report_path
from curata.store.records import RecordStore
from curata.store.tables import (
    AnnotationRow,
    AssignmentRow,
    BriefTaskRow,
    CohortMemberRow,
    CohortRow,
    ProjectRow,
    TaskRow,
    UserRow,
    VendorRow,
)

BRIEF_PRIORITY = 10
"""Queue priority of an item an annotation brief re-opened (new items have 0)."""
LIVE_ANSWERS = ("submitted", "accepted", "fixed")
"""Annotation statuses that count as an item's current label (as a guideline re-open reads)."""
LABELLERS = ("cohort", "vendor", "user")
CHUNK = 1000


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def labeller_ids(session: Session, labelled_by: dict[str, Any]) -> set[int]:
    """The users a ``labelled_by`` selector names (``{"cohort": NAME}``, ``{"vendor": NAME}`` or
    ``{"user": NAME}``); NotFound for a name that does not exist."""
    if not isinstance(labelled_by, dict) or len(labelled_by) != 1:
        raise ValidationError(
            'labelled_by: give one of cohort, vendor or user, e.g. {"cohort": "wave-2"}'
        )
    [(kind, name)] = labelled_by.items()
    if kind not in LABELLERS or not isinstance(name, str):
        raise ValidationError(f"labelled_by: {kind!r} is not one of {', '.join(LABELLERS)}")
    if kind == "user":
        found = session.scalar(select(UserRow.id).where(UserRow.name == name))
        if found is None:
            raise NotFoundError(f"labelled_by: unknown user {name!r}")
        return {found}
    if kind == "vendor":
        vendor = session.scalar(select(VendorRow.id).where(VendorRow.name == name))
        if vendor is None:
            raise NotFoundError(f"labelled_by: unknown vendor {name!r}")
        return set(session.scalars(select(UserRow.id).where(UserRow.vendor_id == vendor)))
    cohort = session.scalar(select(CohortRow.id).where(CohortRow.name == name))
    if cohort is None:
        raise NotFoundError(f"labelled_by: unknown cohort {name!r}")
    return set(
        session.scalars(select(CohortMemberRow.user_id).where(CohortMemberRow.cohort_id == cohort))
    )


def select_tasks(
    session: Session,
    store: RecordStore,
    project: ProjectRow,
    target: dict[str, Any],
    volume: int,
) -> tuple[list[int], int, set[int] | None]:
    """The live tasks of ``project`` the slice names, in task order, at most ``volume``; also
    how many matched in all and the labellers ``labelled_by`` named (``None``: every one)."""
    query = select(TaskRow.id, TaskRow.record_id, TaskRow.row).where(
        TaskRow.project_id == project.id, TaskRow.kind == "live"
    )
    candidates: list[tuple[int, str, int]] = []
    records = target.get("records")
    if records:
        wanted = list(dict.fromkeys(str(r) for r in records))
        for part in _chunks(wanted):
            candidates += [
                (t, r, w) for t, r, w in session.execute(query.where(TaskRow.record_id.in_(part)))
            ]
        found = {record_id for _, record_id, _ in candidates}
        unknown = [r for r in wanted if r not in found]
        if unknown:
            shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise ValidationError(
                f"records: {len(unknown)} are not items of project {project.name!r}: {shown}"
            )
    else:
        candidates = [(t, r, w) for t, r, w in session.execute(query)]
    candidates.sort()
    labellers: set[int] | None = None
    if target.get("labelled_by") is not None:
        labellers = labeller_ids(session, target["labelled_by"])
        labelled: set[int] = set()
        if labellers:
            ids = [t for t, _, _ in candidates]
            for part in _chunks(ids):
                labelled.update(
                    session.scalars(
                        select(AnnotationRow.task_id)
                        .join(AssignmentRow, AssignmentRow.id == AnnotationRow.assignment_id)
                        .where(
                            AnnotationRow.task_id.in_(part),
                            AnnotationRow.user_id.in_(labellers),
                            AnnotationRow.status.in_(LIVE_ANSWERS),
                            AssignmentRow.status == "submitted",
                        )
                    )
                )
        candidates = [c for c in candidates if c[0] in labelled]
    wanted_meta = target.get("filter") or {}
    if wanted_meta:
        kept = []
        for part in _chunks(candidates):
            for (task, record_id, row), record in zip(
                part, store.take_records([r for _, _, r in part]), strict=True
            ):
                meta = record.metadata
                if all(meta.get(k) == v for k, v in wanted_meta.items()):
                    kept.append((task, record_id, row))
        candidates = kept
    return [t for t, _, _ in candidates[:volume]], len(candidates), labellers


def reopen_tasks(
    session: Session,
    brief_id: int,
    project: ProjectRow,
    task_ids: list[int],
    labellers: set[int] | None,
) -> int:
    """Send ``task_ids`` back for labelling (see the module docstring) and record them as the
    brief's; return how many annotations were superseded."""
    superseded = 0
    for part in _chunks(task_ids):
        tasks = {t.id: t for t in session.scalars(select(TaskRow).where(TaskRow.id.in_(part)))}
        query = (
            select(AnnotationRow, AssignmentRow)
            .join(AssignmentRow, AssignmentRow.id == AnnotationRow.assignment_id)
            .where(
                AnnotationRow.task_id.in_(part),
                AnnotationRow.status.in_(LIVE_ANSWERS),
                AssignmentRow.status == "submitted",
            )
            .order_by(AnnotationRow.id)
        )
        if labellers is not None:
            query = query.where(AnnotationRow.user_id.in_(labellers))
        per_task: dict[int, int] = {}
        for annotation, assignment in session.execute(query).all():
            task = tasks[annotation.task_id]
            annotation.status = "superseded"
            if annotation.review == "pending":  # nothing left to review in it
                annotation.review = "not_needed"
            if assignment.status == "submitted":  # two revisions share one assignment
                assignment.status = "reopened"
                task.assigned -= 1
                task.submitted -= 1
            task.is_open = task.assigned < project.overlap
            per_task[task.id] = per_task.get(task.id, 0) + 1
        for task_id in part:
            task = tasks[task_id]
            task.priority = max(task.priority, BRIEF_PRIORITY)
            session.add(
                BriefTaskRow(brief_id=brief_id, task_id=task_id, reopened=per_task.get(task_id, 0))
            )
            superseded += per_task.get(task_id, 0)
    return superseded


def annotation_progress(session: Session, brief_id: int) -> dict[str, Any]:
    """An annotation brief's items: how many, how many complete again, how many in a lease."""
    overlap = ProjectRow.overlap
    total, done, leased = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((TaskRow.submitted >= overlap, 1), else_=0)), 0),
            func.coalesce(func.sum(case((TaskRow.assigned > TaskRow.submitted, 1), else_=0)), 0),
        )
        .select_from(BriefTaskRow)
        .join(TaskRow, TaskRow.id == BriefTaskRow.task_id)
        .join(ProjectRow, ProjectRow.id == TaskRow.project_id)
        .where(BriefTaskRow.brief_id == brief_id)
    ).one()
    total, done = int(total or 0), int(done or 0)
    return {
        "tasks": total,
        "done": done,
        "leased": int(leased or 0),
        "share": done / total if total else None,
    }


def sourcing_request(home: Path, ref: str, target: dict[str, Any], volume: int) -> dict[str, Any]:
    """The stored request of a sourcing brief: the gaps of ``ref``'s saved coverage report that
    the slice names (all of them when it names no ``field``) and the volume wanted."""
    path = report_path(home, ref)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(
            f"no saved coverage report for {ref} ({path}): run 'curata coverage {ref} "
            "--target FILE --by FIELD --save' first"
        ) from None
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        report = json.loads(data)
        gaps = list(report["brief"])
    except (ValueError, KeyError, TypeError):
        raise ValidationError(f"{path}: not a report of 'curata coverage --json'") from None
    field, value = target.get("field"), target.get("slice")
    chosen = [
        g
        for g in gaps
        if (field is None or g.get("field") == field)
        and (value is None or str(g.get("slice")) == str(value))
    ]
    if not chosen:
        known = ", ".join(str(g.get("label")) for g in gaps) or "none"
        raise ValidationError(
            f"the coverage report of {ref} shows no gap for "
            f"{field or 'any field'}={value if value is not None else '*'} (its gaps: {known})"
        )
    return {
        "dataset": ref,
        "report": str(path),
        "report_sha256": hashlib.sha256(data).hexdigest(),
        "target_file": report.get("target"),
        "gaps": chosen,
        "volume": volume,
        "records_at_request": report.get("data_records"),
    }
