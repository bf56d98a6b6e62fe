"""The quality service: reads a project's annotations and hands them to the quality statistics.

What it computes lives in modules that take values: the report (:mod:`curata.quality.report`),
drift (:mod:`curata.quality.drift`), label noise (:mod:`curata.quality.noise`), gate numbers
(:mod:`curata.quality.gates`) and the simulated annotators' answer model
(:mod:`curata.quality.simulate`). This service owns the reading and writing around them, with
the dependencies it is built with.
"""

from __future__ import annotations

import os
import random
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation.gold import ItemError
from curata.annotation.projects import ProjectService
from curata.annotation.queue import QueueService
from curata.annotation.review import ReviewService
from curata.annotation.workforce import WorkforceService
from curata.core.errors import AlreadyExistsError, ValidationError
from curata.governance import audit
from curata.quality.drift import check_options as check_drift_options
from curata.quality.drift import drift_report
from curata.quality.gates import measure
from curata.quality.noise import (
    AUDIT_IDS,
    DEFAULT_THRESHOLD,
    ProgressFn,
    read_noise_input,
    scan,
)
from curata.quality.report import (
    Consensus,
    ProjectAnnotations,
    Thresholds,
    check_grouping,
    quality_report,
    read_annotations,
    release_consensus,
)
from curata.quality.simulate import (
    ROLES,
    Simulation,
    answer,
    check_plan,
    record_ids,
    record_key,
    simulated_question,
)
from curata.store.db import write_transaction
from curata.store.records import RecordStore
from curata.store.tables import TaskRow
from curata.versioning.service import DatasetService


