"""``curata audit``: read and verify the append-only audit log."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from curata.cli.output import JsonOption, emit, workspace
from curata.cli.output import table as table_of
from curata.core.errors import CurataError

app = typer.Typer(help="The append-only, hash-chained audit log.")


@app.command("log")
def log(
    ctx: typer.Context,
    object_ref: str | None = typer.Option(
        None, "--object", help="Only entries about this object (e.g. raw@2)."
    ),
    action: str | None = typer.Option(
        None, "--action", help="Only this action (e.g. dataset.ingest)."
    ),
    limit: int = typer.Option(50, "--limit", min=1, help="How many entries, newest first."),
    as_json: bool = JsonOption,
) -> None:
    """Who did what, when, to which object, and why (a reason given, or the first details;
    --json has them all)."""
    events = workspace(ctx).audit.list(object_ref=object_ref, action=action, limit=limit)

    def render(c: Console) -> None:
        table = table_of("when", "who", "action", "object", "details")
        for e in events:
            table.add_row(
                f"{e.at:%Y-%m-%d %H:%M:%S}",
                escape(e.actor),
                e.action,
                escape(e.object_ref),
                escape(_summary(e.details)),
            )
        c.print(table)

    emit(as_json, [e.to_dict() for e in events], render)


def _summary(details: dict[str, Any], width: int = 60) -> str:
    if details.get("reason"):
        text = f"reason: {details['reason']}"
    else:
        text = ", ".join(
            f"{k}={v}" for k, v in details.items() if isinstance(v, (str, int, float, bool))
        )
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command("verify")
def verify(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Recompute the hash chain; exit 1 if any entry was altered."""
    intact, checked, broken = workspace(ctx).audit.verify()
    emit(
        as_json,
        {"intact": intact, "checked": checked, "first_broken_id": broken},
        lambda c: c.print(f"Audit log intact: {checked} entries verified" if intact else ""),
    )
    if not intact:
        raise CurataError(f"audit log broken at entry {broken} (after {checked} intact entries)")
