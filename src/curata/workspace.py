"""The Workspace: opens settings, the metadata database and the record store; builds services."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from curata.annotation.automation import AutomationService
from curata.annotation.policy_report import PolicyReport
from curata.annotation.projects import ProjectService
from curata.annotation.queue import QueueService
from curata.annotation.release import ReleaseService
from curata.annotation.review import ReviewService
from curata.annotation.transfer import TransferService
from curata.annotation.vendors import VendorService
from curata.annotation.workforce import WorkforceService
from curata.core.errors import CurataError, NotFoundError
from curata.curation.coverage_service import CoverageService
from curata.curation.service import CurationService
from curata.export.formats import export as export_version
from curata.export.records import ExportLedger
from curata.export.training import TrainingExport, export_training
from curata.governance import audit
from curata.governance.audit import AuditLog
from curata.governance.auth import identify
from curata.governance.identity import User
from curata.lineage.graph import LineageService
from curata.lineage.openlineage import LineageEmitter
from curata.loop.attribution import AttributionService
from curata.loop.briefs import BriefService
from curata.loop.service import EvaluationService
from curata.quality.service import QualityService
from curata.quality.vendor_audit import VendorAuditService
from curata.redteam.campaigns import CampaignService
from curata.redteam.review import FindingsService
from curata.redteam.service import RedTeamService
from curata.settings import CONFIG_FILE, Settings, write_config
from curata.sourcing.ingest import IngestResult, IngestService, ProgressFn
from curata.sourcing.mapping import FieldMap
from curata.sourcing.service import SourceService
from curata.stewardship.notify import Notifier
from curata.stewardship.raci import RaciService
from curata.stewardship.release_policy import ReleasePolicyService
from curata.stewardship.signatures import ReleaseSignatures
from curata.store.db import make_engine, migrate, session_factory
from curata.store.gc import GcResult, collect_garbage
from curata.store.records import RecordStore
from curata.versioning.service import DatasetService


class Workspace:
    """One Curata workspace. Build it with :meth:`create` or :meth:`open`; close it when done.

    The CLI and the API are thin shells over these services:
    ``sources`` (:class:`SourceService`), ``datasets`` (:class:`DatasetService`),
    ``lineage`` (:class:`LineageService`), ``audit`` (:class:`AuditLog`), :meth:`ingest`, and
    for annotation ``workforce``, ``vendors``, ``projects``, ``queue`` and ``reviews``; for quality
    ``quality`` (:class:`QualityService`) and ``vendor_audits``; for training and evaluation
    runs ``evaluation`` (:class:`EvaluationService`).

    ``identity`` is the user authenticated by the settings' API token on a shared database
    (``None`` on the embedded one): the services then act under that user's name.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        store: RecordStore,
        *,
        identity: User | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self.home = settings.home
        self.identity = identity
        actor = settings.user
        sessions = session_factory(engine)
        self._sessions = sessions
        self.sources = SourceService(sessions, actor)
        self.datasets = DatasetService(sessions, store, actor)
        self.lineage = LineageService(sessions, store, self.datasets)
        self.audit = AuditLog(sessions)
        self.workforce = WorkforceService(sessions, actor)
        self.vendors = VendorService(sessions, self.workforce, actor)
        self.projects = ProjectService(sessions, store, self.datasets, actor)
        self.queue = QueueService(sessions, store, self.projects)
        self.reviews = ReviewService(sessions, store, self.projects)
        self.vendor_audits = VendorAuditService(sessions, actor)
        self.quality = QualityService(
            sessions,
            store,
            projects=self.projects,
            reviews=self.reviews,
            datasets=self.datasets,
            workforce=self.workforce,
            queue=self.queue,
            actor=actor,
        )
        self.transfer = TransferService(sessions, store, self.projects, actor)
        self.emitter = LineageEmitter(
            namespace=settings.openlineage_namespace,
            file=settings.openlineage_file,
            url=settings.openlineage_url,
        )
        self.releases = ReleaseService(
            sessions,
            store,
            self.datasets,
            self.emitter,
            actor,
            gate_metrics=self.quality.gate_metrics,
        )
        self.curation = CurationService(sessions, store, self.datasets, self.emitter, actor,
                                        scratch=settings.home / "scratch")  # fmt: skip
        self.coverage = CoverageService(self.datasets, max_record_bytes=settings.max_record_bytes)
        self._ingest = IngestService(
            sessions,
            store,
            self.datasets,
            self.emitter,
            actor=actor,
            max_record_bytes=settings.max_record_bytes,
        )
        self.redteam = RedTeamService(
            self._ingest, self.datasets, max_record_bytes=settings.max_record_bytes
        )
        self.campaigns = CampaignService(sessions, self.redteam, self.datasets, actor)
        self.findings = FindingsService(sessions, store, self.datasets, self.projects,
                                        self._ingest, self.redteam, self.campaigns, actor,
                                        files=settings.home / "redteam")
        self.evaluation = EvaluationService(sessions, self.datasets, self.campaigns, actor)
        self.briefs = BriefService(sessions, store, home=settings.home, datasets=self.datasets,
                                   campaigns=self.campaigns, evaluation=self.evaluation,
                                   actor=actor)
        self.raci = RaciService(sessions, actor)
        self.notifier = Notifier(sessions)
        self.policies = ReleasePolicyService(sessions, store, self.datasets,
                                             campaigns=self.campaigns, home=settings.home,
                                             actor=actor)
        self.releases.policies = self.policies  # a release is held to its policies
        self.releases.notifier = self.notifier  # and tells its Informed parties
        self.evaluation.after_run = self.notifier.notify_regressions  # so does a regression
        self.automation = AutomationService(sessions, store, self.projects, actor)
        self.attribution = AttributionService(sessions, store, self.datasets, self.evaluation)
        self.exports = ExportLedger(sessions, self.emitter, actor)
        self.signatures = ReleaseSignatures(sessions, keys=settings.home / "keys", actor=actor)
        self.releases.signer = self.signatures.sign_in  # a release signs its version
        self.releases.publisher = self._publish_release  # then its data cards

    def evaluate_policies(self, project: str, *, dataset: str | None = None) -> PolicyReport:
        """The policy report a release of ``project`` into ``dataset`` would get now (nothing
        is written). An actual release's report is at ``<home>/policy-reports/NAME@N.json``
        and in its :class:`~curata.annotation.release.ReleaseResult`."""
        gates = self.releases.gate_results(project)
        return self.policies.evaluate(project, dataset=dataset, gates=gates)

    def _publish_release(self, ref: str, artifacts: dict[str, Path]) -> dict[str, Path]:
        """Write a released version's data cards and sign them, with ``artifacts`` (its policy
        report), into the audit chain: the newest ``release.signed`` entry of the version
        vouches for all of them."""
        from curata.stewardship.datacard import write_cards

        cards = write_cards(self, ref)
        self.signatures.sign(ref, {**artifacts, **{f"card_{k}": p for k, p in cards.items()}})
        return cards

    @staticmethod
    def _settings(home: str | os.PathLike[str] | None, **overrides: Any) -> Settings:
        values = {k: v for k, v in overrides.items() if v is not None}
        if home is not None:
            values["home"] = Path(home)
        return Settings(**values).resolved()

    @classmethod
    def create(
        cls,
        home: str | os.PathLike[str] | None = None,
        *,
        database_url: str | None = None,
        data_url: str | None = None,
        **overrides: Any,
    ) -> Workspace:
        """Create a workspace (idempotent on an existing one) and migrate its database."""
        settings = cls._settings(home, database_url=database_url, data_url=data_url, **overrides)
        created = not settings.home.exists()
        settings.home.mkdir(parents=True, exist_ok=True)
        saved = {}
        if database_url or os.environ.get("CURATA_DATABASE_URL"):
            saved["database_url"] = str(settings.database_url)
        if data_url or os.environ.get("CURATA_DATA_URL"):  # an object store is chosen once
            saved["data_url"] = str(settings.data_url)
        fresh = not (settings.home / CONFIG_FILE).exists()
        try:
            ws = cls._build(settings)
        except CurataError:
            if created:  # leave nothing behind for a workspace that could not be made
                shutil.rmtree(settings.home, ignore_errors=True)
            raise
        if fresh:
            write_config(settings.home, saved)
            with ws._sessions.begin() as session:
                audit.append(
                    session,
                    actor=ws.settings.user,
                    action="workspace.init",
                    object_type="workspace",
                    object_ref=str(settings.home),
                    details={"database": _redact(str(settings.database_url))},
                )
        return ws

    @classmethod
    def open(cls, home: str | os.PathLike[str] | None = None, **overrides: Any) -> Workspace:
        """Open an existing workspace (``home`` defaults to ``CURATA_HOME`` or ``./.curata``)."""
        settings = cls._settings(home, **overrides)
        if not (settings.home / CONFIG_FILE).exists():
            raise NotFoundError(
                f"no Curata workspace at {settings.home} (create one with 'curata init')"
            )
        return cls._build(settings)

    @classmethod
    def _build(cls, settings: Settings) -> Workspace:
        assert settings.database_url is not None and settings.data_url is not None
        engine = make_engine(settings.database_url)
        try:
            migrate(engine)
            settings, identity = identify(session_factory(engine), settings)
        except CurataError:
            engine.dispose()
            raise
        assert settings.data_url is not None
        store = RecordStore(settings.data_url, storage_options=settings.data_options,
                            lock_dir=settings.home / "store")  # fmt: skip
        store.initialise()
        return cls(settings, engine, store, identity=identity)

    def ingest(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        source: str,
        dataset: str,
        format: str = "auto",
        text_field: str | None = None,
        messages_field: str | None = None,
        prompt_field: str | None = None,
        response_field: str | None = None,
        message: str = "",
        key: str | None = None,
        append: bool = False,
        encoding: str = "utf-8",
        max_record_bytes: int | None = None,
        progress: ProgressFn | None = None,
        force: bool = False,
    ) -> IngestResult:
        """Read files into the next version of a dataset (see :class:`IngestService`)."""
        return self._ingest.ingest(
            [Path(p) for p in paths],
            source=source,
            dataset=dataset,
            format=format,
            fields=FieldMap(
                text=text_field,
                messages=messages_field,
                prompt=prompt_field,
                response=response_field,
            ),
            message=message,
            key=key,
            append=append,
            encoding=encoding,
            max_record_bytes=max_record_bytes,
            progress=progress,
            force=force,
        )

    def export(
        self, ref: str, *, format: str, out: str | os.PathLike[str], overwrite: bool = False
    ) -> int:
        """Write a version as jsonl, parquet or an HF datasets folder; return the record count."""
        version = self.datasets.version(ref)
        from curata.stewardship.datacard import HF_DATA_FILES, version_card

        card = version_card(self, version.ref, data_files=HF_DATA_FILES)
        count = export_version(
            lambda: self.datasets.iter_rows(version.ref),
            fmt=format,
            out=Path(out),
            name=version.dataset,
            card=card,
            overwrite=overwrite,
        )
        self._audit_export(version.ref, {"format": format, "records": count}, out)
        return count

    def export_training(
        self,
        ref: str,
        *,
        format: str,
        out: str | os.PathLike[str],
        question: str | None = None,
        overwrite: bool = False,
    ) -> TrainingExport:
        """Write a labelled version as a TRL training file (dpo, sft, kto, prompt-completion;
        see :mod:`curata.export.preference`), counting every record left out and why."""
        version = self.datasets.version(ref)
        result = export_training(
            lambda: self.datasets.iter_rows(version.ref),
            fmt=format,
            out=Path(out),
            question=question,
            overwrite=overwrite,
        )
        self._audit_export(version.ref, result.to_dict(), out)
        return result

    def _audit_export(self, ref: str, details: dict[str, Any], out: str | os.PathLike[str]) -> None:
        self.exports.record(ref, details, Path(out))  # lineage, file digests and audit entry

    def collect_garbage(self, *, dry_run: bool = False) -> GcResult:
        """Remove record-store files that no version references (see :mod:`curata.store.gc`);
        a run that removed something is written to the audit log (a dry run is not)."""
        result = collect_garbage(self.store, dry_run=dry_run)
        if not dry_run and result.files:
            with self._sessions.begin() as session:
                audit.append(
                    session,
                    actor=self.settings.user,
                    action="store.gc",
                    object_type="store",
                    object_ref=str(self.settings.data_url),
                    details={"files": result.files, "bytes": result.bytes},
                )
        return result

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _redact(url: str) -> str:
    """Hide a password in a database URL."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url
