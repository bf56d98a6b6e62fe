"""Items with known answers: hidden gold (served among live items, never showing the answers)
and calibration items (what a newcomer labels first)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation.answers import check_answers, record_view
from curata.annotation.schema import AnswerError, Schema
from curata.core.errors import AlreadyExistsError, CurataError, NotFoundError, ValidationError
from curata.governance import audit
from curata.store.records import RecordStore
from curata.store.tables import ProjectRow, TaskRow

if TYPE_CHECKING:
    from curata.annotation.projects import ProjectService

KINDS = ("gold", "calibration")


class ItemError(CurataError):
    """One item of a batch could not be added, so none was.

    ``item`` is its position in the batch (counted from 1) and ``problem`` the error about that
    item alone; the message leads with ``item N:`` when the batch held more than one, and the
    status is the problem's (404 for an unknown record, 409 for a duplicate, 422 for answers
    outside the schema).
    """

    def __init__(self, item: int, problem: CurataError, *, batch: int) -> None:
        super().__init__(f"item {item}: {problem}" if batch > 1 else str(problem))
        self.item = item
        self.problem = problem
        self.status_code = problem.status_code


class GoldService:
    """Adds gold and calibration items, with their known answers, to projects."""

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

    def _record(self, row: int) -> Callable[[], dict[str, Any]]:
        """A record's view by store row, read when called: what span, preference and ranking
        answers are checked against (see :func:`curata.annotation.answers.check_answers`)."""
        return lambda: record_view(self._store.take_records([row])[0])

    def add(
        self, name: str, record_id: str, answers: dict[str, Any], *, kind: str = "gold"
    ) -> None:
        """Make a record of the project's version a gold item (or, with ``kind="calibration"``,
        a calibration item) with known answers; annotators never see the answers."""
        try:
            self.add_items(name, [(record_id, answers)], kind=kind)
        except ItemError as exc:
            raise exc.problem from None

    def add_items(
        self, name: str, items: list[tuple[str, dict[str, Any]]], *, kind: str = "gold"
    ) -> None:
        """Add several gold or calibration items at once: all of them, or none (an
        :class:`ItemError` names the item that could not be added)."""
        if kind not in KINDS:
            raise ValidationError(f"kind: {kind!r} is not gold or calibration")
        with self._sessions.begin() as session:
            project = self._projects.row(session, name)
            schema = self._projects.schema(session, project)
            taken = set(
                session.scalars(
                    select(TaskRow.record_id).where(
                        TaskRow.project_id == project.id, TaskRow.kind == kind
                    )
                )
            )
            for position, (record_id, answers) in enumerate(items, start=1):
                try:
                    live, checked = self._known(session, project, schema, kind, record_id, answers)
                    if record_id in taken:
                        raise AlreadyExistsError(
                            f"record {record_id} is already a {kind} item of project {name!r}"
                        )
                except CurataError as exc:
                    raise ItemError(position, exc, batch=len(items)) from None
                taken.add(record_id)
                session.add(
                    TaskRow(
                        project_id=project.id,
                        record_id=record_id,
                        row=live.row,
                        kind=kind,
                        clearance=live.clearance,
                        language=live.language,
                        gold_answers=checked,
                        assigned=0,
                        submitted=0,
                    )
                )
            audit.append(
                session,
                actor=self._actor,
                action=f"project.{kind}",
                object_type="project",
                object_ref=name,
                details={"records": [record_id for record_id, _ in items]},
            )

    def _known(
        self,
        session: Session,
        project: ProjectRow,
        schema: Schema,
        kind: str,
        record_id: str,
        answers: dict[str, Any],
    ) -> tuple[TaskRow, dict[str, Any]]:
        """The live item of ``record_id`` and ``answers`` checked against the schema."""
        live = session.scalar(
            select(TaskRow).where(
                TaskRow.project_id == project.id,
                TaskRow.record_id == record_id,
                TaskRow.kind == "live",
            )
        )
        if live is None:
            raise NotFoundError(f"record {record_id} is not an item of project {project.name!r}")
        try:
            checked = check_answers(schema, answers, self._record(live.row)).answers
        except AnswerError as exc:
            raise ValidationError(f"record {record_id}: {kind} answers: {exc}") from None
        return live, checked
