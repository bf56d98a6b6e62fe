"""Human-in-the-loop versus automation, per question, decided with data.

Each question of a project runs in one :data:`MODES`:

- ``human-only`` (the default): people answer; a model's answers are only measured.
- ``model-suggested``: people answer, and the annotator workspace shows them the model's answer
  as a suggestion (never counted as their label).
- ``model-only``: a release takes the model's answer, except on the human audit sample: a
  deterministic share (``audit_share``) of items, drawn by a hash of project, question and record,
  whose label stays the people's. An item whose every needed question is ``model-only`` is
  served to people only where it is in an audit sample (or the model did not answer it): see
  :mod:`curata.annotation.coverage`.

A model mode is set on evidence (:func:`measure`), measured like any annotator's:

- **gold accuracy**: the model's answers on the live items of gold records against the gold
  answer (what :attr:`~curata.annotation.final.CountedAnnotation.known` scores a person on), with
  a Wilson 95% interval (:func:`curata.stats.proportions.wilson_interval`);
- **agreement with the human majority**: on items where the people who answered (model users
  excepted, their final answers) have one most frequent answer, the share the model matches, with
  its Wilson interval.

The project's thresholds (:data:`DEFAULT_THRESHOLDS`, ``settings["automation"]["thresholds"]``)
compare each interval's *lower* bound, so a few lucky items cannot pass. A model mode whose
evidence falls short is refused unless forced with a reason (audited). Every release measures
the evidence again, stores it, lists each question's mode and evidence, and warns where a model
mode's evidence fell below its threshold (:func:`automate_release`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation.coverage import cover_tasks, in_audit_sample, needed_questions
from curata.annotation.final import ItemLabel, counted_annotations
from curata.annotation.model_annotator import ModelAnnotatorService
from curata.core.errors import NotFoundError, ValidationError
from curata.core.ids import canonical_json
from curata.governance import audit
from curata.stats.proportions import wilson_interval
from curata.store.records import RecordStore
from curata.store.tables import (
    AutomationEvidenceRow,
    ModelAnnotatorRow,
    ModelAnswerRow,
    ProjectRow,
    ProjectSchemaRow,
    QuestionAutomationRow,
    TaskRow,
    UserRow,
    utcnow,
)

if TYPE_CHECKING:
    from curata.annotation.projects import ProjectService

MODES = ("human-only", "model-suggested", "model-only")
DEFAULT_THRESHOLDS: dict[str, float] = {
    "min_n": 20,
    "suggested_accuracy": 0.6,
    "only_accuracy": 0.85,
    "only_agreement": 0.85,
}
"""``min_n``: gold items (and majority items, for ``model-only``) the model must have answered;
``suggested_accuracy``: the lowest gold-accuracy lower bound for ``model-suggested``;
``only_accuracy`` and ``only_agreement``: the lowest gold-accuracy and human-majority-agreement
lower bounds for ``model-only``."""
DEFAULT_AUDIT_SHARE = 0.1


def thresholds_of(settings: dict[str, Any] | None) -> dict[str, float]:
    """A project's automation thresholds, defaults filled in."""
    given = ((settings or {}).get("automation") or {}).get("thresholds") or {}
    return {**DEFAULT_THRESHOLDS, **given}


