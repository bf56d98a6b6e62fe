"""Remembered tokens and the authentication epoch: a server process remembers valid tokens for
minutes, yet a revocation made in another process (another worker, the CLI) reaches it within
``EPOCH_CHECK_SECONDS``; nothing is read from the database per request in between."""

from __future__ import annotations

from typing import Any

import pytest

from curata.annotation import workforce as wf
from curata.annotation.workforce import EPOCH_CHECK_SECONDS, WorkforceService


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(wf.time, "monotonic", fake.monotonic)
    return fake


def _lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the token lookups that reach the database."""
    seen: list[str] = []
    real = wf.token_user_until

    def counting(sessions: Any, token: str) -> Any:
        seen.append(token)
        return real(sessions, token)

    monkeypatch.setattr(wf, "token_user_until", counting)
    return seen


def test_a_revocation_elsewhere_reaches_this_process_within_the_epoch_check(
    ws: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.workforce.add_user("vera")
    token = ws.workforce.issue_token("vera")
    server = WorkforceService(ws.projects.sessions, "server")  # another process's view
    lookups = _lookups(monkeypatch)
    assert server.authenticate(token).name == "vera"
    clock.now += 3 * EPOCH_CHECK_SECONDS  # the epoch is read again; nothing moved it
    assert server.authenticate(token).name == "vera"
    assert server.remembered(token).name == "vera"  # on the event loop, no I/O
    assert lookups == [token]  # one lookup for three checks
    assert ws.workforce.revoke_tokens("vera") == 1  # "the CLI", another service
    clock.now += EPOCH_CHECK_SECONDS / 2
    assert server.authenticate(token).name == "vera"  # not yet due to read the epoch
    clock.now += EPOCH_CHECK_SECONDS
    assert server.remembered(token) is None  # due: the event loop hands it to a thread
    assert server.authenticate(token) is None
    assert ws.workforce.authenticate(token) is None  # the revoking process: at once


def test_a_signed_out_session_ends_everywhere_and_a_session_is_not_remembered_past_expiry(
    ws: Any, clock: Clock
) -> None:
    ws.workforce.add_user("ann")
    api = ws.workforce.issue_token("ann")
    server = WorkforceService(ws.projects.sessions, "server")
    _user, session = ws.workforce.sign_in("ann", api, hours=1)
    assert server.authenticate(session).name == "ann"
    assert ws.workforce.sign_out(session)
    clock.now += EPOCH_CHECK_SECONDS
    assert server.authenticate(session) is None
    assert server.authenticate(api).name == "ann"  # the API token itself lives on
    _user, short = ws.workforce.sign_in("ann", api, hours=1 / 3600)  # one second
    assert server.authenticate(short).name == "ann"
    clock.now += 2  # past the token's expiry, well inside AUTH_CACHE_SECONDS
    assert server.remembered(short) is None


def test_a_lookup_that_began_before_a_revocation_is_not_remembered(
    ws: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.workforce.add_user("raj")
    token = ws.workforce.issue_token("raj")
    real = wf.token_user_until

    def racing(sessions: Any, tok: str) -> Any:
        found = real(sessions, tok)  # read while the token was valid ...
        ws.workforce.revoke_tokens("raj")  # ... revoked before the answer is cached
        return found

    monkeypatch.setattr(wf, "token_user_until", racing)
    assert ws.workforce.authenticate(token).name == "raj"  # this request was let in
    monkeypatch.setattr(wf, "token_user_until", real)
    assert ws.workforce.remembered(token) is None
    assert ws.workforce.authenticate(token) is None
