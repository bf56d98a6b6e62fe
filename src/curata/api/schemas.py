"""Request and response schemas of the API, split by role.

Responses: what a role must not see is not a field of what it receives. An annotator's (or any
vendor user's) view of a project has no gold count, gold share or review policy — nothing from
which a gold item can be told apart; in-house leads and admins get :class:`ProjectForLead`.
The two carry ``view`` as a discriminator, so OpenAPI states which is which.

Requests: text is valid Unicode (no lone surrogate, which JSON can carry but no encoder can
write, and no NUL, which PostgreSQL text refuses), numbers are finite and bounded, and every
closed set of values (review decisions, export formats) is declared, so the OpenAPI document is
the whole contract.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo

from curata.annotation.queue import MAX_SKIP_NOTE, SKIP_REASONS
from curata.annotation.review import DECISIONS
from curata.annotation.transfer import FORMATS
from curata.governance.identity import CLEARANCE, ROLES

CLEARANCES = tuple(CLEARANCE)
MAX_DURATION_MS = 7 * 24 * 3600 * 1000
"""The longest time an annotator may report on one item: a week, in milliseconds."""
MAX_TEXT = 100_000
"""The longest free text a request may carry in one field (a reason, a note)."""


def text_problem(value: str) -> str | None:
    """Why ``value`` is not valid text to store, or ``None``."""
    for char in value:
        point = ord(char)
        if 0xD800 <= point <= 0xDFFF:
            return f"contains a lone surrogate (U+{point:04X}), which is not valid Unicode"
        if point == 0:
            return "contains a NUL character (U+0000)"
    return None


def value_problems(value: Any, path: str) -> list[str]:
    """Every string (keys too) that is not valid text and every number that is not finite
    inside a JSON value, each as ``path: why``."""
    if isinstance(value, str):
        problem = text_problem(value)
        return [f"{path}: {problem}"] if problem else []
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{path}: {value} is not a finite number"]
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            key_problem = text_problem(str(key))
            if key_problem:
                out.append(f"{path}: a key {key_problem}")
                continue
            out.extend(value_problems(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(value_problems(item, f"{path}[{index}]"))
    return out


def _valid(value: Any, info: ValidationInfo) -> Any:
    problems = value_problems(value, info.field_name or "value")
    if problems:
        raise ValueError("; ".join(problems))
    return value


Text = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_valid)]
"""Free text: valid Unicode, bounded."""
Answers = Annotated[
    dict[str, Any],
    AfterValidator(_valid),
    Field(description="Question name → answer, as the project's schema says."),
]
"""An answer set: valid text and finite numbers all the way down (the schema checks the rest)."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmitBody(_Request):
    """An annotator's answers for one assignment."""

    answers: Answers
    duration_ms: int | None = Field(
        default=None, ge=0, le=MAX_DURATION_MS, description="Time spent on the item (ms)."
    )


class RecalibrateBody(_Request):
    """Why an annotator takes calibration again (goes to the audit log)."""

    reason: Text = ""


class ReviewBody(_Request):
    """A reviewer's decision on one annotation."""

    decision: Literal[DECISIONS] = Field(  # type: ignore[valid-type]
        description="accept; fix (with the corrected answers); reject (with a reason)"
    )
    reason: Text = ""
    answers: Answers | None = None


class AdjudicateBody(_Request):
    """An adjudicator's final answers for an item."""

    answers: Answers
    reason: Text = ""


ExportFormat = Literal[FORMATS]  # type: ignore[valid-type]


# -- responses -------------------------------------------------------------------------------


class ErrorOut(BaseModel):
    """Every 4xx: one message, or (for a malformed request) one entry per problem."""

    detail: str | list[Issue]


class Issue(BaseModel):
    """One problem in a request: where (``["body", "answers"]``) and why."""

    loc: list[str | int]
    msg: str
    type: str


ErrorOut.model_rebuild()


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class UserOut(BaseModel):
    """Who a token belongs to."""

    name: str
    role: Literal[ROLES]  # type: ignore[valid-type]
    vendor: str | None
    languages: list[str]
    domains: list[str]
    clearance: Literal[CLEARANCES]  # type: ignore[valid-type]
    cohorts: list[str]


