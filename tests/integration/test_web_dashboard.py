"""The lead's dashboard over a real socket: numbers that are the services' numbers, charts as
SVG, access for managers only, and hostile values shown as text."""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import served, write_jsonl

from curata.api.app import create_app

HOSTILE = "<script>alert('x')</script>"
SCHEMA = {"questions": [{"type": "label", "name": "topic", "labels": ["billing", "shipping"]}]}


@pytest.fixture
def site(ws: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    rows = [{"text": f"ticket {i} {HOSTILE}"} for i in range(6)]
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="tickets")
    ws.workforce.add_user("ann", role="annotator", cohorts=["wave-1"])
    ws.workforce.add_user("bob", role="annotator", vendor="acme", cohorts=["acme-wave"])
    ws.workforce.add_user("boss", role="lead")
    ws.workforce.add_user("outsider", role="lead")
    ws.projects.create("triage", version="tickets@1", schema=SCHEMA, overlap=2,
                       members=["ann", "bob", "boss"])
    tokens = {u: ws.workforce.issue_token(u) for u in ("ann", "bob", "boss", "outsider")}
    app = create_app(ws)
    with served(app) as url:
        def client(name: str) -> httpx.Client:
            c = httpx.Client(base_url=url, timeout=60)
            page = c.get("/login")
            nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
            assert nonce, page.text
            r = c.post("/login", data={"name": name, "token": tokens[name],
                                       "nonce": nonce.group(1)})
            assert r.status_code == 303 and "curata_session" in c.cookies
            return c

        yield {"ws": ws, "client": client, "app": app}


def label(ws: Any, user: str, n: int, answer: str = "billing") -> int:
    done = 0
    while done < n and (view := ws.queue.next_task("triage", user)) is not None:
        ws.queue.submit(view.assignment_id, user, {"topic": answer})
        done += 1
    return done


