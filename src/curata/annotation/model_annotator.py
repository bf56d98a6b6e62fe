"""Models as annotators: a red-team target (#8) answers a question of an annotation project.

A model annotator is a user whose name the caller gives (``model-<target>`` by default),
created inactive (it can hold no token, so the queue never serves it) and linked to the target
that answers for it (``model_annotators``). :meth:`ModelAnnotatorService.annotate` sends each
live item's record and the question to the target (bounded concurrency, the runner's retries
and timeout) and keeps every reply as a ``model_answers`` row: the parsed answer, or why the
reply is no valid answer (a failure, never an annotation).

An answer is used as a ``suggestion`` (shown to humans on a ``model-suggested`` question, never
counted) or as an ``annotator`` (also written as the model user's annotation, so every
agreement, gold-accuracy and release computation counts it like a person's).

The model is sent the record's content and the question (its name, help, allowed answers):
never an item's gold answers. It answers each record once, on the live item; its gold accuracy
comes from the live items of gold records, as a person's does (see
:attr:`curata.annotation.final.CountedAnnotation.known`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation.coverage import cover_tasks, needed_questions
from curata.annotation.projects import ProjectService
from curata.core.errors import NotFoundError, ValidationError
from curata.core.names import check_name
from curata.governance import audit
from curata.governance.identity import CLEARANCE
from curata.questions import BadAnswer
from curata.redteam.targets import Message, Outcome, RunnerParams, Target, TargetRunner
from curata.redteam.targets import target_from_spec as _target_from_spec
from curata.store.records import RecordStore
from curata.store.tables import (
    AnnotationRow,
    AssignmentRow,
    GuidelineRow,
    ModelAnnotatorRow,
    ModelAnswerRow,
    TaskRow,
    UserRow,
    utcnow,
)

USES = ("suggestion", "annotator")
SUPPORTED = ("label", "rating")
"""Question types a model can answer: a single label, a rating."""
RAW_LIMIT = 2000
"""Characters of a reply kept with its answer."""
SYSTEM = (
    "You are a careful data annotator. Read the item and answer the question with exactly one "
    "of the allowed answers, and nothing else."
)

ProgressFn = Callable[[int, int], None]
"""Called with (items done, items planned) as replies come in."""


@dataclass(frozen=True)
class ModelAnnotation:
    """What one run of a model over a question did."""

    project: str
    question: str
    model: str
    used_as: str
    planned: int
    answered: int
    failed: int
    skipped_clearance: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    """Up to 20 failures: the record, the outcome and why."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def model_user_name(target: Target) -> str:
    """The default user name of a target's model annotator: ``model-<target>[-<model>]``
    with characters a name may not hold replaced by ``-``."""
    described = target.describe()
    parts = [target.name] + ([str(described["model"])] if described.get("model") else [])
    name = "model-" + "-".join(parts)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)[:200]


def item_text(record: dict[str, Any]) -> str:
    """A record's content as the model reads it: the text, or the turns, prompt and responses
    one per line."""
    lines: list[str] = []
    if isinstance(record.get("text"), str):
        lines.append(record["text"])
    for message in record.get("messages") or []:
        if isinstance(message, dict):
            content = message.get("content")
            if isinstance(content, list):
                content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            lines.append(f"{message.get('role', '')}: {content}")
    if isinstance(record.get("prompt"), str):
        lines.append(f"Prompt: {record['prompt']}")
    if isinstance(record.get("response"), str):
        lines.append(f"Response: {record['response']}")
    for i, response in enumerate(record.get("responses") or []):
        if isinstance(response, dict):
            lines.append(f"Response {chr(65 + i)}: {response.get('text', '')}")
    return "\n".join(lines)


def question_prompt(question: Any, record: dict[str, Any]) -> list[Message]:
    """The conversation that asks ``question`` (a label or rating question) about ``record``."""
    title = getattr(question, "title", None) or question.name
    help_text = getattr(question, "help", None) or getattr(question, "description", None) or ""
    if question.type == "label":
        allowed = "Allowed answers: " + ", ".join(question.labels)
        ask = "Answer with one allowed answer, exactly as written."
    else:
        anchors = "; ".join(f"{k} = {v}" for k, v in sorted(question.anchors.items()))
        allowed = f"Allowed answers: an integer from 1 to {question.points}" + (
            f" ({anchors})" if anchors else ""
        )
        ask = "Answer with the integer only."
    body = (
        f"Item:\n<item>\n{item_text(record)}\n</item>\n\nQuestion: {title}\n"
        + (f"{help_text}\n" if help_text else "")
        + f"{allowed}\n{ask}"
    )
    return [Message("system", SYSTEM), Message("user", body)]


