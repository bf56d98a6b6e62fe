"""``curata quality``: agreement, reports, drift, label noise and vendor audits."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from curata.cli.output import JsonOption, emit, write_html
from curata.cli.output import table as table_of
from curata.cli.quality_noise import noise
from curata.core.errors import InputError, ValidationError
from curata.stats.agreement import stat_label

app = typer.Typer(
    help="Quality: agreement with intervals, annotator reports, drift, label noise, vendor audits."
)
app.command("noise")(noise)


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
    from curata.quality.longform import read_long
    from curata.stats.agreement import AgreementError, agreement_report, reliability_matrix

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
            interval = "—" if coef.low is None else f"[{coef.low:.3f}, {coef.high:.3f}]"
            t.add_row(
                stat_label(coef.to_dict()),
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
    samples: int = typer.Option(
        200, "--samples", min=0, help="Bootstrap replicates for the agreement intervals."
    ),
    html: Path | None = typer.Option(
        None, "--html", help="Also write an HTML report with charts to this file."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Gold accuracy (Wilson intervals, overall and per question) and agreement with the
    Dawid-Skene consensus per annotator, cohort, vendor or guideline version, flagging
    annotators who fall short; agreement per question with the statistic that fits its type;
    agreement over time per cohort; confusion matrices against the consensus."""
    from curata.cli.output import workspace

    if not 0.0 < confidence < 1.0:
        raise ValidationError("confidence: must be between 0 and 1")
    data = workspace(ctx).quality.report(project, by=by, confidence=confidence, samples=samples)
    if html is not None:
        from curata.quality.html import render_report

        write_html(html, render_report(data))

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
        for g in data["groups"]:
            for name, st in g.get("gold_strength", {}).items():
                c.print(
                    f"strength, {g['group']} on {name}: off by {st['mean_abs_diff']:.2f} on "
                    f"average from gold, {st['exact']:.0%} exact, over {st['compared']} right "
                    "choices"
                )
        a = table_of("question", "statistic", "value", f"{confidence:.0%} interval", "units")
        for q in data["agreement"]:
            if "skipped" in q or not q["statistics"]:
                a.add_row(q["question"], "—", "—", q.get("skipped", "nothing pairable"), "0")
                continue
            for stat in q["statistics"]:  # one line per statistic, each named with its level
                a.add_row(
                    q["question"] if stat is q["statistics"][0] else "",
                    stat_label(stat),
                    "undefined" if stat["value"] is None else f"{stat['value']:.3f}",
                    "—" if stat["low"] is None else f"{stat['low']:.3f}-{stat['high']:.3f}",
                    f"{stat['units']:,}",
                )
        c.print(a)
        c.print(f"Agreement reads the {data['labels']['agreement']}.")
        c.print(f"Annotator scores read {data['labels']['annotators']}.")
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
    drifter: int = typer.Option(
        1, "--drifter", min=0, help="Good until halfway through, careless after (drift)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the truth and of every answer."),
    gold_fraction: float = typer.Option(
        0.05, "--gold-fraction", help="Share of the records added as gold (with the truth)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Plant annotators on PROJECT and let them label it through the queue; prints who was
    planted as what, to compare with 'curata quality report' and 'curata quality drift'."""
    from curata.cli.output import workspace

    sim = workspace(ctx).quality.simulate(
        project,
        {
            "good": good,
            "careless": careless,
            "spammer": spammer,
            "adversarial": adversarial,
            "drifter": drifter,
        },
        seed=seed,
        gold_fraction=gold_fraction,
    )

    def render(c: Console) -> None:
        c.print(
            f"{len(sim.roles)} simulated annotators gave {sim.labels:,} labels on {project} "
            f"({sim.gold_items} gold items); planted as bad: {', '.join(sim.bad) or 'none'}"
        )
        if sim.drifting:
            c.print(
                f"drifting from {sim.drift_at:%Y-%m-%d %H:%M} UTC (simulated time): "
                f"{', '.join(sim.drifting)}"
            )

    emit(as_json, sim.to_dict(), render)


@app.command("drift")
def drift(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name.", metavar="PROJECT"),
    by: str = typer.Option("both", "--by", help="annotator, cohort or both."),
    question: str | None = typer.Option(
        None, "--question", help="Only this single-choice question (default: all)."
    ),
    probability: float = typer.Option(
        0.95, "--probability", help="Alert when P(the rate changed) reaches this."
    ),
    min_drop: float = typer.Option(
        0.15, "--min-drop", help="...and the rate fell by at least this much (0.15 = 15 points)."
    ),
    html: Path | None = typer.Option(
        None, "--html", help="Also write an HTML page with agreement over time to this file."
    ),
    fail_on_alert: bool = typer.Option(
        False, "--fail-on-alert", help="Exit with status 3 when there is an alert (for CI)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Has anyone's agreement dropped? A Bayesian change-point test on each annotator's (and
    cohort's) sequence of labels, right or wrong against gold and the Dawid-Skene consensus;
    each alert names who, the question, since when, and any guideline change that coincides."""
    from curata.cli.output import workspace

    data = workspace(ctx).quality.drift(
        project,
        by=by,
        question=question,
        probability=probability,
        min_drop=min_drop,
    )
    if html is not None:
        from curata.quality.html import render_drift

        write_html(html, render_drift(data))

    def render(c: Console) -> None:
        streams = len(data["series"])
        if not data["alerts"]:
            c.print(f"No drift: {streams} label sequences checked on {project}.")
        c.print(f"Each sequence reads {data['labels']['annotators']}.")
        for a in data["alerts"]:
            c.print(f"[bold red]drift[/] {a['message']}")
        if html is not None:
            c.print(f"HTML page with agreement over time: {html}")

    emit(as_json, data, render)
    if fail_on_alert and data["alerts"]:
        raise typer.Exit(3)


@app.command("audit")
def vendor_audit(
    ctx: typer.Context,
    vendor: str = typer.Argument(..., help="Vendor name.", metavar="VENDOR"),
    project: str = typer.Option(..., "--project", help="The project the vendor delivered on."),
    size: int | None = typer.Option(
        None,
        "--size",
        min=1,
        help="Start an audit of this many sampled annotations (without it: show the latest).",
    ),
    claimed: float | None = typer.Option(
        None, "--claimed", help="The vendor's self-reported accuracy, e.g. 0.95."
    ),
    seed: int = typer.Option(0, "--seed", help="Sampling seed (same seed, same sample)."),
    new: bool = typer.Option(False, "--new", help="Start a new audit while one is in progress."),
    confidence: float = typer.Option(0.95, "--confidence", help="Interval coverage."),
    as_json: bool = JsonOption,
) -> None:
    """Audit a vendor independently: with --size, draw a stratified sample (by annotator and
    label) of its delivered annotations and route it to internal reviewers; without, report
    measured accuracy (Wilson interval) against the vendor's claimed figure, with a verdict."""
    from curata.cli.output import workspace

    if not 0.0 < confidence < 1.0:
        raise ValidationError("confidence: must be between 0 and 1")
    service = workspace(ctx).vendor_audits
    if size is not None:
        data = service.start(
            vendor, project, size, claimed=claimed, seed=seed, force=new, confidence=confidence
        )
    else:
        if claimed is not None or new:
            raise ValidationError("--claimed and --new go with --size (starting an audit)")
        data = service.report(vendor, project, confidence=confidence)

    def render(c: Console) -> None:
        c.print(
            f"Audit #{data['audit']} of [bold]{vendor}[/] on {project}: {data['size']} of "
            f"{data['population']:,} annotations sampled, {data['reviewed']} reviewed "
            "by internal reviewers"
            + (f", {data['withdrawn']} withdrawn (superseded)" if data["withdrawn"] else "")
        )
        if data["accuracy"] is not None:
            c.print(
                f"measured accuracy {data['accuracy']:.1%} "
                f"[{data['low']:.1%}, {data['high']:.1%}] ({confidence:.0%} Wilson)"
                + (f"; claimed {data['claimed']:.1%}" if data["claimed"] is not None else "")
            )
        colour = "red" if "below" in data["verdict"] else "green"
        c.print(f"verdict: [bold {colour}]{data['verdict']}[/] ({data['reason']})")
        if data["by_annotator"]:
            t = table_of("annotator", "reviewed", "accuracy")
            for who, a in data["by_annotator"].items():
                t.add_row(who, str(a["reviewed"]), f"{a['accuracy']:.0%}")
            c.print(t)

    emit(as_json, data, render)
