"""Release: aggregate a project's labels into a new dataset version, with lineage to the people
and guideline versions behind them."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation.aggregation import (
    METHODS,
    aggregation_policy,
)
from curata.annotation.automation import automate_release
from curata.annotation.final import COUNTS, item_labels
from curata.annotation.gates import GateMetrics, GateResult, evaluate
from curata.annotation.policy_report import PolicyReport, PolicyResult
from curata.annotation.projects import project_row
from curata.annotation.review import ReviewService
from curata.core.errors import ForbiddenError, ValidationError
from curata.core.models import Version
from curata.core.names import check_name
from curata.governance import audit
from curata.lineage.openlineage import LineageDataset, LineageEmitter
from curata.store.records import MANIFEST_SCHEMA, RecordStore
from curata.store.tables import (
    AnnotationRow,
    AuditEventRow,
    CohortMemberRow,
    CohortRow,
    DatasetRow,
    ProjectRow,
    ProjectSchemaRow,
    TaskRow,
    UserRow,
    VendorRow,
    VersionRow,
    utcnow,
)
from curata.versioning.commit import AuditEntry, Operation, next_version
from curata.versioning.service import DatasetService


class PolicyEvaluator(Protocol):
    """What a release asks of its policies (:class:`curata.stewardship.release_policy.
    ReleasePolicyService`, set by the workspace): evaluate them, and write a report."""

    def evaluate(
        self, project: str, *, dataset: str | None = None, gates: Sequence[GateResult] = ()
    ) -> PolicyReport: ...

    def path(self, ref: str) -> Path: ...

    def write(self, report: PolicyReport) -> Path: ...


class Notice(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class ReleaseNotifier(Protocol):
    """Tells the RACI's Informed parties (:class:`curata.stewardship.notify.Notifier`)."""

    def notify(self, event: str, payload: dict[str, Any]) -> Sequence[Notice]: ...


Signer = Callable[[Session, str, Mapping[str, Path]], None]
"""Signs a version and the named artifacts inside the release's transaction
(:meth:`curata.stewardship.signatures.ReleaseSignatures.sign_in`)."""

RELEASE_SCHEMA = (
    MANIFEST_SCHEMA.append(pa.field("labels", pa.large_string()))
    .append(pa.field("confidence", pa.large_string()))
    .append(pa.field("annotators", pa.int32()))
    .append(pa.field("soft_labels", pa.large_string()))
    .append(pa.field("outside_votes", pa.large_string()))
)
"""A release's per-record columns (JSON per question): ``labels``, ``confidence``,
``annotators``, ``soft_labels``, and ``outside_votes``: where Dawid-Skene (or gold-weighted
voting) inferred a label none of the item's annotators chose, that label, its posterior, the
answers given, the reason and what the project's policy did (null for every other record)."""


@dataclass(frozen=True)
class ReleaseResult:
    """The released version and what went into it."""

    version: Version
    labelled: int
    unlabelled: int
    tied: int
    people: dict[str, list[str]]
    gates: list[GateResult] = field(default_factory=list)
    outside_votes: int = 0
    """Items given a label none of their annotators chose (Dawid-Skene, gold-weighted), marked
    in the ``outside_votes`` column."""
    held: int = 0
    """Of those, the items released without that label and sent to review (policy ``review``)."""
    automation: list[dict[str, Any]] = field(default_factory=list)
    """Each automated question's mode, current evidence and a warning where a model mode's
    evidence fell below threshold (:func:`curata.annotation.automation.automate_release`)."""

    policy_report: dict[str, Any] | None = None
    """Every release policy's result (:mod:`curata.stewardship.release_policy`)."""
    policy_report_path: str | None = None
    """Where that report was written (``<home>/policy-reports/<dataset>@<n>.json``)."""
    notices: list[dict[str, Any]] = field(default_factory=list)
    """What became of each notice to the RACI's Informed parties."""
    cards: dict[str, str] = field(default_factory=dict)
    """The released version's data cards by format (``md``, ``croissant``), signed into the
    audit chain with the policy report (:mod:`curata.stewardship.datacard`)."""
    card_error: str | None = None
    """Why the cards were not written (the release itself stands)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "version": self.version.to_dict(),
            "gates": [g.to_dict() for g in self.gates],
        }


class GateFailed(ValidationError):
    """A release that fails one of its project's quality gates (exit 1 / HTTP 422)."""

    def __init__(self, project: str, failed: list[GateResult], owner: str | None) -> None:
        who = f"its owner ({owner})" if owner else "its owner (the project has none: set one)"
        lines = "\n".join(f"  {g.describe()}" for g in failed)
        super().__init__(
            f"release of {project!r} blocked by {len(failed)} quality gate(s):\n{lines}\n"
            f"only {who} can override, with --override-gates --reason TEXT"
        )
        self.failed = failed


