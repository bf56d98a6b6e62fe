"""Emits each operation as an OpenLineage RunEvent (file transport by default, HTTP if set)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from curata._version import __version__
from curata.timeutil import iso

PRODUCER = f"https://github.com/curata/curata/tree/v{__version__}"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineageDataset:
    """A dataset as OpenLineage names it: a namespace and a name."""

    namespace: str
    name: str


class LineageEmitter:
    """Sends RunEvents; a transport failure is logged, never fails the operation it describes."""

    def __init__(self, *, namespace: str, file: Path, url: str | None = None) -> None:
        self.namespace = namespace
        self.file = file
        self.url = url
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The OpenLineage client, built on first use (its import is slow)."""
        if self._client is None:
            from openlineage.client import OpenLineageClient
            from openlineage.client.transport.file import FileConfig, FileTransport
            from openlineage.client.transport.http import HttpConfig, HttpTransport

            if self.url:
                transport: Any = HttpTransport(HttpConfig(url=self.url))
            else:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                transport = FileTransport(FileConfig(log_file_path=str(self.file), append=True))
            self._client = OpenLineageClient(transport=transport)
        return self._client

    def emit(
        self,
        *,
        run_id: str,
        job: str,
        started_at: datetime,
        ended_at: datetime,
        inputs: list[LineageDataset],
        outputs: list[LineageDataset],
    ) -> None:
        """Emit a START and a COMPLETE event for one finished operation."""
        from openlineage.client.event_v2 import (
            InputDataset,
            Job,
            OutputDataset,
            Run,
            RunEvent,
            RunState,
        )

        run = Run(runId=run_id)
        job_ = Job(namespace=self.namespace, name=job)
        events = [
            RunEvent(
                eventType=RunState.START,
                eventTime=iso(started_at) or "",
                run=run,
                job=job_,
                producer=PRODUCER,
                inputs=[InputDataset(namespace=d.namespace, name=d.name) for d in inputs],
            ),
            RunEvent(
                eventType=RunState.COMPLETE,
                eventTime=iso(ended_at) or "",
                run=run,
                job=job_,
                producer=PRODUCER,
                inputs=[InputDataset(namespace=d.namespace, name=d.name) for d in inputs],
                outputs=[OutputDataset(namespace=d.namespace, name=d.name) for d in outputs],
            ),
        ]
        for event in events:
            try:
                self.client.emit(event)
            except Exception as exc:  # lineage delivery must not undo a committed version
                log.warning("OpenLineage event not delivered: %s", exc)
