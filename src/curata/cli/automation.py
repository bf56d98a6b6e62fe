"""``curata annotate-model`` and ``curata automation``: a red-team target answers a project's
question (as a suggestion or a counted annotator), and each question's mode (human-only,
model-suggested, model-only) is set on measured evidence."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from curata.annotation.automation import QuestionMode
from curata.cli.output import JsonOption, emit, err_console, workspace
from curata.cli.output import table as table_of
from curata.redteam.targets import RunnerParams

app = typer.Typer(help="Per-question automation: human-only, model-suggested or model-only.")


class Use(StrEnum):
    suggestion = "suggestion"
    annotator = "annotator"


class Mode(StrEnum):
    human_only = "human-only"
    model_suggested = "model-suggested"
    model_only = "model-only"


@contextmanager
def _bar(enabled: bool) -> Iterator[Callable[[int, int], None]]:
    console = err_console()
    progress = Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(),
        MofNCompleteColumn(), TimeRemainingColumn(), console=console, transient=True,
        disable=not (enabled and console.is_terminal),
    )  # fmt: skip
    task = progress.add_task("model answers", total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    with progress:
        yield update


def annotate_model(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="The annotation project."),
    target: str = typer.Option(
        ...,
        "--target",
        metavar="TARGET",
        help="The model: a red-team target, 'name' or 'name:key=value,...' (e.g. "
        "'openai:base_url=http://127.0.0.1:8000/v1,model=m'; see 'curata redteam targets list').",
    ),
    question: str = typer.Option(..., "--question", "-q", help="The question it answers."),
    limit: int | None = typer.Option(None, "--limit", help="Items to answer at most."),
    used_as: Use = typer.Option(
        Use.suggestion,
        "--as",
        help="suggestion: shown to people on a model-suggested question, never counted; "
        "annotator: also the model user's annotation, counted like a person's.",
    ),
    user: str | None = typer.Option(
        None, "--user", help="The model user's name (default: model-<target>[-<model>])."
    ),
    clearance: str = typer.Option(
        "internal",
        "--clearance",
        help="The model user's clearance when first created: items above it are skipped.",
    ),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Requests in flight."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds one request may take."),
    as_json: bool = JsonOption,
) -> None:
    """Have a model answer QUESTION on PROJECT's live items it has not answered yet; replies
    that are no valid answer are recorded as failures, not annotations. Records leave the
    database for the target: give it only what it may see (--clearance)."""
    ws = workspace(ctx)
    with _bar(not as_json) as bar:
        result = ws.automation.models.annotate(
            project, target=target, question=question, limit=limit, used_as=used_as.value,
            user=user, clearance=clearance, progress=bar,
            runner=RunnerParams(concurrency=concurrency, timeout_s=timeout),
        )  # fmt: skip

    def render(c: Console) -> None:
        c.print(
            f"{escape(result.model)} answered {result.answered} of {result.planned} items "
            f"of {escape(project)} on {escape(question)} (as {result.used_as}); "
            f"{result.failed} failed, {result.skipped_clearance} above its clearance"
        )
        for f in result.failures[:5]:
            c.print(f"  {escape(f['record'])}: {escape(f['error'])}")

    emit(as_json, result.to_dict(), render)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _measure(part: dict[str, Any] | None) -> str:
    if not part or not part.get("n"):
        return "-"
    return f"{_pct(part['rate'])} [{_pct(part['low'])}, {_pct(part['high'])}] n={part['n']}"


def _render(c: Console, modes: list[QuestionMode]) -> None:
    table = table_of("question", "mode", "model", "gold accuracy (95%)",
                     "human-majority agreement", "audit", "measured", "set by")  # fmt: skip
    for m in modes:
        e = m.evidence or {}
        table.add_row(
            escape(m.question), m.mode + (" (forced)" if m.forced else ""),
            escape(m.model or "-"), _measure(e.get("gold")), _measure(e.get("majority")),
            _pct(m.audit_share) if m.mode == "model-only" else "-",
            str(e.get("measured_at", "-"))[:16], escape(m.set_by or "-"),
        )  # fmt: skip
    c.print(table)
    for m in modes:
        for s in m.shortfalls:
            c.print(f"[yellow]warning[/]: {escape(m.question)} ({m.mode}): {escape(s)}")


@app.command("show")
def show(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="The annotation project."),
    as_json: bool = JsonOption,
) -> None:
    """Each question's mode, model and latest evidence: gold accuracy with its Wilson 95%
    interval and n, agreement with the human majority, when measured."""
    modes = workspace(ctx).automation.show(project)
    emit(as_json, [m.to_dict() for m in modes], lambda c: _render(c, modes))


@app.command("set")
def set_mode(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="The annotation project."),
    question: str = typer.Option(..., "--question", "-q", help="The question."),
    mode: Mode = typer.Option(..., "--mode", help="human-only, model-suggested or model-only."),
    model: str | None = typer.Option(
        None, "--model", help="The model user (default: the one model that answered it)."
    ),
    audit_share: float | None = typer.Option(
        None, "--audit-share", help="model-only: share of items still sent to people (0.1)."
    ),
    reason: str = typer.Option("", "--reason", help="Why (required with --force; audited)."),
    force: bool = typer.Option(
        False, "--force", help="Set a model mode whose evidence is below the thresholds."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Set how QUESTION is answered. A model mode is refused when the model's evidence is
    below the project's thresholds ('automation thresholds'), unless --force --reason."""
    result = workspace(ctx).automation.set(
        project, question=question, mode=mode.value, model=model, audit_share=audit_share,
        reason=reason, force=force,
    )  # fmt: skip
    emit(as_json, result.to_dict(), lambda c: _render(c, [result]))


@app.command("thresholds")
def thresholds(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="The annotation project."),
    min_n: int | None = typer.Option(None, "--min-n", help="Gold (and majority) items needed."),
    suggested_accuracy: float | None = typer.Option(
        None, "--suggested-accuracy", help="Lowest gold-accuracy lower bound, model-suggested."
    ),
    only_accuracy: float | None = typer.Option(
        None, "--only-accuracy", help="Lowest gold-accuracy lower bound, model-only."
    ),
    only_agreement: float | None = typer.Option(
        None, "--only-agreement", help="Lowest human-majority-agreement lower bound, model-only."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Show or change the project's evidence thresholds for model modes (audited)."""
    result = workspace(ctx).automation.set_thresholds(
        project, min_n=min_n, suggested_accuracy=suggested_accuracy,
        only_accuracy=only_accuracy, only_agreement=only_agreement,
    )  # fmt: skip

    def render(c: Console) -> None:
        for key, value in result.items():
            c.print(f"{key}: {value:g}")

    emit(as_json, result, render)
