"""UTC helpers shared by the services (SQLite hands back naive datetimes)."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO-8601 text of a UTC datetime, or ``None``."""
    return None if value is None else as_utc(value).isoformat()
