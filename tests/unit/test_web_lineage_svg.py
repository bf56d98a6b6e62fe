"""The lineage graph's SVG and the coverage chart: well-formed whatever the labels hold, every
node and edge drawn, a layout that depends on the graph only (inputs left, the root right),
and the gaps of a coverage comparison marked."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from typing import Any

from curata.web.charts import GAP, Share, ShareGroup, coverage_chart
from curata.web.graph_svg import NODE_W, depths, layout, lineage_svg

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert('x')</script>\x00&amp;\"q\""


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything not well-formed
    assert root.tag == f"{NS}svg" and root.get("role") == "img"
    return root


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def graph() -> dict[str, Any]:
    """A release: labels@1 from clean@1 (curated from raw@1, ingested from source web) and the
    project, cohort and annotator behind it; raw@1 also feeds labels@1 directly, so the
    longest path, not the shortest, decides raw@1's column."""
    nodes = [
        {
            "id": "version:labels@1",
            "type": "version",
            "name": "labels@1",
            "records": 6,
            "created_at": "2025-01-02T00:00:00",
            "author": "boss",
            "message": HOSTILE,
        },
        {
            "id": "version:clean@1",
            "type": "version",
            "name": "clean@1",
            "records": 6,
            "created_at": "2025-01-01T00:00:00",
            "author": "tester",
            "message": "",
        },
        {
            "id": "version:raw@1",
            "type": "version",
            "name": "raw@1",
            "records": 8,
            "created_at": "2025-01-01T00:00:00",
            "author": "tester",
            "message": "",
        },
        {
            "id": "source:web",
            "type": "source",
            "name": "web",
            "kind": "crawl",
            "license": "MIT",
            "origin": "https://example.org",
            "pii_status": "unknown",
        },
        {"id": "project:triage", "type": "project", "name": "triage"},
        {"id": "cohort:wave-1", "type": "cohort", "name": "wave-1"},
        {"id": f"annotator:{HOSTILE}", "type": "annotator", "name": HOSTILE},
    ]
    op = {"operation_id": "0123456789abcdef", "actor": "tester", "at": "2025-01-01T00:00:00"}
    edges = [
        {
            "from": "source:web",
            "to": "version:raw@1",
            "operation": "ingest",
            **op,
            "file": "/data/t.jsonl",
            "file_digest": "x",
            "records": 8,
        },
        {
            "from": "version:raw@1",
            "to": "version:clean@1",
            "operation": "curate",
            **op,
            "steps": [
                {
                    "name": "exact_dedup",
                    "records_in": 8,
                    "records_out": 6,
                    "changed": 0,
                    "dropped": 2,
                    "code_version": "1",
                }
            ],
        },
        {"from": "version:clean@1", "to": "version:labels@1", "operation": "release", **op},
        {"from": "version:raw@1", "to": "version:labels@1", "operation": "release", **op},
        {"from": "project:triage", "to": "version:labels@1", "operation": "release", **op},
        {"from": "cohort:wave-1", "to": "version:labels@1", "operation": "release", **op},
        {"from": f"annotator:{HOSTILE}", "to": "version:labels@1", "operation": "release", **op},
    ]
    return {"root": "version:labels@1", "nodes": nodes, "edges": edges}


def test_every_node_and_edge_is_drawn_with_a_tooltip() -> None:
    g = graph()
    root = parse(lineage_svg(g))
    nodes = by_class(root, "node")
    ids = sorted(n["id"].replace("\x00", "") for n in g["nodes"])  # XML cannot hold a NUL
    assert sorted(n.get("data-id") or "" for n in nodes) == ids
    for n in nodes:
        tip = n.find(f"{NS}title")
        assert tip is not None and tip.text
    [release] = [n for n in nodes if n.get("data-id") == "version:labels@1"]
    assert "root" in (release.get("class") or "")
    assert "boss" in (release.find(f"{NS}title").text or "")  # type: ignore[union-attr]
    edges = by_class(root, "edge")
    assert len(edges) == len(g["edges"])
    assert [(e.get("data-from"), e.get("data-to")) for e in edges] == [
        (e["from"].replace("\x00", ""), e["to"]) for e in g["edges"]
    ]
    assert all((e.get("marker-end") or "").startswith("url(#") for e in edges)
    [curate] = [e for e in edges if e.get("data-to") == "version:clean@1"]
    assert "exact_dedup (-2)" in (curate.find(f"{NS}title").text or "")  # type: ignore[union-attr]
    shown = " ".join("".join(e.itertext()) for e in root.iter(f"{NS}text"))
    for name in ("labels@1", "clean@1", "raw@1", "web", "triage", "wave-1"):
        assert name in shown
    legend = [e.find(f"{NS}text/{NS}title") for e in by_class(root, "legend-item")]
    assert [t.text for t in legend if t is not None] == [
        "source",
        "version",
        "project",
        "cohort",
        "annotator",
    ]


