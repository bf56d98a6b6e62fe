"""Release policies: what a project's (and a dataset's) release must satisfy, checked at
``release`` with a report.

Policies (``config`` keys of a :class:`~curata.store.tables.ReleasePolicyRow`):

- ``license``: ``license_allow`` is a list of SPDX ids; every source of the released data must
  carry a licence expression the list satisfies (``MIT OR GPL-3.0-only`` is satisfied by
  ``MIT``; ``MIT AND GPL-3.0-only`` needs both).
- ``consent``: ``require_consent``; every source must record its consent basis
  (``curata source add --consent``).
- ``pii_redaction``: ``require_pii_redaction``; unless every source is declared free of
  personal data (``--pii none``), the released data must descend (through version parents and
  operation inputs) from a curation run whose ``pii`` step changed text (any action but
  ``report``) or dropped records with findings.
- ``quality_gates``: the project's gates (#4, ``curata project gate``), as the release
  evaluates them.
- ``redteam_regression``: ``redteam_gates`` is a list of campaign pairs ``BEFORE:AFTER``
  compared attack by attack (#8, :mod:`curata.redteam.regression`); the gate fails when any
  category's breach rate rose by more than ``max_regression`` (default 0.05) at 95% confidence.
- ``contamination``: ``no_contamination`` is a list of benchmark versions (``BENCH@N``); no
  released record may share a 13-word gram (``ngram``) with one, checked here with the
  ``decontaminate`` step's method (Brown et al. 2020, appendix C); a ``decontaminate`` run in
  the data's history is listed as evidence but does not replace the check.

A project's policies apply to its releases; the policies of the dataset released into are
applied over them (a key the dataset sets wins). Each policy reports ``pass``, ``fail`` or
``not-configured`` with its evidence; :meth:`ReleasePolicyService.evaluate` (and
:func:`evaluate_policies`) return the report, and a release writes it as JSON to
``<home>/policy-reports/<dataset>@<n>.json`` (:func:`report_path`).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation.gates import GateResult
from curata.annotation.policy_report import PolicyReport, PolicyResult
from curata.annotation.projects import project_row
from curata.core.errors import CurataError, NotFoundError, ValidationError
from curata.curation.steps.base import FIELDS, text_fields
from curata.governance import audit
from curata.sourcing.service import _spdx, check_license
from curata.store.db import write_transaction
from curata.store.files import write_atomic
from curata.store.records import RecordStore
from curata.store.tables import (
    DatasetRow,
    OperationInputRow,
    ReleasePolicyRow,
    SourceRow,
    StepRunRow,
    VersionParentRow,
    VersionRow,
    VersionSourceRow,
    utcnow,
)
from curata.versioning.service import DatasetService

if TYPE_CHECKING:
    from curata.redteam.campaigns import CampaignService

__all__ = [
    "POLICIES",
    "PolicyReport",
    "PolicyResult",
    "ReleasePolicyService",
    "report_path",
]

POLICIES = (
    "license",
    "consent",
    "pii_redaction",
    "quality_gates",
    "redteam_regression",
    "contamination",
)
KEYS = (
    "license_allow",
    "require_consent",
    "require_pii_redaction",
    "redteam_gates",
    "max_regression",
    "no_contamination",
    "ngram",
)
REPORTS = "policy-reports"
EXAMPLES = 5


def report_path(home: Path, ref: str) -> Path:
    """Where the policy report of released version ``ref`` (``dataset@n``) is written."""
    return Path(home) / REPORTS / f"{ref}.json"


def parse_config(
    config: dict[str, Any], *, datasets: DatasetService | None = None
) -> dict[str, Any]:
    """Validated policy settings (errors name the option)."""
    unknown = set(config) - set(KEYS)
    if unknown:
        raise ValidationError(
            f"policy: unknown setting {sorted(unknown)[0]!r} (known: {', '.join(KEYS)})"
        )
    out: dict[str, Any] = {}
    if config.get("license_allow") is not None:
        allow = [a for a in config["license_allow"] if a.strip()]
        if not allow:
            raise ValidationError("license-allow: name at least one SPDX license id")
        out["license_allow"] = sorted({check_license(a) for a in allow})
    for key in ("require_consent", "require_pii_redaction"):
        if config.get(key) is not None:
            out[key] = bool(config[key])
    if config.get("redteam_gates") is not None:
        pairs = []
        for pair in config["redteam_gates"]:
            before, sep, after = str(pair).partition(":")
            if not sep or not before or not after or before == after:
                raise ValidationError(
                    f"redteam-gate: {pair!r} is not BEFORE:AFTER (two campaign ids, e.g. "
                    "rt-1a2b3c4d5e6f:rt-6f5e4d3c2b1a)"
                )
            pairs.append(f"{before}:{after}")
        out["redteam_gates"] = pairs
    if config.get("max_regression") is not None:
        value = float(config["max_regression"])
        if not 0.0 <= value <= 1.0:
            raise ValidationError("max-regression: must be in [0, 1] (0.05 = 5 points)")
        out["max_regression"] = value
    if config.get("no_contamination") is not None:
        refs = []
        for ref in config["no_contamination"]:
            if datasets is not None:
                try:
                    ref = datasets.version(ref).ref
                except NotFoundError as exc:
                    raise ValidationError(f"no-contamination: {exc}") from None
            refs.append(ref)
        out["no_contamination"] = refs
    if config.get("ngram") is not None:
        n = config["ngram"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValidationError("ngram: must be a whole number >= 1")
        out["ngram"] = n
    return out


class ReleasePolicyService:
    """Sets, reads and evaluates release policies."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: RecordStore,
        datasets: DatasetService,
        *,
        campaigns: CampaignService,
        home: Path,
        actor: str,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._datasets = datasets
        self._campaigns = campaigns
        self.home = Path(home)
        self._actor = actor

    # -- configuration ----------------------------------------------------------------------

    def set(
        self,
        project: str | None = None,
        *,
        dataset: str | None = None,
        replace: bool = False,
        by: str | None = None,
        **settings: Any,
    ) -> dict[str, Any]:
        """Set policies of ``project`` or ``dataset`` (keys of :data:`KEYS`; ``None`` keeps a
        setting, ``replace`` drops those not given); audited with before and after."""
        if (project is None) == (dataset is None):
            raise ValidationError("policy: name a project or a dataset (--dataset NAME), not both")
        given = parse_config(
            {k: v for k, v in settings.items() if v is not None}, datasets=self._datasets
        )
        actor = by or self._actor
        with write_transaction(self._sessions) as session:
            row, scope, name = self._row(session, project, dataset)
            before = dict(row.config) if row is not None else {}
            after = given if replace else {**before, **given}
            if row is None:
                row = ReleasePolicyRow(
                    project_id=scope if project is not None else None,
                    dataset_id=scope if dataset is not None else None,
                    config=after,
                    updated_by=actor,
                )
                session.add(row)
            else:
                row.config = after
                row.updated_at = utcnow()
                row.updated_by = actor
            audit.append(
                session,
                actor=actor,
                action="policy.set",
                object_type="project" if project is not None else "dataset",
                object_ref=name,
                details={"before": before, "after": after},
            )
        return after

    def get(self, project: str | None = None, *, dataset: str | None = None) -> dict[str, Any]:
        """The policies set on ``project`` or ``dataset`` (empty when none)."""
        with self._sessions() as session:
            row, _, _ = self._row(session, project, dataset)
            return dict(row.config) if row is not None else {}

    def _row(
        self, session: Session, project: str | None, dataset: str | None
    ) -> tuple[ReleasePolicyRow | None, int, str]:
        if project is not None:
            pid = project_row(session, project).id
            return (
                session.scalar(select(ReleasePolicyRow).where(ReleasePolicyRow.project_id == pid)),
                pid,
                project,
            )
        assert dataset is not None
        did = session.scalar(select(DatasetRow.id).where(DatasetRow.name == dataset))
        if did is None:
            raise NotFoundError(f"unknown dataset {dataset!r} (see 'curata dataset list')")
        return (
            session.scalar(select(ReleasePolicyRow).where(ReleasePolicyRow.dataset_id == did)),
            did,
            dataset,
        )

    def effective(self, project: str, dataset: str) -> dict[str, tuple[Any, str]]:
        """The settings a release of ``project`` into ``dataset`` is held to: each key's
        value and whose it is (``project`` or ``dataset``; the dataset's wins)."""
        with self._sessions() as session:
            pid = project_row(session, project).id
            rows = [
                (
                    "project",
                    session.scalar(
                        select(ReleasePolicyRow.config).where(ReleasePolicyRow.project_id == pid)
                    ),
                ),
                (
                    "dataset",
                    session.scalar(
                        select(ReleasePolicyRow.config)
                        .join(DatasetRow, DatasetRow.id == ReleasePolicyRow.dataset_id)
                        .where(DatasetRow.name == dataset)
                    ),
                ),
            ]
        out: dict[str, tuple[Any, str]] = {}
        for who, config in rows:
            for key, value in (config or {}).items():
                out[key] = (value, who)
        return out

    # -- evaluation -------------------------------------------------------------------------

    def evaluate(
        self, project: str, *, dataset: str | None = None, gates: Sequence[GateResult] = ()
    ) -> PolicyReport:
        """Evaluate every policy for a release of ``project`` into ``dataset`` (default
        ``<project>-labels``); ``gates`` are the project's evaluated quality gates."""
        dataset = dataset or f"{project}-labels"
        config = self.effective(project, dataset)
        with self._sessions() as session:
            proj = project_row(session, project)
            version = session.get(VersionRow, proj.version_id)
            assert version is not None
            ds = session.get(DatasetRow, version.dataset_id)
            assert ds is not None
            source_ref = f"{ds.name}@{version.number}"
            sources = session.scalars(
                select(SourceRow)
                .join(VersionSourceRow, VersionSourceRow.source_id == SourceRow.id)
                .where(VersionSourceRow.version_id == version.id)
                .order_by(SourceRow.name)
            ).all()
            steps = _history_steps(session, version.id)
            results = [
                _license(sources, config.get("license_allow")),
                _consent(sources, config.get("require_consent")),
                _pii(sources, steps, config.get("require_pii_redaction")),
                _gates(list(gates)),
            ]
        results.append(self._redteam(config.get("redteam_gates"), config.get("max_regression")))
        results.append(
            self._contamination(
                source_ref, config.get("no_contamination"), config.get("ngram"), steps
            )
        )
        return PolicyReport(
            project=project,
            dataset=dataset,
            source_version=source_ref,
            policies=results,
            evaluated_at=utcnow().isoformat(),
        )

    def path(self, ref: str) -> Path:
        """Where the report of released version ``ref`` is (:func:`report_path`)."""
        return report_path(self.home, ref)

    def write(self, report: PolicyReport) -> Path:
        """Write a released version's report to :func:`report_path`; return the path."""
        assert report.version is not None
        return write_atomic(report_path(self.home, report.version), report.body())

    def _redteam(
        self, setting: tuple[Any, str] | None, max_setting: tuple[Any, str] | None
    ) -> PolicyResult:
        if not setting or not setting[0]:
            return PolicyResult("redteam_regression", "not-configured")
        limit = float(max_setting[0]) if max_setting else 0.05
        pairs: list[dict[str, Any]] = []
        failed: list[str] = []
        for pair in setting[0]:
            before, _, after = pair.partition(":")
            try:
                gate = self._campaigns.compare(before, after, max_regression=limit).regression
            except CurataError as exc:
                failed.append(f"{pair}: {exc}")
                pairs.append({"pair": pair, "error": str(exc)})
                continue
            assert gate.gate is not None
            pairs.append(
                {"pair": pair, "gate": gate.gate.to_dict(), "overall": gate.overall.to_dict()}
            )
            if not gate.gate.passed:
                what = ", ".join(gate.gate.regressed) or "overall"
                failed.append(f"{pair} regressed by more than {limit:g} in {what}")
        status = "fail" if failed else "pass"
        reason = (
            "; ".join(failed)
            if failed
            else f"no category regressed by more than {limit:g} in {len(pairs)} comparison(s)"
        )
        return PolicyResult(
            "redteam_regression",
            status,
            reason,
            {"max_regression": limit, "comparisons": pairs},
            setting[1],
        )

    def _contamination(
        self,
        source_ref: str,
        setting: tuple[Any, str] | None,
        ngram: tuple[Any, str] | None,
        steps: list[dict[str, Any]],
    ) -> PolicyResult:
        if not setting or not setting[0]:
            return PolicyResult("contamination", "not-configured")
        from curata.curation.steps.decontaminate import Decontaminate, DecontaminateParams

        size = int(ngram[0]) if ngram else 13
        earlier = [s for s in steps if s["step"] == "decontaminate"]
        checks: list[dict[str, Any]] = []
        failed: list[str] = []
        for bench in setting[0]:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "benchmark.jsonl"
                texts = self._write_texts(bench, path)
                try:
                    step = Decontaminate(
                        DecontaminateParams(eval_file=str(path), ngram=size, action="flag")
                    )
                except (CurataError, ValueError) as exc:
                    failed.append(f"{bench}: cannot be compared ({exc})")
                    checks.append({"benchmark": bench, "error": str(exc)})
                    continue
                hits, examples = self._scan(source_ref, step.apply)
            checks.append(
                {
                    "benchmark": bench,
                    "benchmark_texts": texts,
                    "benchmark_sha256": step.digest,
                    "ngram": size,
                    "contaminated": hits,
                    "examples": examples,
                }
            )
            if hits:
                failed.append(f"{hits} record(s) share {size}-grams with {bench}")
        status = "fail" if failed else "pass"
        reason = (
            "; ".join(failed)
            if failed
            else f"no record shares a {size}-gram with {', '.join(setting[0])}"
        )
        return PolicyResult(
            "contamination",
            status,
            reason,
            {"checks": checks, "decontaminate_runs": earlier},
            setting[1],
        )

    def _write_texts(self, ref: str, path: Path) -> int:
        """Write every text of version ``ref`` as a JSONL line ``{"text": ...}``; the count."""
        handle = self._datasets.handle(ref)
        count = 0
        with path.open("w", encoding="utf-8") as out:
            for batch in self._store.iter_manifest(handle.storage_key, handle.manifest_version):
                for record in self._store.take_records(batch.column("row").to_numpy()):
                    for _, text in text_fields(record, FIELDS):
                        out.write(json.dumps({"text": text}) + "\n")
                        count += 1
        return count

    def _scan(self, ref: str, apply: Callable[[Any], Any]) -> tuple[int, list[dict[str, Any]]]:
        handle = self._datasets.handle(ref)
        hits = 0
        examples: list[dict[str, Any]] = []
        for batch in self._store.iter_manifest(handle.storage_key, handle.manifest_version):
            ids = batch.column("record_id").to_pylist()
            records = self._store.take_records(batch.column("row").to_numpy())
            for record_id, decision in zip(
                ids, apply(list(zip(ids, records, strict=True))), strict=True
            ):
                if decision.action != "keep":
                    hits += 1
                    if len(examples) < EXAMPLES:
                        examples.append({"record_id": record_id, "reason": decision.reason})
        return hits, examples


