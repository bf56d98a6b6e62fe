"""Plain helpers shared by several test modules (fixtures live in ``conftest.py``): written once
so that copies cannot drift apart."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from curata.core.records import Record
from curata.curation.steps.base import Decision, Step
from curata.store.tables import CurationEventRow, StepRunRow


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server started apart)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def decide(step: Step, *records: Record) -> list[Decision]:
    """``step``'s decisions on one batch of ``records``, as an executor would call it; a test
    of one record unpacks the list (``[d] = decide(...)``), which also checks there is one."""
    return step.apply([(r.id, r) for r in records])


def events_of(ws: Any, ref: str) -> list[tuple[Any, ...]]:
    """Every event of the run that made ``ref``, in the order it was recorded: the step's
    position and name, then every recorded field of the event."""
    version = ws.datasets.version(ref)
    with ws.projects.sessions() as s:
        rows = s.execute(
            select(CurationEventRow, StepRunRow)
            .join(StepRunRow, StepRunRow.id == CurationEventRow.step_run_id)
            .where(StepRunRow.operation_id == version.operation_id)
            .order_by(CurationEventRow.id)
        ).all()
    fields = ("record_id", "action", "reason", "related_id", "new_id", "score", "details")
    return [(r.position, r.name, *(getattr(e, f) for f in fields), e.source) for e, r in rows]


def ingest_with_cli(cli: Callable[..., tuple[int, str, str]], data: Path, dataset: str) -> None:
    """Initialise the ``cli`` fixture's workspace, add the source ``web`` (MIT) and ingest
    ``data`` as ``dataset``, checking that every command succeeds."""
    assert cli("init")[0] == 0
    code, _, err = cli("source", "add", "web", "--kind", "crawl", "--license", "MIT",
                       "--origin", "x")  # fmt: skip
    assert code == 0, err
    code, _, err = cli("ingest", data, "--source", "web", "--dataset", dataset)
    assert code == 0, err
