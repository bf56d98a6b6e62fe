"""Notices to a RACI's Informed parties: a signed webhook POST to each URL, a listed notice
for each user, every one recorded with its outcome.

A webhook body is JSON ``{"id", "event", "sent_at", "payload"}``; the header
``X-Curata-Signature`` is ``sha256=`` and the hex HMAC-SHA256 of the exact body bytes under the
workspace's webhook secret (``curata raci secret``), as GitHub signs its webhooks, so a consumer
recomputes it over the body it received and compares in constant time (:func:`verify`).
``X-Curata-Event`` names the event and ``X-Curata-Delivery`` its id.

Delivery is synchronous with ``attempts`` tries (the waits between them double from
``backoff`` seconds); a 2xx answer is delivered, anything else (an error status, a refused
connection, a timeout) is retried and, after the last try, recorded as ``failed`` with the last
error. :meth:`Notifier.notify` never raises: a release or an evaluation does not fail because a
consumer's endpoint is down.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from curata.stats.proportions import newcombe_interval
from curata.store.tables import (
    CheckpointRow,
    CheckpointVersionRow,
    DatasetRow,
    EvalResultRow,
    EvalRunRow,
    NotificationRow,
    OperationRow,
    ProjectRow,
    RaciMemberRow,
    RaciRow,
    UserRow,
    VersionRow,
    WebhookSecretRow,
    utcnow,
)
from curata.timeutil import iso

__all__ = [
    "DELIVERY_HEADER",
    "EVENTS",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "Notice",
    "Notifier",
    "regressions",
    "sign",
    "verify",
    "webhook_secret",
]

SIGNATURE_HEADER = "X-Curata-Signature"
EVENT_HEADER = "X-Curata-Event"
DELIVERY_HEADER = "X-Curata-Delivery"
EVENTS = ("release", "regression")
"""Events Curata itself sends; :meth:`Notifier.notify` takes any name."""

log = logging.getLogger(__name__)


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` (the header's value) signs ``body`` under ``secret``."""
    return hmac.compare_digest(sign(secret, body), signature)


def webhook_secret(session: Session) -> str:
    """The workspace's webhook secret, made (256 random bits) the first time it is asked for."""
    row = session.scalar(select(WebhookSecretRow).order_by(WebhookSecretRow.id).limit(1))
    if row is None:
        row = WebhookSecretRow(id=1, secret=secrets.token_hex(32))
        session.add(row)
        session.flush()
    return row.secret


@dataclass(frozen=True)
class Notice:
    """One notice to one party and what became of it."""

    event_id: str
    event: str
    target: str
    status: str  # delivered | failed | listed
    attempts: int
    status_code: int | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def informed(
    session: Session, *, projects: Sequence[str] = (), datasets: Sequence[str] = ()
) -> list[str]:
    """The Informed parties of the RACIs of ``projects`` and ``datasets``: URLs, and
    ``user:NAME``, each once."""
    scopes = [
        RaciRow.project_id == select(ProjectRow.id).where(ProjectRow.name == p).scalar_subquery()
        for p in projects
    ] + [
        RaciRow.dataset_id == select(DatasetRow.id).where(DatasetRow.name == d).scalar_subquery()
        for d in datasets
    ]
    found: list[str] = []
    for where in scopes:
        rows = session.execute(
            select(RaciMemberRow.url, UserRow.name)
            .join(RaciRow, RaciRow.id == RaciMemberRow.raci_id)
            .outerjoin(UserRow, UserRow.id == RaciMemberRow.user_id)
            .where(where, RaciMemberRow.role == "informed")
            .order_by(RaciMemberRow.id)
        ).all()
        for url, user in rows:
            target = url if url is not None else f"user:{user}"
            if target not in found:
                found.append(target)
    return found