def _license(sources: Sequence[SourceRow], setting: tuple[Any, str] | None) -> PolicyResult:
    if not setting:
        return PolicyResult("license", "not-configured")
    allow = set(setting[0])
    licensing = _spdx()
    found: dict[str, str] = {}
    bad: list[str] = []
    for s in sources:
        found[s.name] = s.license
        parsed = licensing.parse(s.license)
        symbols = licensing.license_symbols(parsed, unique=True, decompose=False)
        values = {sym: licensing.TRUE if str(sym) in allow else licensing.FALSE for sym in symbols}
        if parsed.subs(values).simplify() != licensing.TRUE:
            bad.append(f"source {s.name!r} is {s.license}")
    evidence = {"allow": sorted(allow), "sources": found}
    if bad:
        return PolicyResult(
            "license",
            "fail",
            f"{'; '.join(bad)}, not allowed by {', '.join(sorted(allow))}",
            evidence,
            setting[1],
        )
    return PolicyResult(
        "license",
        "pass",
        f"every source's license is allowed ({len(found)} source(s))",
        evidence,
        setting[1],
    )


def _consent(sources: Sequence[SourceRow], setting: tuple[Any, str] | None) -> PolicyResult:
    if not setting or not setting[0]:
        return PolicyResult("consent", "not-configured")
    found = {s.name: s.consent for s in sources}
    missing = [name for name, consent in found.items() if not (consent or "").strip()]
    if missing:
        return PolicyResult(
            "consent",
            "fail",
            f"no consent recorded for source(s) {', '.join(missing)} (curata source add --consent)",
            {"sources": found},
            setting[1],
        )
    return PolicyResult(
        "consent",
        "pass",
        f"consent recorded for every source ({len(found)})",
        {"sources": found},
        setting[1],
    )


