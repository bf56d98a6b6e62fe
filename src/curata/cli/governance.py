"""``curata raci`` and ``curata policy``: who is Responsible, Accountable, Consulted and Informed
for a project or dataset, and the policies its releases are held to."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from curata.cli.output import JsonOption, emit, workspace
from curata.cli.output import table as table_of
from curata.stewardship.raci import Raci
from curata.stewardship.release_policy import PolicyReport

raci = typer.Typer(help="RACI per project and dataset: Accountable, Responsible, Consulted, "
                   "Informed (webhooks on releases and regressions).")  # fmt: skip
policy = typer.Typer(help="Release policies: license allow-list, consent, PII redaction, "
                     "quality and red-team gates, benchmark contamination.")  # fmt: skip

ProjectArgument = typer.Argument(
    None, help="Project name (or give --dataset).", metavar="[PROJECT]", show_default=False
)
DatasetOption = typer.Option(None, "--dataset", help="A dataset instead of a project.")


def _split(values: list[str]) -> list[str] | None:
    """Repeatable, comma-separated option values; ``None`` when the option was not given."""
    out = [v.strip() for value in values for v in value.split(",") if v.strip()]
    return out or None


def _print_raci(c: Console, r: Raci) -> None:
    c.print(f"RACI of {r.scope} [bold]{escape(r.name)}[/]")
    c.print(f"  Accountable: {escape(r.accountable or '- (none set)')}")
    for role in ("responsible", "consulted", "informed"):
        c.print(f"  {role.capitalize()}: {escape(', '.join(getattr(r, role))) or '-'}")


@raci.command("set")
def raci_set(
    ctx: typer.Context,
    project: str | None = ProjectArgument,
    dataset: str | None = DatasetOption,
    accountable: list[str] = typer.Option(
        [], "--accountable", help="The one Accountable owner (an in-house admin or lead)."
    ),
    responsible: list[str] = typer.Option(
        [],
        "--responsible",
        help="Responsible users or cohorts (cohort:NAME), comma-separated "
        "or repeated; replaces the earlier ones.",
    ),
    consulted: list[str] = typer.Option(
        [],
        "--consulted",
        help="Consulted SMEs (users who review: sme, reviewer, lead, admin); "
        "they join the project and take its review work.",
    ),
    informed: list[str] = typer.Option(
        [],
        "--informed",
        help="Informed consumers: http(s) webhook URLs or users, told of releases and regressions.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Set the RACI of a project or a dataset (roles not given stay as they are). A project's
    Accountable is its owner, the one who may override its release gates and policies."""
    r = workspace(ctx).raci.set(
        project,
        dataset=dataset,
        accountable=accountable or None,
        responsible=_split(responsible),
        consulted=_split(consulted),
        informed=_split(informed),
    )
    emit(as_json, r.to_dict(), lambda c: _print_raci(c, r))


@raci.command("show")
def raci_show(
    ctx: typer.Context,
    project: str | None = ProjectArgument,
    dataset: str | None = DatasetOption,
    as_json: bool = JsonOption,
) -> None:
    """Show the RACI of a project or a dataset; for a project, also what its Consulted SMEs
    are asked to look at (guideline versions, items waiting for review)."""
    ws = workspace(ctx)
    r = ws.raci.get(project, dataset=dataset)
    data = r.to_dict()
    if project is not None:
        data["consulted_work"] = ws.raci.consulted_work(project)

    def render(c: Console) -> None:
        _print_raci(c, r)
        work = data.get("consulted_work")
        if work and r.consulted:
            versions = ", ".join(f"v{g['version']}" for g in work["guidelines"]) or "none"
            c.print(f"  Consulted on: guideline versions {versions}; "
                    f"{len(work['review_items'])} item(s) waiting for review")  # fmt: skip

    emit(as_json, data, render)


@raci.command("notices")
def raci_notices(
    ctx: typer.Context,
    limit: int = typer.Option(50, "--limit", help="How many of the latest notices."),
    as_json: bool = JsonOption,
) -> None:
    """The latest notices to Informed parties: webhook deliveries (delivered or failed, with
    the attempts and the last error) and users' notices."""
    found = workspace(ctx).notifier.notices(limit=limit)

    def render(c: Console) -> None:
        t = table_of("event", "target", "status", "attempts", "error", "at")
        for n in found:
            t.add_row(n["event"], escape(n["target"]), n["status"], str(n["attempts"]),
                      escape(n["error"] or "-"), n["created_at"])  # fmt: skip
        c.print(t)

    emit(as_json, found, render)


