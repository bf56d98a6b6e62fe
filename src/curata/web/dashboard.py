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
  (``redteam.read``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from curata.api.deps import ProjectName, ScopesDep, WorkspaceDep
from curata.governance.policies import ProjectPolicy, WorkspacePolicy
from curata.timeutil import as_utc
from curata.web.charts import (
    Bar,
    BarGroup,
    Point,
    Series,
    bar_chart,
    line_chart,
    throughput_chart,
)
from curata.web.render import render
from curata.web.session import PageUser

router = APIRouter(include_in_schema=False)

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
    data = workspace.quality.annotations(name)
    per_day = sorted(Counter(
        as_utc(row.submitted_at).date().isoformat()
        for row in data.rows if row.kind == "live" and not row.copied
    ).items())
    by_cohort = workspace.quality.report(name, by="cohort", samples=REPORT_SAMPLES)
    by_vendor = workspace.quality.report(name, by="vendor", samples=REPORT_SAMPLES)
    drift = workspace.quality.drift(name, by="both")
    over_time = [s for s in drift["series"] if s["kind"] == "cohort" and s["bins"]]
    redteam = _redteam(workspace) if WorkspacePolicy.allows(user, "redteam.read") else None

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
        method=by_cohort["method"],
    )


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
