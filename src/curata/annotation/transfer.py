"""Annotations in and out, in Label Studio's and Argilla's (v2) own formats.

Exports carry every live item with the answers that count (:mod:`curata.annotation.final`):
each annotator's latest answers with a reviewer's fix applied, rejected and superseded ones
left out; an adjudicated item's settled answers travel as Label Studio's ground-truth
annotation and as Argilla suggestions. :meth:`TransferService.write` writes what each tool
reads: Label Studio's tasks (``tasks.json``) and labeling config (``label_config.xml``);
Argilla's ``rg.Dataset.to_disk`` folder (``.argilla/settings.json``, ``.argilla/dataset.json``,
``records.json``). Imports add annotations to a project (all of them or none), matching items
by ``curata_id`` (Argilla: the record id) and users by name, and skip an annotator's second
annotation of the same item.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation.answers import check_answers, record_view
from curata.annotation.final import CountedAnnotation, adjudications, counted_annotations
from curata.annotation.guidelines import latest_version
from curata.annotation.interchange import (
    CONTENT_FIELDS,
    argilla_dataset,
    argilla_fields,
    argilla_settings,
    argilla_user_id,
    from_argilla_value,
    from_labelstudio_results,
    labelstudio_config,
    primary_field,
    to_argilla_value,
    to_labelstudio_results,
)
from curata.annotation.projects import ProjectService
from curata.annotation.schema import AnswerError, Schema
from curata.core.errors import AlreadyExistsError, InputError, NotFoundError
from curata.core.records import Record
from curata.governance import audit
from curata.governance.identity import CLEARANCE
from curata.store.db import write_transaction
from curata.store.records import RecordStore
from curata.store.tables import (
    AnnotationRow,
    AssignmentRow,
    GuidelineRow,
    ProjectRow,
    ReviewRow,
    TaskRow,
    UserRow,
    utcnow,
)
from curata.timeutil import iso

FORMATS = ("labelstudio", "argilla")
LABELSTUDIO_TASKS = "tasks.json"
LABELSTUDIO_CONFIG = "label_config.xml"
ARGILLA_RECORDS = "records.json"
ARGILLA_SETTINGS = ".argilla/settings.json"
ARGILLA_DATASET = ".argilla/dataset.json"


@dataclass(frozen=True)
class ImportResult:
    """What an import added."""

    annotations: int
    skipped: int
    users_created: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ExportBundle:
    """A project in a tool's format: its items (Label Studio tasks or Argilla records) and
    the other files the tool reads, by path relative to the export folder."""

    items: list[dict[str, Any]]
    files: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Item:
    """One live item as the exporters see it."""

    task: TaskRow
    record: Record
    counted: list[CountedAnnotation]
    settled: dict[str, Any] | None
    settled_by: int | None


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
        """Every live item with the answers that count, as Label Studio tasks or Argilla records.

        ``clearance`` (a name of :data:`CLEARANCE`) leaves out every item whose record needs more;
        None exports all of them.
        """
        return self.bundle(project_name, fmt, clearance=clearance).items

    def bundle(self, project_name: str, fmt: str, *, clearance: str | None = None) -> ExportBundle:
        """The export of :meth:`export` with the files the tool needs beside it (Label Studio's
        labeling config; Argilla's settings and dataset)."""
        if fmt not in FORMATS:
            raise InputError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
        if clearance is not None and clearance not in CLEARANCE:
            raise InputError(f"clearance: {clearance!r} is not one of {', '.join(CLEARANCE)}")
        with self._sessions() as session:
            project = self._projects.row(session, project_name)
            schema = self._projects.schema(session, project)
            items = self._items(session, project, clearance)
            names = dict(session.execute(select(UserRow.id, UserRow.name)).all())
            details = {
                row.id: row
                for row in session.execute(
                    select(
                        AnnotationRow.id,
                        AnnotationRow.duration_ms,
                        AnnotationRow.schema_version,
                        AnnotationRow.status,
                    )
                    .join(TaskRow, TaskRow.id == AnnotationRow.task_id)
                    .where(TaskRow.project_id == project.id)
                )
            }
            guidelines = session.scalar(
                select(GuidelineRow.body)
                .where(GuidelineRow.project_id == project.id)
                .order_by(GuidelineRow.version.desc())
                .limit(1)
            )
            overlap = project.overlap
        fields = [f for f in CONTENT_FIELDS if any(f in i.record.content() for i in items)]
        if fmt == "labelstudio":
            main = primary_field(fields)
            tasks = [_labelstudio_task(schema, i, main, names, details) for i in items]
            return ExportBundle(tasks, {LABELSTUDIO_CONFIG: labelstudio_config(schema, fields)})
        everywhere = {f: all(f in i.record.content() for i in items) for f in fields}
        records = [_argilla_record(schema, i, names, overlap) for i in items]
        return ExportBundle(
            records,
            {
                ARGILLA_SETTINGS: argilla_settings(
                    schema, everywhere, guidelines=guidelines, overlap=overlap
                ),
                ARGILLA_DATASET: argilla_dataset(project_name, guidelines=guidelines),
            },
        )

    def write(self, project_name: str, fmt: str, out: Path, *, clearance: str | None = None) -> int:
        """Write the export as a folder the tool reads (see the module's docstring); return the
        number of items. ``out`` must not exist; a failed export leaves nothing."""
        if out.exists():
            raise AlreadyExistsError(f"{out}: already exists (remove it first)")
        bundle = self.bundle(project_name, fmt, clearance=clearance)
        items_file = LABELSTUDIO_TASKS if fmt == "labelstudio" else ARGILLA_RECORDS
        files = {items_file: bundle.items, **bundle.files}
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        try:
            for relative, content in files.items():
                path = tmp / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                text = content if isinstance(content, str) else json.dumps(content, indent=1)
                path.write_text(text, encoding="utf-8")
            os.replace(tmp, out)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        return len(bundle.items)

    def _items(self, session: Session, project: ProjectRow, clearance: str | None) -> list[_Item]:
        query = select(TaskRow).where(TaskRow.project_id == project.id, TaskRow.kind == "live")
        if clearance is not None:
            query = query.where(TaskRow.clearance <= CLEARANCE[clearance])
        tasks = session.scalars(query.order_by(TaskRow.id)).all()
        counted: dict[int, list[CountedAnnotation]] = defaultdict(list)
        for a in counted_annotations(session, project_id=project.id):
            counted[a.task_id].append(a)
        settled = adjudications(session, project_id=project.id)
        settled_by = dict(
            session.execute(
                select(ReviewRow.task_id, ReviewRow.reviewer_id)
                .join(TaskRow, TaskRow.id == ReviewRow.task_id)
                .where(
                    TaskRow.project_id == project.id,
                    ReviewRow.tier == "adjudicate",
                    ReviewRow.answers.is_not(None),
                )
                .order_by(ReviewRow.id)
            ).all()
        )
        records = self._store.take_records([t.row for t in tasks])
        return [
            _Item(
                task,
                record,
                sorted(counted[task.id], key=lambda a: a.annotation_id),
                settled.get(task.id),
                settled_by.get(task.id),
            )
            for task, record in zip(tasks, records, strict=True)
        ]

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
            guideline = latest_version(session, project.id)
            tasks = {
                t.record_id: t
                for t in session.scalars(
                    select(TaskRow).where(TaskRow.project_id == project.id, TaskRow.kind == "live")
                )
            }
            users = {u.name: u for u in session.scalars(select(UserRow))}
            argilla_names = {argilla_user_id(name): name for name in users}
            views = self._views(
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
                found = _annotations_of(schema, item, fmt, where, argilla_names)
                for user_name, answers, duration in found:
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
                        checked = check_answers(schema, answers, views[task.record_id]).answers
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

    def _views(self, tasks: list[TaskRow]) -> dict[str, dict[str, Any]]:
        """Each task's record by record id, read in one batch: what the imported answers are
        checked against (spans inside its text, preferences naming its candidates)."""
        records = self._store.take_records([t.row for t in tasks])
        return {
            task.record_id: record_view(record) for task, record in zip(tasks, records, strict=True)
        }


def read_export(path: Path, fmt: str) -> list[dict[str, Any]]:
    """The items of an export: a folder :meth:`TransferService.write` (or the tool) wrote, or
    its items file (Label Studio's tasks JSON; Argilla's ``records.json``, or JSON Lines of
    Argilla's Hugging Face rows)."""
    if fmt not in FORMATS:
        raise InputError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if path.is_dir():
        path = path / (LABELSTUDIO_TASKS if fmt == "labelstudio" else ARGILLA_RECORDS)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", path=str(path)) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 (byte {exc.start})", path=str(path)) from None
    try:
        if path.suffix == ".jsonl":
            items = []
            for number, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    try:
                        items.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise InputError(
                            f"malformed JSON: {exc.msg}", path=str(path), line=number
                        ) from None
            return items
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg}", path=str(path), line=exc.lineno) from None
    if not isinstance(loaded, list):
        raise InputError("expected a JSON list of items", path=str(path))
    return loaded