class Notifier:
    """Sends events to Informed parties (see the module docstring).

    ``transport`` is httpx's seam (tests may inject one); ``attempts``, ``backoff`` (seconds
    before the second try, doubling) and ``timeout`` (seconds per try) bound the time a notice
    may take.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        transport: httpx.BaseTransport | None = None,
        attempts: int = 3,
        backoff: float = 0.2,
        timeout: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._transport = transport
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.timeout = timeout

    def notify(
        self,
        event: str,
        payload: Mapping[str, Any],
        *,
        project: str | Sequence[str] | None = None,
        dataset: str | Sequence[str] | None = None,
    ) -> list[Notice]:
        """Tell the Informed parties of ``project`` and ``dataset`` (names, or lists of names;
        default: the payload's ``project`` and ``dataset`` keys) about ``event``; return each
        notice's outcome. Never raises: a failure is recorded and logged."""
        try:
            projects = _names(project if project is not None else payload.get("project"))
            datasets = _names(dataset if dataset is not None else payload.get("dataset"))
            return self._notify(event, dict(payload), projects=projects, datasets=datasets)
        except Exception as exc:  # a notice must never break its caller
            log.warning("notify %s: %s", event, exc)
            return []

    def notify_regressions(self, run_id: int) -> list[Notice]:
        """When evaluation run ``run_id`` shows a category whose pass rate dropped against the
        previous checkpoint trained on one of the same datasets (:func:`regressions`), tell
        the Informed parties of those datasets and of the projects that released them (event
        ``regression``). Never raises."""
        try:
            with self._sessions() as session:
                found = regressions(session, run_id)
        except Exception as exc:
            log.warning("regression check of eval run %s: %s", run_id, exc)
            return []
        if found is None or not found["categories"]:
            return []
        return self.notify(
            "regression", found, project=found["projects"], dataset=found["datasets"]
        )

    def _notify(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        projects: Sequence[str],
        datasets: Sequence[str],
    ) -> list[Notice]:
        with self._sessions.begin() as session:
            targets = informed(session, projects=projects, datasets=datasets)
            secret = webhook_secret(session) if targets else ""
        if not targets:
            return []
        event_id = str(uuid.uuid4())
        body = json.dumps(
            {"id": event_id, "event": event, "sent_at": iso(utcnow()), "payload": payload},
            sort_keys=True,
            default=str,
        ).encode()
        notices = [
            self._deliver(event_id, event, t, body, secret)
            if not t.startswith("user:")
            else Notice(event_id, event, t, "listed", 0, None, None)
            for t in targets
        ]
        with self._sessions.begin() as session:
            for n in notices:
                session.add(
                    NotificationRow(
                        event_id=event_id,
                        event=event,
                        target=n.target,
                        payload=json.loads(body),
                        status=n.status,
                        attempts=n.attempts,
                        status_code=n.status_code,
                        error=n.error,
                        delivered_at=utcnow() if n.status == "delivered" else None,
                    )
                )
        return notices

    def _deliver(self, event_id: str, event: str, url: str, body: bytes, secret: str) -> Notice:
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, body),
            EVENT_HEADER: event,
            DELIVERY_HEADER: event_id,
        }
        error: str | None = None
        code: int | None = None
        with httpx.Client(transport=self._transport, timeout=self.timeout) as client:
            for attempt in range(1, self.attempts + 1):
                try:
                    response = client.post(url, content=body, headers=headers)
                    code = response.status_code
                    if 200 <= code < 300:
                        return Notice(event_id, event, url, "delivered", attempt, code, None)
                    error = f"HTTP {code}"
                except httpx.HTTPError as exc:
                    code, error = None, f"{type(exc).__name__}: {exc}"
                if attempt < self.attempts:
                    time.sleep(self.backoff * 2 ** (attempt - 1))
        log.warning("webhook %s to %s failed after %d tries: %s", event, url, self.attempts, error)
        return Notice(event_id, event, url, "failed", self.attempts, code, error)

    def notices(self, *, limit: int = 50) -> list[dict[str, Any]]:
        """The latest notices, newest first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(NotificationRow).order_by(NotificationRow.id.desc()).limit(limit)
            ).all()
            return [
                {
                    "event_id": r.event_id,
                    "event": r.event,
                    "target": r.target,
                    "status": r.status,
                    "attempts": r.attempts,
                    "status_code": r.status_code,
                    "error": r.error,
                    "created_at": iso(r.created_at),
                }
                for r in rows
            ]


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def _pass_rates(session: Session, run_id: int) -> dict[str, tuple[int, int]]:
    """(passed, judged) per category of an evaluation run (examples without a verdict left
    out)."""
    rows = session.execute(
        select(EvalResultRow.category, EvalResultRow.passed, func.count())
        .where(EvalResultRow.eval_run_id == run_id, EvalResultRow.passed.is_not(None))
        .group_by(EvalResultRow.category, EvalResultRow.passed)
    ).all()
    rates: dict[str, list[int]] = {}
    for category, passed, n in rows:
        tally = rates.setdefault(category, [0, 0])
        tally[0] += n if passed else 0
        tally[1] += n
    return {c: (p, n) for c, (p, n) in rates.items()}


def regressions(session: Session, run_id: int) -> dict[str, Any] | None:
    """Evaluation run ``run_id`` against the baseline: the latest run of the checkpoint
    registered most recently before this run's checkpoint among those trained on a version of
    one of the same datasets. ``None`` when there is no baseline; otherwise the categories
    (judged in both runs) whose pass rate fell, the 95% Newcombe interval of the change
    entirely below 0, with both rates, counts and the interval, and the
    datasets and releasing projects behind the checkpoint."""
    run = session.get(EvalRunRow, run_id)
    if run is None:
        return None
    checkpoint = session.get(CheckpointRow, run.checkpoint_id)
    assert checkpoint is not None
    trained = session.execute(
        select(DatasetRow.id, DatasetRow.name, OperationRow.kind, OperationRow.parameters)
        .select_from(CheckpointVersionRow)
        .join(VersionRow, VersionRow.id == CheckpointVersionRow.version_id)
        .join(DatasetRow, DatasetRow.id == VersionRow.dataset_id)
        .join(OperationRow, OperationRow.id == VersionRow.operation_id)
        .where(CheckpointVersionRow.checkpoint_id == checkpoint.id)
    ).all()
    dataset_ids = {row[0] for row in trained}
    if not dataset_ids:
        return None
    baseline = session.scalar(
        select(CheckpointRow)
        .join(CheckpointVersionRow, CheckpointVersionRow.checkpoint_id == CheckpointRow.id)
        .join(VersionRow, VersionRow.id == CheckpointVersionRow.version_id)
        .where(VersionRow.dataset_id.in_(dataset_ids), CheckpointRow.id != checkpoint.id)
        .where(
            (CheckpointRow.registered_at < checkpoint.registered_at)
            | (
                (CheckpointRow.registered_at == checkpoint.registered_at)
                & (CheckpointRow.id < checkpoint.id)
            )
        )
        .order_by(CheckpointRow.registered_at.desc(), CheckpointRow.id.desc())
        .limit(1)
    )
    if baseline is None:
        return None
    baseline_run = session.scalar(
        select(EvalRunRow.id)
        .where(EvalRunRow.checkpoint_id == baseline.id)
        .order_by(EvalRunRow.id.desc())
        .limit(1)
    )
    if baseline_run is None:
        return None
    before, after = _pass_rates(session, baseline_run), _pass_rates(session, run_id)
    dropped = []
    for category in sorted(set(before) & set(after)):
        (p0, n0), (p1, n1) = before[category], after[category]
        # regressed as attribution and briefs judge it: the 95% Newcombe interval of the
        # change lies entirely below 0 (a drop within the noise notifies no one)
        low, high = newcombe_interval(p1, n1, p0, n0)
        if high < 0:
            dropped.append(
                {
                    "category": category,
                    "before": p0 / n0,
                    "after": p1 / n1,
                    "change": p1 / n1 - p0 / n0,
                    "interval": [low, high],
                    "before_n": n0,
                    "after_n": n1,
                }
            )
    projects = sorted(
        {
            str(params.get("project"))
            for _, _, kind, params in trained
            if kind == "release" and (params or {}).get("project")
        }
    )
    return {
        "model": f"{checkpoint.model}:{checkpoint.checkpoint}",
        "baseline": f"{baseline.model}:{baseline.checkpoint}",
        "eval_run": run_id,
        "baseline_run": baseline_run,
        "datasets": sorted({row[1] for row in trained}),
        "projects": projects,
        "categories": dropped,
    }
