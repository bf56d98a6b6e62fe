"""Vendors as partners: the terms that govern each (data ownership, IP, retention, the highest
sensitivity its users may be served), revoking one (its users lose access at once) and handing
over what it produced (:mod:`curata.annotation.vendor_export`).

The sensitivity cap is applied where the queue reads the user's clearance
(:mod:`curata.annotation.queue`): a vendor's user is served items up to the lower of their own
clearance and their vendor's cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation.membership import end_lease
from curata.annotation.vendor_export import ProgressFn, write_vendor_export
from curata.annotation.workforce import WorkforceService, bump_auth_epoch
from curata.core.errors import ConflictError, NotFoundError, ValidationError
from curata.governance import audit
from curata.governance.identity import CLEARANCE, clearance_name
from curata.store.db import write_transaction
from curata.store.tables import (
    ApiTokenRow,
    AssignmentRow,
    ProjectRow,
    TaskRow,
    UserRow,
    VendorRow,
    utcnow,
)
from curata.timeutil import iso

__all__ = ["MAX_RETENTION_DAYS", "Revocation", "Vendor", "VendorService"]

MAX_RETENTION_DAYS = 36_500
TERM_COLUMNS = {
    "ownership": "data_ownership",
    "ip": "ip",
    "retention_days": "retention_days",
    "max_sensitivity": "max_sensitivity",
}
TERMS = tuple(TERM_COLUMNS)
"""The terms :meth:`VendorService.set_terms` can clear."""


@dataclass(frozen=True)
class Vendor:
    """A vendor with its terms and how many users it has."""

    name: str
    members: int
    data_ownership: str
    ip: str
    retention_days: int | None
    max_sensitivity: str | None  # a clearance name; None: no cap
    revoked_at: datetime | None
    terms_updated_at: datetime | None
    created_at: datetime

    def terms(self) -> dict[str, Any]:
        """The terms alone (what an export's manifest carries)."""
        return {
            "data_ownership": self.data_ownership,
            "ip": self.ip,
            "retention_days": self.retention_days,
            "max_sensitivity": self.max_sensitivity,
            "terms_updated_at": iso(self.terms_updated_at),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "members": self.members,
            **self.terms(),
            "revoked_at": iso(self.revoked_at),
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True)
class Revocation:
    """What revoking a vendor did."""

    vendor: str
    users: list[str]
    tokens: int
    released: int
    revoked_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "revoked_at": iso(self.revoked_at)}


def _vendor_row(session: Session, name: str) -> VendorRow:
    row = session.scalar(select(VendorRow).where(VendorRow.name == name))
    if row is None:
        raise NotFoundError(f"unknown vendor {name!r} (see 'curata vendor list')")
    return row


def _view(session: Session, row: VendorRow) -> Vendor:
    members = session.scalar(select(func.count()).where(UserRow.vendor_id == row.id)) or 0
    return Vendor(
        name=row.name,
        members=int(members),
        data_ownership=row.data_ownership or "",
        ip=row.ip or "",
        retention_days=row.retention_days,
        max_sensitivity=None
        if row.max_sensitivity is None
        else clearance_name(row.max_sensitivity),
        revoked_at=row.revoked_at,
        terms_updated_at=row.terms_updated_at,
        created_at=row.created_at,
    )


