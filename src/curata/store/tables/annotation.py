"""Annotation tables (issue #3): workforce, projects, guidelines, tasks, assignments, labels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from curata.store.tables.base import Base, utcnow


class VendorRow(Base):
    """An external workforce."""

    __tablename__ = "vendors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    data_ownership: Mapped[str] = mapped_column(Text, default="", server_default="")
    ip: Mapped[str] = mapped_column(Text, default="", server_default="")
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_sensitivity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The highest clearance level its users are served at (``None``: no cap)."""
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    terms_updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )


class UserRow(Base):
    """A person: role, vendor (at most one), skills and clearance."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id"), nullable=True)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    clearance: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CohortRow(Base):
    """A group of annotators trained together (optionally of one vendor)."""

    __tablename__ = "cohorts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CohortMemberRow(Base):
    """Membership of a user in a cohort."""

    __tablename__ = "cohort_members"

    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)


class ApiTokenRow(Base):
    """An API token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    purpose: Mapped[str] = mapped_column(String(16), default="api", server_default="api")
    """``api`` (``curata user token``: until revoked) or ``web`` (a browser's sign-in:
    until sign-out or ``expires_at``)."""


class AuthEpochRow(Base):
    """One row: a counter moved by every revocation of tokens (see
    :meth:`~curata.annotation.workforce.WorkforceService.authenticate`)."""

    __tablename__ = "auth_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ProjectRow(Base):
    """An annotation effort over one dataset version."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))
    schema_version: Mapped[int] = mapped_column(Integer, default=1)
    overlap: Mapped[int] = mapped_column(Integer, default=1)
    gold_share: Mapped[float] = mapped_column(Float, default=0.0)
    lease_seconds: Mapped[int] = mapped_column(Integer, default=1800)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class ProjectSchemaRow(Base):
    """One version of a project's question schema (never changed once written)."""

    __tablename__ = "project_schemas"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProjectMemberRow(Base):
    """Who may see and work in a project (admins see every project)."""

    __tablename__ = "project_members"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    calibration_round: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class GuidelineRow(Base):
    """One published version of a project's Markdown guideline."""

    __tablename__ = "guidelines"
    __table_args__ = (UniqueConstraint("project_id", "version", name="uq_guidelines_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_by: Mapped[str] = mapped_column(String(200))


class TaskRow(Base):
    """An item to label: a record of the project's version (live, gold or calibration).

    ``assigned`` counts active leases plus submissions and is updated in the same
    transaction as they are, so a row lock on the task is enough to keep overlap exact.
    ``is_open`` is ``assigned < overlap`` for live tasks (always true for gold and calibration),
    kept with ``assigned`` so the queue finds an open task through an index instead of skipping
    every finished one. ``language`` (optional) routes the item to annotators who read it.
    ``model_covered`` (live tasks only) holds an item back from people: every question of the
    project runs ``model-only``, the model answered each, and the item is outside every
    question's audit sample (kept by :func:`curata.annotation.automation.cover_tasks`).
    """

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("project_id", "record_id", "kind", name="uq_tasks_record_kind"),
        # the queue walks this index in serving order and stops at the first task it may take
        Index(
            "ix_tasks_queue",
            "project_id",
            "kind",
            "is_open",
            "model_covered",
            text("priority DESC"),
            "id",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    record_id: Mapped[str] = mapped_column(String(32))
    row: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20), default="live")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    clearance: Mapped[int] = mapped_column(Integer, default=0)
    """The clearance needed to see the record (from its source's sensitivity class)."""
    gold_answers: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    assigned: Mapped[int] = mapped_column(Integer, default=0)
    submitted: Mapped[int] = mapped_column(Integer, default=0)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    language: Mapped[str | None] = mapped_column(String(35), nullable=True)
    model_covered: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AssignmentRow(Base):
    """A lease of a task to one annotator until ``expires_at``; at most one per task and user.

    ``copied_from`` marks a live assignment that was never leased: the annotator answered the
    same record's gold or calibration copy (that assignment), and the answer counts for the
    live item too (the queue never serves one annotator two copies of a record).
    """

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("task_id", "user_id", name="uq_assignments_task_user"),
        Index("ix_assignments_user_status", "user_id", "status"),
        Index("ix_assignments_lease", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="leased")
    leased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    copied_from: Mapped[int | None] = mapped_column(Integer, nullable=True)


class AnnotationRow(Base):
    """A submitted answer set, stamped with the schema and guideline versions it was made under.

    A rejected annotation stays (``status`` rejected); the annotator's resubmission is the next
    ``revision`` of the same assignment. ``review`` is ``not_needed``, ``pending`` or ``done``.
    """

    __tablename__ = "annotations"
    __table_args__ = (
        UniqueConstraint("assignment_id", "revision", name="uq_annotations_revision"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    schema_version: Mapped[int] = mapped_column(Integer)
    guideline_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default="submitted")
    review: Mapped[str] = mapped_column(String(20), default="not_needed")


class ReviewRow(Base):
    """A reviewer's or adjudicator's decision; decisions are added, never changed."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    annotation_id: Mapped[int | None] = mapped_column(ForeignKey("annotations.id"), nullable=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    tier: Mapped[str] = mapped_column(String(20))
    decision: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class VendorAuditRow(Base):
    """An independent audit of a vendor's delivered annotations on a project: a stratified
    sample routed to internal reviewers, measured against the vendor's self-reported figure."""

    __tablename__ = "vendor_audits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"))
    size: Mapped[int] = mapped_column(Integer)
    claimed: Mapped[float | None] = mapped_column(Float, nullable=True)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    population: Mapped[int] = mapped_column(Integer)
    strata: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class VendorAuditItemRow(Base):
    """One sampled annotation of an audit and the stratum it was drawn from."""

    __tablename__ = "vendor_audit_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("vendor_audits.id"), index=True)
    # an annotation is audited once: a later audit samples only what no audit has
    annotation_id: Mapped[int] = mapped_column(
        ForeignKey("annotations.id"), index=True, unique=True
    )
    stratum: Mapped[str] = mapped_column(String(400))
