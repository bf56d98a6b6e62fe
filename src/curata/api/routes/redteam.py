"""Red-team campaign routes: list, read, attempts, report (JSON and HTML), compare, create, run.

Campaigns are workspace-level (no project): reading them — attack prompts and the harmful
replies they drew — is ``redteam.read``; creating and running them, which sends requests from
the server to the target a campaign names, is ``redteam.run``. Both are in-house actions (see
:data:`curata.governance.policies.VENDOR_EXCLUDED`). The policy is asked in a dependency, so a
caller without the right is answered 403 before anything of the request is looked at.

A campaign id that cannot exist (not ``rt-`` and twelve hex digits) is answered 404 like a
missing one. Query numbers are bounded and finite (422 naming the parameter otherwise); text
in a request body is valid Unicode (no lone surrogate, no NUL) and stored as given: JSON
carries it escaped, and the HTML pages escape it.

``POST /campaigns/{id}/run`` runs the campaign in a background thread of the serving process
and answers 202 once the campaign is marked ``running`` (or has already ended); progress is
read with ``GET /campaigns/{id}``. A campaign already running (here or in another process) is
the service's :class:`~curata.core.errors.ValidationError` (422).
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import re
import threading
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from curata.api.schemas import ErrorOut, Text
from curata.core.errors import CurataError, NotFoundError, ValidationError
from curata.core.names import NAME_PATTERN
from curata.curation.coverage_html import STYLE
from curata.governance.identity import User
from curata.governance.policies import WorkspacePolicy
from curata.http.deps import CurrentUser, WorkspaceDep
from curata.redteam.campaigns import DEFAULT_SCORERS, STATUSES, CampaignService
from curata.redteam.report_html import campaign_html, regression_html
from curata.redteam.targets import RunnerParams
from curata.workspace import Workspace

# -- limits ----------------------------------------------------------------------------------

CAMPAIGN_ID = re.compile(r"^rt-[0-9a-f]{12}$")
"""What :meth:`CampaignService.create` names a campaign."""
VERSION_REF = (
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}(@([1-9][0-9]{0,8}|[A-Za-z][A-Za-z0-9._-]{0,99}))?$"
)
"""An attack set, optionally pinned to a version or a tag (``set``, ``set@3``, ``set@v1``)."""
MAX_SPEC = 2_000
"""The longest plugin spec (a target, a converter chain, a scorer, a strategy)."""
MAX_PLUGINS = 20
"""The most converter chains or scorers one campaign may name."""
MAX_LIST = 1_000
"""The most campaigns or attempts one page may hold."""
MAX_OFFSET = 2**31 - 1
MAX_EXAMPLES = 100
KEY_ENV = re.compile(r"^[A-Z][A-Z0-9_]*_API_KEY$")
"""The environment variables a target created over the API may read its key from: names
ending in ``_API_KEY``, never another server secret (a database URL, a token) sent to the
host the campaign names."""
_KEY_ENV_PARAM = re.compile(r"api_key_env", re.IGNORECASE)
_KEY_ENV_VALUE = re.compile(r"\s*=\s*(['\"]?)([A-Za-z0-9_]*)\1(?=$|[,|\s)}\]])")

VERDICTS = ("breach", "refused", "safe", "error", "empty")
Verdict = Literal["breach", "refused", "safe", "error", "empty"]
Status = Literal[STATUSES]  # type: ignore[valid-type]

# -- access ----------------------------------------------------------------------------------


async def _reader(user: CurrentUser) -> User:
    WorkspacePolicy.check(user, "redteam.read")
    return user


async def _runner(user: CurrentUser) -> User:
    WorkspacePolicy.check(user, "redteam.run")
    return user


Reader = Annotated[User, Depends(_reader)]
Runner = Annotated[User, Depends(_runner)]


async def _campaign_id(
    campaign_id: Annotated[str, Path(description="A campaign's id: rt- and 12 hex digits.")],
) -> str:
    if not CAMPAIGN_ID.match(campaign_id):
        raise NotFoundError(f"no campaign {campaign_id!r}")
    return campaign_id


CampaignId = Annotated[str, Depends(_campaign_id)]


def _service(workspace: Workspace, user: User) -> CampaignService:
    """The workspace's campaigns, acting as ``user`` (who creates and runs is audited)."""
    return CampaignService(
        workspace.projects.sessions, workspace.redteam, workspace.datasets, user.name
    )


