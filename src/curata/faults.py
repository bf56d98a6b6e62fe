"""Test hook for crash safety: ``CURATA_FAULT_INJECT=POINT`` makes the process kill itself
(SIGKILL, as a crash or an OOM kill would) when it reaches that named point."""

from __future__ import annotations

import os
import signal

FAULT_ENV = "CURATA_FAULT_INJECT"


def fault_point(point: str) -> None:
    """Die here if the environment names this point (a no-op otherwise)."""
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)
