"""ORM tables of the metadata database, one module per capability; services map rows to
domain types. Every table is importable from here."""

from curata.store.tables.annotation import (
    AnnotationRow,
    ApiTokenRow,
    AssignmentRow,
    AuthEpochRow,
    CohortMemberRow,
    CohortRow,
    GuidelineRow,
    ProjectMemberRow,
    ProjectRow,
    ProjectSchemaRow,
    ReviewRow,
    TaskRow,
    UserRow,
    VendorAuditItemRow,
    VendorAuditRow,
    VendorRow,
)
from curata.store.tables.automation import (
    AutomationEvidenceRow,
    ModelAnnotatorRow,
    ModelAnswerRow,
    QuestionAutomationRow,
)
from curata.store.tables.base import Base, utcnow
from curata.store.tables.briefs import BriefRow, BriefTaskRow
from curata.store.tables.curation import CurationEventRow, StepRunRow
from curata.store.tables.exports import CheckpointExportRow, ExportFileRow, ExportRow
from curata.store.tables.foundation import (
    AuditEventRow,
    DatasetRow,
    OperationInputRow,
    OperationRow,
    SourceRow,
    TagRow,
    VersionParentRow,
    VersionRow,
    VersionSourceRow,
)
from curata.store.tables.governance import (
    NotificationRow,
    RaciMemberRow,
    RaciRow,
    ReleasePolicyRow,
    WebhookSecretRow,
)
from curata.store.tables.loop import (
    CheckpointRow,
    CheckpointVersionRow,
    EvalResultRow,
    EvalRunRow,
)
from curata.store.tables.redteam import AttemptRow, CampaignRow

__all__ = [
    "AnnotationRow",
    "ApiTokenRow",
    "AssignmentRow",
    "AttemptRow",
    "AuditEventRow",
    "AuthEpochRow",
    "AutomationEvidenceRow",
    "Base",
    "BriefRow",
    "BriefTaskRow",
    "CampaignRow",
    "CheckpointExportRow",
    "CheckpointRow",
    "CheckpointVersionRow",
    "CohortMemberRow",
    "CohortRow",
    "CurationEventRow",
    "DatasetRow",
    "EvalResultRow",
    "EvalRunRow",
    "ExportFileRow",
    "ExportRow",
    "GuidelineRow",
    "ModelAnnotatorRow",
    "ModelAnswerRow",
    "NotificationRow",
    "OperationInputRow",
    "OperationRow",
    "ProjectMemberRow",
    "ProjectRow",
    "ProjectSchemaRow",
    "QuestionAutomationRow",
    "RaciMemberRow",
    "RaciRow",
    "ReleasePolicyRow",
    "ReviewRow",
    "SourceRow",
    "StepRunRow",
    "TagRow",
    "TaskRow",
    "UserRow",
    "VendorAuditItemRow",
    "VendorAuditRow",
    "VendorRow",
    "VersionParentRow",
    "VersionRow",
    "VersionSourceRow",
    "WebhookSecretRow",
    "utcnow",
]
