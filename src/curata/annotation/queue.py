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

from sqlalchemy import Table, and_, exists, func, insert, or_, select, true, update
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation import blind
from curata.annotation.answers import check_answers, shown_answers
from curata.annotation.final import counts
from curata.annotation.projects import ProjectService
from curata.annotation.review import flag_disagreement, initial_review
from curata.annotation.schema import AnswerError
from curata.core.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from curata.core.ids import canonical_json
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
    TaskRow,
    UserRow,
    utcnow,
)
from curata.timeutil import as_utc, iso

A = cast(Table, AssignmentRow.__table__)
G = cast(Table, GuidelineRow.__table__)
M = cast(Table, ProjectMemberRow.__table__)
N = cast(Table, AnnotationRow.__table__)
P = cast(Table, ProjectRow.__table__)
T = cast(Table, TaskRow.__table__)
U = cast(Table, UserRow.__table__)


@dataclass(frozen=True)
class TaskView:
    """What an annotator receives: the same shape for live and gold items (gold is hidden)."""

    assignment_id: int
    project: str
    record: dict[str, Any]
    schema: dict[str, Any]
    schema_version: int
    guideline_version: int | None
    expires_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "expires_at": iso(self.expires_at)}


@dataclass(frozen=True)
class Submission:
    """A stored annotation, as returned to the annotator who made it."""

    annotation_id: int
    assignment_id: int
    answers: dict[str, Any]
    schema_version: int
    guideline_version: int | None
    submitted_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "submitted_at": iso(self.submitted_at)}