@raci.command("secret")
def raci_secret(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Print the workspace's webhook secret: consumers check each body's X-Curata-Signature
    (sha256=HMAC-SHA256 of the body under it)."""
    from curata.stewardship.notify import webhook_secret

    ws = workspace(ctx)
    with ws.projects.sessions.begin() as session:
        secret = webhook_secret(session)
    emit(as_json, {"secret": secret}, lambda c: c.print(secret))


def _print_report(c: Console, report: PolicyReport) -> None:
    verdict = "[green]pass[/]" if report.passed else "[red]FAIL[/]"
    c.print(f"Release policies of {escape(report.project)} -> {escape(report.dataset)} "
            f"(from {report.source_version}): {verdict}")  # fmt: skip
    for p in report.policies:
        c.print(policy_line(p.policy, p.status, p.reason))


def policy_line(policy: str, status: str, reason: str) -> str:
    """One policy's verdict as the CLI prints it (``policy check`` and ``annotate release``)."""
    colour = {"pass": "green", "fail": "red"}.get(status, "dim")
    return f"  [{colour}]{status}[/] {escape(policy)}: {escape(reason) or '-'}"


def _print_config(c: Console, name: str, config: dict[str, Any]) -> None:
    """A scope's policy settings, one per line."""
    if not config:
        c.print(f"No release policies set on {escape(name)}.")
        return
    c.print(f"Release policies of [bold]{escape(name)}[/]:")
    for key, value in config.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else (
            "yes" if value is True else "no" if value is False else str(value))  # fmt: skip
        c.print(f"  {key.replace('_', ' ')}: {escape(shown)}")


@policy.command("set")
def policy_set(
    ctx: typer.Context,
    project: str | None = ProjectArgument,
    dataset: str | None = DatasetOption,
    license_allow: list[str] = typer.Option(
        [],
        "--license-allow",
        help="SPDX ids every source's license must satisfy "
        "(comma-separated or repeated), e.g. MIT,Apache-2.0,CC-BY-4.0.",
    ),
    require_consent: bool | None = typer.Option(
        None,
        "--require-consent/--no-require-consent",
        help="Every source must record its consent basis.",
    ),
    require_pii_redaction: bool | None = typer.Option(
        None,
        "--require-pii-redaction/--no-require-pii-redaction",
        help="The data must have passed a pii step that redacts (unless every source is "
        "declared free of personal data).",
    ),
    redteam_gate: list[str] = typer.Option(
        [],
        "--redteam-gate",
        help="Red-team campaigns BEFORE:AFTER that must show no regression (repeatable).",
    ),
    max_regression: float | None = typer.Option(
        None,
        "--max-regression",
        help="Largest breach-rate rise a red-team gate allows (default 0.05).",
    ),
    no_contamination: list[str] = typer.Option(
        [],
        "--no-contamination",
        help="Benchmark versions (BENCH@N) no released record may "
        "share a 13-gram with (repeatable).",
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Drop the policies not given here (default: keep them)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Set the release policies of a project or a dataset (a dataset's apply over the
    project's when a project releases into it)."""
    config = workspace(ctx).policies.set(
        project,
        dataset=dataset,
        replace=replace,
        license_allow=_split(license_allow),
        require_consent=require_consent,
        require_pii_redaction=require_pii_redaction,
        redteam_gates=_split(redteam_gate),
        max_regression=max_regression,
        no_contamination=_split(no_contamination),
    )
    emit(as_json, config, lambda c: _print_config(c, str(project or dataset), config))


@policy.command("show")
def policy_show(
    ctx: typer.Context,
    project: str | None = ProjectArgument,
    dataset: str | None = DatasetOption,
    as_json: bool = JsonOption,
) -> None:
    """Show the release policies set on a project or a dataset."""
    config = workspace(ctx).policies.get(project, dataset=dataset)
    emit(as_json, config, lambda c: _print_config(c, str(project or dataset), config))


@policy.command("check")
def policy_check(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name.", metavar="PROJECT"),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Dataset the release would write (default PROJECT-labels)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Evaluate the release policies now, as 'curata annotate release' would (writes
    nothing); exit 1 when one fails."""
    report = workspace(ctx).evaluate_policies(project, dataset=dataset)
    emit(as_json, report.to_dict(), lambda c: _print_report(c, report))
    if not report.passed:
        raise typer.Exit(1)