class PolicyFailed(ValidationError):
    """A release that fails one of its release policies (exit 1 / HTTP 422); names each."""

    def __init__(self, project: str, failed: list[PolicyResult], owner: str | None) -> None:
        who = f"its Accountable owner ({owner})" if owner else "its Accountable owner (none set)"
        lines = "\n".join(f"  {p.describe()}" for p in failed)
        super().__init__(
            f"release of {project!r} blocked by {len(failed)} release policy(ies):\n{lines}\n"
            f"only {who} can override, with --override-gates --reason TEXT"
        )
        self.failed = failed


log = logging.getLogger(__name__)

OUTSIDE_VOTES_EVENT = "release.outside_votes"
POLICIES_EVENT = "release.policies"


def outside_votes_notes(session: Session, project: ProjectRow, task_id: int) -> list[str]:
    """Why the project's latest statistical release held back or replaced an item's labels (one
    line per question), for the reviewer; empty when it did not."""
    details = session.scalar(
        select(AuditEventRow.details)
        .where(
            AuditEventRow.action == OUTSIDE_VOTES_EVENT,
            AuditEventRow.object_type == "project",
            AuditEventRow.object_ref == project.name,
        )
        .order_by(AuditEventRow.id.desc())
        .limit(1)
    )
    found = ((details or {}).get("items") or {}).get(str(task_id)) or {}
    return [f"{question}: {reason}" for question, reason in sorted(found.items())]


