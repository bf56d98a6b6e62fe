"""``curata curate``, ``curata steps list`` and ``curata why``: curation pipelines."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from curata.cli.output import JsonOption, emit, print_plugins, record_progress, workspace
from curata.cli.output import table as table_of

steps = typer.Typer(help="Curation steps: what a pipeline can use.")
pii = typer.Typer(help="Personal data found by curation runs.")


def curate(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="The version to curate, e.g. raw@3.", metavar="REF"),
    pipeline: Path = typer.Option(
        ..., "--pipeline", help="Pipeline file (YAML or JSON): a list of steps with parameters."
    ),
    out: str = typer.Option(..., "--out", help="Dataset to write the curated version to."),
    executor: str = typer.Option(
        "local", "--executor", help="Where the steps run: local or ray (same result)."
    ),
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        metavar="ADDR",
        help="Ray cluster to run on with --executor ray (default: start a local one).",
    ),
    workers: str = typer.Option(
        "auto",
        "--workers",
        metavar="N|auto",
        help="Processes the local executor runs the steps on (same result). 1: this process "
        "only; auto: one per CPU on machines of 4 CPUs or more for inputs of 50,000 records or "
        "more, else 1.",
    ),
    message: str = typer.Option("", "-m", "--message", help="What this version is."),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Go on from the last pass a killed run of the same REF, pipeline and --out "
        "completed (its files in the workspace's scratch area), instead of starting over; the "
        "same result. Local executor in one process only (--workers auto means 1 here).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run a pipeline of steps over a version into the next version of --out, recording the
    reason for every record removed or changed (see 'curata why'). The pipeline is checked
    before any data is read; nothing is written unless the whole run succeeds."""
    from curata.curation.pipeline import load_pipeline

    spec = load_pipeline(pipeline)
    ws = workspace(ctx)
    with record_progress(f"curate {ref} → {out}") as progress:
        result = ws.curation.curate(
            ref,
            spec,
            out,
            executor=executor,
            message=message,
            progress=progress,
            ray_address=ray_address,
            workers=_workers(workers),
            resume=resume,
        )

    def render(c: Console) -> None:
        v = result.version
        head = "Created" if result.created else "Unchanged:"
        c.print(
            f"{head} [bold]{v.ref}[/]: {result.records_out:,} of {result.records_in:,} records "
            f"kept; digest {v.digest[:12]}"
        )
        t = table_of("#", "step", "in", "out", "changed", "dropped", "seconds")
        for s in result.steps:
            t.add_row(
                str(s["position"] + 1), s["name"], f"{s['records_in']:,}",
                f"{s['records_out']:,}", f"{s['changed']:,}", f"{s['dropped']:,}",
                f"{s['seconds']:.2f}",
            )  # fmt: skip
        c.print(t)
        for e in result.examples:
            verb = {"drop": "removed", "report": "reported"}.get(e["action"], "changed")
            c.print(f"  e.g. {e['record_id'][:12]} {verb} by {e['step']}: {escape(e['reason'])}")
        c.print("Ask why a record was removed or changed: curata why RECORD_ID")

    emit(as_json, result.to_dict(), render)


def _workers(value: str) -> int | None:
    """``--workers``: a count of at least 1, or None for ``auto``."""
    from curata.core.errors import ValidationError

    if value.strip().lower() == "auto":
        return None
    try:
        n = int(value)
    except ValueError:
        raise ValidationError(f"--workers: {value!r} is not a whole number or auto") from None
    if n < 1:
        raise ValidationError(f"--workers: must be at least 1 (or auto), got {n}")
    return n


@steps.command("list")
def steps_list(as_json: bool = JsonOption) -> None:
    """Every registered step with its parameters, defaults and what they do."""
    from curata.curation.pipeline import describe_steps

    data = describe_steps()
    emit(as_json, data, lambda c: print_plugins(c, data, needs_all="sees every record first"))


def why(
    ctx: typer.Context,
    record_id: str = typer.Argument(
        ..., help="A record id (or its first 6+ hex digits).", metavar="RECORD_ID"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Why a record was removed or changed by curation, in which version, by which step."""
    from curata.curation.service import describe

    data = workspace(ctx).curation.why(record_id)

    def render(c: Console) -> None:
        for e in data["came_from"]:
            c.print(f"{e['new_id']} came from {e['record_id']}: {escape(describe(e))}")
        for e in data["events"]:
            c.print(f"{e['record_id']}: {escape(describe(e))}")

    emit(as_json, data, render)


@pii.command("report")
def pii_report(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="A version made by a curation run with a pii step."),
    as_json: bool = JsonOption,
) -> None:
    """Entities the pii step of the run that made the version found in that version's records
    (redacted, or reported by action: report), per type and per source; and how many records it
    dropped."""
    data = workspace(ctx).curation.pii_report(ref)

    def render(c: Console) -> None:
        r = data["records_with_pii"]
        c.print(
            f"{data['version']}: {r['redacted']:,} of its records redacted, {r['reported']:,} "
            f"reported (left as they are); {r['dropped']:,} records dropped for personal data"
        )
        t = table_of("entity", "found", "records")
        for name, v in data["by_type"].items():
            t.add_row(name, f"{v['entities']:,}", f"{v['records']:,}")
        c.print(t)
        s = table_of("source", "entities")
        for source, per in data["by_source"].items():
            s.add_row(escape(source), escape(", ".join(f"{k} {v:,}" for k, v in per.items())))
        c.print(s)

    emit(as_json, data, render)
