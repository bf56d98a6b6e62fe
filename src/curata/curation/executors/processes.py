"""The local executor's worker processes: the trace-and-replay algorithm (:mod:`.replay`) on a
pool of processes on this machine (``local.run(..., workers=N)`` with N > 1).

Same result as the in-process run (see :mod:`.replay` for why). Each worker is a fresh Python
interpreter (``sys.executable``, the caller's ``sys.path``) started once per run; it never
forks the caller (Lance and pyarrow keep threads and open files that are not fork-safe once the
store is open) and never imports the caller's ``__main__`` (as ``multiprocessing``'s spawn
does, which re-runs a script without an ``if __name__ == "__main__":`` guard: a script that
curates would then wait forever on its own dataset lock). A step class must therefore be
importable from a module. Start-up costs each worker about 1 s (importing Curata and the
steps), plus each step's first use (``pii`` loads Presidio and spaCy: about 1 s).

The driver talks to each worker over two pipes (length-prefixed pickles): the run's
:class:`~.replay.Work`, pickled once when the pool opens, then tasks in, results out, in order.
Tasks go to the workers in turn; a writer thread per worker feeds its pipe, so the driver never
blocks on a busy worker. Unlike Ray's object store, nothing keeps a trace's copy of the batch
near the workers, so a collecting pass sends the records that reach the needs-all step to
``summarize``. At most 2 x N batches are in flight per stage (tracing, summarising), which
bounds the driver's memory.

A worker ignores Ctrl-C (the driver handles it, and stops the pool) and exits when its task
pipe closes, which is also what happens when the driver dies: a killed run leaves no processes
behind. A worker that dies (killed, out of memory) ends the run with :class:`WorkerLost`; the
service writes nothing, as for any failed run.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from curata.core.errors import CurataError, ValidationError
from curata.curation.executors import replay
from curata.curation.executors.replay import Pick, TaskFailed, Trace, Work
from curata.curation.steps.base import Item
from curata.faults import fault_point

_HEADER = struct.Struct("<Q")
_BOOT = (
    "import sys; sys.path[:] = {path!r}; "
    "from curata.curation.executors.processes import serve; serve({tasks}, {results})"
)


class WorkerLost(CurataError):
    """A worker process of the local executor ended before its task did."""


def pool_opener(workers: int) -> replay.PoolOpener:
    """Opens a :class:`ProcessPool` of ``workers`` processes for a run; a run that fails kills
    them, one that ends lets them finish and exit."""

    @contextlib.contextmanager
    def open_pool(work: Work) -> Iterator[replay.Pool]:
        pool = ProcessPool(workers, work)
        try:
            yield pool
        except BaseException:
            pool.close(kill=True)
            raise
        pool.close()

    return open_pool


@dataclass(frozen=True)
class _Pending:
    worker: _Worker
    number: int


class ProcessPool:
    """Trace and summarize tasks on ``workers`` processes."""

    def __init__(self, workers: int, work: Work) -> None:
        try:  # a copy, taken now: the driver prepares its own steps
            payload = pickle.dumps(work, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise ValidationError(
                f"the local executor cannot send the pipeline's steps to its worker processes "
                f"(a step that cannot be pickled?): {type(exc).__name__}: {exc}"
            ) from exc
        self.window = max(2, 2 * workers)
        self._workers: list[_Worker] = []
        try:
            for _ in range(workers):
                self._workers.append(_Worker(payload))
        except BaseException:
            self.close(kill=True)
            raise
        self._turn = 0

    def close(self, *, kill: bool = False) -> None:
        """Stop the workers: at once with ``kill``, else once their tasks are done."""
        for worker in self._workers:
            worker.close(kill=kill)
        for worker in self._workers:
            worker.wait()

    def trace(self, start: int, limit: int, batch: list[Item], keep_view: bool) -> _Pending:
        return self._submit("trace", (start, limit, batch))

    def trace_result(self, pending: _Pending) -> tuple[Trace, Any]:
        trace: Trace = pending.worker.result(pending.number)
        return trace, None

    def summarize(self, barrier: int, view: Any, picks: list[Pick]) -> _Pending:
        return self._submit("summarize", (barrier, picks))

    def summary_result(self, pending: _Pending) -> tuple[Any, float]:
        summary: tuple[Any, float] = pending.worker.result(pending.number)
        return summary

    def _submit(self, task: str, args: tuple[Any, ...]) -> _Pending:
        worker = self._workers[self._turn % len(self._workers)]
        self._turn += 1
        return _Pending(worker, worker.submit((task, args)))


class _Worker:
    """One worker process: its pipes, the thread that feeds it, the results not yet taken."""

    def __init__(self, payload: bytes) -> None:
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        try:
            boot = _BOOT.format(path=sys.path, tasks=task_r, results=result_w)
            self.process = subprocess.Popen(
                [sys.executable, "-c", boot],
                stdin=subprocess.DEVNULL,
                pass_fds=(task_r, result_w),
                process_group=0,  # Ctrl-C goes to the driver, which stops the workers
            )
        except BaseException:
            for fd in (task_r, task_w, result_r, result_w):
                os.close(fd)
            raise
        os.close(task_r)
        os.close(result_w)
        self._tasks = os.fdopen(task_w, "wb")
        self._results = os.fdopen(result_r, "rb")
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._feed, daemon=True)
        self._writer.start()
        self._sent = self._received = 0
        self._done: dict[int, tuple[str, Any]] = {}
        self._queue.put(payload)

    def submit(self, message: tuple[str, tuple[Any, ...]]) -> int:
        """Queue a task; its number, for :meth:`result`."""
        self._queue.put(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        self._sent += 1
        return self._sent - 1

    def result(self, number: int) -> Any:
        """The value of task ``number``; :class:`TaskFailed` if it raised."""
        while number not in self._done:
            data = _read(self._results)
            if data is None:
                raise self._lost()
            self._done[self._received] = pickle.loads(data)
            self._received += 1
        status, value = self._done.pop(number)
        if status == "ok":
            return value
        if status == "no work":
            raise ValidationError(
                f"the local executor's worker processes cannot load the pipeline's steps "
                f"(a step class must be importable from a module): {value}"
            )
        raise TaskFailed(value)

    def close(self, *, kill: bool) -> None:
        """No more tasks: the worker exits once it has read them (at once with ``kill``); a
        result not taken is not read, and its write ends the worker."""
        self._results.close()
        self._queue.put(None)
        if kill and self.process.poll() is None:
            self.process.kill()

    def wait(self) -> None:
        self.process.wait()
        self._writer.join()

    def _feed(self) -> None:
        with contextlib.suppress(OSError), self._tasks:  # a closed pipe: the worker is gone
            while (data := self._queue.get()) is not None:
                self._tasks.write(_HEADER.pack(len(data)))
                self._tasks.write(data)
                self._tasks.flush()

    def _lost(self) -> WorkerLost:
        code = self.process.wait()
        how = (
            f"was killed by {signal.Signals(-code).name}"
            if code < 0
            else f"exited with status {code}"
        )
        return WorkerLost(
            f"a worker process of the local executor {how} (killed, or out of memory?); "
            "the run stopped and nothing was written"
        )


def _read(stream: IO[bytes]) -> bytes | None:
    """One message, or None at the end of the stream."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    return data if len(data) == size else None