class QualityService:
    """Quality reports, drift alerts, label-noise scans, release-gate numbers and simulated
    annotators over a workspace's projects (see ``docs/quality.md``)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: RecordStore,
        *,
        projects: ProjectService,
        reviews: ReviewService,
        datasets: DatasetService,
        workforce: WorkforceService,
        queue: QueueService,
        actor: str,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._projects = projects
        self._reviews = reviews
        self._datasets = datasets
        self._workforce = workforce
        self._queue = queue
        self._actor = actor

    def annotations(self, project: str) -> ProjectAnnotations:
        """The project's annotations as the report and the gates read them (one transaction)."""
        with self._sessions() as session:
            return read_annotations(session, project)

    def _with_consensus(self, project: str, method: str) -> tuple[ProjectAnnotations, Consensus]:
        """The project's annotations and the released consensus, read in one transaction."""
        with self._sessions() as session:
            data = read_annotations(session, project)
            return data, release_consensus(session, project, method=method)

    def texts(self, task_ids: list[int], field_name: str) -> dict[int, str]:
        """The text of each task's record in ``field_name`` (what span agreement reads)."""
        with self._sessions() as session:
            pairs = session.execute(
                select(TaskRow.id, TaskRow.row).where(TaskRow.id.in_(task_ids))
            ).all()
        records = self._store.take_records([row for _, row in pairs])
        return {
            task_id: str(record.content().get(field_name) or "")
            for (task_id, _), record in zip(pairs, records, strict=True)
        }

    def report(
        self,
        project: str,
        *,
        by: str = "annotator",
        confidence: float = 0.95,
        thresholds: Thresholds | None = None,
        samples: int = 200,
        method: str = "dawid-skene",
    ) -> dict[str, Any]:
        """The project's quality report (:func:`curata.quality.report.quality_report`), people
        compared with the labels a release by ``method`` gives, span agreement on the records'
        texts."""
        check_grouping(by)
        data, consensus = self._with_consensus(project, method)
        return quality_report(
            data,
            consensus,
            by=by,
            confidence=confidence,
            thresholds=thresholds,
            samples=samples,
            texts=self.texts,
            method=method,
        )

    def drift(
        self,
        project: str,
        *,
        by: str = "both",
        question: str | None = None,
        probability: float = 0.95,
        min_drop: float = 0.15,
        min_segment: int = 5,
        bins: int = 12,
        method: str = "dawid-skene",
    ) -> dict[str, Any]:
        """The project's drift alerts and agreement series
        (:func:`curata.quality.drift.drift_report`)."""
        check_drift_options(by=by, probability=probability, min_drop=min_drop, bins=bins)
        data, consensus = self._with_consensus(project, method)
        return drift_report(
            data,
            consensus,
            by=by,
            question=question,
            probability=probability,
            min_drop=min_drop,
            min_segment=min_segment,
            bins=bins,
            method=method,
        )

    def overview(
        self, project: str, *, by: tuple[str, ...], samples: int = 200,
        method: str = "dawid-skene",
    ) -> tuple[ProjectAnnotations, dict[str, dict[str, Any]], dict[str, Any]]:
        """What a dashboard shows, from one read of the annotations and one consensus: the
        annotations, the quality report by each grouping in ``by``, and the drift report by
        cohort and vendor (each the same as :meth:`report` and :meth:`drift` with defaults)."""
        for grouping in by:
            check_grouping(grouping)
        data, consensus = self._with_consensus(project, method)
        reports = {
            grouping: quality_report(data, consensus, by=grouping, samples=samples,
                                     texts=self.texts, method=method)
            for grouping in by
        }  # fmt: skip
        return data, reports, drift_report(data, consensus, by="both", method=method)

    def gate_metrics(self, project: str, questions: set[str]) -> dict[str, Any]:
        """The numbers the project's release gates compare against
        (:func:`curata.quality.gates.measure`); what the release service is handed."""
        return measure(self.annotations(project), questions)

    def label_noise(
        self,
        project: str,
        *,
        question: str | None = None,
        predictions: str | os.PathLike[str] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        send_to_review: bool = False,
        progress: ProgressFn | None = None,
    ) -> dict[str, Any]:
        """Suspected label errors of a project, ranked (lowest consensus quality first).

        An item is a suspect when its CROWDLAB consensus quality falls below ``threshold`` or,
        with ``predictions``, when confident learning flags its majority label. Items an
        adjudicator settled are left out. With ``send_to_review`` the suspects' current
        annotations whose review is ``not_needed`` become ``pending`` (served by
        ``next_review``) in one transaction with one ``quality.noise_flagged`` audit event;
        annotations already pending or reviewed are left as they are, so a rerun changes
        nothing and writes no event.
        """
        if not 0.0 <= threshold <= 1.0:
            raise ValidationError("threshold: must be in [0, 1]")
        say = progress or (lambda _message: None)
        say("reading annotations")
        with self._sessions() as session:
            row = self._projects.row(session, project)
            schema = self._projects.schema_json(session, row.id, row.schema_version)
            data = read_noise_input(session, row.id, schema, question)
        summaries, suspects = scan(
            data,
            predictions=predictions,
            threshold=threshold,
            take_records=self._store.take_records,
            say=say,
        )
        review = (
            self._send_to_review(project, suspects, summaries, threshold)
            if send_to_review
            else None
        )
        return {
            "project": project,
            "threshold": threshold,
            "predictions": None if predictions is None else str(predictions),
            "questions": summaries,
            "suspects": suspects,
            "review": review,
        }

    def _send_to_review(
        self,
        project: str,
        suspects: list[dict[str, Any]],
        summaries: list[dict[str, Any]],
        threshold: float,
    ) -> dict[str, Any]:
        """Mark the suspects' current annotations for review (one transaction, one audit
        event)."""
        with write_transaction(self._sessions) as session:
            sent = self._reviews.send_to_review(session, (s["task_id"] for s in suspects))
            counts = sent.counts()
            flagged_tasks = sent.tasks
            if counts["flagged"]:
                flagged = sorted(
                    {s["record_id"] for s in suspects if s["task_id"] in flagged_tasks}
                )
                audit.append(
                    session,
                    actor=self._actor,
                    action="quality.noise_flagged",
                    object_type="project",
                    object_ref=project,
                    details={
                        **counts,
                        "threshold": threshold,
                        "questions": {s["question"]: s["model"] for s in summaries},
                        "records": len(flagged),
                        "record_ids": flagged[:AUDIT_IDS],
                    },
                )
        return counts

    def simulate(
        self,
        project: str,
        counts: dict[str, int],
        *,
        seed: int = 0,
        gold_fraction: float = 0.05,
        seconds_per_label: int = 30,
        prefix: str = "sim",
        drift_after: float = 0.5,
    ) -> Simulation:
        """Plant annotators (``counts``: role → how many) on ``project`` and let them label it
        through the queue (see :mod:`curata.quality.simulate`)."""
        check_plan(counts, drift_after=drift_after)
        info = self._projects.get(project)
        asked = simulated_question(project, info.schema["questions"])
        question, choices = asked.name, asked.classes() or []
        if gold_fraction > 0 and info.gold_share == 0:
            raise ValidationError(
                f"project {project!r} serves no gold items (gold share 0), so simulated gold "
                "would never be answered: create it with --gold-share, or simulate with "
                "--gold-fraction 0"
            )
        rng = random.Random(seed)
        records = [rid for batch in self._datasets.iter_records(info.version) for rid, _ in batch]
        truth = {rid: rng.choice(choices) for rid in records}
        gold = records[: max(1, int(len(records) * gold_fraction))] if gold_fraction > 0 else []
        if gold:
            try:
                self._projects.gold.add_items(
                    project, [(rid, {question: truth[rid]}) for rid in gold]
                )
            except ItemError as exc:
                if not isinstance(exc.problem, AlreadyExistsError):
                    raise
                raise ValidationError(
                    f"project {project!r} already has gold items (an earlier simulation?): "
                    "simulate on a fresh project, or with --gold-fraction 0"
                ) from None
        roles: dict[str, str] = {}
        for role in ROLES:
            for i in range(counts.get(role, 0)):
                name = f"{prefix}-{seed}-{role}-{i + 1}"
                self._workforce.add_user(name, cohorts=[f"{prefix}-{seed}"])
                roles[name] = role
        self._projects.members.add(project, list(roles))
        sim = Simulation(project, question, roles, truth, gold_items=len(gold))
        clock = sim.started
        self._queue.reseed(seed)
        expected = (len(records) - len(gold)) * min(info.overlap, len(roles)) * seconds_per_label
        sim.drift_at = clock + timedelta(seconds=expected * drift_after)
        active = list(roles)
        text_to_id = record_ids(self._datasets.iter_records(info.version))
        while active:
            rng.shuffle(active)
            for name in list(active):
                view = self._queue.next_task(project, name, now=clock)
                if view is None:
                    active.remove(name)
                    continue
                rid = text_to_id[record_key(view.record)]
                role = roles[name]
                if role == "drifter":
                    role = "good" if clock < sim.drift_at else "careless"
                said = answer(role, truth[rid], asked, rng)
                clock += timedelta(seconds=seconds_per_label)
                self._queue.submit(view.assignment_id, name, {question: said}, now=clock)
                sim.labels += 1
        return sim
