"""The lineage graph, queried both ways: upstream from a version, and every version of a record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from curata.core.errors import NotFoundError
from curata.core.ids import resolve_record_id
from curata.core.records import Record
from curata.store.records import RecordStore
from curata.store.tables import (
    DatasetRow,
    OperationInputRow,
    OperationRow,
    SourceRow,
    StepRunRow,
    VersionRow,
)
from curata.timeutil import iso
from curata.versioning.diff import preview
from curata.versioning.service import DatasetService


@dataclass
class LineageGraph:
    """Nodes (versions, sources) and edges (input → output, with the operation behind each)."""

    root: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "nodes": list(self.nodes.values()), "edges": self.edges}

    def inputs_of(self, node_id: str) -> list[dict[str, Any]]:
        return [e for e in self.edges if e["to"] == node_id]


@dataclass
class RecordLineage:
    """Every version holding a record, and where it first came from."""

    record_id: str
    kind: str
    preview: str
    appearances: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "kind": self.kind,
            "preview": self.preview,
            "appearances": self.appearances,
        }


class LineageService:
    """Answers lineage questions from the SQL graph and the version manifests."""

    def __init__(
        self, sessions: sessionmaker[Session], store: RecordStore, datasets: DatasetService
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._datasets = datasets

    def upstream(self, ref: str) -> LineageGraph:
        """The graph from a version down to its sources."""
        root = self._datasets.handle(ref)
        graph = LineageGraph(root=f"version:{root.version.ref}")
        with self._sessions() as session:
            row = session.get(VersionRow, root.version_id)
            assert row is not None
            self._walk(session, row, graph, set())
        return graph

    def _version_node(self, session: Session, row: VersionRow) -> dict[str, Any]:
        ds = session.get(DatasetRow, row.dataset_id)
        assert ds is not None
        return {
            "id": f"version:{ds.name}@{row.number}",
            "type": "version",
            "name": f"{ds.name}@{row.number}",
            "records": row.record_count,
            "created_at": iso(row.created_at),
            "author": row.author,
            "message": row.message,
            "digest": row.digest,
        }

    def _walk(self, session: Session, row: VersionRow, graph: LineageGraph, seen: set[int]) -> None:
        node = self._version_node(session, row)
        graph.nodes[node["id"]] = node
        if row.id in seen:
            return
        seen.add(row.id)
        operation = session.get(OperationRow, row.operation_id)
        assert operation is not None
        op: dict[str, Any] = {
            "operation": operation.kind,
            "operation_id": operation.id,
            "code_version": operation.code_version,
            "actor": operation.actor,
            "at": iso(operation.ended_at),
        }
        inputs = session.scalars(
            select(OperationInputRow)
            .where(OperationInputRow.operation_id == operation.id)
            .order_by(OperationInputRow.id)
        ).all()
        if operation.kind == "release":
            self._release_people(graph, node["id"], op, operation.parameters)
        if operation.kind == "curate":  # the steps on the edge, with what each did
            op["steps"] = [
                {
                    "name": run.name,
                    "records_in": run.records_in,
                    "records_out": run.records_out,
                    "changed": run.changed,
                    "dropped": run.dropped,
                    "code_version": run.code_version,
                }
                for run in session.scalars(
                    select(StepRunRow)
                    .where(StepRunRow.operation_id == operation.id)
                    .order_by(StepRunRow.position)
                )
            ]
        for item in inputs:
            if item.source_id is not None:
                source = session.get(SourceRow, item.source_id)
                assert source is not None
                source_id = f"source:{source.name}"
                graph.nodes[source_id] = {
                    "id": source_id,
                    "type": "source",
                    "name": source.name,
                    "kind": source.kind,
                    "license": source.license,
                    "origin": source.origin,
                    "pii_status": source.pii_status,
                }
                graph.edges.append(
                    {
                        "from": source_id,
                        "to": node["id"],
                        **op,
                        "file": item.uri,
                        "file_digest": item.file_digest,
                        "records": item.record_count,
                    }
                )
            elif item.version_id is not None:
                parent = session.get(VersionRow, item.version_id)
                assert parent is not None
                parent_node = self._version_node(session, parent)
                graph.edges.append({"from": parent_node["id"], "to": node["id"], **op})
                self._walk(session, parent, graph, seen)

    @staticmethod
    def _release_people(
        graph: LineageGraph, version_id: str, op: dict[str, Any], params: dict[str, Any]
    ) -> None:
        """A release's labels trace to its project, annotators, cohorts, vendors, guidelines."""
        kinds = {
            "project": [params.get("project")],
            "guideline": params.get("guideline_versions", []),
            "cohort": params.get("cohorts", []),
            "vendor": params.get("vendors", []),
            "annotator": params.get("annotators", []),
        }
        for kind, names in kinds.items():
            for name in names:
                if not name:
                    continue
                node_id = f"{kind}:{name}"
                graph.nodes[node_id] = {"id": node_id, "type": kind, "name": name}
                graph.edges.append({"from": node_id, "to": version_id, **op})

    def resolve_record_id(self, record_id: str) -> str:
        """Expand an id prefix (at least 6 hex digits) to the one stored id it names (the rule
        of :func:`curata.core.ids.resolve_record_id`)."""
        return resolve_record_id(record_id, lambda prefix: self._store.find_ids(prefix, limit=2))

    def record(self, record_id: str) -> RecordLineage:
        """Every version (of every dataset) that holds a record, oldest first."""
        record_id = self.resolve_record_id(record_id)
        stored = self._store.get(record_id)
        if stored is None:
            raise NotFoundError(f"unknown record {record_id}")
        record = Record.from_row(stored)
        appearances: list[dict[str, Any]] = []
        with self._sessions() as session:
            rows = session.execute(
                select(DatasetRow, VersionRow, OperationRow)
                .join(VersionRow, VersionRow.dataset_id == DatasetRow.id)
                .join(OperationRow, OperationRow.id == VersionRow.operation_id)
                .order_by(DatasetRow.name, VersionRow.number)
            ).all()
        previous: dict[str, bool] = {}
        for ds, version, operation in rows:
            hit = self._store.manifest_lookup(ds.storage_key, version.manifest_version, record_id)
            if hit is None:
                previous[ds.name] = False
                continue
            appearances.append(
                {
                    "version": f"{ds.name}@{version.number}",
                    "source": hit["source"],
                    "origin": hit["origin"],
                    "added_here": not previous.get(ds.name, False),
                    "operation": operation.kind,
                    "operation_id": operation.id,
                    "created_at": iso(version.created_at),
                }
            )
            previous[ds.name] = True
        return RecordLineage(record_id, record.kind, preview(record), appearances)
