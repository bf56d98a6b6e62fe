"""The lead's dashboard per viewer and gold accuracy over time, over a real socket (SQLite and
PostgreSQL): a lead who works for a vendor sees their own vendor's rows and series only (never
another vendor's or the in-house annotators' names or numbers) and the project's overall
throughput and backlog; an in-house lead sees everyone. Gold accuracy over time per cohort and
vendor is checked against numbers computed here from the answers the test gave."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import served, write_jsonl
from tests.helpers import web_client

from curata.api.app import create_app
from curata.store.tables.base import utcnow

SCHEMA = {"questions": [{"type": "label", "name": "topic", "labels": ["billing", "shipping"]}]}
GOLD = range(4)
"""Records ``item 0`` … ``item 3`` are gold: ``billing`` when even, ``shipping`` when odd."""
EARLY = {0, 1, 4, 5, 6, 7}
"""The records answered at the start of the labelling; the others twenty minutes later."""
WRONG = {"carol": set(), "bob": {1}, "gvictor": {0, 2, 3}}
"""Each annotator's wrong answers (record numbers)."""
PEOPLE = {"carol": (None, "inhouse-wave"), "bob": ("acme", "acme-wave"),
          "gvictor": ("globex", "globex-wave")}


def truth(n: int) -> str:
    return "billing" if n % 2 == 0 else "shipping"


@pytest.fixture
def site(ws: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    rows = [{"text": f"item {i}"} for i in range(12)]
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="tickets")
    for name, (vendor, cohort) in PEOPLE.items():
        ws.workforce.add_user(name, role="annotator", vendor=vendor, cohorts=[cohort])
    ws.workforce.add_user("boss", role="lead")
    ws.workforce.add_user("alead", role="lead", vendor="acme")
    ws.projects.create("triage", version="tickets@1", schema=SCHEMA, overlap=3,
                       gold_share=0.99, members=[*PEOPLE, "boss", "alead"])
    ws.queue.reseed(7)
    ids = {r.text: i for b in ws.datasets.iter_records("tickets@1") for i, r in b}
    ws.projects.gold.add_items("triage", [(ids[f"item {n}"], {"topic": truth(n)}) for n in GOLD])
    start = utcnow() - timedelta(hours=1)
    late = start + timedelta(minutes=20)
    given: list[tuple[str, int, str, bool]] = []  # who, record, answer, early?
    for name in PEOPLE:
        while (view := ws.queue.next_task("triage", name, now=start)) is not None:
            n = int(view.record["text"].split()[1])
            answer = truth(n) if n not in WRONG[name] else truth(n + 1)
            ws.queue.submit(view.assignment_id, name, {"topic": answer},
                            now=start if n in EARLY else late)
            given.append((name, n, answer, n in EARLY))
    tokens = {u: ws.workforce.issue_token(u) for u in ("boss", "alead")}
    with served(create_app(ws)) as url:
        yield {"ws": ws, "url": url, "tokens": tokens, "given": given, "start": start}


def expected_gold(given: list[tuple[str, int, str, bool]]) -> dict[str, list[tuple[int, int]]]:
    """Per group ("cohort X", "vendor Y"): [(checks, right)] early, then late; each annotator's
    answer on a gold record counted once, however many copies of it they answered."""
    once = {(who, n): (answer, early) for who, n, answer, early in given if n in GOLD}
    tally: dict[str, dict[bool, list[int]]] = defaultdict(lambda: {True: [0, 0], False: [0, 0]})
    for (who, n), (answer, early) in once.items():
        vendor, cohort = PEOPLE[who]
        for group in (f"cohort {cohort}", f"vendor {vendor or '(internal)'}"):
            tally[group][early][0] += 1
            tally[group][early][1] += answer == truth(n)
    return {g: [tuple(t[True]), tuple(t[False])] for g, t in tally.items()}  # type: ignore[misc]


