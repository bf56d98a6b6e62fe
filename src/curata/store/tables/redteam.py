"""Red-team tables (issue #14): campaigns and their attempts.

A campaign pins an attack set version and records exactly what it measured (the target's
configuration, the runner's knobs, the converter chains, the scorers, the strategy). Every
attempt is one row, written as it finishes (in small batches), so an interrupted campaign
resumes with the attempts it already has: ``(campaign, attack, variant, sample)`` is unique.
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
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from curata.store.tables.base import Base, utcnow


class CampaignRow(Base):
    """One red-team campaign: what it attacks with, what it attacks, and how far it got."""

    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    attack_set: Mapped[str] = mapped_column(String(200), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    version_ref: Mapped[str] = mapped_column(String(300))
    target_name: Mapped[str] = mapped_column(String(100))
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    runner: Mapped[dict[str, Any]] = mapped_column(JSON)
    variants: Mapped[list[Any]] = mapped_column(JSON)
    scorers: Mapped[list[Any]] = mapped_column(JSON)
    strategy: Mapped[dict[str, Any]] = mapped_column(JSON)
    attacker: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)
    samples: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    planned: Mapped[int] = mapped_column(Integer)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AttemptRow(Base):
    """One attempt of a campaign: an attack, through one converter chain (``variant``: its
    position in the campaign's ``variants``), one sample of ``samples``. The attack's taxonomy
    is copied onto the row so that reports group in the database."""

    __tablename__ = "attempts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "attack_id", "variant", "sample", name="uq_attempts_unit"),
        Index("ix_attempts_campaign_verdict", "campaign_id", "verdict"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    attack_id: Mapped[str] = mapped_column(String(32))
    variant: Mapped[int] = mapped_column(Integer)
    sample: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(64))
    harm_area: Mapped[str | None] = mapped_column(String(64), nullable=True)
    technique: Mapped[str] = mapped_column(String(64))
    framing: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(64))
    benign: Mapped[bool] = mapped_column(Boolean)
    converters: Mapped[str] = mapped_column(String(500))
    prompt: Mapped[str] = mapped_column(Text)
    reply: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    verdict: Mapped[str] = mapped_column(String(16))
    scores: Mapped[list[Any]] = mapped_column(JSON)
    turns: Mapped[list[Any]] = mapped_column(JSON)
    n_turns: Mapped[int] = mapped_column(Integer)
    requests: Mapped[int] = mapped_column(Integer)
    latency_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
