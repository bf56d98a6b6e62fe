"""Sources: register and read where data comes from."""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from curata.core.errors import AlreadyExistsError, NotFoundError, ValidationError
from curata.core.models import PII_STATUSES, SENSITIVITIES, SOURCE_KINDS, Source
from curata.core.names import NAME_PATTERN as NAME_PATTERN  # re-exported: the API checks names
from curata.core.names import check_name as check_name  # re-exported for its callers
from curata.governance import audit
from curata.store.tables import SourceRow
from curata.timeutil import as_utc

CUSTOM_PREFIXES = ("LicenseRef-", "DocumentRef-")
"""SPDX's own syntax for licences outside its list (SPDX 2.3, annex D)."""


@cache
def _spdx() -> Any:
    """license-expression's licensing with the SPDX licence list (built once per process)."""
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


def check_license(expression: str, ref: str | None = None) -> str:
    """An SPDX licence expression in SPDX's own spelling (``mit or apache-2.0`` is
    ``MIT OR Apache-2.0``). Every id must be on the SPDX licence list, or be a custom licence
    (``LicenseRef-NAME``), whose terms ``ref`` (a URL or path) may locate; ``ref`` needs one.
    ValidationError naming the bad token otherwise."""
    from license_expression import ExpressionError

    text = " ".join(expression.split())
    if not text:
        raise ValidationError(
            "license: must not be empty (an SPDX expression such as CC-BY-4.0, MIT, "
            "'Apache-2.0 OR MIT', or LicenseRef-NAME with --license-ref for custom terms)"
        )
    licensing = _spdx()
    try:
        parsed = licensing.parse(text, strict=True)
    except ExpressionError as exc:
        raise ValidationError(f"license: {text!r} is not an SPDX expression: {exc}") from None
    keys = [s.key for s in licensing.license_symbols(parsed, unique=True, decompose=True)]
    unknown = [
        k for k in keys if k not in licensing.known_symbols and not k.startswith(CUSTOM_PREFIXES)
    ]
    if unknown:
        ids = "ids" if len(unknown) > 1 else "id"
        raise ValidationError(
            f"license: unknown SPDX license {ids} {', '.join(map(repr, unknown))} in {text!r} "
            "(see https://spdx.org/licenses/; for custom terms write LicenseRef-NAME and say "
            "where they are with --license-ref)"
        )
    if ref is not None and not any(k.startswith(CUSTOM_PREFIXES) for k in keys):
        raise ValidationError(
            f"license-ref: {text!r} names no custom license (LicenseRef-NAME) whose terms "
            "--license-ref could locate"
        )
    return str(parsed)


def to_source(row: SourceRow) -> Source:
    return Source(
        name=row.name,
        kind=row.kind,
        license=row.license,
        origin=row.origin,
        collected_at=row.collected_at,
        consent=row.consent,
        pii_status=row.pii_status,
        sensitivity=row.sensitivity,
        owner=row.owner,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        license_ref=row.license_ref,
    )


class SourceService:
    """Registers sources with their provenance and answers questions about them."""

    def __init__(self, sessions: sessionmaker[Session], actor: str) -> None:
        self._sessions = sessions
        self._actor = actor

    def add(
        self,
        name: str,
        *,
        kind: str,
        license: str,
        origin: str,
        collected_at: date | str | None = None,
        consent: str | None = None,
        pii: str = "unknown",
        sensitivity: str = "internal",
        owner: str | None = None,
        license_ref: str | None = None,
    ) -> Source:
        """Register a source; its name must be new. ``license`` is an SPDX expression (see
        :func:`check_license`), ``license_ref`` where the terms of its custom licence are."""
        check_name(name, "source")
        if kind not in SOURCE_KINDS:
            raise ValidationError(f"kind: {kind!r} is not one of {', '.join(SOURCE_KINDS)}")
        if pii not in PII_STATUSES:
            raise ValidationError(f"pii: {pii!r} is not one of {', '.join(PII_STATUSES)}")
        if sensitivity not in SENSITIVITIES:
            raise ValidationError(
                f"sensitivity: {sensitivity!r} is not one of {', '.join(SENSITIVITIES)}"
            )
        if license_ref is not None and not license_ref.strip():
            raise ValidationError("license-ref: must not be empty (where the terms are)")
        license = check_license(license, license_ref)
        if not origin.strip():
            raise ValidationError("origin: must not be empty (a URI saying where the data is from)")
        if isinstance(collected_at, str):
            try:
                collected_at = date.fromisoformat(collected_at)
            except ValueError:
                raise ValidationError(
                    f"collected-at: {collected_at!r} is not a date (YYYY-MM-DD)"
                ) from None
        row = SourceRow(
            name=name,
            kind=kind,
            license=license,
            license_ref=license_ref,
            origin=origin,
            collected_at=collected_at,
            consent=consent,
            pii_status=pii,
            sensitivity=sensitivity,
            owner=owner,
            created_by=self._actor,
        )
        try:
            with self._sessions.begin() as session:
                if session.scalar(select(SourceRow.id).where(SourceRow.name == name)) is not None:
                    raise AlreadyExistsError(f"source {name!r} already exists")
                session.add(row)
                session.flush()
                audit.append(
                    session,
                    actor=self._actor,
                    action="source.add",
                    object_type="source",
                    object_ref=name,
                    details={
                        "kind": kind,
                        "license": license,
                        "license_ref": license_ref,
                        "origin": origin,
                        "pii": pii,
                    },
                )
        except IntegrityError:
            raise AlreadyExistsError(f"source {name!r} already exists") from None
        return to_source(row)

    def get(self, name: str) -> Source:
        """Return a source by name."""
        with self._sessions() as session:
            row = session.scalar(select(SourceRow).where(SourceRow.name == name))
            if row is None:
                raise NotFoundError(f"unknown source {name!r} (see 'curata source list')")
            return to_source(row)

    def list(self) -> list[Source]:
        """Every source, by name."""
        with self._sessions() as session:
            return [
                to_source(r) for r in session.scalars(select(SourceRow).order_by(SourceRow.name))
            ]
