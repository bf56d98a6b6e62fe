"""The dashboard's lineage graphs and coverage charts over a real socket: the graph holds the
lineage service's nodes and edges, the bars are the coverage service's shares, a missing
report is said with the command that makes one, and only the project's managers see them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import served, write_jsonl
from tests.helpers import web_client

from curata.api.app import create_app
from curata.curation.coverage_service import save_report
from curata.curation.pipeline import parse_pipeline

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert('x')</script>"
SCHEMA = {"questions": [{"type": "label", "name": "topic", "labels": ["billing", "shipping"]}]}


@pytest.fixture
def site(ws: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """raw@1 (10 tickets, 9 English, one duplicate) curated into tickets@1, labelled by ann
    in project triage and released as triage-labels@1; a second project, other, led by
    outsider on raw@1."""
    rows = [{"text": f"ticket {i}", "lang": "en" if i < 8 else "de"} for i in range(9)]
    rows.append({"text": "ticket 0", "lang": "en", "copy": 2})
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="raw")
    ws.curation.curate("raw@1", parse_pipeline(["exact_dedup"]), "tickets", message=HOSTILE)
    ws.workforce.add_user("ann", role="annotator", cohorts=["wave-1"])
    ws.workforce.add_user("boss", role="lead")
    ws.workforce.add_user("outsider", role="lead")
    ws.projects.create("triage", version="tickets@1", schema=SCHEMA, overlap=1,
                       members=["ann", "boss"])  # fmt: skip
    ws.projects.create("other", version="raw@1", schema=SCHEMA, members=["outsider"])
    while (view := ws.queue.next_task("triage", "ann")) is not None:
        ws.queue.submit(view.assignment_id, "ann", {"topic": "billing"})
    released = ws.releases.release("triage", by="boss").version.ref
    assert released == "triage-labels@1"
    tokens = {u: ws.workforce.issue_token(u) for u in ("ann", "boss", "outsider")}
    with served(create_app(ws)) as url:
        yield {"ws": ws, "url": url, "tokens": tokens}


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", html, re.S)]


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def test_the_lineage_of_a_release_is_the_services_graph(site: dict[str, Any]) -> None:
    ws = site["ws"]
    with web_client(site["url"], "boss", site["tokens"]["boss"]) as boss:
        dashboard = boss.get("/projects/triage/dashboard")
        assert dashboard.status_code == 200, dashboard.text
        links = re.findall(r'href="(/projects/triage/lineage\?version=[^"]+)"', dashboard.text)
        assert [unescape(link) for link in links] == [
            "/projects/triage/lineage?version=tickets%401",
            "/projects/triage/lineage?version=triage-labels%401",
        ]
        page = boss.get(unescape(links[1]))
        assert page.status_code == 200, page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        default = boss.get("/projects/triage/lineage")  # the latest release
        assert default.status_code == 200 and "Lineage of triage-labels@1" in default.text
    html = page.text
    assert HOSTILE not in html and "&lt;script&gt;alert(" in html  # the curation's message
    graph = ws.lineage.upstream("triage-labels@1").to_dict()
    names = {n["id"]: n["name"] for n in graph["nodes"]}
    assert {"version:triage-labels@1", "version:tickets@1", "version:raw@1", "source:web",
            "project:triage", "cohort:wave-1", "annotator:ann"} <= set(names)  # fmt: skip
    [svg] = svgs(html)
    nodes = by_class(svg, "node")
    assert sorted(n.get("data-id") or "" for n in nodes) == sorted(names)
    shown = " ".join("".join(t.itertext()) for t in svg.iter(f"{NS}text"))
    for name in names.values():
        assert name in shown
    edges = by_class(svg, "edge")
    assert len(edges) == len(graph["edges"]) >= 6
    assert sorted((e.get("data-from"), e.get("data-to")) for e in edges) == sorted(
        (e["from"], e["to"]) for e in graph["edges"]
    )
    [curated] = [e for e in edges if e.get("data-to") == "version:tickets@1"]
    assert "exact_dedup (-1)" in (curated.find(f"{NS}title").text or "")  # type: ignore[union-attr]
    assert html.count('<tr><th scope="row">') == len(graph["edges"])  # the edges' table
    # inputs to the left of what they made
    x = {n.get("data-id"): float(n.find(f"{NS}rect").get("x") or 0) for n in nodes}  # type: ignore[union-attr]
    assert x["source:web"] < x["version:raw@1"] < x["version:tickets@1"]
    assert x["version:tickets@1"] < x["version:triage-labels@1"]


def test_only_the_projects_managers_see_its_lineage(site: dict[str, Any]) -> None:
    url, tokens = site["url"], site["tokens"]
    path = "/projects/triage/lineage?version=triage-labels%401"
    with web_client(url, "ann", tokens["ann"]) as ann:
        assert ann.get(path).status_code == 403
    with web_client(url, "outsider", tokens["outsider"]) as outsider:
        assert outsider.get(path).status_code == 404  # not a member: not told it exists
        # through their own project, a release of another project is no version of it
        r = outsider.get("/projects/other/lineage?version=triage-labels%401")
        assert (
            r.status_code == 404 and "triage-labels@1 is not a version of project other" in r.text
        )
        assert "annotator:ann" not in r.text and "<svg" not in r.text
        mine = outsider.get("/projects/other/lineage")
        assert mine.status_code == 200 and "Lineage of raw@1" in mine.text
    with web_client(url, "boss", tokens["boss"]) as boss:
        assert boss.get("/projects/triage/lineage?version=raw%401").status_code == 404


def test_coverage_bars_are_the_services_shares_with_the_gaps_marked(
    site: dict[str, Any], tmp_path: Path
) -> None:
    ws = site["ws"]
    with web_client(site["url"], "boss", site["tokens"]["boss"]) as boss:
        html = boss.get("/projects/triage/dashboard").text
        assert html.count('data-testid="no-coverage"') == 2  # tickets and triage-labels
        assert "No coverage has been computed for tickets." in html
        saved = ws.home / "coverage" / "tickets@1.json"
        command = f"curata --home {ws.home} coverage tickets@1 --target FILE --by FIELD --save"
        assert command in html
        assert len(svgs(html)) == 4  # throughput, quality, 2 over time: no coverage chart yet

        # a target half English, half German: tickets@1 (8 en, 1 de) is short of German
        target = write_jsonl(tmp_path / "traffic.jsonl",
                             [{"text": f"t {i}", "lang": "en" if i % 2 else "de"}
                              for i in range(10)])  # fmt: skip
        report = ws.coverage.report("tickets@1", target, by=["lang"], embed=False)
        assert save_report(ws.home, report) == saved  # what the command writes
        html = boss.get("/projects/triage/dashboard").text
    assert html.count('data-testid="no-coverage"') == 1  # triage-labels still has none
    [chart] = [s for s in svgs(html) if "chart-coverage" in (s.get("class") or "")]
    [lang] = report["fields"]
    shares = {s["slice"]: (s["data_share"], s["target_share"]) for s in lang["slices"]}
    assert shares == {"en": (8 / 9, 0.5), "de": (1 / 9, 0.5)}
    bars = by_class(chart, "bar")
    assert [float(b.get("data-share") or -1) for b in bars] == pytest.approx(
        [s["data_share"] for s in lang["slices"]], abs=1e-6
    )
    ticks = by_class(chart, "target")
    assert [float(t.get("data-share") or -1) for t in ticks] == pytest.approx(
        [s["target_share"] for s in lang["slices"]], abs=1e-6
    )
    [gap] = by_class(chart, "gap")
    assert "de:" in (gap.find(f"{NS}title").text or "")  # type: ignore[union-attr]
    assert report["brief"][0]["label"] == "lang=de"
    assert unescape(report["brief_text"]) in unescape(html)
    assert re.search(r'<tr class="gap"><td>lang \(JSD [\d.]+\)</td><th scope="row">de</th>'
                     r'<td class="num">11\.1%</td><td class="num">50\.0%</td>', html)  # fmt: skip
