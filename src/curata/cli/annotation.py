"""``curata user|project|guideline|serve``: the annotation workforce, projects and the API."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from curata.annotation.aggregation import METHODS
from curata.annotation.gold import ItemError
from curata.annotation.transfer import read_export
from curata.cli.governance import policy_line
from curata.cli.output import JsonOption, console, emit, workspace
from curata.cli.output import table as table_of
from curata.cli.sources import SensitivityChoice
from curata.core.errors import InputError, ValidationError

users = typer.Typer(help="Annotators, reviewers, leads: roles, vendors, cohorts, skills, tokens.")
projects = typer.Typer(help="Annotation projects over dataset versions.")
guidelines = typer.Typer(help="Versioned annotation guidelines (Markdown).")


class RoleChoice(StrEnum):
    admin = "admin"
    lead = "lead"
    reviewer = "reviewer"
    annotator = "annotator"
    sme = "sme"
    viewer = "viewer"


@users.command("add")
def user_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Unique user name.", metavar="NAME"),
    role: RoleChoice = typer.Option(RoleChoice.annotator, "--role", help="What the user may do."),
    vendor: str | None = typer.Option(None, "--vendor", help="External workforce (at most one)."),
    cohort: list[str] = typer.Option([], "--cohort", help="Cohort to join (repeatable)."),
    language: list[str] = typer.Option([], "--language", help="Language skill (repeatable)."),
    domain: list[str] = typer.Option([], "--domain", help="Domain skill (repeatable)."),
    clearance: SensitivityChoice = typer.Option(
        SensitivityChoice.internal, "--clearance", help="Most sensitive source class they may see."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Add a user (vendor and cohorts are created on first mention)."""
    user = workspace(ctx).workforce.add_user(
        name,
        role=role.value,
        vendor=vendor,
        cohorts=cohort,
        languages=language,
        domains=domain,
        clearance=clearance.value,
    )
    emit(as_json, user.to_dict(), lambda c: c.print(f"Added {user.role} [bold]{user.name}[/]"))


@users.command("list")
def user_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List users."""
    found = workspace(ctx).workforce.list()

    def render(c: Console) -> None:
        t = table_of("user", "role", "vendor", "cohorts", "languages", "domains", "clearance")
        for u in found:
            t.add_row(
                u.name,
                u.role,
                u.vendor or "-",
                ", ".join(u.cohorts),
                ", ".join(u.languages),
                ", ".join(u.domains),
                u.clearance,
            )
        c.print(t)

    emit(as_json, [u.to_dict() for u in found], render)


@users.command("token")
def user_token(
    ctx: typer.Context, name: str = typer.Argument(..., help="User name.", metavar="NAME")
) -> None:
    """Issue an API token (printed once; only its hash is stored)."""
    typer.echo(workspace(ctx).workforce.issue_token(name))


@users.command("revoke")
def user_revoke(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="User name.", metavar="NAME"),
    as_json: bool = JsonOption,
) -> None:
    """Revoke every API token of a user (a running server stops accepting them within 1 s)."""
    n = workspace(ctx).workforce.revoke_tokens(name)
    emit(
        as_json, {"user": name, "revoked": n}, lambda c: c.print(f"Revoked {n} token(s) of {name}")
    )


@projects.command("create")
def project_create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Unique project name.", metavar="NAME"),
    version: str = typer.Option(..., "--version", help="Dataset version to annotate (NAME@N)."),
    schema: Path = typer.Option(..., "--schema", help='JSON file: {"questions": [...]}.'),
    overlap: int = typer.Option(1, "--overlap", help="Annotators per item."),
    gold_share: float = typer.Option(0.0, "--gold-share", help="Share of served gold items."),
    lease_minutes: float = typer.Option(30.0, "--lease-minutes", help="How long a lease lasts."),
    owner: str | None = typer.Option(None, "--owner", help="Accountable owner (a user)."),
    member: list[str] = typer.Option([], "--member", help="User who may work on it (repeatable)."),
    review_mode: str = typer.Option(
        "none", "--review", help="Review routing: none, sample, all or disagreement."
    ),
    review_rate: float = typer.Option(0.1, "--review-rate", help="Share reviewed (sample)."),
    review_threshold: float = typer.Option(
        0.67, "--review-threshold", help="Agreement below which an item is reviewed."
    ),
    calibration: int = typer.Option(0, "--calibration", help="Calibration items per newcomer."),
    calibration_threshold: float = typer.Option(
        0.8, "--calibration-threshold", help="Accuracy that opens live items."
    ),
    calibration_rule: str = typer.Option(
        "point",
        "--calibration-rule",
        help="Judge the calibration score by itself (point), or by its 95% Wilson interval: "
        "pass only when the lower bound reaches the threshold (lower), fail only when the upper "
        "bound misses it (upper).",
    ),
    retraining: str = typer.Option(
        "", "--retraining", help="Material (text or URL) named to those who fail calibration."
    ),
    language_field: str | None = typer.Option(
        None,
        "--language-field",
        help="Metadata field with each record's language: items go only to annotators "
        "who have that language.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create a project with one task per record of the version."""
    try:
        questions = json.loads(schema.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such file", path=str(schema)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg}", path=str(schema), line=exc.lineno) from None
    project = workspace(ctx).projects.create(
        name,
        version=version,
        schema=questions,
        overlap=overlap,
        gold_share=gold_share,
        lease_seconds=int(lease_minutes * 60),
        owner=owner,
        members=member,
        review={"mode": review_mode, "rate": review_rate, "threshold": review_threshold},
        calibration={
            "size": calibration,
            "threshold": calibration_threshold,
            "rule": calibration_rule,
            "retraining": retraining,
        },
        language_field=language_field,
    )
    emit(
        as_json,
        project.to_dict(),
        lambda c: c.print(f"Created project [bold]{project.name}[/]: {project.tasks:,} tasks"),
    )


