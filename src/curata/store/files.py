"""Small files the workspace writes beside its database (reports, data cards): written whole or
not at all, so a reader or a crash never sees half of one."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to a fresh temporary name beside ``path`` and rename it
    over ``path``; the folder is created. The temporary file gets the usual permissions (not
    ``mkstemp``'s owner-only ones: these files are meant to be read by others) and is removed
    if anything fails."""
    body = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with temp.open("xb") as f:
            f.write(body)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path