def parse_reply(question: Any, text: str) -> Any:
    """The answer a reply gives to ``question``, checked by the question type; a
    :class:`~curata.questions.BadAnswer` when it names no allowed answer or several."""
    reply = text.strip().strip("`*\"'.").strip()
    if question.type == "label":
        by_lower = {label.lower(): label for label in question.labels}
        if reply.lower() in by_lower:
            return question.check(by_lower[reply.lower()], {})
        named = [
            label
            for label in question.labels
            if re.search(rf"(?<![\w-]){re.escape(label)}(?![\w-])", reply, re.IGNORECASE)
        ]
        if len(named) != 1:
            what = "no allowed label" if not named else f"several labels ({', '.join(named)})"
            raise BadAnswer(f"the reply names {what}", ", ".join(question.labels))
        return question.check(named[0], {})
    numbers = {int(n) for n in re.findall(r"(?<![\d.])\d+(?![\d.])", reply)}
    anchors = {v.lower(): k for k, v in question.anchors.items()}
    if not numbers and reply.lower() in anchors:
        numbers = {anchors[reply.lower()]}
    if len(numbers) != 1:
        what = "no integer" if not numbers else "several integers"
        raise BadAnswer(f"the reply holds {what}", f"integers 1..{question.points}")
    return question.check(numbers.pop(), {})


