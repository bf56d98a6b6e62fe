"""A lineage graph as an SVG string, drawn on the server (no JavaScript, no network).

:func:`lineage_svg` takes the plain nodes and edges of a
:class:`~curata.lineage.graph.LineageGraph` (``to_dict()``): sources, versions, and the project,
guideline versions, cohorts, vendors and annotators behind a release. Each node is placed in a
column by its depth: the longest path from it to the root, so the root (the version traced) is
the rightmost column and every edge points right; within a column nodes are ordered by kind,
then name, so the same graph always draws the same picture. Each edge is an arrow whose
``<title>`` names the operation behind it (and a curation run's steps with what each did).

Labels are user data: escaped with :func:`curata.web.charts.text`, like every chart's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from curata.web.charts import INK, MUTED, PALETTE, _empty, _ident, _legend, _open, short, text

KIND_ORDER = ("source", "version", "project", "guideline", "cohort", "vendor", "annotator")
"""Node kinds in the order a column lists them; the colour of each is the palette's at the
same position (any other kind: after these, in grey)."""
NODE_W, NODE_H, COL_GAP, ROW_GAP, LEFT, TOP = 190, 38, 70, 12, 8, 8
LABEL_CHARS = 26


@dataclass(frozen=True)
class Placed:
    """A node's place: its column (0 = leftmost), row in the column, and box's top-left."""

    id: str
    column: int
    row: int
    x: float
    y: float


def _rank(node: Mapping[str, Any]) -> tuple[int, str, str]:
    kind = str(node.get("type", ""))
    at = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    return at, str(node.get("name", node["id"])), str(node["id"])


def depths(
    root: str, node_ids: Sequence[str], edges: Sequence[Mapping[str, Any]]
) -> dict[str, int]:
    """Each node's longest distance (in edges) to ``root`` following edges forwards (input →
    output); a node with no path to the root (not in a well-formed graph) gets depth 0."""
    outputs: dict[str, list[str]] = {n: [] for n in node_ids}
    for e in edges:
        outputs.setdefault(e["from"], []).append(e["to"])
    memo: dict[str, int] = {}

    def depth(n: str, visiting: frozenset[str]) -> int:
        if n == root:
            return 0
        if n in memo:
            return memo[n]
        below = [depth(o, visiting | {n}) for o in outputs.get(n, ()) if o not in visiting]
        memo[n] = 1 + max(below) if below else 0
        return memo[n]

    return {n: depth(n, frozenset()) for n in node_ids}


def layout(
    root: str, nodes: Sequence[Mapping[str, Any]], edges: Sequence[Mapping[str, Any]]
) -> dict[str, Placed]:
    """Where each node goes: columns left to right by decreasing depth (the sources the
    furthest upstream first, ``root`` last), rows in a column by kind, then name."""
    by_id = {str(n["id"]): n for n in nodes}
    deep = depths(root, list(by_id), edges)
    top = max(deep.values(), default=0)
    columns: dict[int, list[str]] = {}
    for node_id, d in deep.items():
        columns.setdefault(top - d, []).append(node_id)
    placed: dict[str, Placed] = {}
    for column in sorted(columns):
        for row, node_id in enumerate(sorted(columns[column], key=lambda i: _rank(by_id[i]))):
            placed[node_id] = Placed(
                node_id,
                column,
                row,
                LEFT + column * (NODE_W + COL_GAP),
                TOP + row * (NODE_H + ROW_GAP),
            )
    return placed


def node_tooltip(node: Mapping[str, Any]) -> str:
    """Everything the graph holds on a node, one fact a line."""
    kind, name = node.get("type", "node"), node.get("name", node["id"])
    lines = [f"{kind} {name}"]
    if kind == "version":
        lines.append(
            f"{node.get('records', 0):,} records, {str(node.get('created_at', ''))[:19]}"
            f" by {node.get('author', '')}"
        )
        if node.get("message"):
            lines.append(f"“{node['message']}”")
        if node.get("digest"):
            lines.append(f"digest {str(node['digest'])[:16]}")
    elif kind == "source":
        lines.append(
            f"{node.get('kind')}, licence {node.get('license')}, PII {node.get('pii_status')}"
        )
        lines.append(str(node.get("origin", "")))
    return "\n".join(lines)


def _step(step: Mapping[str, Any]) -> str:
    done = [
        f"-{step['dropped']:,}" if step.get("dropped") else "",
        f"~{step['changed']:,}" if step.get("changed") else "",
    ]
    said = " ".join(d for d in done if d)
    return f"{step['name']} ({said})" if said else str(step["name"])


def edge_tooltip(edge: Mapping[str, Any]) -> str:
    """The operation behind an edge: its kind and id, who ran it and when, and what it read (a
    file) or did (a curation run's steps)."""
    head = (
        f"{edge['from']} → {edge['to']}\nvia {edge.get('operation', '?')} "
        f"{str(edge.get('operation_id', ''))[:8]} by {edge.get('actor', '?')}, "
        f"{str(edge.get('at', ''))[:19]}"
    )
    if edge.get("file"):
        head += f"\nfile {edge['file']} ({edge.get('records') or 0:,} records)"
    if edge.get("steps"):
        head += "\nsteps " + " → ".join(_step(s) for s in edge["steps"])
    return head


def kind_colour(kind: str) -> str:
    return PALETTE[KIND_ORDER.index(kind)] if kind in KIND_ORDER else MUTED


def lineage_svg(graph: Mapping[str, Any], *, title: str = "", ident: str | None = None) -> str:
    """``graph`` (``LineageGraph.to_dict()``: ``root``, ``nodes``, ``edges``) as an SVG: a box
    per node (``class="node"``, ``data-id`` its id), an arrow per edge (``class="edge"``), a
    ``<title>`` tooltip on each and a legend of the kinds shown."""
    root, nodes, edges = str(graph["root"]), list(graph["nodes"]), list(graph["edges"])
    title = title or f"Lineage of {root.removeprefix('version:')}"
    if not nodes:
        return _empty("lineage", title, "", ident)
    placed = layout(root, nodes, edges)
    key = _ident("lineage", title, ident)
    width = LEFT * 2 + (max(p.column for p in placed.values()) + 1) * (NODE_W + COL_GAP) - COL_GAP
    bottom = TOP + max(p.y for p in placed.values()) + NODE_H
    parts: list[str] = [
        f'<defs><marker id="{key}-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        f'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
        f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{INK}"/></marker></defs>',
        '<g class="edges">',
    ]
    for e in edges:
        a, b = placed.get(str(e["from"])), placed.get(str(e["to"]))
        if a is None or b is None:
            continue
        x1, y1 = a.x + NODE_W, a.y + NODE_H / 2
        x2, y2 = b.x - 2, b.y + NODE_H / 2
        bend = max((x2 - x1) / 2, 20)
        parts.append(
            f'<path class="edge" data-from="{text(e["from"])}" data-to="{text(e["to"])}" '
            f'd="M {x1:.1f} {y1:.1f} C {x1 + bend:.1f} {y1:.1f} {x2 - bend:.1f} {y2:.1f} '
            f'{x2:.1f} {y2:.1f}" fill="none" stroke="{MUTED}" stroke-width="1.5" '
            f'marker-end="url(#{key}-arrow)"><title>{text(edge_tooltip(e))}</title></path>'
        )
    parts.append('</g><g class="nodes">')
    for node in sorted(
        nodes, key=lambda n: (placed[str(n["id"])].column, placed[str(n["id"])].row)
    ):
        p = placed[str(node["id"])]
        kind = str(node.get("type", "node"))
        colour = kind_colour(kind)
        is_root = p.id == root
        detail = (
            f"{node.get('records', 0):,} records"
            if kind == "version"
            else str(node.get("license", ""))
            if kind == "source"
            else ""
        )
        parts.append(
            f'<g class="node{" root" if is_root else ""}" data-id="{text(p.id)}" '
            f'data-kind="{text(kind)}"><title>{text(node_tooltip(node))}</title>'
            f'<rect x="{p.x:.1f}" y="{p.y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="5" '
            f'fill="#ffffff" stroke="{colour}" stroke-width="{3 if is_root else 1.5}"/>'
            f'<rect x="{p.x:.1f}" y="{p.y:.1f}" width="5" height="{NODE_H}" fill="{colour}"/>'
            f'<text class="label" x="{p.x + 12:.1f}" y="{p.y + 16:.1f}" font-weight="600">'
            f"{text(short(node.get('name', p.id), LABEL_CHARS))}</text>"
            f'<text x="{p.x + 12:.1f}" y="{p.y + 31:.1f}" fill="{MUTED}" font-size="11">'
            f"{text(short(' · '.join(s for s in (kind, detail) if s), 32))}</text></g>"
        )
    parts.append("</g>")
    kinds = sorted(
        {str(n.get("type", "node")) for n in nodes},
        key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else len(KIND_ORDER), k),
    )
    below = _legend(
        parts, [(k, kind_colour(k), "box") for k in kinds], LEFT, bottom + 24, max(width, 360)
    )
    head = _open(
        "lineage",
        title,
        f"{len(nodes)} nodes and {len(edges)} edges, inputs on the left, "
        f"{root.removeprefix('version:')} on the right",
        max(width, 360),
        below + 4,
        key,
    )
    return "".join(head + parts) + "</svg>"
