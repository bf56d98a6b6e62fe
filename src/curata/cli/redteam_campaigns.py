"""``curata redteam run|resume|status|attempts|report|compare``: campaigns against targets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from curata.cli.interrupt import Interrupted
from curata.cli.output import JsonOption, emit, err_console, workspace, write_html
from curata.cli.output import table as table_of
from curata.cli.redteam import app

CONCURRENCY = typer.Option(None, "--concurrency", min=1, max=4096,
                           help="Requests in flight at most (default 8).")
RATE = typer.Option(None, "--rate-limit", min=0.001,
                    help="Requests started per second at most (default: no limit).")
TIMEOUT = typer.Option(None, "--timeout", min=0.001,
                       help="Seconds a request may take before it is a timeout (default 60).")
RETRIES = typer.Option(None, "--retries", min=0,
                       help="Retries of a 429, a 5xx or a dropped connection (default 3).")
MAX_ATTEMPTS = typer.Option(None, "--max-attempts", min=0,
                            help="Budget: requests to send at most in this run.")
MAX_TOKENS = typer.Option(None, "--max-tokens", min=0,
                          help="Budget: tokens (prompt and completion) to spend at most.")
NO_PROGRESS = typer.Option(False, "--no-progress", help="No progress bar.")
EXECUTOR = typer.Option("local", "--executor", metavar="local|ray",
                        help="Where the attempts run: in this process (local), or split into "
                        "shards over a Ray cluster's workers (ray; same attempts, same result).")
RAY_ADDRESS = typer.Option(None, "--ray-address", metavar="ADDR",
                           help="Ray cluster to run on with --executor ray (default: start a "
                           "local one). A cluster beyond this machine needs PostgreSQL.")
RAY_WORKERS = typer.Option(None, "--ray-workers", metavar="N",
                           help="Shards (Ray tasks) with --executor ray (default: one per CPU of "
                           "the cluster); each has --concurrency requests in flight and an equal "
                           "share of the budget and rate limit.")


def _knobs(**given: Any) -> dict[str, Any]:
    names = {"concurrency": "concurrency", "rate_limit": "rate_limit", "timeout": "timeout_s",
             "retries": "max_retries", "max_attempts": "max_attempts",
             "max_tokens": "max_tokens"}
    return {names[k]: v for k, v in given.items() if v is not None}


@contextmanager
def campaign_progress(planned: int, done: int, enabled: bool) -> Iterator[Callable[[Any], None]]:
    """A Rich progress bar on stderr with live attempts/s and the success rate so far."""
    console = err_console()
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[speed]}"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
    )
    task = progress.add_task("attempts", total=planned, completed=done, speed="", rate="")
    last = 0.0

    def update(state: Any) -> None:
        nonlocal last
        now = time.perf_counter()
        if now - last < 0.1 and state.done < state.planned:
            return
        last = now
        rate = state.success_rate
        progress.update(task, completed=state.done,
                        speed=f"{state.attempts_per_s:,.0f} attempts/s",
                        rate="" if rate is None else f"success {rate:.1%}")

    with progress:
        yield update


def _run_and_report(ctx: typer.Context, campaign_id: str, *, as_json: bool, progress: bool,
                    runner: Any = None, force: bool = False,
                    ray: dict[str, Any] | None = None) -> None:
    ws = workspace(ctx)
    service = ws.campaigns
    before = service.get(campaign_id)
    stop = threading.Event()
    with campaign_progress(before.planned, before.attempts, progress and not as_json) as bar:
        if ray is not None:
            from curata.cluster.redteam import run_on_ray

            campaign = run_on_ray(ws, campaign_id, address=ray["address"],
                                  workers=ray["workers"], runner=runner, progress=bar,
                                  stop=stop, force=force)
        else:
            campaign = service.run(campaign_id, runner=runner, progress=bar, stop=stop,
                                   force=force)
    if campaign.status == "interrupted":
        raise Interrupted(
            f"interrupted: {campaign.attempts:,} of {campaign.planned:,} attempts of "
            f"{campaign.id} are recorded; 'curata redteam resume {campaign.id}' makes the rest"
        )
    _show(campaign, as_json)


def _executor(ctx: typer.Context, executor: str, address: str | None,
              workers: int | None) -> dict[str, Any] | None:
    """The Ray options, checked before anything is recorded (None: run locally)."""
    from curata.cluster.redteam import check_options

    check_options(workspace(ctx).settings, executor=executor, address=address, workers=workers)
    return {"address": address, "workers": workers} if executor == "ray" else None


def _show(campaign: Any, as_json: bool) -> None:
    def render(c: Console) -> None:
        stats = campaign.stats
        v = campaign.verdicts
        c.print(f"campaign {campaign.id} ({escape(campaign.version_ref)} → "
                f"{escape(str(campaign.target.get('model') or campaign.target.get('target')))}"
                f"): {campaign.status}, {campaign.attempts:,} of {campaign.planned:,} attempts")
        if stats.get("attempts_per_s") is not None and stats.get("attempts"):
            c.print(f"last run: {stats['attempts']:,} attempts in {stats['wall_s']:.1f} s "
                    f"({stats['attempts_per_s']:,.0f}/s)")
        c.print("verdicts: " + ", ".join(f"{k} {n:,}" for k, n in sorted(v.items())))
        if campaign.status == "stopped":
            c.print(f"the budget ran out: 'curata redteam resume {campaign.id} "
                    "--max-attempts N' makes the rest")
        if campaign.error:
            c.print(f"error: {escape(campaign.error)}")

    emit(as_json, campaign.to_dict(), render)


def run(
    ctx: typer.Context,
    attacks: str = typer.Option(..., "--attacks", metavar="SET@V",
                                help="The attack set version to send (pinned)."),
    target: str = typer.Option(..., "--target", metavar="TARGET",
                               help="The target: 'name' or 'name:key=value,...', e.g. "
                               "'openai:base_url=http://127.0.0.1:8000/v1,model=m'."),
    converters: list[str] = typer.Option(
        [], "--converters", "-c", metavar="CHAIN",
        help="Also send every attack through this converter chain ('leetspeak|base64'); "
        "repeat for more chains."),
    no_plain: bool = typer.Option(False, "--no-plain",
                                  help="Send only the converted variants, not the attacks as "
                                  "written."),
    scorers: list[str] = typer.Option(
        [], "--scorer", metavar="SCORER",
        help="Scorer ('name' or 'name:key=value,...'); repeat for more (default: refusal, "
        "canary and injection, the last two for attacks with canaries or markers)."),
    strategy: str = typer.Option("direct", "--strategy", metavar="STRATEGY",
                                 help="How an attempt talks to the target: direct, pair, "
                                 "crescendo, ... ('name:key=value,...')."),
    attacker: str | None = typer.Option(None, "--attacker", metavar="TARGET",
                                        help="The attacker model of pair/crescendo (a target)."),
    samples: int = typer.Option(1, "--samples", "-k", min=1, max=1000,
                                help="Attempts per attack and chain (pass@k)."),
    category: str | None = typer.Option(None, "--category", help="Only this category."),
    harm_area: str | None = typer.Option(None, "--harm-area", help="Only this harm area."),
    technique: str | None = typer.Option(None, "--technique", help="Only this technique."),
    language: str | None = typer.Option(None, "--language", help="Only this language."),
    benign: bool | None = typer.Option(None, "--benign/--harmful",
                                       help="Only benign prompts, or only attacks."),
    label: str | None = typer.Option(None, "--label",
                                     help="A name for the campaign (e.g. the checkpoint)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the strategies' randomness."),
    concurrency: int | None = CONCURRENCY,
    rate_limit: float | None = RATE,
    timeout: float | None = TIMEOUT,
    retries: int | None = RETRIES,
    max_attempts: int | None = MAX_ATTEMPTS,
    max_tokens: int | None = MAX_TOKENS,
    executor: str = EXECUTOR,
    ray_address: str | None = RAY_ADDRESS,
    ray_workers: int | None = RAY_WORKERS,
    no_progress: bool = NO_PROGRESS,
    as_json: bool = JsonOption,
) -> None:
    """Run a campaign: every attack of a set version (x each converter chain x samples) sent
    to a target, judged by the scorers, each attempt recorded as it finishes. Ctrl-C keeps
    what finished; 'curata redteam resume ID' makes the rest."""
    from curata.redteam.campaigns import DEFAULT_SCORERS
    from curata.redteam.targets import RunnerParams

    ray = _executor(ctx, executor, ray_address, ray_workers)
    runner = RunnerParams(**_knobs(concurrency=concurrency, rate_limit=rate_limit,
                                   timeout=timeout, retries=retries,
                                   max_attempts=max_attempts, max_tokens=max_tokens))
    campaign = workspace(ctx).campaigns.create(
        attacks=attacks, target=target, converters=converters, plain=not no_plain,
        scorers=scorers or DEFAULT_SCORERS, strategy=strategy, attacker=attacker,
        samples=samples, runner=runner, seed=seed, label=label,
        filters={"category": category, "harm_area": harm_area, "technique": technique,
                 "language": language, "benign": benign},
    )  # fmt: skip
    if not as_json:
        err_console().print(f"campaign {campaign.id}: {campaign.planned:,} attempts planned")
    _run_and_report(ctx, campaign.id, as_json=as_json, progress=not no_progress, ray=ray)


def resume(
    ctx: typer.Context,
    campaign_id: str = typer.Argument(..., metavar="CAMPAIGN", help="The campaign to resume."),
    concurrency: int | None = CONCURRENCY,
    rate_limit: float | None = RATE,
    timeout: float | None = TIMEOUT,
    retries: int | None = RETRIES,
    max_attempts: int | None = MAX_ATTEMPTS,
    max_tokens: int | None = MAX_TOKENS,
    force: bool = typer.Option(False, "--force",
                               help="Resume a campaign marked running whose process died."),
    executor: str = EXECUTOR,
    ray_address: str | None = RAY_ADDRESS,
    ray_workers: int | None = RAY_WORKERS,
    no_progress: bool = NO_PROGRESS,
    as_json: bool = JsonOption,
) -> None:
    """Resume a stopped or interrupted campaign: the attempts not yet recorded, against the
    target it recorded (no attempt is repeated). A budget applies to each run: the recorded
    one again, or what --max-attempts/--max-tokens say for this run."""
    from curata.redteam.targets import RunnerParams

    ray = _executor(ctx, executor, ray_address, ray_workers)
    ws = workspace(ctx)
    recorded = ws.campaigns.get(campaign_id)
    given = _knobs(concurrency=concurrency, rate_limit=rate_limit, timeout=timeout,
                   retries=retries, max_attempts=max_attempts, max_tokens=max_tokens)
    runner = RunnerParams(**{**recorded.runner, **given})
    _run_and_report(ctx, campaign_id, as_json=as_json, progress=not no_progress,
                    runner=runner, force=force, ray=ray)


def status(
    ctx: typer.Context,
    campaign_id: str | None = typer.Argument(None, metavar="[CAMPAIGN]",
                                             help="One campaign (default: list them)."),
    attack_set: str | None = typer.Option(None, "--attack-set",
                                          help="Only campaigns on this attack set."),
    as_json: bool = JsonOption,
) -> None:
    """List campaigns with their progress, or show one."""
    service = workspace(ctx).campaigns
    if campaign_id is not None:
        _show(service.get(campaign_id), as_json)
        return
    campaigns = service.list(attack_set=attack_set)

    def render(c: Console) -> None:
        t = table_of("campaign", "label", "attacks", "target", "status", "attempts", "breaches")
        for k in campaigns:
            model = k.target.get("model") or k.target.get("target")
            t.add_row(k.id, escape(k.label or ""), escape(k.version_ref), escape(str(model)),
                      k.status, f"{k.attempts:,}/{k.planned:,}",
                      f"{k.verdicts.get('breach', 0):,}")
        c.print(t)

    emit(as_json, [k.to_dict() for k in campaigns], render)


def attempts(
    ctx: typer.Context,
    campaign_id: str = typer.Argument(..., metavar="CAMPAIGN"),
    failures: bool = typer.Option(False, "--failures",
                                  help="Only the model's failures (breaches of attacks, "
                                  "refusals of benign prompts)."),
    verdict: str | None = typer.Option(None, "--verdict",
                                       help="Only this verdict (breach, refused, safe, error, "
                                       "empty)."),
    limit: int = typer.Option(20, "--limit", min=1, max=10_000,
                              help="List at most this many attempts."),
    offset: int = typer.Option(0, "--offset", min=0,
                               help="Skip this many attempts first (in the order they finished)."),
    as_json: bool = JsonOption,
) -> None:
    """List a campaign's recorded attempts (the findings, with --failures)."""
    found = workspace(ctx).campaigns.attempts(campaign_id, verdict=verdict, failures=failures,
                                              limit=limit, offset=offset)

    def render(c: Console) -> None:
        t = table_of("attempt", "category", "converters", "verdict", "prompt", "reply")
        for a in found:
            t.add_row(str(a.id), a.category, escape(a.converters), a.verdict,
                      escape(_short(a.prompt)), escape(_short(a.reply)))
        c.print(t)

    emit(as_json, [a.to_dict() for a in found], render)