class OutsideVotesChoice(StrEnum):
    review = "review"
    forbid = "forbid"
    allow = "allow"


@projects.command("set")
def project_set(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Project name.", metavar="NAME"),
    overlap: int | None = typer.Option(
        None, "--overlap", help="Annotators per item (raising re-opens)."
    ),
    outside_votes: OutsideVotesChoice | None = typer.Option(
        None,
        "--outside-votes",
        help="What a dawid-skene release does with a label none of an item's annotators chose: "
        "hold it back and send the item to review (default), release the likeliest answer "
        "given (forbid), or release it (allow); marked with its reason in every case.",
    ),
) -> None:
    """Change a running project's overlap or its aggregation policy."""
    if overlap is None and outside_votes is None:
        raise ValidationError("give --overlap, --outside-votes or both")
    ws = workspace(ctx)
    if outside_votes is not None:
        policy = ws.projects.set_aggregation(name, {"outside_votes": outside_votes.value})
        typer.echo(f"{name}: outside-votes {policy['outside_votes']}")
    if overlap is not None:
        p = ws.projects.set_overlap(name, overlap)
        typer.echo(f"{p.name}: overlap {p.overlap}; {p.complete:,} of {p.tasks:,} items complete")


@projects.command("gold")
def project_gold(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name.", metavar="PROJECT"),
    file: Path = typer.Argument(
        ..., help='JSONL: {"record_id": ..., "answers": {...}} per line.', metavar="FILE"
    ),
    calibration: bool = typer.Option(
        False, "--calibration", help="Add calibration items instead of gold items."
    ),
) -> None:
    """Add hidden gold (or calibration) items with their known answers."""
    ws = workspace(ctx)
    kind = "calibration" if calibration else "gold"
    items = []
    for number, line in enumerate(_lines(file), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON: {exc.msg}", path=str(file), line=number) from None
        if not isinstance(item, dict) or not isinstance(item.get("record_id"), str):
            raise InputError(
                'expected {"record_id": ..., "answers": {...}}', path=str(file), line=number
            )
        items.append((number, item))
    try:
        ws.projects.gold.add_items(
            project,
            [(item["record_id"], item.get("answers") or {}) for _, item in items],
            kind=kind,
        )
    except ItemError as exc:
        at = items[exc.item - 1][0]  # the file line the item came from
        raise InputError(str(exc.problem), path=str(file), line=at) from None
    typer.echo(f"Added {len(items)} {kind} items to {project}")


def _lines(file: Path) -> list[str]:
    try:
        return file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError("no such file", path=str(file)) from None


@projects.command("add-member")
def project_add_member(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name.", metavar="PROJECT"),
    users: list[str] = typer.Argument(..., help="Users to add.", metavar="USER..."),
) -> None:
    """Let more users work on a project."""
    p = workspace(ctx).projects.members.add(project, users)
    typer.echo(f"{p.name}: members {', '.join(p.members)}")


@projects.command("gate")
def project_gate(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name.", metavar="PROJECT"),
    alpha: list[str] = typer.Option(
        [], "--alpha", help="QUESTION=MIN: Krippendorff's alpha (nominal) >= MIN (repeatable)."
    ),
    gold_accuracy: float | None = typer.Option(
        None, "--gold-accuracy", help="Share of gold answers that must be right."
    ),
    min_annotations: int | None = typer.Option(
        None, "--min-annotations", help="Annotations every labelled item must have."
    ),
    clear: bool = typer.Option(False, "--clear", help="Remove every gate."),
    as_json: bool = JsonOption,
) -> None:
    """Set the quality gates a release of the project must pass (replaces earlier ones)."""
    gates: dict[str, Any] = {}
    for spec in alpha:
        name, sep, value = spec.partition("=")
        try:
            gates.setdefault("alpha", {})[name.strip()] = float(value)
        except ValueError:
            raise ValidationError(f"--alpha {spec!r}: expected QUESTION=NUMBER") from None
        if not sep or not name.strip():
            raise ValidationError(f"--alpha {spec!r}: expected QUESTION=NUMBER")
    if gold_accuracy is not None:
        gates["gold_accuracy"] = gold_accuracy
    if min_annotations is not None:
        gates["min_annotations"] = min_annotations
    if not gates and not clear:
        raise ValidationError(
            "name at least one gate (--alpha, --gold-accuracy, --min-annotations) or --clear"
        )
    saved = workspace(ctx).projects.set_gates(project, {} if clear else gates)
    emit(
        as_json,
        {"project": project, "gates": saved},
        lambda c: c.print(f"{project}: gates {json.dumps(saved) if saved else 'none'}"),
    )


@projects.command("recalibrate")
def project_recalibrate(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name.", metavar="PROJECT"),
    user: str = typer.Argument(
        ..., help="The annotator who takes calibration again.", metavar="USER"
    ),
    reason: str = typer.Option("", "--reason", help="Why (goes to the audit log)."),
    as_json: bool = JsonOption,
) -> None:
    """Let an annotator take the calibration set again (earlier answers stay, superseded)."""
    n = workspace(ctx).projects.members.reset_calibration(project, user, reason=reason)
    emit(
        as_json,
        {"project": project, "user": user, "superseded": n},
        lambda c: c.print(
            f"{user} takes calibration on {project} again ({n} earlier answers superseded)"
        ),
    )


@projects.command("show")
def project_show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Project name.", metavar="NAME"),
    as_json: bool = JsonOption,
) -> None:
    """Show a project: version, schema, overlap, progress."""
    p = workspace(ctx).projects.get(name)

    def render(c: Console) -> None:
        t = Table(show_header=False, box=None)
        rows = [
            ("project", p.name),
            ("version", p.version),
            ("questions", ", ".join(f"{q['name']} ({q['type']})" for q in p.schema["questions"])),
            ("schema / guideline", f"v{p.schema_version} / v{p.guideline_version or '-'}"),
            ("overlap", str(p.overlap)),
            ("progress", f"{p.complete:,} of {p.tasks:,} items complete, {p.annotations:,} labels"),
            ("gold", f"{p.gold_tasks:,} items, served share {p.gold_share:.0%}"),
            ("owner", p.owner or "-"),
            ("members", ", ".join(p.members) or "-"),
        ]
        for key, value in rows:
            t.add_row(f"[bold]{key}[/]", escape(value))
        c.print(t)

    emit(as_json, p.to_dict(), render)


