"""A vendor's hand-over: everything its users produced, as JSONL files and a manifest.

``annotations.jsonl``: every annotation on a live or gold item (project, task and record id,
annotator, revision, answers, schema and guideline versions, submitted_at, status, review
state) with the review decisions made on it (tier, decision, reason, fixed answers, when);
``skips.jsonl``: every item given back, with the reason and note; ``calibration.jsonl``: every
calibration answer with whether it was right (the known answers themselves are not handed
over). ``manifest.json`` holds the vendor's terms and each file's row count and SHA-256.
The folder is written beside ``out`` and renamed into place, so a failed export leaves nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from curata.annotation.queue import _item_right
from curata.core.errors import AlreadyExistsError
from curata.store.tables import (
    AnnotationRow,
    AssignmentRow,
    AuditEventRow,
    ProjectRow,
    ReviewRow,
    TaskRow,
    UserRow,
    utcnow,
)
from curata.timeutil import iso

__all__ = ["FILES", "MANIFEST", "ProgressFn", "write_vendor_export"]

FILES = ("annotations.jsonl", "skips.jsonl", "calibration.jsonl")
MANIFEST = "manifest.json"

ProgressFn = Callable[[str, int], None]
"""Told each file's name and row count as it is written."""


def _annotations(session: Session, vendor_id: int, *, calibration: bool) -> list[dict[str, Any]]:
    kind = TaskRow.kind == "calibration" if calibration else TaskRow.kind != "calibration"
    rows = session.execute(
        select(AnnotationRow, TaskRow, ProjectRow.name, UserRow.name)
        .join(TaskRow, TaskRow.id == AnnotationRow.task_id)
        .join(ProjectRow, ProjectRow.id == TaskRow.project_id)
        .join(UserRow, UserRow.id == AnnotationRow.user_id)
        .where(UserRow.vendor_id == vendor_id, kind)
        .order_by(AnnotationRow.id)
    ).all()
    reviews: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not calibration and rows:
        for review in session.scalars(
            select(ReviewRow)
            .where(ReviewRow.annotation_id.in_([a.id for a, *_ in rows]))
            .order_by(ReviewRow.id)
        ):
            reviews[review.annotation_id or 0].append({
                "tier": review.tier, "decision": review.decision, "reason": review.reason,
                "answers": review.answers, "created_at": iso(review.created_at)})  # fmt: skip
    out = []
    for annotation, task, project, annotator in rows:
        item = {
            "project": project,
            "task_id": task.id,
            "record_id": task.record_id,
            "kind": task.kind,
            "annotator": annotator,
            "revision": annotation.revision,
            "answers": annotation.answers,
            "schema_version": annotation.schema_version,
            "guideline_version": annotation.guideline_version,
            "submitted_at": iso(annotation.submitted_at),
            "duration_ms": annotation.duration_ms,
            "status": annotation.status,
        }
        if calibration:
            item["right"] = _item_right(annotation.answers, task.gold_answers)
        else:
            item["review"] = annotation.review
            item["reviews"] = reviews.get(annotation.id, [])
        out.append(item)
    return out


def _skips(session: Session, vendor_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(AssignmentRow, TaskRow, ProjectRow.name, UserRow.name)
        .join(TaskRow, TaskRow.id == AssignmentRow.task_id)
        .join(ProjectRow, ProjectRow.id == TaskRow.project_id)
        .join(UserRow, UserRow.id == AssignmentRow.user_id)
        .where(UserRow.vendor_id == vendor_id, AssignmentRow.status == "skipped")
        .order_by(AssignmentRow.id)
    ).all()
    why: dict[str, dict[str, Any]] = {}
    if rows:
        for ref, details in session.execute(
            select(AuditEventRow.object_ref, AuditEventRow.details).where(
                AuditEventRow.action == "assignment.skip",
                AuditEventRow.object_ref.in_([str(a.id) for a, *_ in rows]),
            )
        ):
            why[ref] = details or {}
    return [
        {
            "project": project,
            "task_id": task.id,
            "record_id": task.record_id,
            "annotator": annotator,
            "reason": why.get(str(assignment.id), {}).get("reason"),
            "note": why.get(str(assignment.id), {}).get("note", ""),
            "skipped_at": iso(assignment.expires_at),
        }
        for assignment, task, project, annotator in rows
    ]


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> tuple[int, str]:
    digest = hashlib.sha256()
    count = 0
    with path.open("wb") as f:
        for row in rows:
            line = (json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
            digest.update(line)
            f.write(line)
            count += 1
    return count, digest.hexdigest()


def write_vendor_export(
    session: Session,
    vendor_id: int,
    vendor: dict[str, Any],
    out: Path,
    *,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Write the hand-over of vendor ``vendor_id`` (``vendor``: its view, terms included) into
    ``out``, which must be missing or empty; return the manifest."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AlreadyExistsError(f"{out}: exists and is not an empty folder")
    readers = {
        "annotations.jsonl": lambda: _annotations(session, vendor_id, calibration=False),
        "skips.jsonl": lambda: _skips(session, vendor_id),
        "calibration.jsonl": lambda: _annotations(session, vendor_id, calibration=True),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    files: dict[str, dict[str, Any]] = {}
    try:
        tmp.mkdir()
        for name in FILES:
            rows, sha = _write_jsonl(tmp / name, readers[name]())
            files[name] = {"rows": rows, "sha256": sha}
            if progress is not None:
                progress(name, rows)
        manifest = {
            "vendor": vendor["name"],
            "terms": {k: vendor[k] for k in (
                "data_ownership", "ip", "retention_days", "max_sensitivity", "terms_updated_at")},
            "revoked_at": vendor.get("revoked_at"),
            "exported_at": iso(utcnow()),
            "files": files,
        }  # fmt: skip
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), "utf-8")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return manifest
