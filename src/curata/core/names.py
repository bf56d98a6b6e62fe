"""The one rule for names of datasets, sources, projects, tags and users.

It lives in ``core`` because every layer checks names (versioning checks a tag, sourcing a
dataset, annotation a project), and the lower layers may not import a capability package.
"""

from __future__ import annotations

import re

from curata.core.errors import ValidationError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def check_name(name: str, what: str) -> str:
    """Names are 1 to 200 of letters, digits, '.', '_', '-' (no '@', which separates versions)."""
    if not NAME_PATTERN.match(name):
        raise ValidationError(
            f"invalid {what} name {name!r}: use 1-200 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name