@projects.command("list")
def project_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List projects with their progress."""
    found = workspace(ctx).projects.list()

    def render(c: Console) -> None:
        t = table_of("project", "version", "tasks", "complete", "labels", "overlap", "owner")
        for p in found:
            t.add_row(
                p.name,
                p.version,
                f"{p.tasks:,}",
                f"{p.complete:,}",
                f"{p.annotations:,}",
                str(p.overlap),
                p.owner or "-",
            )
        c.print(t)

    emit(as_json, [p.to_dict() for p in found], render)


@guidelines.command("publish")
def guideline_publish(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name.", metavar="PROJECT"),
    file: Path = typer.Argument(..., help="Markdown file with the guideline.", metavar="FILE"),
    note: str = typer.Option("", "--note", help="What changed in this version."),
    reannotate: str = typer.Option(
        "none", "--reannotate", help="Send labelled items back: none, all or changed-labels."
    ),
    label: list[str] = typer.Option(
        [], "--label", help="A label whose meaning changed (repeatable; for changed-labels)."
    ),
) -> None:
    """Publish the next version of a project's guideline."""
    try:
        body = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", path=str(file)) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", path=str(file)) from None
    number = workspace(ctx).projects.guidelines.publish(
        project, body, note=note, reannotate=reannotate, labels=label
    )
    typer.echo(f"Published guideline v{number} of {project}")


