"""``curata quality``: agreement with intervals on any long-format ratings file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from curata.cli.output import JsonOption, emit
from curata.cli.output import table as table_of
from curata.core.errors import InputError, ValidationError

app = typer.Typer(help="Quality: agreement, with confidence intervals.")

EXPLAIN = {
    "krippendorff_alpha": "Krippendorff's alpha",
    "percent_agreement": "percent agreement",
    "fleiss_kappa": "Fleiss' kappa",
    "gwet_ac1": "Gwet's AC1",
    "gwet_ac2": "Gwet's AC2",
    "brennan_prediger": "Brennan-Prediger",
    "cohen_kappa": "Cohen's kappa",
    "scott_pi": "Scott's pi",
}


@app.command("agreement")
def agreement(
    file: Path = typer.Argument(
        ..., help="CSV, TSV or JSONL with columns item, annotator, value.", metavar="FILE"
    ),
    level: str = typer.Option(
        "nominal", "--level", help="Measurement level: nominal, ordinal, interval or ratio."
    ),
    categories: str | None = typer.Option(
        None, "--categories", help="The scale in order, comma-separated (needed for ordinal text)."
    ),
    samples: int = typer.Option(
        1000, "--samples", min=0, help="Bootstrap replicates for the intervals (0: none)."
    ),
    confidence: float = typer.Option(0.95, "--confidence", help="Interval coverage."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed (same seed, same intervals)."),
    as_json: bool = JsonOption,
) -> None:
    """Every agreement coefficient that applies to the ratings, each with a bootstrap interval
    (units resampled) and the number of pairable units."""
    from curata.quality.agreement import AgreementError, agreement_report, reliability_matrix
    from curata.quality.longform import read_long

    if not 0.0 < confidence < 1.0:
        raise ValidationError("confidence: must be between 0 and 1")
    rows = read_long(file)
    scale = [c.strip() for c in categories.split(",")] if categories else None
    try:
        rel = reliability_matrix(
            rows.items, rows.annotators, rows.values, level=level, categories=scale
        )
        report = agreement_report(rel, level, samples=samples, confidence=confidence, seed=seed)
    except AgreementError as exc:
        line = rows.lines[exc.index] if exc.index is not None else None
        raise InputError(str(exc), path=str(file), line=line) from None
    data = {
        "file": str(file),
        "level": level,
        "units": len(rel.units),
        "annotators": len(rel.raters),
        "ratings": len(rows.values),
        "categories": rel.categories if len(rel.categories) <= 50 else len(rel.categories),
        "confidence": confidence,
        "bootstrap_samples": samples,
        "coefficients": [c.to_dict() for c in report],
    }

    def render(c: Console) -> None:
        c.print(
            f"{len(rows.values):,} ratings of {len(rel.units):,} items by "
            f"{len(rel.raters):,} annotators ({level})"
        )
        t = table_of("coefficient", "weights", "value", f"{confidence:.0%} interval", "units")
        for coef in report:
            base = coef.name.removesuffix(f"_{level}")
            interval = "—" if coef.low is None else f"[{coef.low:.3f}, {coef.high:.3f}]"
            t.add_row(
                EXPLAIN.get(base, base),
                coef.weights,
                "undefined" if coef.value != coef.value else f"{coef.value:.3f}",
                interval,
                f"{coef.units:,}",
            )
        c.print(t)

    emit(as_json, data, render)


@app.command("report")
def report(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name.", metavar="PROJECT"),
    by: str = typer.Option(
        "annotator", "--by", help="Group by annotator, cohort, vendor or guideline."
    ),
    confidence: float = typer.Option(0.95, "--confidence", help="Interval coverage."),
    html: Path | None = typer.Option(
        None, "--html", help="Also write an HTML report with charts to this file."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Gold accuracy (Wilson intervals) and agreement with the Dawid-Skene consensus per
    annotator, cohort, vendor or guideline version; flags annotators who fall short."""
    from curata.cli.output import workspace
    from curata.quality.report import quality_report

    if not 0.0 < confidence < 1.0:
        raise ValidationError("confidence: must be between 0 and 1")
    data = quality_report(workspace(ctx).projects.sessions, project, by=by, confidence=confidence)
    if html is not None:
        from curata.quality.html import render_report

        try:
            html.write_text(render_report(data), encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write the report: {exc.strerror}", path=str(html)) from None

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.0%}"

    def render(c: Console) -> None:
        t = table_of(by, "labels", "gold", f"gold {confidence:.0%}", "consensus", "est. acc.",
                     "flag")  # fmt: skip
        for g in data["groups"]:
            interval = "—" if g["gold_low"] is None else f"{g['gold_low']:.2f}-{g['gold_high']:.2f}"
            t.add_row(
                g["group"],
                f"{g['annotations']:,}",
                f"{pct(g['gold_accuracy'])} of {g['gold_answered']}",
                interval,
                pct(g["consensus_agreement"]),
                pct(g["estimated_accuracy"]),
                "[bold red]yes[/]" if g["flags"] else "",
            )
        c.print(t)
        for g in data["groups"]:
            for reason in g["flags"]:
                c.print(f"[bold red]flagged[/] {g['group']}: {reason}")
        if html is not None:
            c.print(f"HTML report with charts: {html}")

    emit(as_json, data, render)


simulate_app = typer.Typer(help="Simulated annotators with known behaviour (for validation).")


@simulate_app.command("annotators")
def simulate_annotators_cmd(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="A project with one single-choice label question."),
    good: int = typer.Option(6, "--good", min=0, help="Annotators right 90% of the time."),
    careless: int = typer.Option(1, "--careless", min=0, help="Annotators right 40%."),
    spammer: int = typer.Option(1, "--spammer", min=0, help="Always the first label."),
    adversarial: int = typer.Option(1, "--adversarial", min=0, help="Never right."),
    seed: int = typer.Option(0, "--seed", help="Seed of the truth and of every answer."),
    gold_fraction: float = typer.Option(
        0.05, "--gold-fraction", help="Share of the records added as gold (with the truth)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Plant annotators on PROJECT and let them label it through the queue; prints who was
    planted as what, to compare with 'curata quality report'."""
    from curata.cli.output import workspace
    from curata.quality.simulate import simulate_annotators

    sim = simulate_annotators(
        workspace(ctx),
        project,
        {"good": good, "careless": careless, "spammer": spammer, "adversarial": adversarial},
        seed=seed,
        gold_fraction=gold_fraction,
    )

    def render(c: Console) -> None:
        c.print(
            f"{len(sim.roles)} simulated annotators gave {sim.labels:,} labels on {project} "
            f"({sim.gold_items} gold items); planted as bad: {', '.join(sim.bad) or 'none'}"
        )

    emit(as_json, sim.to_dict(), render)
