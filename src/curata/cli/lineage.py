"""``curata lineage``: upstream from a version, or every version holding a record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from curata.cli.output import JsonOption, emit, workspace
from curata.core.errors import ValidationError

if TYPE_CHECKING:
    from curata.lineage.graph import LineageGraph, RecordLineage


def lineage(
    ctx: typer.Context,
    ref: str | None = typer.Argument(
        None, help="Version (NAME@N) to trace upstream.", metavar="REF"
    ),
    record: str | None = typer.Option(
        None, "--record", help="Record id (or a 6+ digit prefix) to trace."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Trace a version down to its sources, or find every version holding a record."""
    if (ref is None) == (record is None):
        raise ValidationError("give either a version (NAME@N) or --record ID")
    ws = workspace(ctx)
    if record is not None:
        found = ws.lineage.record(record)
        emit(as_json, found.to_dict(), lambda c: render_record(c, found))
        return
    assert ref is not None
    graph = ws.lineage.upstream(ref)
    emit(as_json, graph.to_dict(), lambda c: render_graph(c, graph))


def _node_label(node: dict[str, Any]) -> str:
    if node["type"] not in ("source", "version"):
        return f"[green]{node['type']} {escape(node['name'])}[/]"
    if node["type"] == "source":
        return f"[magenta]source {node['name']}[/] " + escape(
            f"[{node['kind']}, {node['license']}, pii {node['pii_status']}] {node['origin']}"
        )
    msg = escape(f" “{node['message']}”") if node.get("message") else ""
    return (
        f"[bold cyan]{node['name']}[/] {node['records']:,} records, "
        f"{node['created_at'][:19]} by {escape(node['author'])}{msg}"
    )


def _edge_label(edge: dict[str, Any]) -> str:
    detail = escape(f": {edge['file']} ({edge['records']:,} records)") if edge.get("file") else ""
    if edge.get("steps"):
        detail = escape(": " + " → ".join(_step_label(s) for s in edge["steps"]))
    return f"[dim]via {edge['operation']} {edge['operation_id'][:8]}{detail}[/]"


def _step_label(step: dict[str, Any]) -> str:
    done = [
        f"-{step['dropped']:,}" if step["dropped"] else "",
        f"~{step['changed']:,}" if step["changed"] else "",
    ]
    said = " ".join(d for d in done if d)
    return f"{step['name']} ({said})" if said else step["name"]


def render_graph(c: Console, graph: LineageGraph) -> None:
    def grow(tree: Tree, node_id: str, depth: int) -> None:
        for edge in graph.inputs_of(node_id):
            label = f"{_node_label(graph.nodes[edge['from']])}\n{_edge_label(edge)}"
            child = tree.add(Text.from_markup(label, overflow="fold"))
            if depth < 50:
                grow(child, edge["from"], depth + 1)

    root = Tree(Text.from_markup(_node_label(graph.nodes[graph.root]), overflow="fold"))
    grow(root, graph.root, 0)
    c.print(root)


def render_record(c: Console, found: RecordLineage) -> None:
    c.print(f"[bold]{found.record_id}[/] ({found.kind}) {escape(found.preview)}")
    if not found.appearances:
        c.print("  in no version (stored, but every version holding it was replaced)")
    for a in found.appearances:
        first = "added" if a["added_here"] else "kept "
        where = escape(f"from source {a['source']} at {a['origin']} (via {a['operation']})")
        c.print(f"  {first} in [cyan]{a['version']}[/] {where}")
