"""The Ray executor: the trace-and-replay algorithm (:mod:`.replay`) on a Ray cluster.

Same pipeline, same steps, same result as :func:`curata.curation.executors.local.run`: the
same records in the same order, the same events and the same counts (see :mod:`.replay` for
why). This module is only the pool: the run's :class:`~.replay.Work` is put in the object store
once and fetched once per worker process; a trace keeps its copy of the batch (the view) in the
object store, so a collecting pass's ``summarize`` task gets the records that reach the
needs-all step by place in that view instead of from the driver. At most 2 x the cluster's
CPUs batches are in flight per stage (tracing, summarising), which bounds the driver's memory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from curata.core.errors import CurataError, ValidationError
from curata.curation.executors import replay
from curata.curation.executors.local import Batches, IdBatches, Input, Progress, RunResult
from curata.curation.executors.replay import Pick, TaskFailed, Trace, Work
from curata.curation.pipeline import Pipeline
from curata.curation.steps.base import Item

_TASK_CACHE: dict[str, Any] = {}  # in a worker: the work of the current run, by object id


class RayExecutorError(CurataError):
    """Ray could not be started or reached, or lost a task's result."""


def run(
    pipeline: Pipeline,
    batches: Batches,
    total: int,
    *,
    emit: Callable[[list[Input]], None],
    input_ids: set[str] | None = None,
    ids: IdBatches | None = None,
    progress: Progress | None = None,
    address: str | None = None,
    scratch: Path | None = None,
) -> RunResult:
    """Run ``pipeline`` on Ray; the arguments and the result are those of ``local.run``.

    ``address`` is a Ray cluster to connect to (``ray.init(address=...)``); None starts a
    local one with every CPU of this machine. A Ray session already initialised in this
    process is used as it is; one this call starts is shut down when it returns. ``scratch``
    is the driver's directory for the passes' files and the needs-all steps' state, and
    ``ids`` the input's ids as batches, kept on disk there (see :func:`.replay.run`).
    """
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        _connect(ray, address)

    @contextlib.contextmanager
    def pool(work: Work) -> Iterator[RayPool]:
        yield RayPool(ray, work)

    try:
        return replay.run(
            pipeline,
            batches,
            total,
            emit=emit,
            input_ids=input_ids,
            ids=ids,
            progress=progress,
            pool=pool,
            scratch=scratch,
        )
    finally:
        if started_here:
            ray.shutdown()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValidationError("the ray executor needs Ray: pip install 'curata[ray]'") from None
    return ray


REACH_TIMEOUT_S = 10.0
"""How long :func:`_check_reachable` waits for a cluster's GCS port to accept a connection."""
_HOST_PORT = re.compile(r"^\[?(?P<host>[^\[\]/]+?)\]?:(?P<port>\d{1,5})$")


def _check_reachable(address: str) -> None:
    """Fail fast on a ``HOST:PORT`` where nothing listens: ``ray.init`` itself retries for
    minutes. Other forms (``auto``, ``ray://…``) are left to Ray."""
    match = _HOST_PORT.match(address)
    if match is None:
        return
    host, port = match["host"], int(match["port"])
    try:
        socket.create_connection((host, port), timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RayExecutorError(
            f"could not reach the Ray cluster at {address}: nothing accepted a connection on "
            f"{host}:{port} within {REACH_TIMEOUT_S:g} s ({reason}); is its head node running?"
        ) from exc


def _connect(ray: Any, address: str | None) -> None:
    quiet = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False}
    if address is not None:
        _check_reachable(address)
    try:
        if address is None:
            # "local": a new cluster, even where a `ray start` left its address in /tmp/ray
            ray.init(address="local", num_cpus=os.cpu_count() or 1, **quiet)
        else:
            ray.init(address=address, **quiet)
    except Exception as exc:
        where = "a local Ray cluster" if address is None else f"the Ray cluster at {address}"
        raise RayExecutorError(
            f"could not start or reach {where}: {type(exc).__name__}: {exc}"
        ) from exc


class RayPool:
    """Trace and summarize tasks on the Ray cluster this process is connected to."""

    def __init__(self, ray: Any, work: Work) -> None:
        self.ray = ray
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.window = max(2, 2 * cpus)
        self._trace = ray.remote(_trace).options(num_returns=2)
        self._summarize = ray.remote(_summarize)
        try:
            self._work = ray.put(work)  # a copy, taken now: the driver prepares its own steps
        except Exception as exc:
            raise ValidationError(
                f"the ray executor cannot send the pipeline's steps to its workers "
                f"(a step that cannot be pickled?): {type(exc).__name__}: {exc}"
            ) from exc

    def trace(self, start: int, limit: int, batch: list[Item], keep_view: bool) -> Any:
        return self._trace.remote([self._work], start, limit, batch, keep_view)

    def trace_result(self, pending: Any) -> tuple[Trace, Any]:
        trace_ref, view_ref = pending
        try:
            trace: Trace = self.ray.get(trace_ref)
        except self.ray.exceptions.RayTaskError as exc:
            with contextlib.suppress(self.ray.exceptions.RayTaskError):
                self.ray.get(view_ref)  # seen, so Ray does not log it as unhandled
            raise TaskFailed(str(exc)) from exc
        except self.ray.exceptions.RayError as exc:
            raise RayExecutorError(f"ray: {type(exc).__name__}: {exc}") from exc
        return trace, view_ref

    def summarize(self, barrier: int, view: Any, picks: list[Pick]) -> Any:
        return self._summarize.remote([self._work], barrier, view, picks)

    def summary_result(self, pending: Any) -> tuple[Any, float]:
        try:
            summary: tuple[Any, float] = self.ray.get(pending)
        except self.ray.exceptions.RayTaskError as exc:
            raise TaskFailed(str(exc)) from exc
        except self.ray.exceptions.RayError as exc:
            raise RayExecutorError(f"ray: {type(exc).__name__}: {exc}") from exc
        return summary


# -- the tasks (run in Ray workers) ---------------------------------------------------------


def _cached(box: list[Any]) -> Work:
    """The work behind the ref in ``box``, fetched once per worker process and run."""
    import ray

    key = box[0].hex()
    if key not in _TASK_CACHE:
        if len(_TASK_CACHE) >= 4:
            _TASK_CACHE.clear()
        _TASK_CACHE[key] = ray.get(box[0])
    work: Work = _TASK_CACHE[key]
    return work


def _trace(
    box: list[Any], start: int, limit: int, batch: list[Item], keep_view: bool
) -> tuple[Trace, list[Item | None] | None]:
    return replay.trace(_cached(box), start, limit, batch, keep_view)


def _summarize(
    box: list[Any], barrier: int, view: list[Item | None] | None, picks: list[Pick]
) -> tuple[Any, float]:
    return replay.summarize(_cached(box), barrier, view, picks)
