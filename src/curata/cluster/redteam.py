"""Red-team campaigns on a Ray cluster (``curata redteam run|resume --executor ray``).

The driver (the process that runs the command) marks the campaign running, splits its units
into ``workers`` *shards* and starts one Ray task per shard. A shard is the units whose place
in the campaign's plan (attacks in version order, then converter variants, then samples) is the
shard's number modulo the shard count (:meth:`CampaignService.run_shard`): deterministic and
disjoint, whatever was recorded before, so no two workers ever make the same attempt. Each task
opens the workspace from the driver's settings (the metadata database URL and the record store
URL: both must be reachable from every node, so a team uses PostgreSQL and an object store),
runs the same async attempt loop as a local run (same targets, converters, strategies, scorers,
``concurrency`` requests in flight per worker) and writes its attempts as a local run does, in
small batches as they finish. So a worker that dies loses only its attempts in flight, and
``curata redteam resume`` makes exactly what is missing.

The budget (``max_attempts``, ``max_tokens``) and ``rate_limit`` are the run's: each worker
gets an equal share. The driver polls the database for the attempts recorded (the progress
bar) and, when every task has returned, records the run (status, attempts, the targets'
summed statistics, the executor and its workers) as a local run does: ``completed`` when every
shard completed, ``stopped`` when a shard's budget ran out, ``interrupted`` after Ctrl-C, and
``failed`` (with the shard and its error) when a task raised or its worker died.

SQLite is a file on one machine: with it, only a Ray cluster on this machine (no address, or
``local``, or an address on 127.0.0.1/localhost) is allowed.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from curata.core.errors import CurataError, ValidationError
from curata.redteam.campaigns import Campaign, Progress, ProgressFn
from curata.redteam.targets import RunnerParams, Target
from curata.store.tables import AttemptRow

if TYPE_CHECKING:
    from curata.settings import Settings
    from curata.workspace import Workspace

POLL_S = 0.25
"""How often the driver counts the recorded attempts for the progress bar."""
MAX_WORKERS = 4096
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
_HOST_PORT = re.compile(r"^\[?(?P<host>[^\[\]/]+?)\]?:(?P<port>\d{1,5})$")


def is_local(address: str | None) -> bool:
    """Whether a Ray address is a cluster on this machine only: none (a new local one),
    ``local``, or ``HOST:PORT`` with a loopback host. ``auto`` and ``ray://`` may span
    machines, so they are not."""
    if address is None or address == "local":
        return True
    match = _HOST_PORT.match(address)
    return match is not None and match["host"] in LOCAL_HOSTS


def check_options(
    settings: Settings, *, executor: str, address: str | None, workers: int | None
) -> None:
    """Refuse executor options that do not fit together (before anything is recorded)."""
    if executor not in ("local", "ray"):
        raise ValidationError(f"executor: {executor!r} is not one of local, ray")
    if executor != "ray":
        if address is not None:
            raise ValidationError("--ray-address is only used with --executor ray")
        if workers is not None:
            raise ValidationError("--ray-workers is only used with --executor ray")
        return
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise ValidationError(f"--ray-workers must be between 1 and {MAX_WORKERS}, got {workers}")
    url = str(settings.database_url)
    if url.startswith("sqlite") and not is_local(address):
        raise ValidationError(
            f"--executor ray with the Ray cluster at {address} needs a metadata database every "
            "node reaches: this workspace's is SQLite (a file on this machine); use PostgreSQL "
            "(CURATA_DATABASE_URL), or a local Ray cluster (no --ray-address)"
        )


def shard_params(params: RunnerParams, workers: int) -> list[RunnerParams]:
    """Each worker's knobs: the same concurrency, timeout and retries; an equal share of the
    run's budget and rate limit (the shares add up to the whole)."""

    def share(total: int | None, i: int) -> int | None:
        if total is None:
            return None
        return total // workers + (1 if i < total % workers else 0)

    rate = params.rate_limit / workers if params.rate_limit is not None else None
    return [
        params.model_copy(
            update={
                "max_attempts": share(params.max_attempts, i),
                "max_tokens": share(params.max_tokens, i),
                "rate_limit": rate,
            }
        )
        for i in range(workers)
    ]


def run_on_ray(
    ws: Workspace,
    campaign_id: str,
    *,
    address: str | None = None,
    workers: int | None = None,
    target: Target | None = None,
    attacker: Target | None = None,
    runner: RunnerParams | None = None,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
    force: bool = False,
) -> Campaign:
    """Run the campaign's units not yet recorded on Ray (module docstring) and return it with
    its new status; the arguments are :meth:`CampaignService.run`'s, plus the Ray
    ``address`` (None: a new local cluster of this machine's CPUs; a Ray session already
    initialised in this process is used as it is) and ``workers`` (shards; default one per
    CPU of the cluster, at most one per unit left)."""
    from curata.curation.executors import ray as ray_executor

    check_options(ws.settings, executor="ray", address=address, workers=workers)
    service = ws.campaigns
    service._targets(campaign_id, target, attacker)  # refused here when they cannot be had
    ray = ray_executor._import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray_executor._connect(ray, address)
    try:
        record = service._start(campaign_id, force=force)
        if record.status == "completed":
            return record
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        count = workers or min(cpus, max(1, record.planned - record.attempts))
        params = runner or RunnerParams(**record.runner)
        return _drive(ws, ray, record, count, params, (target, attacker), progress, stop)
    finally:
        if started_here:
            ray.shutdown()


