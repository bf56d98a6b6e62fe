"""``curata dataset``: list, show, log, diff, tag, fetch and export versions."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from curata.cli.output import JsonOption, emit, workspace
from curata.cli.output import table as table_of
from curata.core.models import Version

if TYPE_CHECKING:
    from curata.versioning.diff import Diff

app = typer.Typer(help="Datasets and their immutable versions (NAME@N or NAME@TAG).")


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    parquet = "parquet"
    hf = "hf"
    dpo = "dpo"
    sft = "sft"
    kto = "kto"
    prompt_completion = "prompt-completion"


TRAINING = {ExportFormat.dpo, ExportFormat.sft, ExportFormat.kto, ExportFormat.prompt_completion}


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List datasets with their latest version."""
    datasets = workspace(ctx).datasets.list()

    def render(c: Console) -> None:
        if not datasets:
            c.print("No datasets yet: create one with 'curata ingest'.")
            return
        table = table_of("dataset", "versions", "latest", "records", "updated", "by")
        for d in datasets:
            v = d.latest
            table.add_row(
                d.name,
                str(d.version_count),
                v.ref if v else "-",
                f"{v.record_count:,}" if v else "0",
                f"{v.created_at:%Y-%m-%d %H:%M}" if v else "-",
                v.author if v else "-",
            )
        c.print(table)

    emit(as_json, [d.to_dict() for d in datasets], render)


@app.command("show")
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME (latest), NAME@N or NAME@TAG.", metavar="REF"),
    as_json: bool = JsonOption,
) -> None:
    """Show one version: counts, digest, parents, operation, sources, tags."""
    version = workspace(ctx).datasets.version(ref)
    emit(as_json, version.to_dict(), lambda c: render_version(c, version))


def render_version(c: Console, v: Version) -> None:
    table = Table(show_header=False, box=None)
    rows = [
        ("version", v.ref),
        ("records", f"{v.record_count:,}"),
        ("change", f"+{v.added:,} / -{v.removed:,} records, {v.bytes_added:,} bytes stored"),
        ("digest", v.digest),
        ("parents", ", ".join(v.parents) or "-"),
        ("operation", f"{v.operation} ({v.operation_id})"),
        ("created", f"{v.created_at.isoformat()} by {v.author}"),
        ("message", v.message or "-"),
        ("tags", ", ".join(v.tags) or "-"),
        ("sources", ", ".join(f"{k} ({n:,})" for k, n in v.sources.items()) or "-"),
    ]
    for key, value in rows:
        table.add_row(f"[bold]{key}[/]", escape(value))
    c.print(table)


@app.command("log")
def log(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name.", metavar="NAME"),
    as_json: bool = JsonOption,
) -> None:
    """A dataset's versions, newest first."""
    versions = workspace(ctx).datasets.log(name)

    def render(c: Console) -> None:
        table = table_of(
            "version", "records", "+added", "-removed", "created", "author", "tags", "message"
        )
        for v in versions:
            table.add_row(
                v.ref,
                f"{v.record_count:,}",
                f"{v.added:,}",
                f"{v.removed:,}",
                f"{v.created_at:%Y-%m-%d %H:%M:%S}",
                escape(v.author),
                ", ".join(v.tags),
                escape(v.message),
            )
        c.print(table)

    emit(as_json, [v.to_dict() for v in versions], render)


@app.command("diff")
def diff(
    ctx: typer.Context,
    a: str = typer.Argument(..., help="Old version (NAME@N).", metavar="OLD"),
    b: str = typer.Argument(..., help="New version (NAME@N).", metavar="NEW"),
    key: str | None = typer.Option(
        None, "--key", help="Field deciding record identity (default: the dataset's key)."
    ),
    no_key: bool = typer.Option(
        False, "--no-key", help="Ignore the dataset's key: a changed record is removed + added."
    ),
    samples: int = typer.Option(5, "--samples", min=0, help="Examples to show per kind of change."),
    as_json: bool = JsonOption,
) -> None:
    """What was added, removed and changed between two versions."""
    result = workspace(ctx).datasets.diff(a, b, key=key, by_key=not no_key, samples=samples)
    emit(as_json, result.to_dict(), lambda c: render_diff(c, result))


def render_diff(c: Console, d: Diff) -> None:
    key = (
        f" (identity by '{d.key}')"
        if d.key
        else " (no key: a changed record shows as removed + added)"
    )
    c.print(f"[bold]{d.a} → {d.b}[/]{key}")
    c.print(
        f"  [green]+{d.added:,} added[/]  [red]-{d.removed:,} removed[/]  "
        f"[yellow]~{d.changed:,} changed[/]  {d.unchanged:,} unchanged"
    )
    for item in d.samples.get("added", []):
        c.print(f"  [green]+ {item['id'][:12]}[/] {escape(item['preview'])}")
    for item in d.samples.get("removed", []):
        c.print(f"  [red]- {item['id'][:12]}[/] {escape(item['preview'])}")
    for item in d.samples.get("changed", []):
        identity = escape(f"{d.key}={item['key']}")
        c.print(f"  [yellow]~ {identity}[/] {escape(item['old'])}  →  {escape(item['new'])}")


@app.command("tag")
def tag(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Version to tag (NAME@N).", metavar="REF"),
    name: str = typer.Argument(..., help="Tag name (not a number).", metavar="NAME"),
    force: bool = typer.Option(False, "--force", help="Move the tag if it names another version."),
    as_json: bool = JsonOption,
) -> None:
    """Name a version, e.g. 'curata dataset tag raw@3 prod'."""
    version = workspace(ctx).datasets.tag(ref, name, force=force)
    emit(
        as_json,
        version.to_dict(),
        lambda c: c.print(f"Tagged {version.ref} as {version.dataset}@{name}"),
    )


@app.command("record")
def record(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Version (NAME@N).", metavar="REF"),
    record_id: str = typer.Argument(
        ..., help="A record id (or its first 6+ hex digits).", metavar="RECORD_ID"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Fetch one record of a version by id or id prefix."""
    from curata.versioning.diff import preview

    rec = workspace(ctx).datasets.record(ref, record_id)
    data = {"id": rec.id, "kind": rec.kind, **rec.content(), "metadata": rec.metadata}
    emit(
        as_json,
        data,
        lambda c: c.print(f"[bold]{rec.id}[/] ({rec.kind}) {escape(preview(rec, 400))}"),
    )


@app.command("export")
def export(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Version to export (NAME@N).", metavar="REF"),
    format: ExportFormat = typer.Option(
        ...,
        "--format",
        help="jsonl, parquet or hf (a Hugging Face datasets folder); or a TRL training file "
        "from a release's preference labels: dpo, sft, kto, prompt-completion.",
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        help="File (jsonl, parquet) or folder (hf) to write; training files are JSON Lines, "
        "or Parquet when OUT ends in .parquet.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
    question: str | None = typer.Option(
        None,
        "--question",
        help="Training formats: the preference or ranking question to use (default: the only "
        "one the labels hold).",
    ),
) -> None:
    """Write a version out; each row carries its curata_id. Training formats say how many
    records each reason (tie, both_bad, unlabelled, ...) left out."""
    ws = workspace(ctx)
    if format in TRAINING:
        result = ws.export_training(
            ref, format=format.value, out=out, question=question, overwrite=overwrite
        )
        typer.echo(f"Exported {result.describe()}")
        return
    count = ws.export(ref, format=format.value, out=out, overwrite=overwrite)
    typer.echo(f"Exported {count:,} records of {ws.datasets.version(ref).ref} to {out}")
