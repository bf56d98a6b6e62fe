"""The project admin page's serving and membership controls over a real socket (SQLite and
PostgreSQL): gold share, lease time, review and calibration policies changed through
:class:`~curata.annotation.projects.ProjectService` (a bad value is a 422 naming the field,
nothing changed), a member removed (the leases they held end, what they submitted stays), only
a lead of the project may, and the audit log names the signed-in lead, not the server."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import served, write_jsonl
from tests.helpers import client_for, form_field

from curata.api.app import create_app
from curata.core.errors import ConflictError, ValidationError
from curata.store.tables import AnnotationRow, AssignmentRow, TaskRow

SCHEMA = {"questions": [{"type": "label", "name": "topic", "labels": ["billing", "shipping"]}]}
SETTINGS = "/projects/triage/admin/settings"


@pytest.fixture
def site(ws: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    rows = [{"text": f"ticket {i}"} for i in range(3)]
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="tickets")
    for name, role, vendor in (
        ("boss", "lead", None),
        ("ann", "annotator", None),
        ("newbie", "annotator", None),
        ("outsider", "lead", None),
        ("vlead", "lead", "acme"),
    ):
        ws.workforce.add_user(name, role=role, vendor=vendor)
    ws.projects.create(
        "triage",
        version="tickets@1",
        schema=SCHEMA,
        overlap=1,
        owner="boss",
        members=["ann", "newbie", "vlead"],
        lease_seconds=900,
    )
    tokens = {u: ws.workforce.issue_token(u) for u in ("boss", "ann", "outsider", "vlead")}
    with served(create_app(ws)) as url:
        yield {"url": url, "tokens": tokens, "ws": ws}


def actors(ws: Any, action: str) -> list[str]:
    return [e.actor for e in ws.audit.list(object_ref="triage", action=action)]


def test_gold_share_lease_review_and_calibration_are_changed_and_checked(
    site: dict[str, Any],
) -> None:
    ws = site["ws"]
    with client_for(site, "boss") as client:
        token = form_field(client.get("/projects/triage/admin").text, "csrf")

        def post(part: str, **fields: str) -> httpx.Response:
            return client.post(SETTINGS, data={"csrf": token, "part": part, **fields})

        changed = post("gold_share", gold_share="0.2")
        assert changed.status_code == 303
        assert "Gold share changed." in client.get(changed.headers["location"]).text
        assert post("lease", lease_seconds="600").status_code == 303
        assert post("review", mode="sample", rate="0.25", threshold="0.5").status_code == 303
        assert (
            post(
                "calibration", size="3", threshold="0.7", rule="upper", retraining="Read section 2"
            ).status_code
            == 303
        )
        project = ws.projects.get("triage")
        assert (project.gold_share, project.lease_seconds) == (0.2, 600)
        settings = ws.projects.settings("triage")[0]
        assert settings["review"] == {
            "mode": "sample",
            "rate": 0.25,
            "threshold": 0.5,
            "gold_miss": False,
        }
        assert settings["calibration"] == {
            "size": 3,
            "threshold": 0.7,
            "rule": "upper",
            "retraining": "Read section 2",
        }
        html = client.get("/projects/triage/admin").text
        assert 'data-testid="gold-share">20% of served items' in html
        assert 'data-testid="lease">600 s' in html
        assert re.search(r'data-testid="review">mode sample, rate 0.25<', html)
        assert (
            'data-testid="calibration">3 items, pass at 0.7 (rule upper); retraining: '
            "Read section 2<"
        ) in html
        assert re.search(r'<option value="upper" selected>', html)

        for part, fields, message in (
            ("gold_share", {"gold_share": "1"}, "gold share: must be in [0, 1)"),
            ("gold_share", {"gold_share": "-0.1"}, "gold share: must be in [0, 1)"),
            ("gold_share", {"gold_share": "nan"}, "gold share: must be in [0, 1)"),
            ("gold_share", {"gold_share": "a lot"}, "gold share: must be a number"),
            ("lease", {"lease_seconds": "5"}, "lease: must be 10 to 604800 seconds"),
            ("lease", {"lease_seconds": "9999999"}, "lease: must be 10 to 604800 seconds"),
            ("lease", {"lease_seconds": "1.5"}, "lease: must be a whole number"),
            (
                "review",
                {"mode": "often", "rate": "0.1", "threshold": "0.5"},
                "review mode: 'often' is not one of none, sample, all, disagreement",
            ),
            (
                "review",
                {"mode": "sample", "rate": "2", "threshold": "0.5"},
                "review rate: must be in [0, 1]",
            ),
            (
                "review",
                {"mode": "sample", "rate": "", "threshold": "0.5"},
                "review rate: must be a number",
            ),
            (
                "calibration",
                {"size": "-1", "threshold": "0.8", "rule": "point"},
                "calibration size: must be a whole number >= 0",
            ),
            (
                "calibration",
                {"size": "2", "threshold": "0.9", "rule": "lower"},
                "calibration size: with rule 'lower', even 2 of 2 correct cannot pass",
            ),
            (
                "calibration",
                {"size": "2", "threshold": "1.5", "rule": "point"},
                "calibration threshold: must be in [0, 1]",
            ),
            (
                "calibration",
                {"size": "2", "threshold": "0.8", "rule": "best"},
                "calibration rule: 'best' is not one of point, lower, upper",
            ),
        ):
            bad = post(part, **fields)
            assert bad.status_code == 422 and message in unescape(bad.text), (part, fields)
        assert ws.projects.get("triage") == project
        assert ws.projects.settings("triage")[0] == settings
    for action in ("gold_share", "lease", "review", "calibration"):
        assert actors(ws, f"project.{action}") == ["boss"], action
    event = ws.audit.list(object_ref="triage", action="project.lease")[0]
    assert event.details == {"from": 900, "to": 600}


def test_the_existing_forms_audit_the_signed_in_lead(site: dict[str, Any]) -> None:
    ws = site["ws"]
    ws.workforce.add_user("late", role="annotator")
    with client_for(site, "boss") as client:
        token = form_field(client.get("/projects/triage/admin").text, "csrf")
        for fields in (
            {"part": "overlap", "overlap": "2"},
            {"part": "aggregation", "outside_votes": "forbid"},
            {"part": "gates", "min_annotations": "1"},
            {"part": "members", "users": "late"},
        ):
            assert client.post(SETTINGS, data={"csrf": token, **fields}).status_code == 303
    for action in ("overlap", "aggregation", "gates", "members"):
        assert actors(ws, f"project.{action}") == ["boss"], action
    ws.projects.set_overlap("triage", 1)  # the CLI's way: the workspace's user
    assert actors(ws, "project.overlap") == ["tester", "boss"]


def test_removing_a_member_ends_their_leases_and_keeps_their_work(site: dict[str, Any]) -> None:
    ws = site["ws"]
    done = ws.queue.next_task("triage", "ann")
    ws.queue.submit(done.assignment_id, "ann", {"topic": "billing"})
    held = ws.queue.next_task("triage", "ann")
    with client_for(site, "ann") as client:
        assert client.get("/projects/triage/annotate").status_code == 200
        with client_for(site, "boss") as lead:
            page = lead.get("/projects/triage/admin").text
            assert re.search(r'<select id="remove-user" name="user">.*>ann<', page, re.S)
            assert '<option value="boss">' not in page  # the owner stays
            token = form_field(page, "csrf")
            removed = lead.post(SETTINGS, data={"csrf": token, "part": "remove", "user": "ann"})
            assert removed.status_code == 303
            assert "Member removed" in lead.get(removed.headers["location"]).text
            for user, message in (
                ("boss", "'boss' owns project 'triage'"),
                ("ann", "user 'ann' is not a member"),
                ("nobody", "unknown user 'nobody'"),
            ):
                bad = lead.post(SETTINGS, data={"csrf": token, "part": "remove", "user": user})
                assert bad.status_code == 422 and message in unescape(bad.text), user
        # at once an outsider: the server forgot the scope it remembered for ann (404, as a
        # project one may not see), not after SCOPE_CACHE_SECONDS
        refused = client.get("/projects/triage/annotate")
        assert refused.status_code == 404 and "assignment_id" not in refused.text
    project = ws.projects.get("triage")
    assert "ann" not in project.members and "boss" in project.members
    assert (project.annotations, project.complete) == (1, 1)
    with ws.projects.sessions() as session:
        lease = session.get(AssignmentRow, held.assignment_id)
        assert lease is not None and lease.status == "expired"
        task = session.get(TaskRow, lease.task_id)
        assert task is not None and (task.assigned, task.is_open) == (0, True)
        kept = session.scalars(select(AnnotationRow.status)).all()
        assert kept == ["submitted"]
    with pytest.raises(ConflictError, match=r"no longer held|expired"):
        ws.queue.submit(held.assignment_id, "ann", {"topic": "shipping"})
    served = []  # the released item is open to the next annotator
    while (view := ws.queue.next_task("triage", "newbie")) is not None:
        served.append(view.record["text"])
        ws.queue.submit(view.assignment_id, "newbie", {"topic": "shipping"})
    assert held.record["text"] in served and done.record["text"] not in served
    event = ws.audit.list(object_ref="triage", action="project.members")[0]
    assert (event.actor, event.details) == ("boss", {"removed": ["ann"], "released": 1})


def test_only_a_lead_of_the_project_changes_it(site: dict[str, Any]) -> None:
    ws = site["ws"]
    before = ws.projects.get("triage")
    with client_for(site, "ann") as client:
        token = form_field(client.get("/").text, "csrf")
        for fields in (
            {"part": "remove", "user": "newbie"},
            {"part": "lease", "lease_seconds": "60"},
        ):
            assert client.post(SETTINGS, data={"csrf": token, **fields}).status_code == 403
    with client_for(site, "outsider") as client:
        token = form_field(client.get("/").text, "csrf")
        assert (
            client.post(
                SETTINGS, data={"csrf": token, "part": "remove", "user": "newbie"}
            ).status_code
            == 404
        )
    with client_for(site, "vlead") as client:  # a vendor's lead manages, but never sees gold
        page = client.get("/projects/triage/admin").text
        assert 'data-testid="lease-form"' in page and "gold-share" not in page
        refused = client.post(
            SETTINGS,
            data={"csrf": form_field(page, "csrf"), "part": "gold_share", "gold_share": "0.5"},
        )
        assert refused.status_code == 403 and "gold share: only in-house" in refused.text
    assert ws.projects.get("triage") == before
    assert not actors(ws, "project.members") and not actors(ws, "project.lease")


def test_the_services_check_what_the_page_does_not_send(ws: Any, tmp_path: Path) -> None:
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", [{"text": "a"}])], source="web", dataset="tickets")
    ws.projects.create("triage", version="tickets@1", schema=SCHEMA)
    checks: list[tuple[Callable[[], object], str]] = [
        (
            lambda: ws.projects.set_review("triage", {"mode": "all", "often": 1}),
            "review often: not a review setting",
        ),
        (
            lambda: ws.projects.set_review("triage", {"rate": "half"}),
            "review rate: must be a number",
        ),
        (
            lambda: ws.projects.set_review("triage", {"gold_miss": "yes"}),
            "review gold_miss: must be true or false",
        ),
        (
            lambda: ws.projects.set_calibration("triage", {"size": 1, "when": "now"}),
            "calibration when: not a calibration setting",
        ),
        (
            lambda: ws.projects.set_calibration("triage", {"retraining": 3}),
            "calibration retraining: must be text",
        ),
        (lambda: ws.projects.set_lease("triage", 0), "lease: must be 10 to"),
    ]
    for call, message in checks:
        with pytest.raises(ValidationError, match=re.escape(message)):
            call()
    assert ws.projects.set_review("triage", {"mode": "all"}) == {
        "mode": "all",
        "rate": 0.1,
        "threshold": 0.67,
        "gold_miss": True,
    }
    assert ws.projects.set_calibration("triage", {"size": 0})["rule"] == "point"
    assert actors(ws, "project.review") == ["tester"]
