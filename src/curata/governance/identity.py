"""Who a user is: roles, clearance levels, the user as services see them, and the user an API
token names.

Identity is what access decisions (:mod:`curata.governance.policies`) and authentication
(:mod:`curata.governance.auth`) are made from; managing the workforce — adding users, vendors
and cohorts, issuing and revoking tokens — is :mod:`curata.annotation.workforce`'s.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from curata.store.tables import ApiTokenRow, CohortMemberRow, CohortRow, UserRow, VendorRow
from curata.store.tables.base import utcnow

__all__ = ["CLEARANCE", "ROLES", "User", "clearance_name", "hash_token", "token_user"]

ROLES = ("admin", "lead", "reviewer", "annotator", "sme", "viewer")
CLEARANCE = {"public": 0, "internal": 1, "confidential": 2, "restricted": 3}
"""Sensitivity classes of sources, and the clearance a user needs to see each."""


@dataclass(frozen=True)
class User:
    """A person as services see them (never a token or its hash)."""

    id: int
    name: str
    role: str
    vendor: str | None
    languages: list[str]
    domains: list[str]
    clearance: str
    cohorts: list[str]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["id"]
        return data


def clearance_name(level: int) -> str:
    """The name of a clearance level (``1`` is ``internal``)."""
    return next(name for name, value in CLEARANCE.items() if value == level)


def hash_token(token: str) -> str:
    """Tokens are stored as SHA-256 (they are random, so no salt or slow hash is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _token_user_statement() -> Any:
    users, tokens, vendors = (cast(Table, t.__table__) for t in (UserRow, ApiTokenRow, VendorRow))
    cohorts = (
        select(func.aggregate_strings(CohortRow.name, "\n"))
        .join(CohortMemberRow, CohortMemberRow.cohort_id == CohortRow.id)
        .where(CohortMemberRow.user_id == users.c.id)
        .scalar_subquery()
    )
    return (
        select(
            users.c.id,
            users.c.name,
            users.c.role,
            vendors.c.name,
            users.c.languages,
            users.c.domains,
            users.c.clearance,
            cohorts,
            tokens.c.expires_at,
        )
        .join(tokens, tokens.c.user_id == users.c.id)
        .outerjoin(vendors, vendors.c.id == users.c.vendor_id)
        .where(
            tokens.c.token_hash == bindparam("b_hash", type_=tokens.c.token_hash.type),
            tokens.c.revoked_at.is_(None),
            or_(
                tokens.c.expires_at.is_(None),
                tokens.c.expires_at > bindparam("b_now", type_=tokens.c.expires_at.type),
            ),
            users.c.active.is_(True),
            vendors.c.revoked_at.is_(None),  # a revoked vendor's users (see VendorService)
        )
    )


_TOKEN_USER = _token_user_statement()
"""Built once: every request with a token not remembered runs it (building it cost more than
running it)."""


def token_user(sessions: sessionmaker[Session], token: str) -> User | None:
    """The active user an unrevoked API token belongs to, or ``None``: one statement, uncached
    (:meth:`~curata.annotation.workforce.WorkforceService.authenticate` caches it)."""
    found = token_user_until(sessions, token)
    return None if found is None else found[0]


def token_user_until(
    sessions: sessionmaker[Session], token: str
) -> tuple[User, datetime | None] | None:
    """:func:`token_user` with the moment the token expires (``None``: until revoked)."""
    with sessions() as session:
        found = (
            session.connection()
            .execute(_TOKEN_USER, {"b_hash": hash_token(token), "b_now": utcnow()})
            .first()
        )
    if found is None:
        return None
    uid, name, role, vendor, languages, domains, clearance, cohort_names, expires_at = found
    user = User(
        id=uid,
        name=name,
        role=role,
        vendor=vendor,
        languages=list(languages or []),
        domains=list(domains or []),
        clearance=clearance_name(clearance),
        cohorts=sorted(cohort_names.split("\n")) if cohort_names else [],
    )
    return user, expires_at
