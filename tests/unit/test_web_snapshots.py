"""The dashboard's snapshots of its slow parts: computed once, shown while fresh, shown stale
while a background thread computes the next, computed again on failure at the next view."""

from __future__ import annotations

import threading

from curata.web.dashboard import Snapshots


def test_fresh_snapshots_are_reused_and_stale_ones_refreshed_behind_the_view() -> None:
    now = [0.0]
    calls: list[int] = []
    release = threading.Event()

    def compute() -> int:
        calls.append(1)
        if len(calls) > 1:
            release.wait(5)  # the refresh is slow: the view must not wait for it
        return len(calls)

    snapshots = Snapshots(max_age=60, clock=lambda: now[0])
    first, at = snapshots.get("p", compute)
    assert first == 1 and calls == [1]
    now[0] = 59.0
    assert snapshots.get("p", compute) == (1, at)  # fresh: not computed again
    assert calls == [1]
    now[0] = 61.0
    assert snapshots.get("p", compute) == (1, at)  # stale: shown at once ...
    assert snapshots.get("p", compute)[0] == 1  # ... and one refresh, not two
    release.set()
    for _ in range(500):
        value, later = snapshots.get("p", compute)
        if value == 2:
            break
        threading.Event().wait(0.01)
    assert value == 2 and later > at and calls == [1, 1]
    assert snapshots.get("q", compute)[0] == 3  # another key: its own snapshot


def test_a_failed_refresh_keeps_the_last_snapshot_and_tries_again() -> None:
    now = [0.0]
    outcomes = iter([1, RuntimeError("database gone"), 3])

    def compute() -> int:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    snapshots = Snapshots(max_age=10, clock=lambda: now[0])
    assert snapshots.get("p", compute)[0] == 1
    now[0] = 11.0
    assert snapshots.get("p", compute)[0] == 1  # the refresh fails in the background
    for _ in range(500):
        if not snapshots._refreshing:
            break
        threading.Event().wait(0.01)
    assert snapshots.get("p", compute)[0] == 1  # still the last one; a new refresh starts
    for _ in range(500):
        if snapshots.get("p", compute)[0] == 3:
            break
        threading.Event().wait(0.01)
    assert snapshots.get("p", compute)[0] == 3