class NotMemberError(ForbiddenError):
    """The user is not a member of the project (the API answers 404: existence is hidden)."""


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
        guideline = select(func.max(G.c.version)).where(G.c.project_id == P.c.id).scalar_subquery()
        held = (  # the lease this user holds on the project, if any (next resumes it)
            select(A.c.id)
            .join(T, T.c.id == A.c.task_id)
            .where(
                T.c.project_id == P.c.id,
                A.c.user_id == U.c.id,
                A.c.status == "leased",
                A.c.expires_at > (now or utcnow()),
            )
            .limit(1)
            .scalar_subquery()
        )
        row = session.execute(
            select(
                P.c.id,
                P.c.schema_version,
                P.c.overlap,
                P.c.gold_share,
                P.c.lease_seconds,
                P.c.settings,
                guideline,
                U.c.id,
                U.c.role,
                U.c.clearance,
                U.c.languages,
                U.c.domains,
                M.c.user_id,
                M.c.calibration_round,
                held,
            )
            .select_from(
                P.join(U, U.c.name == user_name).outerjoin(
                    M, and_(M.c.project_id == P.c.id, M.c.user_id == U.c.id)
                )
            )
            .where(P.c.name == project_name)
        ).first()
        if row is None:
            self._projects.row(session, project_name)  # raises for an unknown project
            raise NotFoundError(f"unknown user {user_name!r}")
        (pid, schema_version, overlap, gold_share, lease, settings, gv, uid, role, clearance,
         languages, domains, member, calibration_round, held_id) = row  # fmt: skip
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
            clearance=clearance,
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
              expires: datetime) -> TaskView:  # fmt: skip
        return TaskView(
            assignment_id=assignment_id,
            project=ctx.project,
            record=self._record(row, blind_for=assignment_id),
            schema=self._projects.schema_json(session, ctx.project_id, ctx.schema_version),
            schema_version=ctx.schema_version,
            guideline_version=ctx.guideline_version,
            expires_at=as_utc(expires),
        )

    # -- next task -----------------------------------------------------------------------

    def next_task(
        self, project_name: str, user_name: str, *, now: datetime | None = None
    ) -> TaskView | None:
        """Lease the next item to a user (their current lease if they hold one), or ``None``."""
        now = now or utcnow()
        with write_transaction(self._sessions) as session:
            ctx = self._context(session, project_name, user_name, now)
            if ctx.held is not None:
                row, expires_at = session.execute(
                    select(T.c.row, A.c.expires_at)
                    .join(T, T.c.id == A.c.task_id)
                    .where(A.c.id == ctx.held)
                ).one()
                return self._view(session, ctx, ctx.held, row, expires_at)
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
            values = {"status": "leased", "leased_at": now, "expires_at": expires}
            if existing is None:
                assignment_id = session.execute(
                    insert(A)
                    .values(task_id=task_id, user_id=ctx.user_id, **values)
                    .returning(A.c.id)
                ).scalar_one()
            else:  # an item re-opened for re-annotation keeps its assignment row
                session.execute(update(A).where(A.c.id == existing).values(**values))
                assignment_id = existing
            session.execute(
                update(T)
                .where(T.c.id == task_id)
                .values(
                    assigned=T.c.assigned + 1,
                    is_open=or_(T.c.kind != "live", T.c.assigned + 1 < ctx.overlap),
                )
            )
            return self._view(session, ctx, assignment_id, row, expires)

    def _candidate(
        self, session: Session, ctx: _Context, kinds: list[str]
    ) -> tuple[int, int, int | None] | None:
        """The next task of the first kind in ``kinds`` that has one, locked for this lease."""
        mine = and_(A.c.task_id == T.c.id, A.c.user_id == ctx.user_id)
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
            A.c.user_id == ctx.user_id,
        )
        postgres = session.get_bind().dialect.name == "postgresql"
        for kind in kinds:
            query = (
                select(T.c.id, T.c.row, existing)
                .where(
                    T.c.project_id == ctx.project_id,
                    T.c.kind == kind,
                    T.c.is_open == true(),
                    T.c.clearance <= ctx.clearance,
                    or_(
                        T.c.language.is_(None), T.c.language.in_([x.lower() for x in ctx.languages])
                    ),
                    ~seen,
                    or_(~other_copy, existing.is_not(None)),
                )
                .order_by(T.c.priority.desc(), T.c.id)
                .limit(1)
            )
            if kind == "live":
                query = query.where(T.c.assigned < ctx.overlap)
            if postgres:
                query = query.with_for_update(skip_locked=True, of=T)
            found = session.execute(query).first()
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
        available = (
            session.scalar(
                select(func.count())
                .select_from(T)
                .where(T.c.project_id == ctx.project_id, T.c.kind == "calibration")
            )
            or 0
        )
        needed = min(size, int(available))
        rows = session.execute(
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
                T.c.project_id == ctx.project_id,
                T.c.kind == "calibration",
                N.c.user_id == ctx.user_id,
                N.c.status != "superseded",
            )
        ).all()
        if len(rows) < needed:
            return True
        if rows:
            right = sum(
                # every gold question answered and right (a skipped one is not right)
                len(list(gold_checks(answers, gold or {}))) == len(gold or {})
                and all(ok for _, ok in gold_checks(answers, gold or {}))
                for answers, gold, *_ in rows
            )
            score = right / len(rows)
            low, high = wilson_interval(right, len(rows))
            threshold = float(policy.get("threshold", 0.8))
            rule = policy.get("rule", "point")
            judged = {"point": score, "lower": low, "upper": high}[rule]
            if judged < threshold:
                material = policy.get("retraining") or "the project's guideline"
                bound = "" if rule == "point" else f", judged on the {rule} bound"
                raise ForbiddenError(
                    f"calibration not passed ({right} of {len(rows)} correct, {score:.0%}, "
                    f"95% Wilson interval {low:.0%}-{high:.0%}; {threshold:.0%} needed{bound}); "
                    f"live items stay closed; retraining: {material}"
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
            session.execute(update(A).where(A.c.id == assignment_id).values(status="expired"))
            session.execute(
                update(T)
                .where(T.c.id == task_id)
                .values(
                    assigned=T.c.assigned - 1,
                    is_open=or_(T.c.kind != "live", T.c.assigned - 1 < ctx.overlap),
                )
            )
        self._last_reclaim[project_id] = now

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
            guideline = (
                select(func.max(G.c.version)).where(G.c.project_id == P.c.id).scalar_subquery()
            )
            latest = (
                select(func.max(N.c.revision)).where(N.c.assignment_id == A.c.id)
            ).scalar_subquery()
            user_id = select(U.c.id).where(U.c.name == user_name).scalar_subquery()
            member = exists().where(M.c.project_id == P.c.id, M.c.user_id == user_id)
            query = (
                select(
                    A.c.user_id,
                    A.c.status,
                    A.c.expires_at,
                    T.c.id,
                    T.c.row,
                    T.c.kind,
                    T.c.gold_answers,
                    P.c.id,
                    P.c.schema_version,
                    P.c.overlap,
                    P.c.settings,
                    guideline,
                    latest,
                    user_id,
                    T.c.clearance,
                    P.c.name,
                    member,
                )
                .join(T, T.c.id == A.c.task_id)
                .join(P, P.c.id == T.c.project_id)
                .where(A.c.id == assignment_id)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(of=[A, T])
            row = session.execute(query).first()
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
                if checked.shown is not None:
                    return replace(_submission(done), answers=shown_answers(schema, checked))
                return _submission(done)
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
            annotation_id = session.execute(
                insert(N).values(**values).returning(N.c.id)
            ).scalar_one()
            session.execute(
                update(A).where(A.c.id == assignment_id).values(status="submitted",
                                                                 submitted_at=now)
            )  # fmt: skip
            submitted = session.execute(
                update(T)
                .where(T.c.id == task_id)
                .values(submitted=T.c.submitted + 1)
                .returning(T.c.submitted)
            ).scalar_one()
            if submitted >= overlap:
                flag_disagreement(session, settings or {}, task_id)
            if kind == "gold":
                stamps = {k: values[k] for k in _STAMPS}
                self._count_for_live(session, task_id, uid, stamps, overlap, settings or {})
            return Submission(
                annotation_id=annotation_id,
                assignment_id=assignment_id,
                answers=shown_answers(schema, checked),
                schema_version=schema_version,
                guideline_version=guideline_version,
                submitted_at=as_utc(now),
            )


def _submission(row: AnnotationRow) -> Submission:
    return Submission(
        annotation_id=row.id,
        assignment_id=row.assignment_id,
        answers=row.answers,
        schema_version=row.schema_version,
        guideline_version=row.guideline_version,
        submitted_at=as_utc(row.submitted_at),
    )
