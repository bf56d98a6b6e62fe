"""The lead's dashboard (#15): one project's throughput and backlog, its annotators' quality per
cohort and vendor (over time, with intervals), drift alerts, and the workspace's red-team
campaigns' attack success rate by category.

For project managers (:meth:`ProjectPolicy.manage <curata.governance.policies.ProjectPolicy.
manage>`: leads and admins; other members get 403, everyone else 404, as the API answers). The
numbers come from the services, each chart with a table of the same numbers next to it:

* backlog and pace: :meth:`ProjectService.status <curata.annotation.projects.ProjectService.
  status>`; labels per day: the submission times of
  :meth:`QualityService.annotations <curata.quality.service.QualityService.annotations>`
  (live items, a copied answer is no extra work), counted per UTC day here;
* gold accuracy and agreement with the consensus per cohort and vendor:
  :meth:`QualityService.report <curata.quality.service.QualityService.report>`;
* agreement over time per cohort and question, and the drift alerts:
  :meth:`QualityService.drift <curata.quality.service.QualityService.drift>`;
* gold accuracy over time per cohort and per vendor (:func:`gold_over_time`): the gold checks
  the quality report counts (:func:`~curata.stats.proportions.gold_checks` of each annotator's
  own answers on gold, once per record), in the drift report's equal time bins, each with its
  95% Wilson interval;
* a lead who works for a vendor sees only their vendor: its row, the cohorts all of whose
  members work for it, its annotators' and cohorts' series and alerts (:func:`for_viewer`),
  and the project's overall throughput and backlog; never another vendor's name or numbers
  (in-house leads and admins see everyone);
* attack success rate by category: :meth:`CampaignService.report <curata.redteam.campaigns.
  CampaignService.report>` of the latest campaigns, for users who may read campaigns
  (``redteam.read``);
* the project's versions (the one it labels and every release of it), each linked to its
  lineage page (``/projects/P/lineage?version=REF``): :meth:`LineageService.upstream
  <curata.lineage.graph.LineageService.upstream>` drawn by :func:`~curata.web.graph_svg.
  lineage_svg`. Only the project's own versions are shown there (404 otherwise), so a lead of
  another project cannot read this one's lineage through their own project's page;
* coverage per dataset of those versions: the report ``curata coverage REF --save`` wrote to
  ``<home>/coverage/REF.json`` (:func:`~curata.curation.coverage_service.save_report`, the
  JSON ``--json`` prints; the coverage service keeps no result of its own), drawn by
  :func:`~curata.web.charts.coverage_chart`; where there is none the page says so and shows
  the command (with ``--save``).
* open remediation briefs of the project (:meth:`BriefService.list <curata.loop.briefs.
  BriefService.list>`), overdue ones marked; for in-house viewers only (a brief's
  slice and evidence may name vendors and cohorts).
"""

from __future__ import annotations

import functools
import json
import logging
import shlex
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy import select

from curata.core.errors import ForbiddenError, NotFoundError
from curata.curation.coverage_service import REPORT_DIR, report_path
from curata.governance.policies import ProjectPolicy, WorkspacePolicy
from curata.http.deps import ProjectName, ScopesDep, WorkspaceDep
from curata.quality.drift import rolling_rates
from curata.stats.proportions import gold_checks
from curata.store.tables import DatasetRow, OperationRow, VersionRow
from curata.timeutil import as_utc
from curata.web.charts import (
    Bar,
    BarGroup,
    Point,
    Series,
    Share,
    ShareGroup,
    bar_chart,
    coverage_chart,
    line_chart,
    throughput_chart,
)
from curata.web.graph_svg import lineage_svg
from curata.web.render import render
from curata.web.session import PageUser

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

CLOSED_BRIEFS = 5
"""How many of a project's most recently closed briefs the dashboard lists, with their effect."""
CAMPAIGNS = 6
"""The latest campaigns whose rates are shown."""
REPORT_SAMPLES = 50
"""Bootstrap replicates of the quality report's per-question agreement (not shown here)."""


