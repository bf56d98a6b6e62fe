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
* attack success rate by category: :meth:`CampaignService.report <curata.redteam.campaigns.
  CampaignService.report>` of the latest campaigns, for users who may read campaigns
  (``redteam.read``);
* the project's versions (the one it labels and every release of it), each linked to its
  lineage page (``/projects/P/lineage?version=REF``): :meth:`LineageService.upstream
  <curata.lineage.graph.LineageService.upstream>` drawn by :func:`~curata.web.graph_svg.
  lineage_svg`. Only the project's own versions are shown there (404 otherwise), so a lead of
  another project cannot read this one's lineage through their own project's page;
* coverage per dataset of those versions: the report ``curata coverage REF --json`` wrote to
  ``<home>/coverage/REF.json`` (:data:`COVERAGE_DIR`; the coverage service keeps no result of
  its own), drawn by :func:`~curata.web.charts.coverage_chart`; where there is none the page
  says so and shows the command.
"""

from __future__ import annotations

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

from curata.core.errors import NotFoundError
from curata.governance.policies import ProjectPolicy, WorkspacePolicy
from curata.http.deps import ProjectName, ScopesDep, WorkspaceDep
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
    reads_redteam = WorkspacePolicy.allows(user, "redteam.read")
    snapshots: Snapshots = request.app.state.__dict__.setdefault("dashboard_snapshots",
                                                                 Snapshots())
    slow, as_of = snapshots.get((name, reads_redteam),
                                lambda: _slow_parts(workspace, name, reads_redteam))
    per_day, by_cohort, by_vendor, drift, redteam = (
        slow["per_day"], slow["by_cohort"], slow["by_vendor"], slow["drift"], slow["redteam"])
    over_time = [s for s in drift["series"] if s["kind"] == "cohort" and s["bins"]]
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
            ident="over-time")),
        "redteam": Markup(bar_chart(
            "Attack success rate by category, latest campaigns",
            [BarGroup(c["title"], [Bar(r["value"], r["rate"], r["low"], r["high"], r["n"])
                                   for r in c["categories"]]) for c in redteam or []],
            ident="redteam")) if redteam is not None else None,
    }
    return render(
        request, "dashboard.html", project=name, progress=progress, per_day=per_day,
        cohorts=by_cohort["groups"], vendors=by_vendor["groups"], over_time=over_time,
        alerts=drift["alerts"], redteam=redteam, charts=charts,
        method=by_cohort["method"], as_of=as_of, refresh_s=int(SNAPSHOT_SECONDS),
        versions=versions, coverage=coverage,
    )


@router.get("/projects/{name}/lineage")
def lineage(
    request: Request, name: ProjectName, user: PageUser, workspace: WorkspaceDep,
    scopes: ScopesDep,
    version: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """The lineage of one of the project's versions (default: its latest release, else the
    version it labels) as a graph, with its edges as a table."""
    ProjectPolicy.manage(user, scopes.project(name, user))
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


COVERAGE_DIR = "coverage"
"""Where, under the workspace's home, the dashboard reads coverage reports: ``REF.json``, as
``curata coverage REF --target FILE --json`` prints it."""
SHORT_GAP = 0.01
"""A slice is a gap (drawn red) when the target's share exceeds the data's by more than this:
the threshold of the sourcing brief (:func:`curata.curation.coverage.sourcing_brief`)."""


def coverage_path(home: Path, ref: str) -> Path:
    return Path(home) / COVERAGE_DIR / f"{ref}.json"


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
    path = coverage_path(home, ref)
    return (f"mkdir -p {shlex.quote(str(path.parent))} && curata coverage {shlex.quote(ref)} "
            f"--target FILE --by FIELD --json > {shlex.quote(str(path))}")


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


def _slow_parts(workspace: Any, name: str, reads_redteam: bool) -> dict[str, Any]:
    """What reads every annotation of the project (and the campaigns): seconds on a large
    project, so computed at most once a :data:`SNAPSHOT_SECONDS` (:class:`Snapshots`)."""
    data = workspace.quality.annotations(name)
    per_day = sorted(Counter(
        as_utc(row.submitted_at).date().isoformat()
        for row in data.rows if row.kind == "live" and not row.copied
    ).items())
    return {
        "per_day": per_day,
        "by_cohort": workspace.quality.report(name, by="cohort", samples=REPORT_SAMPLES),
        "by_vendor": workspace.quality.report(name, by="vendor", samples=REPORT_SAMPLES),
        "drift": workspace.quality.drift(name, by="both"),
        "redteam": _redteam(workspace) if reads_redteam else None,
    }


SNAPSHOT_SECONDS = 60.0
"""How old the dashboard's quality numbers may be before a view asks for fresh ones."""


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