def _proportion(hits: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(hits, n)
    return {"n": n, "hits": hits, "rate": hits / n if n else None, "low": low, "high": high}


def measure(session: Session, project: ProjectRow, question: str, model_id: int) -> dict[str, Any]:
    """The model's evidence on a question now (see the module docstring)."""
    models = set(session.scalars(select(ModelAnnotatorRow.user_id)))
    answers = session.execute(
        select(TaskRow.id, TaskRow.record_id, ModelAnswerRow.value, ModelAnswerRow.error)
        .join(TaskRow, TaskRow.id == ModelAnswerRow.task_id)
        .where(TaskRow.project_id == project.id, ModelAnswerRow.user_id == model_id,
               ModelAnswerRow.question == question)
    ).all()  # fmt: skip
    gold = _gold(session, project.id, question)
    human: dict[int, Counter[str]] = {}
    for a in counted_annotations(session, project_id=project.id):
        if a.kind == "live" and a.user_id not in models and question in a.answers:
            human.setdefault(a.task_id, Counter())[canonical_json(a.answers[question])] += 1
    gold_n = gold_hits = major_n = major_hits = 0
    for task_id, record_id, value, error in answers:
        if error is not None or value is None:
            continue
        mine = canonical_json(value)
        if record_id in gold:
            gold_n += 1
            gold_hits += mine == canonical_json(gold[record_id])
        votes = human.get(task_id)
        if votes:
            top = votes.most_common(2)
            if len(top) == 1 or top[0][1] > top[1][1]:
                major_n += 1
                major_hits += mine == top[0][0]
    model = session.get(UserRow, model_id)
    failed = sum(1 for a in answers if a.error is not None)
    return {
        "model": model.name if model else str(model_id),
        "answered": len(answers) - failed,
        "failed": failed,
        "gold": _proportion(gold_hits, gold_n),
        "majority": _proportion(major_hits, major_n),
        "measured_at": utcnow().isoformat(),
    }


def shortfalls(mode: str, evidence: dict[str, Any], thresholds: dict[str, float]) -> list[str]:
    """Why ``evidence`` does not support ``mode`` (empty: it does)."""
    if mode == "human-only":
        return []
    out = []
    gold, major = evidence["gold"], evidence["majority"]
    need_n = int(thresholds["min_n"])
    if gold["n"] < need_n:
        out.append(f"gold items answered {gold['n']} < {need_n}")
    key = "suggested_accuracy" if mode == "model-suggested" else "only_accuracy"
    if gold["low"] < thresholds[key]:
        out.append(f"gold accuracy lower bound {gold['low']:.3f} < {thresholds[key]:g} ({key})")
    if mode == "model-only":
        if major["n"] < need_n:
            out.append(f"human-majority items {major['n']} < {need_n}")
        if major["low"] < thresholds["only_agreement"]:
            out.append(f"human-majority agreement lower bound {major['low']:.3f} < "
                       f"{thresholds['only_agreement']:g} (only_agreement)")  # fmt: skip
    return out


@dataclass(frozen=True)
class QuestionMode:
    """A question's automation as ``automation show`` gives it."""

    question: str
    mode: str
    model: str | None
    audit_share: float
    reason: str
    forced: bool
    set_by: str | None
    set_at: str | None
    evidence: dict[str, Any] | None
    """The latest measurement (at the setting or a release since)."""
    shortfalls: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _suggested(
    settings: dict[str, Any], modes: dict[str, tuple[str, int | None]]
) -> dict[str, Any]:
    """Settings with the mirror the queue reads: ``automation.suggest`` maps each
    model-suggested question to its model user's id."""
    automation = dict(settings.get("automation") or {})
    automation["suggest"] = {
        q: model for q, (mode, model) in sorted(modes.items()) if mode == "model-suggested"
    }
    return {**settings, "automation": automation}


class AutomationService:
    """Per-question automation modes, their evidence, and the model annotators (``models``)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: RecordStore,
        projects: ProjectService,
        actor: str,
    ) -> None:
        self._sessions = sessions
        self._projects = projects
        self._actor = actor
        self.models = ModelAnnotatorService(sessions, store, projects, actor)

    def _questions(self, session: Session, project: ProjectRow) -> list[str]:
        schema = session.get(ProjectSchemaRow, (project.id, project.schema_version))
        assert schema is not None
        return [q["name"] for q in schema.schema.get("questions", [])]

    def _model(self, session: Session, project: ProjectRow, question: str, name: str | None) -> int:
        if name is not None:
            found = session.execute(
                select(UserRow.id)
                .join(ModelAnnotatorRow, ModelAnnotatorRow.user_id == UserRow.id)
                .where(UserRow.name == name)
            ).scalar()
            if found is None:
                raise NotFoundError(f"no model annotator {name!r} (see 'curata annotate-model')")
            return int(found)
        used = sorted(set(session.scalars(
            select(ModelAnswerRow.user_id)
            .join(TaskRow, TaskRow.id == ModelAnswerRow.task_id)
            .where(TaskRow.project_id == project.id, ModelAnswerRow.question == question)
        )))  # fmt: skip
        if len(used) != 1:
            what = "no model has" if not used else f"{len(used)} models have"
            raise ValidationError(
                f"{what} answered question {question!r} of project {project.name!r}: "
                "name one with --model"
            )
        return used[0]

    def set_thresholds(self, project_name: str, **values: float | None) -> dict[str, float]:
        """Change a project's automation thresholds (audited); the full set after."""
        given = {k: v for k, v in values.items() if v is not None}
        unknown = sorted(set(given) - set(DEFAULT_THRESHOLDS))
        if unknown:
            raise ValidationError(f"unknown threshold(s): {', '.join(unknown)}")
        for key, value in given.items():
            if key != "min_n" and not 0.0 <= value <= 1.0:
                raise ValidationError(f"{key}: {value} is not between 0 and 1")
            if key == "min_n" and value < 0:
                raise ValidationError(f"min_n: {value} is negative")
        if not given:
            with self._sessions() as session:
                return thresholds_of(self._projects.row(session, project_name).settings)
        with self._sessions.begin() as session:
            project = self._projects.row(session, project_name)
            settings = dict(project.settings or {})
            automation = dict(settings.get("automation") or {})
            before = thresholds_of(settings)
            automation["thresholds"] = {**before, **given}
            project.settings = {**settings, "automation": automation}
            audit.append(session, actor=self._actor, action="automation.thresholds",
                         object_type="project", object_ref=project_name,
                         details={"before": before, "after": automation["thresholds"]})  # fmt: skip
            return dict(automation["thresholds"])

    def set(
        self,
        project_name: str,
        *,
        question: str,
        mode: str,
        model: str | None = None,
        audit_share: float | None = None,
        reason: str = "",
        force: bool = False,
    ) -> QuestionMode:
        """Set how a question is answered. A model mode needs evidence meeting the project's
        thresholds, or ``force`` with a reason; either way the evidence is stored and the
        change audited."""
        if mode not in MODES:
            raise ValidationError(f"mode: {mode!r} is not one of {', '.join(MODES)}")
        share = DEFAULT_AUDIT_SHARE if audit_share is None else audit_share
        if mode == "model-only" and not 0.0 < share <= 1.0:
            raise ValidationError(f"audit-share: {share} is not in (0, 1]")
        if mode != "model-only" and audit_share is not None:
            raise ValidationError("audit-share: only a model-only question has an audit sample")
        if force and not reason.strip():
            raise ValidationError("reason: a forced mode needs a reason (it goes to the audit log)")
        with self._sessions.begin() as session:
            project = self._projects.row(session, project_name)
            if question not in self._questions(session, project):
                raise NotFoundError(f"project {project_name!r} has no question {question!r}")
            model_id = None
            evidence: dict[str, Any] = {}
            missing: list[str] = []
            if mode != "human-only":
                model_id = self._model(session, project, question, model)
                evidence = measure(session, project, question, model_id)
                if not evidence["answered"] + evidence["failed"]:
                    raise ValidationError(
                        f"model {evidence['model']!r} has not answered question {question!r} "
                        f"of {project_name!r}: run 'curata annotate-model' first"
                    )
                missing = shortfalls(mode, evidence, thresholds_of(project.settings))
                if missing and not force:
                    raise ValidationError(
                        f"{mode} refused for question {question!r} of {project_name!r}: the "
                        f"evidence falls short ({'; '.join(missing)}); measure more, or "
                        "--force with --reason"
                    )
                session.add(AutomationEvidenceRow(project_id=project.id, question=question,
                                                  user_id=model_id, occasion="set",
                                                  evidence=evidence))  # fmt: skip
            row = session.get(QuestionAutomationRow, (project.id, question))
            before = None if row is None else {"mode": row.mode, "user_id": row.user_id}
            if row is None:
                row = QuestionAutomationRow(project_id=project.id, question=question)
                session.add(row)
            row.mode, row.user_id = mode, model_id
            row.audit_share = share if mode == "model-only" else 0.0
            row.reason, row.forced, row.evidence = reason, bool(missing), evidence
            row.set_by, row.set_at = self._actor, utcnow()
            session.flush()
            modes = {
                r.question: (r.mode, r.user_id)
                for r in session.scalars(
                    select(QuestionAutomationRow).where(
                        QuestionAutomationRow.project_id == project.id
                    )
                )
            }
            project.settings = _suggested(dict(project.settings or {}), modes)
            schema = self._projects.schema(session, project)
            covered = cover_tasks(
                session, project, needed_questions([(q.name, q.required) for q in schema.questions])
            )
            audit.append(session, actor=self._actor,
                         action="automation.force" if missing else "automation.set",
                         object_type="project", object_ref=project_name,
                         details={"question": question, "mode": mode, "before": before,
                                  "model": evidence.get("model"), "audit_share": row.audit_share,
                                  "reason": reason, "shortfalls": missing,
                                  "evidence": evidence,
                                  "items_held_back": covered})  # fmt: skip
        return self.show(project_name, question=question)[0]

    def show(self, project_name: str, *, question: str | None = None) -> list[QuestionMode]:
        """Every question's mode, model and latest evidence (``human-only`` where never set)."""
        with self._sessions() as session:
            project = self._projects.row(session, project_name)
            thresholds = thresholds_of(project.settings)
            rows = {
                r.question: r
                for r in session.scalars(
                    select(QuestionAutomationRow).where(
                        QuestionAutomationRow.project_id == project.id
                    )
                )
            }
            out = []
            for name in self._questions(session, project):
                if question is not None and name != question:
                    continue
                row = rows.get(name)
                if row is None:
                    out.append(QuestionMode(name, "human-only", None, 0.0, "", False, None,
                                            None, None, []))  # fmt: skip
                    continue
                latest = None
                if row.user_id is not None:
                    latest = session.scalar(
                        select(AutomationEvidenceRow.evidence)
                        .where(AutomationEvidenceRow.project_id == project.id,
                               AutomationEvidenceRow.question == name,
                               AutomationEvidenceRow.user_id == row.user_id)
                        .order_by(AutomationEvidenceRow.id.desc())
                        .limit(1)
                    )  # fmt: skip
                user = session.get(UserRow, row.user_id) if row.user_id else None
                out.append(QuestionMode(
                    name, row.mode, user.name if user else None, row.audit_share, row.reason,
                    row.forced, row.set_by, row.set_at.isoformat() if row.set_at else None,
                    latest, shortfalls(row.mode, latest, thresholds) if latest else [],
                ))  # fmt: skip
            return out


def suggestion(session: Session, settings: dict[str, Any], project_id: int, row: int
               ) -> dict[str, Any] | None:  # fmt: skip
    """The model's answers an annotator is shown on the item stored at ``row``: one per
    ``model-suggested`` question that its model answered (``None``: nothing to show). Reads
    nothing unless the project has a model-suggested question."""
    suggest = ((settings or {}).get("automation") or {}).get("suggest") or {}
    if not suggest:
        return None
    answers: dict[str, Any] = {}
    models: set[str] = set()
    for question, value, model, user_id in session.execute(
        select(ModelAnswerRow.question, ModelAnswerRow.value, UserRow.name, UserRow.id)
        .join(TaskRow, TaskRow.id == ModelAnswerRow.task_id)
        .join(UserRow, UserRow.id == ModelAnswerRow.user_id)
        .where(TaskRow.project_id == project_id, TaskRow.row == row, TaskRow.kind == "live",
               ModelAnswerRow.question.in_(list(suggest)), ModelAnswerRow.value.is_not(None))
    ):  # fmt: skip
        if suggest.get(question) == user_id:
            answers[question] = value
            models.add(model)
    return {"models": sorted(models), "answers": answers} if answers else None


def _gold(session: Session, project_id: int, question: str) -> dict[str, Any]:
    """The known gold answer to ``question`` by record."""
    return {
        record: known[question]
        for record, known in session.execute(
            select(TaskRow.record_id, TaskRow.gold_answers).where(
                TaskRow.project_id == project_id, TaskRow.kind == "gold"
            )
        )
        if known and question in known
    }


def automate_release(
    sessions: sessionmaker[Session], session: Session, project: ProjectRow, items: list[ItemLabel]
) -> list[dict[str, Any]]:
    """At a release: measure each automated question's evidence again and store it (its own
    transaction), put the model's answer in ``items`` for ``model-only`` questions outside the
    audit sample (adding items only the model answered), and return per question its mode,
    evidence, shortfalls and a warning where a model mode's evidence fell below threshold."""
    from curata.annotation.aggregation import soft_key, vote_key

    rows = session.scalars(
        select(QuestionAutomationRow).where(QuestionAutomationRow.project_id == project.id)
    ).all()
    if not rows:
        return []
    thresholds = thresholds_of(project.settings)
    schema = session.get(ProjectSchemaRow, (project.id, project.schema_version))
    assert schema is not None
    types = {q["name"]: q.get("type") for q in schema.schema.get("questions", [])}
    by_task = {item.task_id: item for item in items}
    report: list[dict[str, Any]] = []
    measured: list[AutomationEvidenceRow] = []
    for row in rows:
        entry: dict[str, Any] = {"question": row.question, "mode": row.mode}
        if row.user_id is not None and row.mode != "human-only":
            evidence = measure(session, project, row.question, row.user_id)
            missing = shortfalls(row.mode, evidence, thresholds)
            measured.append(AutomationEvidenceRow(project_id=project.id, question=row.question,
                                                  user_id=row.user_id, occasion="release",
                                                  evidence=evidence))  # fmt: skip
            entry.update(
                model=evidence["model"],
                evidence=evidence,
                shortfalls=missing,
                warning=(
                    f"{row.mode} question {row.question!r}: evidence below "
                    f"threshold ({'; '.join(missing)})"
                )
                if missing
                else None,
            )
        if row.mode == "model-only" and row.user_id is not None:
            entry["audit_share"] = row.audit_share
            used = 0
            gold = _gold(session, project.id, row.question)
            for task_id, record_id, value in session.execute(
                select(TaskRow.id, TaskRow.record_id, ModelAnswerRow.value)
                .join(TaskRow, TaskRow.id == ModelAnswerRow.task_id)
                .where(TaskRow.project_id == project.id, TaskRow.kind == "live",
                       ModelAnswerRow.user_id == row.user_id,
                       ModelAnswerRow.question == row.question,
                       ModelAnswerRow.value.is_not(None))
                .order_by(TaskRow.id)
            ):  # fmt: skip
                if in_audit_sample(project.name, row.question, record_id, row.audit_share):
                    continue
                item = by_task.get(task_id)
                if item is None:
                    item = by_task[task_id] = ItemLabel(task_id, record_id, [], {})
                    items.append(item)
                settled = item.combined.get(row.question) or {}
                if settled.get("adjudicated") or settled.get("gold"):
                    continue  # an adjudication or a known gold answer stays the label
                known = record_id in gold
                label = gold[record_id] if known else value
                key = soft_key(canonical_json(vote_key(types.get(row.question), label)))
                item.combined[row.question] = {
                    "value": label, "confidence": 1.0, "votes": 1, "tied": False,
                    "distribution": {key: 1.0},
                    **({"gold": True} if known else {"model": entry.get("model")}),
                }  # fmt: skip
                used += not known
            entry["model_labels"] = used
        report.append(entry)
    if measured:
        with sessions.begin() as write:
            write.add_all(measured)
    items.sort(key=lambda item: item.task_id)
    return report
