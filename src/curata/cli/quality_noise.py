"""``curata quality noise``: suspected label errors (CROWDLAB; confident learning with a model's
predictions), optionally sent to the review queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from curata.cli.output import JsonOption, emit, err_console
from curata.cli.output import table as table_of


def noise(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name.", metavar="PROJECT"),
    question: str | None = typer.Option(
        None,
        "--question",
        help="Check only this question (needed with --predictions when the "
        "project has several single-choice questions).",
    ),
    predictions: Path | None = typer.Option(
        None,
        "--predictions",
        metavar="FILE",
        help="A model's class probabilities per record: "
        'JSONL rows {"record_id": ..., "probs": {LABEL: P}} or CSV with record_id and one '
        "column per label. Turns on confident learning.",
    ),
    threshold: float = typer.Option(
        0.5, "--threshold", help="Consensus quality score (0-1) below which an item is a suspect."
    ),
    review: bool = typer.Option(
        False,
        "--review/--no-review",
        help="Send the suspects to the review queue (default: only report).",
    ),
    limit: int = typer.Option(20, "--limit", min=0, help="Suspects to list, worst first (0: all)."),
    as_json: bool = JsonOption,
) -> None:
    """Find labels that are probably wrong, with cleanlab.

    Every item labelled by several annotators gets a consensus label and a consensus quality
    score from CROWDLAB, which weighs each annotator's labels by how reliable they are and
    adds a classifier's out-of-sample prediction. Without --predictions the classifier is a
    TF-IDF + logistic regression model trained here on the records' text against the majority
    vote (cross-validated; on projects too small for that, the vote shares stand in and the
    scores only measure agreement). With --predictions, confident learning also flags items
    whose majority label the model contradicts.

    Items scoring below --threshold, or flagged by confident learning, are listed worst first.
    With --review their annotations go to the review queue, where reviewers get them next
    (POST /projects/PROJECT/reviews/next); ones already pending or reviewed are left alone,
    and each run that flags something writes a 'quality.noise_flagged' audit event.
    """
    from curata.cli.output import workspace

    ws = workspace(ctx)
    status = err_console().status("reading annotations")
    with status:
        data = ws.quality.label_noise(
            project,
            question=question,
            predictions=predictions,
            threshold=threshold,
            send_to_review=review,
            progress=status.update,
        )
    total = len(data["suspects"])
    if limit:
        data["suspects"] = data["suspects"][:limit]
    data["suspects_total"] = total

    def render(c: Console) -> None:
        for q in data["questions"]:
            head = f"[bold]{q['question']}[/]: {q['items']:,} items"
            if q["skipped"]:
                c.print(f"{head}, not checked: {q['skipped']}")
                continue
            c.print(
                f"{head}, {q['suspects']:,} suspects, predictions from {q['model']}"
                + (
                    f" ({q['unpredicted']:,} items without a prediction)"
                    if q["unpredicted"]
                    else ""
                )
            )
            if q["note"] and q["model"] == "votes":
                c.print(f"  [yellow]note[/]: {q['note']}")
        if not total:
            c.print(f"No suspected label errors below {threshold:.2f}.")
        else:
            several = len(data["questions"]) > 1
            columns = ["record", *(["question"] if several else []), "votes", "consensus",
                       "quality", *(["model"] if predictions else []), "why"]  # fmt: skip
            t = table_of(*columns)
            t.columns[0].no_wrap = True
            for s in data["suspects"]:
                cells = [s["record_id"][:12], *([s["question"]] if several else [])]
                cells += [
                    ", ".join(f"{label} {n}" for label, n in s["votes"].items()),
                    str(s["consensus"]),
                    f"{s['quality']:.2f}",
                ]
                if predictions:
                    cells.append(f"{s['suggested']} {s['suggested_prob']:.2f}")
                cells.append(", ".join(_why(s, threshold)))
                t.add_row(*cells)
            c.print(t)
            if len(data["suspects"]) < total:
                c.print(f"{len(data['suspects'])} of {total} suspects shown (--limit 0: all)")
            c.print("--json gives each suspect's full reason.")
        if data["review"] is not None:
            r = data["review"]
            c.print(
                f"Sent to review: {r['flagged']} annotations of {r['items']} suspect items "
                f"({r['already_pending']} already pending, {r['already_reviewed']} already "
                "reviewed, left as they were)"
            )
        elif total:
            c.print("Report only: --review sends these items to the review queue.")

    emit(as_json, data, render)


def _why(suspect: dict[str, Any], threshold: float) -> list[str]:
    """Short tags for the table (the JSON's ``reason`` says it in full)."""
    tags = []
    if suspect["quality"] < threshold:
        tags.append("low score")
    if suspect["label_issue"]:
        tags.append("confident learning")
    if suspect["consensus"] != suspect["majority"]:
        tags.append(f"majority said {suspect['majority']}")
    return tags
