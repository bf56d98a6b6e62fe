"""Annotations in and out: Label Studio's JSON export format and Argilla's HF datasets format.

Exports carry every current annotation of the project's live items with its annotator;
imports add annotations to a project (all of them or none), matching items by ``curata_id``
and users by name, and skip an annotator's second annotation of the same item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation.interchange import (
    from_argilla_value,
    from_labelstudio_results,
    to_argilla_value,
    to_labelstudio_results,
)
from curata.annotation.projects import ProjectService
from curata.annotation.review import current_annotations
from curata.annotation.schema import AnswerError, Schema, validate_answers
from curata.annotation.workforce import CLEARANCE
from curata.core.errors import InputError, NotFoundError
from curata.governance import audit
from curata.store.db import write_transaction
from curata.store.records import RecordStore
from curata.store.tables import AnnotationRow, AssignmentRow, TaskRow, UserRow, utcnow
from curata.timeutil import iso

FORMATS = ("labelstudio", "argilla")


@dataclass(frozen=True)
class ImportResult:
    """What an import added."""

    annotations: int
    skipped: int
    users_created: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class TransferService:
    """Exports and imports a project's annotations."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: RecordStore,
        projects: ProjectService,
        actor: str,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._projects = projects
        self._actor = actor

    def export(
        self, project_name: str, fmt: str, *, clearance: str | None = None
    ) -> list[dict[str, Any]]:
        """Every live item with its current annotations, in ``labelstudio`` or ``argilla`` shape.

        ``clearance`` (a name of :data:`CLEARANCE`) leaves out every item whose record needs more;
        None exports all of them.
        """
        if fmt not in FORMATS:
            raise InputError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
        if clearance is not None and clearance not in CLEARANCE:
            raise InputError(f"clearance: {clearance!r} is not one of {', '.join(CLEARANCE)}")
        with self._sessions() as session:
            project = self._projects.row(session, project_name)
            schema = self._projects.schema(session, project)
            query = select(TaskRow).where(TaskRow.project_id == project.id, TaskRow.kind == "live")
            if clearance is not None:
                query = query.where(TaskRow.clearance <= CLEARANCE[clearance])
            tasks = session.scalars(query.order_by(TaskRow.id)).all()
            names = dict(session.execute(select(UserRow.id, UserRow.name)).all())
            records = self._store.take_records([t.row for t in tasks])
            out = []
            for task, record in zip(tasks, records, strict=True):
                data = {**record.to_flat(), "curata_id": task.record_id}
                current = current_annotations(session, task.id)
                if fmt == "labelstudio":
                    out.append(_labelstudio_task(schema, task, data, current, names))
                else:
                    out.append(_argilla_row(schema, data, current, names))
            return out

    def import_(
        self,
        project_name: str,
        items: list[dict[str, Any]],
        fmt: str,
        *,
        create_users: bool = False,
    ) -> ImportResult:
        """Add the annotations in ``items`` (an export of either format) to a project."""
        if fmt not in FORMATS:
            raise InputError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
        with write_transaction(self._sessions) as session:
            project = self._projects.row(session, project_name)
            schema = self._projects.schema(session, project)
            guideline = self._projects.guideline_version(session, project.id)
            tasks = {
                t.record_id: t
                for t in session.scalars(
                    select(TaskRow).where(TaskRow.project_id == project.id, TaskRow.kind == "live")
                )
            }
            users = {u.name: u for u in session.scalars(select(UserRow))}
            texts = self._texts(
                [
                    t
                    for t in {tasks.get(_curata_id(i, fmt)) for i in items if isinstance(i, dict)}
                    if t
                ]
            )
            created: list[str] = []
            added = skipped = 0
            for position, item in enumerate(items, start=1):
                where = f"item {position}"
                for user_name, answers, duration in _annotations_of(schema, item, fmt, where):
                    task = tasks.get(_curata_id(item, fmt))
                    if task is None:
                        raise NotFoundError(
                            f"{where}: no item of project {project_name!r} "
                            f"has curata_id {_curata_id(item, fmt)!r}"
                        )
                    user = users.get(user_name)
                    if user is None:
                        if not create_users:
                            raise NotFoundError(
                                f"{where}: unknown user {user_name!r} "
                                "(add it, or import with --create-users)"
                            )
                        user = UserRow(
                            name=user_name, role="annotator", languages=[], domains=[], clearance=1
                        )
                        session.add(user)
                        session.flush()
                        users[user_name] = user
                        created.append(user_name)
                    exists = session.scalar(
                        select(AssignmentRow.id).where(
                            AssignmentRow.task_id == task.id, AssignmentRow.user_id == user.id
                        )
                    )
                    if exists is not None:
                        skipped += 1
                        continue
                    try:
                        checked = validate_answers(schema, answers, texts=texts[task.record_id])
                    except AnswerError as exc:
                        raise InputError(
                            f"{where}, record {task.record_id}, user {user_name!r}: {exc}"
                        ) from None
                    now = utcnow()
                    assignment = AssignmentRow(
                        task_id=task.id,
                        user_id=user.id,
                        status="submitted",
                        leased_at=now,
                        expires_at=now,
                        submitted_at=now,
                    )
                    session.add(assignment)
                    session.flush()
                    session.add(
                        AnnotationRow(
                            assignment_id=assignment.id,
                            task_id=task.id,
                            user_id=user.id,
                            answers=checked,
                            schema_version=project.schema_version,
                            guideline_version=guideline,
                            submitted_at=now,
                            duration_ms=duration,
                            revision=1,
                            status="submitted",
                            review="not_needed",
                        )
                    )
                    task.assigned += 1
                    task.submitted += 1
                    task.is_open = task.kind != "live" or task.assigned < project.overlap
                    added += 1
            audit.append(
                session,
                actor=self._actor,
                action="annotation.import",
                object_type="project",
                object_ref=project_name,
                details={
                    "format": fmt,
                    "annotations": added,
                    "skipped": skipped,
                    "users_created": created,
                },
            )
        return ImportResult(added, skipped, created)

    def _texts(self, tasks: list[TaskRow]) -> dict[str, dict[str, str]]:
        """The text fields of each task's record, by record id (what spans point into)."""
        records = self._store.take_records([t.row for t in tasks])
        return {
            task.record_id: {k: v for k, v in record.content().items() if isinstance(v, str)}
            for task, record in zip(tasks, records, strict=True)
        }


