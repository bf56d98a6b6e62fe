"""``curata export``: the record of every export (version, format, options, output path, and
each file's size and SHA-256)."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from curata.cli.output import JsonOption, emit, workspace
from curata.cli.output import table as table_of
from curata.export.records import ExportRecord

app = typer.Typer(help="Recorded exports: which version went where, file by file (SHA-256).")


@app.command("list")
def list_exports(
    ctx: typer.Context,
    dataset: str | None = typer.Option(None, "--dataset", help="Only exports of this dataset."),
    limit: int = typer.Option(100, "--limit", min=1, help="How many, newest first."),
    as_json: bool = JsonOption,
) -> None:
    """List recorded exports, newest first."""
    exports = workspace(ctx).exports.list(dataset=dataset, limit=limit)

    def render(c: Console) -> None:
        if not exports:
            c.print("No exports yet: write one with 'curata dataset export'.")
            return
        table = table_of("id", "version", "format", "rows", "files", "out", "when", "by")
        for e in exports:
            table.add_row(str(e.id), escape(e.version), e.format, f"{e.records:,}",
                          str(len(e.files)), escape(e.out), f"{e.created_at:%Y-%m-%d %H:%M}",
                          escape(e.created_by))  # fmt: skip
        c.print(table)

    emit(as_json, [e.to_dict() for e in exports], render)


@app.command("show")
def show(
    ctx: typer.Context,
    export_id: int = typer.Argument(..., metavar="ID", help="The export's id."),
    as_json: bool = JsonOption,
) -> None:
    """Show one export: its version, format, options, output and every file with its SHA-256."""
    export = workspace(ctx).exports.get(export_id)
    emit(as_json, export.to_dict(), lambda c: _render(c, export))


def _render(c: Console, e: ExportRecord) -> None:
    table = Table(show_header=False, box=None)
    for key, value in (
        ("export", str(e.id)),
        ("version", f"{e.version} (digest {e.version_digest})"),
        ("format", e.format),
        ("options", json.dumps(e.options, sort_keys=True) if e.options else "-"),
        ("rows", f"{e.records:,}"),
        ("out", e.out),
        ("exported", f"{e.created_at:%Y-%m-%d %H:%M:%S} by {e.created_by}"),
        ("operation", e.operation_id),
    ):
        table.add_row(f"[bold]{key}[/]", escape(value))
    c.print(table)
    c.print("[bold]files[/] (sha256sum format, relative to out):")
    for f in e.files:  # one line each, unwrapped, so 'sha256sum -c' can read them
        c.print(f"{f.sha256}  {escape(f.name)}", soft_wrap=True)