def report(
    ctx: typer.Context,
    campaign_id: str = typer.Argument(..., metavar="CAMPAIGN"),
    html: Path | None = typer.Option(None, "--html",
                                     help="Also write an HTML report with charts."),
    examples: int = typer.Option(10, "--examples", min=0, max=1000,
                                 help="Breaches shown as examples."),
    review_ref: str | None = typer.Option(
        None, "--review", metavar="REF",
        help="A released review of the campaign: adds the scorers' validity against the "
        "reviewers and the attack success rate corrected for it."),
    as_json: bool = JsonOption,
) -> None:
    """Attack success rate per category, technique, language and converter chain with 95%
    intervals, the over-refusal rate, pass@k, and example breaches."""
    ws = workspace(ctx)
    result = ws.campaigns.report(campaign_id, examples=examples)
    if review_ref is not None:
        result.validity = ws.findings.validity(campaign_id, review_ref)
    data = result.to_dict()
    if html is not None:
        from curata.redteam.report_html import campaign_html

        write_html(html, campaign_html(data))

    def render(c: Console) -> None:
        k = data["campaign"]
        c.print(f"campaign {k['id']} on {escape(k['version'])}: {k['attempts']:,} attempts, "
                f"status {k['status']}")
        c.print(f"attack success rate {_rate(data['attack_success'])}; over-refusal "
                f"{_rate(data['over_refusal'])}")
        if data["pass_at_k"]:
            p = data["pass_at_k"]
            c.print("pass@k: " + ", ".join(f"@{kk} {v:.1%}" for kk, v in p["values"].items()
                                           if v is not None))
        for name in ("category", "converters", "technique", "language"):
            groups = data["by"][name]
            if not groups:
                continue
            t = table_of(name, "attempts", "breaches", "ASR", "95% interval")
            for g in groups:
                t.add_row(escape(g["value"]), f"{g['n']:,}", f"{g['failures']:,}",
                          "-" if g["rate"] is None else f"{g['rate']:.1%}",
                          "-" if g["low"] is None else f"{g['low']:.1%}–{g['high']:.1%}")
            c.print(t)
        if data["validity"]:
            v, a = data["validity"]["validity"], data["validity"]["attack_success"]
            kappa = v["kappa"]["value"] if v.get("kappa") else None
            shown = "-" if kappa is None else f"{kappa:.2f}"
            c.print(f"against {data['validity']['reviewed']:,} reviewed attempts: sensitivity "
                    f"{_pct(v['sensitivity']['value'])}, specificity "
                    f"{_pct(v['specificity']['value'])}, kappa {shown}; corrected attack "
                    f"success rate {_pct(a['corrected'])} (95% interval {_pct(a['low'])}–"
                    f"{_pct(a['high'])}; raw {_pct(a['raw'])})")

    emit(as_json, data, render)


