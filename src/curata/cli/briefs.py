"""``curata brief``: remediation briefs (sourcing, annotation, red-team work that fixes a data
deficit), materialised into work and tracked until a follow-up evaluation shows the effect."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from curata.cli.output import JsonOption, emit, workspace
from curata.cli.output import table as table_of
from curata.core.errors import InputError, ValidationError
from curata.loop.briefs import Brief

app = typer.Typer(
    help="Remediation briefs: typed work (sourcing, annotation, red-team) for a data deficit, "
    "tracked until a follow-up evaluation shows its effect."
)

BriefId = typer.Argument(..., metavar="ID", help="The brief's number.")


class BriefType(StrEnum):
    sourcing = "sourcing"
    annotation = "annotation"
    redteam = "redteam"


@app.command("create")
def create(
    ctx: typer.Context,
    type: BriefType = typer.Option(..., "--type", help="What work fixes the deficit."),
    volume: int = typer.Option(
        ..., "--volume", help="How many items to re-label, records to source or attempts to make."
    ),
    reason: str = typer.Option(..., "--reason", help="Why the brief is needed."),
    owner: str = typer.Option(..., "--owner", help="The user who owns the work."),
    due: str = typer.Option(..., "--due", help="Due date, YYYY-MM-DD (today or later)."),
    category: str | None = typer.Option(
        None, "--category", help="The eval category the brief fixes (needs --baseline)."
    ),
    baseline: int | None = typer.Option(
        None, "--baseline", help="The evaluation run that shows the deficit (its eval_run)."
    ),
    evidence: str | None = typer.Option(
        None,
        "--evidence",
        help="Evidence as a JSON object, inline or a file holding one "
        "(e.g. 'curata attribute --json' output).",
    ),
    project: str | None = typer.Option(
        None,
        "--project",
        help="The annotation project (annotation briefs; shows on its dashboard for the others).",
    ),
    records: list[str] = typer.Option(
        None, "--records", help="Record ids to re-label (space- or comma-separated, repeatable)."
    ),
    filters: list[str] = typer.Option(
        None,
        "--filter",
        help="KEY=VALUE on record metadata (repeatable; VALUE read as JSON when it parses).",
    ),
    labelled_by: str | None = typer.Option(
        None, "--labelled-by", help="Items labelled by cohort:NAME, vendor:NAME or user:NAME."
    ),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Dataset version NAME@N whose saved coverage gap to source."
    ),
    field: str | None = typer.Option(None, "--field", help="Coverage field of the gap."),
    value: str | None = typer.Option(None, "--slice", help="Value of that field."),
    attacks: str | None = typer.Option(None, "--attacks", help="Attack set version (redteam)."),
    target: str | None = typer.Option(None, "--target", help="Red-team target (redteam)."),
    attack_category: str | None = typer.Option(
        None, "--attack-category", help="Attack category to send (default: --category)."
    ),
    materialize: bool = typer.Option(
        True, "--materialize/--no-materialize", help="Make the work now (default) or later."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create a brief and (by default) the work that fixes it: re-labelling tasks, a sourcing
    request with the coverage gap, or a red-team campaign."""
    found = _evidence(evidence) if evidence is not None else {}
    if baseline is not None:
        found["eval_run"] = baseline
    slice_: dict[str, Any] = {
        "category": category,
        "project": project,
        "records": [r.strip() for v in records or [] for r in v.replace(",", " ").split()],
        "filter": dict(_pair(f) for f in filters or []),
        "labelled_by": _labelled_by(labelled_by) if labelled_by else None,
        "dataset": dataset,
        "field": field,
        "slice": value,
        "attacks": attacks,
        "target": target,
        "attack_category": attack_category,
    }
    ws = workspace(ctx)
    brief = ws.briefs.create(
        type.value, target=slice_, volume=volume, reason=reason, owner=owner, due=due,
        evidence=found, materialize=materialize,
    )  # fmt: skip
    emit(as_json, brief.to_dict(), lambda c: _render(c, brief))


@app.command("materialize")
def materialize(ctx: typer.Context, brief_id: int = BriefId, as_json: bool = JsonOption) -> None:
    """Make the work of a brief created with --no-materialize."""
    brief = workspace(ctx).briefs.materialize(brief_id)
    emit(as_json, brief.to_dict(), lambda c: _render(c, brief))


