"""The task queue: leases items to annotators, respecting overlap, priority and leases.

Correct under concurrency on both databases: PostgreSQL locks the chosen task row with
``FOR UPDATE SKIP LOCKED`` (concurrent annotators take different tasks instead of waiting);
SQLite serialises writers with ``BEGIN IMMEDIATE``. A task's ``assigned`` counter moves in the
same transaction as its leases, so no item exceeds its overlap and no annotator gets an item
twice (a unique constraint on task and user backs this up).
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Executable,
    Table,
    and_,
    bindparam,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation import blind
from curata.annotation.answers import check_answers, needs_record, shown_answers
from curata.annotation.automation import suggestion as model_suggestion
from curata.annotation.final import counts
from curata.annotation.projects import ProjectService
from curata.annotation.review import flag_disagreement, initial_review
from curata.annotation.schema import AnswerError, Schema
from curata.core.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from curata.core.ids import canonical_json
from curata.governance import audit
from curata.governance.policies import ItemScope, ProjectScope
from curata.stats.proportions import gold_checks, wilson_interval
from curata.store.db import write_transaction
from curata.store.records import RecordStore
from curata.store.tables import (
    AnnotationRow,
    AssignmentRow,
    GuidelineRow,
    ProjectMemberRow,
    ProjectRow,
    ReviewRow,
    TaskRow,
    UserRow,
    VendorRow,
    utcnow,
)
from curata.timeutil import as_utc, iso

A = cast(Table, AssignmentRow.__table__)
G = cast(Table, GuidelineRow.__table__)
M = cast(Table, ProjectMemberRow.__table__)
N = cast(Table, AnnotationRow.__table__)
P = cast(Table, ProjectRow.__table__)
R = cast(Table, ReviewRow.__table__)
T = cast(Table, TaskRow.__table__)
U = cast(Table, UserRow.__table__)
V = cast(Table, VendorRow.__table__)


@dataclass(frozen=True)
class Returned:
    """A rejected annotation come back to its annotator (the review's fresh lease): the
    reviewer's reason, written for the annotator, and the answers that were rejected, as the
    annotator gave them (a pairwise record's candidates by the letters shown to them), to fix
    and submit again. Who rejected it is not said."""

    reason: str
    answers: dict[str, Any]
    rejected_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "answers": self.answers,
                "rejected_at": iso(self.rejected_at)}  # fmt: skip


@dataclass(frozen=True)
class TaskView:
    """What an annotator receives: the same shape for live and gold items (gold is hidden).

    ``returned`` is set when the leased item is the annotator's own annotation that a reviewer
    rejected (whatever the item's kind), and ``None`` otherwise."""

    assignment_id: int
    project: str
    record: dict[str, Any]
    schema: dict[str, Any]
    schema_version: int
    guideline_version: int | None
    expires_at: datetime
    returned: Returned | None = None
    suggestion: dict[str, Any] | None = None
    """On a ``model-suggested`` question, the model's answer (``{"models", "answers"}``), shown
    to the annotator and never counted (:func:`curata.annotation.automation.suggestion`)."""

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "expires_at": iso(self.expires_at),
                "returned": None if self.returned is None else self.returned.to_dict()}  # fmt: skip


@dataclass(frozen=True)
class QuestionFeedback:
    """One question of a calibration item: the annotator's answer, the item's known answer
    (both as the annotator saw the candidates: blind letters) and whether they match (a
    preference by its choice, anything else as a whole; an unanswered question is wrong)."""

    question: str
    answer: Any
    expected: Any
    correct: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class CalibrationFeedback:
    """What a calibration item taught: per question right or wrong with the expected answer,
    the running score over the annotator's calibration answers and where calibration stands.

    ``state`` is ``pending`` (``remaining`` items to go), ``passed`` (live items are open) or
    ``failed`` (live items stay closed until a lead recalibrates them; ``retraining`` names
    the policy's material). ``low``/``high`` are the score's 95% Wilson interval, and
    ``rule`` says which of score, low or high is held against ``threshold`` at the end.
    Only calibration items have feedback: a hidden gold item's answers are never shown.
    """

    assignment_id: int
    correct: bool
    questions: list[QuestionFeedback]
    answered: int
    needed: int
    right: int
    score: float
    low: float
    high: float
    threshold: float
    rule: str
    state: str
    remaining: int
    retraining: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "questions": [q.to_dict() for q in self.questions]}


@dataclass(frozen=True)
class Submission:
    """A stored annotation, as returned to the annotator who made it; ``calibration`` is the
    feedback on a calibration item (``None`` for live and gold items alike)."""

    annotation_id: int
    assignment_id: int
    answers: dict[str, Any]
    schema_version: int
    guideline_version: int | None
    submitted_at: datetime
    calibration: CalibrationFeedback | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "submitted_at": iso(self.submitted_at),
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
        }


SKIP_REASONS = ("unreadable", "not_my_language", "offensive", "other")
"""Why an annotator gives an item back; ``other`` needs a note."""
MAX_SKIP_NOTE = 500


@dataclass(frozen=True)
class Skipped:
    """An item given back: the lease ended at ``skipped_at`` and the item went back to the
    queue for someone else."""

    assignment_id: int
    project: str
    reason: str
    note: str
    skipped_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "skipped_at": iso(self.skipped_at)}


class NotMemberError(ForbiddenError):
    """The user is not a member of the project (the API answers 404: existence is hidden)."""


class NoSkipError(ForbiddenError):
    """A calibration item cannot be skipped (calibration is scored on every item of the set)."""


@dataclass(frozen=True)
class _Score:
    """An annotator's calibration answers judged against the policy."""

    answered: int
    needed: int
    right: int
    score: float
    low: float
    high: float
    threshold: float
    rule: str
    state: str  # pending, passed, failed
    retraining: str


