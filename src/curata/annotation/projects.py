"""Projects: a dataset version, a question schema and settings, and one task per record.

A :class:`ProjectService` also holds the services of a project's parts: ``members``
(:mod:`~curata.annotation.membership`), ``guidelines`` (:mod:`~curata.annotation.guidelines`)
and ``gold`` (:mod:`~curata.annotation.gold`).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic
from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation.gold import GoldService
from curata.annotation.guidelines import GuidelineService, latest_version
from curata.annotation.membership import MembershipService, user_id
from curata.annotation.schema import Schema
from curata.annotation.status import ProjectStatus, project_status
from curata.core.errors import AlreadyExistsError, NotFoundError, ValidationError
from curata.governance import audit
from curata.governance.identity import CLEARANCE
from curata.governance.policies import missing
from curata.sourcing.service import check_name
from curata.stats.proportions import wilson_interval
from curata.store.db import write_transaction
from curata.store.records import RecordStore
from curata.store.tables import (
    AnnotationRow,
    AssignmentRow,
    DatasetRow,
    GuidelineRow,
    ProjectMemberRow,
    ProjectRow,
    ProjectSchemaRow,
    SourceRow,
    TaskRow,
    UserRow,
    VersionRow,
)
from curata.versioning.service import DatasetService

TASK_CHUNK = 10_000


def unknown_project(name: str) -> NotFoundError:
    """The one error for a project that does not exist, or that the asker may not see (its
    existence is not told apart): NotFound, 404 on the API, the same text everywhere (the
    access policy's :func:`~curata.governance.policies.missing` is where the text lives)."""
    return missing("project", name)


def project_row(session: Session, name: str) -> ProjectRow:
    """The project named ``name``: the one lookup by name every service makes (raises
    :func:`unknown_project`)."""
    project = session.scalar(select(ProjectRow).where(ProjectRow.name == name))
    if project is None:
        raise unknown_project(name)
    return project


@dataclass(frozen=True)
class Project:
    """A project as users see it."""

    name: str
    version: str
    schema: dict[str, Any]
    schema_version: int
    guideline_version: int | None
    overlap: int
    gold_share: float
    lease_seconds: int
    review: dict[str, Any]
    owner: str | None
    members: list[str]
    tasks: int
    gold_tasks: int
    annotations: int
    complete: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


CALIBRATION_RULES = ("point", "lower", "upper")
MIN_LEASE_SECONDS = 10
MAX_LEASE_SECONDS = 7 * 24 * 3600
"""The shortest and longest lease a project may give (a week: a lease longer than that keeps
an item from every other annotator long after its holder left)."""


def check_gold_share(share: float) -> float:
    """``share`` when it is a share of served items a project may give to gold: in [0, 1)."""
    if not 0.0 <= share < 1.0:  # also refuses NaN
        raise ValidationError(f"gold share: must be in [0, 1) (at least 0, below 1), not {share}")
    return float(share)


def check_lease(seconds: int) -> int:
    """``seconds`` when it is a lease a project may give: whole seconds, 10 to a week."""
    if not MIN_LEASE_SECONDS <= seconds <= MAX_LEASE_SECONDS:
        raise ValidationError(
            f"lease: must be {MIN_LEASE_SECONDS} to {MAX_LEASE_SECONDS} seconds (a week), "
            f"not {seconds}"
        )
    return int(seconds)


@dataclass(frozen=True)
class Progress:
    """:meth:`ProjectService.progress`: live items, those complete, one user's labels."""

    items: int
    complete: int
    mine: int


def _progress_statement() -> Any:
    """:meth:`ProjectService.progress` as one statement, built once (a page asks it on every
    item): the project by name, its live items and those complete, and one user's labels."""
    P = ProjectRow.__table__
    T = TaskRow.__table__
    A = AssignmentRow.__table__
    N = AnnotationRow.__table__
    U = UserRow.__table__
    live = (T.c.project_id == P.c.id) & (T.c.kind == "live")
    items = select(func.count()).select_from(T).where(live).scalar_subquery()
    complete = (
        select(func.count()).select_from(T).where(live, T.c.submitted >= P.c.overlap)
    ).scalar_subquery()
    mine = (
        select(func.count(N.c.id))
        .select_from(A)
        .join(U, U.c.id == A.c.user_id)
        .join(T, T.c.id == A.c.task_id)
        .join(N, N.c.assignment_id == A.c.id)
        .where(
            U.c.name == bindparam("p_user", type_=U.c.name.type),
            T.c.project_id == P.c.id,
            N.c.user_id == U.c.id,
            A.c.copied_from.is_(None),
        )
        .scalar_subquery()
    )
    return select(items, complete, mine).select_from(P).where(
        P.c.name == bindparam("p_name", type_=P.c.name.type)
    )


_PROGRESS = _progress_statement()
_SCHEMA_KEY = select(ProjectRow.__table__.c.id, ProjectRow.__table__.c.schema_version).where(
    ProjectRow.__table__.c.name == bindparam("p_name", type_=ProjectRow.__table__.c.name.type)
)
"""A project's id and current schema version by name (:meth:`ProjectService.questions`)."""


def calibration_policy(policy: dict[str, Any] | None) -> dict[str, Any]:
    """``{"size": N, "threshold": 0.8, "rule": "point", "retraining": "text or URL"}``: a new
    annotator first labels up to N calibration items; live items open at an accuracy of
    ``threshold``, judged by ``rule`` on the 95% Wilson interval of their score: ``point``
    (the share itself), ``lower`` (pass only when even the lower bound reaches it: strict) or
    ``upper`` (fail only when even the upper bound falls short: lenient on few items)."""
    out: dict[str, Any] = {"size": 0, "threshold": 0.8, "rule": "point", "retraining": ""}
    out.update(policy or {})
    if not isinstance(out["size"], int) or out["size"] < 0:
        raise ValidationError("calibration size: must be a whole number >= 0")
    if not 0.0 <= float(out["threshold"]) <= 1.0:
        raise ValidationError("calibration threshold: must be in [0, 1]")
    if out["rule"] not in CALIBRATION_RULES:
        raise ValidationError(
            f"calibration rule: {out['rule']!r} is not one of {', '.join(CALIBRATION_RULES)}"
        )
    threshold = float(out["threshold"])
    size = out["size"]
    if out["rule"] == "lower" and size and wilson_interval(size, size)[0] < threshold:
        need = next((n for n in range(1, 10_001) if wilson_interval(n, n)[0] >= threshold), None)
        advice = f"use at least {need} items" if need else "use rule 'point' or 'upper'"
        raise ValidationError(
            f"calibration size: with rule 'lower', even {size} of {size} correct cannot pass "
            f"{threshold:.0%} (the Wilson lower bound is {wilson_interval(size, size)[0]:.2f}); "
            + advice
        )
    return out


def parse_schema(schema: Schema | dict[str, Any]) -> Schema:
    """A schema from its JSON form, or an error naming the field path and why."""
    if isinstance(schema, Schema):
        return schema
    try:
        return Schema.model_validate(schema)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        raise ValidationError(f"schema: {path}: {first['msg']}") from None


class ProjectService:
    """Creates projects over dataset versions, reads them and their progress, and changes their
    settings; ``members``, ``guidelines`` and ``gold`` manage those parts of a project."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: RecordStore,
        datasets: DatasetService,
        actor: str,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._datasets = datasets
        self._actor = actor
        self._schemas: dict[tuple[int, int], Schema] = {}
        self._schema_json: dict[tuple[int, int], dict[str, Any]] = {}
        self.members = MembershipService(sessions, self, actor)
        self.guidelines = GuidelineService(sessions, self, actor)
        self.gold = GoldService(sessions, store, self, actor)

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The session factory (for read-only reports over projects)."""
        return self._sessions

    def row(self, session: Session, name: str) -> ProjectRow:
        """The project named ``name``; NotFound (404) when there is none (see
        :func:`project_row`)."""
        return project_row(session, name)

    def schema(self, session: Session, project: ProjectRow) -> Schema:
        """The project's current question schema."""
        return self.schema_by_key(session, project.id, project.schema_version)

    def schema_by_key(self, session: Session, project_id: int, version: int) -> Schema:
        """A schema version of a project (parsed once per workspace: versions never change)."""
        key = (project_id, version)
        schema = self._schemas.get(key)
        if schema is None:
            row = session.get(ProjectSchemaRow, key)
            assert row is not None
            schema = self._schemas[key] = Schema.model_validate(row.schema)
        return schema

    def schema_json(self, session: Session, project_id: int, version: int) -> dict[str, Any]:
        """A schema version in its JSON form (cached like :meth:`schema_by_key`; do not mutate)."""
        key = (project_id, version)
        found = self._schema_json.get(key)
        if found is None:
            schema = self.schema_by_key(session, project_id, version)
            found = self._schema_json[key] = schema.model_dump(mode="json")
        return found

    def create(
        self,
        name: str,
        *,
        version: str,
        schema: Schema | dict[str, Any],
        overlap: int = 1,
        gold_share: float = 0.0,
        lease_seconds: int = 1800,
        owner: str | None = None,
        members: builtins.list[str] | None = None,
        review: dict[str, Any] | None = None,
        calibration: dict[str, Any] | None = None,
        language_field: str | None = None,
    ) -> Project:
        """Create a project with one live task per record of ``version``.

        ``review`` is the routing policy of :mod:`curata.annotation.review` (default: none,
        except annotations that miss a gold answer). ``language_field`` names a metadata field
        holding each record's language (e.g. ``lang``): an item with a language is served only
        to annotators who have it among their languages.
        """
        from curata.annotation.review import review_policy

        check_name(name, "project")
        parsed = parse_schema(schema)
        policy = review_policy({"review": review or {}})
        calibration = calibration_policy(calibration)
        if overlap < 1:
            raise ValidationError("overlap: must be at least 1")
        check_gold_share(gold_share)
        check_lease(lease_seconds)
        handle = self._datasets.handle(version)
        manifest = self._store.manifest_table(
            handle.storage_key, handle.manifest_version, ["record_id", "row", "source"]
        )
        try:
            with self._sessions.begin() as session:
                if session.scalar(select(ProjectRow.id).where(ProjectRow.name == name)):
                    raise AlreadyExistsError(f"project {name!r} already exists")
                version_id = handle.version_id
                owner_id = user_id(session, owner) if owner else None
                project = ProjectRow(
                    name=name,
                    version_id=version_id,
                    schema_version=1,
                    overlap=overlap,
                    gold_share=gold_share,
                    lease_seconds=lease_seconds,
                    owner_id=owner_id,
                    settings={
                        "review": policy,
                        "calibration": calibration,
                        "language_field": language_field,
                    },
                    created_by=self._actor,
                )
                session.add(project)
                session.flush()
                session.add(
                    ProjectSchemaRow(
                        project_id=project.id, version=1, schema=parsed.model_dump(mode="json")
                    )
                )
                for member in {*(members or []), *([owner] if owner else [])}:
                    session.add(
                        ProjectMemberRow(project_id=project.id, user_id=user_id(session, member))
                    )
                ids = manifest.column("record_id").to_pylist()
                rows = manifest.column("row").to_pylist()
                levels = {
                    s.name: CLEARANCE[s.sensitivity] for s in session.scalars(select(SourceRow))
                }
                default = CLEARANCE["internal"]
                needs = [levels.get(s, default) for s in manifest.column("source").to_pylist()]
                languages = (
                    self._languages(rows, language_field) if language_field else [None] * len(rows)
                )
                for start in range(0, len(ids), TASK_CHUNK):
                    session.execute(
                        insert(TaskRow),
                        [
                            {
                                "project_id": project.id,
                                "record_id": record_id,
                                "row": row,
                                "kind": "live",
                                "priority": 0,
                                "clearance": need,
                                "assigned": 0,
                                "submitted": 0,
                                "language": language,
                            }
                            for record_id, row, need, language in zip(
                                ids[start : start + TASK_CHUNK],
                                rows[start : start + TASK_CHUNK],
                                needs[start : start + TASK_CHUNK],
                                languages[start : start + TASK_CHUNK],
                                strict=True,
                            )
                        ],
                    )
                audit.append(
                    session,
                    actor=self._actor,
                    action="project.create",
                    object_type="project",
                    object_ref=name,
                    details={"version": handle.version.ref, "tasks": len(ids), "overlap": overlap},
                )
        except IntegrityError:
            raise AlreadyExistsError(f"project {name!r} already exists") from None
        return self.get(name)

    def _languages(self, rows: builtins.list[int], field: str) -> builtins.list[str | None]:
        """Each record's language from metadata ``field`` (lower-cased; ``None`` when absent)."""
        out: builtins.list[str | None] = []
        for start in range(0, len(rows), TASK_CHUNK):
            for record in self._store.take_records(rows[start : start + TASK_CHUNK]):
                value = record.metadata.get(field)
                if value is not None and not isinstance(value, str):
                    raise ValidationError(
                        f"language field {field!r}: record {record.id} has "
                        f"{type(value).__name__} {value!r}, not a language code"
                    )
                if value is not None and len(value) > 35:
                    raise ValidationError(
                        f"language field {field!r}: record {record.id} has {value[:40]!r}…, "
                        "longer than a language tag may be (35)"
                    )
                out.append(value.strip().lower() or None if value is not None else None)
        return out

    def questions(self, name: str) -> builtins.list[dict[str, Any]]:
        """The questions of the project's current schema, in JSON form (do not mutate): what
        a form is read against, without :meth:`get`'s counts over every task."""
        with self._sessions() as session:
            key = session.connection().execute(_SCHEMA_KEY, {"p_name": name}).one_or_none()
            if key is None:
                raise unknown_project(name)
            found = self.schema_json(session, int(key[0]), int(key[1]))
        return list(found.get("questions", []))

    def get(self, name: str) -> Project:
        """A project with its counts."""
        with self._sessions() as session:
            project = self.row(session, name)
            version = session.get(VersionRow, project.version_id)
            assert version is not None
            dataset = session.get(DatasetRow, version.dataset_id)
            assert dataset is not None
            owner = session.get(UserRow, project.owner_id) if project.owner_id else None
            members = session.scalars(
                select(UserRow.name)
                .join(ProjectMemberRow, ProjectMemberRow.user_id == UserRow.id)
                .where(ProjectMemberRow.project_id == project.id)
                .order_by(UserRow.name)
            ).all()
            counts = session.execute(
                select(
                    TaskRow.kind,
                    func.count(),
                    func.coalesce(func.sum(TaskRow.submitted), 0),
                    func.count().filter(TaskRow.submitted >= project.overlap),
                )
                .where(TaskRow.project_id == project.id)
                .group_by(TaskRow.kind)
            ).all()
            by_kind = {kind: (n, s, c) for kind, n, s, c in counts}
            live = by_kind.get("live", (0, 0, 0))
            copies = session.scalar(  # gold and calibration answers counted for a live item too
                select(func.count())
                .select_from(AssignmentRow)
                .join(TaskRow, TaskRow.id == AssignmentRow.task_id)
                .where(
                    TaskRow.project_id == project.id,
                    AssignmentRow.copied_from.is_not(None),
                    AssignmentRow.status == "submitted",
                )
            )
            return Project(
                name=project.name,
                version=f"{dataset.name}@{version.number}",
                schema=self.schema(session, project).model_dump(mode="json"),
                schema_version=project.schema_version,
                guideline_version=latest_version(session, project.id),
                overlap=project.overlap,
                gold_share=project.gold_share,
                lease_seconds=project.lease_seconds,
                review=dict(project.settings.get("review") or {}),
                owner=owner.name if owner else None,
                members=list(members),
                tasks=int(live[0]),
                gold_tasks=int(by_kind.get("gold", (0, 0, 0))[0]),
                annotations=int(sum(v[1] for v in by_kind.values())) - int(copies or 0),
                complete=int(live[2]),
            )

    def settings(self, name: str) -> tuple[dict[str, Any], list[tuple[int, datetime]]]:
        """A project's stored settings (review, calibration, gates, aggregation, ...) and when
        each guideline version was published, oldest first: what a project's admin page shows,
        read without its annotations."""
        with self._sessions() as session:
            project = self.row(session, name)
            published = session.execute(
                select(GuidelineRow.version, GuidelineRow.published_at)
                .where(GuidelineRow.project_id == project.id)
                .order_by(GuidelineRow.version)
            ).all()
            return dict(project.settings or {}), [(v, at) for v, at in published]

    def status(
        self, name: str, *, window_hours: float = 24.0, now: datetime | None = None
    ) -> ProjectStatus:
        """Where a project stands: backlog, throughput per annotator and the ETA at the pace of
        the last ``window_hours`` (see :mod:`curata.annotation.status`)."""
        with self._sessions() as session:
            return project_status(
                session, self.row(session, name), window_hours=window_hours, now=now
            )

    def progress(self, name: str, user_name: str) -> Progress:
        """The annotate page's counts, cheaply: the project's live items, how many are complete
        (as :meth:`status`), and every label ``user_name`` submitted to the project (each
        revision, a copied answer not counted: ``status``'s per-annotator ``labels`` over all
        time), the last from the user's own assignments (indexed) rather than every
        annotation of the project."""
        with self._sessions() as session:
            found = (
                session.connection()
                .execute(_PROGRESS, {"p_name": name, "p_user": user_name})
                .one_or_none()
            )
        if found is None:
            raise unknown_project(name)
        items, complete, mine = found
        return Progress(items=int(items or 0), complete=int(complete or 0), mine=int(mine or 0))

    def list(self) -> builtins.list[Project]:
        """Every project, by name."""
        with self._sessions() as session:
            names = session.scalars(select(ProjectRow.name).order_by(ProjectRow.name)).all()
        return [self.get(n) for n in names]

    def set_overlap(self, name: str, overlap: int, *, by: str | None = None) -> Project:
        """Change how many annotators label each item (raising it re-opens finished items);
        audited as ``by`` (default: the workspace's user)."""
        if overlap < 1:
            raise ValidationError("overlap: must be at least 1")
        with self._sessions.begin() as session:
            project = self.row(session, name)
            before = project.overlap
            project.overlap = overlap
            session.execute(
                update(TaskRow)
                .where(TaskRow.project_id == project.id)
                .values(is_open=or_(TaskRow.kind != "live", TaskRow.assigned < overlap))
            )
            self._audit(session, name, "project.overlap", before, overlap, by)
        return self.get(name)

    def set_gold_share(self, name: str, share: float, *, by: str | None = None) -> Project:
        """Change the share of served items that are hidden gold, in [0, 1) (the next items
        served draw with it); audited."""
        share = check_gold_share(share)
        with write_transaction(self._sessions) as session:
            project = self.row(session, name)
            before = project.gold_share
            project.gold_share = share
            self._audit(session, name, "project.gold_share", before, share, by)
        return self.get(name)

    def set_lease(self, name: str, seconds: int, *, by: str | None = None) -> Project:
        """Change how long an item stays leased to its annotator (10 seconds to a week); leases
        already held keep the time they were given. Audited."""
        seconds = check_lease(seconds)
        with write_transaction(self._sessions) as session:
            project = self.row(session, name)
            before = project.lease_seconds
            project.lease_seconds = seconds
            self._audit(session, name, "project.lease", before, seconds, by)
        return self.get(name)

    def set_review(
        self, name: str, policy: dict[str, Any], *, by: str | None = None
    ) -> dict[str, Any]:
        """Replace the review policy (:func:`~curata.annotation.review.review_policy`: validated,
        defaults filled in); it routes the annotations submitted from now on. Audited."""
        from curata.annotation.review import REVIEW_MODES, review_policy

        unknown = sorted(set(policy) - {"mode", "rate", "threshold", "gold_miss"})
        if unknown:
            raise ValidationError(f"review {unknown[0]}: not a review setting")
        if policy.get("mode", "none") not in REVIEW_MODES:
            raise ValidationError(
                f"review mode: {policy.get('mode')!r} is not one of {', '.join(REVIEW_MODES)}"
            )
        for key in ("rate", "threshold"):
            if key in policy and not isinstance(policy[key], (int, float)):
                raise ValidationError(f"review {key}: must be a number in [0, 1]")
        if "gold_miss" in policy and not isinstance(policy["gold_miss"], bool):
            raise ValidationError("review gold_miss: must be true or false")
        return self._replace_setting(name, "review", review_policy({"review": policy}), by)

    def set_calibration(
        self, name: str, policy: dict[str, Any], *, by: str | None = None
    ) -> dict[str, Any]:
        """Replace the calibration policy (:func:`calibration_policy`: validated, defaults
        filled in); annotators who passed under the old policy are judged again under the new
        one. Audited."""
        unknown = sorted(set(policy) - {"size", "threshold", "rule", "retraining"})
        if unknown:
            raise ValidationError(f"calibration {unknown[0]}: not a calibration setting")
        if "threshold" in policy and not isinstance(policy["threshold"], (int, float)):
            raise ValidationError("calibration threshold: must be a number in [0, 1]")
        if not isinstance(policy.get("retraining", ""), str):
            raise ValidationError("calibration retraining: must be text (or a URL)")
        return self._replace_setting(name, "calibration", calibration_policy(policy), by)

    def set_gates(
        self, name: str, gates: dict[str, Any], *, by: str | None = None
    ) -> dict[str, Any]:
        """Replace the quality gates a release must pass (``{}`` removes them); audited."""
        from curata.annotation.gates import parse_gates

        with write_transaction(self._sessions) as session:
            project = self.row(session, name)
            questions = {q.name for q in self.schema(session, project).questions}
            parsed = parse_gates(gates, questions)
            before = (project.settings or {}).get("gates") or {}
            project.settings = {**(project.settings or {}), "gates": parsed}
            self._audit(session, name, "project.gates", before, parsed, by)
        return parsed

    def set_aggregation(
        self, name: str, policy: dict[str, Any], *, by: str | None = None
    ) -> dict[str, Any]:
        """Set how a release aggregates (``{"outside_votes": "review" | "forbid" | "allow"}``,
        validated, defaults filled in); audited."""
        from curata.annotation.aggregation import aggregation_policy

        parsed = aggregation_policy({"aggregation": policy})
        return self._replace_setting(name, "aggregation", parsed, by)

    def _replace_setting(
        self, name: str, key: str, parsed: dict[str, Any], by: str | None
    ) -> dict[str, Any]:
        """Store ``parsed`` (validated, defaults filled in) as the project's setting ``key``
        and audit the change as ``project.KEY`` with the policy it replaced."""
        from curata.annotation.aggregation import aggregation_policy
        from curata.annotation.review import review_policy

        with write_transaction(self._sessions) as session:
            project = self.row(session, name)
            settings = project.settings or {}
            before = (
                calibration_policy(settings.get("calibration"))
                if key == "calibration"
                else review_policy(settings)
                if key == "review"
                else aggregation_policy(settings)
            )
            project.settings = {**(project.settings or {}), key: parsed}
            self._audit(session, name, f"project.{key}", before, parsed, by)
        return parsed

    def _audit(
        self, session: Session, name: str, action: str, before: Any, after: Any, by: str | None
    ) -> None:
        audit.append(
            session,
            actor=by or self._actor,
            action=action,
            object_type="project",
            object_ref=name,
            details={"from": before, "to": after},
        )