class _ProjectBase(BaseModel):
    name: str
    version: str = Field(description="The dataset version the project labels (NAME@N).")
    question_schema: dict[str, Any] = Field(alias="schema")
    schema_version: int
    guideline_version: int | None
    overlap: int
    lease_seconds: int
    owner: str | None
    tasks: int = Field(description="Items to label.")
    complete: int = Field(description="Items labelled by as many annotators as overlap asks.")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ProjectForAnnotator(_ProjectBase):
    """A project as annotators, SMEs, reviewers, viewers and vendor users see it."""

    view: Literal["annotator"] = "annotator"


class ProjectForLead(_ProjectBase):
    """A project as in-house leads and admins see it: with gold, review policy and members."""

    view: Literal["lead"] = "lead"
    gold_share: float
    gold_tasks: int
    annotations: int
    review: dict[str, Any]
    members: list[str]


ProjectOut = Annotated[ProjectForLead | ProjectForAnnotator, Field(discriminator="view")]


class Guideline(BaseModel):
    version: int
    body: str
    note: str


class ReturnedOut(BaseModel):
    """A rejected annotation come back to its annotator: fix the answers and submit again."""

    reason: str = Field(description="The reviewer's reason for the rejection")
    answers: dict[str, Any] = Field(
        description="The rejected answers, as the annotator gave them (candidates by the "
        "letters shown)"
    )
    rejected_at: str


class TaskOut(BaseModel):
    """An item leased to the caller: the same shape for live and gold items."""

    assignment_id: int
    project: str
    record: dict[str, Any]
    question_schema: dict[str, Any] = Field(alias="schema")
    schema_version: int
    guideline_version: int | None
    expires_at: str
    returned: ReturnedOut | None = Field(
        default=None,
        description="Set when the item is the caller's own annotation that a reviewer "
        "rejected: the reason and the rejected answers (null otherwise)",
    )
    suggestion: dict[str, Any] | None = Field(
        default=None,
        description="On a model-suggested question: the model's answers ({models, answers}), "
        "shown to the annotator and never counted as theirs (null otherwise)",
    )

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class QuestionFeedbackOut(BaseModel):
    question: str
    answer: Any = Field(description="The annotator's answer (candidates by the letters shown)")
    expected: Any = Field(description="The calibration item's known answer")
    correct: bool


class CalibrationFeedbackOut(BaseModel):
    """Feedback on a calibration item (never on a live or hidden gold item)."""

    assignment_id: int
    correct: bool
    questions: list[QuestionFeedbackOut]
    answered: int
    needed: int
    right: int
    score: float
    low: float = Field(description="95% Wilson interval of the score, lower bound")
    high: float = Field(description="95% Wilson interval of the score, upper bound")
    threshold: float
    rule: str
    state: Literal["pending", "passed", "failed"]
    remaining: int
    retraining: str


class SubmissionOut(BaseModel):
    annotation_id: int
    assignment_id: int
    answers: dict[str, Any]
    schema_version: int
    guideline_version: int | None
    submitted_at: str
    calibration: CalibrationFeedbackOut | None = Field(
        default=None, description="Feedback when the item was a calibration item, else null"
    )


class SkipBody(_Request):
    """Why an annotator gives an item back (goes to the audit log)."""

    reason: Literal[SKIP_REASONS] = Field(  # type: ignore[valid-type]
        description="unreadable, not_my_language, offensive or other (other needs a note)"
    )
    note: Annotated[str, Field(max_length=MAX_SKIP_NOTE), AfterValidator(_valid)] = ""


class SkippedOut(BaseModel):
    assignment_id: int
    project: str
    reason: str
    note: str
    skipped_at: str


class Recalibrated(BaseModel):
    project: str
    user: str
    superseded: int


class ReviewedAnnotation(BaseModel):
    annotation_id: int
    annotator: str
    answers: dict[str, Any]
    revision: int
    status: str
    review: str
    guideline_version: int | None
    submitted_at: str


class ReviewItemOut(BaseModel):
    """An item waiting for review: its record and every current annotation, side by side."""

    task_id: int
    project: str
    record: dict[str, Any]
    annotations: list[ReviewedAnnotation]
    agreement: float
    notes: list[str] = []


class ReviewDecision(BaseModel):
    annotation_id: int
    decision: Literal[DECISIONS]  # type: ignore[valid-type]
    status: str


class Adjudication(BaseModel):
    task_id: int
    answers: dict[str, Any]


class HistoryEntry(BaseModel):
    tier: Literal["review", "adjudicate"]
    decision: str
    by: str
    annotation_id: int | None
    reason: str
    answers: dict[str, Any] | None
    at: str
