"""Training and evaluation tables (issue #16): which dataset versions trained which checkpoint,
and the per-example results of each evaluation of a checkpoint.

A checkpoint is named ``model:checkpoint`` and is unique by that pair. An evaluation run keeps
where its results came from (a file's name and the SHA-256 of its bytes, or a red-team campaign
id) and one row per example; ``(eval_run, example_id)`` is unique.
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


class CheckpointRow(Base):
    """A registered model checkpoint (a TrainingRun): its name, training parameters and who
    registered it."""

    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("model", "checkpoint", name="uq_checkpoints_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    checkpoint: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    registered_by: Mapped[str] = mapped_column(String(200))


class CheckpointVersionRow(Base):
    """Edge from a checkpoint to a dataset version it was trained on."""

    __tablename__ = "checkpoint_versions"

    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoints.id"), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), primary_key=True)


class EvalRunRow(Base):
    """One evaluation of a checkpoint: where its results came from and how many there are."""

    __tablename__ = "eval_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoints.id"), index=True)
    source_kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(500))
    source_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)


class EvalResultRow(Base):
    """One example's result in an evaluation run."""

    __tablename__ = "eval_results"
    __table_args__ = (
        UniqueConstraint("eval_run_id", "example_id", name="uq_eval_results_example"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    eval_run_id: Mapped[int] = mapped_column(ForeignKey("eval_runs.id"), index=True)
    example_id: Mapped[str] = mapped_column(String(300))
    input: Mapped[str] = mapped_column(Text)
    output: Mapped[str] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    category: Mapped[str] = mapped_column(String(200))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
