"""Foundation tables (issue #2): sources, datasets, versions, lineage, tags, audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from curata.store.tables.base import Base, utcnow


class SourceRow(Base):
    """Where data came from: kind, origin, license, consent, collection date, PII status."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    license: Mapped[str] = mapped_column(String(100))
    license_ref: Mapped[str | None] = mapped_column(Text, nullable=True)  # custom terms
    origin: Mapped[str] = mapped_column(Text)
    collected_at: Mapped[date | None] = mapped_column(Date, nullable=True)
    consent: Mapped[str | None] = mapped_column(Text, nullable=True)
    pii_status: Mapped[str] = mapped_column(String(20), default="unknown")
    sensitivity: Mapped[str] = mapped_column(String(20), default="internal")
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class DatasetRow(Base):
    """A named line of immutable versions."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    storage_key: Mapped[str] = mapped_column(String(36), unique=True)
    key_field: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class OperationRow(Base):
    """One execution of an operation (ingest, curation, release, merge) that produced a version."""

    __tablename__ = "operations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    code_version: Mapped[str] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VersionRow(Base):
    """An immutable version: a manifest of record ids (kept in the record store) plus metadata."""

    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("dataset_id", "number", name="uq_versions_dataset_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    number: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    record_count: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))
    operation_id: Mapped[str] = mapped_column(ForeignKey("operations.id"))
    manifest_version: Mapped[int] = mapped_column(BigInteger)
    added: Mapped[int] = mapped_column(BigInteger, default=0)
    removed: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_added: Mapped[int] = mapped_column(BigInteger, default=0)


class VersionParentRow(Base):
    """Edge from a version to a parent version it was derived from."""

    __tablename__ = "version_parents"

    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class OperationInputRow(Base):
    """Something an operation read: a source (with the file it came in), or a version."""

    __tablename__ = "operation_inputs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operation_id: Mapped[str] = mapped_column(ForeignKey("operations.id"))
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"), nullable=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id"), nullable=True)
    uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    file_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    record_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class VersionSourceRow(Base):
    """How many records of a version came from each source."""

    __tablename__ = "version_sources"

    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), primary_key=True)
    record_count: Mapped[int] = mapped_column(BigInteger)


class TagRow(Base):
    """A name for a version of a dataset (``sft-chat@prod``)."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("dataset_id", "name", name="uq_tags_dataset_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    name: Mapped[str] = mapped_column(String(200))
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class AuditEventRow(Base):
    """One entry of the append-only, hash-chained audit log."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(50))
    object_ref: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