def wilson(right: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def gold_table(html: str) -> dict[str, list[tuple[str, int, int, str, str]]]:
    rows = re.findall(
        r'<tr data-testid="gold-bin"><th scope="row">([^<]+)</th><td>([^<]+)</td>'
        r'<td class="num">(\d+)</td><td class="num">(\d+)</td><td class="num">([^<]+)</td>'
        r'<td class="num">([^<]+)</td></tr>', html)
    out: dict[str, list[tuple[str, int, int, str, str]]] = defaultdict(list)
    for group, start, n, right, rate, interval in rows:
        out[group].append((start, int(n), int(right), rate, interval))
    return dict(out)


def test_gold_accuracy_over_time_per_cohort_and_vendor(site: dict[str, Any]) -> None:
    want = expected_gold(site["given"])
    assert want["vendor acme"] == [(2, 1), (2, 2)]  # the script's plan, as planned
    assert want["vendor globex"] == [(2, 1), (2, 0)]
    assert want["cohort inhouse-wave"] == [(2, 2), (2, 2)]
    with web_client(site["url"], "boss", site["tokens"]["boss"]) as boss:
        html = boss.get("/projects/triage/dashboard").text
    table = gold_table(html)
    assert set(table) == set(want)
    first = site["start"].strftime("%Y-%m-%d %H:%M")
    for group, bins in want.items():
        shown = table[group]
        assert [(n, right) for _, n, right, _, _ in shown] == bins, group
        assert shown[0][0] == first and shown[1][0] > first  # the first and the last period
        for (_, n, right, rate, interval), _ in zip(shown, bins, strict=True):
            assert rate == f"{right / n * 100:.1f}%"
            low, high = wilson(right, n)
            assert interval == f"{low * 100:.0f}%–{high * 100:.0f}%", (group, interval)
    # the chart: one line per group, its points the same numbers, each with its band
    chart = re.search(r'<svg[^>]*aria-labelledby="gold-over-time-t.*?</svg>', html, re.S)
    assert chart, "gold over time chart"
    svg = chart.group(0)
    for group, bins in want.items():
        points = re.findall(rf"<title>{re.escape(group)}, [^:<]+:\d\d: (\d+)% of (\d+)", svg)
        assert [(int(n), int(p)) for p, n in points] == [
            (n, round(right / n * 100)) for n, right in bins], group
    assert svg.count('class="band"') == len(want)


def test_a_vendor_lead_sees_only_their_vendor(site: dict[str, Any]) -> None:
    with web_client(site["url"], "boss", site["tokens"]["boss"]) as boss:
        everyone = boss.get("/projects/triage/dashboard").text
        assert boss.get("/projects/triage/lineage").status_code == 200
    for name in ("globex", "globex-wave", "inhouse-wave", "(internal)"):
        assert name in everyone  # the in-house lead sees every vendor and cohort
    with web_client(site["url"], "alead", site["tokens"]["alead"]) as lead:
        answer = lead.get("/projects/triage/dashboard")
        assert answer.status_code == 200, answer.text[:500]
        html = answer.text
        # the lineage names every vendor behind a release: not for a vendor's lead
        assert lead.get("/projects/triage/lineage").status_code == 403
    for name in ("globex", "gvictor", "inhouse-wave", "carol", "(internal)"):
        assert name not in html, name
    assert 'data-testid="vendor-scope"' in html and 'data-testid="lineage-link"' not in html
    # their own vendor's rows and series, with the numbers the in-house lead sees for them
    assert re.findall(r'data-testid="quality-vendor".*?<tbody>\s*<tr>\s*<th scope="row">'
                      r'([^<]+)</th>', html, re.S) == ["acme"]
    cohort_rows = re.search(r'data-testid="quality-cohort".*?</table>', html, re.S)
    assert cohort_rows and re.findall(r'<th scope="row">([^<]+)</th>',
                                      cohort_rows.group(0)) == ["acme-wave"]
    own = gold_table(html)
    assert set(own) == {"cohort acme-wave", "vendor acme"}
    assert own == {g: v for g, v in gold_table(everyone).items() if g in own}
    # the project's overall throughput and backlog stay whole
    for testid in ("items", "complete", "remaining", "labels"):
        mine = re.search(rf'data-testid="{testid}">([^<]*)<', html)
        theirs = re.search(rf'data-testid="{testid}">([^<]*)<', everyone)
        assert mine and theirs and mine.group(1) == theirs.group(1)
    assert 'data-testid="redteam"' not in html  # no vendor user reads campaigns
