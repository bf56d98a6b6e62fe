"""Remediation briefs (#16): typed work that fixes a data deficit, tracked until a follow-up
evaluation shows its effect.

A brief is ``sourcing``, ``annotation`` or ``redteam``; it names a target slice (an eval
category and a project, a dataset version, record ids, a metadata filter, the labellers of a
cohort or vendor, an attack set and target), a volume, a reason, free JSON evidence, an owner (a
user) and a due date. Its status goes ``open`` -> ``in_progress`` (materialised: see
:mod:`curata.loop.brief_work`) -> ``closed_effective`` | ``closed_ineffective``; every
transition is written to the audit log in the transaction that makes it.

A brief is *eval-backed* when its slice names a ``category`` and its evidence an ``eval_run``
(the baseline evaluation run, which must have that category). It closes on a follow-up run
(:meth:`BriefService.close`): as effective only when the category's pass rate rose
significantly — the 95% interval of (follow-up - baseline) lies above 0, Newcombe's hybrid score
interval (:func:`rate_difference`) — else it is refused unless closed as ineffective, and either
way the numbers are stored on the brief.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation.projects import project_row
from curata.core.errors import NotFoundError, ValidationError
from curata.governance import audit
from curata.loop import brief_work
from curata.stats.proportions import newcombe_interval
from curata.store.db import write_transaction
from curata.store.records import RecordStore
from curata.store.tables import BriefRow, ProjectRow, UserRow, utcnow
from curata.timeutil import as_utc

if TYPE_CHECKING:
    from curata.loop.service import EvaluationService
    from curata.redteam.campaigns import CampaignService
    from curata.versioning.service import DatasetService

KINDS = ("sourcing", "annotation", "redteam")
STATUSES = ("open", "in_progress", "closed_effective", "closed_ineffective")
ACTIVE = ("open", "in_progress")
"""Statuses of a brief not yet closed (``list(status="active")`` lists them)."""
MAX_VOLUME = 1_000_000
MAX_REASON = 4000
SLICE_KEYS = {
    "category": "the eval category the brief is meant to fix",
    "project": "the annotation project (required for annotation briefs)",
    "dataset": "a dataset version NAME@N (required for sourcing briefs)",
    "records": "record ids to re-label (annotation)",
    "filter": "record-metadata equality filter, an object (annotation)",
    "labelled_by": "{cohort|vendor|user: NAME}: items they labelled (annotation)",
    "field": "the coverage field whose gap to source (sourcing)",
    "slice": "the value of that field (sourcing)",
    "attacks": "attack set version (required for redteam briefs)",
    "target": "red-team target, as on the command line (required for redteam briefs)",
    "attack_category": "attack category to send (redteam; default: category)",
}


def rate_difference(
    k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95
) -> tuple[float, float, float]:
    """p1 - p2 of two independent proportions (k1/n1, k2/n2) with Newcombe's hybrid score
    interval (Newcombe 1998, *Statistics in Medicine* 17:873-890, method 10; the attribution's
    :func:`~curata.stats.proportions.newcombe_interval`). Both samples must be non-empty."""
    low, high = newcombe_interval(k1, n1, k2, n2, confidence)
    return k1 / n1 - k2 / n2, low, high


@dataclass(frozen=True)
class Brief:
    """A remediation brief as reads show it, with its progress (``None`` before it is
    materialised) and whether it is overdue (past its due date and not closed)."""

    id: int
    kind: str
    status: str
    project: str | None
    target: dict[str, Any]
    volume: int
    reason: str
    evidence: dict[str, Any]
    owner: str
    due: date
    overdue: bool
    work: dict[str, Any]
    progress: dict[str, Any] | None
    outcome: dict[str, Any] | None
    created_by: str
    created_at: datetime
    closed_by: str | None
    closed_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["due"] = self.due.isoformat()
        data["created_at"] = self.created_at.isoformat()
        data["closed_at"] = self.closed_at.isoformat() if self.closed_at else None
        return data

    def slice_text(self) -> str:
        """The brief's slice in one line (``category=refusal project=triage labelled_by=...``)."""
        parts = []
        for key, value in self.target.items():
            if isinstance(value, list):
                shown = ",".join(str(v) for v in value[:3]) + (",..." if len(value) > 3 else "")
                parts.append(f"{key}={shown} ({len(value)})")
            elif isinstance(value, dict):
                parts.append(f"{key}=" + ",".join(f"{k}:{v}" for k, v in value.items()))
            else:
                parts.append(f"{key}={value}")
        return " ".join(parts)

    def progress_text(self) -> str:
        """The brief's progress in a few words."""
        p = self.progress
        if self.outcome is not None and self.outcome.get("evaluated"):
            o = self.outcome
            return (f"{o['category']} {100 * o['difference']:+.1f} pts "
                    f"({100 * o['low']:+.1f} to {100 * o['high']:+.1f})")  # fmt: skip
        if p is None:
            return "not materialised"
        if self.kind == "annotation":
            return f"{p['done']}/{p['tasks']} tasks done"
        if self.kind == "redteam":
            return f"campaign {p['campaign']} {p['status']}, {p.get('attempts', 0)} attempts"
        added = p.get("records_added")
        return f"{added if added is not None else '?'}/{p.get('wanted', self.volume)} records added"