def _pii(
    sources: Sequence[SourceRow], steps: list[dict[str, Any]], setting: tuple[Any, str] | None
) -> PolicyResult:
    if not setting or not setting[0]:
        return PolicyResult("pii_redaction", "not-configured")
    status = {s.name: s.pii_status for s in sources}
    redacting = [
        s
        for s in steps
        if s["step"] == "pii" and (s["params"].get("action") != "report" or s["params"].get("drop"))
    ]
    evidence = {"sources": status, "pii_runs": [s for s in steps if s["step"] == "pii"]}
    if redacting:
        first = redacting[0]
        return PolicyResult(
            "pii_redaction",
            "pass",
            f"the data passed a pii step (action {first['params'].get('action', 'placeholder')}) "
            f"in the run that made {first['version']}",
            evidence,
            setting[1],
        )
    if sources and all(v == "none" for v in status.values()):
        return PolicyResult(
            "pii_redaction",
            "pass",
            "every source is declared free of personal data",
            evidence,
            setting[1],
        )
    unknown = [n for n, v in status.items() if v != "none"]
    return PolicyResult(
        "pii_redaction",
        "fail",
        f"no pii step that redacts in the data's history, and source(s) {', '.join(unknown)} "
        "may hold personal data (run 'curata curate' with a pii step)",
        evidence,
        setting[1],
    )