def _item_right(answers: dict[str, Any], gold: dict[str, Any] | None) -> bool:
    """Every known question answered and right (a skipped one is not right)."""
    checks = list(gold_checks(answers, gold or {}))
    return len(checks) == len(gold or {}) and all(ok for _, ok in checks)


def _calibration_needed(session: Session, project_id: int, policy: dict[str, Any]) -> int:
    """How many calibration items an annotator labels: the policy's size, or fewer where the
    project has fewer."""
    size = int(policy.get("size") or 0)
    if size == 0:
        return 0
    available = (
        session.scalar(
            select(func.count())
            .select_from(T)
            .where(T.c.project_id == project_id, T.c.kind == "calibration")
        )
        or 0
    )
    return min(size, int(available))


def _calibration_rows(session: Session, project_id: int, user_id: int) -> list[Any]:
    """The annotator's current calibration answers with their items' known answers."""
    return list(
        session.execute(
            select(
                N.c.answers,
                T.c.gold_answers,
                N.c.task_id,
                N.c.schema_version,
                N.c.guideline_version,
                N.c.submitted_at,
            )
            .join(T, T.c.id == N.c.task_id)
            .where(
                T.c.project_id == project_id,
                T.c.kind == "calibration",
                N.c.user_id == user_id,
                N.c.status != "superseded",
            )
        ).all()
    )


def _judge(policy: dict[str, Any], needed: int, rows: list[Any]) -> _Score:
    """Where calibration stands: pending while fewer than ``needed`` answers, then passed or
    failed by the policy's threshold and rule on the Wilson interval of the score."""
    right = sum(_item_right(answers, gold) for answers, gold, *_ in rows)
    n = len(rows)
    score = right / n if n else 0.0
    low, high = wilson_interval(right, n)
    threshold = float(policy.get("threshold", 0.8))
    rule = str(policy.get("rule", "point"))
    if n < needed:
        state = "pending"
    elif n == 0:
        state = "passed"
    else:
        judged = {"point": score, "lower": low, "upper": high}[rule]
        state = "failed" if judged < threshold else "passed"
    return _Score(answered=n, needed=needed, right=right, score=score, low=low, high=high,
                  threshold=threshold, rule=rule, state=state,
                  retraining=str(policy.get("retraining") or ""))  # fmt: skip


@dataclass(frozen=True)
class _Context:
    """One statement's worth of project and user facts for a queue request."""

    project_id: int
    project: str
    schema_version: int
    overlap: int
    gold_share: float
    lease_seconds: int
    settings: dict[str, Any]
    guideline_version: int | None
    user_id: int
    user: str
    clearance: int
    languages: list[str]
    domains: list[str]
    calibration_round: int
    held: int | None = None  # the assignment this user holds on the project, if any


RECLAIM_EVERY = timedelta(seconds=10)
COPY = T.alias("copy")
"""Another task of the same record (live, gold, calibration). Built once: an alias made per
call costs a column proxy per column on the queue's hottest path."""
HELD = A.alias("held")
"""The annotator's assignment on that other task."""
_STAMPS = ("answers", "schema_version", "guideline_version", "submitted_at", "duration_ms")

# -- the hot path's statements, built once ------------------------------------------------------
# ``next`` and ``submit`` run a few statements each. Building a statement costs SQLAlchemy more
# than executing it (expressions coerced, then a cache key walked over the whole tree); these
# are built once with bound parameters, and a statement object keeps its cache key, so each
# execution goes straight to the compiled form. (Measured in bench/annotation_load.py.)


def _param(name: str, column: Any) -> Any:
    return bindparam(name, type_=column.type)


def _context_statement() -> Executable:
    guideline = select(func.max(G.c.version)).where(G.c.project_id == P.c.id).scalar_subquery()
    held = (  # the lease this user holds on the project, if any (next resumes it); of
        # two, the older: a rejected annotation given back comes before an item leased since
        select(A.c.id)
        .join(T, T.c.id == A.c.task_id)
        .where(
            T.c.project_id == P.c.id,
            A.c.user_id == U.c.id,
            A.c.status == "leased",
            A.c.expires_at > _param("b_now", A.c.expires_at),
        )
        .order_by(A.c.id)
        .limit(1)
        .scalar_subquery()
    )
    return select(
        P.c.id, P.c.schema_version, P.c.overlap, P.c.gold_share, P.c.lease_seconds,
        P.c.settings, guideline, U.c.id, U.c.role, U.c.clearance, U.c.languages, U.c.domains,
        M.c.user_id, M.c.calibration_round, held, V.c.max_sensitivity,
    ).select_from(
        P.join(U, U.c.name == _param("b_user", U.c.name)).outerjoin(
            M, and_(M.c.project_id == P.c.id, M.c.user_id == U.c.id)
        ).outerjoin(V, V.c.id == U.c.vendor_id)
    ).where(P.c.name == _param("b_project", P.c.name))  # fmt: skip


