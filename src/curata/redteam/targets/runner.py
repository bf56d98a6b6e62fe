"""The loop around a target: concurrency, rate limit, timeout, retries, budget, outcomes, stats.

A :class:`TargetRunner` sends conversations to one :class:`~curata.redteam.targets.base.Target`
and turns every attempt into a :class:`TargetResult` whose :class:`Outcome` says what happened:
``ok``, ``empty`` (the model answered nothing), ``error``, ``timeout`` or ``budget_exhausted``.
Nothing is raised mid-campaign: a failure is an outcome with a message naming what and where,
so a scorer never counts an error as a refusal or a breach.

Each try (the first request of an attempt and each retry) holds one of ``concurrency`` slots,
waits its turn under ``rate_limit`` and must finish within ``timeout_s``. A
:class:`~curata.redteam.targets.base.TransientError` (429, 5xx, a connection refused or
dropped) is retried up to ``max_retries`` times after ``backoff_s · 2^(n-1)`` seconds (at most
``max_backoff_s``) times a random factor in [0.5, 1] ("equal jitter", so retries of many
attempts do not arrive together) — or after the server's ``Retry-After`` when it sent one (at
most ``max_retry_after_s``). A slot is released while its attempt waits to retry.

The budget (``max_attempts``, ``max_tokens``) is checked when an attempt gets its slot, before
its first request: once spent, no new attempt is sent, the ones not yet started come back
``budget_exhausted`` and :meth:`TargetRunner.stream` stops reading its input. Attempts already
in flight finish, so the token budget may be overshot by what they use. Tokens are what the
model reports, or :func:`~curata.redteam.targets.base.estimated_tokens` when it reports none.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from curata.core.errors import InputError
from curata.redteam.targets.base import (
    Message,
    Reply,
    Target,
    TargetError,
    TransientError,
    conversation,
    estimated_tokens,
)

log = logging.getLogger(__name__)

ConversationLike = str | Sequence[Message | Mapping[str, Any]]
"""What a runner accepts as a conversation (see :func:`.base.conversation`)."""


class Outcome(StrEnum):
    """How an attempt ended. Only ``ok`` carries an answer a scorer should judge."""

    OK = "ok"
    EMPTY = "empty"
    ERROR = "error"
    TIMEOUT = "timeout"
    BUDGET_EXHAUSTED = "budget_exhausted"


@dataclass(frozen=True, slots=True)
class TargetResult:
    """One attempt: its outcome, the reply (``ok`` and ``empty``), what went wrong (the other
    outcomes), the seconds its last try took (``latency_s``), the seconds from its start to
    its end with every retry and wait (``elapsed_s``), and how many requests it made."""

    outcome: Outcome
    reply: Reply | None = None
    error: str | None = None
    latency_s: float = 0.0
    elapsed_s: float = 0.0
    tries: int = 0

    @property
    def text(self) -> str:
        return self.reply.text if self.reply is not None else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "reply": self.reply.to_dict() if self.reply is not None else None,
            "error": self.error,
            "latency_s": self.latency_s,
            "elapsed_s": self.elapsed_s,
            "tries": self.tries,
        }


class RunnerParams(BaseModel):
    """The runner's knobs (see the module docstring for how they combine)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrency: int = Field(default=8, ge=1, description="Requests in flight at most.")
    rate_limit: float | None = Field(
        default=None, gt=0, description="Requests started per second at most (retries "
        "included); none: as fast as the slots allow.")
    timeout_s: float = Field(default=60.0, gt=0, description="Seconds one request may take "
                             "before it is abandoned as a timeout.")
    max_retries: int = Field(default=3, ge=0, description="Retries of a transient failure "
                             "(429, 5xx, connection refused or dropped) before giving up.")
    backoff_s: float = Field(default=0.5, ge=0, description="Wait before the first retry, in "
                             "seconds; doubled for each further retry, times a jitter in "
                             "[0.5, 1].")
    max_backoff_s: float = Field(default=30.0, ge=0, description="Longest backoff wait, in "
                                 "seconds.")
    max_retry_after_s: float = Field(default=120.0, ge=0, description="Longest Retry-After "
                                     "a server is obeyed for, in seconds (a longer one is "
                                     "cut to this).")
    retry_timeouts: bool = Field(default=False, description="Whether a timeout is retried "
                                 "like a transient failure (by default it is an outcome).")
    max_attempts: int | None = Field(default=None, ge=0, description="Attempts (not "
                                     "requests) to start at most; none: no limit.")
    max_tokens: int | None = Field(default=None, ge=0, description="Tokens (prompt and "
                                   "completion) to spend at most; none: no limit.")
    seed: int | None = Field(default=None, description="Seed of the backoff jitter (none: "
                             "fresh randomness).")


