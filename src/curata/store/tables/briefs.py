"""Remediation brief tables (issue #16): a brief (typed work that fixes a data deficit, with its
owner, due date, status and the numbers it closed on) and the annotation tasks it re-opened.

``target`` is the brief's slice (an eval category, a project, a dataset version, record ids or a
metadata filter), ``evidence`` free JSON (an attribution result, the baseline evaluation run),
``work`` what materialising it made (a sourcing request, a campaign id, task counts) and
``outcome`` the comparison it was closed on.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from curata.store.tables.base import Base, utcnow


class BriefRow(Base):
    """A remediation brief: sourcing, annotation or red-team work, tracked to closure."""

    __tablename__ = "briefs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id"), nullable=True, index=True
    )
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    volume: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    due: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(24), index=True)
    work: Mapped[dict[str, Any]] = mapped_column(JSON)
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BriefTaskRow(Base):
    """An annotation task an annotation brief re-opened (or found open) for re-labelling."""

    __tablename__ = "brief_tasks"

    brief_id: Mapped[int] = mapped_column(ForeignKey("briefs.id"), primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    """How many of the task's annotations the brief superseded."""