def _candidate_statement(kind: str, postgres: bool) -> Executable:
    """The next task of ``kind`` open to the user, locked for the lease on PostgreSQL."""
    user_id = _param("b_user_id", A.c.user_id)
    mine = and_(A.c.task_id == T.c.id, A.c.user_id == user_id)
    seen = exists().where(mine, A.c.status != "reopened")
    existing = select(A.c.id).where(mine).scalar_subquery()
    # a record has up to three tasks (live, gold, calibration): one who received any other
    # copy of it, in any state, never gets this one; a task re-opened for them is theirs.
    # (A probe per candidate row: the scan stops at the first free row, so it passes few;
    # a NOT IN over the annotator's other copies read all of their assignments per query
    # and cost PostgreSQL more, measured.)
    other_copy = exists().where(
        COPY.c.project_id == T.c.project_id,
        COPY.c.record_id == T.c.record_id,
        COPY.c.id != T.c.id,
        A.c.task_id == COPY.c.id,
        A.c.user_id == user_id,
    )
    query = (
        select(T.c.id, T.c.row, existing)
        .where(
            T.c.project_id == _param("b_project_id", T.c.project_id),
            T.c.kind == kind,
            T.c.is_open == true(),
            # an item the model answers on its own (every question model-only, outside the
            # audit samples) is not served: an equality in the queue's index, so the walk
            # never meets one (gold and calibration are never marked)
            T.c.model_covered == false(),
            T.c.clearance <= _param("b_clearance", T.c.clearance),
            or_(
                T.c.language.is_(None),
                T.c.language.in_(bindparam("b_languages", expanding=True)),
            ),
            ~seen,
            or_(~other_copy, existing.is_not(None)),
        )
        .order_by(T.c.priority.desc(), T.c.id)
        .limit(1)
    )
    if kind == "live":
        query = query.where(T.c.assigned < _param("b_overlap", T.c.assigned))
    if postgres:
        query = query.with_for_update(skip_locked=True, of=T)
    return query


def _submit_read_statement(postgres: bool) -> Executable:
    guideline = select(func.max(G.c.version)).where(G.c.project_id == P.c.id).scalar_subquery()
    latest = select(func.max(N.c.revision)).where(N.c.assignment_id == A.c.id).scalar_subquery()
    user_id = select(U.c.id).where(U.c.name == _param("b_user", U.c.name)).scalar_subquery()
    member = exists().where(M.c.project_id == P.c.id, M.c.user_id == user_id)
    query = (
        select(
            A.c.user_id, A.c.status, A.c.expires_at, T.c.id, T.c.row, T.c.kind,
            T.c.gold_answers, P.c.id, P.c.schema_version, P.c.overlap, P.c.settings,
            guideline, latest, user_id, T.c.clearance, P.c.name, member,
        )
        .join(T, T.c.id == A.c.task_id)
        .join(P, P.c.id == T.c.project_id)
        .where(A.c.id == _param("b_id", A.c.id))
    )  # fmt: skip
    if postgres:
        query = query.with_for_update(of=[A, T])
    return query


_CONTEXT = _context_statement()
_CANDIDATE = {
    (kind, postgres): _candidate_statement(kind, postgres)
    for kind in ("live", "gold", "calibration")
    for postgres in (False, True)
}
_SUBMIT_READ = {postgres: _submit_read_statement(postgres) for postgres in (False, True)}
_HELD = (
    select(T.c.row, A.c.expires_at, T.c.id, T.c.clearance)
    .join(T, T.c.id == A.c.task_id)
    .where(A.c.id == _param("b_id", A.c.id))
)
_INSERT_ASSIGNMENT = insert(A).returning(A.c.id)
_LEASE_AGAIN = (
    update(A)
    .where(A.c.id == _param("b_id", A.c.id))
    .values(status="leased", leased_at=_param("b_now", A.c.leased_at),
            expires_at=_param("b_expires", A.c.expires_at))
)  # fmt: skip
_COUNT_LEASE = (
    update(T)
    .where(T.c.id == _param("b_task", T.c.id))
    .values(
        assigned=T.c.assigned + 1,
        is_open=or_(T.c.kind != "live", T.c.assigned + 1 < _param("b_overlap", T.c.assigned)),
    )
)
_INSERT_ANNOTATION = insert(N).returning(N.c.id)
_MARK_SUBMITTED = (
    update(A)
    .where(A.c.id == _param("n_assignment_id", A.c.id))
    .values(status="submitted", submitted_at=_param("n_submitted_at", A.c.submitted_at))
)
_COUNT_SUBMIT = (
    update(T)
    .where(T.c.id == _param("n_task_id", T.c.id))
    .values(submitted=T.c.submitted + 1)
    .returning(T.c.submitted)
)
_ANNOTATION_KEYS = ("assignment_id", "task_id", "user_id", "answers", "schema_version",
                    "guideline_version", "submitted_at", "duration_ms", "revision", "status",
                    "review")  # fmt: skip


def _lease_statement() -> Executable:
    """PostgreSQL: a new lease and its task's count in one statement (the task's update as a
    data-modifying CTE): one round trip fewer per ``next``."""
    return (
        insert(A)
        .values(task_id=_param("b_task", A.c.task_id), user_id=_param("b_user_id", A.c.user_id),
                status="leased", leased_at=_param("b_now", A.c.leased_at),
                expires_at=_param("b_expires", A.c.expires_at))
        .returning(A.c.id)
        .add_cte(_COUNT_LEASE.cte("counted"))
    )  # fmt: skip


def _submit_statement() -> Executable:
    """PostgreSQL: the annotation, its assignment marked submitted and its task's count in one
    statement (data-modifying CTEs, each run once): two round trips fewer per ``submit``."""
    count = _COUNT_SUBMIT.cte("counted")
    add = (
        insert(N)
        .values({key: _param(f"n_{key}", N.c[key]) for key in _ANNOTATION_KEYS})
        .returning(N.c.id)
        .cte("added")
    )
    return (
        select(add.c.id, count.c.submitted)
        .select_from(add.join(count, true()))
        .add_cte(_MARK_SUBMITTED.cte("marked"))
    )


_LEASE_PG = _lease_statement()
_SUBMIT_PG = _submit_statement()
RECORD_CACHE_SIZE = 4096
RECORD_PREFETCH = 32


