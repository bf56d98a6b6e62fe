"""Project admin over a real socket (SQLite and PostgreSQL): the lead sees the schema, settings,
members and guideline versions, diffs two versions (hostile text shown as text), changes
settings through the services, releases with the gates passing (a new version) or is refused
with the failing gates' numbers; annotators 403, outsiders 404, forged forms 403."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import served, write_jsonl
from tests.helpers import client_for, csrf

from curata.api.app import create_app

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(1)>"
SCHEMA = {"questions": [{"type": "label", "name": "topic", "labels": ["billing", "shipping"]}]}


@pytest.fixture
def site(ws: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    rows = [{"text": f"ticket {i}"} for i in range(2)]
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="tickets")
    ws.workforce.add_user("ann", role="annotator", vendor="acme", cohorts=["acme-en"])
    for name, role in (("boss", "lead"), ("outsider", "lead"), ("newbie", "annotator")):
        ws.workforce.add_user(name, role=role)
    ws.projects.create("triage", version="tickets@1", schema=SCHEMA, overlap=1, owner="boss",
                       members=["ann", "boss"], lease_seconds=900)
    ws.projects.guidelines.publish("triage", "Label the topic.\nBe careful.", note="first")
    ws.projects.guidelines.publish("triage", f"Label the topic.\nNever run {HOSTILE}.",
                                   note=f"second {HOSTILE}")
    for _ in range(2):  # one annotation per item: min_annotations 1 passes, 2 fails
        task = ws.queue.next_task("triage", "ann")
        ws.queue.submit(task.assignment_id, "ann", {"topic": "billing"})
    tokens = {u: ws.workforce.issue_token(u) for u in ("ann", "boss", "outsider")}
    with served(create_app(ws)) as url:
        yield {"url": url, "tokens": tokens, "ws": ws}


def test_the_lead_sees_schema_settings_members_and_guidelines(site: dict[str, Any]) -> None:
    with client_for(site, "boss") as client:
        assert 'href="/projects/triage/admin"' in client.get("/").text
        page = client.get("/projects/triage/admin")
        assert page.status_code == 200
        html = page.text
        assert "<script>alert" not in html and "&lt;script&gt;" in html  # the note, as text
        assert re.search(r'<th scope="row">topic</th><td>label</td><td>billing, shipping</td>',
                         html)
        assert re.search(r'data-testid="overlap">1 annotator', html)
        assert 'data-testid="lease">900 s' in html
        assert 'data-testid="gold-share">0% of served items' in html
        assert re.search(r'data-testid="review">mode none', html)
        assert 'data-testid="aggregation">outside votes: review' in html
        assert re.search(r'data-testid="gates">\s*none', html)
        assert re.findall(r"<th scope=\"row\">v(\d+)</th>", html) == ["2", "1"]
        assert ">first<" in html
        members = re.findall(r'<tr><th scope="row">(\w+)</th><td>(\w+)</td><td>([^<]*)</td>'
                             r"<td>([^<]*)</td></tr>", html)
        assert ("ann", "annotator", "acme-en", "acme") in members
        assert ("boss", "lead", "—", "in-house") in members
        assert re.search(r'data-testid="vendors">.*<th scope="row">acme</th><td>ann</td>',
                         html, re.S)
        assert 'data-testid="release-form"' in html


def test_the_guideline_diff_shows_hostile_text_as_text(site: dict[str, Any]) -> None:
    with client_for(site, "boss") as client:
        page = client.get("/projects/triage/admin/guideline-diff", params={"a": 1, "b": 2})
        assert page.status_code == 200
        html = page.text
        assert "<script>alert" not in html and "onerror=alert(1)>" not in html
        assert '<span class="del">-Be careful.</span>' in html
        assert ('<span class="add">+Never run &lt;script&gt;alert(1)&lt;/script&gt;'
                "&lt;img src=x onerror=alert(1)&gt;.</span>") in html
        assert '<span class="same"> Label the topic.</span>' in html
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert client.get("/projects/triage/admin/guideline-diff",
                          params={"a": 1, "b": 9}).status_code == 404
        assert client.get("/projects/triage/admin/guideline-diff").status_code == 404


def test_settings_changes_reach_the_services(site: dict[str, Any]) -> None:
    ws = site["ws"]
    with client_for(site, "boss") as client:
        token = csrf(client.get("/projects/triage/admin").text)
        changed = client.post("/projects/triage/admin/settings", data={
            "csrf": token, "part": "overlap", "overlap": "2"})
        assert changed.status_code == 303
        assert "Overlap changed." in client.get(changed.headers["location"]).text
        assert ws.projects.get("triage").overlap == 2
        bad = client.post("/projects/triage/admin/settings", data={
            "csrf": token, "part": "overlap", "overlap": "0"})
        assert bad.status_code == 422 and "overlap: must be at least 1" in bad.text
        assert ws.projects.get("triage").overlap == 2
        assert client.post("/projects/triage/admin/settings", data={
            "csrf": token, "part": "aggregation", "outside_votes": "forbid"}).status_code == 303
        assert ws.quality.annotations("triage").settings["aggregation"] == {
            "outside_votes": "forbid"}
        gated = client.post("/projects/triage/admin/settings", data={
            "csrf": token, "part": "gates", "alpha.topic": "0.5", "min_annotations": "1",
            "gold_accuracy": ""})
        assert gated.status_code == 303
        assert ws.quality.annotations("triage").settings["gates"] == {
            "alpha": {"topic": 0.5}, "min_annotations": 1}
        html = client.get("/projects/triage/admin").text
        assert "alpha[topic] &ge; 0.5" in html and "min_annotations &ge; 1" in html
        for data, message in (({"min_annotations": "x"}, "must be a whole number"),
                              ({"gold_accuracy": "3"}, "gates.gold_accuracy: must be in")):
            bad = client.post("/projects/triage/admin/settings",
                              data={"csrf": token, "part": "gates", **data})
            assert bad.status_code == 422 and message in bad.text, data
        added = client.post("/projects/triage/admin/settings", data={
            "csrf": token, "part": "members", "users": "newbie"})
        assert added.status_code == 303
        assert "newbie" in ws.projects.get("triage").members
        unknown = client.post("/projects/triage/admin/settings", data={
            "csrf": token, "part": "members", "users": "nobody"})
        assert unknown.status_code == 422 and "unknown user" in unknown.text


def test_release_with_passing_gates_creates_the_version(site: dict[str, Any]) -> None:
    ws = site["ws"]
    ws.projects.set_gates("triage", {"min_annotations": 1})
    with client_for(site, "boss") as client:
        token = csrf(client.get("/projects/triage/admin").text)
        done = client.post("/projects/triage/admin/release", data={"csrf": token})
        assert done.status_code == 200
        released = re.search(r'data-testid="released">([^<]+)<', done.text)
        assert released and released.group(1) == "triage-labels@1"
        row = re.search(r'<tr class="pass">\s*<th scope="row">min_annotations</th>\s*'
                        r'<td class="num">([^<]+)</td>\s*<td class="num">([^<]+)</td>',
                        done.text)
        assert row and row.groups() == ("1.000", "1")
    assert ws.datasets.version("triage-labels@1").ref == "triage-labels@1"


def test_a_failing_gate_refuses_the_release_and_shows_the_numbers(site: dict[str, Any]) -> None:
    ws = site["ws"]
    ws.projects.set_gates("triage", {"min_annotations": 2})
    with client_for(site, "boss") as client:
        token = csrf(client.get("/projects/triage/admin").text)
        refused = client.post("/projects/triage/admin/release", data={"csrf": token})
        assert refused.status_code == 422
        html = refused.text
        assert "Release refused" in html and "nothing was released" in html
        row = re.search(r'<tr class="fail">\s*<th scope="row">min_annotations</th>\s*'
                        r'<td class="num">([^<]+)</td>\s*<td class="num">([^<]+)</td>\s*'
                        r'<td class="num">([^<]+)</td>', html)
        assert row and row.groups() == ("1.000", "2", "1.000")
        assert "2 items have fewer" in html
    assert not [d for d in ws.datasets.list() if d.name == "triage-labels"]


def test_access_follows_the_api_rules(site: dict[str, Any]) -> None:
    with client_for(site, "ann") as client:
        page = client.get("/projects/triage/admin")
        assert page.status_code == 403 and "Not allowed" in page.text
        assert client.get("/projects/triage/admin/guideline-diff",
                          params={"a": 1, "b": 2}).status_code == 403
        token = csrf(client.get("/").text)
        assert client.post("/projects/triage/admin/release",
                           data={"csrf": token}).status_code == 403
    with client_for(site, "outsider") as client:
        assert client.get("/projects/triage/admin").status_code == 404
        assert client.get("/projects/triage/admin/guideline-diff",
                          params={"a": 1, "b": 2}).status_code == 404
    ws = site["ws"]
    with client_for(site, "boss") as client:
        forged = client.post("/projects/triage/admin/settings", data={
            "csrf": "forged", "part": "overlap", "overlap": "3"})
        assert forged.status_code == 403
        assert client.post("/projects/triage/admin/release",
                           data={"csrf": "forged"}).status_code == 403
    assert ws.projects.get("triage").overlap == 1
    assert not [d for d in ws.datasets.list() if d.name == "triage-labels"]
