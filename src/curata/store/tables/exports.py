"""Export lineage tables (issue #16): every export of a version, the files it wrote with their
SHA-256, and which exports trained a registered checkpoint.

An export is also an ``operations`` row (kind ``export``) whose input is the version, so the
lineage graph and OpenLineage see it like any other operation; ``export_files.sha256`` is
indexed because ``curata release verify`` finds a consumer's file by its digest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from curata.store.tables.base import Base, utcnow


class ExportRow(Base):
    """One export of a dataset version: format, options, where it went, what it held."""

    __tablename__ = "exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    operation_id: Mapped[str] = mapped_column(ForeignKey("operations.id"))
    format: Mapped[str] = mapped_column(String(32))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    out: Mapped[str] = mapped_column(Text)
    records: Mapped[int] = mapped_column(BigInteger)
    version_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class ExportFileRow(Base):
    """One file an export wrote: its path relative to the export's output, size and SHA-256."""

    __tablename__ = "export_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    export_id: Mapped[int] = mapped_column(ForeignKey("exports.id"), index=True)
    name: Mapped[str] = mapped_column(Text)
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)


class CheckpointExportRow(Base):
    """Edge from a checkpoint to an export whose files it was trained on."""

    __tablename__ = "checkpoint_exports"

    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoints.id"), primary_key=True)
    export_id: Mapped[int] = mapped_column(ForeignKey("exports.id"), primary_key=True)
