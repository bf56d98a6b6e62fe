"""``curata train`` and ``curata eval``: which versions trained a checkpoint, and its
evaluations (results files, lm-eval sample logs, red-team campaigns) with pass rates."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from curata.cli.output import JsonOption, emit, record_progress, workspace
from curata.cli.output import table as table_of
from curata.core.errors import InputError, ValidationError
from curata.loop.service import Checkpoint, EvalSummary, parse_checkpoint

train = typer.Typer(help="Training runs: which dataset versions trained a checkpoint.")
evals = typer.Typer(help="Evaluation runs of a checkpoint and their pass rates per category.")

ModelOption = typer.Option(..., "--model", help="The checkpoint, as MODEL:CHECKPOINT.")


class EvalFormat(StrEnum):
    auto = "auto"
    jsonl = "jsonl"
    csv = "csv"
    lm_eval = "lm-eval"


@train.command("register")
def register(
    ctx: typer.Context,
    model: str = ModelOption,
    datasets: list[str] = typer.Option(
        None, "--datasets", help="Versions it was trained on (NAME@N), space- or comma-separated."
    ),
    more: list[str] = typer.Argument(None, metavar="REF", help="More versions (NAME@N)."),
    params: Path | None = typer.Option(
        None, "--params", help="A JSON file of training parameters (an object)."
    ),
    export: list[str] = typer.Option(
        None,
        "--export",
        help="A recorded export (id, see 'curata export list') whose files it was trained on; "
        "repeat or comma-separate. Its version joins the training versions.",
    ),
    files: list[Path] = typer.Option(
        None,
        "--files",
        "--file",
        help="A file it was trained on, matched by SHA-256 to the export that wrote it; repeat.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Record which dataset versions (and which exported files) trained MODEL:CHECKPOINT
    (again with the same versions, exports and parameters changes nothing)."""
    name, ckpt = parse_checkpoint(model)
    refs = [
        r for value in [*(datasets or []), *(more or [])] for r in value.split(",") if r.strip()
    ]
    export_ids = _export_ids(export or [])
    loaded = _params(params) if params is not None else None
    ws = workspace(ctx)
    export_ids |= {e.id for e in ws.exports.match(files or [])}
    checkpoint = ws.evaluation.register(
        name, ckpt, [r.strip() for r in refs], loaded, exports=sorted(export_ids)
    )
    emit(as_json, checkpoint.to_dict(), lambda c: _render_checkpoint(c, checkpoint))