@guidelines.command("show")
def guideline_show(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name.", metavar="PROJECT"),
    version: int | None = typer.Option(None, "--version", help="A past version (default latest)."),
    as_json: bool = JsonOption,
) -> None:
    """Print a guideline."""
    g = workspace(ctx).projects.guidelines.get(project, version)
    emit(as_json, g, lambda c: c.print(f"[bold]v{g['version']}[/]\n{escape(g['body'])}"))


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    keep_alive: int = typer.Option(
        75,
        "--keep-alive",
        min=1,
        max=3600,
        help="Seconds an idle connection stays open (annotators pause for seconds between "
        "items; the 75 s default is nginx's).",
    ),
) -> None:
    """Serve the web application (at /) and the REST API (OpenAPI docs at /docs) on the
    workspace's database. Sign in with a user name and a token from 'curata user token NAME'."""
    import os

    import uvicorn

    from curata.api.app import create_app

    ws = workspace(ctx)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    console().print(f"Curata at [bold]http://{shown}:{port}/[/bold] — sign in with your user "
                  "name and a token from [bold]curata user token NAME[/bold]; API docs at "
                  f"http://{shown}:{port}/docs")
    if workers == 1:
        uvicorn.run(create_app(ws, warm_dashboards=True), host=host, port=port, log_level="info",
                    timeout_keep_alive=keep_alive)  # fmt: skip
        return
    os.environ["CURATA_HOME"] = str(ws.home)  # each worker opens the workspace itself
    uvicorn.run(
        "curata.api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        timeout_keep_alive=keep_alive,
        # a worker imports the app and opens the workspace (database, record store) before it
        # answers; on a busy machine that outlasts uvicorn's 5 s health-check default, which
        # then kills and restarts every worker while it starts (tests/integration/test_s3_store)
        timeout_worker_healthcheck=60,
    )


annotate = typer.Typer(help="Turn a project's annotations into dataset versions.")


AggregateChoice = StrEnum(  # type: ignore[misc]
    "AggregateChoice", {name.replace("-", "_"): name for name in METHODS}
)
"""The registered aggregators (``curata.aggregators``), as Typer choices."""


@annotate.command("release")
def annotate_release(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name.", metavar="PROJECT"),
    aggregate: AggregateChoice = typer.Option(
        AggregateChoice("majority"), "--aggregate", help="How annotators' answers are combined."
    ),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Dataset to write (default PROJECT-labels)."
    ),
    override_gates: bool = typer.Option(
        False, "--override-gates", help="Release despite failed quality gates (owner only)."
    ),
    reason: str = typer.Option("", "--reason", help="Why the gates are overridden (audited)."),
    as_json: bool = JsonOption,
) -> None:
    """Aggregate labels into a new version with per-record labels and confidence; refuses
    when a quality gate of the project fails (see 'curata project gate')."""
    if reason and not override_gates:
        raise ValidationError("--reason goes with --override-gates")
    result = workspace(ctx).releases.release(
        project,
        aggregate=aggregate.value,
        dataset=dataset,
        override=reason if override_gates else None,
    )
    v = result.version

    def render(c: Console) -> None:
        c.print(
            f"Released [bold]{v.ref}[/]: {result.labelled:,} labelled, "
            f"{result.unlabelled:,} without labels, {result.tied:,} tied"
        )
        if result.outside_votes:
            c.print(
                f"  {result.outside_votes:,} item(s) where Dawid-Skene inferred a label none of "
                f"their annotators chose (column outside_votes); {result.held:,} held for review"
            )
        for key, names in result.people.items():
            c.print(f"  {key}: {escape(', '.join(names)) or '-'}")
        for gate in result.gates:
            c.print(f"  gate {escape(gate.describe())}")
        for entry in result.automation:  # per-question modes (#16), see docs/automation.md
            warning = entry.get("warning")
            c.print(f"  {escape(entry['question'])}: {entry['mode']}"
                    + (f" [yellow]warning: {escape(warning)}[/]" if warning else ""))  # fmt: skip
        report = result.policy_report or {}
        configured = [p for p in report.get("policies", []) if p["status"] != "not-configured"]
        for policy in configured:
            c.print(policy_line(policy["policy"], policy["status"], policy.get("reason") or ""))
        if result.policy_report_path:
            c.print(f"  policy report: {escape(result.policy_report_path)}")
        for kind, path in result.cards.items():
            c.print(f"  data card ({kind}): {escape(path)}")
        if result.cards:
            c.print("  signed into the audit chain: check files with 'curata release verify'")
        if result.card_error:
            c.print(f"  [yellow]warning: {escape(result.card_error)}[/]")
        for notice in result.notices:
            c.print(f"  notified {escape(str(notice.get('target', '')))}: "
                    f"{escape(str(notice.get('status', '')))}")  # fmt: skip

    emit(as_json, result.to_dict(), render)