def _gates(gates: list[GateResult]) -> PolicyResult:
    if not gates:
        return PolicyResult("quality_gates", "not-configured")
    failed = [g for g in gates if not g.passed]
    evidence = {"gates": [g.to_dict() for g in gates]}
    if failed:
        return PolicyResult(
            "quality_gates", "fail", "; ".join(g.describe() for g in failed), evidence, "project"
        )
    return PolicyResult(
        "quality_gates", "pass", f"all {len(gates)} gate(s) passed", evidence, "project"
    )


def _history_steps(session: Session, version_id: int) -> list[dict[str, Any]]:
    """Every curation step run in the history of a version (its parents and the versions its
    operations read, transitively), with the version each run made."""
    seen: set[int] = set()
    todo = [version_id]
    made: dict[str, str] = {}
    while todo:
        vid = todo.pop()
        if vid in seen:
            continue
        seen.add(vid)
        row = session.get(VersionRow, vid)
        if row is None:
            continue
        ds = session.get(DatasetRow, row.dataset_id)
        made[row.operation_id] = f"{ds.name if ds else '?'}@{row.number}"
        todo.extend(
            session.scalars(
                select(VersionParentRow.parent_id).where(VersionParentRow.version_id == vid)
            )
        )
        todo.extend(
            v
            for v in session.scalars(
                select(OperationInputRow.version_id).where(
                    OperationInputRow.operation_id == row.operation_id
                )
            )
            if v is not None
        )
    runs = session.scalars(
        select(StepRunRow).where(StepRunRow.operation_id.in_(list(made))).order_by(StepRunRow.id)
    ).all()
    return [
        {
            "version": made[r.operation_id],
            "operation": r.operation_id,
            "step": r.name,
            "params": r.params,
            "records_in": r.records_in,
            "changed": r.changed,
            "dropped": r.dropped,
        }
        for r in runs
    ]


def report_digest(path: Path) -> str:
    """SHA-256 of a written report (what a release signature signs)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
