"""``curata source``: register and inspect where data comes from."""

from __future__ import annotations

from enum import StrEnum

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from curata.cli.output import JsonOption, emit, workspace
from curata.cli.output import table as table_of
from curata.core.models import Source

app = typer.Typer(help="Register and inspect data sources (provenance, license, consent, PII).")


class SourceKindChoice(StrEnum):
    crawl = "crawl"
    internal = "internal"
    human = "human"
    synthetic = "synthetic"
    vendor = "vendor"


class SensitivityChoice(StrEnum):
    public = "public"
    internal = "internal"
    confidential = "confidential"
    restricted = "restricted"


class PiiChoice(StrEnum):
    unknown = "unknown"
    none = "none"
    present = "present"


@app.command("add")
def add(
    ctx: typer.Context,
    name: str = typer.Argument(
        ..., help="Unique source name (letters, digits, '.', '_', '-').", metavar="NAME"
    ),
    kind: SourceKindChoice = typer.Option(..., "--kind", help="How the data was obtained."),
    license: str = typer.Option(
        ...,
        "--license",
        help="SPDX license expression (ids from the SPDX list, AND/OR/WITH; LicenseRef-NAME "
        "for custom terms).",
    ),
    license_ref: str | None = typer.Option(
        None,
        "--license-ref",
        help="Where the terms of the expression's LicenseRef-NAME license are (URL or path).",
    ),
    origin: str = typer.Option(..., "--origin", help="URI saying where the data is from."),
    collected_at: str | None = typer.Option(None, "--collected-at", help="Date (YYYY-MM-DD)."),
    consent: str | None = typer.Option(None, "--consent", help="Consent basis, free text."),
    pii: PiiChoice = typer.Option(PiiChoice.unknown, "--pii", help="Known PII status."),
    sensitivity: SensitivityChoice = typer.Option(
        SensitivityChoice.internal,
        "--sensitivity",
        help="Who may see its records: annotators need at least this clearance.",
    ),
    owner: str | None = typer.Option(None, "--owner", help="Accountable owner (user)."),
    as_json: bool = JsonOption,
) -> None:
    """Register a source with its provenance."""
    source = workspace(ctx).sources.add(
        name,
        kind=kind.value,
        license=license,
        license_ref=license_ref,
        origin=origin,
        collected_at=collected_at,
        consent=consent,
        pii=pii.value,
        sensitivity=sensitivity.value,
        owner=owner,
    )
    emit(as_json, source.to_dict(), lambda c: c.print(f"Added source [bold]{source.name}[/]"))


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List every source."""
    sources = workspace(ctx).sources.list()

    def render(c: Console) -> None:
        if not sources:
            c.print("No sources yet: add one with 'curata source add'.")
            return
        table = table_of("name", "kind", "license", "origin", "collected", "pii", "owner")
        for s in sources:
            table.add_row(
                s.name,
                s.kind,
                s.license,
                escape(s.origin),
                str(s.collected_at or "-"),
                s.pii_status,
                escape(s.owner or "-"),
            )
        c.print(table)

    emit(as_json, [s.to_dict() for s in sources], render)


@app.command("show")
def show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Source name.", metavar="NAME"),
    as_json: bool = JsonOption,
) -> None:
    """Show one source's provenance."""
    source = workspace(ctx).sources.get(name)
    emit(as_json, source.to_dict(), lambda c: render_source(c, source))


def render_source(c: Console, source: Source) -> None:
    table = Table(show_header=False, box=None)
    for key, value in source.to_dict().items():
        table.add_row(f"[bold]{key}[/]", escape(str(value if value is not None else "-")))
    c.print(table)
