"""The declarative base and the clock every table uses."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import DeclarativeBase


def utcnow() -> datetime:
    """Now, timezone-aware in UTC: every timestamp Curata stores is UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every Curata table."""