@train.command("list")
def list_checkpoints(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List registered checkpoints with the versions that trained them."""
    checkpoints = workspace(ctx).evaluation.checkpoints()

    def render(c: Console) -> None:
        if not checkpoints:
            c.print("No checkpoints yet: register one with 'curata train register'.")
            return
        table = table_of("checkpoint", "versions", "evaluations", "registered", "by")
        for k in checkpoints:
            table.add_row(k.name, ", ".join(k.versions), str(k.eval_runs),
                          f"{k.registered_at:%Y-%m-%d %H:%M}", k.registered_by)  # fmt: skip
        c.print(table)

    emit(as_json, [k.to_dict() for k in checkpoints], render)


@train.command("show")
def show_checkpoint(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="MODEL:CHECKPOINT", help="The checkpoint."),
    as_json: bool = JsonOption,
) -> None:
    """Show a checkpoint: its training versions, parameters and evaluation runs."""
    ws = workspace(ctx)
    checkpoint = ws.evaluation.checkpoint(name)
    runs = ws.evaluation.runs(model_ckpt=name)
    data = {**checkpoint.to_dict(), "runs": [r.to_dict() for r in runs]}

    def render(c: Console) -> None:
        _render_checkpoint(c, checkpoint)
        for r in runs:
            c.print(f"  run {r.id}: {r.source_kind} {escape(r.source)}, "
                    f"{r.counts.get('examples', 0)} examples")  # fmt: skip

    emit(as_json, data, render)


@evals.command("ingest")
def ingest(
    ctx: typer.Context,
    model: str = ModelOption,
    file: Path | None = typer.Argument(None, metavar="FILE", help="A results file."),
    format: EvalFormat = typer.Option(
        EvalFormat.auto, "--format", help="Results format (auto: by the file name)."
    ),
    campaign: str | None = typer.Option(
        None, "--campaign", help="Ingest a red-team campaign's attempts instead of a file."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Store per-example results of an evaluation of MODEL:CHECKPOINT, from a JSONL/CSV file,
    an lm-evaluation-harness sample log, or a red-team campaign; all of it or nothing."""
    parse_checkpoint(model)
    if (file is None) == (campaign is None):
        raise ValidationError("give either a results FILE or --campaign ID")
    ws = workspace(ctx)
    with record_progress("ingesting results") as progress:
        if campaign is not None:
            summary = ws.evaluation.ingest_campaign(model, campaign, progress=progress)
        else:
            assert file is not None
            summary = ws.evaluation.ingest(model, file, format.value, progress=progress)
    emit(as_json, summary.to_dict(), lambda c: _render_summary(c, summary))


@evals.command("list")
def list_runs(
    ctx: typer.Context,
    model: str | None = typer.Option(None, "--model", help="Only runs of MODEL:CHECKPOINT."),
    as_json: bool = JsonOption,
) -> None:
    """List evaluation runs, newest first."""
    runs = workspace(ctx).evaluation.runs(model_ckpt=model)

    def render(c: Console) -> None:
        if not runs:
            c.print("No evaluation runs yet: add one with 'curata eval ingest'.")
            return
        table = table_of("run", "checkpoint", "source", "examples", "passed", "when", "by")
        for r in runs:
            judged = r.counts.get("judged", 0)
            passed = f"{r.counts.get('passed', 0)}/{judged}" if judged else "-"
            table.add_row(str(r.id), r.checkpoint, f"{r.source_kind}: {escape(r.source)}",
                          str(r.counts.get("examples", 0)), passed,
                          f"{r.created_at:%Y-%m-%d %H:%M}", r.created_by)  # fmt: skip
        c.print(table)

    emit(as_json, [r.to_dict() for r in runs], render)


@evals.command("show")
def show_run(
    ctx: typer.Context,
    run_id: int = typer.Argument(..., metavar="RUN_ID", help="The evaluation run."),
    as_json: bool = JsonOption,
) -> None:
    """Show an evaluation run's pass rate per category with 95% Wilson intervals."""
    summary = workspace(ctx).evaluation.summary(run_id)
    emit(as_json, summary.to_dict(), lambda c: _render_summary(c, summary))


def _params(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=str(path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", path=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object of training parameters", path=str(path))
    return data


def _render_checkpoint(c: Console, k: Checkpoint) -> None:
    table = Table(show_header=False, box=None)
    for key, value in (
        ("checkpoint", k.name),
        ("trained on", ", ".join(k.versions)),
        ("params", json.dumps(k.params, sort_keys=True) if k.params else "-"),
        ("registered", f"{k.registered_at:%Y-%m-%d %H:%M} by {k.registered_by}"),
        ("evaluations", str(k.eval_runs)),
    ):
        table.add_row(f"[bold]{key}[/]", escape(value))
    for e in k.exports:
        table.add_row(
            f"[bold]export {e['id']}[/]", escape(f"{e['version']} {e['format']} {e['out']}")
        )
        for f in e["files"]:
            table.add_row("", escape(f"{f['name']}  {f['bytes']:,} B  sha256 {f['sha256']}"))
    c.print(table)


def _export_ids(values: list[str]) -> set[int]:
    ids: set[int] = set()
    for value in values:
        for part in value.split(","):
            if not part.strip().isdigit():
                raise ValidationError(f"--export: {part.strip()!r} is not an export id")
            ids.add(int(part))
    return ids


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _render_summary(c: Console, s: EvalSummary) -> None:
    r = s.run
    c.print(f"[bold]run {r.id}[/] of {r.checkpoint}: {r.source_kind} {escape(r.source)}")
    table = table_of("category", "examples", "passed", "pass rate", "95% interval", "mean score")
    for row in s.categories:
        interval = "-" if row.low is None else f"{_pct(row.low)} - {_pct(row.high)}"
        score = "-" if row.mean_score is None else f"{row.mean_score:.3f}"
        table.add_row(escape(row.category), str(row.examples), f"{row.passed}/{row.judged}",
                      _pct(row.rate), interval, score)  # fmt: skip
    c.print(table)