def _today() -> date:
    return datetime.now(UTC).date()


def parse_due(value: date | str) -> date:
    """A due date from a date or ``YYYY-MM-DD``."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(f"due: {value!r} is not a date (YYYY-MM-DD)") from None


class BriefService:
    """Creates, materialises, reads and closes remediation briefs."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: RecordStore,
        *,
        home: Path,
        datasets: DatasetService,
        campaigns: CampaignService,
        evaluation: EvaluationService,
        actor: str,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._home = Path(home)
        self._datasets = datasets
        self._campaigns = campaigns
        self._evaluation = evaluation
        self._actor = actor

    # -- create and materialise -------------------------------------------------------------------

    def create(
        self,
        kind: str,
        *,
        target: dict[str, Any],
        volume: int,
        reason: str,
        owner: str,
        due: date | str,
        evidence: dict[str, Any] | None = None,
        materialize: bool = True,
        by: str | None = None,
        today: date | None = None,
    ) -> Brief:
        """Record a brief and (unless ``materialize`` is false) the work that fixes it, in one
        transaction (a red-team brief's campaign is created just before it, once everything
        else has been checked). Bad input is a ValidationError/NotFound naming the field."""
        actor = by or self._actor
        if kind not in KINDS:
            raise ValidationError(f"type: {kind!r} is not one of {', '.join(KINDS)}")
        target = self._check_target(kind, target)
        if isinstance(volume, bool) or not isinstance(volume, int):
            raise ValidationError(f"volume: {volume!r} is not a whole number")
        if not 1 <= volume <= MAX_VOLUME:
            raise ValidationError(f"volume: must be between 1 and {MAX_VOLUME:,}, got {volume:,}")
        reason = (reason or "").strip()
        if not reason:
            raise ValidationError("reason: say why the brief is needed")
        if len(reason) > MAX_REASON:
            raise ValidationError(f"reason: longer than {MAX_REASON} characters")
        due_date = parse_due(due)
        if due_date < (today or _today()):
            raise ValidationError(f"due: {due_date.isoformat()} is in the past")
        evidence = dict(evidence or {})
        self._check_baseline(target, evidence)
        if kind == "sourcing":
            target["dataset"] = self._datasets.version(str(target["dataset"])).ref
        campaign = None
        if materialize and kind == "redteam":
            with self._sessions() as session:  # fail on a bad owner/project before the campaign
                self._user_id(session, owner)
                self._project(session, target)
            campaign = self._campaign(target, volume)
        with write_transaction(self._sessions) as session:
            project = self._project(session, target)
            row = BriefRow(
                kind=kind,
                project_id=project.id if project is not None else None,
                target=target,
                volume=volume,
                reason=reason,
                evidence=evidence,
                owner_id=self._user_id(session, owner),
                due=due_date,
                status="open",
                work={},
                created_by=actor,
            )
            session.add(row)
            session.flush()
            audit.append(
                session,
                actor=actor,
                action="brief.create",
                object_type="brief",
                object_ref=str(row.id),
                details={
                    "type": kind,
                    "target": target,
                    "volume": volume,
                    "owner": owner,
                    "due": due_date.isoformat(),
                },
            )
            if materialize:
                self._materialize(session, row, project, actor, campaign)
            brief_id = row.id
        return self.show(brief_id)

    def materialize(self, brief_id: int, *, by: str | None = None) -> Brief:
        """Make the work of an ``open`` brief (see :mod:`curata.loop.brief_work`)."""
        actor = by or self._actor
        with self._sessions() as session:
            row = self._row(session, brief_id)
            self._check_open(row)
            kind, target, volume = row.kind, dict(row.target), row.volume
        campaign = self._campaign(target, volume) if kind == "redteam" else None
        with write_transaction(self._sessions) as session:
            row = self._row(session, brief_id)
            self._check_open(row)
            project = session.get(ProjectRow, row.project_id) if row.project_id else None
            self._materialize(session, row, project, actor, campaign)
        return self.show(brief_id)

    def _materialize(
        self,
        session: Session,
        row: BriefRow,
        project: ProjectRow | None,
        actor: str,
        campaign: Any,
    ) -> None:
        target = dict(row.target)
        if row.kind == "annotation":
            assert project is not None
            tasks, matched, labellers = brief_work.select_tasks(
                session, self._store, project, target, row.volume
            )
            if not tasks:
                raise ValidationError(
                    f"no live item of project {project.name!r} matches the slice {target}"
                )
            superseded = brief_work.reopen_tasks(session, row.id, project, tasks, labellers)
            work: dict[str, Any] = {
                "project": project.name,
                "tasks": len(tasks),
                "matched": matched,
                "superseded": superseded,
                "priority": brief_work.BRIEF_PRIORITY,
            }
        elif row.kind == "sourcing":
            work = {"request": brief_work.sourcing_request(
                self._home, str(target["dataset"]), target, row.volume)}  # fmt: skip
        else:
            work = {"campaign": campaign.id, "planned": campaign.planned}
        row.work = work
        row.status = "in_progress"
        row.updated_at = utcnow()
        audit.append(
            session,
            actor=actor,
            action="brief.materialize",
            object_type="brief",
            object_ref=str(row.id),
            details={"type": row.kind, "status": "in_progress", **_summary(work)},
        )

    def _campaign(self, target: dict[str, Any], volume: int) -> Any:
        from curata.redteam.targets import RunnerParams

        category = target.get("attack_category") or target.get("category")
        return self._campaigns.create(
            attacks=str(target["attacks"]),
            target=str(target["target"]),
            filters={"category": category} if category else None,
            runner=RunnerParams(max_attempts=volume),
            label=f"brief: {category or target['attacks']}",
        )

    # -- read ------------------------------------------------------------------------------------

    def show(self, brief_id: int, *, today: date | None = None) -> Brief:
        """One brief with its progress."""
        with self._sessions() as session:
            return self._view(session, self._row(session, brief_id), today or _today())

    def list(
        self,
        *,
        status: str | None = None,
        project: str | None = None,
        today: date | None = None,
    ) -> builtins.list[Brief]:
        """Briefs, oldest due first (of one status, or ``active``: open and in progress; of one
        project when named)."""
        query = select(BriefRow).order_by(BriefRow.due, BriefRow.id)
        if status == "active":
            query = query.where(BriefRow.status.in_(ACTIVE))
        elif status is not None:
            if status not in STATUSES:
                raise ValidationError(
                    f"status: {status!r} is not one of active, {', '.join(STATUSES)}"
                )
            query = query.where(BriefRow.status == status)
        with self._sessions() as session:
            if project is not None:
                query = query.where(BriefRow.project_id == project_row(session, project).id)
            day = today or _today()
            return [self._view(session, r, day) for r in session.scalars(query)]

    # -- close -----------------------------------------------------------------------------------

    def close(
        self,
        brief_id: int,
        *,
        eval_run: int | None = None,
        ineffective: bool = False,
        by: str | None = None,
    ) -> Brief:
        """Close a brief on follow-up evaluation run ``eval_run`` (see the module docstring).
        A brief that is not eval-backed closes only as ineffective."""
        actor = by or self._actor
        with self._sessions() as session:
            row = self._row(session, brief_id)
            if row.status not in ACTIVE:
                raise ValidationError(f"brief {brief_id} is already {row.status}")
            target, evidence, created = dict(row.target), dict(row.evidence), row.created_at
        backed = "category" in target and "eval_run" in evidence
        if not backed:
            if eval_run is not None or not ineffective:
                raise ValidationError(
                    f"brief {brief_id} names no baseline evaluation (a category in its slice and "
                    "an eval_run in its evidence), so no evaluation can show its effect: close "
                    "it with --ineffective"
                )
            outcome: dict[str, Any] = {"evaluated": False}
        else:
            if eval_run is None:
                raise ValidationError(
                    f"brief {brief_id}: name the follow-up evaluation run (--eval RUN_ID)"
                )
            outcome = self._compare(
                brief_id, str(target["category"]), int(evidence["eval_run"]), eval_run, created
            )
            if outcome["significant"] and ineffective:
                raise ValidationError(
                    f"brief {brief_id}: {_sentence(outcome)}; that is an improvement, so it "
                    "is not closed as ineffective"
                )
            if not outcome["significant"] and not ineffective:
                raise ValidationError(
                    f"brief {brief_id} not closed: {_sentence(outcome)}, which does not lie "
                    "above 0; close it with --ineffective to record that"
                )
        status = "closed_ineffective" if ineffective else "closed_effective"
        with write_transaction(self._sessions) as session:
            row = self._row(session, brief_id)
            if row.status not in ACTIVE:
                raise ValidationError(f"brief {brief_id} is already {row.status}")
            now = utcnow()
            row.status, row.outcome = status, outcome
            row.closed_by, row.closed_at, row.updated_at = actor, now, now
            audit.append(
                session,
                actor=actor,
                action="brief.close",
                object_type="brief",
                object_ref=str(brief_id),
                details={"status": status, "outcome": outcome},
            )
        return self.show(brief_id)

    def _compare(
        self, brief_id: int, category: str, baseline: int, follow_up: int, created: datetime
    ) -> dict[str, Any]:
        if follow_up == baseline:
            raise ValidationError(
                f"brief {brief_id}: run {follow_up} is the baseline; name a follow-up run"
            )
        after_run = self._evaluation.run(follow_up)
        if as_utc(after_run.created_at) < as_utc(created):
            raise ValidationError(
                f"brief {brief_id}: run {follow_up} was ingested before the brief was made, so "
                "it cannot show the brief's effect"
            )
        before = self._rate(baseline, category)
        after = self._rate(follow_up, category)
        d, low, high = rate_difference(after["passed"], after["judged"],
                                       before["passed"], before["judged"])  # fmt: skip
        return {
            "evaluated": True,
            "category": category,
            "baseline": before,
            "follow_up": after,
            "difference": d,
            "low": low,
            "high": high,
            "confidence": 0.95,
            "method": "Newcombe hybrid score (1998, method 10)",
            "significant": low > 0,
        }

    def _rate(self, run_id: int, category: str) -> dict[str, Any]:
        summary = self._evaluation.summary(run_id)
        for row in summary.categories[:-1]:
            if row.category == category:
                if not row.judged:
                    raise ValidationError(
                        f"run {run_id}: category {category!r} has no pass/fail verdicts"
                    )
                return {"run": run_id, "passed": row.passed, "judged": row.judged,
                        "rate": row.rate}  # fmt: skip
        raise ValidationError(f"run {run_id} has no category {category!r} "
                              f"(its categories: {_categories(summary)})")  # fmt: skip

    # -- internals -------------------------------------------------------------------------------

    def _check_target(self, kind: str, target: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(target, dict):
            raise ValidationError("slice: expected an object")
        target = {k: v for k, v in target.items() if v not in (None, "", [], {})}
        unknown = sorted(set(target) - set(SLICE_KEYS))
        if unknown:
            raise ValidationError(
                f"slice: unknown field(s) {', '.join(unknown)} (known: {', '.join(SLICE_KEYS)})"
            )
        need = {"annotation": ("project",), "sourcing": ("dataset",),
                "redteam": ("attacks", "target")}[kind]  # fmt: skip
        for key in need:
            if key not in target:
                raise ValidationError(f"slice: a {kind} brief needs {key} ({SLICE_KEYS[key]})")
        if kind == "annotation" and not {"records", "filter", "labelled_by"} & set(target):
            raise ValidationError(
                "slice: an annotation brief names its items: records, filter and/or labelled_by"
            )
        if "records" in target:
            records = target["records"]
            if not isinstance(records, list) or not all(isinstance(r, str) for r in records):
                raise ValidationError("slice: records must be a list of record ids")
            if len(records) > MAX_VOLUME:
                raise ValidationError(f"slice: more than {MAX_VOLUME:,} records")
        if "filter" in target and not isinstance(target["filter"], dict):
            raise ValidationError("slice: filter must be an object of metadata field: value")
        return target

    def _check_baseline(self, target: dict[str, Any], evidence: dict[str, Any]) -> None:
        run = evidence.get("eval_run")
        if run is None:
            return
        if isinstance(run, bool) or not isinstance(run, int):
            raise ValidationError(f"evidence: eval_run must be a run id, got {run!r}")
        if "category" not in target:
            raise ValidationError(
                "slice: name the category the brief fixes (the baseline run is compared on it)"
            )
        self._rate(run, str(target["category"]))

    @staticmethod
    def _project(session: Session, target: dict[str, Any]) -> ProjectRow | None:
        name = target.get("project")
        return project_row(session, str(name)) if name else None

    @staticmethod
    def _user_id(session: Session, name: str) -> int:
        found = session.scalar(select(UserRow.id).where(UserRow.name == name))
        if found is None:
            raise NotFoundError(f"owner: unknown user {name!r} (see 'curata user list')")
        return int(found)

    @staticmethod
    def _row(session: Session, brief_id: int) -> BriefRow:
        row = session.get(BriefRow, brief_id)
        if row is None:
            raise NotFoundError(f"no brief {brief_id} (see 'curata brief list')")
        return row

    @staticmethod
    def _check_open(row: BriefRow) -> None:
        if row.status != "open":
            raise ValidationError(
                f"brief {row.id} is {row.status}: only an open brief is materialised"
            )

    def _view(self, session: Session, row: BriefRow, today: date) -> Brief:
        owner = session.get(UserRow, row.owner_id)
        project = session.get(ProjectRow, row.project_id) if row.project_id else None
        return Brief(
            id=row.id,
            kind=row.kind,
            status=row.status,
            project=project.name if project else None,
            target=dict(row.target),
            volume=row.volume,
            reason=row.reason,
            evidence=dict(row.evidence),
            owner=owner.name if owner else "?",
            due=row.due,
            overdue=row.status in ACTIVE and row.due < today,
            work=dict(row.work),
            progress=self._progress(session, row),
            outcome=dict(row.outcome) if row.outcome is not None else None,
            created_by=row.created_by,
            created_at=as_utc(row.created_at),
            closed_by=row.closed_by,
            closed_at=as_utc(row.closed_at) if row.closed_at else None,
        )

    def _progress(self, session: Session, row: BriefRow) -> dict[str, Any] | None:
        if not row.work:
            return None
        if row.kind == "annotation":
            return brief_work.annotation_progress(session, row.id)
        if row.kind == "redteam":
            try:
                c = self._campaigns.get(str(row.work["campaign"]))
            except NotFoundError:
                return {"campaign": row.work["campaign"], "status": "missing"}
            return {"campaign": c.id, "status": c.status, "attempts": c.attempts,
                    "planned": c.planned, "verdicts": dict(c.verdicts)}  # fmt: skip
        request = row.work.get("request", {})
        try:
            latest = self._datasets.version(str(request["dataset"]).split("@")[0])
        except (NotFoundError, KeyError):
            return {"records_added": None}
        before = request.get("records_at_request")
        added = latest.record_count - before if isinstance(before, int) else None
        return {"latest": latest.ref, "records_added": added, "wanted": row.volume}


def _summary(work: dict[str, Any]) -> dict[str, Any]:
    if "request" in work:
        request = work["request"]
        return {"dataset": request["dataset"], "gaps": len(request["gaps"]),
                "report_sha256": request["report_sha256"]}  # fmt: skip
    return dict(work)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _sentence(o: dict[str, Any]) -> str:
    b, a = o["baseline"], o["follow_up"]
    return (
        f"{o['category']} pass rate {_pct(b['rate'])} ({b['passed']}/{b['judged']}, run "
        f"{b['run']}) -> {_pct(a['rate'])} ({a['passed']}/{a['judged']}, run {a['run']}): "
        f"{100 * o['difference']:+.1f} pts, 95% interval {100 * o['low']:+.1f} to "
        f"{100 * o['high']:+.1f} pts"
    )


def _categories(summary: Any) -> str:
    return ", ".join(c.category for c in summary.categories[:-1]) or "none"
