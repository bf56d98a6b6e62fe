"""Shared CLI plumbing: opening the workspace, JSON output, tables and the progress bar."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from curata.core.errors import InputError

if TYPE_CHECKING:
    from curata.workspace import Workspace

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of text.")


def console() -> Console:
    """A console on stdout, made per call so redirected output is honoured."""
    return Console(highlight=False)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def workspace(ctx: typer.Context) -> Workspace:
    """Open the workspace named by ``--home`` / ``CURATA_HOME`` (or ``./.curata``) as the user
    behind ``--token`` on a shared database, who must be allowed to run this command."""
    from curata.cli.access import authorize
    from curata.workspace import Workspace

    root = ctx.find_root().obj or {}
    ws = Workspace.open(root.get("home"), token=root.get("token"))
    ctx.call_on_close(ws.close)
    authorize(ws, command_name(ctx), ctx.params)
    return ws


def command_name(ctx: typer.Context) -> str:
    """The command's path after ``curata``, e.g. ``annotate release``."""
    return ctx.command_path[len(ctx.find_root().command_path) :].strip()


def table(*columns: str) -> Table:
    """A table whose cells wrap rather than hide text when the terminal is narrow."""
    t = Table()
    for column in columns:
        t.add_column(column, overflow="fold")
    return t


def print_plugins(c: Console, rows: list[dict[str, Any]], **flags: str) -> None:
    """Registered plugins as ``list`` commands print them: each name, in brackets the labels
    of its ``flags`` that are true (``reversible="reversible"``), its summary, then one line
    per parameter (type, default or required, description)."""
    for row in rows:
        on = [label for field, label in flags.items() if row.get(field)]
        extra = f" ({', '.join(on)})" if on else ""
        c.print(f"[bold]{row['name']}[/]{extra}: {escape(row['summary'])}")
        for p in row["params"]:
            default = "required" if p["required"] else f"default {p['default']!r}"
            c.print(f"  {p['name']} ({escape(str(p['type']))}; {escape(default)}): "
                    f"{escape(p['description'])}")  # fmt: skip


def write_html(path: Path, page: str) -> None:
    """Write an HTML report to ``path``; a path that cannot be written is the user's error (exit
    1, naming the path), not a traceback."""
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the report: {exc.strerror}", path=str(path)) from None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def emit(as_json: bool, data: Any, render: Callable[[Console], None]) -> None:
    """Print ``data`` as JSON, or let ``render`` draw it for people."""
    if as_json:
        print_json(data)
    else:
        render(console())


@contextmanager
def byte_progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar on stderr, fed with (bytes done, bytes total)."""
    console = err_console()
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = progress.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    with progress:
        yield update


@contextmanager
def record_progress(description: str) -> Iterator[Callable[[int, int, str], None]]:
    """A Rich progress bar on stderr, fed with (records done, records total, current stage)."""
    console = err_console()
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = progress.add_task(description, total=None)

    def update(done: int, total: int, stage: str) -> None:
        progress.update(task, completed=done, total=total, description=f"{description}: {stage}")

    with progress:
        yield update