# -- requests --------------------------------------------------------------------------------

Spec = Annotated[Text, Field(min_length=1, max_length=MAX_SPEC)]
Name = Annotated[str, Field(pattern=NAME_PATTERN.pattern, max_length=200)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunnerKnobs(_Request):
    """How the target is called (every field optional; unset: the runner's default)."""

    concurrency: int | None = Field(default=None, ge=1, le=256)
    rate_limit: float | None = Field(
        default=None, gt=0, le=100_000, allow_inf_nan=False, description="Requests per second."
    )
    timeout_s: float | None = Field(default=None, gt=0, le=3_600, allow_inf_nan=False)
    max_retries: int | None = Field(default=None, ge=0, le=20)
    backoff_s: float | None = Field(default=None, ge=0, le=600, allow_inf_nan=False)
    max_backoff_s: float | None = Field(default=None, ge=0, le=3_600, allow_inf_nan=False)
    max_retry_after_s: float | None = Field(default=None, ge=0, le=3_600, allow_inf_nan=False)
    retry_timeouts: bool | None = None
    max_attempts: int | None = Field(
        default=None, ge=0, le=10_000_000, description="Attempts to start at most (a budget)."
    )
    max_tokens: int | None = Field(
        default=None, ge=0, le=10**12, description="Tokens to spend at most (a budget)."
    )
    seed: int | None = Field(default=None, ge=0, le=MAX_OFFSET)

    def params(self, base: dict[str, Any] | None = None) -> RunnerParams:
        return RunnerParams(**{**(base or {}), **self.model_dump(exclude_none=True)})


class CampaignFilters(_Request):
    """Which attacks of the set the campaign sends (unset: all)."""

    category: Name | None = None
    harm_area: Name | None = None
    technique: Name | None = None
    language: (
        Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$", max_length=35)]
        | None
    ) = None
    benign: bool | None = None


class CampaignCreate(_Request):
    """A campaign to record (nothing is sent until it is run)."""

    attacks: str = Field(
        pattern=VERSION_REF,
        max_length=301,
        description="The attack set version (set@3 or set@tag; set alone: its latest, pinned now).",
    )
    target: Spec = Field(
        description="The target in command-line form, e.g. "
        "openai:base_url=http://127.0.0.1:8000/v1,model=m or scripted."
    )
    converters: list[Spec] = Field(
        default_factory=list,
        max_length=MAX_PLUGINS,
        description="Converter chains each attack is also sent through (command-line form).",
    )
    plain: bool = Field(default=True, description="Also send each attack as written.")
    scorers: list[Spec] = Field(
        default_factory=lambda: list(DEFAULT_SCORERS), min_length=1, max_length=MAX_PLUGINS
    )
    strategy: Spec = "direct"
    attacker: Spec | None = Field(
        default=None, description="The attacker model's target (strategies that need one)."
    )
    samples: int = Field(default=1, ge=1, le=1000, description="Attempts per attack and chain.")
    seed: int = Field(default=0, ge=0, le=MAX_OFFSET)
    runner: RunnerKnobs | None = None
    label: Annotated[Text, Field(max_length=200)] | None = None
    filters: CampaignFilters | None = None


class RunBody(_Request):
    """Knobs of this run, replacing the recorded ones (a larger budget to resume)."""

    runner: RunnerKnobs | None = None


def _key_envs(spec: str, field: str) -> None:
    """422 unless every ``api_key_env`` in ``spec`` names a model API key variable."""
    for found in _KEY_ENV_PARAM.finditer(spec):
        value = _KEY_ENV_VALUE.match(spec, found.end())
        name = value.group(2) if value else None
        if name is None or (name and not KEY_ENV.match(name)):
            raise ValidationError(
                f"{field}: api_key_env must name an environment variable ending in _API_KEY "
                "(a model API's key), written plainly"
            )


# -- responses -------------------------------------------------------------------------------


class CampaignOut(BaseModel):
    """A campaign's record and progress (attempts recorded per verdict)."""

    id: str
    label: str | None
    attack_set: str
    version: str
    status: Status
    planned: int
    attempts: int
    verdicts: dict[str, int]
    target: dict[str, Any]
    runner: dict[str, Any]
    converters: list[str]
    variants: list[list[dict[str, Any]]]
    scorers: list[dict[str, Any]]
    strategy: dict[str, Any]
    attacker: dict[str, Any] | None
    filters: dict[str, Any]
    samples: int
    seed: int
    stats: dict[str, Any]
    error: str | None
    created_by: str
    created_at: str
    finished_at: str | None


class AttemptOut(BaseModel):
    """One recorded attempt: what was sent, what came back, and how it was judged."""

    id: int
    campaign_id: str
    attack_id: str
    variant: int
    sample: int
    converters: str
    category: str
    harm_area: str | None
    technique: str
    language: str
    benign: bool
    prompt: str
    reply: str
    outcome: str
    error: str | None
    verdict: Verdict
    failed: bool = Field(
        description="The model failed: a breach of an attack, a refusal of a benign prompt."
    )
    scores: list[dict[str, Any]]
    turns: list[dict[str, Any]]
    latency_s: float


class Rate(BaseModel):
    """A failure rate with its Wilson interval (``None`` when nothing was judged)."""

    value: str
    n: int
    failures: int
    not_judged: int
    rate: float | None
    low: float | None
    high: float | None


class ReportOut(BaseModel):
    """A campaign's numbers: attack success and over-refusal overall and by group."""

    campaign: CampaignOut
    verdicts: dict[str, int]
    attack_success: Rate
    over_refusal: Rate
    by: dict[str, list[Rate]]
    benign_by: dict[str, list[Rate]]
    pass_at_k: dict[str, Any] | None
    examples: list[dict[str, Any]]
    validity: dict[str, Any] | None


class ComparisonOut(BaseModel):
    """Campaign ``after`` against ``before``, attack by attack, with the release gate."""

    before: str
    after: str
    attacks: str
    before_label: str | None
    after_label: str | None
    counts: dict[str, int]
    classes: dict[str, list[str]]
    overall: dict[str, Any]
    categories: dict[str, dict[str, Any]]
    model_config = ConfigDict(extra="allow")


# -- HTML ------------------------------------------------------------------------------------


def _style_hash() -> str:
    body = STYLE.removeprefix("<style>").removesuffix("</style>")
    return base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()


CSP = (
    "default-src 'none'; "
    f"style-src 'sha256-{_style_hash()}'; "
    "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""The pages are self-contained (inline SVG, one style block, no script): nothing else may
load, run or frame them."""
HTML_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _page(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers=HTML_HEADERS)


# -- errors ----------------------------------------------------------------------------------

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body cannot be read (not UTF-8 JSON)"},
    401: {"model": ErrorOut, "description": "No token, or an invalid or revoked one"},
    403: {"model": ErrorOut, "description": "The caller's role may not do this"},
    404: {"model": ErrorOut, "description": "No such campaign or attack set"},
    422: {"model": ErrorOut, "description": "The request does not fit its schema"},
}

router = APIRouter(prefix="/api/v1/redteam", tags=["redteam"], responses=_ERRORS)

_JSON_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
_HTML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "The page"},
    # errors stay JSON on an HTML route (a model would be documented as text/html)
    **{
        code: {"content": _JSON_ERROR, "description": entry["description"]}
        for code, entry in _ERRORS.items()
    },
}

Limit = Annotated[int, Query(ge=1, le=MAX_LIST, description="Most items returned.")]
Confidence = Annotated[
    float,
    Query(gt=0, lt=1, allow_inf_nan=False, description="Confidence level of the intervals."),
]
CampaignRef = Annotated[str, Query(pattern=CAMPAIGN_ID.pattern, max_length=15)]


# -- reads -----------------------------------------------------------------------------------


@router.get("/campaigns", response_model=list[CampaignOut])
def campaigns(
    user: Reader,
    workspace: WorkspaceDep,
    attack_set: Annotated[
        str | None,
        Query(pattern=NAME_PATTERN.pattern, max_length=200, description="Only this set's."),
    ] = None,
    limit: Limit = 100,
) -> list[dict[str, Any]]:
    """Campaigns, newest first."""
    found = _service(workspace, user).list(attack_set=attack_set, limit=limit)
    return [c.to_dict() for c in found]


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
def campaign(user: Reader, campaign_id: CampaignId, workspace: WorkspaceDep) -> dict[str, Any]:
    """One campaign: its configuration, status and attempts per verdict so far."""
    return _service(workspace, user).get(campaign_id).to_dict()


@router.get("/campaigns/{campaign_id}/attempts", response_model=list[AttemptOut])
def attempts(
    user: Reader,
    campaign_id: CampaignId,
    workspace: WorkspaceDep,
    verdict: Annotated[Verdict | None, Query(description="Only attempts so judged.")] = None,
    failures: Annotated[bool, Query(description="Only the model's failures.")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[dict[str, Any]]:
    """Recorded attempts in the order they finished, a page at a time."""
    found = _service(workspace, user).attempts(
        campaign_id, verdict=verdict, failures=failures, limit=limit, offset=offset
    )
    return [a.to_dict() for a in found]


def _report(
    user: User, workspace: Workspace, campaign_id: str, examples: int, confidence: float
) -> dict[str, Any]:
    service = _service(workspace, user)
    return service.report(campaign_id, examples=examples, confidence=confidence).to_dict()


Examples = Annotated[int, Query(ge=0, le=MAX_EXAMPLES, description="Breaches shown.")]


@router.get("/campaigns/{campaign_id}/report", response_model=ReportOut)
def report(
    user: Reader,
    campaign_id: CampaignId,
    workspace: WorkspaceDep,
    examples: Examples = 10,
    confidence: Confidence = 0.95,
) -> dict[str, Any]:
    """Attack success rate (and over-refusal of benign prompts) overall and per category,
    harm area, technique, framing, language and converter chain, with Wilson intervals."""
    return _report(user, workspace, campaign_id, examples, confidence)


@router.get("/campaigns/{campaign_id}/report.html", response_class=HTMLResponse, responses=_HTML)
def report_page(
    user: Reader,
    campaign_id: CampaignId,
    workspace: WorkspaceDep,
    examples: Examples = 10,
    confidence: Confidence = 0.95,
) -> HTMLResponse:
    """The report as a self-contained page (no script; a strict Content-Security-Policy)."""
    return _page(campaign_html(_report(user, workspace, campaign_id, examples, confidence)))


MaxRegression = Annotated[
    float,
    Query(
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="The largest rise of a breach rate the gate lets pass.",
    ),
]


def _compare(
    user: User, workspace: Workspace, before: str, after: str, gate: float, confidence: float
) -> dict[str, Any]:
    service = _service(workspace, user)
    return service.compare(before, after, max_regression=gate, confidence=confidence).to_dict()


@router.get("/compare", response_model=ComparisonOut)
def compare(
    user: Reader,
    workspace: WorkspaceDep,
    before: CampaignRef,
    after: CampaignRef,
    max_regression: MaxRegression = 0.05,
    confidence: Confidence = 0.95,
) -> dict[str, Any]:
    """Campaign ``after`` against ``before`` on the same attack set version: each attack newly
    failing, re-opened, fixed or unchanged, the breach rates with the interval of their change
    overall and per category, and the regression gate."""
    return _compare(user, workspace, before, after, max_regression, confidence)


@router.get("/compare.html", response_class=HTMLResponse, responses=_HTML)
def compare_page(
    user: Reader,
    workspace: WorkspaceDep,
    before: CampaignRef,
    after: CampaignRef,
    max_regression: MaxRegression = 0.05,
    confidence: Confidence = 0.95,
) -> HTMLResponse:
    """The comparison as a self-contained page (the per-category dumbbell chart)."""
    data = _compare(user, workspace, before, after, max_regression, confidence)
    return _page(regression_html(data))


# -- create and run --------------------------------------------------------------------------


@router.post("/campaigns", status_code=status.HTTP_201_CREATED, response_model=CampaignOut)
def create(body: CampaignCreate, user: Runner, workspace: WorkspaceDep) -> dict[str, Any]:
    """Record a campaign without sending anything (run it with ``POST .../run``). Every spec
    is checked first: a bad one is a 422 naming it, and nothing is recorded."""
    specs = {
        "target": [body.target],
        "converters": body.converters,
        "scorers": body.scorers,
        "strategy": [body.strategy],
        "attacker": [body.attacker or ""],
    }
    for field, values in specs.items():
        for spec in values:
            _key_envs(spec, field)
    filters = body.filters.model_dump(exclude_none=True) if body.filters else None
    made = _service(workspace, user).create(
        attacks=body.attacks,
        target=body.target,
        converters=body.converters,
        plain=body.plain,
        scorers=body.scorers,
        strategy=body.strategy,
        attacker=body.attacker,
        samples=body.samples,
        runner=body.runner.params() if body.runner else None,
        seed=body.seed,
        label=body.label,
        filters=filters,
    )
    return made.to_dict()


class _Runs:
    """The campaigns this process is running, each in its own thread (at exit each is told to
    stop, so it ends ``interrupted`` and can be resumed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, tuple[threading.Thread, threading.Event]] = {}
        atexit.register(self.stop_all)

    def start(
        self, service: CampaignService, campaign_id: str, runner: RunnerParams | None
    ) -> tuple[threading.Thread, list[BaseException]]:
        failure: list[BaseException] = []
        stop = threading.Event()

        def run() -> None:
            try:
                service.run(campaign_id, runner=runner, stop=stop)
            except BaseException as exc:  # kept for the request that started it
                failure.append(exc)
            finally:
                with self._lock:
                    self._running.pop(campaign_id, None)

        thread = threading.Thread(target=run, name=f"campaign-{campaign_id}", daemon=True)
        with self._lock:
            held = self._running.get(campaign_id)
            if held is not None and held[0].is_alive():
                raise ValidationError(f"campaign {campaign_id} is already running")
            self._running[campaign_id] = (thread, stop)
        thread.start()
        return thread, failure

    def stop_all(self, timeout: float = 10.0) -> None:
        with self._lock:
            held = list(self._running.values())
        for _, stop in held:
            stop.set()
        for thread, _ in held:
            thread.join(timeout)


_RUNS_LOCK = threading.Lock()
CLAIM_WAIT_S = 10.0
"""How long the run route waits for the run to mark the campaign ``running``."""


def _runs(request: Request) -> _Runs:
    with _RUNS_LOCK:
        runs: _Runs | None = getattr(request.app.state, "redteam_runs", None)
        if runs is None:
            runs = request.app.state.redteam_runs = _Runs()
        return runs


@router.post(
    "/campaigns/{campaign_id}/run",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CampaignOut,
    responses={200: {"model": CampaignOut, "description": "Already completed: nothing to run"}},
)
def run(
    user: Runner,
    campaign_id: CampaignId,
    request: Request,
    workspace: WorkspaceDep,
    body: RunBody | None = None,
) -> Any:
    """Run (or resume) the campaign in the background: 202 with the campaign once it is
    marked ``running``; 200 when it had already completed. Progress: ``GET`` the campaign."""
    service = _service(workspace, user)
    current = service.get(campaign_id)
    if current.status == "completed":
        return JSONResponse(current.to_dict(), status_code=status.HTTP_200_OK)
    runner = body.runner.params(current.runner) if body and body.runner else None
    thread, failure = _runs(request).start(service, campaign_id, runner)
    deadline = time.monotonic() + CLAIM_WAIT_S
    while thread.is_alive() and time.monotonic() < deadline:
        if service.get(campaign_id).status == "running":
            break
        thread.join(0.02)
    if failure and isinstance(failure[0], CurataError) and not thread.is_alive():
        exc = failure[0]
        if service.get(campaign_id).status != "failed":
            raise exc  # refused before it began (already running elsewhere)
    return service.get(campaign_id).to_dict()


__all__ = ["CSP", "router"]