class LatencyHistogram:
    """Latencies in logarithmic buckets 1% wide: percentiles within 1% in constant memory,
    however many attempts a campaign makes (the exact minimum, maximum and mean are kept)."""

    RATIO = 1.01

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.n = 0
        self.total = 0.0
        self.low = math.inf
        self.high = 0.0

    def add(self, seconds: float) -> None:
        ms = max(seconds * 1000.0, 1e-3)
        bucket = math.floor(math.log(ms) / math.log(self.RATIO))
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
        self.n += 1
        self.total += seconds
        self.low = min(self.low, seconds)
        self.high = max(self.high, seconds)

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100) in seconds: the upper edge of its bucket, clamped
        to the observed range; ``None`` without observations."""
        if not self.n:
            return None
        rank = max(1, math.ceil(q / 100.0 * self.n))
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                edge = self.RATIO ** (bucket + 1) / 1000.0
                return min(max(edge, self.low), self.high)
        return self.high

    def summary(self) -> dict[str, float | None]:
        return {
            "p50": self.percentile(50),
            "p90": self.percentile(90),
            "p99": self.percentile(99),
            "max": self.high if self.n else None,
            "mean": self.total / self.n if self.n else None,
        }


@dataclass
class RunnerStats:
    """What a runner did: attempts by outcome, requests, retries, tokens, wall time and the
    latency percentiles (seconds) of the tries that got a reply."""

    attempts: int = 0
    requests: int = 0
    retries: int = 0
    tokens: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in Outcome})
    wall_s: float = 0.0
    latency: dict[str, float | None] = field(default_factory=dict)

    @property
    def attempts_per_s(self) -> float:
        return self.attempts / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "requests": self.requests,
            "retries": self.retries,
            "tokens": self.tokens,
            "outcomes": dict(self.outcomes),
            "wall_s": self.wall_s,
            "attempts_per_s": self.attempts_per_s,
            "latency_s": dict(self.latency),
        }


class TargetRunner:
    """Sends conversations to a target under the knobs of :class:`RunnerParams` (given as
    ``params`` or as keyword values). Use it as an async context manager (it opens and closes
    the target: one shared HTTP session per runner), or call :meth:`aclose` when done."""

    def __init__(self, target: Target, params: RunnerParams | None = None, **knobs: Any) -> None:
        if params is not None and knobs:
            raise TypeError("give the runner's params or their values, not both")
        self.target = target
        self.params = params if params is not None else RunnerParams(**knobs)
        self._slots = asyncio.Semaphore(self.params.concurrency)
        self._pace_lock = asyncio.Lock()
        self._open_lock = asyncio.Lock()
        self._next_start = 0.0
        self._opened = False
        self._random = random.Random(self.params.seed)
        self._stats = RunnerStats()
        self._latency = LatencyHistogram()
        self._first_start: float | None = None
        self._last_end = 0.0
        self._started = 0

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _open(self) -> None:
        async with self._open_lock:
            if not self._opened:
                await self.target.open()
                self._opened = True

    async def aclose(self) -> None:
        """Close the target (its HTTP session); the runner may be opened again."""
        if self._opened:
            self._opened = False
            await self.target.close()

    def describe(self) -> dict[str, Any]:
        """The target's recorded configuration and the runner's knobs."""
        return {"target": self.target.describe(), "runner": self.params.model_dump(mode="json")}

    # -- the budget ------------------------------------------------------------------------------

    def budget_spent(self) -> str | None:
        """Why no further attempt may start (which limit, how much was used), or None."""
        p = self.params
        if p.max_attempts is not None and self._started >= p.max_attempts:
            return f"budget exhausted: max_attempts={p.max_attempts} attempts started"
        if p.max_tokens is not None and self._stats.tokens >= p.max_tokens:
            return f"budget exhausted: max_tokens={p.max_tokens} ({self._stats.tokens} used)"
        return None

    @property
    def exhausted(self) -> bool:
        return self.budget_spent() is not None

    # -- one attempt -----------------------------------------------------------------------------

    async def complete(self, value: ConversationLike) -> TargetResult:
        """One attempt at ``value`` (a conversation, or a string: one user message), with
        the timeout, retries and budget applied. Never raises for a failure of the target or
        a malformed conversation: both are an ``error`` outcome."""
        try:
            messages = conversation(value)
        except InputError as exc:
            return self._finish(TargetResult(Outcome.ERROR, error=exc.message))
        if not self._opened:
            await self._open()
        start = time.perf_counter()
        tries = 0
        while True:
            async with self._slots:
                if not tries:  # the budget is checked when the attempt gets its slot
                    spent = self.budget_spent()
                    if spent is not None:
                        self._stats.outcomes[Outcome.BUDGET_EXHAUSTED.value] += 1
                        return TargetResult(Outcome.BUDGET_EXHAUSTED, error=spent)
                    self._started += 1
                    start = time.perf_counter()
                    if self._first_start is None:
                        self._first_start = start
                await self._pace()
                tries += 1
                self._stats.requests += 1
                t0 = time.perf_counter()
                failure: TransientError | None = None
                try:
                    async with asyncio.timeout(self.params.timeout_s):
                        reply = await self.target.complete(messages)
                except TimeoutError:
                    if not self.params.retry_timeouts or tries > self.params.max_retries:
                        return self._finish(self._timeout(start, t0, tries))
                    failure = TransientError(f"no reply within {self.params.timeout_s:g} s")
                except TransientError as exc:
                    failure = exc
                except TargetError as exc:
                    return self._finish(self._error(exc.message, start, t0, tries))
                except Exception as exc:  # a target's bug is this attempt's error, not the run's
                    return self._finish(
                        self._error(f"{self.target.name}: {type(exc).__name__}: {exc}",
                                    start, t0, tries))
                else:
                    now = time.perf_counter()
                    self._latency.add(now - t0)
                    self._stats.tokens += self._tokens(messages, reply)
                    outcome = Outcome.OK if reply.text.strip() else Outcome.EMPTY
                    return self._finish(TargetResult(outcome, reply, None, now - t0,
                                                     now - start, tries))
            assert failure is not None  # every other way out of the slot returned
            if tries > self.params.max_retries:
                gave_up = f"{failure.message} (gave up after {tries} tries)"
                return self._finish(self._error(gave_up, start, t0, tries))
            delay = self._delay(tries, failure.retry_after)
            self._stats.retries += 1
            log.debug("%s: retry %d in %.3f s after: %s", self.target.name, tries, delay,
                      failure.message)
            await asyncio.sleep(delay)

    def _delay(self, tries: int, retry_after: float | None) -> float:
        p = self.params
        if retry_after is not None:
            return min(max(retry_after, 0.0), p.max_retry_after_s)
        backoff = min(p.backoff_s * 2.0 ** (tries - 1), p.max_backoff_s)
        return backoff * self._random.uniform(0.5, 1.0)

    async def _pace(self) -> None:
        if self.params.rate_limit is None:
            return
        async with self._pace_lock:
            loop = asyncio.get_running_loop()
            wait = self._next_start - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next_start = max(loop.time(), self._next_start) + 1.0 / self.params.rate_limit

    @staticmethod
    def _tokens(messages: list[Message], reply: Reply) -> int:
        total = reply.usage.total_tokens if reply.usage is not None else None
        return total if total is not None else estimated_tokens(messages, reply.text)

    def _timeout(self, start: float, t0: float, tries: int) -> TargetResult:
        now = time.perf_counter()
        more = f" ({tries} tries)" if tries > 1 else ""
        return TargetResult(Outcome.TIMEOUT, None,
                            f"{self.target.name}: no reply within {self.params.timeout_s:g} s"
                            f"{more}", now - t0, now - start, tries)

    @staticmethod
    def _error(message: str, start: float, t0: float, tries: int) -> TargetResult:
        now = time.perf_counter()
        return TargetResult(Outcome.ERROR, None, message, now - t0, now - start, tries)

    def _finish(self, result: TargetResult) -> TargetResult:
        self._stats.attempts += 1
        self._stats.outcomes[result.outcome.value] += 1
        self._last_end = time.perf_counter()
        return result

    # -- many attempts ---------------------------------------------------------------------------

    async def stream(
        self, conversations: Iterable[ConversationLike]
    ) -> AsyncIterator[tuple[int, TargetResult]]:
        """(input position, result) for each conversation, in the order they finish. At most
        twice ``concurrency`` conversations are read ahead, so memory stays flat over any
        number; once the budget is spent the input is no longer read."""
        window = 2 * self.params.concurrency
        source = iter(enumerate(conversations))
        pending: set[asyncio.Task[tuple[int, TargetResult]]] = set()
        drained = False

        async def attempt(i: int, value: ConversationLike) -> tuple[int, TargetResult]:
            return i, await self.complete(value)

        try:
            while True:
                while not drained and len(pending) < window and not self.exhausted:
                    item = next(source, None)
                    if item is None:
                        drained = True
                        break
                    pending.add(asyncio.ensure_future(attempt(*item)))
                if not pending:
                    return
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    yield task.result()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def run(self, conversations: Iterable[ConversationLike]) -> list[TargetResult]:
        """A result for every conversation, in input order; those the budget left unsent are
        ``budget_exhausted``."""
        items = list(conversations)
        results: list[TargetResult | None] = [None] * len(items)
        async for i, result in self.stream(items):
            results[i] = result
        spent = self.budget_spent() or "budget exhausted"
        unsent = TargetResult(Outcome.BUDGET_EXHAUSTED, error=spent)
        self._stats.outcomes[Outcome.BUDGET_EXHAUSTED.value] += results.count(None)
        return [r if r is not None else unsent for r in results]

    def stats(self) -> RunnerStats:
        """A snapshot of what the runner has done so far."""
        snapshot = RunnerStats(
            attempts=self._stats.attempts,
            requests=self._stats.requests,
            retries=self._stats.retries,
            tokens=self._stats.tokens,
            outcomes=dict(self._stats.outcomes),
            latency=self._latency.summary(),
        )
        if self._first_start is not None:
            snapshot.wall_s = max(self._last_end - self._first_start, 0.0)
        return snapshot


def run_sync(
    target: Target, conversations: Iterable[ConversationLike], **knobs: Any
) -> tuple[list[TargetResult], RunnerStats]:
    """Every conversation's result (input order) and the statistics, from synchronous code
    (a notebook, a script): an event loop and a runner with ``knobs`` for this call only."""

    async def go() -> tuple[list[TargetResult], RunnerStats]:
        async with TargetRunner(target, **knobs) as runner:
            results = await runner.run(conversations)
            return results, runner.stats()

    return asyncio.run(go())
