"""Signing in to the web application over a real socket: a session token of its own, CSRF on
every form, expiry, sign-out and revocation ending the session, no open redirect."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from tests.conftest import served, write_jsonl
from tests.helpers import form_field, sign_in

from curata.api.app import create_app
from curata.store.tables import ApiTokenRow
from curata.store.tables.base import utcnow


@pytest.fixture
def site(ws: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    rows = [{"text": "<script>alert(1)</script> ticket"}]
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="tickets")
    ws.workforce.add_user("ann", role="annotator")
    ws.workforce.add_user("outsider", role="annotator")
    ws.projects.create("triage", version="tickets@1", members=["ann"], schema={
        "questions": [{"type": "label", "name": "topic", "labels": ["a", "b"]}]})
    tokens = {u: ws.workforce.issue_token(u) for u in ("ann", "outsider")}
    with served(create_app(ws)) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield {"client": client, "tokens": tokens, "ws": ws, "url": url}


def csrf_of(html: str) -> str:
    return form_field(html, "csrf")


def test_a_page_sends_a_stranger_to_sign_in_and_back(site: dict[str, Any]) -> None:
    client = site["client"]
    first = client.get("/?x=1")
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=/%3Fx%3D1"
    done = sign_in(client, "ann", site["tokens"]["ann"], "/?x=1")
    assert done.status_code == 303 and done.headers["location"] == "/?x=1"
    cookie = done.headers["set-cookie"]
    assert "curata_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = client.get("/")
    assert home.status_code == 200 and "triage" in home.text
    assert 'data-testid="who">ann <span' in home.text
    assert "script-src 'self'" in home.headers["content-security-policy"]
    # the browser holds a token of its own, not the API token it signed in with
    session = client.cookies.get("curata_session")
    assert session and session != site["tokens"]["ann"]


def test_a_wrong_token_or_name_says_so_without_saying_which(site: dict[str, Any]) -> None:
    client = site["client"]
    for name, token in (("ann", "cur_wrong"), ("outsider", site["tokens"]["ann"]),
                        ("nobody", site["tokens"]["ann"]), ("", ""), ("ann", "x" * 5000)):
        answer = sign_in(client, name, token)
        assert answer.status_code == 401, (name, token[:10])
        assert "curata_session" not in answer.headers.get("set-cookie", "")
    assert "Unknown user name or token" in sign_in(client, "ann", "cur_wrong").text


def test_the_sign_in_form_must_come_from_this_site(site: dict[str, Any]) -> None:
    client = site["client"]
    client.get("/login")
    forged = client.post("/login", data={"name": "ann", "token": site["tokens"]["ann"],
                                         "nonce": "guessed"})
    assert forged.status_code == 403 and "curata_session" not in forged.headers.get(
        "set-cookie", "")
    bare = httpx.post(site["url"] + "/login", data={"name": "ann", "token": site["tokens"]["ann"],
                                                    "nonce": "x"})
    assert bare.status_code == 403


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil",
                                    "javascript:alert(1)"])
def test_no_open_redirect_after_sign_in(site: dict[str, Any], target: str) -> None:
    done = sign_in(site["client"], "ann", site["tokens"]["ann"], target)
    assert done.status_code == 303 and done.headers["location"] == "/"


def test_sign_out_needs_the_csrf_token_and_ends_the_session(site: dict[str, Any]) -> None:
    client, ws = site["client"], site["ws"]
    sign_in(client, "ann", site["tokens"]["ann"])
    session = client.cookies.get("curata_session")
    home = client.get("/")
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert client.get("/").status_code == 200  # still signed in
    out = client.post("/logout", data={"csrf": csrf_of(home.text)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    # the token is revoked, not only the cookie dropped: replaying it gets nowhere
    replay = httpx.get(site["url"] + "/", cookies={"curata_session": session})
    assert replay.status_code == 303
    assert ws.workforce.authenticate(session) is None
    # the API token used to sign in still works
    assert ws.workforce.authenticate(site["tokens"]["ann"]) is not None


def test_revoking_a_users_tokens_ends_their_browser_sessions(site: dict[str, Any]) -> None:
    client, ws = site["client"], site["ws"]
    sign_in(client, "ann", site["tokens"]["ann"])
    session = client.cookies.get("curata_session")
    assert client.get("/").status_code == 200
    ws.workforce.revoke_tokens("ann")
    assert ws.workforce.authenticate(session) is None
    assert httpx.get(site["url"] + "/", cookies={"curata_session": session}).status_code == 303


def test_an_expired_session_is_refused(site: dict[str, Any]) -> None:
    ws = site["ws"]
    _user, session = ws.workforce.sign_in("ann", site["tokens"]["ann"], hours=1)
    assert ws.workforce.authenticate(session) is not None
    with ws.projects.sessions.begin() as db:
        db.execute(update(ApiTokenRow).where(ApiTokenRow.purpose == "web")
                   .values(expires_at=utcnow() - timedelta(seconds=1)))
        kinds = db.scalars(select(ApiTokenRow.purpose)).all()
    assert sorted(kinds).count("web") == 1
    ws.workforce._auth_cache.clear()  # a hand edit: what AUTH_CACHE_SECONDS does on its own
    assert ws.workforce.authenticate(session) is None


def test_page_errors_are_pages_and_the_api_keeps_json(site: dict[str, Any]) -> None:
    client = site["client"]
    sign_in(client, "outsider", site["tokens"]["outsider"])
    api = client.get("/api/v1/projects/nope", headers={
        "Authorization": f"Bearer {site['tokens']['outsider']}"})
    assert api.status_code == 404 and api.json()["detail"]
    static = client.get("/static/curata.css")
    assert static.status_code == 200 and "text/css" in static.headers["content-type"]


def test_pages_say_how_long_the_server_took_and_the_api_does_not(site: dict[str, Any]) -> None:
    client = site["client"]
    timing = client.get("/login").headers.get("server-timing", "")
    found = re.fullmatch(r"app;dur=(\d+\.\d)", timing)
    assert found and 0.0 <= float(found.group(1)) < 60_000
    api = client.get("/api/v1/me", headers={"Authorization": f"Bearer {site['tokens']['ann']}"})
    assert api.status_code == 200 and "server-timing" not in api.headers


def test_the_navigation_links_red_team_pages_only_for_who_may_read_them(
    site: dict[str, Any],
) -> None:
    ws, client = site["ws"], site["client"]
    ws.workforce.add_user("boss", role="lead")
    sign_in(client, "ann", site["tokens"]["ann"])
    assert 'href="/redteam"' not in client.get("/").text  # an annotator
    with httpx.Client(base_url=site["url"]) as lead:
        sign_in(lead, "boss", ws.workforce.issue_token("boss"))
        assert 'href="/redteam"' in lead.get("/").text