def _drive(
    ws: Workspace,
    ray: Any,
    record: Campaign,
    count: int,
    params: RunnerParams,
    shipped: tuple[Target | None, Target | None],
    progress: ProgressFn | None,
    stop: threading.Event | None,
) -> Campaign:
    """Start the shards, poll, wait, record the run. ``shipped``: the live target and
    attacker (a Python callable) that travel to the workers; None: rebuilt there from the
    campaign's record."""
    service = ws.campaigns
    started = time.perf_counter()
    task = ray.remote(_shard).options(num_cpus=1, max_retries=0)
    shares = shard_params(params, count)
    before = _counts(ws, record.id)
    pending: dict[Any, int] = {}
    status, error = "interrupted", None
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    try:
        for i in range(count):
            ref = task.remote(
                ws.settings, record.id, i, count, shares[i].model_dump(mode="json"), *shipped
            )
            pending[ref] = i
        last_poll = 0.0
        while pending:
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            for ref in ready:
                i = pending.pop(ref)
                try:
                    results.append(ray.get(ref))
                except ray.exceptions.RayError as exc:
                    failures.append(f"shard {i + 1} of {count}: {_reason(exc)}")
            now = time.perf_counter()
            if progress is not None and (now - last_poll >= POLL_S or not pending):
                last_poll = now
                progress(_progress(ws, record, before, started))
        statuses = {r["status"] for r in results}
        if failures:
            status, error = "failed", "; ".join(failures)
        elif "interrupted" in statuses:
            status = "interrupted"
        elif "stopped" in statuses:
            status = "stopped"
        else:
            status = "completed"
    except KeyboardInterrupt:
        status = "interrupted"
        for ref in pending:
            with contextlib.suppress(Exception):
                ray.cancel(ref)  # a worker's loop writes what finished on its way out
        for ref in pending:
            with contextlib.suppress(Exception):
                results.append(ray.get(ref, timeout=30))
    except CurataError as exc:
        status, error = "failed", exc.message
        raise
    except Exception as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        made = _counts(ws, record.id)[0] - before[0]
        summary = {
            "made": made,
            "target_stats": _sum_stats(r.get("target_stats") for r in results),
            "executor": {
                "name": "ray",
                "workers": count,
                "shards": [{"status": r["status"], "attempts": r["made"]} for r in results],
            },
        }
        service._finish(record.id, status, error, params, summary, time.perf_counter() - started)
    return service.get(record.id)


def _shard(
    settings: Settings,
    campaign_id: str,
    shard: int,
    shards: int,
    runner: Mapping[str, Any],
    target: Target | None,
    attacker: Target | None,
) -> dict[str, Any]:
    """One shard, in a Ray worker: the workspace opened from the driver's settings."""
    from curata.workspace import Workspace

    ws = Workspace._build(settings)
    try:
        return ws.campaigns.run_shard(
            campaign_id,
            shard,
            shards,
            target=target,
            attacker=attacker,
            runner=RunnerParams(**runner),
        )
    finally:
        ws.close()


def _counts(ws: Workspace, campaign_id: str) -> tuple[int, int, int]:
    """Attempts recorded, judged ones, and failures among those (breached attacks, refused
    benign prompts)."""
    done = judged = failures = 0
    with ws._sessions() as session:
        for benign, verdict, n in session.execute(
            select(AttemptRow.benign, AttemptRow.verdict, func.count())
            .where(AttemptRow.campaign_id == campaign_id)
            .group_by(AttemptRow.benign, AttemptRow.verdict)
        ):
            done += n
            if verdict in ("breach", "refused", "safe"):
                judged += n
                failures += n if verdict == ("refused" if benign else "breach") else 0
    return done, judged, failures


def _progress(
    ws: Workspace, record: Campaign, before: tuple[int, int, int], started: float
) -> Progress:
    done, judged, failures = _counts(ws, record.id)
    return Progress(
        planned=record.planned,
        done=done,
        made=done - before[0],
        judged=judged - before[1],
        failures=failures - before[2],
        started=started,
    )


def _sum_stats(stats: Any) -> dict[str, Any]:
    """The workers' target statistics summed (latency percentiles are per worker: left
    out)."""
    total: dict[str, Any] = {
        "attempts": 0,
        "requests": 0,
        "retries": 0,
        "tokens": 0,
        "outcomes": {},
        "wall_s": 0.0,
    }
    for one in stats:
        if not one:
            continue
        for key in ("attempts", "requests", "retries", "tokens"):
            total[key] += one.get(key, 0)
        for outcome, n in one.get("outcomes", {}).items():
            total["outcomes"][outcome] = total["outcomes"].get(outcome, 0) + n
        total["wall_s"] = max(total["wall_s"], one.get("wall_s", 0.0))
    return total


def _reason(exc: BaseException) -> str:
    name = type(exc).__name__
    if "WorkerCrashed" in name or "ActorDied" in name or "NodeDied" in name:
        return f"its Ray worker died ({name}); 'curata redteam resume' makes what is missing"
    text = str(exc).strip().splitlines()
    return f"{name}: {text[-1] if text else ''}"


__all__ = ["check_options", "is_local", "run_on_ray", "shard_params"]