def _curata_id(item: dict[str, Any], fmt: str) -> Any:
    if fmt == "labelstudio":
        return (item.get("data") or {}).get("curata_id")
    if isinstance(item.get("fields"), dict):  # an Argilla v2 record
        return item.get("id")
    return item.get("curata_id")  # a row of Argilla's Hugging Face layout


def _annotations_of(
    schema: Schema,
    item: dict[str, Any],
    fmt: str,
    where: str,
    argilla_names: dict[str, str],
) -> list[tuple[str, dict[str, Any], int | None]]:
    """(user, answers, duration in ms) for every annotation of one exported item; Label
    Studio's ground-truth and cancelled annotations are not votes and are left out."""
    if not isinstance(item, dict):
        raise InputError(f"{where}: expected an object, got {type(item).__name__}")
    out = []
    if fmt == "labelstudio":
        known = ((item.get("meta") or {}).get("curata") or {}).get("annotators") or {}
        for annotation in item.get("annotations") or []:
            if annotation.get("ground_truth") or annotation.get("was_cancelled"):
                continue
            user = annotation.get("completed_by")
            if isinstance(user, dict):
                user = user.get("email") or user.get("username") or user.get("id")
            if isinstance(user, int):
                user = known.get(str(user)) or f"labelstudio-{user}"
            try:
                answers = from_labelstudio_results(schema, annotation.get("result") or [])
            except ValueError as exc:
                raise InputError(f"{where}: {exc}") from None
            lead = annotation.get("lead_time")
            out.append((str(user), answers, None if lead is None else int(float(lead) * 1000)))
        return out
    types = {q.name: q.type for q in schema.questions}
    per_user: dict[str, dict[str, Any]] = {}
    if isinstance(item.get("responses"), dict):  # an Argilla v2 record
        for name, responses in item["responses"].items():
            if name not in types:
                raise InputError(f"{where}: response to unknown question {name!r}")
            for response in responses or []:
                if response.get("status", "submitted") != "submitted":
                    continue
                user_id = str(response.get("user_id"))
                user = argilla_names.get(user_id) or f"argilla-{user_id}"
                value = from_argilla_value(types[name], response.get("value"))
                per_user.setdefault(user, {})[name] = value
        return [(user, answers, None) for user, answers in per_user.items()]
    for q in schema.questions:
        values = item.get(f"{q.name}.responses") or []
        users = item.get(f"{q.name}.responses.users") or []
        if len(values) != len(users):
            raise InputError(f"{where}: {q.name}.responses and .users differ in length")
        for user, value in zip(users, values, strict=True):
            per_user.setdefault(str(user), {})[q.name] = from_argilla_value(q.type, value)
    return [(user, answers, None) for user, answers in per_user.items()]