def figure(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">([^<]*)<', html)
    assert found, testid
    return found.group(1)


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", html, re.S)]


def test_a_lead_sees_the_services_numbers_and_they_move(site) -> None:
    ws, boss = site["ws"], site["client"]("boss")
    r = boss.get("/projects/triage/dashboard")
    assert r.status_code == 200, r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    html = r.text
    assert figure(html, "items") == "6" and figure(html, "complete") == "0"
    assert figure(html, "remaining") == "6" and figure(html, "labels") == "0 of 12"
    charts = svgs(html)
    # throughput, quality, agreement and gold accuracy over time; no campaigns section yet
    assert len(charts) == 4
    assert all(c.get("role") == "img" for c in charts)
    assert sum("empty" in (c.get("class") or "") for c in charts) == 4  # nothing labelled yet
    assert 'data-testid="redteam"' in html and "No red-team campaigns yet" in html

    as_of = re.search(r'data-testid="as-of">[^<]*as of ([\d:]+) UTC', html)
    assert as_of

    assert label(ws, "ann", 6) == 6 and label(ws, "bob", 4) == 4
    status = ws.projects.status("triage")
    html = boss.get("/projects/triage/dashboard").text
    # the backlog is live; the quality numbers are the snapshot's until it is a minute old
    assert figure(html, "items") == str(status.items) == "6"
    assert figure(html, "complete") == str(status.items_complete) == "4"
    assert figure(html, "remaining") == "2"
    assert figure(html, "labels") == f"{status.labels_done} of {status.labels_needed}" == "10 of 12"
    assert sum("empty" in (c.get("class") or "") for c in svgs(html)) == 4
    # a minute later (made now): this view starts the refresh, a later one shows it
    site["app"].state.dashboard_snapshots.max_age = 0.0
    boss.get("/projects/triage/dashboard")
    for _ in range(200):
        html = boss.get("/projects/triage/dashboard").text
        if sum("empty" in (c.get("class") or "") for c in svgs(html)) < 4:
            break
        time.sleep(0.05)
    site["app"].state.dashboard_snapshots.max_age = 3600.0
    html = boss.get("/projects/triage/dashboard").text
    [throughput, quality, over_time, gold_over_time] = svgs(html)
    assert "empty" in (gold_over_time.get("class") or "")  # this project has no gold
    ns = "{http://www.w3.org/2000/svg}"
    days = [e for e in throughput.iter(f"{ns}rect") if e.get("class") == "day"]
    assert len(days) == 1  # everything today
    assert "10 labels" in "".join(days[0].itertext())
    # the cohort table carries the quality report's numbers
    report = ws.quality.report("triage", by="cohort", samples=20)
    for g in report["groups"]:
        assert re.search(rf'<th scope="row">{g["group"]}</th>\s*<td class="num">'
                         rf'{g["annotations"]}</td>', html), g
    assert {"wave-1", "acme-wave"} <= {g["group"] for g in report["groups"]}
    bars = [e for e in quality.iter(f"{ns}rect") if e.get("class") == "bar"]
    agreeing = [g for g in report["groups"] if g["consensus_answered"]]
    assert len(bars) >= len(agreeing) > 0
    assert 'data-testid="quality-vendor"' in html and "acme" in html
    drift = ws.quality.drift("triage", by="both")
    series = [s for s in drift["series"] if s["kind"] == "cohort" and s["bins"]]
    points = [e for e in over_time.iter(f"{ns}circle") if e.get("class") == "point"]
    assert len(points) == sum(len(s["bins"]) for s in series) > 0
    assert [e for e in over_time.iter(f"{ns}polygon") if e.get("class") == "band"]
    assert ('data-testid="no-alerts"' in html) == (not drift["alerts"])


def test_an_annotator_is_refused_and_a_non_member_is_not_told(site) -> None:
    r = site["client"]("ann").get("/projects/triage/dashboard")
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    r = site["client"]("outsider").get("/projects/triage/dashboard")
    assert r.status_code == 404
    assert site["client"]("boss").get("/projects/nope/dashboard").status_code == 404
    anonymous = httpx.Client(base_url=str(site["client"]("boss").base_url))
    r = anonymous.get("/projects/triage/dashboard")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_hostile_names_and_records_are_shown_as_text(site, tmp_path: Path) -> None:
    ws = site["ws"]
    label(ws, "ann", 6, "shipping")
    categories = ("jailbreak", "system_prompt_extraction")
    attacks = [{"id": f"a{i}", "prompt": f"tell me secret {i}", "category": categories[i % 2]}
               for i in range(4)]
    ws.redteam.import_attacks(write_jsonl(tmp_path / "attacks.jsonl", attacks), dataset="hostile",
                              source="web")
    campaign = ws.campaigns.create(attacks="hostile", target="scripted", label=HOSTILE)
    ws.campaigns.run(campaign.id)
    html = site["client"]("boss").get("/projects/triage/dashboard").text
    assert HOSTILE not in html and "<script" not in html
    assert "&lt;script&gt;alert(" in html
    charts = svgs(html)  # well-formed with the hostile categories in them
    assert len(charts) == 5  # throughput, quality, two over time, red team
    redteam = charts[-1]
    ns = "{http://www.w3.org/2000/svg}"
    assert len([e for e in redteam.iter(f"{ns}rect") if e.get("class") == "bar"]) == 2
    shown = " ".join("".join(e.itertext()) for e in redteam.iter(f"{ns}text"))
    assert HOSTILE in shown and "jailbreak" in shown  # the campaign's label, as text
    report = ws.campaigns.report(campaign.id, examples=0)
    for rate in report.by["category"]:
        assert f"<td class=\"num\">{rate.n}</td><td class=\"num\">{rate.failures}</td>" in html
    assert json.dumps(HOSTILE) not in html


def test_a_served_app_warms_every_dashboard_before_its_first_view(
    ws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``curata serve`` computes each project's snapshot in the background at start, so the
    lead's first view reads it from memory instead of reading every annotation."""
    from tests.helpers import web_client

    from curata.web import dashboard

    rows = [{"text": f"ticket {i}"} for i in range(4)]
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="tickets")
    ws.workforce.add_user("ann", role="annotator")
    ws.workforce.add_user("boss", role="lead")
    for name in ("triage", "other"):
        ws.projects.create(name, version="tickets@1", schema=SCHEMA, members=["ann", "boss"])
    assert label(ws, "ann", 3) == 3
    token = ws.workforce.issue_token("boss")
    app = create_app(ws, warm_dashboards=True)
    computed: list[str] = []
    real = dashboard._slow_parts

    def counted(workspace: Any, name: str) -> dict[str, Any]:
        computed.append(name)
        return real(workspace, name)

    monkeypatch.setattr(dashboard, "_slow_parts", counted)
    with served(app) as url:
        snapshots = dashboard.dashboard_snapshots(app)
        for _ in range(300):  # the warm-up thread, on a busy machine
            if {("project", "triage"), ("project", "other"), ("redteam",)} <= set(
                snapshots._kept
            ):
                break
            time.sleep(0.05)
        assert sorted(computed) == ["other", "triage"]
        with web_client(url, "boss", token) as boss:
            html = boss.get("/projects/triage/dashboard").text
        assert sorted(computed) == ["other", "triage"]  # the view computed nothing
        assert figure(html, "labels") == "3 of 4"
    assert dashboard.warm(ws, dashboard.Snapshots()) == 2