def test_labels_are_escaped_text_never_markup() -> None:
    svg = lineage_svg(graph())
    assert "<script" not in svg and "&lt;script&gt;alert(" in svg
    root = parse(svg)
    assert not list(root.iter("script")) and not list(root.iter(f"{NS}script"))
    titles = " ".join(e.text or "" for e in root.iter(f"{NS}title"))
    assert "<script>alert('x')</script>&amp;\"q\"" in titles  # the NUL dropped, the rest text


def test_columns_follow_the_longest_path_and_the_root_is_rightmost() -> None:
    g = graph()
    deep = depths(g["root"], [n["id"] for n in g["nodes"]], g["edges"])
    assert deep == {
        "version:labels@1": 0,
        "version:clean@1": 1,
        "version:raw@1": 2,
        "source:web": 3,
        "project:triage": 1,
        "cohort:wave-1": 1,
        f"annotator:{HOSTILE}": 1,
    }
    placed = layout(g["root"], g["nodes"], g["edges"])
    assert placed["source:web"].column == 0 and placed["version:labels@1"].column == 3
    for e in g["edges"]:  # every arrow points right
        assert placed[e["from"]].x + NODE_W < placed[e["to"]].x
    # in a column: versions, then the project, cohorts and annotators
    column = sorted((p for p in placed.values() if p.column == 2), key=lambda p: p.row)
    assert [p.id for p in column] == [
        "version:clean@1",
        "project:triage",
        "cohort:wave-1",
        f"annotator:{HOSTILE}",
    ]


def test_the_layout_depends_on_the_graph_not_on_its_order() -> None:
    g = graph()
    first = lineage_svg(g, ident="g")
    for seed in range(5):
        shuffled = dict(g, nodes=random.Random(seed).sample(g["nodes"], len(g["nodes"])))
        assert lineage_svg(shuffled, ident="g") == first
    assert lineage_svg(g, ident="g") == first


def test_an_empty_graph_says_so() -> None:
    root = parse(lineage_svg({"root": "version:x@1", "nodes": [], "edges": []}))
    assert "empty" in (root.get("class") or "") and by_class(root, "node") == []


def test_coverage_bars_are_the_data_shares_and_the_gaps_are_marked() -> None:
    groups = [
        ShareGroup("lang (JSD 0.200)", [Share("en", 0.9, 0.5), Share("de", 0.1, 0.5, True, 80)]),
        ShareGroup(HOSTILE, [Share(HOSTILE, 0.25, 0.25)]),
    ]
    svg = coverage_chart("Coverage of chat@1", groups)
    assert "<script" not in svg
    root = parse(svg)
    bars = by_class(root, "bar")
    assert [float(b.get("data-share") or -1) for b in bars] == [0.9, 0.1, 0.25]
    assert [float(b.get("width") or -1) for b in bars] == [342.0, 38.0, 95.0]  # of 380
    gaps = by_class(root, "gap")
    assert len(gaps) == 1 and gaps[0].get("fill") == GAP
    assert "~80 records" in (gaps[0].find(f"{NS}title").text or "")  # type: ignore[union-attr]
    ticks = by_class(root, "target")
    assert [float(t.get("data-share") or -1) for t in ticks] == [0.5, 0.5, 0.25]
    assert "1 short of the target" in (root.find(f"{NS}desc").text or "")  # type: ignore[union-attr]
    assert "empty" in (parse(coverage_chart("none", [ShareGroup("x", [])])).get("class") or "")