def _texts_of(record: Record) -> dict[str, str]:
    return {k: v for k, v in record.content().items() if isinstance(v, str)}


def _labelstudio_task(
    schema: Schema,
    item: _Item,
    main: str,
    names: dict[int, str],
    details: dict[int, Any],
) -> dict[str, Any]:
    """One Label Studio task: the record as ``data``, an annotation per annotator (their
    answers after review) and, for an adjudicated item, a ground-truth annotation."""
    texts = _texts_of(item.record)
    annotations = []
    for a in item.counted:
        row = details[a.annotation_id]
        annotations.append(
            {
                "id": a.annotation_id,
                "completed_by": a.user_id,
                "result": to_labelstudio_results(
                    schema, a.answers, main, texts=texts, annotation=a.annotation_id
                ),
                "created_at": iso(a.submitted_at),
                "lead_time": None if row.duration_ms is None else row.duration_ms / 1000,
                "was_cancelled": False,
                "ground_truth": False,
            }
        )
    if item.settled is not None:
        annotations.append(
            {
                "completed_by": item.settled_by,
                "result": to_labelstudio_results(
                    schema, item.settled, main, texts=texts, annotation=f"task-{item.task.id}"
                ),
                "was_cancelled": False,
                "ground_truth": True,
            }
        )
    people = {a.user_id for a in item.counted} | (
        {item.settled_by} if item.settled_by is not None else set()
    )
    return {
        "id": item.task.id,
        "data": {**item.record.to_flat(), "curata_id": item.task.record_id},
        "meta": {
            "curata": {
                "annotators": {str(uid): names[uid] for uid in sorted(people)},
                "annotations": {
                    str(a.annotation_id): {
                        "status": details[a.annotation_id].status,
                        "fixed": a.fixed,
                        "schema_version": details[a.annotation_id].schema_version,
                        "guideline_version": a.guideline_version,
                    }
                    for a in item.counted
                },
            }
        },
        "annotations": annotations,
    }


def _argilla_record(
    schema: Schema, item: _Item, names: dict[int, str], overlap: int
) -> dict[str, Any]:
    """One Argilla record (the dict ``rg.Record.to_dict`` gives): responses are the answers
    after review, suggestions an adjudicated item's settled answers."""
    responses: dict[str, list[dict[str, Any]]] = {}
    suggestions: dict[str, dict[str, Any]] = {}
    for q in schema.questions:
        answered = [a for a in item.counted if q.name in a.answers]
        if answered:
            responses[q.name] = [
                {
                    "value": to_argilla_value(q.type, a.answers[q.name]),
                    "user_id": argilla_user_id(names[a.user_id]),
                }
                for a in answered
            ]
        if item.settled is not None and q.name in item.settled:
            suggestions[q.name] = {
                "value": to_argilla_value(q.type, item.settled[q.name]),
                "score": 1.0,
                "agent": names.get(item.settled_by) if item.settled_by else None,
            }
    return {
        "id": item.task.record_id,
        "fields": argilla_fields(item.record.content()),
        "metadata": dict(item.record.metadata),
        "suggestions": suggestions,
        "responses": responses,
        "vectors": {},
        "status": "completed" if len(item.counted) >= overlap else "pending",
        "_server_id": None,
    }