tasks = typer.Typer(help="The task queue of a project.")


@tasks.command("status")
def tasks_status(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name.", metavar="PROJECT"),
    hours: float = typer.Option(
        24.0, "--hours", help="Count the labels of this many hours back for the pace."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Backlog, throughput per annotator and hour of labelling (first lease to last label
    among the labels of the last --hours), and the ETA at that pace ("done" when finished)."""
    s = workspace(ctx).projects.status(project, window_hours=hours)

    def render(c: Console) -> None:
        c.print(
            f"[bold]{s.project}[/]: {s.items_complete:,} of {s.items:,} items complete"
            + (f" ({s.items_model:,} answered by the model alone)" if s.items_model else "")
            + f"; {s.labels_done:,} of {s.labels_needed:,} labels; {s.leased_now:,} leased now"
        )
        t = table_of("annotator", f"labels (last {hours:g} h)", "per hour of labelling")
        for a in s.per_annotator:
            rate = "—" if a["per_hour"] is None else f"{a['per_hour']:,.1f}"
            t.add_row(escape(a["annotator"]), f"{a['labels']:,}", rate)
        c.print(t)
        if s.labels_per_hour is None:
            c.print(f"pace unknown labels/hour: no labels in the last {hours:g} h")
        else:
            c.print(
                f"pace {s.labels_per_hour:,.1f} labels/hour over the {s.window['hours'] * 60:,.1f}"
                f" min from the first lease to the last label ({s.window['from']} to "
                f"{s.window['to']}; labels of the last {hours:g} h)"
            )
        if s.done:
            c.print("done: every item has all its labels")
        elif s.eta is not None:
            c.print(f"ETA {s.eta.isoformat(timespec='minutes')} at that pace")

    emit(as_json, s.to_dict(), render)


class TransferFormat(StrEnum):
    labelstudio = "labelstudio"
    argilla = "argilla"


@annotate.command("export")
def annotate_export(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name.", metavar="PROJECT"),
    format: TransferFormat = typer.Option(..., "--format", help="labelstudio or argilla."),
    out: Path = typer.Option(..., "--out", help="Folder to write (must not exist)."),
) -> None:
    """Export items and their final answers for Label Studio (tasks.json, label_config.xml)
    or Argilla (the folder rg.Dataset.from_disk reads)."""
    ws = workspace(ctx)
    clearance = ws.identity.clearance if ws.identity else None
    count = ws.transfer.write(project, format.value, out, clearance=clearance)
    typer.echo(f"Exported {count:,} items of {project} to {out}")


@annotate.command("import")
def annotate_import(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name.", metavar="PROJECT"),
    file: Path = typer.Argument(
        ..., help="A Label Studio or Argilla export (its folder or items file).", metavar="PATH"
    ),
    format: TransferFormat = typer.Option(..., "--format", help="labelstudio or argilla."),
    create_users: bool = typer.Option(
        False, "--create-users", help="Add unknown annotators as users (role annotator)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Import annotations (all of them or none); items are matched by curata_id."""
    items = read_export(file, format.value)
    result = workspace(ctx).transfer.import_(
        project, items, format.value, create_users=create_users
    )
    emit(
        as_json,
        result.to_dict(),
        lambda c: c.print(
            f"Imported {result.annotations:,} annotations into {project} "
            f"({result.skipped:,} already present; users created: "
            f"{', '.join(result.users_created) or 'none'})"
        ),
    )
