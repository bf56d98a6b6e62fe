"""``curata gc``: remove payload files no version references (left by crashes and Ctrl-C)."""

from __future__ import annotations

import typer
from rich.console import Console

from curata.cli.output import JsonOption, emit, workspace


def gc(
    ctx: typer.Context,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="List and count what would be removed; remove nothing."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Remove record-store files that no version references (what a crashed or interrupted
    ingest or curation run had written); refused while a write is running."""
    result = workspace(ctx).collect_garbage(dry_run=dry_run)

    def render(c: Console) -> None:
        verb = "would remove" if dry_run else "removed"
        c.print(f"{verb} {result.files} unreferenced file(s), {result.bytes:,} bytes")
        if dry_run:
            for path in result.paths:
                c.print(f"  {path}", highlight=False)

    emit(as_json, result.to_dict(), render)
