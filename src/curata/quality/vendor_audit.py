"""Vendor audits: measure a vendor's delivered quality independently of what it reports.

``start`` draws a stratified random sample of the vendor's current annotations on a project's
live items (strata: the annotator and the label they gave on the project's first single-choice
question) and puts
the sampled annotations in the review queue, where only *internal* reviewers (users with no
vendor) see them. Allocation is proportional (largest remainders), so the sample is
proportional in expectation (each stratum's remainder seat is drawn at random with the
probability of its fractional quota), and the estimate weighs each stratum by its share of the
population (a stratified estimator), so a stratum that drew one seat more or less counts for
what it is.

``report`` reads the reviewers' first decision on each sampled annotation made after the audit
began: accept counts as correct; fix and reject as wrong. It gives the measured accuracy with
the interval of :func:`curata.stats.proportions.stratified_proportion` (Wilson's, on the effective
sample size) and a verdict against the vendor's self-reported figure (``claimed``):

* ``below claim``: the claim lies above the interval (the vendor overstates its quality);
* ``above claim``: the claim lies below the interval;
* ``consistent with claim``: the claim lies inside it;
* ``no claim``: nothing to compare with.

While fewer than the sampled annotations are reviewed the verdict is marked provisional. A
sampled annotation that leaves the work before it is reviewed (superseded by a guideline
re-annotation, or a recalibration) is *withdrawn*: counted apart, not as reviewed.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation.final import COUNTS
from curata.annotation.projects import project_row
from curata.annotation.schema import categorical_questions
from curata.core.errors import NotFoundError, ValidationError
from curata.core.ids import canonical_json
from curata.governance import audit
from curata.stats.proportions import stratified_proportion
from curata.store.db import write_transaction
from curata.store.tables import (
    AnnotationRow,
    AssignmentRow,
    ProjectRow,
    ProjectSchemaRow,
    ReviewRow,
    TaskRow,
    UserRow,
    VendorAuditItemRow,
    VendorAuditRow,
    VendorRow,
)
from curata.timeutil import as_utc, iso

CORRECT = {"accept": True, "fix": False, "reject": False}


def allocate(sizes: dict[str, int], n: int, rng: random.Random) -> dict[str, int]:
    """Proportional allocation of ``n`` draws over strata of ``sizes``: each stratum gets the
    whole part of its quota ``n N_h / N`` and, with probability equal to the fractional part,
    one more, the extra draws chosen by systematic sampling over the fractions (one random
    start), so the total is exactly ``n`` and every stratum's expected share is its quota
    (no stratum is left out for its name or its size)."""
    total = sum(sizes.values())
    if not 0 < n <= total:
        raise ValidationError(f"size: must be between 1 and {total}")
    keys = sorted(sizes)
    quotas = [n * sizes[k] / total for k in keys]
    out = {k: int(q) for k, q in zip(keys, quotas, strict=True)}
    extra = n - sum(out.values())
    if extra:
        point = rng.random()
        cumulative = 0.0
        for k, q in zip(keys, quotas, strict=True):
            share = q - int(q)
            # the stratum owns [cumulative, cumulative + share): it gains a draw per point in it
            while point < cumulative + share and extra:
                out[k] += 1
                extra -= 1
                point += 1.0
            cumulative += share
        for k in keys:  # rounding residue: the first strata with room
            if not extra:
                break
            if out[k] < sizes[k]:
                out[k] += 1
                extra -= 1
    return out


class VendorAuditService:
    """Start vendor audits and report on them."""

    def __init__(self, sessions: sessionmaker[Session], actor: str) -> None:
        self._sessions = sessions
        self._actor = actor

    def _find(self, session: Session, project: str, vendor: str) -> tuple[ProjectRow, VendorRow]:
        p = project_row(session, project)
        v = session.scalar(select(VendorRow).where(VendorRow.name == vendor))
        if v is None:
            raise NotFoundError(f"unknown vendor {vendor!r}")
        return p, v

    def start(
        self,
        vendor: str,
        project: str,
        size: int,
        *,
        claimed: float | None = None,
        seed: int = 0,
        force: bool = False,
        confidence: float = 0.95,
    ) -> dict[str, Any]:
        """Draw the sample and route it to internal review; returns the audit's report."""
        if not 0.0 < confidence < 1.0:
            raise ValidationError("confidence: must be between 0 and 1")
        if claimed is not None and not 0.0 <= claimed <= 1.0:
            raise ValidationError("claimed: the self-reported accuracy must be in [0, 1]")
        if size < 1:
            raise ValidationError("size: must be at least 1")
        with write_transaction(self._sessions) as session:
            p, v = self._find(session, project, vendor)
            # one audit start per vendor at a time (PostgreSQL; SQLite's write transaction is
            # exclusive already): a second waits here, then sees the first one's sample
            session.get(VendorRow, v.id, with_for_update=True)
            open_audit = self._latest(session, p.id, v.id)
            if open_audit is not None and not force:
                done = len(self._outcomes(session, open_audit))
                done += self._withdrawn(session, open_audit, set())
                if done < open_audit.size:
                    raise ValidationError(
                        f"audit #{open_audit.id} of {vendor} on {project} is in progress "
                        f"({done} of {open_audit.size} reviewed); see it with "
                        f"'curata quality audit {vendor} --project {project}', or pass --new"
                    )
            schema = session.get(ProjectSchemaRow, (p.id, p.schema_version))
            assert schema is not None
            questions = [
                q["name"]
                for q in schema.schema.get("questions", [])
                if q["name"] in categorical_questions(schema.schema)
            ]
            audited = (
                select(VendorAuditItemRow.annotation_id)
                .join(VendorAuditRow, VendorAuditRow.id == VendorAuditItemRow.audit_id)
                .where(VendorAuditRow.vendor_id == v.id)
            )
            population = session.execute(
                select(AnnotationRow.id, UserRow.name, AnnotationRow.answers)
                .join(TaskRow, TaskRow.id == AnnotationRow.task_id)
                .join(UserRow, UserRow.id == AnnotationRow.user_id)
                .join(AssignmentRow, AssignmentRow.id == AnnotationRow.assignment_id)
                .where(
                    TaskRow.project_id == p.id,
                    TaskRow.kind == "live",
                    UserRow.vendor_id == v.id,
                    AssignmentRow.copied_from.is_(None),  # a gold answer's copy: gold checks it
                    COUNTS,
                    AnnotationRow.id.notin_(audited),
                )
                .order_by(AnnotationRow.id)
            ).all()
            if not population:
                raise ValidationError(
                    f"vendor {vendor!r} has no unaudited annotations on project {project!r}"
                )
            if size > len(population):
                raise ValidationError(
                    f"size: {size} is more than the {len(population)} unaudited annotations "
                    f"{vendor} delivered on {project}"
                )
            strata: dict[str, list[int]] = defaultdict(list)
            for annotation_id, who, answers in population:
                key = who
                if questions and questions[0] in answers:
                    key += f" / {questions[0]}={canonical_json(answers[questions[0]])}"
                strata[key].append(annotation_id)
            rng = random.Random(seed)
            quota = allocate({k: len(ids) for k, ids in strata.items()}, size, rng)
            row = VendorAuditRow(
                project_id=p.id,
                vendor_id=v.id,
                size=size,
                claimed=claimed,
                seed=seed,
                population=len(population),
                strata={k: [len(strata[k]), quota[k]] for k in sorted(strata)},
                created_by=self._actor,
            )
            session.add(row)
            session.flush()
            chosen: list[int] = []
            for key in sorted(strata):
                for annotation_id in rng.sample(strata[key], quota[key]):
                    session.add(
                        VendorAuditItemRow(
                            audit_id=row.id, annotation_id=annotation_id, stratum=key
                        )
                    )
                    chosen.append(annotation_id)
            for annotation in session.scalars(
                select(AnnotationRow).where(AnnotationRow.id.in_(chosen))
            ):
                annotation.review = "pending"
            audit.append(
                session,
                actor=self._actor,
                action="quality.vendor_audit",
                object_type="project",
                object_ref=project,
                details={
                    "audit": row.id,
                    "vendor": vendor,
                    "size": size,
                    "population": len(population),
                    "claimed": claimed,
                    "seed": seed,
                },
            )
            audit_id = row.id
        return self.report(vendor, project, audit_id=audit_id, confidence=confidence)

    @staticmethod
    def _latest(session: Session, project_id: int, vendor_id: int) -> VendorAuditRow | None:
        return session.scalar(
            select(VendorAuditRow)
            .where(VendorAuditRow.project_id == project_id, VendorAuditRow.vendor_id == vendor_id)
            .order_by(VendorAuditRow.id.desc())
            .limit(1)
        )

    @staticmethod
    def _outcomes(session: Session, row: VendorAuditRow) -> dict[int, tuple[str, bool, str]]:
        """annotation id -> (stratum, correct?, decision) for the reviewed sampled annotations:
        the first internal review decision after the audit began."""
        items = dict(
            session.execute(
                select(VendorAuditItemRow.annotation_id, VendorAuditItemRow.stratum).where(
                    VendorAuditItemRow.audit_id == row.id
                )
            ).all()
        )
        decisions = session.execute(
            select(ReviewRow.annotation_id, ReviewRow.decision, ReviewRow.created_at)
            .join(UserRow, UserRow.id == ReviewRow.reviewer_id)
            .where(
                ReviewRow.annotation_id.in_(list(items)),
                ReviewRow.tier == "review",
                UserRow.vendor_id.is_(None),
            )
            .order_by(ReviewRow.id)
        ).all()
        out: dict[int, tuple[str, bool, str]] = {}
        started = as_utc(row.created_at)
        for annotation_id, decision, at in decisions:
            if annotation_id is None or annotation_id in out or decision not in CORRECT:
                continue
            if as_utc(at) < started:
                continue
            out[annotation_id] = (items[annotation_id], CORRECT[decision], decision)
        return out

    @staticmethod
    def _withdrawn(session: Session, row: VendorAuditRow, reviewed: set[int]) -> int:
        """Sampled annotations superseded before any internal decision."""
        ids = session.scalars(
            select(AnnotationRow.id)
            .join(VendorAuditItemRow, VendorAuditItemRow.annotation_id == AnnotationRow.id)
            .where(VendorAuditItemRow.audit_id == row.id, AnnotationRow.status == "superseded")
        )
        return sum(1 for i in ids if i not in reviewed)

    def report(
        self,
        vendor: str,
        project: str,
        *,
        audit_id: int | None = None,
        confidence: float = 0.95,
    ) -> dict[str, Any]:
        """The latest audit of ``vendor`` on ``project`` (or audit ``audit_id``)."""
        if not 0.0 < confidence < 1.0:
            raise ValidationError("confidence: must be between 0 and 1")
        with self._sessions() as session:
            p, v = self._find(session, project, vendor)
            if audit_id is None:
                row = self._latest(session, p.id, v.id)
                if row is None:
                    raise NotFoundError(
                        f"no audit of {vendor} on {project}: start one with "
                        f"'curata quality audit {vendor} --project {project} --size N'"
                    )
            else:
                row = session.get(VendorAuditRow, audit_id)
                if row is None or row.project_id != p.id or row.vendor_id != v.id:
                    raise NotFoundError(f"no audit #{audit_id} of {vendor} on {project}")
            outcomes = self._outcomes(session, row)
            withdrawn = self._withdrawn(session, row, set(outcomes))
        right = sum(int(ok) for _, ok, _ in outcomes.values())
        reviewed = len(outcomes)
        by_stratum: dict[str, list[int]] = {}  # [right, reviewed]
        for stratum, ok, _ in outcomes.values():
            tally = by_stratum.setdefault(stratum, [0, 0])
            tally[0] += ok
            tally[1] += 1
        estimate = stratified_proportion(
            [(n, *reversed(by_stratum.get(k, [0, 0]))) for k, (n, _) in row.strata.items()],
            confidence,
        )
        low, high = (estimate.low, estimate.high) if estimate else (0.0, 1.0)
        decisions = Counter(d for _, _, d in outcomes.values())
        per_annotator: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        for k, (n, _) in row.strata.items():
            hits, seen = by_stratum.get(k, [0, 0])
            per_annotator[k.split(" / ", 1)[0]].append((n, seen, hits))
        verdict, reason = _verdict(row.claimed, reviewed, low, high, confidence)
        if reviewed and reviewed + withdrawn < row.size:
            verdict = f"provisional: {verdict}"
        return {
            "audit": row.id,
            "vendor": vendor,
            "project": project,
            "started": iso(row.created_at),
            "started_by": row.created_by,
            "size": row.size,
            "population": row.population,
            "reviewed": reviewed,
            "withdrawn": withdrawn,
            "correct": right,
            "decisions": dict(decisions),
            "accuracy": estimate.p if estimate else None,
            "effective_n": estimate.effective_n if estimate else None,
            "confidence": confidence,
            "low": low if reviewed else None,
            "high": high if reviewed else None,
            "claimed": row.claimed,
            "verdict": verdict,
            "reason": reason,
            "strata": {
                k: {
                    "population": n,
                    "sampled": sampled,
                    "reviewed": by_stratum.get(k, [0, 0])[1],
                    "correct": by_stratum.get(k, [0, 0])[0],
                }
                for k, (n, sampled) in row.strata.items()
            },
            "by_annotator": {
                who: {
                    "reviewed": sum(seen for _, seen, _ in strata),
                    "correct": sum(hits for _, _, hits in strata),
                    "accuracy": estimated.p,
                }
                for who, strata in sorted(per_annotator.items())
                if (estimated := stratified_proportion(strata, confidence)) is not None
            },
        }


def _verdict(
    claimed: float | None, reviewed: int, low: float, high: float, confidence: float
) -> tuple[str, str]:
    if reviewed == 0:
        return "not started", "no sampled annotation has been reviewed yet"
    interval = f"the {confidence:.0%} interval [{low:.3f}, {high:.3f}]"
    if claimed is None:
        return "no claim", f"measured only: {interval}"
    if claimed > high:
        return "below claim", f"the claimed {claimed:.3f} is above {interval}"
    if claimed < low:
        return "above claim", f"the claimed {claimed:.3f} is below {interval}"
    return "consistent with claim", f"the claimed {claimed:.3f} lies inside {interval}"