class VendorService:
    """Records vendors' terms, revokes and reinstates vendors, exports what one produced."""

    def __init__(
        self, sessions: sessionmaker[Session], workforce: WorkforceService, actor: str
    ) -> None:
        self._sessions = sessions
        self._workforce = workforce
        self._actor = actor

    def vendors(self) -> list[Vendor]:
        """Every vendor, by name."""
        with self._sessions() as session:
            rows = session.scalars(select(VendorRow).order_by(VendorRow.name)).all()
            return [_view(session, r) for r in rows]

    def vendor(self, name: str) -> Vendor:
        """One vendor with its terms."""
        with self._sessions() as session:
            return _view(session, _vendor_row(session, name))

    def set_terms(
        self,
        vendor: str,
        *,
        ownership: str | None = None,
        ip: str | None = None,
        retention_days: int | None = None,
        max_sensitivity: str | None = None,
        clear: Sequence[str] = (),
        by: str | None = None,
    ) -> Vendor:
        """Record the terms that govern a vendor (``None`` leaves a term as it is; a term
        named in ``clear`` — one of :data:`TERMS` — is removed); audited (``vendor.terms``)
        with the terms before and after.

        ``retention_days`` is 1 to :data:`MAX_RETENTION_DAYS`; ``max_sensitivity`` is a
        clearance name: the vendor's users are never served an item above it.
        """
        if retention_days is not None and not 1 <= retention_days <= MAX_RETENTION_DAYS:
            raise ValidationError(
                f"retention_days: {retention_days} is not between 1 and {MAX_RETENTION_DAYS}"
            )
        if max_sensitivity is not None and max_sensitivity not in CLEARANCE:
            raise ValidationError(
                f"max_sensitivity: {max_sensitivity!r} is not one of {', '.join(CLEARANCE)}"
            )
        for term in clear:
            if term not in TERMS:
                raise ValidationError(f"clear: {term!r} is not one of {', '.join(TERMS)}")
        given = {
            "ownership": ownership,
            "ip": ip,
            "retention_days": retention_days,
            "max_sensitivity": max_sensitivity,
        }
        both = [t for t in clear if given[t] is not None]
        if both:
            raise ValidationError(f"{both[0]}: both set and cleared; give one of the two")
        with write_transaction(self._sessions) as session:
            row = _vendor_row(session, vendor)
            before = _view(session, row).terms()
            if ownership is not None:
                row.data_ownership = ownership.strip()
            if ip is not None:
                row.ip = ip.strip()
            if retention_days is not None:
                row.retention_days = retention_days
            if max_sensitivity is not None:
                row.max_sensitivity = CLEARANCE[max_sensitivity]
            for term in clear:
                setattr(row, TERM_COLUMNS[term], "" if term in ("ownership", "ip") else None)
            row.terms_updated_at = utcnow()
            session.flush()
            after = _view(session, row)
            audit.append(
                session,
                actor=by or self._actor,
                action="vendor.terms",
                object_type="vendor",
                object_ref=vendor,
                details={"before": before, "after": after.terms()},
            )
            return after

    def revoke_vendor(self, vendor: str, reason: str, *, by: str | None = None) -> Revocation:
        """Cut a vendor's users off, in one transaction: every token of theirs is revoked,
        the leases they hold end (their items' slots reopen; what they submitted stays), the
        vendor is marked revoked (no token is issued to its users until it is reinstated) and
        the authentication epoch moves, so a server process drops their tokens within a
        second, this one at once. Audited (``vendor.revoke``)."""
        reason = (reason or "").strip()
        if not reason:
            raise ValidationError("reason: say why the vendor is revoked")
        now = utcnow()
        with write_transaction(self._sessions) as session:
            row = _vendor_row(session, vendor)
            if row.revoked_at is not None:
                raise ConflictError(
                    f"vendor {vendor!r} was already revoked at {iso(row.revoked_at)}"
                )
            users = session.execute(
                select(UserRow.id, UserRow.name).where(UserRow.vendor_id == row.id)
            ).all()
            ids = [u.id for u in users]
            tokens = session.execute(
                update(ApiTokenRow)
                .where(ApiTokenRow.user_id.in_(ids), ApiTokenRow.revoked_at.is_(None))
                .values(revoked_at=now)
            ).rowcount  # type: ignore[attr-defined]
            held = session.execute(
                select(AssignmentRow, TaskRow, ProjectRow.overlap)
                .join(TaskRow, TaskRow.id == AssignmentRow.task_id)
                .join(ProjectRow, ProjectRow.id == TaskRow.project_id)
                .where(AssignmentRow.user_id.in_(ids), AssignmentRow.status == "leased")
                .with_for_update()
            ).all()
            for assignment, task, overlap in held:
                end_lease(assignment, task, overlap, now)
            row.revoked_at = now
            bump_auth_epoch(session)
            done = Revocation(vendor, sorted(u.name for u in users), tokens, len(held), now)
            audit.append(
                session,
                actor=by or self._actor,
                action="vendor.revoke",
                object_type="vendor",
                object_ref=vendor,
                details={**done.to_dict(), "reason": reason},
            )
            self._workforce.forget()
        self._workforce.forget()  # again: a lookup made before the commit must not linger
        return done

    def reinstate_vendor(self, vendor: str, reason: str, *, by: str | None = None) -> Vendor:
        """Lift a revocation: tokens can be issued to the vendor's users again (the revoked
        ones stay revoked). Audited (``vendor.reinstate``)."""
        with write_transaction(self._sessions) as session:
            row = _vendor_row(session, vendor)
            if row.revoked_at is None:
                raise ConflictError(f"vendor {vendor!r} is not revoked")
            row.revoked_at = None
            audit.append(
                session,
                actor=by or self._actor,
                action="vendor.reinstate",
                object_type="vendor",
                object_ref=vendor,
                details={"reason": reason},
            )
            session.flush()
            return _view(session, row)

    def export_vendor(
        self, vendor: str, out_dir: Path, *, progress: ProgressFn | None = None
    ) -> dict[str, Any]:
        """Hand over everything the vendor's users produced (see
        :mod:`curata.annotation.vendor_export`); returns the manifest. Audited
        (``vendor.export``, with the files' digests)."""
        terms = self.vendor(vendor)
        with self._sessions() as session:
            row = _vendor_row(session, vendor)
            manifest = write_vendor_export(
                session, row.id, terms.to_dict(), Path(out_dir), progress=progress
            )
        with write_transaction(self._sessions) as session:
            audit.append(
                session,
                actor=self._actor,
                action="vendor.export",
                object_type="vendor",
                object_ref=vendor,
                details={"out": str(out_dir), "files": manifest["files"]},
            )
        return manifest
