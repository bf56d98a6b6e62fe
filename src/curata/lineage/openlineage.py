"""Emits each operation as an OpenLineage RunEvent (file transport by default, HTTP if set).

Jobs are named by what they make: ``ingest.<dataset>``, ``curate.<dataset>.<step>``,
``release.<project>``. A dataset version is the dataset's name with a ``version`` facet (its
number) and a ``schema`` facet (the columns Curata keeps for each of its records).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from curata._version import __version__
from curata.store.records import MANIFEST_SCHEMA, RECORD_SCHEMA
from curata.timeutil import iso

PRODUCER = f"https://github.com/curata/curata/tree/v{__version__}"
log = logging.getLogger(__name__)


_JSON_COLUMNS = {"messages", "metadata", "labels", "confidence", "soft_labels"}
_DESCRIPTIONS = {
    "curata_id": "record id: SHA-256 of the canonical content and metadata",
    "kind": "text, chat, pair or pairwise",
    "source": "the source the record came from",
    "origin": "where in the source (file:line)",
}


@dataclass(frozen=True)
class SchemaField:
    """One column of a dataset version: name, Arrow type, and what it holds."""

    name: str
    type: str
    description: str | None = None


@dataclass(frozen=True)
class LineageDataset:
    """A dataset as OpenLineage names it: a namespace and a name, and for a dataset version
    its number (the ``version`` facet) and columns (the ``schema`` facet)."""

    namespace: str
    name: str
    version: str | None = None
    fields: tuple[SchemaField, ...] = ()

    @classmethod
    def of_version(
        cls, ref: str, columns: pa.Schema = MANIFEST_SCHEMA, *, name: str | None = None
    ) -> LineageDataset:
        """The dataset version ``NAME@N`` (``name`` overrides the dataset name, for a
        pipeline's intermediate results); ``columns`` is its manifest's schema, whose columns
        beyond the plain manifest's (a release's labels) join the schema facet."""
        dataset, _, number = ref.partition("@")
        return cls("curata.dataset", name or dataset, number or None, version_fields(columns))


def version_fields(columns: pa.Schema = MANIFEST_SCHEMA) -> tuple[SchemaField, ...]:
    """The columns of a dataset version: each record's id, kind, content and metadata, its
    source and origin, then the version's own per-record columns."""
    record = [("curata_id", pa.string())] + [
        (f.name, f.type) for f in RECORD_SCHEMA if f.name != "id"
    ]
    manifest = [(f.name, f.type) for f in MANIFEST_SCHEMA if f.name not in ("record_id", "row")]
    extra = [(f.name, f.type) for f in columns if f.name not in MANIFEST_SCHEMA.names]
    return tuple(
        SchemaField(
            name,
            str(arrow_type),
            _DESCRIPTIONS.get(name, "JSON" if name in _JSON_COLUMNS else None),
        )
        for name, arrow_type in record + manifest + extra
    )


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
        inputs_ = [
            InputDataset(namespace=d.namespace, name=d.name, facets=_facets(d)) for d in inputs
        ]
        events = [
            RunEvent(
                eventType=RunState.START,
                eventTime=iso(started_at) or "",
                run=run,
                job=job_,
                producer=PRODUCER,
                inputs=inputs_,
            ),
            RunEvent(
                eventType=RunState.COMPLETE,
                eventTime=iso(ended_at) or "",
                run=run,
                job=job_,
                producer=PRODUCER,
                inputs=inputs_,
                outputs=[
                    OutputDataset(namespace=d.namespace, name=d.name, facets=_facets(d))
                    for d in outputs
                ],
            ),
        ]
        for event in events:
            try:
                self.client.emit(event)
            except Exception as exc:  # lineage delivery must not undo a committed version
                log.warning("OpenLineage event not delivered: %s", exc)


def _facets(dataset: LineageDataset) -> dict[str, Any]:
    """The ``schema`` and ``version`` dataset facets of a dataset version (none for others)."""
    from openlineage.client.facet_v2 import dataset_version_dataset, schema_dataset

    facets: dict[str, Any] = {}
    if dataset.fields:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(
                    name=f.name, type=f.type, description=f.description
                )
                for f in dataset.fields
            ]
        )
    if dataset.version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=dataset.version
        )
    return facets