def review(
    ctx: typer.Context,
    campaign_id: str = typer.Argument(..., metavar="CAMPAIGN"),
    project: str = typer.Option(..., "--project", help="The annotation project to create."),
    passes: float = typer.Option(0.1, "--passes", min=0.0, max=1.0,
                                 help="Share of the passes to review too (measures what the "
                                 "scorers miss)."),
    members: list[str] = typer.Option([], "--member", help="A reviewer to add (repeat)."),
    owner: str | None = typer.Option(None, "--owner", help="The project's accountable owner."),
    source: str | None = typer.Option(None, "--source",
                                      help="Source the review records are attributed to "
                                      "(default: the attack set's)."),
    dataset: str | None = typer.Option(None, "--dataset",
                                       help="Dataset of the review items (default "
                                       "CAMPAIGN-review)."),
    overlap: int = typer.Option(1, "--overlap", min=1, help="Reviewers per item."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sample of passes."),
    as_json: bool = JsonOption,
) -> None:
    """Send a campaign's findings (and a sample of its passes) to an annotation project where
    reviewers confirm what the model did and write the response it should have given."""
    setup = workspace(ctx).findings.review(
        campaign_id, project=project, passes=passes, members=members or None, owner=owner,
        source=source, dataset=dataset, overlap=overlap, seed=seed,
    )  # fmt: skip

    def render(c: Console) -> None:
        c.print(f"project {escape(setup.project)} on {escape(setup.version)}: "
                f"{setup.findings:,} findings and {setup.passes:,} of {setup.passes_available:,} "
                "passes to review")

    emit(as_json, setup.to_dict(), render)


def curate(
    ctx: typer.Context,
    campaign_id: str = typer.Argument(..., metavar="CAMPAIGN"),
    review_ref: str = typer.Option(..., "--review", metavar="REF",
                                   help="The review project's released version."),
    name: str | None = typer.Option(None, "--name",
                                    help="Prefix of the datasets (default CAMPAIGN-safety): "
                                    "NAME-sft and NAME-dpo."),
    source: str | None = typer.Option(None, "--source",
                                      help="Source the records are attributed to (default: "
                                      "the attack set's)."),
    as_json: bool = JsonOption,
) -> None:
    """Turn reviewed findings into versioned safety datasets: SFT conversations (attack →
    reviewed response) and DPO pairs (reviewed response over the captured failure); export
    them with 'curata dataset export REF --format sft|dpo'."""
    sets = workspace(ctx).findings.curate(campaign_id, review_ref, name=name, source=source)

    def render(c: Console) -> None:
        c.print(f"SFT: {escape(sets.sft or '-')} ({sets.sft_rows:,} conversations); DPO: "
                f"{escape(sets.dpo or '-')} ({sets.dpo_rows:,} pairs)")
        if sets.skipped:
            c.print("skipped: " + ", ".join(f"{n:,} {why}" for why, n in sets.skipped.items()))

    emit(as_json, sets.to_dict(), render)


def compare(
    ctx: typer.Context,
    before: str = typer.Argument(..., metavar="CAMPAIGN_A", help="The earlier checkpoint's."),
    after: str = typer.Argument(..., metavar="CAMPAIGN_B", help="The later checkpoint's."),
    max_regression: float = typer.Option(0.05, "--max-regression", min=0.0, max=1.0,
                                         help="Gate: no category's breach rate may rise by "
                                         "more than this (0.05 = 5 points)."),
    confidence: float = typer.Option(0.95, "--confidence", min=0.5, max=0.9999,
                                     help="Confidence of the intervals and the gate."),
    gate: bool = typer.Option(False, "--gate", help="Exit 1 when the gate fails."),
    html: Path | None = typer.Option(None, "--html",
                                     help="Also write an HTML report with the regression chart."),
    as_json: bool = JsonOption,
) -> None:
    """Compare two campaigns on the same attack set version, attack by attack: newly failing,
    newly fixed and re-opened attacks, per-category change with intervals, McNemar's test, and
    the release gate."""
    result = workspace(ctx).campaigns.compare(before, after, max_regression=max_regression,
                                              confidence=confidence)
    data = result.to_dict()
    if html is not None:
        from curata.redteam.report_html import regression_html

        write_html(html, regression_html(data))

    def render(c: Console) -> None:
        o = data["overall"]
        c.print(f"{data['before']} → {data['after']} on {escape(data['attacks'])}: breach "
                f"rate {_pct(o['before_rate'])} → {_pct(o['after_rate'])} (change "
                f"{_pct(o['change'], sign=True)}, {confidence:.0%} interval "
                f"{_pct(o['low'], sign=True)} to {_pct(o['high'], sign=True)}, McNemar p = "
                f"{o['p_value']:.3g})")
        counts = data["counts"]
        c.print(", ".join(f"{k.replace('_', ' ')} {counts.get(k, 0):,}" for k in
                          ("newly_failing", "reopened", "newly_fixed", "still_failing",
                           "still_passing", "unpaired")))
        t = table_of("category", "paired", "before", "after", "change", "interval", "p",
                     "regressed")
        for name, d in data["categories"].items():
            t.add_row(escape(name), f"{d['n']:,}", _pct(d["before_rate"]),
                      _pct(d["after_rate"]), _pct(d["change"], sign=True),
                      f"{_pct(d['low'], sign=True)} to {_pct(d['high'], sign=True)}",
                      f"{d['p_value']:.3g}", "yes" if d["regressed"] else "")
        c.print(t)
        g = data["gate"]
        c.print(f"gate (no category up more than {g['max_regression'] * 100:g} points at "
                f"{g['confidence']:.0%}): {'passed' if g['passed'] else 'FAILED'}"
                + (f" ({', '.join(g['regressed'])})" if g["regressed"] else ""))

    emit(as_json, data, render)
    if gate and not data["gate"]["passed"]:
        raise typer.Exit(1)


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _rate(g: dict[str, Any]) -> str:
    if g["rate"] is None:
        return "- (nothing judged)"
    return (f"{g['rate']:.1%} ({g['failures']:,}/{g['n']:,}, 95% interval "
            f"{g['low']:.1%}–{g['high']:.1%})")


def _pct(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:+.1f} pts" if sign else f"{value:.1%}"


app.command("run")(run)
app.command("resume")(resume)
app.command("status")(status)
app.command("attempts")(attempts)
app.command("report")(report)
app.command("compare")(compare)
app.command("review")(review)
app.command("curate")(curate)
