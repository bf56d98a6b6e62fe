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

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from curata.governance.policies import ProjectPolicy, WorkspacePolicy
from curata.http.deps import ProjectName, ScopesDep, WorkspaceDep
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
    )


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
