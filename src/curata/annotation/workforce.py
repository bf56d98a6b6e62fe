"""The workforce: users with roles, skills and clearance; vendors; cohorts; API tokens."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from curata.core.errors import (
    AlreadyExistsError,
    AuthError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ValidationError,
)
from curata.governance import audit
from curata.governance.identity import (
    CLEARANCE,
    ROLES,
    User,
    clearance_name,
    hash_token,
    token_user_until,
)
from curata.sourcing.service import check_name
from curata.store.tables import (
    ApiTokenRow,
    AuthEpochRow,
    CohortMemberRow,
    CohortRow,
    UserRow,
    VendorRow,
    utcnow,
)
from curata.timeutil import as_utc

TOKEN_PREFIX = "cur_"
AUTH_CACHE_SECONDS = 300.0
"""How long a process remembers a valid token: the bound on what the epoch does not announce
(a database edited by hand). A revocation is announced (see ``EPOCH_CHECK_SECONDS``)."""
EPOCH_CHECK_SECONDS = 1.0
"""How often a process reads the authentication epoch, which every revocation of tokens moves:
a revocation made in another process (another server worker, the CLI) reaches this one within
this many seconds; one made in this process applies at once."""
AUTH_CACHE_SIZE = 10_000

__all__ = [
    "AUTH_CACHE_SECONDS",
    "AUTH_CACHE_SIZE",
    "EPOCH_CHECK_SECONDS",
    "TOKEN_PREFIX",
    "WorkforceService",
    "bump_auth_epoch",
]

_EPOCH = select(AuthEpochRow.epoch).where(AuthEpochRow.id == 1)


def bump_auth_epoch(session: Session) -> None:
    """Move the authentication epoch (in the transaction that revokes): every server process
    forgets the tokens it remembers within ``EPOCH_CHECK_SECONDS``."""
    moved = session.execute(
        update(AuthEpochRow).where(AuthEpochRow.id == 1).values(epoch=AuthEpochRow.epoch + 1)
    )
    if moved.rowcount == 0:  # type: ignore[attr-defined]  # a database made without migrations
        session.execute(insert(AuthEpochRow).values(id=1, epoch=1))


class WorkforceService:
    """Adds and looks up users, vendors and cohorts; issues and checks API tokens."""

    def __init__(self, sessions: sessionmaker[Session], actor: str) -> None:
        self._sessions = sessions
        self._actor = actor
        self._auth_cache: dict[str, tuple[float, User]] = {}
        self._epoch: int | None = None
        self._epoch_read = -EPOCH_CHECK_SECONDS  # monotonic time of the last read
        self._forgotten = 0  # how many times the cache was cleared: a lookup that began
        # before a clear must not put what it found into the cache

    def _to_user(self, session: Session, row: UserRow, vendor_name: str | None = None) -> User:
        vendor = (
            session.get(VendorRow, row.vendor_id) if row.vendor_id and not vendor_name else None
        )
        cohorts = session.scalars(
            select(CohortRow.name)
            .join(CohortMemberRow, CohortMemberRow.cohort_id == CohortRow.id)
            .where(CohortMemberRow.user_id == row.id)
            .order_by(CohortRow.name)
        ).all()
        return User(
            id=row.id,
            name=row.name,
            role=row.role,
            vendor=vendor_name or (vendor.name if vendor else None),
            languages=list(row.languages),
            domains=list(row.domains),
            clearance=clearance_name(row.clearance),
            cohorts=list(cohorts),
        )

    def _vendor_id(self, session: Session, name: str | None, *, create: bool) -> int | None:
        if name is None:
            return None
        vendor = session.scalar(select(VendorRow).where(VendorRow.name == name))
        if vendor is None:
            if not create:
                raise NotFoundError(f"unknown vendor {name!r}")
            check_name(name, "vendor")
            vendor = VendorRow(name=name)
            session.add(vendor)
            session.flush()
        elif create and vendor.revoked_at is not None:
            # a revoked vendor's users are cut off: adding one would hand access back
            raise ConflictError(
                f"vendor {name!r} is revoked: reinstate it (curata vendor reinstate) "
                "before adding users to it"
            )
        return vendor.id

    def _cohort(self, session: Session, name: str, vendor_id: int | None) -> CohortRow:
        cohort = session.scalar(select(CohortRow).where(CohortRow.name == name))
        if cohort is None:
            check_name(name, "cohort")
            cohort = CohortRow(name=name, vendor_id=vendor_id)
            session.add(cohort)
            session.flush()
        elif cohort.vendor_id is not None and cohort.vendor_id != vendor_id:
            raise ValidationError(f"cohort {name!r} belongs to another vendor")
        return cohort

    def add_user(
        self,
        name: str,
        *,
        role: str = "annotator",
        vendor: str | None = None,
        languages: list[str] | None = None,
        domains: list[str] | None = None,
        clearance: str = "internal",
        cohorts: list[str] | None = None,
    ) -> User:
        """Add a user; the vendor and cohorts are created on first mention."""
        check_name(name, "user")
        if role not in ROLES:
            raise ValidationError(f"role: {role!r} is not one of {', '.join(ROLES)}")
        if clearance not in CLEARANCE:
            raise ValidationError(f"clearance: {clearance!r} is not one of {', '.join(CLEARANCE)}")
        with self._sessions.begin() as session:
            if session.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
                raise AlreadyExistsError(f"user {name!r} already exists")
            vendor_id = self._vendor_id(session, vendor, create=True)
            row = UserRow(
                name=name,
                role=role,
                vendor_id=vendor_id,
                languages=sorted(set(languages or [])),
                domains=sorted(set(domains or [])),
                clearance=CLEARANCE[clearance],
            )
            session.add(row)
            session.flush()
            for cohort_name in cohorts or []:
                cohort = self._cohort(session, cohort_name, vendor_id)
                session.add(CohortMemberRow(cohort_id=cohort.id, user_id=row.id))
            session.flush()
            user = self._to_user(session, row)
            audit.append(
                session,
                actor=self._actor,
                action="user.add",
                object_type="user",
                object_ref=name,
                details=user.to_dict(),
            )
            return user

    def get(self, name: str) -> User:
        """A user by name."""
        with self._sessions() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                raise NotFoundError(f"unknown user {name!r} (see 'curata user list')")
            return self._to_user(session, row)

    def list(self) -> list[User]:
        """Every user, by name."""
        with self._sessions() as session:
            rows = session.scalars(select(UserRow).order_by(UserRow.name)).all()
            return [self._to_user(session, r) for r in rows]

    def issue_token(self, name: str) -> str:
        """A new API token for a user; shown once, stored only as its hash."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._sessions.begin() as session:
            user = session.scalar(select(UserRow).where(UserRow.name == name))
            if user is None:
                raise NotFoundError(f"unknown user {name!r}")
            vendor = session.get(VendorRow, user.vendor_id) if user.vendor_id else None
            if vendor is not None and vendor.revoked_at is not None:
                raise ForbiddenError(
                    f"user {name!r} works for vendor {vendor.name!r}, revoked on "
                    f"{as_utc(vendor.revoked_at):%Y-%m-%d}: no token is issued to its users"
                )
            session.add(
                ApiTokenRow(user_id=user.id, token_hash=hash_token(token), prefix=token[:12])
            )
            audit.append(
                session,
                actor=self._actor,
                action="user.token",
                object_type="user",
                object_ref=name,
                details={"prefix": token[:12]},
            )
        return token

    def authenticate(self, token: str) -> User | None:
        """The active user a token belongs to, or ``None``.

        Every API request runs this, so a valid token is remembered (``AUTH_CACHE_SECONDS``,
        never past the token's own expiry). A revocation made in this process applies at once;
        one made elsewhere (another server process, the CLI) moves the authentication epoch,
        which this process reads at most every ``EPOCH_CHECK_SECONDS`` and forgets every token
        when it moved. Unknown tokens are never cached.
        """
        self._read_epoch()
        user = self.remembered(token)
        if user is not None:
            return user
        forgotten = self._forgotten
        found = token_user_until(self._sessions, token)
        if found is None:
            return None
        user, expires_at = found
        now = time.monotonic()
        until = now + AUTH_CACHE_SECONDS
        if expires_at is not None:
            until = min(until, now + (as_utc(expires_at) - utcnow()).total_seconds())
        if forgotten == self._forgotten:
            if len(self._auth_cache) >= AUTH_CACHE_SIZE:
                self._auth_cache.clear()
            self._auth_cache[hash_token(token)] = (until, user)
        return user

    def remembered(self, token: str) -> User | None:
        """The user :meth:`authenticate` remembers for ``token`` (no I/O), or ``None`` where it
        would have to ask the database (the token is not remembered, or the epoch is due to
        be read)."""
        now = time.monotonic()
        if now - self._epoch_read >= EPOCH_CHECK_SECONDS:
            return None
        cached = self._auth_cache.get(hash_token(token))
        if cached is not None and cached[0] > now:
            return cached[1]
        return None

    def _read_epoch(self) -> None:
        now = time.monotonic()
        if now - self._epoch_read < EPOCH_CHECK_SECONDS:
            return
        with self._sessions() as session:
            epoch = session.connection().execute(_EPOCH).scalar() or 0
        if epoch != self._epoch:
            self._forget()
            self._epoch = epoch
        self._epoch_read = now

    def forget(self) -> None:
        """Forget every remembered token now (a revocation made in this process)."""
        self._forget()

    def _forget(self) -> None:
        self._forgotten += 1
        self._auth_cache.clear()

    def sign_in(self, name: str, token: str, *, hours: float = 12.0) -> tuple[User, str]:
        """A browser session for the user named ``name`` who proved it with one of their
        API tokens: a new token of purpose ``web`` that expires after ``hours`` (or at
        :meth:`sign_out`); revoking the user's tokens ends it too. ``None`` is never returned:
        a wrong name or token is an :class:`AuthError` that does not say which was wrong."""
        user = self.authenticate(token)
        if user is None or user.name != name:
            raise AuthError("unknown user or token")
        session_token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._sessions.begin() as session:
            session.add(ApiTokenRow(
                user_id=user.id, token_hash=hash_token(session_token),
                prefix=session_token[:12], purpose="web",
                expires_at=utcnow() + timedelta(hours=hours)))
            audit.append(session, actor=name, action="user.sign_in", object_type="user",
                         object_ref=name, details={"prefix": session_token[:12]})
        return user, session_token

    def sign_out(self, session_token: str) -> bool:
        """End the browser session ``session_token`` (a ``web`` token); whether one ended."""
        digest = hash_token(session_token)
        self._forget()
        with self._sessions.begin() as session:
            row = session.scalar(select(ApiTokenRow).where(
                ApiTokenRow.token_hash == digest, ApiTokenRow.purpose == "web",
                ApiTokenRow.revoked_at.is_(None)))
            if row is None:
                return False
            row.revoked_at = utcnow()
            bump_auth_epoch(session)
            name = session.scalar(select(UserRow.name).where(UserRow.id == row.user_id))
            audit.append(session, actor=name or "?", action="user.sign_out",
                         object_type="user", object_ref=name or "?",
                         details={"prefix": row.prefix})
        return True

    def revoke_tokens(self, name: str) -> int:
        """Revoke every token of a user; return how many."""
        with self._sessions.begin() as session:
            user = session.scalar(select(UserRow).where(UserRow.name == name))
            if user is None:
                raise NotFoundError(f"unknown user {name!r}")
            rows = session.scalars(
                select(ApiTokenRow).where(
                    ApiTokenRow.user_id == user.id, ApiTokenRow.revoked_at.is_(None)
                )
            ).all()
            for row in rows:
                row.revoked_at = utcnow()
            bump_auth_epoch(session)
            audit.append(
                session,
                actor=self._actor,
                action="user.revoke",
                object_type="user",
                object_ref=name,
                details={"tokens": len(rows)},
            )
            self._forget()
            return len(rows)
