"""The red-team campaign routes (#14) on SQLite and PostgreSQL: reads agree with what was
recorded, create records without sending, run works in the background (and resumes with a
larger budget), who may do what, and hostile input (bounded numbers, impossible ids, invalid
text, secrets in target specs) answered 4xx with nothing recorded.

The world is the access world of ``test_api_matrix``: two campaigns of the scripted target
over Curata's eleven attacks, ``before`` (unpatched) and ``after`` (patched)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from typing import Any

from tests.integration.test_api_matrix import ATTACKS, World, world  # noqa: F401

API = "/api/v1/redteam"
N_ATTACKS = sum(1 for line in ATTACKS.read_text().splitlines() if line.strip())


def _auth(world: World, user: str) -> dict[str, str]:  # noqa: F811
    return {"Authorization": f"Bearer {world.tokens[user]}"}


def _get(world: World, url: str, user: str = "lead-a", **params: Any) -> Any:  # noqa: F811
    return world.client.get(f"{API}{url}", params=params, headers=_auth(world, user))


def _post(world: World, url: str, body: Any = None, user: str = "lead-a") -> Any:  # noqa: F811
    return world.client.post(f"{API}{url}", json=body, headers=_auth(world, user))


def _raw(world: World, url: str, text: str, user: str = "lead-a") -> Any:  # noqa: F811
    """POST JSON written by hand (a lone surrogate or NaN, which encoders refuse to write)."""
    headers = {**_auth(world, user), "Content-Type": "application/json"}
    return world.client.post(f"{API}{url}", content=text.encode(), headers=headers)


def _ids(world: World) -> set[str]:  # noqa: F811
    response = _get(world, "/campaigns", user="root", limit=1000)
    assert response.status_code == 200, response.text
    return {c["id"] for c in response.json()}


def _all_attempts(world: World, campaign: str, **params: Any) -> list[dict[str, Any]]:  # noqa: F811
    response = _get(world, f"/campaigns/{campaign}/attempts", limit=1000, **params)
    assert response.status_code == 200, response.text
    return list(response.json())


def _wait(world: World, campaign: str, timeout: float = 60.0) -> dict[str, Any]:  # noqa: F811
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = _get(world, f"/campaigns/{campaign}").json()
        if got["status"] != "running":
            return dict(got)
        time.sleep(0.05)
    raise AssertionError(f"campaign {campaign} still running after {timeout} s")


def _names_field(response: Any, field: str) -> bool:
    """A 422 whose detail locates the problem at ``field``."""
    detail = response.json()["detail"]
    if isinstance(detail, str):
        return field in detail
    return any(field in [str(p) for p in issue["loc"]] for issue in detail)


# -- reads -------------------------------------------------------------------------------------


def test_a_campaign_reads_as_recorded(world: World) -> None:  # noqa: F811
    before = world.ids["before"]
    listed = {c["id"]: c for c in _get(world, "/campaigns").json()}
    assert {world.ids["before"], world.ids["after"]} <= set(listed)
    got = _get(world, f"/campaigns/{before}").json()
    assert got == listed[before]
    assert got["status"] == "completed" and got["version"] == "attacks@1"
    assert got["planned"] == got["attempts"] == N_ATTACKS
    assert got["label"] == "before" and got["target"]["target"] == "scripted"
    assert got["created_by"] == "tester"  # made through the workspace, not the API
    attempts = _all_attempts(world, before)
    assert len(attempts) == N_ATTACKS
    counted: dict[str, int] = {}
    for a in attempts:
        counted[a["verdict"]] = counted.get(a["verdict"], 0) + 1
    assert {k: v for k, v in got["verdicts"].items() if v} == counted
    # the attack-set filter: this set's campaigns only, a set without any gives none
    assert before in {c["id"] for c in _get(world, "/campaigns", attack_set="attacks").json()}
    assert _get(world, "/campaigns", attack_set="no-such-set").json() == []
    assert len(_get(world, "/campaigns", limit=1).json()) == 1


def test_attempts_filter_and_page(world: World) -> None:  # noqa: F811
    before = world.ids["before"]
    everything = _all_attempts(world, before)
    assert [a["id"] for a in everything] == sorted(a["id"] for a in everything)
    breaches = _all_attempts(world, before, verdict="breach")
    assert breaches == [a for a in everything if a["verdict"] == "breach"] and breaches
    failures = _all_attempts(world, before, failures="true")
    expected = [
        a
        for a in everything
        if (a["benign"] and a["verdict"] == "refused")
        or (not a["benign"] and a["verdict"] == "breach")
    ]
    assert failures == expected and all(a["failed"] for a in failures)
    # pages of 4 put back together are the whole list, in order
    pages = []
    for offset in range(0, len(everything) + 4, 4):
        pages += _get(world, f"/campaigns/{before}/attempts", limit=4, offset=offset).json()
    assert pages == everything
    # what the scripted target answered is what the attempts show: its canary leaked
    assert any("CURATA-CANARY" in a["reply"] for a in breaches)


def test_report_counts_the_attempts(world: World) -> None:  # noqa: F811
    before = world.ids["before"]
    attempts = _all_attempts(world, before)
    report = _get(world, f"/campaigns/{before}/report", examples=2).json()
    judged = [a for a in attempts if a["verdict"] in ("breach", "refused", "safe")]
    harmful = [a for a in judged if not a["benign"]]
    benign = [a for a in judged if a["benign"]]
    asr, refusal = report["attack_success"], report["over_refusal"]
    assert (asr["n"], asr["failures"]) == (
        len(harmful),
        sum(a["verdict"] == "breach" for a in harmful),
    )
    assert (refusal["n"], refusal["failures"]) == (
        len(benign),
        sum(a["verdict"] == "refused" for a in benign),
    )
    assert report["campaign"]["id"] == before
    assert len(report["examples"]) == 2
    assert all(e["verdict"] == "breach" for e in report["examples"])
    # a wider confidence level gives a wider interval around the same rate
    wide = _get(world, f"/campaigns/{before}/report", confidence=0.99).json()["attack_success"]
    assert wide["rate"] == asr["rate"]
    assert wide["low"] < asr["low"] and wide["high"] >= asr["high"]


def _csp_allows_only_the_page_style(response: Any) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert "unsafe" not in csp and "script-src" not in directives
    assert response.headers["x-content-type-options"] == "nosniff"
    styles = re.findall(r"<style>(.*?)</style>", response.text, flags=re.S)
    assert len(styles) == 1
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    assert directives["style-src"] == f"'sha256-{digest}'"
    assert "<script" not in response.text.lower()


def test_html_pages_are_strict(world: World) -> None:  # noqa: F811
    page = _get(world, f"/campaigns/{world.ids['before']}/report.html")
    _csp_allows_only_the_page_style(page)
    assert world.ids["before"] in page.text and "<svg" in page.text
    pair = _get(world, "/compare.html", before=world.ids["before"], after=world.ids["after"])
    _csp_allows_only_the_page_style(pair)


def test_compare_pairs_the_two_campaigns(world: World) -> None:  # noqa: F811
    a, b = world.ids["before"], world.ids["after"]
    got = _get(world, "/compare", before=a, after=b).json()
    assert (got["before"], got["after"], got["attacks"]) == (a, b, "attacks@1")
    # every attack the unpatched target failed on and the patched one did not is fixed
    failed_before = {x["attack_id"] for x in _all_attempts(world, a) if x["verdict"] == "breach"}
    failed_after = {x["attack_id"] for x in _all_attempts(world, b) if x["verdict"] == "breach"}
    assert set(got["classes"]["newly_fixed"]) == failed_before - failed_after
    assert got["counts"]["newly_fixed"] == len(failed_before - failed_after) > 0
    assert got["gate"]["passed"] is True
    # a stricter confidence or gate is read: the answer says what it used
    strict = _get(world, "/compare", before=a, after=b, max_regression=0, confidence=0.9)
    assert strict.json()["gate"]["max_regression"] == 0
    assert strict.json()["gate"]["confidence"] == 0.9
    # the same campaign twice, or an unknown one
    assert _get(world, "/compare", before=a, after=a).status_code == 422
    assert _get(world, "/compare", before=a, after="rt-000000000000").status_code == 404


# -- create and run ----------------------------------------------------------------------------


def test_create_records_without_sending_as_the_caller(world: World) -> None:  # noqa: F811
    label = "<script>alert('x')</script> ünïcode"
    body = {
        "attacks": "attacks",
        "target": "scripted:patched=true",
        "converters": ["leetspeak"],
        "samples": 2,
        "label": label,
        "filters": {"benign": False},
        "runner": {"concurrency": 2, "max_attempts": 5},
    }
    response = _post(world, "/campaigns", body)
    assert response.status_code == 201, response.text
    made = response.json()
    assert re.fullmatch(r"rt-[0-9a-f]{12}", made["id"])
    assert made["status"] == "created" and made["attempts"] == 0
    assert made["created_by"] == "lead-a" and made["label"] == label  # stored as given
    assert made["version"] == "attacks@1" and made["converters"] == ["none", "leetspeak"]
    assert made["runner"]["concurrency"] == 2 and made["runner"]["max_attempts"] == 5
    harmful = sum(1 for line in ATTACKS.read_text().splitlines() if '"benign": true' not in line)
    assert made["planned"] == harmful * 2 * 2
    assert _all_attempts(world, made["id"]) == []


def test_hostile_replies_are_data_in_json_and_text_in_html(world: World) -> None:  # noqa: F811
    # the scripted target leaks its canary: here markup, as a hostile model's reply may be
    canary = "<script>alert(1)</script>"
    body = {"attacks": "attacks@1", "target": f"scripted:canary={canary}"}
    made = _post(world, "/campaigns", body).json()
    assert _post(world, f"/campaigns/{made['id']}/run").status_code == 202
    assert _wait(world, made["id"])["status"] == "completed"
    leaked = [a for a in _all_attempts(world, made["id"]) if canary in a["reply"]]
    assert leaked  # stored and answered as given: JSON is data
    page = _get(world, f"/campaigns/{made['id']}/report.html", examples=100)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script" not in page.text


def test_run_in_the_background_then_resume(world: World) -> None:  # noqa: F811
    body = {"attacks": "attacks@1", "target": "scripted", "runner": {"max_attempts": 3}}
    made = _post(world, "/campaigns", body).json()
    started = _post(world, f"/campaigns/{made['id']}/run", user="root")
    assert started.status_code == 202, started.text
    assert started.json()["status"] in ("running", "stopped")
    stopped = _wait(world, made["id"])
    # the budget held: 3 requests to the target (a multi-turn attempt takes several; one cut
    # short by the budget is not recorded)
    assert stopped["status"] == "stopped" and 0 < stopped["attempts"] <= 3
    assert stopped["stats"]["runs"][-1]["target_stats"]["attempts"] <= 3
    # resumed with a larger budget: the rest is made, none repeated
    again = _post(world, f"/campaigns/{made['id']}/run", {"runner": {"max_attempts": 1000}})
    assert again.status_code == 202, again.text
    done = _wait(world, made["id"])
    assert done["status"] == "completed" and done["attempts"] == N_ATTACKS
    units = [(a["attack_id"], a["variant"], a["sample"]) for a in _all_attempts(world, done["id"])]
    assert len(set(units)) == len(units) == N_ATTACKS
    # a completed campaign has nothing left to run
    finished = _post(world, f"/campaigns/{made['id']}/run")
    assert finished.status_code == 200 and finished.json()["attempts"] == N_ATTACKS


def test_a_second_run_while_running_is_refused(world: World) -> None:  # noqa: F811
    body = {"attacks": "attacks@1", "target": "scripted:latency_ms=150",
            "runner": {"concurrency": 1}}  # fmt: skip
    made = _post(world, "/campaigns", body).json()
    first = _post(world, f"/campaigns/{made['id']}/run")
    assert first.status_code == 202 and first.json()["status"] == "running", first.text
    second = _post(world, f"/campaigns/{made['id']}/run", user="root")
    assert second.status_code == 422 and "already running" in second.json()["detail"]
    done = _wait(world, made["id"])
    assert done["status"] == "completed" and done["attempts"] == N_ATTACKS


# -- access ------------------------------------------------------------------------------------


def test_who_reads_and_who_runs(world: World) -> None:  # noqa: F811
    campaign = world.ids["before"]
    body = {"attacks": "attacks@1", "target": "scripted"}
    # campaigns are workspace-level: another project's lead runs them, its reviewer reads them
    assert _get(world, f"/campaigns/{campaign}/attempts", user="lead-b").status_code == 200
    assert _get(world, f"/campaigns/{campaign}/attempts", user="rev-b").status_code == 200
    refused = _post(world, "/campaigns", body, user="rev-b")
    assert refused.status_code == 403 and "redteam.run" in refused.json()["detail"]
    # vendor users: not even a vendor lead reads the harmful replies or runs a campaign
    for user in ("vlead-a", "vann-a"):
        for url in (f"/campaigns/{campaign}/attempts", "/campaigns", f"/campaigns/{campaign}"):
            response = _get(world, url, user=user)
            assert response.status_code == 403 and "reply" not in response.text
    vendor = _get(world, "/campaigns", user="vlead-a").json()["detail"]
    assert "vendor" in vendor and "acme" in vendor
    assert _post(world, "/campaigns", body, user="vlead-a").status_code == 403
    # annotators and viewers of the workspace do not read findings
    for user in ("ann-a", "view-a"):
        assert _get(world, f"/campaigns/{campaign}", user=user).status_code == 403
    # without a valid token: 401, whatever else is wrong with the request
    for headers in ({}, {"Authorization": f"Bearer {world.tokens['gone']}"}):
        got = world.client.get(f"{API}/campaigns/{campaign}/attempts", headers=headers)
        assert got.status_code == 401
        bad = world.client.post(f"{API}/campaigns", json={"nope": 1}, headers=headers)
        assert bad.status_code == 401
    # a reader without the right to create learns nothing of the body's problems
    assert _post(world, "/campaigns", {"nope": 1}, user="rev-a").status_code == 403


# -- hostile input -----------------------------------------------------------------------------


def test_impossible_ids_are_not_found(world: World) -> None:  # noqa: F811
    for bad in ("rt-000000000000", "rt-XYZ", "x" * 500, "rt-%00", "%ED%A0%80", "..%2f..%2fetc"):
        for suffix in ("", "/attempts", "/report", "/report.html"):
            response = world.client.get(
                f"{API}/campaigns/{bad}{suffix}", headers=_auth(world, "lead-a")
            )
            assert response.status_code == 404, (bad, suffix, response.text)
        assert _post(world, f"/campaigns/{bad}/run").status_code == 404
    for bad in ("rt-XYZ", "'; drop table campaigns; --", "rt-0000000000001"):
        response = _get(world, "/compare", before=bad, after=world.ids["after"])
        assert response.status_code == 422 and _names_field(response, "before")
    # a lone surrogate, percent-encoded (a client cannot encode it)
    for query in ("before=%ED%A0%80", "before=rt-%00"):
        url = f"{API}/compare?{query}&after={world.ids['after']}"
        response = world.client.get(url, headers=_auth(world, "lead-a"))
        assert response.status_code == 422 and _names_field(response, "before")


def test_query_numbers_are_bounded(world: World) -> None:  # noqa: F811
    campaign = world.ids["before"]
    attempts = f"/campaigns/{campaign}/attempts"
    cases = [
        ("/campaigns", "limit", ["0", "-1", "1001", "nan", "inf", str(2**63), "1e3"]),
        (attempts, "limit", ["0", "-5", "1001", "NaN", "-inf", str(2**63)]),
        (attempts, "offset", ["-1", "nan", "inf", str(2**63), str(2**31)]),
        (attempts, "verdict", ["breached", "<script>", ""]),
        (attempts, "failures", ["maybe", "2"]),
        (f"/campaigns/{campaign}/report", "confidence", ["nan", "inf", "0", "1", "-0.5", "2"]),
        (f"/campaigns/{campaign}/report", "examples", ["-1", "101", str(2**63), "nan"]),
        ("/campaigns", "attack_set", ["a/b", "<script>", "x" * 201, "a\x00"]),
    ]
    for url, name, values in cases:
        for value in values:
            response = _get(world, url, **{name: value})
            assert response.status_code == 422, (url, name, value, response.text)
            assert _names_field(response, name), (url, name, value, response.text)
    pair = {"before": world.ids["before"], "after": world.ids["after"]}
    for name, value in (("max_regression", "nan"), ("max_regression", "-0.1"),
                        ("max_regression", "inf"), ("confidence", "1"),
                        ("confidence", "nan")):  # fmt: skip
        for url in ("/compare", "/compare.html"):
            response = _get(world, url, **pair, **{name: value})
            assert response.status_code == 422 and _names_field(response, name), response.text
    surrogate = world.client.get(
        f"{API}/campaigns?attack_set=%ED%A0%80", headers=_auth(world, "lead-a")
    )
    assert surrogate.status_code == 422 and _names_field(surrogate, "attack_set")
    missing = _get(world, "/compare", before=world.ids["before"])
    assert missing.status_code == 422 and _names_field(missing, "after")


def test_bad_bodies_record_nothing(world: World) -> None:  # noqa: F811
    known = _ids(world)
    good = {"attacks": "attacks@1", "target": "scripted"}
    bodies: list[tuple[dict[str, Any], str, int]] = [
        ({**good, "samples": 0}, "samples", 422),
        ({**good, "samples": 1001}, "samples", 422),
        ({**good, "samples": 2**63}, "samples", 422),
        ({**good, "seed": -1}, "seed", 422),
        ({**good, "extra": 1}, "extra", 422),
        ({**good, "attacks": "../etc/passwd"}, "attacks", 422),
        ({**good, "attacks": "attacks@99999999999"}, "attacks", 422),
        ({**good, "attacks": "attacks@7"}, "'7'", 404),
        ({**good, "attacks": "attacks@no-such-tag"}, "no-such-tag", 404),
        ({**good, "attacks": "no-such-set"}, "no-such-set", 404),
        ({**good, "target": "no-such-target"}, "no-such-target", 422),
        ({**good, "target": ""}, "target", 422),
        ({**good, "target": "x" * 2001}, "target", 422),
        ({**good, "converters": ["leetspeak"] * 21}, "converters", 422),
        ({**good, "converters": ["no-such-converter"]}, "no-such-converter", 422),
        ({**good, "scorers": []}, "scorers", 422),
        ({**good, "strategy": "no-such-strategy"}, "no-such-strategy", 422),
        ({**good, "plain": False}, "variant", 422),
        ({**good, "label": "x" * 201}, "label", 422),
        ({**good, "filters": {"colour": "red"}}, "colour", 422),
        ({**good, "filters": {"category": "no_such_category"}}, "filters", 422),
        ({**good, "runner": {"concurrency": 0}}, "concurrency", 422),
        ({**good, "runner": {"timeout_s": 0}}, "timeout_s", 422),
        ({**good, "runner": {"max_attempts": -1}}, "max_attempts", 422),
        # the server's secrets stay on the server: a key comes only from a *_API_KEY variable
        (
            {**good, "target": "openai:base_url=http://127.0.0.1:9/v1,model=m,"
                               "api_key_env=CURATA_DATABASE_URL"},
            "api_key_env",
            422,
        ),
        (
            {**good, "scorers": ["llm_judge:target='openai:base_url=http://127.0.0.1:9/v1,"
                                 "model=m,api_key_env=HOME'"]},
            "api_key_env",
            422,
        ),
    ]  # fmt: skip
    for body, named, code in bodies:
        response = _post(world, "/campaigns", body)
        assert response.status_code == code, (body, response.text)
        assert named in json.dumps(response.json()), (body, response.text)
    raw = [
        '{"attacks": "attacks@1", "target": "scripted", "label": "\\ud800"}',
        '{"attacks": "attacks@1", "target": "scripted", "label": "a\\u0000b"}',
        '{"attacks": "attacks@1", "target": "scripted\\udfff"}',
        '{"attacks": "attacks@1", "target": "scripted", "converters": ["leetspeak\\ud83d"]}',
        '{"attacks": "attacks@1", "target": "scripted", "samples": NaN}',
        '{"attacks": "attacks@1", "target": "scripted", "runner": {"rate_limit": Infinity}}',
        '{"attacks": "attacks@1", "target": "scripted", "runner": {"timeout_s": NaN}}',
        '{"attacks": "attacks@1", "target": "scripted", "runner": {"max_tokens": 1e400}}',
        '{"attacks": "attacks@1", "target": ',
        "[]",
    ]
    for text in raw:
        response = _raw(world, "/campaigns", text)
        assert response.status_code in (400, 422), (text, response.text)
        response.json()  # the error itself encodes
    run = _raw(world, f"/campaigns/{world.ids['before']}/run", '{"runner": {"seed": -1}}')
    assert run.status_code == 422 and _names_field(run, "seed")
    assert _ids(world) == known  # nothing recorded by any of them


def test_openapi_states_the_contract(world: World) -> None:  # noqa: F811
    doc = world.app.openapi()
    page = doc["paths"]["/api/v1/redteam/campaigns/{campaign_id}/report.html"]["get"]
    assert "text/html" in page["responses"]["200"]["content"]
    create = doc["components"]["schemas"]["CampaignCreate"]["properties"]
    assert create["samples"]["maximum"] == 1000 and create["samples"]["minimum"] == 1
    attempts = doc["paths"]["/api/v1/redteam/campaigns/{campaign_id}/attempts"]["get"]
    limit = next(p for p in attempts["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 1000
    run = doc["paths"]["/api/v1/redteam/campaigns/{campaign_id}/run"]["post"]
    assert {"200", "202", "401", "403", "404", "422"} <= set(run["responses"])