@router.get("/projects/{name}/dashboard")
def dashboard(
    request: Request, name: ProjectName, user: PageUser, workspace: WorkspaceDep,
    scopes: ScopesDep,
) -> Response:
    ProjectPolicy.manage(user, scopes.project(name, user))
    status = workspace.projects.status(name)
    snapshots = dashboard_snapshots(request.app)
    slow, as_of = snapshots.get(("project", name), lambda: _slow_parts(workspace, name))
    seen = for_viewer(slow, user.vendor)
    per_day, by_cohort, by_vendor, drift = (
        seen["per_day"], seen["by_cohort"], seen["by_vendor"], seen["drift"])
    redteam = None
    if user.vendor is None and WorkspacePolicy.allows(user, "redteam.read"):
        redteam, redteam_as_of = snapshots.get(("redteam",), lambda: _redteam(workspace))
        as_of = min(as_of, redteam_as_of)
    over_time = [s for s in drift["series"] if s["kind"] == "cohort" and s["bins"]]
    gold_time = [s for s in seen["gold_over_time"] if s["bins"]]
    # a brief's slice and evidence may name vendors and cohorts: in-house viewers only
    every_brief = workspace.briefs.list(project=name) if user.vendor is None else None
    briefs = ([b for b in every_brief if b.closed_at is None]
              if every_brief is not None else None)
    closed_briefs = sorted((b for b in every_brief or [] if b.closed_at is not None),
                           key=lambda b: b.closed_at or b.created_at,
                           reverse=True)[:CLOSED_BRIEFS]  # fmt: skip
    versions = project_versions(workspace, name)
    coverage = [_coverage(workspace.home, dataset, refs)
                for dataset, refs in _by_dataset(versions).items()]

    progress = {
        "items": status.items,
        "complete": status.items_complete,
        "remaining": status.items - status.items_complete,
        "labels_done": status.labels_done,
        "labels_needed": status.labels_needed,
        "leased_now": status.leased_now,
        "per_hour": status.labels_per_hour,
        "eta": status.eta,
        "done": status.done,
        "window_hours": status.window_hours,
    }
    charts = {
        "throughput": Markup(throughput_chart(
            f"Labels submitted per day, {name}", per_day, needed=status.labels_needed,
            ident="throughput")),
        "quality": Markup(bar_chart(
            "Gold accuracy and agreement with the consensus, per cohort and vendor",
            _quality_groups(by_cohort, by_vendor), ident="quality")),
        "over_time": Markup(line_chart(
            "Agreement over time per cohort and question (gold answer or consensus), "
            "with 95% intervals",
            [Series(f"{s['who']} · {s['question']}",
                    [Point(b["start"][:16].replace("T", " "), b["rate"], b["low"], b["high"],
                           b["n"]) for b in s["bins"]])
             for s in over_time],
            ident="over-time", sort_x=True)),
        "gold_over_time": Markup(line_chart(
            "Gold accuracy over time per cohort and vendor, with 95% intervals",
            [Series(f"{s['kind']} {s['who']}",
                    [Point(b["start"][:16].replace("T", " "), b["rate"], b["low"], b["high"],
                           b["n"]) for b in s["bins"]])
             for s in gold_time],
            ident="gold-over-time", sort_x=True)),
        "redteam": Markup(bar_chart(
            "Attack success rate by category, latest campaigns",
            [BarGroup(c["title"], [Bar(r["value"], r["rate"], r["low"], r["high"], r["n"])
                                   for r in c["categories"]]) for c in redteam or []],
            ident="redteam")) if redteam is not None else None,
    }
    return render(
        request, "dashboard.html", project=name, progress=progress, per_day=per_day,
        cohorts=by_cohort["groups"], vendors=by_vendor["groups"], over_time=over_time,
        gold_over_time=gold_time, vendor=user.vendor,
        alerts=drift["alerts"], redteam=redteam, charts=charts,
        method=by_cohort["method"], as_of=as_of, refresh_s=int(SNAPSHOT_SECONDS),
        versions=versions, coverage=coverage, briefs=briefs, closed_briefs=closed_briefs,
    )


