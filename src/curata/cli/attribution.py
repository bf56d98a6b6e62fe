"""``curata attribute``: which training data is behind a checkpoint's evaluation failures."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from curata.cli.output import JsonOption, emit, workspace
from curata.cli.output import table as table_of
from curata.loop.attribution import DEFAULT_K, Attribution, CategoryComparison
from curata.loop.service import parse_checkpoint


def attribute(
    ctx: typer.Context,
    model: str = typer.Option(..., "--model", help="The checkpoint, as MODEL:CHECKPOINT."),
    baseline: str | None = typer.Option(
        None, "--baseline", help="A checkpoint to compare with (MODEL:CHECKPOINT)."
    ),
    k: int = typer.Option(
        DEFAULT_K, "--k", min=1, help="Nearest training records taken per failing example."
    ),
    run: list[int] = typer.Option(
        None,
        "--run",
        help="Evaluation run(s) of --model to use (default: the latest of each "
        "source); repeat for several.",
    ),
    baseline_run: list[int] = typer.Option(
        None,
        "--baseline-run",
        help="Evaluation run(s) of --baseline to use (default: the latest of each source).",
    ),
    top: int = typer.Option(
        5, "--top", min=1, help="How many ranked suspects to print (--json has all)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Group MODEL:CHECKPOINT's failures by category, compare with a baseline checkpoint (95%
    Newcombe intervals; regressed = entirely below 0), and trace the failing categories to the
    nearest training records (MiniLM): the version they entered in, their source, curation
    steps, and the annotators, cohorts, vendors and guideline versions behind their labels.
    Ranks suspects and says why."""
    parse_checkpoint(model)
    if baseline is not None:
        parse_checkpoint(baseline)
    result = workspace(ctx).attribution.attribute(
        model, baseline, k, runs=run or None, baseline_runs=baseline_run or None
    )
    emit(as_json, result.to_dict(), lambda c: render(c, result, top=top))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _diff(c: CategoryComparison) -> str:
    if c.diff is None or c.low is None or c.high is None:
        return "-"
    return f"{100 * c.diff:+.1f} pts ({100 * c.low:+.1f} to {100 * c.high:+.1f})"


def render(c: Console, a: Attribution, *, top: int = 5) -> None:
    """Categories, the dataset diff, each attributed category's suspects, then the sentences."""
    against = f" against {a.baseline}" if a.baseline else ""
    runs = ", ".join(str(r) for r in a.runs)
    c.print(
        f"[bold]{escape(a.checkpoint)}[/]{escape(against)}: runs {runs}; trained on "
        f"{escape(', '.join(a.training_versions))} ({a.training_records:,} records)"
    )
    columns = ["category", "failed", "pass rate"]
    if a.baseline:
        columns += ["baseline", "difference (95% CI)", "regressed"]
    table = table_of(*columns)
    for row in a.categories:
        cells = [escape(row.category), f"{row.failed}/{row.judged}", _pct(row.rate)]
        if a.baseline:
            cells += [_pct(row.baseline_rate), _diff(row), "[red]yes[/]" if row.regressed else ""]
        table.add_row(*cells)
    c.print(table)
    if a.diff:
        diff = table_of("dataset", "baseline", "checkpoint", "added", "removed")
        for d in a.diff:
            diff.add_row(escape(d["dataset"]), d["baseline"] or "-", d["checkpoint"] or "-",
                         f"{d['added']:,}", f"{d['removed']:,}")  # fmt: skip
        c.print(diff)
    if a.note:
        c.print(f"[yellow]{escape(a.note)}[/]")
    for cat in a.attributed:
        added = f", {_pct(cat.added_share)} new since the baseline" if cat.added_share else ""
        c.print(
            f"\n[bold]{escape(cat.comparison.category)}[/]: {cat.failures} failures, "
            f"{len(cat.nearest)} nearest training records (k={a.k}){added}"
        )
        if not cat.suspects:
            continue
        t = table_of("entered", "cohort", "vendor", "guideline", "share", "gold (period / all)",
                     "score")  # fmt: skip
        for s in cat.suspects[:top]:
            gold = "-"
            if s.gold is not None and s.gold.period is not None:
                overall = "-" if s.gold.overall is None else f"{s.gold.overall:.2f}"
                gold = f"{s.gold.period:.2f} / {overall}"
            t.add_row(escape(s.entered), escape(s.cohort or "-"), escape(s.vendor or "-"),
                      escape(s.guideline or "-"), _pct(s.share), gold,
                      f"{s.score:.3f}")  # fmt: skip
        c.print(t)
    if a.suspects:
        c.print("\n[bold]Suspects[/], most likely first:")
        for n, s in enumerate(a.suspects[:top], start=1):
            c.print(f"{n}. {escape(s.sentence)}")
        if len(a.suspects) > top:
            c.print(f"({len(a.suspects) - top} more with --top {len(a.suspects)} or --json)")
    elif not a.note:
        c.print("Nothing to attribute.")