class ModelAnnotatorService:
    """Registers model annotators and runs them over a project's question."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: RecordStore,
        projects: ProjectService,
        actor: str,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._projects = projects
        self._actor = actor

    def _model_user(
        self, session: Session, name: str, target: Target, spec: str, clearance: str
    ) -> UserRow:
        """The model user ``name``, created (inactive, linked to ``target``) on first use; a
        user that is a person, or a model of another target, is an error."""
        check_name(name, "user")
        user = session.scalar(select(UserRow).where(UserRow.name == name))
        config = target.describe()
        if user is None:
            if clearance not in CLEARANCE:
                raise ValidationError(
                    f"clearance: {clearance!r} is not one of {', '.join(CLEARANCE)}"
                )
            user = UserRow(name=name, role="annotator", languages=[], domains=[],
                           clearance=CLEARANCE[clearance], active=False)  # fmt: skip
            session.add(user)
            session.flush()
            session.add(ModelAnnotatorRow(user_id=user.id, target=spec, config=config,
                                          created_by=self._actor))  # fmt: skip
            audit.append(session, actor=self._actor, action="model_annotator.add",
                         object_type="user", object_ref=name,
                         details={"target": spec, "config": config})  # fmt: skip
            return user
        link = session.get(ModelAnnotatorRow, user.id)
        if link is None:
            raise ValidationError(f"user {name!r} is a person, not a model annotator")
        if link.config != config:
            raise ValidationError(
                f"model annotator {name!r} answers with {link.target!r}, not {spec!r}: "
                "give another --user for another model"
            )
        return user

    def annotate(
        self,
        project_name: str,
        *,
        target: Target | str,
        question: str,
        limit: int | None = None,
        used_as: str = "suggestion",
        user: str | None = None,
        clearance: str = "internal",
        runner: RunnerParams | None = None,
        progress: ProgressFn | None = None,
    ) -> ModelAnnotation:
        """Have ``target`` (a target or its spec, ``name:key=value,...``) answer ``question``
        on the project's live items it has not answered yet (at most ``limit``), as the model
        user ``user`` (default :func:`model_user_name`). Items above the model user's
        clearance are skipped. Every reply is stored at the end, in one transaction."""
        if used_as not in USES:
            raise ValidationError(f"as: {used_as!r} is not one of {', '.join(USES)}")
        if limit is not None and limit < 1:
            raise ValidationError(f"limit: {limit} is not a positive number")
        target_obj = _target_from_spec(target) if isinstance(target, str) else target
        spec = target if isinstance(target, str) else target_obj.name
        name = user or model_user_name(target_obj)
        with self._sessions() as session:
            project = self._projects.row(session, project_name)
            schema = self._projects.schema(session, project)
            try:
                q = schema.question(question)
            except KeyError:
                names = ", ".join(x.name for x in schema.questions)
                raise NotFoundError(
                    f"project {project_name!r} has no question {question!r} (it has: {names})"
                ) from None
            if q.type not in SUPPORTED or getattr(q, "multiple", False):
                raise ValidationError(
                    f"question {question!r} is a {q.type} question: a model answers "
                    f"{' and '.join(SUPPORTED)} questions (one label)"
                )
            existing = session.scalar(select(UserRow).where(UserRow.name == name))
            level = existing.clearance if existing is not None else CLEARANCE.get(clearance, 0)
            done = select(ModelAnswerRow.task_id).where(
                ModelAnswerRow.question == question,
                ModelAnswerRow.value.is_not(None),
                ModelAnswerRow.user_id == (existing.id if existing is not None else -1),
            )
            base = select(TaskRow.id, TaskRow.record_id, TaskRow.row, TaskRow.clearance).where(
                TaskRow.project_id == project.id, TaskRow.kind == "live", TaskRow.id.not_in(done)
            )
            rows = session.execute(base.order_by(TaskRow.id)).all()
            skipped = sum(1 for r in rows if r.clearance > level)
            todo = [r for r in rows if r.clearance <= level][:limit]
        records = self._store.take_records([r.row for r in todo]) if todo else []
        prompts = [question_prompt(q, {"kind": rec.kind, **rec.content()}) for rec in records]
        results = asyncio.run(self._run(target_obj, prompts, runner, progress))
        answers: list[tuple[Any, Any, str, str | None]] = []  # task row, value, raw, error
        for task, result in zip(todo, results, strict=True):
            raw = result.text[:RAW_LIMIT]
            if result.outcome is not Outcome.OK:
                answers.append((task, None, raw, f"{result.outcome.value}: {result.error or ''}"))
                continue
            try:
                answers.append((task, parse_reply(q, result.text), raw, None))
            except BadAnswer as exc:
                answers.append((task, None, raw, f"unparsed: {exc}"))
        with self._sessions.begin() as session:
            project = self._projects.row(session, project_name)
            model = self._model_user(session, name, target_obj, spec, clearance)
            guideline = session.scalar(
                select(func.max(GuidelineRow.version)).where(GuidelineRow.project_id == project.id)
            )
            for task, value, raw, error in answers:
                annotation_id = None
                if value is not None and used_as == "annotator":
                    annotation_id = self._write_annotation(
                        session, task.id, model.id, question, value,
                        project.schema_version, guideline,
                    )  # fmt: skip
                row = session.scalar(select(ModelAnswerRow).where(
                    ModelAnswerRow.task_id == task.id, ModelAnswerRow.user_id == model.id,
                    ModelAnswerRow.question == question))  # fmt: skip
                if row is None:
                    row = ModelAnswerRow(task_id=task.id, user_id=model.id, question=question)
                    session.add(row)
                row.value, row.raw, row.error = value, raw, error
                row.used_as, row.annotation_id, row.created_at = used_as, annotation_id, utcnow()
            failures = [
                {"record": task.record_id, "error": error, "reply": raw[:200]}
                for task, value, raw, error in answers
                if error is not None
            ]
            outcome = ModelAnnotation(
                project=project_name, question=question, model=name, used_as=used_as,
                planned=len(todo), answered=len(answers) - len(failures), failed=len(failures),
                skipped_clearance=skipped, failures=failures[:20],
            )  # fmt: skip
            # an item this answer completes under model-only is held back from people now
            current = self._projects.schema(session, project).questions
            cover_tasks(session, project, needed_questions([(x.name, x.required) for x in current]))
            audit.append(session, actor=self._actor, action="model_annotator.annotate",
                         object_type="project", object_ref=project_name,
                         details={k: v for k, v in outcome.to_dict().items()
                                  if k != "failures"})  # fmt: skip
        return outcome

    @staticmethod
    async def _run(
        target: Target,
        prompts: list[list[Message]],
        params: RunnerParams | None,
        progress: ProgressFn | None,
    ) -> list[Any]:
        results: list[Any] = [None] * len(prompts)
        async with TargetRunner(target, params or RunnerParams(concurrency=4)) as runner:
            finished = 0
            async for i, result in runner.stream(prompts):
                results[i] = result
                finished += 1
                if progress is not None:
                    progress(finished, len(prompts))
        return results

    @staticmethod
    def _write_annotation(
        session: Session,
        task_id: int,
        user_id: int,
        question: str,
        value: Any,
        schema_version: int,
        guideline: int | None,
    ) -> int:
        """The model's answer as its annotation of the item: a submitted assignment and a new
        revision holding its answers so far (one assignment per item and annotator)."""
        now = utcnow()
        assignment = session.scalar(select(AssignmentRow).where(
            AssignmentRow.task_id == task_id, AssignmentRow.user_id == user_id))  # fmt: skip
        previous: dict[str, Any] = {}
        revision = 1
        if assignment is None:
            assignment = AssignmentRow(task_id=task_id, user_id=user_id, status="submitted",
                                       leased_at=now, expires_at=now + timedelta(seconds=0),
                                       submitted_at=now)  # fmt: skip
            session.add(assignment)
            session.flush()
        else:
            latest = session.scalar(
                select(AnnotationRow)
                .where(AnnotationRow.assignment_id == assignment.id)
                .order_by(AnnotationRow.revision.desc())
                .limit(1)
            )
            if latest is not None:
                previous, revision = dict(latest.answers), latest.revision + 1
        row = AnnotationRow(assignment_id=assignment.id, task_id=task_id, user_id=user_id,
                            answers={**previous, question: value}, schema_version=schema_version,
                            guideline_version=guideline, submitted_at=now, revision=revision,
                            status="submitted", review="not_needed")  # fmt: skip
        session.add(row)
        session.flush()
        return row.id
