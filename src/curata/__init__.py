"""Curata: the training-data supply chain of an LLM program as one closed, measurable loop.

``Workspace`` and ``open`` load lazily so that ``curata --help`` stays quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from curata._version import __version__
from curata.core.errors import CurataError
from curata.core.records import Record

if TYPE_CHECKING:
    from curata.workspace import Workspace


def open(home: str | None = None) -> Workspace:
    """Open the workspace at ``home`` (default: ``CURATA_HOME`` or ``./.curata``)."""
    from curata.workspace import Workspace

    return Workspace.open(home)


def __getattr__(name: str) -> Any:
    if name == "Workspace":
        from curata.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'curata' has no attribute {name!r}")


__all__ = ["CurataError", "Record", "Workspace", "__version__", "open"]
