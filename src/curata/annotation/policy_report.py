"""The result of a release's policies (#16), as the release sees it: each policy's verdict and
the report a release writes and signs. The policies themselves are evaluated in
:mod:`curata.stewardship.release_policy`; the release (:mod:`curata.annotation.release`) needs only
these results, so they live here, below both."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from curata.core.ids import canonical_json


@dataclass(frozen=True)
class PolicyResult:
    """One policy's verdict: ``pass``, ``fail`` or ``not-configured``, why, and the evidence."""

    policy: str
    status: str
    reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    configured_by: str | None = None
    """``project`` or ``dataset``: whose setting applied."""

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def describe(self) -> str:
        return f"{self.policy}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class PolicyReport:
    """Every policy's result for one release of ``project`` into ``dataset``."""

    project: str
    dataset: str
    source_version: str
    policies: list[PolicyResult]
    evaluated_at: str
    version: str | None = None
    override: dict[str, Any] | None = None

    @property
    def failed(self) -> list[PolicyResult]:
        return [p for p in self.policies if p.failed]

    @property
    def passed(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "dataset": self.dataset,
            "version": self.version,
            "source_version": self.source_version,
            "evaluated_at": self.evaluated_at,
            "passed": self.passed,
            "override": self.override,
            "policies": [p.to_dict() for p in self.policies],
        }

    def body(self) -> bytes:
        """The report file's bytes (canonical JSON, so its digest is reproducible)."""
        return canonical_json(self.to_dict()).encode()
