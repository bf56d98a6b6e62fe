"""Training runs and evaluation runs (#16): which dataset versions trained a checkpoint, and
the per-example results of its evaluations, from files or from a red-team campaign.

Each method is one transaction: a results file is read and checked whole before anything is
written, so a bad line leaves nothing stored.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from curata.core.errors import AlreadyExistsError, InputError, NotFoundError, ValidationError
from curata.core.ids import canonical_json
from curata.export.records import checkpoint_exports, export_versions
from curata.governance import audit
from curata.loop.evals import CategoryRate, EvalExample, detect_format, read_results, summarize
from curata.store.tables import (
    CheckpointExportRow,
    CheckpointRow,
    CheckpointVersionRow,
    DatasetRow,
    EvalResultRow,
    EvalRunRow,
    VersionRow,
)
from curata.timeutil import as_utc

if TYPE_CHECKING:
    from curata.redteam.campaigns import CampaignService
    from curata.versioning.service import DatasetService

ProgressFn = Callable[[int, int, str], None]
"""Called with (examples done, examples total, stage) while an ingest stores its results."""

BATCH = 1000


def parse_checkpoint(name: str) -> tuple[str, str]:
    """Split ``MODEL:CHECKPOINT`` (the checkpoint may itself hold ':'; neither part is empty)."""
    model, sep, checkpoint = name.partition(":")
    if not sep or not model.strip() or not checkpoint.strip():
        raise ValidationError(f"{name!r}: expected MODEL:CHECKPOINT (e.g. llama-8b:step-2000)")
    return model.strip(), checkpoint.strip()


@dataclass(frozen=True)
class Checkpoint:
    """A registered checkpoint: the versions that trained it and its training parameters."""

    model: str
    checkpoint: str
    versions: list[str]
    params: dict[str, Any]
    registered_at: datetime
    registered_by: str
    eval_runs: int
    exports: list[dict[str, Any]] = field(default_factory=list)
    """The exports whose files trained it: id, version, format, output path and each file's
    name, size and SHA-256 (see :mod:`curata.export.records`)."""

    @property
    def name(self) -> str:
        return f"{self.model}:{self.checkpoint}"

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["registered_at"] = self.registered_at.isoformat()
        return {"name": self.name, **data}


@dataclass(frozen=True)
class EvalRun:
    """One evaluation of a checkpoint and where its results came from."""

    id: int
    checkpoint: str
    source_kind: str
    source: str
    source_sha256: str | None
    created_at: datetime
    created_by: str
    counts: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["created_at"] = self.created_at.isoformat()
        return data


@dataclass(frozen=True)
class EvalSummary:
    """An evaluation run with its pass rate per category (and overall, as ``all``)."""

    run: EvalRun
    categories: list[CategoryRate]

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run.to_dict(), "categories": [c.to_dict() for c in self.categories]}


class EvaluationService:
    """Registers training runs (checkpoint <- versions) and ingests their evaluations."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        datasets: DatasetService,
        campaigns: CampaignService,
        actor: str,
    ) -> None:
        self._sessions = sessions
        self._datasets = datasets
        self._campaigns = campaigns
        self._actor = actor
        self.after_run: Callable[[int], object] | None = None
        """Called with each new evaluation run's id once it is stored; the workspace tells the
        RACI's Informed parties of regressions (:mod:`curata.stewardship.notify`)."""

    # -- training runs ---------------------------------------------------------------------------

    def register(
        self,
        model: str,
        checkpoint: str,
        versions: builtins.list[str],
        params: dict[str, Any] | None = None,
        *,
        by: str | None = None,
        exports: Sequence[int] = (),
    ) -> Checkpoint:
        """Record that ``versions`` (``NAME@N``) trained ``model:checkpoint``. Registering it
        again with the same versions and parameters changes nothing; with others, it fails.

        ``exports`` are recorded exports (ids) whose files it was trained on; their versions
        join ``versions`` (which may then be empty)."""
        name = f"{model}:{checkpoint}"
        parse_checkpoint(name)
        if not versions and not exports:
            raise ValidationError(f"{name}: name at least one dataset version it was trained on")
        params = dict(params or {})
        version_ids = {self._version_id(ref) for ref in versions}
        export_ids = set(exports)
        with self._sessions.begin() as session:
            version_ids |= export_versions(session, export_ids)
            row = self._find(session, model, checkpoint)
            if row is not None:
                had_exports = set(
                    session.scalars(
                        select(CheckpointExportRow.export_id).where(
                            CheckpointExportRow.checkpoint_id == row.id
                        )
                    )
                )
                had = set(
                    session.scalars(
                        select(CheckpointVersionRow.version_id).where(
                            CheckpointVersionRow.checkpoint_id == row.id
                        )
                    )
                )
                same_params = canonical_json(row.params) == canonical_json(params)
                if had == version_ids and had_exports == export_ids and same_params:
                    return self._view(session, row)
                differs = (
                    "versions" if had != version_ids else "params" if not same_params else "exports"
                )
                raise AlreadyExistsError(
                    f"{name} is already registered with other {differs} "
                    f"(see 'curata train show {name}')"
                )
            row = CheckpointRow(
                model=model, checkpoint=checkpoint, params=params, registered_by=by or self._actor
            )
            session.add(row)
            session.flush()
            for version_id in sorted(version_ids):
                session.add(CheckpointVersionRow(checkpoint_id=row.id, version_id=version_id))
            for export_id in sorted(export_ids):
                session.add(CheckpointExportRow(checkpoint_id=row.id, export_id=export_id))
            session.flush()
            view = self._view(session, row)
            audit.append(
                session,
                actor=self._actor,
                action="train.register",
                object_type="checkpoint",
                object_ref=name,
                details={
                    "versions": view.versions,
                    "params": params,
                    **({"exports": sorted(export_ids)} if export_ids else {}),
                },
            )
            return view

    def checkpoints(self) -> builtins.list[Checkpoint]:
        """Every registered checkpoint, newest first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(CheckpointRow).order_by(
                    CheckpointRow.registered_at.desc(), CheckpointRow.id.desc()
                )
            )
            return [self._view(session, r) for r in rows]

    def checkpoint(self, name: str) -> Checkpoint:
        """One registered checkpoint by ``MODEL:CHECKPOINT``."""
        with self._sessions() as session:
            return self._view(session, self._checkpoint_row(session, name))

    # -- evaluation runs -------------------------------------------------------------------------

    def ingest(
        self,
        model_ckpt: str,
        path: str | Path,
        format: str = "auto",
        *,
        progress: ProgressFn | None = None,
    ) -> EvalSummary:
        """Store a results file (JSONL, CSV or an lm-eval sample log) as an evaluation run of a
        registered checkpoint; the whole file or nothing."""
        file = Path(path)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", path=str(file)) from None
        examples = read_results(data, file.name, format=format)
        if not examples:
            raise InputError("no results in the file", path=file.name)
        kind = format if format != "auto" else detect_format(file.name)
        return self._ran(
            self._store(
                model_ckpt, kind, file.name, hashlib.sha256(data).hexdigest(), examples, progress
            )
        )

    def ingest_campaign(
        self, model_ckpt: str, campaign_id: str, *, progress: ProgressFn | None = None
    ) -> EvalSummary:
        """Store a red-team campaign's attempts as an evaluation run: each attempt an example,
        its attack category the category; it passed unless the model failed (a breach of an
        attack, a refusal of a benign prompt); unjudged attempts (error, empty) have no verdict."""
        campaign = self._campaigns.get(campaign_id)
        examples = []
        for a in self._campaigns.iter_attempts(campaign.id):
            judged = a.verdict in ("breach", "refused", "safe")
            examples.append(
                EvalExample(
                    example_id=f"{a.attack_id}/{a.variant}/{a.sample}",
                    input=a.prompt,
                    output=a.reply,
                    score=None,
                    passed=(not a.failed) if judged else None,
                    category=a.category,
                    metadata={
                        "verdict": a.verdict,
                        "benign": a.benign,
                        "converters": a.converters,
                        "technique": a.technique,
                        "language": a.language,
                        "harm_area": a.harm_area,
                    },
                )
            )
        if not examples:
            raise ValidationError(f"campaign {campaign.id} has no attempts yet")
        return self._ran(self._store(model_ckpt, "redteam", campaign.id, None, examples, progress))

    def _ran(self, summary: EvalSummary) -> EvalSummary:
        if self.after_run is not None:
            self.after_run(summary.run.id)
        return summary

    def runs(self, *, model_ckpt: str | None = None) -> builtins.list[EvalRun]:
        """Evaluation runs, newest first (of one checkpoint when named)."""
        with self._sessions() as session:
            query = select(EvalRunRow).order_by(EvalRunRow.id.desc())
            if model_ckpt is not None:
                row = self._checkpoint_row(session, model_ckpt)
                query = query.where(EvalRunRow.checkpoint_id == row.id)
            return [self._run_view(session, r) for r in session.scalars(query)]

    def run(self, run_id: int) -> EvalRun:
        """One evaluation run."""
        with self._sessions() as session:
            return self._run_view(session, self._run_row(session, run_id))

    def summary(self, run_id: int) -> EvalSummary:
        """Pass rate per category of a run, each with its 95% Wilson interval."""
        with self._sessions() as session:
            row = self._run_row(session, run_id)
            triples = session.execute(
                select(
                    EvalResultRow.category,
                    EvalResultRow.passed,
                    EvalResultRow.score,
                ).where(EvalResultRow.eval_run_id == row.id)
            )
            categories = summarize((c, p, s) for c, p, s in triples)
            return EvalSummary(self._run_view(session, row), categories)

    def results(self, run_id: int) -> builtins.list[EvalExample]:
        """Every example of a run, in the order it was ingested."""
        with self._sessions() as session:
            self._run_row(session, run_id)
            rows = session.scalars(
                select(EvalResultRow)
                .where(EvalResultRow.eval_run_id == run_id)
                .order_by(EvalResultRow.id)
            )
            return [
                EvalExample(
                    r.example_id, r.input, r.output, r.score, r.passed, r.category, dict(r.meta)
                )
                for r in rows
            ]

    # -- internals -------------------------------------------------------------------------------

    def _store(
        self,
        model_ckpt: str,
        kind: str,
        source: str,
        sha256: str | None,
        examples: builtins.list[EvalExample],
        progress: ProgressFn | None,
    ) -> EvalSummary:
        categories = summarize((e.category, e.passed, e.score) for e in examples)
        overall = categories[-1]
        counts = {
            "examples": overall.examples,
            "judged": overall.judged,
            "passed": overall.passed,
            "categories": len(categories) - 1,
        }
        with self._sessions.begin() as session:
            checkpoint = self._checkpoint_row(session, model_ckpt)
            run = EvalRunRow(
                checkpoint_id=checkpoint.id,
                source_kind=kind,
                source=source,
                source_sha256=sha256,
                created_by=self._actor,
                counts=counts,
            )
            session.add(run)
            session.flush()
            total = len(examples)
            for start in range(0, total, BATCH):
                session.execute(
                    insert(EvalResultRow),
                    [
                        {
                            "eval_run_id": run.id,
                            "example_id": e.example_id,
                            "input": e.input,
                            "output": e.output,
                            "score": e.score,
                            "passed": e.passed,
                            "category": e.category,
                            "meta": e.metadata,
                        }
                        for e in examples[start : start + BATCH]
                    ],
                )
                if progress is not None:
                    progress(min(start + BATCH, total), total, "storing")
            view = self._run_view(session, run)
            audit.append(
                session,
                actor=self._actor,
                action="eval.ingest",
                object_type="eval_run",
                object_ref=str(run.id),
                details={
                    "checkpoint": view.checkpoint,
                    "source_kind": kind,
                    "source": source,
                    "sha256": sha256,
                    **counts,
                },
            )
            return EvalSummary(view, categories)

    def _version_id(self, ref: str) -> int:
        if "@" not in ref:
            raise ValidationError(f"{ref}: name an exact version (NAME@N or NAME@TAG)")
        try:
            return self._datasets.handle(ref).version_id
        except NotFoundError as exc:
            raise NotFoundError(f"{ref}: no such version ({exc})") from None

    @staticmethod
    def _find(session: Session, model: str, checkpoint: str) -> CheckpointRow | None:
        return session.scalar(
            select(CheckpointRow).where(
                CheckpointRow.model == model, CheckpointRow.checkpoint == checkpoint
            )
        )

    def _checkpoint_row(self, session: Session, name: str) -> CheckpointRow:
        row = self._find(session, *parse_checkpoint(name))
        if row is None:
            raise NotFoundError(
                f"{name}: no such checkpoint (register it with 'curata train register')"
            )
        return row

    @staticmethod
    def _run_row(session: Session, run_id: int) -> EvalRunRow:
        row = session.get(EvalRunRow, run_id)
        if row is None:
            raise NotFoundError(f"no evaluation run {run_id} (see 'curata eval list')")
        return row

    @staticmethod
    def _view(session: Session, row: CheckpointRow) -> Checkpoint:
        refs = session.execute(
            select(DatasetRow.name, VersionRow.number)
            .join(VersionRow, VersionRow.dataset_id == DatasetRow.id)
            .join(CheckpointVersionRow, CheckpointVersionRow.version_id == VersionRow.id)
            .where(CheckpointVersionRow.checkpoint_id == row.id)
            .order_by(DatasetRow.name, VersionRow.number)
        ).all()
        runs = session.scalar(
            select(func.count()).select_from(EvalRunRow).where(EvalRunRow.checkpoint_id == row.id)
        )
        return Checkpoint(
            model=row.model,
            checkpoint=row.checkpoint,
            versions=[f"{n}@{v}" for n, v in refs],
            params=dict(row.params),
            registered_at=as_utc(row.registered_at),
            registered_by=row.registered_by,
            eval_runs=int(runs or 0),
            exports=checkpoint_exports(session, row.id),
        )

    @staticmethod
    def _run_view(session: Session, row: EvalRunRow) -> EvalRun:
        ckpt = session.get(CheckpointRow, row.checkpoint_id)
        assert ckpt is not None
        return EvalRun(
            id=row.id,
            checkpoint=f"{ckpt.model}:{ckpt.checkpoint}",
            source_kind=row.source_kind,
            source=row.source,
            source_sha256=row.source_sha256,
            created_at=as_utc(row.created_at),
            created_by=row.created_by,
            counts=dict(row.counts),
        )
