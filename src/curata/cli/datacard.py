"""``curata release card``: a released version's data card, as Markdown (Hugging Face layout)
and Croissant JSON-LD with the RAI vocabulary (see :mod:`curata.stewardship.datacard`)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from curata.cli.output import JsonOption, emit, workspace
from curata.core.errors import ValidationError

FORMATS = {"md": ("md",), "croissant": ("croissant",), "both": ("md", "croissant")}


def card(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="The version, e.g. sft-labels@3.", metavar="REF"),
    out: Path | None = typer.Option(
        None, "--out", help="Folder to write to (default <home>/cards/NAME@N).", metavar="DIR"
    ),
    fmt: str = typer.Option(
        "both", "--format", help="md (README.md), croissant (croissant.json) or both."
    ),
    files: list[Path] = typer.Option(
        [],
        "--file",
        help="An export file of this version to list, with its SHA-256, in the Croissant "
        "distribution (repeatable; the canonical JSON Lines export is always listed).",
        metavar="FILE",
    ),
    intended_use: str | None = typer.Option(
        None, "--intended-use", help="The intended use (default: derived from the tasks)."
    ),
    out_of_scope: str | None = typer.Option(
        None, "--out-of-scope", help="Out-of-scope uses (default: from the licenses)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Write the data card of a version, generated from its lineage: sources and licenses,
    curation steps with their counts, PII handling, annotation (annotators per item, agreement,
    cohorts, vendors, guidelines), coverage gaps, and the EU AI Act Article 10(2) items. Prints
    each file written with its SHA-256."""
    from curata.stewardship.datacard import write_cards

    if fmt not in FORMATS:
        raise ValidationError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    ws = workspace(ctx)
    written = write_cards(
        ws, ref, out, formats=FORMATS[fmt], files=files,
        intended_use=intended_use, out_of_scope=out_of_scope,
    )  # fmt: skip
    data: dict[str, Any] = {
        "version": ws.datasets.version(ref).ref,
        "files": {
            kind: {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
            for kind, path in written.items()
        },
    }

    def render(c: Console) -> None:
        c.print(f"data card of [bold]{escape(data['version'])}[/]")
        for kind, entry in data["files"].items():
            c.print(f"  {kind}: {escape(entry['path'])} (sha256 {entry['sha256']})")

    emit(as_json, data, render)
