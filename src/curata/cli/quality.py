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
        raise InputError(str(exc), path=str(file)) from None
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
