"""The dashboard's open remediation briefs panel: the project's open briefs only, hostile text
shown as text, overdue ones marked, and nothing of it for a vendor's lead."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import served, write_jsonl
from tests.helpers import web_client

from curata.api.app import create_app

HOSTILE = "<script>alert('x')</script>"
SCHEMA = {"questions": [{"type": "label", "name": "topic", "labels": ["billing", "shipping"]}]}
SOON = (datetime.now(UTC).date() + timedelta(days=14)).isoformat()


def test_the_panel_lists_the_projects_open_briefs(ws: Any, tmp_path: Path) -> None:
    rows = [{"text": f"ticket {i}", "lang": "de" if i % 2 else "en"} for i in range(4)]
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="tickets")
    ws.workforce.add_user("boss", role="lead")
    ws.workforce.add_user("acme-lead", role="lead", vendor="acme")
    for name in ("triage", "other"):
        ws.projects.create(name, version="tickets@1", schema=SCHEMA,
                           members=["boss", "acme-lead"])  # fmt: skip

    def brief(project: str, reason: str, **more: Any) -> Any:
        return ws.briefs.create("annotation", target={"project": project, "filter": {"lang": "de"}},
                                volume=5, reason=reason, owner="boss", **more)  # fmt: skip

    hostile = brief("triage", HOSTILE, due=SOON)
    late = brief("triage", "late one", due="2020-02-01", today=date(2020, 1, 1))
    closed = brief("triage", "done one", due=SOON)
    ws.briefs.close(closed.id, ineffective=True)
    brief("other", "not this project", due=SOON)
    tokens = {u: ws.workforce.issue_token(u) for u in ("boss", "acme-lead")}
    with served(create_app(ws)) as url:
        with web_client(url, "boss", tokens["boss"]) as boss:
            r = boss.get("/projects/triage/dashboard")
            assert r.status_code == 200, r.text
            html = r.text
        with web_client(url, "acme-lead", tokens["acme-lead"]) as vendor_lead:
            vendor_html = vendor_lead.get("/projects/triage/dashboard").text
    panel = html[html.index('data-testid="briefs"') : html.index('data-testid="versions"')]
    listed = re.findall(r'<tr data-testid="brief"[^>]*><th scope="row">(\d+) ', panel)
    assert listed == [str(late.id), str(hostile.id)]  # soonest due first; closed and other out
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in panel and HOSTILE not in html
    assert panel.count('data-testid="overdue"') == 1
    late_row = re.search(rf'<tr data-testid="brief" class="gap"><th scope="row">{late.id} ', panel)
    assert late_row and "2020-02-01" in panel
    assert "0/2 tasks done" in panel and "filter=lang:de" in panel and "boss" in panel
    assert "not this project" not in panel
    # the closed brief is not among the open ones but under "Recently closed", with its outcome
    open_part, closed_part = panel.split('data-testid="closed-briefs-table"')
    assert "done one" not in open_part
    [row] = re.findall(r'<tr data-testid="closed-brief">(.*?)</tr>', closed_part)
    assert f'<th scope="row">{closed.id} (ineffective)</th>' in row and "done one" in row
    assert 'data-testid="briefs"' not in vendor_html  # briefs may name vendors and cohorts