class ReleaseService:
    """Turns a project's annotations into a labelled dataset version."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: RecordStore,
        datasets: DatasetService,
        emitter: LineageEmitter,
        actor: str,
        gate_metrics: GateMetrics,
    ) -> None:
        self._sessions = sessions
        self._gate_metrics = gate_metrics
        self._store = store
        self._datasets = datasets
        self._emitter = emitter
        self._actor = actor
        self.policies: PolicyEvaluator | None = None
        """Evaluates the release policies (:mod:`curata.stewardship.release_policy`); set by
        the workspace."""
        self.notifier: ReleaseNotifier | None = None
        """Tells the RACI's Informed parties about each release; set by the workspace."""
        self.signer: Signer | None = None
        """Signs the released version and its policy report in the release's transaction (see
        :mod:`curata.stewardship.signatures`); set by the workspace."""
        self.publisher: Callable[[str, dict[str, Path]], dict[str, Path]] | None = None
        """After the commit, writes the version's data cards and signs them with the given
        artifacts; returns the cards' paths by format. Set by the workspace."""

    def release(
        self,
        project_name: str,
        *,
        aggregate: str = "majority",
        dataset: str | None = None,
        override: str | None = None,
        by: str | None = None,
    ) -> ReleaseResult:
        """Aggregate every live item's labels into the next version of ``dataset``
        (default ``<project>-labels``); adjudicated answers override the vote.

        The project's quality gates must pass: a failing gate raises :class:`GateFailed`
        naming each gate and its shortfall, unless the project's accountable owner (``by``,
        default the workspace user) overrides with a reason, which goes to the audit log.
        So must its release policies (:class:`PolicyFailed`, the same override); their report
        is written beside the version and returned. The RACI's Informed parties are told
        (a failed notice is recorded; it never fails the release).
        """
        if aggregate not in METHODS:
            raise ValidationError(f"aggregate: {aggregate!r} is not one of {', '.join(METHODS)}")
        started = utcnow()
        with self._sessions() as session:
            project = project_row(session, project_name)  # 404, like every lookup (was 422)
            source_version = session.get(VersionRow, project.version_id)
            assert source_version is not None
            source_ds = session.get(DatasetRow, source_version.dataset_id)
            assert source_ds is not None
            questions = session.get(ProjectSchemaRow, (project.id, project.schema_version))
            assert questions is not None
            gates, override_entry, report = self._check_gates(
                project,
                {q["name"] for q in questions.schema.get("questions", [])},
                override=override,
                by=by,
                dataset=dataset or f"{project_name}-labels",
            )
            policy = aggregation_policy(project.settings or {})
            items = item_labels(session, project, method=aggregate)
            automation = automate_release(self._sessions, session, project, items)
            people = {user for item in items for user, _ in item.answers}
            labels: dict[str, tuple[str, str, int, str, str | None]] = {}
            marked: dict[int, dict[str, dict[str, Any]]] = {}
            tied = 0
            for item in items:
                combined = item.combined
                tied += any(v["tied"] for v in combined.values())
                outside = {
                    k: v["outside_votes"] for k, v in combined.items() if "outside_votes" in v
                }
                if outside:
                    marked[item.task_id] = outside
                labels[item.record_id] = (
                    json.dumps({k: v["value"] for k, v in combined.items()}, sort_keys=True),
                    json.dumps({k: v["confidence"] for k, v in combined.items()}, sort_keys=True),
                    len(item.answers),
                    json.dumps(
                        {k: v["distribution"] for k, v in combined.items()}, sort_keys=True
                    ),
                    json.dumps(outside, sort_keys=True) if outside else None,
                )
            lineage = self._people(session, project, people)
        name = dataset or f"{project_name}-labels"
        check_name(name, "dataset")
        manifest = self._store.manifest_table(
            source_ds.storage_key, source_version.manifest_version
        )
        ids = manifest.column("record_id").to_pylist()
        table = (
            manifest.append_column(
                "labels", pa.array([labels.get(i, (None,))[0] for i in ids], pa.large_string())
            )
            .append_column(
                "confidence",
                pa.array([labels[i][1] if i in labels else None for i in ids], pa.large_string()),
            )
            .append_column(
                "annotators",
                pa.array([labels[i][2] if i in labels else 0 for i in ids], pa.int32()),
            )
            .append_column(
                "soft_labels",
                pa.array([labels[i][3] if i in labels else None for i in ids], pa.large_string()),
            )
            .append_column(
                "outside_votes",
                pa.array([labels[i][4] if i in labels else None for i in ids], pa.large_string()),
            )
            .cast(RELEASE_SCHEMA)
        )
        ref = self._commit(
            project, source_version, name, table, lineage, aggregate, started,
            marked=marked if aggregate != "majority" else None, policy=policy,
            override=override_entry, report=report,
        )  # fmt: skip
        version = self._datasets.version(ref)
        held = sum(
            any(m["action"] == "review" for m in outside.values()) for outside in marked.values()
        )
        notices = self._notify(project_name, version, report)
        cards, card_error = self._publish(version.ref, report)
        return ReleaseResult(
            version, len(labels), len(ids) - len(labels), tied, lineage, gates,
            outside_votes=len(marked), held=held,
            policy_report=report.to_dict() if report is not None else None,
            policy_report_path=self._report_path(version.ref, report),
            notices=notices, automation=automation, cards=cards, card_error=card_error,
        )  # fmt: skip

    def _publish(
        self, ref: str, report: PolicyReport | None
    ) -> tuple[dict[str, str], str | None]:
        """Write the released version's data cards and sign them, with its policy report, into
        the audit chain. The version is committed by then: a failure here is reported (the
        cards can be made again with ``curata release card`` and signed with ``curata release
        sign``), never raised."""
        if self.publisher is None:
            return {}, None
        path = self._report_path(ref, report)
        try:
            written = self.publisher(ref, {"policy_report": Path(path)} if path else {})
        except Exception as exc:  # the version is committed: whatever went wrong, say so
            log.exception("data card of %s", ref)
            return {}, f"{ref}: the data card was not written: {exc}"
        return {name: str(p) for name, p in written.items()}, None

    def gate_results(self, project_name: str) -> list[GateResult]:
        """The project's quality gates evaluated now (empty when it has none)."""
        with self._sessions() as session:
            project = project_row(session, project_name)
        return self._gate_results(project)

    def _gate_results(self, project: ProjectRow) -> list[GateResult]:
        gates = (project.settings or {}).get("gates") or {}
        if not gates:
            return []
        # the gates read what the quality report reads (curata.annotation.final), not the
        # release's own gathering, so a gate and the report give one number per quantity
        return evaluate(gates, self._gate_metrics(project.name, set(gates.get("alpha") or {})))

    def _check_gates(
        self,
        project: ProjectRow,
        questions: set[str],
        *,
        override: str | None,
        by: str | None,
        dataset: str,
    ) -> tuple[list[GateResult], AuditEntry | None, PolicyReport | None]:
        """The project's gates and release policies; when one fails, the owner's override as
        the audit entry the release's version commit writes (an override is logged only with
        its release). One override covers failing gates and failing policies alike."""
        del questions  # the gates were validated against them when set
        results = self._gate_results(project)
        report = (
            self.policies.evaluate(project.name, dataset=dataset, gates=results)
            if self.policies is not None
            else None
        )
        failed = [g for g in results if not g.passed]
        failed_policies = [
            p for p in (report.failed if report else []) if p.policy != "quality_gates"
        ]
        if not failed and not failed_policies:
            return results, None, report
        with self._sessions() as session:
            owner_row = session.get(UserRow, project.owner_id) if project.owner_id else None
            owner = owner_row.name if owner_row else None
            if override is None:
                if failed_policies:
                    assert report is not None
                    raise PolicyFailed(project.name, report.failed, owner)
                raise GateFailed(project.name, failed, owner)
            actor = by or self._actor
            if owner is None or actor != owner:
                raise ForbiddenError(
                    f"only the project's accountable owner ({owner or 'none set'}) can "
                    f"override its quality gates and release policies, not {actor!r}"
                )
            if not override.strip():
                raise ValidationError("override: give a reason (it goes to the audit log)")
        details: dict[str, Any] = {"reason": override, "failed": [g.to_dict() for g in failed]}
        if failed_policies:
            details["failed_policies"] = [p.to_dict() for p in failed_policies]
        if report is not None:
            report.override = {"by": actor, "reason": override}
        entry = AuditEntry(
            actor=actor,
            action="release.gate_override",
            object_type="project",
            object_ref=project.name,
            details=details,
        )
        return results, entry, report

    def _report_path(self, ref: str, report: PolicyReport | None) -> str | None:
        if report is None or self.policies is None:
            return None
        return str(self.policies.path(ref))

    def _notify(
        self, project: str, version: Version, report: PolicyReport | None
    ) -> list[dict[str, Any]]:
        """Tell the Informed parties of the project and of the released dataset."""
        if self.notifier is None:
            return []
        payload = {
            "project": project,
            "dataset": version.dataset,
            "version": version.ref,
            "records": version.record_count,
            "digest": version.digest,
            "policies": {p.policy: p.status for p in report.policies} if report else {},
            "policy_report": self._report_path(version.ref, report),
        }
        return [n.to_dict() for n in self.notifier.notify("release", payload)]

    def _send_to_review(
        self,
        session: Session,
        project: ProjectRow,
        ref: str,
        marked: dict[int, dict[str, dict[str, Any]]],
        policy: dict[str, Any],
    ) -> None:
        """Send every held item to review (through the review service's one rule) and log the
        marks, which say why."""
        held = [
            task_id
            for task_id, outside in marked.items()
            if any(m["action"] == "review" for m in outside.values())
        ]
        ReviewService.send_to_review(session, held)
        audit.append(
            session,
            actor=self._actor,
            action=OUTSIDE_VOTES_EVENT,
            object_type="project",
            object_ref=project.name,
            details={
                "version": ref,
                "policy": policy["outside_votes"],
                "items": {
                    str(task_id): {q: f"{m['action']}: {m['reason']}" for q, m in outside.items()}
                    for task_id, outside in marked.items()
                },
            },
        )

    def _record_report(
        self, session: Session, project: ProjectRow, ref: str, report: PolicyReport
    ) -> Path:
        """Write the policy report of version ``ref`` (before the release is signed, which
        reads it) and log its verdicts and digest in the release's transaction."""
        assert self.policies is not None
        report.version = ref
        path = self.policies.write(report)
        audit.append(
            session,
            actor=self._actor,
            action=POLICIES_EVENT,
            object_type="version",
            object_ref=ref,
            details={
                "project": project.name,
                "policies": {p.policy: p.status for p in report.policies},
                "override": report.override,
                "report": str(path),
                "sha256": hashlib.sha256(report.body()).hexdigest(),
            },
        )
        return path

    def _people(
        self, session: Session, project: ProjectRow, user_ids: set[int]
    ) -> dict[str, list[str]]:
        """Annotators, cohorts, vendors and guideline versions behind the labels."""
        users = session.scalars(select(UserRow).where(UserRow.id.in_(user_ids))).all()
        cohorts = session.scalars(
            select(CohortRow.name)
            .join(CohortMemberRow, CohortMemberRow.cohort_id == CohortRow.id)
            .where(CohortMemberRow.user_id.in_(user_ids))
            .distinct()
        ).all()
        vendors = session.scalars(
            select(VendorRow.name).where(
                VendorRow.id.in_([u.vendor_id for u in users if u.vendor_id])
            )
        ).all()
        guidelines = session.scalars(
            select(AnnotationRow.guideline_version)
            .join(TaskRow, TaskRow.id == AnnotationRow.task_id)
            .where(
                TaskRow.project_id == project.id,
                COUNTS,
            )
            .distinct()
        ).all()
        return {
            "annotators": sorted(u.name for u in users),
            "cohorts": sorted(cohorts),
            "vendors": sorted(vendors),
            "guideline_versions": sorted(
                f"{project.name}@v{g}" for g in guidelines if g is not None
            ),
        }

    def _commit(
        self,
        project: ProjectRow,
        source_version: VersionRow,
        name: str,
        table: pa.Table,
        lineage: dict[str, list[str]],
        aggregate: str,
        started: Any,
        *,
        marked: dict[int, dict[str, dict[str, Any]]] | None,
        policy: dict[str, Any],
        override: AuditEntry | None,
        report: PolicyReport | None = None,
    ) -> str:
        """Write the version; in the same transaction, log the gate ``override`` (if any), send
        the items whose labels were held back (``marked`` with action ``review``) to review and
        log every mark with its reason (a reviewer sees it beside the item, see
        :func:`outside_votes_notes`)."""
        with next_version(self._sessions, self._store, name) as commit:
            manifest = commit.write_table(table)
            operation = Operation(
                id=str(uuid.uuid4()),
                kind="release",
                parameters={
                    "project": project.name,
                    "aggregate": aggregate,
                    "schema_version": project.schema_version,
                    **lineage,
                },
                started=started,
                ended=utcnow(),
                actor=self._actor,
            )

            def send_to_review(session: Session, ref: str) -> None:
                if marked is not None:
                    self._send_to_review(session, project, ref, marked, policy)
                signed: dict[str, Path] = {}
                if report is not None and self.policies is not None:
                    signed["policy_report"] = self._record_report(session, project, ref, report)
                if self.signer is not None:  # the version and its policy report, signed
                    self.signer(session, ref, signed)

            parent_id = commit.base.parent_id
            ref = commit.record(
                manifest,
                operation,
                message=f"labels of project {project.name} ({aggregate})",
                parents=[source_version.id, *([parent_id] if parent_id else [])],
                inputs=[{"version_id": source_version.id}],
                audit_action="project.release",
                audit_details={"project": project.name, "aggregate": aggregate, **lineage},
                audits=[override] if override is not None else [],
                also=send_to_review,
            ).ref
        self._emitter.emit(
            run_id=operation.id,
            job=f"release.{project.name}",
            started_at=operation.started,
            ended_at=operation.ended,
            inputs=[LineageDataset("curata.project", project.name)],
            outputs=[LineageDataset.of_version(ref, RELEASE_SCHEMA)],
        )
        return ref