def _curata_id(item: dict[str, Any], fmt: str) -> Any:
    if fmt == "labelstudio":
        return (item.get("data") or {}).get("curata_id")
    return item.get("curata_id")


def _annotations_of(
    schema: Schema, item: dict[str, Any], fmt: str, where: str
) -> list[tuple[str, dict[str, Any], int | None]]:
    """(user, answers, duration in ms) for every annotation of one exported item."""
    if not isinstance(item, dict):
        raise InputError(f"{where}: expected an object, got {type(item).__name__}")
    out = []
    if fmt == "labelstudio":
        for annotation in item.get("annotations") or []:
            user = annotation.get("completed_by")
            if isinstance(user, dict):
                user = user.get("email") or user.get("username") or user.get("id")
            user = str(user) if not isinstance(user, int) else f"labelstudio-{user}"
            try:
                answers = from_labelstudio_results(schema, annotation.get("result") or [])
            except ValueError as exc:
                raise InputError(f"{where}: {exc}") from None
            lead = annotation.get("lead_time")
            out.append((user, answers, None if lead is None else int(float(lead) * 1000)))
        return out
    per_user: dict[str, dict[str, Any]] = {}
    for q in schema.questions:
        values = item.get(f"{q.name}.responses") or []
        users = item.get(f"{q.name}.responses.users") or []
        if len(values) != len(users):
            raise InputError(f"{where}: {q.name}.responses and .users differ in length")
        for user, value in zip(users, values, strict=True):
            per_user.setdefault(str(user), {})[q.name] = from_argilla_value(q.type, value)
    return [(user, answers, None) for user, answers in per_user.items()]


def _labelstudio_task(
    schema: Schema,
    task: TaskRow,
    data: dict[str, Any],
    current: list[AnnotationRow],
    names: dict[int, str],
) -> dict[str, Any]:
    to_name = "text" if "text" in data else "prompt" if "prompt" in data else "messages"
    return {
        "id": task.id,
        "data": data,
        "annotations": [
            {
                "id": a.id,
                "completed_by": names[a.user_id],
                "result": to_labelstudio_results(schema, a.answers, to_name),
                "created_at": iso(a.submitted_at),
                "lead_time": None if a.duration_ms is None else a.duration_ms / 1000,
                "was_cancelled": False,
                "meta": {
                    "curata": {
                        "schema_version": a.schema_version,
                        "guideline_version": a.guideline_version,
                        "status": a.status,
                    }
                },
            }
            for a in current
        ],
    }


def _argilla_row(
    schema: Schema, data: dict[str, Any], current: list[AnnotationRow], names: dict[int, str]
) -> dict[str, Any]:
    row: dict[str, Any] = {**data, "status": "completed" if current else "pending"}
    for q in schema.questions:
        answered = [a for a in current if q.name in a.answers]
        row[f"{q.name}.responses"] = [to_argilla_value(q.type, a.answers[q.name]) for a in answered]
        row[f"{q.name}.responses.users"] = [names[a.user_id] for a in answered]
        row[f"{q.name}.responses.status"] = ["submitted"] * len(answered)
    return row