class QueueService:
    """``next_task`` and ``submit``: the annotator's loop.

    Both are a handful of SQL statements in one transaction (Core, not the ORM: they are the
    hottest path of the server). Expired leases are reclaimed at most every ``RECLAIM_EVERY``
    per project, and always before the queue answers "nothing left".
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: RecordStore,
        projects: ProjectService,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._projects = projects
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._last_reclaim: dict[int, datetime] = {}
        self._calibrated: set[tuple[int, int, int, str]] = set()
        self._records: OrderedDict[int, dict[str, Any]] = OrderedDict()

    def reseed(self, seed: int) -> None:
        """Make the hidden-gold draws reproducible (simulations and tests)."""
        self._rng = random.Random(seed)

    # -- shared --------------------------------------------------------------------------

    def _context(
        self, session: Session, project_name: str, user_name: str, now: datetime | None = None
    ) -> _Context:
        params = {"b_project": project_name, "b_user": user_name, "b_now": now or utcnow()}
        row = session.connection().execute(_CONTEXT, params).first()
        if row is None:
            self._projects.row(session, project_name)  # raises for an unknown project
            raise NotFoundError(f"unknown user {user_name!r}")
        (pid, schema_version, overlap, gold_share, lease, settings, gv, uid, role, clearance,
         languages, domains, member, calibration_round, held_id, vendor_cap) = row  # fmt: skip
        if role != "admin" and member is None:
            raise NotMemberError(f"user {user_name!r} is not a member of project {project_name!r}")
        return _Context(
            project_id=pid,
            project=project_name,
            schema_version=schema_version,
            overlap=overlap,
            gold_share=gold_share,
            lease_seconds=lease,
            settings=settings or {},
            guideline_version=gv,
            user_id=uid,
            user=user_name,
            clearance=clearance if vendor_cap is None else min(clearance, vendor_cap),
            languages=list(languages or []),
            domains=list(domains or []),
            calibration_round=calibration_round or 0,
            held=held_id,
        )

    def _record(self, row: int, *, blind_for: int | None = None) -> dict[str, Any]:
        """A record with its content and metadata (records never change, so they are cached);
        with ``blind_for`` (an assignment id), as that assignment's annotator sees it: a
        pairwise record's candidates by letter and text only, in an order drawn for the
        assignment (see :mod:`curata.annotation.blind`)."""
        if blind_for is not None:
            full = self._record(row)
            order = blind.shown_order(full, blind_for)
            return full if order is None else blind.blind_view(full, order)
        with self._lock:
            cached = self._records.get(row)
            if cached is not None:
                self._records.move_to_end(row)
                return cached
        # tasks go out in record order, so the next few rows are the next few tasks: one read
        # of a block costs about what a read of one row does
        views = {
            r: {"kind": rec.kind, **rec.content(), "metadata": rec.metadata}
            for r, rec in self._store.take_around(row, RECORD_PREFETCH).items()
        }
        with self._lock:
            for r, view in views.items():
                self._records.setdefault(r, view)
                self._records.move_to_end(r)
            while len(self._records) > RECORD_CACHE_SIZE:
                self._records.popitem(last=False)
        return views[row]

    def _view(self, session: Session, ctx: _Context, assignment_id: int, row: int,
              expires: datetime, *, fresh: bool = False) -> TaskView:  # fmt: skip
        """The view of a lease; ``fresh``: a new assignment row, which has no annotation yet
        (so no rejected one to read)."""
        return TaskView(
            assignment_id=assignment_id,
            project=ctx.project,
            record=self._record(row, blind_for=assignment_id),
            schema=self._projects.schema_json(session, ctx.project_id, ctx.schema_version),
            schema_version=ctx.schema_version,
            guideline_version=ctx.guideline_version,
            expires_at=as_utc(expires),
            returned=None if fresh else self._returned(session, ctx, assignment_id, row),
            suggestion=model_suggestion(session, ctx.settings, ctx.project_id, row),
        )

    def _returned(
        self, session: Session, ctx: _Context, assignment_id: int, row: int
    ) -> Returned | None:
        """The rejection a lease comes back with: its latest annotation rejected by a
        reviewer (the reason of that rejection, the rejected answers as the annotator gave
        them), or ``None``."""
        latest = session.execute(
            select(N.c.id, N.c.answers, N.c.status, N.c.schema_version)
            .where(N.c.assignment_id == assignment_id)
            .order_by(N.c.revision.desc())
            .limit(1)
        ).first()
        if latest is None or latest.status != "rejected":
            return None
        review = session.execute(
            select(R.c.reason, R.c.created_at)
            .where(R.c.annotation_id == latest.id, R.c.decision == "reject")
            .order_by(R.c.id.desc())
            .limit(1)
        ).first()
        if review is None:
            return None
        answers = dict(latest.answers or {})
        schema = self._projects.schema_by_key(session, ctx.project_id, latest.schema_version)
        if needs_record(schema):
            order = blind.shown_order(self._record(row), assignment_id)
            if order is not None:
                answers = blind.to_shown(schema, answers, order)
        return Returned(reason=review.reason or "", answers=answers,
                        rejected_at=as_utc(review.created_at))  # fmt: skip

    # -- next task -----------------------------------------------------------------------

    def next_task(
        self, project_name: str, user_name: str, *, now: datetime | None = None
    ) -> TaskView | None:
        """Lease the next item to a user (their current lease if they hold one), or ``None``."""
        now = now or utcnow()
        with write_transaction(self._sessions) as session:
            ctx = self._context(session, project_name, user_name, now)
            if ctx.held is not None:
                row, expires_at, held_task, clearance = (
                    session.connection().execute(_HELD, {"b_id": ctx.held}).one()
                )
                if clearance <= ctx.clearance:
                    return self._view(session, ctx, ctx.held, row, expires_at)
                # leased before the user's clearance was lowered (their vendor's permitted
                # sensitivity, say): the lease ends instead of showing the item again
                self._release(session, ctx, ctx.held, held_task, now=now)
            self._check_skills(session, ctx)
            reclaimed = False
            last = self._last_reclaim.get(ctx.project_id)
            if last is None or now - last >= RECLAIM_EVERY or now < last:
                self._reclaim(session, ctx, now)
                reclaimed = True
            if self._calibrating(session, ctx):
                kinds = ["calibration"]
            elif self._rng.random() < ctx.gold_share:
                kinds = ["gold", "live"]
            else:
                kinds = ["live"]
            found = self._candidate(session, ctx, kinds)
            if found is None and not reclaimed:
                self._reclaim(session, ctx, now)
                found = self._candidate(session, ctx, kinds)
            if found is None:
                return None
            task_id, row, existing = found
            expires = now + timedelta(seconds=ctx.lease_seconds)
            conn = session.connection()
            if existing is None and conn.dialect.name == "postgresql":
                assignment_id = conn.execute(_LEASE_PG, {
                    "b_task": task_id, "b_user_id": ctx.user_id, "b_now": now,
                    "b_expires": expires, "b_overlap": ctx.overlap,
                }).scalar_one()  # fmt: skip
                return self._view(session, ctx, assignment_id, row, expires, fresh=True)
            if existing is None:
                assignment_id = conn.execute(_INSERT_ASSIGNMENT, {
                    "task_id": task_id, "user_id": ctx.user_id, "status": "leased",
                    "leased_at": now, "expires_at": expires,
                }).scalar_one()  # fmt: skip
            else:  # an item re-opened for re-annotation keeps its assignment row
                conn.execute(_LEASE_AGAIN, {"b_id": existing, "b_now": now, "b_expires": expires})
                assignment_id = existing
            conn.execute(_COUNT_LEASE, {"b_task": task_id, "b_overlap": ctx.overlap})
            return self._view(session, ctx, assignment_id, row, expires, fresh=existing is None)

    def _candidate(
        self, session: Session, ctx: _Context, kinds: list[str]
    ) -> tuple[int, int, int | None] | None:
        """The next task of the first kind in ``kinds`` that has one, locked for this lease."""
        conn = session.connection()
        postgres = conn.dialect.name == "postgresql"
        params = {
            "b_user_id": ctx.user_id,
            "b_project_id": ctx.project_id,
            "b_clearance": ctx.clearance,
            "b_languages": [x.lower() for x in ctx.languages],
            "b_overlap": ctx.overlap,
        }
        for kind in kinds:
            found = conn.execute(_CANDIDATE[kind, postgres], params).first()
            if found is not None:
                return int(found[0]), int(found[1]), found[2]
        return None

    def _calibrating(self, session: Session, ctx: _Context) -> bool:
        """True while the user still owes calibration items; raises once they failed it."""
        policy = ctx.settings.get("calibration") or {}
        size = int(policy.get("size") or 0)
        if size == 0:
            return False
        key = (ctx.project_id, ctx.user_id, ctx.calibration_round, canonical_json(policy))
        if key in self._calibrated:  # passing is final for a given policy
            return False
        needed = _calibration_needed(session, ctx.project_id, policy)
        rows = _calibration_rows(session, ctx.project_id, ctx.user_id)
        judged = _judge(policy, needed, rows)
        if judged.state == "pending":
            return True
        if judged.state == "failed":
            material = judged.retraining or "the project's guideline"
            bound = "" if judged.rule == "point" else f", judged on the {judged.rule} bound"
            raise ForbiddenError(
                f"calibration not passed ({judged.right} of {judged.answered} correct, "
                f"{judged.score:.0%}, 95% Wilson interval {judged.low:.0%}-{judged.high:.0%}; "
                f"{judged.threshold:.0%} needed{bound}); live items stay closed; "
                f"retraining: {material}"
            )
        for answers, _, task_id, schema_version, guideline_version, submitted_at in rows:
            stamps = {
                "answers": answers,
                "schema_version": schema_version,
                "guideline_version": guideline_version,
                "submitted_at": submitted_at,
                "duration_ms": None,
            }
            self._count_for_live(session, task_id, ctx.user_id, stamps, ctx.overlap, ctx.settings)
        self._calibrated.add(key)
        return False

    def _count_for_live(
        self,
        session: Session,
        task_id: int,
        user_id: int,
        annotation: dict[str, Any],
        overlap: int,
        settings: dict[str, Any],
    ) -> None:
        """Count an answer on a gold or calibration copy of a record as the annotator's answer
        on the record's live item, while that item has room for one more.

        The queue never serves one annotator two copies of a record, so without this the live
        item of a record everyone met as gold or calibration would go unlabelled. The live
        item gets its own assignment and annotation (same answers and stamps), so overlap,
        agreement and release count it like any live answer, and gold accuracy counts the
        original once. Idempotent: nothing happens where the annotator holds the live item.
        """
        # one plain read decides; the live item is locked only where a copy is made
        live = session.execute(
            select(
                T.c.id,
                T.c.assigned,
                A.c.id.label("source"),
                HELD.c.id.label("held"),
                HELD.c.copied_from,
                HELD.c.status,
            )
            .select_from(T)
            .join(
                COPY, and_(COPY.c.project_id == T.c.project_id, COPY.c.record_id == T.c.record_id)
            )
            .join(A, and_(A.c.task_id == COPY.c.id, A.c.user_id == user_id))
            .outerjoin(HELD, and_(HELD.c.task_id == T.c.id, HELD.c.user_id == user_id))
            .where(COPY.c.id == task_id, T.c.kind == "live")
        ).first()
        if live is None:
            return
        if live.held is not None:
            if live.copied_from == live.source and live.status == "submitted":
                self._recopy(session, live.held, live.id, user_id, annotation, settings)
            return
        if live.assigned >= overlap:
            return
        if session.get_bind().dialect.name == "postgresql":  # SQLite: the write lock is held
            assigned = session.execute(
                select(T.c.assigned).where(T.c.id == live.id).with_for_update()
            ).scalar_one()
            if assigned >= overlap:
                return
        now = annotation["submitted_at"]
        assignment_id = session.execute(
            insert(A)
            .values(
                task_id=live.id,
                user_id=user_id,
                status="submitted",
                leased_at=now,
                expires_at=now,
                submitted_at=now,
                copied_from=live.source,
            )
            .returning(A.c.id)
        ).scalar_one()
        # the copy is reviewed through its source (a decision on the gold answer applies to
        # it, see final.counted_annotations): queued on its own, one answer would be reviewed
        # twice; disagreement on the live item still sends it to review with the others
        session.execute(
            insert(N).values(**annotation, assignment_id=assignment_id, task_id=live.id,
                             user_id=user_id, revision=1, status="submitted",
                             review="not_needed")
        )  # fmt: skip
        submitted = session.execute(
            update(T)
            .where(T.c.id == live.id)
            .values(
                assigned=T.c.assigned + 1,
                submitted=T.c.submitted + 1,
                is_open=T.c.assigned + 1 < overlap,
            )
            .returning(T.c.submitted)
        ).scalar_one()
        if submitted >= overlap:
            flag_disagreement(session, settings, live.id)

    def _recopy(
        self,
        session: Session,
        assignment_id: int,
        task_id: int,
        user_id: int,
        annotation: dict[str, Any],
        settings: dict[str, Any],
    ) -> None:
        """Bring a copied live answer up to its source's latest revision (a gold answer resent
        after a rejection, calibration retaken): the copy gets the next revision."""
        latest = session.execute(
            select(N.c.answers, N.c.revision, N.c.status)
            .where(N.c.assignment_id == assignment_id)
            .order_by(N.c.revision.desc())
            .limit(1)
        ).first()
        current = latest is not None and counts(latest.status)
        if current and latest is not None and latest.answers == annotation["answers"]:
            return
        session.execute(
            insert(N).values(
                **annotation,
                assignment_id=assignment_id,
                task_id=task_id,
                user_id=user_id,
                revision=1 if latest is None else latest.revision + 1,
                status="submitted",
                review="not_needed",  # reviewed through its source, as in _count_for_live
            )
        )

    def _check_skills(self, session: Session, ctx: _Context) -> None:
        """A question that needs a language or a domain is only for annotators who have it."""
        schema = self._projects.schema_by_key(session, ctx.project_id, ctx.schema_version)
        for question in schema.questions:
            if question.languages and not set(question.languages) & set(ctx.languages):
                raise ForbiddenError(
                    f"question '{question.name}' needs one of the languages "
                    f"{', '.join(question.languages)}, which {ctx.user!r} does not have"
                )
            if question.domains and not set(question.domains) & set(ctx.domains):
                raise ForbiddenError(
                    f"question '{question.name}' needs a domain expert in "
                    f"{', '.join(question.domains)}, which {ctx.user!r} is not"
                )

    def _reclaim(self, session: Session, ctx: _Context, now: datetime) -> None:
        """Expire leases past their time and give their slots back."""
        project_id = ctx.project_id
        query = (
            select(A.c.id, A.c.task_id)
            .join(T, T.c.id == A.c.task_id)
            .where(T.c.project_id == project_id, A.c.status == "leased", A.c.expires_at <= now)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=A)
        expired = session.execute(query).all()
        for assignment_id, task_id in expired:
            self._release(session, ctx, assignment_id, task_id)
        self._last_reclaim[project_id] = now

    @staticmethod
    def _release(session: Session, ctx: _Context, assignment_id: int, task_id: int, *,
                 now: datetime | None = None) -> None:  # fmt: skip
        """End a lease (expired, or ended ``now``) and give its task's slot back."""
        values: dict[str, Any] = {"status": "expired"}
        if now is not None:
            values["expires_at"] = now
        session.execute(update(A).where(A.c.id == assignment_id).values(**values))
        session.execute(
            update(T)
            .where(T.c.id == task_id)
            .values(
                assigned=T.c.assigned - 1,
                is_open=or_(T.c.kind != "live", T.c.assigned - 1 < ctx.overlap),
            )
        )

    # -- submit --------------------------------------------------------------------------

    def submit(
        self,
        assignment_id: int,
        user_name: str,
        answers: dict[str, Any],
        *,
        duration_ms: int | None = None,
        now: datetime | None = None,
        authorize: Callable[[ItemScope], None] | None = None,
    ) -> Submission:
        """Store an annotation for a lease the user holds; a retry of the same answers is a no-op.

        ``authorize`` (the API's access policy) is given the assignment's scope, read by the same
        statement as the lease, before anything else is checked.

        Raises ``ConflictError`` (409) for a lease that expired, belongs to someone else, or was
        already submitted with other answers, and ``ValidationError`` (422) naming every answer
        that does not fit the schema. Nothing is stored unless the whole submission is valid.
        """
        now = now or utcnow()
        with write_transaction(self._sessions) as session:
            conn = session.connection()
            row = conn.execute(
                _SUBMIT_READ[conn.dialect.name == "postgresql"],
                {"b_id": assignment_id, "b_user": user_name},
            ).first()
            if row is None or row[13] is None:
                raise NotFoundError(f"no assignment {assignment_id}")
            (owner, status, expires_at, task_id, record_row, kind, gold, project_id,
             schema_version, overlap, settings, guideline_version, revision, uid,
             clearance, project_name, is_member) = row  # fmt: skip
            if authorize is not None:
                project = ProjectScope(project_id, project_name, bool(is_member))
                scope = ItemScope("assignment", assignment_id, project, task_id, clearance, owner)
                authorize(scope)
            if owner != uid:
                raise ConflictError(f"assignment {assignment_id} is leased to another annotator")
            schema = self._projects.schema_by_key(session, project_id, schema_version)
            try:  # against the record too; a pairwise record's answers name the letters shown
                checked = check_answers(
                    schema, answers, lambda: self._record(record_row), blind_for=assignment_id
                )
            except AnswerError as exc:
                raise ValidationError(str(exc)) from None
            if status == "submitted":  # a fresh statement: the row may have changed under us
                done = session.scalars(
                    select(AnnotationRow)
                    .where(AnnotationRow.assignment_id == assignment_id)
                    .order_by(AnnotationRow.revision.desc())
                    .limit(1)
                ).one()
                if done.answers != checked.answers:
                    raise ConflictError(
                        f"assignment {assignment_id} was already submitted with other answers"
                    )
                again = _submission(done)
                if checked.shown is not None:
                    again = replace(again, answers=shown_answers(schema, checked))
                if kind == "calibration" and done.status != "superseded":
                    again = replace(again, calibration=self._feedback(
                        session, assignment_id, project_id, uid, settings or {}, schema,
                        checked.answers, gold, checked.shown))  # fmt: skip
                return again
            if status != "leased" or as_utc(expires_at) <= now:
                raise ConflictError(
                    f"the lease of assignment {assignment_id} expired at "
                    f"{iso(expires_at)}; ask for the next task"
                )
            review = initial_review(settings or {}, kind, gold, checked.answers, self._rng)
            values = {
                "assignment_id": assignment_id,
                "task_id": task_id,
                "user_id": uid,
                "answers": checked.answers,
                "schema_version": schema_version,
                "guideline_version": guideline_version,
                "submitted_at": now,
                "duration_ms": duration_ms,
                "revision": 1 if revision is None else revision + 1,
                "status": "submitted",
                "review": review,
            }
            if conn.dialect.name == "postgresql":
                annotation_id, submitted = conn.execute(
                    _SUBMIT_PG, {f"n_{key}": values[key] for key in _ANNOTATION_KEYS}
                ).one()
            else:
                annotation_id = conn.execute(_INSERT_ANNOTATION, values).scalar_one()
                conn.execute(_MARK_SUBMITTED, {"n_assignment_id": assignment_id,
                                               "n_submitted_at": now})  # fmt: skip
                submitted = conn.execute(_COUNT_SUBMIT, {"n_task_id": task_id}).scalar_one()
            if submitted >= overlap:
                flag_disagreement(session, settings or {}, task_id)
            if kind == "gold":
                stamps = {k: values[k] for k in _STAMPS}
                self._count_for_live(session, task_id, uid, stamps, overlap, settings or {})
            feedback = None
            if kind == "calibration":
                feedback = self._feedback(session, assignment_id, project_id, uid,
                                          settings or {}, schema, checked.answers, gold,
                                          checked.shown)  # fmt: skip
            return Submission(
                annotation_id=annotation_id,
                assignment_id=assignment_id,
                answers=shown_answers(schema, checked),
                schema_version=schema_version,
                guideline_version=guideline_version,
                submitted_at=as_utc(now),
                calibration=feedback,
            )

    # -- calibration feedback ----------------------------------------------------------------

    def _feedback(
        self, session: Session, assignment_id: int, project_id: int, user_id: int,
        settings: dict[str, Any], schema: Schema, answers: dict[str, Any],
        gold: dict[str, Any] | None, shown: list[int] | None,
    ) -> CalibrationFeedback:  # fmt: skip
        """Feedback on one calibration answer (stored, in the record's terms), with the
        annotator's standing read in the caller's transaction."""
        policy = settings.get("calibration") or {}
        judged = _judge(
            policy,
            _calibration_needed(session, project_id, policy),
            _calibration_rows(session, project_id, user_id),
        )
        known = dict(gold or {})
        right = dict(gold_checks(answers, known))
        if shown is not None:  # as the annotator saw the candidates
            answers = blind.to_shown(schema, answers, shown)
            known = blind.to_shown(schema, known, shown)
        questions = [
            QuestionFeedback(question=name, answer=answers.get(name), expected=expected,
                             correct=right.get(name, False))
            for name, expected in known.items()
        ]  # fmt: skip
        return CalibrationFeedback(
            assignment_id=assignment_id,
            correct=all(q.correct for q in questions),
            questions=questions,
            answered=judged.answered,
            needed=judged.needed,
            right=judged.right,
            score=judged.score,
            low=judged.low,
            high=judged.high,
            threshold=judged.threshold,
            rule=judged.rule,
            state=judged.state,
            remaining=max(0, judged.needed - judged.answered),
            retraining=judged.retraining,
        )

    def calibration_feedback(
        self,
        assignment_id: int,
        user_name: str,
        *,
        authorize: Callable[[ItemScope], None] | None = None,
    ) -> CalibrationFeedback | None:
        """The feedback on a calibration item the user submitted (what ``submit`` returned,
        with the standing as of now); ``None`` for a live or gold item, a lease not yet
        submitted, or an answer superseded by recalibration. Gold answers are never read out.

        ``authorize`` is asked as by ``submit``; without it, someone else's assignment is
        ``NotFoundError`` (whether an id is leased to another annotator is not revealed).
        """
        with self._sessions() as session:
            user_id = select(U.c.id).where(U.c.name == user_name).scalar_subquery()
            member = exists().where(M.c.project_id == P.c.id, M.c.user_id == user_id)
            row = session.execute(
                select(A.c.user_id, T.c.id, T.c.row, T.c.kind, T.c.gold_answers, T.c.clearance,
                       P.c.id, P.c.name, P.c.settings, user_id, member)
                .join(T, T.c.id == A.c.task_id)
                .join(P, P.c.id == T.c.project_id)
                .where(A.c.id == assignment_id)
            ).first()  # fmt: skip
            if row is None or row[9] is None:
                raise NotFoundError(f"no assignment {assignment_id}")
            (owner, task_id, record_row, kind, gold, project_id, project_name, settings, uid,
             is_member) = (row[0], row[1], row[2], row[3], row[4], row[6], row[7], row[8],
                           row[9], row[10])  # fmt: skip
            if authorize is not None:
                project = ProjectScope(project_id, project_name, bool(is_member))
                authorize(ItemScope("assignment", assignment_id, project, task_id, row[5], owner))
            if owner != uid:
                raise NotFoundError(f"no assignment {assignment_id}")
            if kind != "calibration":
                return None
            done = session.execute(
                select(N.c.answers, N.c.schema_version, N.c.status)
                .where(N.c.assignment_id == assignment_id)
                .order_by(N.c.revision.desc())
                .limit(1)
            ).first()
            if done is None or done.status == "superseded":
                return None
            schema = self._projects.schema_by_key(session, project_id, done.schema_version)
            shown = None
            if needs_record(schema):
                shown = blind.shown_order(self._record(record_row), assignment_id)
            return self._feedback(session, assignment_id, project_id, uid, settings or {},
                                  schema, done.answers, gold, shown)  # fmt: skip

    # -- skip ----------------------------------------------------------------------------

    def skip(
        self,
        assignment_id: int,
        user_name: str,
        reason: str,
        *,
        note: str = "",
        now: datetime | None = None,
        authorize: Callable[[ItemScope], None] | None = None,
    ) -> Skipped:
        """Give back a leased item: the lease ends now, the item's slot opens for someone else,
        and the audit log records the skip (``assignment.skip``: project, task, reason, note).

        The user is never served the item (or another copy of its record) again, like any
        item they once received. ``reason`` is one of :data:`SKIP_REASONS` (``other`` needs a
        ``note``). Raises ``ValidationError`` (422) for a reason outside them, ``NoSkipError``
        (403) for a calibration item, and ``ConflictError`` (409) for a lease that expired,
        was submitted or belongs to someone else. ``authorize`` is asked as by ``submit``.
        """
        now = now or utcnow()
        note = (note or "").strip()
        if reason not in SKIP_REASONS:
            raise ValidationError(f"reason: {reason!r} is not one of {', '.join(SKIP_REASONS)}")
        if reason == "other" and not note:
            raise ValidationError("note: say why the item is skipped (reason 'other')")
        if len(note) > MAX_SKIP_NOTE:
            raise ValidationError(f"note: at most {MAX_SKIP_NOTE} characters")
        with write_transaction(self._sessions) as session:
            user_id = select(U.c.id).where(U.c.name == user_name).scalar_subquery()
            member = exists().where(M.c.project_id == P.c.id, M.c.user_id == user_id)
            query = (
                select(A.c.user_id, A.c.status, A.c.expires_at, T.c.id, T.c.kind, T.c.clearance,
                       P.c.id, P.c.name, P.c.overlap, user_id, member)
                .join(T, T.c.id == A.c.task_id)
                .join(P, P.c.id == T.c.project_id)
                .where(A.c.id == assignment_id)
            )  # fmt: skip
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(of=[A, T])
            row = session.execute(query).first()
            if row is None or row[9] is None:
                raise NotFoundError(f"no assignment {assignment_id}")
            (owner, status, expires_at, task_id, kind, clearance, project_id, project_name,
             overlap, uid, is_member) = row  # fmt: skip
            if authorize is not None:
                project = ProjectScope(project_id, project_name, bool(is_member))
                authorize(ItemScope("assignment", assignment_id, project, task_id, clearance,
                                    owner))  # fmt: skip
            if owner != uid:
                raise ConflictError(f"assignment {assignment_id} is leased to another annotator")
            if kind == "calibration":
                raise NoSkipError(
                    "calibration items cannot be skipped: every item of the set is scored; "
                    "answer as best you can, or ask a lead about the item"
                )
            if status != "leased" or as_utc(expires_at) <= now:
                raise ConflictError(
                    f"assignment {assignment_id} is no longer held (it was submitted, skipped "
                    "or its lease expired); ask for the next task"
                )
            session.execute(
                update(A).where(A.c.id == assignment_id).values(status="skipped", expires_at=now)
            )
            session.execute(  # the slot goes back, as when a lease expires
                update(T)
                .where(T.c.id == task_id)
                .values(
                    assigned=T.c.assigned - 1,
                    is_open=or_(T.c.kind != "live", T.c.assigned - 1 < overlap),
                )
            )
            audit.append(
                session,
                actor=user_name,
                action="assignment.skip",
                object_type="assignment",
                object_ref=str(assignment_id),
                details={
                    "project": project_name,
                    "task": task_id,
                    "reason": reason,
                    "note": note,
                },
            )
            return Skipped(assignment_id=assignment_id, project=project_name, reason=reason,
                           note=note, skipped_at=as_utc(now))  # fmt: skip


def _submission(row: AnnotationRow) -> Submission:
    return Submission(
        annotation_id=row.id,
        assignment_id=row.assignment_id,
        answers=row.answers,
        schema_version=row.schema_version,
        guideline_version=row.guideline_version,
        submitted_at=as_utc(row.submitted_at),
    )
