"""Plain helpers shared by several test modules (fixtures live in ``conftest.py``): written once
so that copies cannot drift apart."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from curata.core.records import Record
from curata.curation.steps.base import Decision, Step
from curata.store.tables import CurationEventRow, StepRunRow


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server started apart)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def decide(step: Step, *records: Record) -> list[Decision]:
    """``step``'s decisions on one batch of ``records``, as an executor would call it; a test
    of one record unpacks the list (``[d] = decide(...)``), which also checks there is one."""
    return step.apply([(r.id, r) for r in records])


def events_of(ws: Any, ref: str) -> list[tuple[Any, ...]]:
    """Every event of the run that made ``ref``, in the order it was recorded: the step's
    position and name, then every recorded field of the event."""
    version = ws.datasets.version(ref)
    with ws.projects.sessions() as s:
        rows = s.execute(
            select(CurationEventRow, StepRunRow)
            .join(StepRunRow, StepRunRow.id == CurationEventRow.step_run_id)
            .where(StepRunRow.operation_id == version.operation_id)
            .order_by(CurationEventRow.id)
        ).all()
    fields = ("record_id", "action", "reason", "related_id", "new_id", "score", "details")
    return [(r.position, r.name, *(getattr(e, f) for f in fields), e.source) for e, r in rows]


def ingest_with_cli(cli: Callable[..., tuple[int, str, str]], data: Path, dataset: str) -> None:
    """Initialise the ``cli`` fixture's workspace, add the source ``web`` (MIT) and ingest
    ``data`` as ``dataset``, checking that every command succeeds."""
    assert cli("init")[0] == 0
    code, _, err = cli("source", "add", "web", "--kind", "crawl", "--license", "MIT",
                       "--origin", "x")  # fmt: skip
    assert code == 0, err
    code, _, err = cli("ingest", data, "--source", "web", "--dataset", dataset)
    assert code == 0, err


# -- the web application over a real socket ---------------------------------------------------


def form_field(html: str, name: str) -> str:
    """The value of the hidden input ``name`` in a page (the CSRF token, the sign-in nonce)."""
    import re

    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert found, f"the page has no {name!r} field"
    return found.group(1)


def sign_in(client: Any, name: str, token: str, next_path: str = "/") -> Any:
    """Sign ``client`` (an ``httpx.Client`` on the app) in through the real form; returns the
    answer to the form's POST (303 on success)."""
    page = client.get("/login")
    return client.post("/login", data={"name": name, "token": token,
                                       "nonce": form_field(page.text, "nonce"),
                                       "next": next_path})


@contextmanager
def web_client(url: str, name: str, token: str, timeout: float = 60) -> Iterator[Any]:
    """An ``httpx.Client`` on the app at ``url``, signed in as ``name``."""
    import httpx

    with httpx.Client(base_url=url, timeout=timeout) as client:
        answer = sign_in(client, name, token)
        assert answer.status_code == 303, f"sign-in as {name}: HTTP {answer.status_code}"
        yield client


@contextmanager
def client_for(site: dict[str, Any], name: str) -> Iterator[Any]:
    """A signed-in client on a web test's ``site`` (its ``url`` and ``tokens`` by user name)."""
    with web_client(site["url"], name, site["tokens"][name]) as client:
        yield client


def csrf(html: str) -> str:
    """The CSRF token of the first form on a page."""
    return form_field(html, "csrf")
