"""The audit log: who did what, when, to which object — append-only and hash-chained."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from curata.core.ids import canonical_json
from curata.store.tables import AuditEventRow, utcnow
from curata.timeutil import as_utc, iso

GENESIS = "0" * 64
PG_AUDIT_LOCK = 0x43555241  # "CURA": serialises chain appends across PostgreSQL sessions


@dataclass(frozen=True)
class AuditEvent:
    """One audit entry as users see it."""

    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_ref: str
    details: dict[str, Any]
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "object_type": self.object_type,
            "object_ref": self.object_ref,
            "details": self.details,
            "hash": self.hash,
        }


def _event_hash(prev_hash: str, row: AuditEventRow) -> str:
    body = canonical_json(
        {
            "at": iso(row.at),
            "actor": row.actor,
            "action": row.action,
            "object_type": row.object_type,
            "object_ref": row.object_ref,
            "details": row.details,
        }
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_ref: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an entry inside the caller's transaction (it commits with the change it records)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_AUDIT_LOCK})
    last = session.scalars(select(AuditEventRow.hash).order_by(AuditEventRow.id.desc()).limit(1))
    prev_hash = last.first() or GENESIS
    now = utcnow()
    row = AuditEventRow(
        at=now,
        actor=actor,
        action=action,
        object_type=object_type,
        object_ref=object_ref,
        details=details or {},
        prev_hash=prev_hash,
    )
    row.hash = _event_hash(prev_hash, row)
    session.add(row)


class AuditLog:
    """Reads and verifies the audit log."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def list(
        self, *, object_ref: str | None = None, action: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        """Newest entries first, optionally for one object or action."""
        query = select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(limit)
        if object_ref:
            query = query.where(AuditEventRow.object_ref == object_ref)
        if action:
            query = query.where(AuditEventRow.action == action)
        with self._sessions() as session:
            return [
                AuditEvent(
                    id=r.id,
                    at=as_utc(r.at),
                    actor=r.actor,
                    action=r.action,
                    object_type=r.object_type,
                    object_ref=r.object_ref,
                    details=r.details,
                    hash=r.hash,
                )
                for r in session.scalars(query)
            ]

    def verify(self) -> tuple[bool, int, int | None]:
        """Recompute the hash chain: (intact, entries checked, id of the first broken entry)."""
        prev = GENESIS
        checked = 0
        with self._sessions() as session:
            for row in session.scalars(select(AuditEventRow).order_by(AuditEventRow.id)):
                if row.prev_hash != prev or _event_hash(prev, row) != row.hash:
                    return False, checked, row.id
                prev = row.hash
                checked += 1
        return True, checked, None
