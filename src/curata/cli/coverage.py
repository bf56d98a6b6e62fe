"""``curata coverage``: how a version covers a target sample, and what to source to close gaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from curata.cli.output import JsonOption, emit, err_console, workspace, write_html
from curata.cli.output import table as table_of

ROWS = 15


def coverage(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="The version to check, e.g. sft-chat@7.", metavar="REF"),
    target: Path = typer.Option(
        ...,
        "--target",
        help="A sample of the distribution to cover, e.g. production traffic "
        "(JSONL, JSON, CSV, Parquet or text, read like ingest).",
        metavar="FILE",
    ),
    by: list[str] = typer.Option(
        [], "--by", help="Compare on this metadata field (repeatable; a.b reaches nested ones)."
    ),
    clusters: int | None = typer.Option(
        None,
        "--clusters",
        min=2,
        help="Embedding clusters (default: sqrt of the target sample, at most 20).",
    ),
    no_embed: bool = typer.Option(
        False, "--no-embed", help="Compare on the --by fields only (no MiniLM clusters)."
    ),
    sample: int = typer.Option(
        20_000, "--sample", min=0, help="Records embedded per side, drawn uniformly (0: all)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the sample and of k-means."),
    html: Path | None = typer.Option(
        None, "--html", help="Also write an HTML report with bar charts to this file."
    ),
    save: bool = typer.Option(
        False,
        "--save",
        help="Also save the report (as --json prints it) where the web dashboard reads it: "
        "<home>/coverage/NAME@N.json.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Compare a version with a target sample: shares per slice of each --by field (numbers
    in quantile bins of the target) and per MiniLM embedding cluster of the target, their
    Jensen-Shannon divergence (0 same, 1 disjoint), the most under-represented slices with
    examples, and a sourcing brief: how many records of each short slice, added alone, bring
    it to the target's share. --save keeps the report (as --json prints it) for the web
    dashboard."""
    ws = workspace(ctx)
    data = ws.coverage.report(
        ref,
        target,
        by=by,
        clusters=clusters,
        embed=not no_embed,
        sample=sample or None,
        seed=seed,
    )
    if html is not None:
        from curata.curation.coverage_html import render_coverage

        write_html(html, render_coverage(data))
    saved: Path | None = None
    if save:
        from curata.curation.coverage_service import save_report

        saved = save_report(ws.home, data)
    if saved is not None and as_json:  # stdout stays the JSON alone
        err_console().print(f"Saved for the dashboard: {escape(str(saved))}")

    def render(c: Console) -> None:
        c.print(
            f"[bold]{escape(data['version'])}[/] ({data['data_records']:,} records) against "
            f"{escape(data['target'])} ({data['target_records']:,} records)"
        )
        for f in data["fields"]:
            c.print(f"\n[bold]{escape(f['field'])}[/] ({f['kind']}): JSD {_jsd(f['jsd'])}")
            c.print(_table("slice", f["slices"], lambda s: str(s["slice"])))
        part = data["clusters"]
        if part is not None and "skipped" in part:
            c.print(f"\nEmbedding clusters skipped: {escape(part['skipped'])}")
        elif part is not None:
            c.print(
                f"\n[bold]embedding clusters[/] (k={part['k']}, {part['data_sample']:,} data "
                f"and {part['target_sample']:,} target records embedded): JSD {_jsd(part['jsd'])}"
            )
            c.print(_table("cluster", part["slices"], _cluster))
        c.print(f"\n[bold]Sourcing brief[/]: {escape(data['brief_text'])}")
        if data["brief"]:
            c.print("(each count brings its slice alone to the target share)")
        if html is not None:
            c.print(f"HTML report with bar charts: {escape(str(html))}")
        if saved is not None:
            c.print(f"Saved for the dashboard: {escape(str(saved))}")

    emit(as_json, data, render)


def _jsd(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def _cluster(s: dict[str, Any]) -> str:
    terms = ", ".join(s.get("terms", []))
    return f"{s['cluster']}: {terms}" if terms else str(s["cluster"])


def _table(head: str, slices: list[dict[str, Any]], name: Any) -> Any:
    t = table_of(head, "data %", "target %", "gap", "to parity")
    for s in slices[:ROWS]:
        parity = s["records_to_parity"]
        t.add_row(
            escape(name(s)),
            f"{s['data_share']:.1%}",
            f"{s['target_share']:.1%}",
            f"{s['gap'] * 100:+.1f} pts",
            "" if not parity else f"+{parity:,}",
        )
    if len(slices) > ROWS:
        t.add_row(f"... {len(slices) - ROWS} more", "", "", "", "")
    return t
