"""Governance tables (issue #16): RACI per project and per dataset, release policies, and the
webhook deliveries that tell Informed consumers about releases and regressions.

A project's Accountable is ``projects.owner_id`` (the owner the gate override already asks
for); a dataset's is ``raci.accountable_id``. Either way one column holds one user, so there is
exactly one Accountable per scope.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from curata.store.tables.base import Base, utcnow


class RaciRow(Base):
    """The RACI of one project or one dataset (exactly one of the two is set)."""

    __tablename__ = "raci"
    __table_args__ = (
        CheckConstraint("(project_id IS NULL) <> (dataset_id IS NULL)", name="ck_raci_one_scope"),
        UniqueConstraint("project_id", name="uq_raci_project"),
        UniqueConstraint("dataset_id", name="uq_raci_dataset"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), nullable=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"), nullable=True)
    accountable_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    """A dataset's Accountable; ``None`` on a project's row (its owner_id is the one)."""
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200))


class RaciMemberRow(Base):
    """One Responsible, Consulted or Informed party of a RACI: a user, a cohort (Responsible)
    or a webhook URL (Informed)."""

    __tablename__ = "raci_members"
    __table_args__ = (
        CheckConstraint(
            "role IN ('responsible', 'consulted', 'informed')", name="ck_raci_members_role"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    raci_id: Mapped[int] = mapped_column(ForeignKey("raci.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id"), nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)


class ReleasePolicyRow(Base):
    """The release policies of one project or one dataset (see
    :mod:`curata.stewardship.release_policy` for the keys of ``config``)."""

    __tablename__ = "release_policies"
    __table_args__ = (
        CheckConstraint(
            "(project_id IS NULL) <> (dataset_id IS NULL)", name="ck_release_policies_one_scope"
        ),
        UniqueConstraint("project_id", name="uq_release_policies_project"),
        UniqueConstraint("dataset_id", name="uq_release_policies_dataset"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), nullable=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"), nullable=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200))


class WebhookSecretRow(Base):
    """The workspace's secret for signing webhook bodies (HMAC-SHA256); one row."""

    __tablename__ = "webhook_secret"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class NotificationRow(Base):
    """One notice to one Informed party: a webhook POST (``delivered`` or ``failed``, with the
    attempts made and the last error) or a user's notice (``listed``)."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("event_id", "target", name="uq_notifications_target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), index=True)
    event: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(Text)
    """The webhook URL, or ``user:NAME``."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