@router.get("/projects/{name}/lineage")
def lineage(
    request: Request, name: ProjectName, user: PageUser, workspace: WorkspaceDep,
    scopes: ScopesDep,
    version: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """The lineage of one of the project's versions (default: its latest release, else the
    version it labels) as a graph, with its edges as a table. Not for a vendor's lead (403): a
    release's lineage names every vendor and annotator behind it."""
    ProjectPolicy.manage(user, scopes.project(name, user))
    if user.vendor is not None:
        raise ForbiddenError(f"lineage: vendor users may not read it ({user.name!r} works for "
                             f"vendor {user.vendor!r}; it names every vendor behind a release)")
    versions = project_versions(workspace, name)
    ref = version or versions[-1]["ref"]
    if ref not in {v["ref"] for v in versions}:
        raise NotFoundError(f"{ref} is not a version of project {name} (its versions: "
                            f"{', '.join(v['ref'] for v in versions)})")
    graph = workspace.lineage.upstream(ref).to_dict()
    return render(
        request, "lineage.html", project=name, ref=ref, versions=versions, graph=graph,
        edges=graph["edges"],
        chart=Markup(lineage_svg(graph, title=f"Lineage of {ref}", ident="lineage")),
    )


def project_versions(workspace: Any, name: str) -> list[dict[str, Any]]:
    """The version project ``name`` labels, then every version released from it, oldest
    first: ``ref``, ``dataset``, ``number``, ``role`` (``labelled`` or ``release``),
    ``records``, ``created_at``."""
    def row(ds: DatasetRow, v: VersionRow, role: str) -> dict[str, Any]:
        return {"ref": f"{ds.name}@{v.number}", "dataset": ds.name, "number": v.number,
                "role": role, "records": v.record_count, "created_at": as_utc(v.created_at)}

    with workspace.projects.sessions() as session:
        project = workspace.projects.row(session, name)
        labelled = session.get(VersionRow, project.version_id)
        assert labelled is not None
        source = session.get(DatasetRow, labelled.dataset_id)
        assert source is not None
        released = session.execute(
            select(DatasetRow, VersionRow, OperationRow)
            .join(VersionRow, VersionRow.dataset_id == DatasetRow.id)
            .join(OperationRow, OperationRow.id == VersionRow.operation_id)
            .where(OperationRow.kind == "release")
            .order_by(VersionRow.created_at, VersionRow.id)
        ).all()
        return [row(source, labelled, "labelled")] + [
            row(ds, v, "release") for ds, v, op in released
            if (op.parameters or {}).get("project") == name]


def _by_dataset(versions: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in versions:
        out.setdefault(v["dataset"], []).append(v["ref"])
    return out


COVERAGE_DIR = REPORT_DIR
"""Where, under the workspace's home, the dashboard reads coverage reports: ``REF.json``, as
``curata coverage REF --target FILE --save`` writes it (what ``--json`` prints)."""
SHORT_GAP = 0.01
"""A slice is a gap (drawn red) when the target's share exceeds the data's by more than this:
the threshold of the sourcing brief (:func:`curata.curation.coverage.sourcing_brief`)."""


def coverage_path(home: Path, ref: str) -> Path:
    return report_path(home, ref)


def _coverage(home: Path, dataset: str, refs: list[str]) -> dict[str, Any]:
    """The newest of ``refs`` (versions of ``dataset``, oldest first) with a saved coverage
    report, its chart and table rows; or, when none has one, the command that makes one."""
    latest = refs[-1]
    out: dict[str, Any] = {"dataset": dataset, "ref": None, "report": None, "problem": None,
                           "path": str(coverage_path(home, latest)),
                           "command": coverage_command(home, latest)}
    for ref in reversed(refs):
        path = coverage_path(home, ref)
        if not path.is_file():
            continue
        try:
            report = json.loads(path.read_text("utf-8"))
            if not isinstance(report, dict) or not isinstance(report.get("fields"), list):
                raise ValueError("not a report of curata coverage --json")
            groups = coverage_groups(report)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            out["problem"] = f"{path} could not be read: {exc}"
            continue
        chart = coverage_chart(
            f"Coverage of {ref} against {report.get('target', 'the target')}", groups)
        out.update(ref=ref, report=report, path=str(path), chart=Markup(chart),
                   rows=[(g.name, s) for g in groups for s in g.shares])
        return out
    return out


def coverage_command(home: Path, ref: str) -> str:
    return (f"curata --home {shlex.quote(str(home))} coverage {shlex.quote(ref)} "
            "--target FILE --by FIELD --save")


def coverage_groups(report: dict[str, Any]) -> list[ShareGroup]:
    """A coverage report's slices as chart groups: one per ``--by`` field, then the embedding
    clusters; a slice is short when its gap exceeds :data:`SHORT_GAP`."""
    def share(label: str, s: dict[str, Any]) -> Share:
        return Share(label, float(s["data_share"]), float(s["target_share"]),
                     short=float(s["gap"]) > SHORT_GAP, to_parity=s.get("records_to_parity"))

    def jsd(value: float | None) -> str:
        return "undefined" if value is None else f"{value:.3f}"

    groups = [ShareGroup(f"{f['field']} (JSD {jsd(f.get('jsd'))})",
                         [share(str(s["slice"]), s) for s in f["slices"]])
              for f in report["fields"]]
    clusters = report.get("clusters")
    if isinstance(clusters, dict) and "slices" in clusters:
        groups.append(ShareGroup(
            f"embedding clusters (k={clusters.get('k')}, JSD {jsd(clusters.get('jsd'))})",
            [share(f"{s['cluster']}: {', '.join(s.get('terms', []))}"
                   if s.get("terms") else str(s["cluster"]), s) for s in clusters["slices"]]))
    return groups


def _slow_parts(workspace: Any, name: str) -> dict[str, Any]:
    """What reads every annotation of the project: seconds on a large project, so computed at
    most once a :data:`SNAPSHOT_SECONDS` (:class:`Snapshots`), and ahead of the first view by
    :func:`warm` in a served app."""
    data, reports, drift = workspace.quality.overview(
        name, by=("cohort", "vendor"), samples=REPORT_SAMPLES
    )
    per_day = sorted(Counter(
        as_utc(row.submitted_at).date().isoformat()
        for row in data.rows if row.kind == "live" and not row.copied
    ).items())
    return {
        "per_day": per_day,
        "owners": owners(data),
        "gold_over_time": gold_over_time(data),
        "by_cohort": reports["cohort"],
        "by_vendor": reports["vendor"],
        "drift": drift,
    }


GOLD_BINS = 12
"""Time bins of gold accuracy over time (the drift report's, so the two charts line up)."""
NO_COHORT, INTERNAL = "(no cohort)", "(internal)"
"""The quality report's groups of annotators in no cohort and of in-house annotators."""


def _group_names(data: Any, user_id: int) -> tuple[list[str], str]:
    """An annotator's cohorts and vendor as the quality report groups them."""
    user = data.users[user_id]
    vendor = data.vendors[user.vendor_id] if user.vendor_id else INTERNAL
    return sorted(data.cohorts.get(user_id, [])) or [NO_COHORT], vendor


def gold_over_time(data: Any, bins: int = GOLD_BINS) -> list[dict[str, Any]]:
    """Per cohort, then per vendor: the share of gold checks answered right in each of ``bins``
    equal time bins spanning the project's labelling (empty bins left out), each with its 95%
    Wilson interval: ``kind``, ``who``, ``n`` (checks), ``bins`` (``start``, ``end``, ``n``,
    ``right``, ``rate``, ``low``, ``high``). The checks are the quality report's: an
    annotator's own answers against the gold they are scored on, a copied answer not again."""
    streams: dict[tuple[str, str], tuple[list[datetime], list[int]]] = {}
    for row in data.rows:
        gold = row.known
        if row.copied or not gold:
            continue
        cohorts, vendor = _group_names(data, row.user_id)
        for _, right in gold_checks(row.submitted, gold):
            for key in [("cohort", c) for c in cohorts] + [("vendor", vendor)]:
                times, outcomes = streams.setdefault(key, ([], []))
                times.append(row.submitted_at)
                outcomes.append(int(right))
    stamps = [r.submitted_at for r in data.rows]
    if not stamps:
        return []
    first, last = min(stamps), max(stamps)
    edges = ([first + (last - first) * i / bins for i in range(bins)] + [last]
             if last > first else [first, last])
    out = []
    for (kind, who), (times, outcomes) in sorted(streams.items()):
        order = sorted(range(len(times)), key=lambda i: times[i])
        rates = rolling_rates([times[i] for i in order], [outcomes[i] for i in order], edges)
        for b in rates:
            b["right"] = round(b["rate"] * b["n"])
        out.append({"kind": kind, "who": who, "n": len(outcomes), "bins": rates})
    return out


def owners(data: Any) -> dict[str, dict[str, str | None]]:
    """Whose each group is: ``cohort`` name -> the vendor all its members work for
    (:data:`INTERNAL` when all are in-house, ``None`` when they are mixed), ``annotator`` name
    -> their vendor (or :data:`INTERNAL`)."""
    members: dict[str, set[str]] = {}
    annotators: dict[str, str | None] = {}
    for user_id, user in data.users.items():
        cohorts, vendor = _group_names(data, user_id)
        annotators[user.name] = vendor
        for cohort in cohorts:
            members.setdefault(cohort, set()).add(vendor)
    return {"cohort": {c: next(iter(v)) if len(v) == 1 else None for c, v in members.items()},
            "annotator": annotators}


def for_viewer(slow: dict[str, Any], vendor: str | None) -> dict[str, Any]:
    """The snapshot as a viewer working for ``vendor`` may see it: everything for an in-house
    viewer (``None``); for a vendor's lead, only their vendor's row, the cohorts whose members
    all work for it, the series and drift alerts of those cohorts and of its annotators (the
    project's throughput and backlog stay whole; no other vendor's name or number is left)."""
    if vendor is None:
        return slow
    cohorts = {c for c, v in slow["owners"]["cohort"].items() if v == vendor}
    people = {a for a, v in slow["owners"]["annotator"].items() if v == vendor}

    def mine(kind: str, who: str) -> bool:
        return ((kind == "vendor" and who == vendor) or (kind == "cohort" and who in cohorts)
                or (kind == "annotator" and who in people))

    def report(data: dict[str, Any], kind: str) -> dict[str, Any]:
        return {"groups": [g for g in data["groups"] if mine(kind, g["group"])],
                "method": data["method"]}

    drift = slow["drift"]
    return {
        **slow,
        "by_cohort": report(slow["by_cohort"], "cohort"),
        "by_vendor": report(slow["by_vendor"], "vendor"),
        "drift": {"series": [s for s in drift["series"] if mine(s["kind"], s["who"])],
                  "alerts": [a for a in drift["alerts"] if mine(a["kind"], a["who"])]},
        "gold_over_time": [s for s in slow["gold_over_time"] if mine(s["kind"], s["who"])],
    }


SNAPSHOT_SECONDS = 60.0
"""How old the dashboard's quality numbers may be before a view asks for fresh ones."""


def dashboard_snapshots(app: Any) -> Snapshots:
    """The app's (this server process's) dashboard snapshots."""
    snapshots: Snapshots = app.state.__dict__.setdefault("dashboard_snapshots", Snapshots())
    return snapshots


def warm(workspace: Any, snapshots: Snapshots) -> int:
    """Compute every project's dashboard snapshot (and the red-team one) ahead of its first
    view; ``curata serve`` runs this in a background thread at start, so a lead's first view
    is served from memory like every later one. Returns how many projects were warmed; a
    project that fails is logged and left to its first view."""
    warmed = 0
    for project in workspace.projects.list():
        try:
            snapshots.get(("project", project.name),
                          functools.partial(_slow_parts, workspace, project.name))  # fmt: skip
            warmed += 1
        except Exception:  # a view will try again, and say what failed
            log.exception("warming the dashboard of %r failed", project.name)
    try:
        snapshots.get(("redteam",), lambda: _redteam(workspace))
    except Exception:
        log.exception("warming the red-team dashboard snapshot failed")
    return warmed


class Snapshots:
    """The slow parts of each dashboard, kept per server process: a view shows the last
    computed snapshot with its time ("as of"); one older than ``max_age`` is still shown at
    once while a background thread computes the next, so no view waits on a large project's
    quality report — except the first view of a project in a process, which computes it."""

    def __init__(self, max_age: float = SNAPSHOT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: dict[Hashable, tuple[float, datetime, Any]] = {}
        self._refreshing: set[Hashable] = set()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> tuple[Any, datetime]:
        """The snapshot of ``key`` and when it was computed."""
        with self._lock:
            kept = self._kept.get(key)
            stale = kept is not None and self._clock() - kept[0] > self.max_age
            start_refresh = stale and key not in self._refreshing
            if start_refresh:
                self._refreshing.add(key)
        if kept is None:
            return self._compute(key, compute)
        if start_refresh:
            threading.Thread(target=self._refresh, args=(key, compute), daemon=True,
                             name="curata-dashboard").start()
        return kept[2], kept[1]

    def _compute(self, key: Hashable, compute: Callable[[], Any]) -> tuple[Any, datetime]:
        value, at = compute(), datetime.now(UTC)
        with self._lock:
            self._kept[key] = (self._clock(), at, value)
        return value, at

    def _refresh(self, key: Hashable, compute: Callable[[], Any]) -> None:
        try:
            self._compute(key, compute)
        except Exception:  # the next view tries again; this one showed the last snapshot
            log.exception("dashboard snapshot of %r failed", key)
        finally:
            with self._lock:
                self._refreshing.discard(key)


def _quality_groups(by_cohort: dict[str, Any], by_vendor: dict[str, Any]) -> list[BarGroup]:
    groups = []
    for what, report in (("cohort", by_cohort), ("vendor", by_vendor)):
        rows = report["groups"]
        gold = [Bar(g["group"], g["gold_accuracy"], g["gold_low"], g["gold_high"],
                    g["gold_answered"]) for g in rows if g["gold_answered"]]
        agree = [Bar(g["group"], g["consensus_agreement"], g["consensus_low"],
                     g["consensus_high"], g["consensus_answered"])
                 for g in rows if g["consensus_answered"]]
        if gold:
            groups.append(BarGroup(f"Gold accuracy by {what}", gold))
        if agree:
            groups.append(BarGroup(f"Agreement with the consensus by {what}", agree))
    return groups


def _redteam(workspace: Any) -> list[dict[str, Any]]:
    """The latest campaigns, oldest first, with their attack success rate by category."""
    out = []
    for campaign in reversed(workspace.campaigns.list(limit=CAMPAIGNS)):
        report = workspace.campaigns.report(campaign.id, examples=0)
        overall = report.attack_success
        label = campaign.label or campaign.id
        out.append({
            "id": campaign.id,
            "title": f"{label} ({campaign.attack_set}, {campaign.status})",
            "label": label,
            "status": campaign.status,
            "created_at": campaign.created_at,
            "overall": overall.to_dict(),
            "categories": [r.to_dict() for r in report.by["category"]],
        })
    return out
