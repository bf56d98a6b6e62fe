"""Vendors as partners (#16): terms recorded and audited, the permitted sensitivity applied by
the queue, revoking a vendor cuts its users off at once (here and, within the epoch check, in
another process), and the hand-over export. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import log_in, served, write_jsonl

from curata.annotation import workforce as wf
from curata.annotation.workforce import EPOCH_CHECK_SECONDS, WorkforceService
from curata.api.app import create_app
from curata.core.errors import (
    AlreadyExistsError,
    AuthError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ValidationError,
)

SCHEMA = {"questions": [{"type": "label", "name": "topic", "labels": ["billing", "shipping"]}]}
GOOD = {"topic": "billing"}


@pytest.fixture
def world(ws, tmp_path: Path) -> Any:
    """Project "p" over three records (two internal, one confidential), overlap 3, review of
    every annotation; acme's v1 and v2, beta's w1 and in-house "own" (all cleared restricted),
    reviewer "rev"."""
    ws.sources.add("clinic", kind="vendor", license="LicenseRef-dua", origin="s3://c",
                   sensitivity="confidential")  # fmt: skip
    ws.ingest([write_jsonl(tmp_path / "a.jsonl", [{"text": "note 0"}, {"text": "note 1"}])],
              source="web", dataset="mix")  # fmt: skip
    ws.ingest([write_jsonl(tmp_path / "b.jsonl", [{"text": "chart 2"}])], source="clinic",
              dataset="mix", append=True)  # fmt: skip
    for name, vendor in (("v1", "acme"), ("v2", "acme"), ("w1", "beta"), ("own", None)):
        ws.workforce.add_user(name, vendor=vendor, clearance="restricted")
    ws.workforce.add_user("rev", role="reviewer", clearance="restricted")
    members = ["v1", "v2", "w1", "own", "rev"]
    ws.projects.create("p", version="mix@2", schema=SCHEMA, overlap=3, members=members,
                       review={"mode": "all"})  # fmt: skip
    return ws


def _served_texts(ws: Any, user: str) -> list[str]:
    texts = []
    while (view := ws.queue.next_task("p", user)) is not None:
        texts.append(view.record["text"])
        ws.queue.submit(view.assignment_id, user, GOOD)
    return sorted(texts)


def _events(ws: Any, action: str) -> list[dict[str, Any]]:
    with ws.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT details FROM audit_events WHERE action = :a ORDER BY id"),
            {"a": action},
        ).all()
    return [d if isinstance(d, dict) else json.loads(d) for (d,) in rows]


def test_terms_are_recorded_validated_and_audited(world) -> None:
    ws = world
    assert ws.vendors.vendor("acme").max_sensitivity is None
    v = ws.vendors.set_terms("acme", ownership="Client owns all output", ip="assigned to client",
                             retention_days=90, max_sensitivity="internal")  # fmt: skip
    assert (v.name, v.members, v.data_ownership, v.ip) == (
        "acme", 2, "Client owns all output", "assigned to client")  # fmt: skip
    assert (v.retention_days, v.max_sensitivity, v.revoked_at) == (90, "internal", None)
    assert v.terms_updated_at is not None
    again = ws.vendors.set_terms("acme", retention_days=30)  # the rest stays
    assert (again.retention_days, again.ip, again.max_sensitivity) == (
        30, "assigned to client", "internal")  # fmt: skip
    for bad in ({"retention_days": 0}, {"retention_days": 36_501}, {"max_sensitivity": "secret"}):
        with pytest.raises(ValidationError):
            ws.vendors.set_terms("acme", **bad)
    with pytest.raises(NotFoundError, match="unknown vendor 'nope'"):
        ws.vendors.set_terms("nope", ip="x")
    assert [x.name for x in ws.vendors.vendors()] == ["acme", "beta"]
    assert ws.vendors.vendor("acme").to_dict()["retention_days"] == 30
    first, second = _events(ws, "vendor.terms")
    assert first["before"]["max_sensitivity"] is None
    assert first["after"]["max_sensitivity"] == "internal"
    assert (second["before"]["retention_days"], second["after"]["retention_days"]) == (90, 30)


def test_a_term_can_be_cleared_and_not_set_and_cleared_at_once(world) -> None:
    ws = world
    ws.vendors.set_terms("acme", ownership="client", ip="client", retention_days=90,
                         max_sensitivity="internal")  # fmt: skip
    v = ws.vendors.set_terms("acme", clear=["retention_days", "max_sensitivity", "ip"])
    assert (v.retention_days, v.max_sensitivity, v.ip, v.data_ownership) == (
        None, None, "", "client")  # fmt: skip
    with pytest.raises(ValidationError, match="'retention' is not one of ownership"):
        ws.vendors.set_terms("acme", clear=["retention"])
    with pytest.raises(ValidationError, match="ownership: both set and cleared"):
        ws.vendors.set_terms("acme", ownership="x", clear=["ownership"])
    assert ws.vendors.vendor("acme").data_ownership == "client"  # the refusals changed nothing
    cleared = _events(ws, "vendor.terms")[-1]
    assert cleared["before"]["retention_days"] == 90 and cleared["after"]["retention_days"] is None


def test_the_queue_serves_a_vendor_user_nothing_above_the_vendor_cap(world) -> None:
    ws = world
    ws.vendors.set_terms("acme", max_sensitivity="internal")
    assert _served_texts(ws, "v1") == ["note 0", "note 1"]  # cleared restricted, capped
    assert _served_texts(ws, "w1") == ["chart 2", "note 0", "note 1"]  # beta: no cap
    assert _served_texts(ws, "own") == ["chart 2", "note 0", "note 1"]  # in-house
    ws.vendors.set_terms("acme", max_sensitivity="confidential")
    assert _served_texts(ws, "v1") == ["chart 2"]  # the cap is read at serving time


def _assignment(ws: Any, assignment_id: int) -> tuple[str, int, bool]:
    with ws.engine.connect() as conn:
        status, assigned, is_open = conn.execute(
            sa.text("SELECT a.status, t.assigned, t.is_open FROM assignments a "
                    "JOIN tasks t ON t.id = a.task_id WHERE a.id = :a"), {"a": assignment_id}
        ).one()  # fmt: skip
    return status, assigned, bool(is_open)


def test_revoking_a_vendor_cuts_its_users_off_at_once_and_keeps_their_work(
    world, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = world
    clock = [1_000.0]
    monkeypatch.setattr(wf.time, "monotonic", lambda: clock[0])
    t1, t2, tw = (ws.workforce.issue_token(u) for u in ("v1", "v2", "w1"))
    server = WorkforceService(ws.projects.sessions, "server")  # another process's view
    assert server.authenticate(t1).name == "v1" and ws.workforce.authenticate(t1).name == "v1"
    done = ws.queue.next_task("p", "v1")
    submitted = ws.queue.submit(done.assignment_id, "v1", GOOD).annotation_id
    held = ws.queue.next_task("p", "v1")
    assert _assignment(ws, held.assignment_id) == ("leased", 1, True)

    revoked = ws.vendors.revoke_vendor("acme", "contract ended")
    assert (revoked.users, revoked.tokens, revoked.released) == (["v1", "v2"], 2, 1)
    assert ws.workforce.authenticate(t1) is None  # this process: at once
    assert ws.workforce.authenticate(t2) is None
    assert ws.workforce.authenticate(tw).name == "w1"  # another vendor's user
    assert server.authenticate(t1).name == "v1"  # remembered until the epoch is read
    clock[0] += EPOCH_CHECK_SECONDS
    assert server.authenticate(t1) is None  # elsewhere: within a second
    with pytest.raises(ForbiddenError, match="vendor 'acme', revoked"):
        ws.workforce.issue_token("v1")
    with pytest.raises(AuthError):
        ws.workforce.sign_in("v1", t1)
    assert _assignment(ws, held.assignment_id) == ("expired", 0, True)  # the slot reopened
    assert _assignment(ws, done.assignment_id)[0] == "submitted"
    with ws.engine.connect() as conn:
        status = conn.execute(sa.text("SELECT status FROM annotations WHERE id = :i"),
                              {"i": submitted}).scalar_one()  # fmt: skip
    assert status == "submitted"
    assert ws.vendors.vendor("acme").revoked_at is not None
    (event,) = _events(ws, "vendor.revoke")
    assert event["reason"] == "contract ended" and event["tokens"] == 2
    with pytest.raises(ConflictError, match="already revoked"):
        ws.vendors.revoke_vendor("acme", "again")
    with pytest.raises(ValidationError, match="reason"):
        ws.vendors.revoke_vendor("beta", " ")
    # adding a user to a revoked vendor would hand its access back: refused, nothing stored
    with pytest.raises(ConflictError, match="vendor 'acme' is revoked"):
        ws.workforce.add_user("v3", role="annotator", vendor="acme")
    assert "v3" not in {u.name for u in ws.workforce.list()}

    ws.vendors.reinstate_vendor("acme", "new contract")
    assert ws.workforce.add_user("v3", role="annotator", vendor="acme").vendor == "acme"
    assert ws.workforce.authenticate(t1) is None  # revoked tokens stay revoked
    assert ws.workforce.authenticate(ws.workforce.issue_token("v1")).name == "v1"


def test_a_revoked_vendor_user_gets_401_from_the_api(world) -> None:
    ws = world
    token = ws.workforce.issue_token("v2")
    headers = {"Authorization": f"Bearer {token}"}
    with (
        served(create_app(ws)) as url,
        httpx.Client(base_url=f"{url}/api/v1", timeout=30) as client,
    ):
        assert client.post("/projects/p/next", headers=headers).status_code == 200
        ws.vendors.revoke_vendor("acme", "breach")
        assert client.post("/projects/p/next", headers=headers).status_code == 401


@pytest.fixture
def produced(world, tmp_path: Path) -> Any:
    """v1 labels two items (one reviewed: accepted), skips the third; "own" labels one; in
    project "cal" v1 answers the calibration item."""
    ws = world
    ws.vendors.set_terms("acme", ownership="client", ip="client", retention_days=30)
    first = ws.queue.next_task("p", "v1")
    a1 = ws.queue.submit(first.assignment_id, "v1", GOOD, duration_ms=1200).annotation_id
    second = ws.queue.next_task("p", "v1")
    ws.queue.submit(second.assignment_id, "v1", {"topic": "shipping"})
    third = ws.queue.next_task("p", "v1")
    ws.queue.skip(third.assignment_id, "v1", "other", note="cannot read it")
    ws.queue.submit(ws.queue.next_task("p", "own").assignment_id, "own", GOOD)
    ws.reviews.decide(a1, "rev", "accept")
    ws.ingest([write_jsonl(tmp_path / "c.jsonl", [{"text": "calib"}])], source="web",
              dataset="c")  # fmt: skip
    ws.projects.create("cal", version="c@1", schema=SCHEMA, members=["v1"],
                       calibration={"size": 1, "threshold": 1.0})  # fmt: skip
    rid = next(i for b in ws.datasets.iter_records("c@1") for i, _r in b)
    ws.projects.gold.add("cal", rid, {"topic": "billing"}, kind="calibration")
    cal = ws.queue.next_task("cal", "v1")
    ws.queue.submit(cal.assignment_id, "v1", GOOD)
    return {"ws": ws, "first": first, "second": second, "third": third, "a1": a1, "cal": rid}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_the_export_hands_over_everything_the_vendor_produced(produced, tmp_path: Path) -> None:
    ws = produced["ws"]
    out = tmp_path / "handover"
    seen: list[tuple[str, int]] = []
    manifest = ws.vendors.export_vendor("acme", out, progress=lambda n, r: seen.append((n, r)))
    assert seen == [("annotations.jsonl", 2), ("skips.jsonl", 1), ("calibration.jsonl", 1)]
    assert sorted(p.name for p in out.iterdir()) == [
        "annotations.jsonl", "calibration.jsonl", "manifest.json", "skips.jsonl"]  # fmt: skip
    assert json.loads((out / "manifest.json").read_text("utf-8")) == manifest
    assert manifest["vendor"] == "acme"
    assert manifest["terms"]["retention_days"] == 30 and manifest["terms"]["ip"] == "client"
    for name, info in manifest["files"].items():
        data = (out / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == info["sha256"]
        assert len(data.splitlines()) == info["rows"]

    ids = {r.text: i for b in ws.datasets.iter_records("mix@2") for i, r in b}
    first, second = _jsonl(out / "annotations.jsonl")  # "own"'s annotation is not acme's
    assert first["annotator"] == second["annotator"] == "v1"
    assert first["record_id"] == ids[produced["first"].record["text"]]
    assert (first["project"], first["answers"], first["duration_ms"]) == ("p", GOOD, 1200)
    assert first["schema_version"] == 1 and first["status"] == "accepted"
    assert [(r["tier"], r["decision"]) for r in first["reviews"]] == [("review", "accept")]
    assert second["answers"] == {"topic": "shipping"} and second["reviews"] == []
    (skip,) = _jsonl(out / "skips.jsonl")
    assert skip["record_id"] == ids[produced["third"].record["text"]]
    assert (skip["reason"], skip["note"], skip["annotator"]) == ("other", "cannot read it", "v1")
    (cal,) = _jsonl(out / "calibration.jsonl")
    assert (cal["project"], cal["record_id"], cal["right"]) == ("cal", produced["cal"], True)
    assert "gold_answers" not in cal
    (event,) = _events(ws, "vendor.export")
    assert event["files"] == manifest["files"]

    with pytest.raises(AlreadyExistsError, match="not an empty folder"):
        ws.vendors.export_vendor("acme", out)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert ws.vendors.export_vendor("beta", empty)["files"]["annotations.jsonl"]["rows"] == 0


def test_vendor_commands_end_to_end(
    produced, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from curata.cli.main import main

    ws = produced["ws"]
    monkeypatch.delenv("CURATA_DATABASE_URL", raising=False)
    log_in(ws)  # the vendor commands need an admin's token on PostgreSQL
    home = ["--home", str(ws.home)]

    def run(*args: str) -> tuple[int, Any]:
        capsys.readouterr()
        code = main([*home, "vendor", *args])
        out, err = capsys.readouterr()
        return code, json.loads(out) if code == 0 and "--json" in args else out + err

    code, terms = run("terms", "beta", "--ownership", "Beta keeps nothing", "--ip", "client",
                      "--retention-days", "7", "--max-sensitivity", "public", "--json")  # fmt: skip
    assert code == 0 and (terms["retention_days"], terms["max_sensitivity"]) == (7, "public")
    code, err = run("terms", "beta", "--retention-days", "0")
    assert code == 1 and "between 1 and 36500" in err
    code, listed = run("list", "--json")
    assert [(v["name"], v["members"]) for v in listed] == [("acme", 2), ("beta", 1)]
    code, shown = run("show", "beta", "--json")
    assert shown["data_ownership"] == "Beta keeps nothing"
    code, text = run("show", "acme")
    assert code == 0 and "retention: 30 days" in text
    code, revoked = run("revoke", "beta", "--reason", "transition", "--json")
    assert code == 0 and revoked["users"] == ["w1"]
    code, manifest = run("export", "acme", str(tmp_path / "cli-out"), "--json")
    assert code == 0 and manifest["files"]["annotations.jsonl"]["rows"] == 2
    data = (tmp_path / "cli-out" / "skips.jsonl").read_bytes()
    assert hashlib.sha256(data).hexdigest() == manifest["files"]["skips.jsonl"]["sha256"]
    assert run("export", "acme", str(tmp_path / "cli-out"))[0] == 1  # not empty


def test_a_lease_above_a_lowered_cap_ends_instead_of_being_shown_again(world) -> None:
    """A vendor user holding a confidential item when the vendor's permitted sensitivity is
    lowered does not see it again: their next ``next`` ends that lease (the slot reopens for
    others) and serves what they may still see."""
    ws = world
    held = None
    while (view := ws.queue.next_task("p", "v1")) is not None:
        if view.record["text"] == "chart 2":  # the confidential one, leased and kept
            held = view.assignment_id
            break
        ws.queue.submit(view.assignment_id, "v1", GOOD)
    assert held is not None
    assert ws.queue.next_task("p", "v1").assignment_id == held  # resumed while allowed
    status, assigned, _ = _assignment(ws, held)
    assert (status, assigned) == ("leased", 1)
    ws.vendors.set_terms("acme", max_sensitivity="internal")
    after = ws.queue.next_task("p", "v1")
    assert after is None or after.record["text"] != "chart 2"
    status, assigned, is_open = _assignment(ws, held)
    assert (status, assigned, is_open) == ("expired", 0, True)
    with pytest.raises(ConflictError):
        ws.queue.submit(held, "v1", GOOD)
    assert "chart 2" in _served_texts(ws, "w1")  # its slot went to someone else
