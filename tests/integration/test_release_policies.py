"""RACI and release policies (#16), on SQLite and PostgreSQL: exactly one Accountable (the
project's owner), Consulted SMEs given the review queue, each policy passing and failing with
its evidence in the stored report, the one override (Accountable only, audited), and signed
webhooks to Informed consumers delivered to a real HTTP server on 127.0.0.1, a dead endpoint
never breaking the release."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_jsonl

from curata.annotation.release import GateFailed, PolicyFailed
from curata.core.errors import ForbiddenError, NotFoundError, ValidationError
from curata.curation.pipeline import Pipeline, StepSpec
from curata.curation.steps.pii import Pii
from curata.stewardship.notify import SIGNATURE_HEADER, webhook_secret
from curata.stewardship.release_policy import report_path

SCHEMA = {"questions": [{"type": "label", "name": "topic", "labels": ["a", "b"]}]}
TEXTS = [
    "the committee reviewed every budget line before the annual meeting of the regional council",
    "a slow river carries fine silt down from the northern hills toward the wide flat delta",
    "mail alice at alice.smith@example.com to book the shared meeting room for next thursday",
    "seven small boats waited in the harbour until the morning fog lifted over the grey water",
]


def _labelled_project(
    ws: Any, tmp_path: Path, name: str, *, source: str = "web", ref: str | None = None
) -> None:
    """Project ``name`` over ``ref`` (default: TEXTS ingested from ``source``), every item
    labelled once by ``ann``; owner ``boss``."""
    if ref is None:
        path = write_jsonl(tmp_path / f"{name}.jsonl", [{"text": t} for t in TEXTS])
        ws.ingest([path], source=source, dataset=f"{name}-data")
        ref = f"{name}-data@1"
    ws.projects.create(name, version=ref, schema=SCHEMA, owner="boss", members=["ann"])
    while (view := ws.queue.next_task(name, "ann")) is not None:
        ws.queue.submit(view.assignment_id, "ann", {"topic": "a"})


@pytest.fixture
def gov(ws, tmp_path: Path):
    ws.workforce.add_user("boss", role="lead")
    ws.workforce.add_user("chief", role="admin")
    ws.workforce.add_user("ann", role="annotator", cohorts=["crew"])
    ws.workforce.add_user("sme1", role="sme")
    ws.workforce.add_user("reader", role="viewer")
    _labelled_project(ws, tmp_path, "docs")
    return ws


# -- RACI -------------------------------------------------------------------------------------


def test_a_raci_has_exactly_one_accountable_who_is_the_project_owner(gov) -> None:
    ws = gov
    assert ws.raci.get("docs").accountable == "boss"  # project create --owner is read back
    with pytest.raises(ValidationError, match="exactly one Accountable \\(got 2: boss, chief\\)"):
        ws.raci.set("docs", accountable=["boss", "chief"])
    with pytest.raises(ValidationError, match="exactly one Accountable \\(got 2"):
        ws.raci.set("docs", accountable="boss,chief")
    with pytest.raises(ValidationError, match=r"must be an in-house admin or lead"):
        ws.raci.set("docs", accountable="ann")
    with pytest.raises(ValidationError, match="dataset 'docs-data' needs exactly one Accountable"):
        ws.raci.set(dataset="docs-data", informed=["http://127.0.0.1:9/x"])
    assert ws.raci.get(dataset="docs-data").accountable is None  # nothing half-saved
    with pytest.raises(ValidationError, match="name a project or a dataset"):
        ws.raci.set("docs", dataset="docs-data", accountable="boss")

    r = ws.raci.set(
        "docs",
        accountable="chief",
        responsible=["ann", "cohort:crew"],
        consulted=["sme1"],
        informed=["https://hooks.example.org/curata", "reader"],
    )
    assert (r.accountable, r.responsible, r.consulted, r.informed) == (
        "chief",
        ["ann", "cohort:crew"],
        ["sme1"],
        ["https://hooks.example.org/curata", "reader"],
    )
    # one source of truth: the owner the gate override asks for is the Accountable
    assert ws.projects.get("docs").owner == "chief"
    [event] = ws.audit.list(action="raci.set")
    assert event.details["before"]["accountable"] == "boss"
    assert event.details["after"]["accountable"] == "chief"
    # roles not given keep their parties
    again = ws.raci.set("docs", accountable="boss")
    assert again.consulted == ["sme1"] and again.accountable == "boss"
    with pytest.raises(ValidationError, match="consulted: 'ann' is a annotator"):
        ws.raci.set("docs", consulted=["ann"])
    with pytest.raises(NotFoundError, match="responsible: unknown user or cohort 'ghost'"):
        ws.raci.set("docs", responsible=["ghost"])
    with pytest.raises(ValidationError, match="informed: 'ftp://x/y' is not an http"):
        ws.raci.set("docs", informed=["ftp://x/y"])
    d = ws.raci.set(dataset="docs-data", accountable="boss", informed=["reader"])
    assert d.scope == "dataset" and d.accountable == "boss"


def test_consulted_smes_get_the_projects_review_work(gov) -> None:
    ws = gov
    ws.projects.guidelines.publish("docs", "# Topics\nLabel a or b.")
    with pytest.raises(NotFoundError):
        ws.reviews.next_review("docs", "sme1")  # not a member yet
    ws.raci.set("docs", consulted=["sme1"])
    assert ws.reviews.next_review("docs", "sme1") is None  # a member now: nothing pending
    ws.projects.guidelines.publish("docs", "# Topics\nLabel a, b; b for rivers.")
    task_ids = [t for t in range(1, 100)]
    from curata.annotation.review import ReviewService

    with ws.projects.sessions.begin() as session:
        sent = ReviewService.send_to_review(session, task_ids)
    assert sent.flagged == len(TEXTS)
    work = ws.raci.consulted_work("docs")
    assert [g["version"] for g in work["guidelines"]] == [2, 1]
    assert len(work["review_items"]) == len(TEXTS)
    item = ws.reviews.next_review("docs", "sme1")
    assert item is not None and item.task_id in work["review_items"]


# -- policies ---------------------------------------------------------------------------------


def _statuses(report: Any) -> dict[str, str]:
    return {p.policy: p.status for p in report.policies}


def test_with_no_policy_every_policy_is_not_configured_and_the_report_is_stored(gov) -> None:
    ws = gov
    result = ws.releases.release("docs")
    assert result.version.ref == "docs-labels@1"
    report = result.policy_report
    assert report is not None and report["passed"] is True
    assert {p["policy"]: p["status"] for p in report["policies"]} == {
        "license": "not-configured",
        "consent": "not-configured",
        "pii_redaction": "not-configured",
        "quality_gates": "not-configured",
        "redteam_regression": "not-configured",
        "contamination": "not-configured",
    }
    path = report_path(ws.home, "docs-labels@1")
    assert result.policy_report_path == str(path)
    stored = json.loads(path.read_text())
    assert stored["version"] == "docs-labels@1" and stored["source_version"] == "docs-data@1"
    [event] = ws.audit.list(action="release.policies")
    assert event.details["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_license_allow_list(gov) -> None:
    ws = gov
    ws.policies.set("docs", license_allow=["MIT", "Apache-2.0"])
    with pytest.raises(PolicyFailed) as blocked:
        ws.releases.release("docs")
    message = str(blocked.value)
    assert "license: source 'web' is CC-BY-4.0, not allowed by Apache-2.0, MIT" in message
    assert "only its Accountable owner (boss) can override" in message
    with pytest.raises(NotFoundError):
        ws.datasets.get("docs-labels")  # nothing released
    with pytest.raises(ValidationError, match=r"unknown SPDX license id 'Nope-1\.0'"):
        ws.policies.set("docs", license_allow=["Nope-1.0"])
    ws.policies.set("docs", license_allow=["MIT", "CC-BY-4.0"])
    result = ws.releases.release("docs")
    [lic] = [p for p in result.policy_report["policies"] if p["policy"] == "license"]
    assert lic["status"] == "pass" and lic["evidence"]["sources"] == {"web": "CC-BY-4.0"}


def test_license_expressions_follow_spdx_and_or(ws, tmp_path) -> None:
    from curata.stewardship.release_policy import _license
    from curata.store.tables import SourceRow

    def verdict(expr: str, allow: list[str]) -> str:
        return _license([SourceRow(name="s", license=expr)], (allow, "project")).status

    assert verdict("MIT OR GPL-3.0-only", ["MIT"]) == "pass"  # a licensee may choose MIT
    assert verdict("MIT AND GPL-3.0-only", ["MIT"]) == "fail"  # both apply
    assert verdict("MIT AND GPL-3.0-only", ["MIT", "GPL-3.0-only"]) == "pass"


def test_consent_must_be_recorded_for_every_source(gov, tmp_path) -> None:
    ws = gov
    ws.policies.set("docs", require_consent=True)
    with pytest.raises(PolicyFailed, match="consent: no consent recorded for source\\(s\\) web"):
        ws.releases.release("docs")
    ws.sources.add("panel", kind="human", license="CC-BY-4.0", origin="https://panel.example",
                   consent="opt-in, panel terms 2026-01")  # fmt: skip
    _labelled_project(ws, tmp_path, "panel-docs", source="panel")
    ws.policies.set("panel-docs", require_consent=True)
    result = ws.releases.release("panel-docs")
    [consent] = [p for p in result.policy_report["policies"] if p["policy"] == "consent"]
    assert consent["status"] == "pass"
    assert consent["evidence"]["sources"] == {"panel": "opt-in, panel terms 2026-01"}


def test_pii_redaction_is_read_from_the_datas_curation_history(gov, tmp_path) -> None:
    ws = gov
    ws.policies.set("docs", require_pii_redaction=True)
    with pytest.raises(PolicyFailed, match="pii_redaction: no pii step that redacts"):
        ws.releases.release("docs")
    # a report-only pii run changes nothing: still failing
    for action, out in (("report", "scanned"), ("redact", "clean")):
        spec = StepSpec("pii", Pii.Params.model_validate({"action": action}), Pii)
        ws.curation.curate("docs-data@1", Pipeline((spec,)), out)
    _labelled_project(ws, tmp_path, "scanned-docs", ref="scanned@1")
    ws.policies.set("scanned-docs", require_pii_redaction=True)
    with pytest.raises(PolicyFailed, match="pii_redaction"):
        ws.releases.release("scanned-docs")
    _labelled_project(ws, tmp_path, "clean-docs", ref="clean@1")
    ws.policies.set("clean-docs", require_pii_redaction=True)
    result = ws.releases.release("clean-docs")
    [pii] = [p for p in result.policy_report["policies"] if p["policy"] == "pii_redaction"]
    assert pii["status"] == "pass" and "action redact" in pii["reason"]
    assert "in the run that made clean@1" in pii["reason"]
    assert "alice.smith@example.com" not in json.dumps(
        [r for b in ws.datasets.iter_rows("clean-docs-labels@1") for r in b]
    )


def test_quality_gates_are_a_policy_with_the_existing_gate_error(gov) -> None:
    ws = gov
    ws.projects.set_gates("docs", {"min_annotations": 2})  # each item has one
    with pytest.raises(GateFailed, match="blocked by 1 quality gate"):
        ws.releases.release("docs")
    report = ws.evaluate_policies("docs")
    assert _statuses(report)["quality_gates"] == "fail"
    ws.projects.set_gates("docs", {"min_annotations": 1})
    assert _statuses(ws.evaluate_policies("docs"))["quality_gates"] == "pass"


def test_benchmark_contamination(gov, tmp_path) -> None:
    ws = gov
    bench = [
        {"text": TEXTS[1]},
        {"text": "an unrelated benchmark question about prime numbers and their gaps on the line"},
    ]
    ws.ingest([write_jsonl(tmp_path / "bench.jsonl", bench)], source="web", dataset="bench")
    clean = [
        {"text": "what is the capital of a country whose flag shows a red maple leaf on white"}
    ]
    ws.ingest([write_jsonl(tmp_path / "clean.jsonl", clean)], source="web", dataset="other")
    with pytest.raises(ValidationError, match=r"no-contamination: .*nope"):
        ws.policies.set("docs", no_contamination=["nope@1"])
    ws.policies.set("docs", no_contamination=["bench@1"])
    with pytest.raises(
        PolicyFailed, match="contamination: 1 record\\(s\\) share 13-grams with bench@1"
    ):
        ws.releases.release("docs")
    report = ws.evaluate_policies("docs")
    [check] = next(p for p in report.policies if p.policy == "contamination").evidence["checks"]
    assert check["contaminated"] == 1 and "eval line 1" in check["examples"][0]["reason"]
    ws.policies.set("docs", no_contamination=["other@1"])
    assert _statuses(ws.evaluate_policies("docs"))["contamination"] == "pass"


def test_redteam_regression_gate(gov) -> None:
    ws = gov
    fixtures = Path(__file__).parents[1] / "fixtures" / "redteam"
    ws.redteam.import_attacks(fixtures / "curata_attacks.jsonl", dataset="mixed", source="web")
    ids = []
    for patched in (False, True, False):
        c = ws.campaigns.create(
            attacks="mixed@1", target=f"scripted:patched={str(patched).lower()}"
        )
        ws.campaigns.run(c.id)
        ids.append(c.id)
    ws.policies.set("docs", redteam_gates=[f"{ids[0]}:{ids[1]}"])  # the patch: no regression
    assert _statuses(ws.evaluate_policies("docs"))["redteam_regression"] == "pass"
    ws.policies.set("docs", redteam_gates=[f"{ids[1]}:{ids[2]}"])  # unpatched again: regresses
    with pytest.raises(PolicyFailed, match=f"redteam_regression: {ids[1]}:{ids[2]} regressed"):
        ws.releases.release("docs")
    with pytest.raises(ValidationError, match="redteam-gate: 'solo' is not BEFORE:AFTER"):
        ws.policies.set("docs", redteam_gates=["solo"])


def test_only_the_accountable_overrides_a_failing_policy_and_it_is_audited(gov) -> None:
    ws = gov
    ws.policies.set("docs", license_allow=["MIT"], require_consent=True)
    with pytest.raises(PolicyFailed) as blocked:
        ws.releases.release("docs")
    assert "blocked by 2 release policy(ies)" in str(blocked.value)
    assert "license:" in str(blocked.value) and "consent:" in str(blocked.value)
    with pytest.raises(ForbiddenError, match=r"accountable owner \(boss\).*not 'chief'"):
        ws.releases.release("docs", override="ship it", by="chief")
    with pytest.raises(ValidationError, match="give a reason"):
        ws.releases.release("docs", override=" ", by="boss")
    result = ws.releases.release("docs", override="legal cleared the CC-BY use", by="boss")
    [event] = ws.audit.list(action="release.gate_override")
    assert event.actor == "boss" and event.details["reason"] == "legal cleared the CC-BY use"
    assert sorted(p["policy"] for p in event.details["failed_policies"]) == ["consent", "license"]
    stored = json.loads(Path(result.policy_report_path).read_text())
    assert stored["override"] == {"by": "boss", "reason": "legal cleared the CC-BY use"}
    assert stored["passed"] is False


# -- webhooks -----------------------------------------------------------------------------------


@contextmanager
def webhook_server(status: int = 200) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server on 127.0.0.1 that records each POST (headers, raw body) and answers
    ``status``; yields its URL and the list of requests."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"headers": dict(self.headers), "body": body})
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_informed_consumers_get_a_signed_webhook_on_release(gov) -> None:
    ws = gov
    with webhook_server() as (url, received):
        ws.raci.set("docs", informed=[url, "reader"])
        result = ws.releases.release("docs")
    [request] = received
    with ws.projects.sessions() as session:
        secret = webhook_secret(session)
    expected = "sha256=" + hmac.new(secret.encode(), request["body"], hashlib.sha256).hexdigest()
    assert request["headers"][SIGNATURE_HEADER] == expected
    body = json.loads(request["body"])
    assert body["event"] == "release" and request["headers"]["X-Curata-Event"] == "release"
    assert body["payload"]["version"] == "docs-labels@1"
    assert body["payload"]["digest"] == result.version.digest
    assert body["payload"]["policy_report"] == result.policy_report_path
    assert {(n["target"], n["status"]) for n in result.notices} == {
        (url, "delivered"),
        ("user:reader", "listed"),
    }
    assert {n["status"] for n in ws.notifier.notices()} == {"delivered", "listed"}


def test_a_failing_endpoint_is_retried_recorded_and_never_breaks_the_release(gov) -> None:
    ws = gov
    ws.notifier.backoff = 0.01
    with webhook_server(status=500) as (url, received):
        ws.raci.set("docs", informed=[url, "http://127.0.0.1:9/closed"])
        result = ws.releases.release("docs")
    assert result.version.ref == "docs-labels@1"  # released all the same
    assert len(received) == 3  # three tries
    notices = {n["target"]: n for n in ws.notifier.notices()}
    assert notices[url]["status"] == "failed" and notices[url]["error"] == "HTTP 500"
    assert notices[url]["attempts"] == 3
    closed = notices["http://127.0.0.1:9/closed"]
    assert closed["status"] == "failed" and "ConnectError" in closed["error"]


# -- CLI ----------------------------------------------------------------------------------------


def test_cli_raci_and_policy(cli, tmp_path) -> None:
    assert cli("init")[0] == 0
    from curata.workspace import Workspace

    ws = Workspace.open(cli.home)
    try:
        ws.sources.add("web", kind="crawl", license="CC-BY-4.0", origin="https://example.org")
        ws.workforce.add_user("boss", role="lead")
        ws.workforce.add_user("ann", role="annotator")
        _labelled_project(ws, tmp_path, "docs")
    finally:
        ws.close()
    code, out, err = cli("raci", "set", "docs", "--accountable", "boss,ann")
    assert code == 1 and "exactly one Accountable (got 2: boss, ann)" in err
    code, out, _ = cli(
        "raci", "set", "docs", "--accountable", "boss", "--informed", "https://x.example/h"
    )
    assert code == 0
    code, out, _ = cli("raci", "show", "docs", "--json")
    shown = json.loads(out)
    assert shown["accountable"] == "boss" and shown["informed"] == ["https://x.example/h"]
    assert (
        cli("policy", "set", "docs", "--license-allow", "MIT,Apache-2.0", "--require-consent")[0]
        == 0
    )
    code, out, _ = cli("policy", "show", "docs")
    assert code == 0 and out.split("\n")[:3] == [
        "Release policies of docs:", "  license allow: Apache-2.0, MIT", "  require consent: yes"]
    code, out, _ = cli("policy", "check", "docs", "--json")
    assert code == 1
    assert {p["policy"]: p["status"] for p in json.loads(out)["policies"]}["license"] == "fail"
    code, _, err = cli("annotate", "release", "docs")
    assert code == 1 and "license: source 'web' is CC-BY-4.0" in err and "consent:" in err


def _eval_file(path: Path, passes: dict[str, tuple[int, int]]) -> Path:
    """An eval results file: per category, ``passed`` of ``total`` examples pass."""
    rows = [
        {"id": f"{cat}-{i}", "input": "q", "output": "a", "passed": i < passed, "category": cat}
        for cat, (passed, total) in passes.items()
        for i in range(total)
    ]
    return write_jsonl(path, rows)


def test_a_regressed_category_notifies_the_informed_of_the_training_data(gov, tmp_path) -> None:
    ws = gov
    ws.releases.release("docs")
    ws.evaluation.register("m", "1", ["docs-labels@1"])
    ws.evaluation.register("m", "2", ["docs-labels@1"])
    with webhook_server() as (url, received):
        ws.raci.set("docs", informed=[url])
        ws.evaluation.ingest(
            "m:1",
            _eval_file(tmp_path / "e1.jsonl", {"refusal": (4, 4), "math": (2, 4), "tone": (5, 6)}),
        )
        assert received == []  # the first checkpoint has no baseline
        ws.evaluation.ingest(
            "m:2",
            _eval_file(tmp_path / "e2.jsonl", {"refusal": (1, 4), "math": (3, 4), "tone": (4, 6)}),
        )
    [request] = received
    body = json.loads(request["body"])
    assert body["event"] == "regression" and request["headers"]["X-Curata-Event"] == "regression"
    payload = body["payload"]
    assert (payload["model"], payload["baseline"]) == ("m:2", "m:1")
    assert payload["projects"] == ["docs"] and payload["datasets"] == ["docs-labels"]
    # refusal 4/4 -> 1/4 dropped by 0.75: Wilson 95% intervals [0.510, 1] and [0.046, 0.699]
    # give a Newcombe upper bound of -0.75 + sqrt(0.449^2 + 0.490^2) = -0.085 < 0, a regression;
    # tone 5/6 -> 4/6 fell within the noise and math 2/4 -> 3/4 rose: neither is listed
    [refusal] = payload["categories"]
    assert (refusal["category"], refusal["before"], refusal["after"]) == ("refusal", 1.0, 0.25)
    assert refusal["interval"][1] == pytest.approx(-0.085, abs=1e-3)
    with ws.projects.sessions() as session:
        secret = webhook_secret(session)
    assert request["headers"][SIGNATURE_HEADER] == (
        "sha256=" + hmac.new(secret.encode(), request["body"], hashlib.sha256).hexdigest()
    )
