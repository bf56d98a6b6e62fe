"""Stable content ids: the same content gets the same id on every machine."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from typing import Any

from curata.core.errors import NotFoundError, ValidationError

ID_HEX_LENGTH = 32
"""Record ids are the first 128 bits of SHA-256, written as 32 lowercase hex digits."""


def canonical_json(value: Any) -> str:
    """Serialise ``value`` canonically: sorted keys, no spaces, UTF-8 kept, finite floats only.

    Python's float repr is the shortest string that round-trips, so it is identical across
    platforms; NaN and infinities have no JSON form and are refused.
    """
    return _ENCODER.encode(value)


def _refuse(value: Any) -> Any:
    raise TypeError(f"value of type {type(value).__name__} has no JSON form")


_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_refuse
)


def content_id(canonical: str) -> str:
    """Return the 32-hex-digit id of an already canonical string."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:ID_HEX_LENGTH]


def digest_of_ids(sorted_ids: bytes) -> str:
    """Return the full SHA-256 hex digest of the concatenated, sorted ids of a version."""
    return hashlib.sha256(sorted_ids).hexdigest()


def is_finite_json(value: Any) -> bool:
    """Tell whether ``value`` holds only finite numbers (NaN/inf have no canonical form)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(is_finite_json(v) for v in value.values())
    if isinstance(value, list):
        return all(is_finite_json(v) for v in value)
    return True


MIN_PREFIX = 6


def resolve_record_id(text: str, candidates: Callable[[str], Iterable[str]]) -> str:
    """The one record id ``text`` names: a whole id (32 hex digits, any case), or a prefix of
    at least ``MIN_PREFIX`` hex digits that exactly one of ``candidates(prefix)`` (the known ids
    starting with it; two are enough to tell) starts with. Every command that takes a record id
    resolves it here, so all take the same prefixes and refuse the same way."""
    value = text.strip().lower()
    if not MIN_PREFIX <= len(value) <= ID_HEX_LENGTH or any(
        c not in "0123456789abcdef" for c in value
    ):
        raise ValidationError(
            f"{text.strip()!r} is not a record id ({ID_HEX_LENGTH} hex digits, or a prefix of "
            f"at least {MIN_PREFIX})"
        )
    if len(value) == ID_HEX_LENGTH:
        return value
    found = sorted({i for i in candidates(value) if i.startswith(value)})
    if not found:
        raise NotFoundError(f"no record id starts with {value!r}")
    if len(found) > 1:
        raise ValidationError(
            f"record id prefix {value!r} is ambiguous (it starts {' and '.join(found[:2])}); "
            "give more digits"
        )
    return found[0]
