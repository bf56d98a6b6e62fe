"""Model annotators and per-question automation (issue #16).

A model annotator is a user (``users``, inactive: it can hold no token) linked here to the
red-team target (#8) that answers for it; every answer it gave on an item, parsed or failed,
is a ``model_answers`` row. A project's question runs ``human-only``, ``model-suggested`` or
``model-only`` (``question_automation``, one row per question once set); every measurement of a
model's evidence (when a mode is set, at each release) is kept in ``automation_evidence``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from curata.store.tables.base import Base, utcnow


class ModelAnnotatorRow(Base):
    """A user that is a model: the target spec and configuration that answer for it."""

    __tablename__ = "model_annotators"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    target: Mapped[str] = mapped_column(String(500))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The target's ``describe()``: model, endpoint, sampling settings (never a secret)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class ModelAnswerRow(Base):
    """A model's answer to one question of one item: the parsed ``value``, or ``error`` (why
    its reply was no valid answer) with ``value`` null. ``used_as`` is ``suggestion`` or
    ``annotator`` (then ``annotation_id`` is the counted annotation it was written as)."""

    __tablename__ = "model_answers"
    __table_args__ = (
        UniqueConstraint("task_id", "user_id", "question", name="uq_model_answers_item"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    question: Mapped[str] = mapped_column(String(200))
    value: Mapped[Any | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    raw: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    used_as: Mapped[str] = mapped_column(String(16))
    annotation_id: Mapped[int | None] = mapped_column(ForeignKey("annotations.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QuestionAutomationRow(Base):
    """How a project's question is answered now: its mode, the model (for a model mode), the
    share of items still sent to humans (``model-only``), why, and the evidence it was set on."""

    __tablename__ = "question_automation"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    question: Mapped[str] = mapped_column(String(200), primary_key=True)
    mode: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    audit_share: Mapped[float] = mapped_column(Float, default=0.0)
    reason: Mapped[str] = mapped_column(Text, default="")
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AutomationEvidenceRow(Base):
    """One measurement of a model's evidence on a question (``occasion``: ``set`` or
    ``release``, with the released version's ref)."""

    __tablename__ = "automation_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    question: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    occasion: Mapped[str] = mapped_column(String(20))
    version_ref: Mapped[str | None] = mapped_column(String(300), nullable=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    measured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
