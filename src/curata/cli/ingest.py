"""``curata ingest``: read files into a new version of a dataset."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from curata.cli.interrupt import Interrupted
from curata.cli.output import JsonOption, byte_progress, emit, workspace
from curata.core.errors import NotFoundError

if TYPE_CHECKING:
    from curata.sourcing.ingest import IngestResult
    from curata.workspace import Workspace


class FormatChoice(StrEnum):
    auto = "auto"
    jsonl = "jsonl"
    json = "json"
    csv = "csv"
    parquet = "parquet"
    txt = "txt"


def ingest(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(
        ..., help="Files to read (JSONL, JSON, CSV/TSV, Parquet, text; .gz ok).", metavar="PATH"
    ),
    source: str = typer.Option(..., "--source", help="Registered source the records come from."),
    dataset: str = typer.Option(..., "--dataset", help="Dataset to write the next version of."),
    format: FormatChoice = typer.Option(
        FormatChoice.auto, "--format", help="File format (auto: by extension)."
    ),
    text_field: str | None = typer.Option(None, "--text-field", help="Field holding the text."),
    messages_field: str | None = typer.Option(
        None, "--messages-field", help="Field holding chat messages."
    ),
    prompt_field: str | None = typer.Option(
        None, "--prompt-field", help="Field holding the prompt."
    ),
    response_field: str | None = typer.Option(
        None, "--response-field", help="Field holding the response."
    ),
    message: str = typer.Option("", "-m", "--message", help="Describe this version."),
    key: str | None = typer.Option(
        None, "--key", help="Field that identifies a record across versions (used by diff)."
    ),
    append: bool = typer.Option(
        False, "--append", help="Add to the latest version instead of replacing its content."
    ),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of the files."),
    max_record_bytes: int | None = typer.Option(
        None, "--max-record-bytes", help="Refuse records larger than this (default 32 MiB)."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Replace the latest version even if it appeared after this snapshot started "
        "(a concurrent ingest); without it that is a conflict and nothing is written.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Ingest files as the next version of DATASET (a snapshot, or --append)."""
    ws = workspace(ctx)
    before = _latest(ws, dataset)
    try:
        with byte_progress(f"ingest → {dataset}") as progress:
            result = ws.ingest(
                paths,
                source=source,
                dataset=dataset,
                format=format.value,
                text_field=text_field,
                messages_field=messages_field,
                prompt_field=prompt_field,
                response_field=response_field,
                message=message,
                key=key,
                append=append,
                encoding=encoding,
                max_record_bytes=max_record_bytes,
                progress=progress,
                force=force,
            )
    except KeyboardInterrupt:
        raise Interrupted(_interrupted(ws, dataset, before)) from None
    emit(as_json, result.to_dict(), lambda c: render_result(c, result))


def _latest(ws: Workspace, dataset: str) -> int:
    """The number of the dataset's latest version (0: none, or no such dataset yet)."""
    try:
        latest = ws.datasets.get(dataset).latest
    except NotFoundError:
        return 0
    return 0 if latest is None else latest.number


def _interrupted(ws: Workspace, dataset: str, before: int) -> str:
    """What an ingest stopped by Ctrl-C left, in one line."""
    after = _latest(ws, dataset)
    if after != before:
        said = f"interrupted after {dataset}@{after} was committed"
    else:
        said = (
            f"interrupted: nothing was committed ({dataset} has no new version); "
            "'curata gc' removes what the interrupted command had written"
        )
    return said


def render_result(c: Console, result: IngestResult) -> None:
    v = result.version
    dup = f", {result.duplicates:,} duplicate(s) kept once" if result.duplicates else ""
    if not result.changed:
        same = f"({v.record_count:,} records{dup})"
        c.print(f"No changes: the content is identical to [bold]{v.ref}[/] {same}.")
        return
    c.print(
        f"Created [bold]{v.ref}[/]: {v.record_count:,} records "
        f"(+{v.added:,} added, -{v.removed:,} removed{dup}); "
        f"{v.bytes_added:,} bytes stored; digest {v.digest[:12]}"
    )