# -- in the workers -------------------------------------------------------------------------


def serve(tasks_fd: int, results_fd: int) -> None:
    """A worker's loop: read the work, then answer each task in order until the pipe closes;
    then exit at once (no interpreter teardown: unloading spaCy and the rest takes seconds)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tasks, results = os.fdopen(tasks_fd, "rb"), os.fdopen(results_fd, "wb")
    payload = _read(tasks)
    work: Work | None = None
    problem = ""
    try:
        work = pickle.loads(payload) if payload is not None else None
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
    while payload is not None and (data := _read(tasks)) is not None:
        answer = ("no work", problem) if work is None else _answer(work, data)
        try:
            out = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            out = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
        try:
            results.write(_HEADER.pack(len(out)))
            results.write(out)
            results.flush()
        except OSError:  # the driver is gone
            break
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


_TASKS: dict[str, Callable[..., Any]] = {}


def _answer(work: Work, data: bytes) -> tuple[str, Any]:
    fault_point("curate_worker")
    try:
        task, args = pickle.loads(data)
        return "ok", _TASKS[task](work, *args)
    except Exception as exc:
        return "error", f"{type(exc).__name__}: {exc}"


def _trace(work: Work, start: int, limit: int, batch: list[Item]) -> Trace:
    trace, _ = replay.trace(work, start, limit, batch, False)
    return trace


def _summarize(work: Work, barrier: int, picks: list[Pick]) -> tuple[Any, float]:
    return replay.summarize(work, barrier, None, picks)


_TASKS.update(trace=_trace, summarize=_summarize)