@app.command("list")
def list_briefs(
    ctx: typer.Context,
    status: str | None = typer.Option(
        None,
        "--status",
        help="active (open or in progress), open, in_progress, "
        "closed_effective or closed_ineffective.",
    ),
    project: str | None = typer.Option(None, "--project", help="Only this project's briefs."),
    as_json: bool = JsonOption,
) -> None:
    """List briefs, soonest due first, with their progress."""
    briefs = workspace(ctx).briefs.list(status=status, project=project)

    def render(c: Console) -> None:
        if not briefs:
            c.print("No briefs: create one with 'curata brief create'.")
            return
        table = table_of("id", "type", "status", "slice", "owner", "due", "progress")
        for b in briefs:
            due = f"{b.due.isoformat()}{' OVERDUE' if b.overdue else ''}"
            table.add_row(str(b.id), b.kind, b.status, escape(b.slice_text()), escape(b.owner),
                          due, escape(b.progress_text()))  # fmt: skip
        c.print(table)

    emit(as_json, [b.to_dict() for b in briefs], render)


@app.command("show")
def show(ctx: typer.Context, brief_id: int = BriefId, as_json: bool = JsonOption) -> None:
    """Show a brief: its slice, evidence, work, progress and, once closed, the numbers."""
    brief = workspace(ctx).briefs.show(brief_id)
    emit(as_json, brief.to_dict(), lambda c: _render(c, brief))


@app.command("close")
def close(
    ctx: typer.Context,
    brief_id: int = BriefId,
    eval_run: int | None = typer.Option(
        None, "--eval", help="The follow-up evaluation run to compare with the baseline."
    ),
    ineffective: bool = typer.Option(
        False, "--ineffective", help="Close it as ineffective (the numbers are kept)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Close a brief: as effective only when the follow-up run's pass rate in its category is
    significantly above the baseline's (95% Newcombe interval of the difference above 0);
    otherwise it is refused unless --ineffective is given."""
    brief = workspace(ctx).briefs.close(brief_id, eval_run=eval_run, ineffective=ineffective)
    emit(as_json, brief.to_dict(), lambda c: _render(c, brief))


def _render(c: Console, b: Brief) -> None:
    table = Table(show_header=False, box=None)
    rows = [
        ("brief", f"{b.id} ({b.kind})"),
        ("status", b.status),
        ("slice", b.slice_text()),
        ("volume", f"{b.volume:,}"),
        ("reason", b.reason),
        ("owner", b.owner),
        ("due", b.due.isoformat() + (" (overdue)" if b.overdue else "")),
        ("evidence", _evidence_text(b.evidence)),
        ("progress", b.progress_text()),
        ("created", f"{b.created_at:%Y-%m-%d %H:%M} by {b.created_by}"),
    ]
    if b.kind == "sourcing" and "request" in b.work:
        gaps = b.work["request"]["gaps"]
        rows.append(("request", "; ".join(f"~{g.get('records')} of {g.get('label')}"
                                          for g in gaps)))  # fmt: skip
    if b.closed_at is not None:
        rows.append(("closed", f"{b.closed_at:%Y-%m-%d %H:%M} by {b.closed_by}"))
    for key, text in rows:
        table.add_row(f"[bold]{key}[/]", escape(text))
    c.print(table)


EVIDENCE_CHARS = 300
"""How much of a brief's evidence the text view shows (``--json`` has all of it)."""


def _evidence_text(evidence: dict[str, Any]) -> str:
    """The evidence in a line or two: an attribution's first suspect, else its JSON, cut."""
    if not evidence:
        return "-"
    suspects = evidence.get("suspects")
    if isinstance(suspects, list) and suspects and isinstance(suspects[0], dict):
        first = suspects[0].get("sentence")
        if isinstance(first, str):
            return f"attribution, first suspect: {first}"
    text = json.dumps(evidence, sort_keys=True)
    if len(text) <= EVIDENCE_CHARS:
        return text
    return text[:EVIDENCE_CHARS] + f"… ({len(text):,} characters; all of it with --json)"


def _evidence(value: str) -> dict[str, Any]:
    text, where = value, "--evidence"
    if not value.lstrip().startswith(("{", "[")):
        where = value
        try:
            text = Path(value).read_text("utf-8")
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", path=value) from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", where=where) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", where=where)
    return data


def _pair(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValidationError(f"--filter {text!r}: expected KEY=VALUE")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def _labelled_by(text: str) -> dict[str, str]:
    kind, sep, name = text.partition(":")
    if not sep or not name.strip():
        raise ValidationError(
            f"--labelled-by {text!r}: expected cohort:NAME, vendor:NAME or user:NAME"
        )
    return {kind.strip(): name.strip()}
