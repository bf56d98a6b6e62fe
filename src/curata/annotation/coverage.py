"""Which live items the model answers on its own, so the queue holds them back from people.

Under ``model-only`` (:mod:`curata.annotation.automation`) a release takes the model's answer to
a question outside the question's human audit sample (:func:`in_audit_sample`). An item whose
every needed question (the schema's required questions; every question where none is required)
runs ``model-only``, that the model of each question answered, and that lies outside every
question's audit sample, needs nobody: :func:`cover_tasks` marks it ``tasks.model_covered``,
and the queue does not serve it. Any other item is served as before, the audit sample and every
gold and calibration item included (gold measures the people).

Marks are kept where they can change: when a question's mode is set (either way) and when a
model answers. A lease already held, and the answers already given, are left alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from curata.store.tables import ModelAnswerRow, ProjectRow, QuestionAutomationRow, TaskRow

CHUNK = 500
"""Ids per ``UPDATE ... WHERE id IN``: under SQLite's bound-parameter limit."""


def in_audit_sample(project: str, question: str, record_id: str, share: float) -> bool:
    """Whether an item stays with people under ``model-only``: the first 8 bytes of
    SHA-256(``project/question/record``) as a fraction of 2^64 fall below ``share``."""
    digest = hashlib.sha256(f"{project}/{question}/{record_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def cover_tasks(session: Session, project: ProjectRow, needed: Sequence[str]) -> int:
    """Mark the project's live items the model covers (see the module docstring) and unmark
    the rest; ``needed`` is the questions an item needs answered. Returns how many are marked."""
    modes = {
        row.question: row
        for row in session.scalars(
            select(QuestionAutomationRow).where(QuestionAutomationRow.project_id == project.id)
        )
    }
    automated = [modes.get(q) for q in needed]
    covered: set[int] = set()
    if needed and all(r is not None and r.mode == "model-only" and r.user_id for r in automated):
        answered: set[int] | None = None
        for row in automated:
            assert row is not None
            ids = set(session.scalars(
                select(ModelAnswerRow.task_id)
                .join(TaskRow, TaskRow.id == ModelAnswerRow.task_id)
                .where(TaskRow.project_id == project.id, TaskRow.kind == "live",
                       ModelAnswerRow.user_id == row.user_id,
                       ModelAnswerRow.question == row.question,
                       ModelAnswerRow.value.is_not(None))
            ))  # fmt: skip
            answered = ids if answered is None else answered & ids
        live = session.execute(
            select(TaskRow.id, TaskRow.record_id).where(
                TaskRow.project_id == project.id, TaskRow.kind == "live"
            )
        )
        covered = {
            task_id
            for task_id, record_id in live
            if task_id in (answered or set())
            and not any(
                in_audit_sample(project.name, r.question, record_id, r.audit_share)
                for r in automated
                if r is not None
            )
        }
    marked = set(session.scalars(
        select(TaskRow.id).where(TaskRow.project_id == project.id, TaskRow.model_covered)
    ))  # fmt: skip
    for value, changed in ((True, sorted(covered - marked)), (False, sorted(marked - covered))):
        for start in range(0, len(changed), CHUNK):
            session.execute(
                update(TaskRow)
                .where(TaskRow.id.in_(changed[start : start + CHUNK]))
                .values(model_covered=value)
                .execution_options(synchronize_session=False)
            )
    return len(covered)


def needed_questions(required: Sequence[tuple[str, bool]]) -> list[str]:
    """The questions an item needs answered, from (name, required) pairs: the required ones,
    or every one where none is required."""
    names = [name for name, needed in required if needed]
    return names or [name for name, _ in required]
