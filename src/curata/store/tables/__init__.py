"""ORM tables of the metadata database, one module per capability; services map rows to
domain types. Every table is importable from here."""

from curata.store.tables.annotation import (
    AnnotationRow,
    ApiTokenRow,
    AssignmentRow,
    CohortMemberRow,
    CohortRow,
    GuidelineRow,
    ProjectMemberRow,
    ProjectRow,
    ProjectSchemaRow,
    ReviewRow,
    TaskRow,
    UserRow,
    VendorRow,
)
from curata.store.tables.base import Base, utcnow
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

__all__ = [
    "AnnotationRow",
    "ApiTokenRow",
    "AssignmentRow",
    "AuditEventRow",
    "Base",
    "CohortMemberRow",
    "CohortRow",
    "DatasetRow",
    "GuidelineRow",
    "OperationInputRow",
    "OperationRow",
    "ProjectMemberRow",
    "ProjectRow",
    "ProjectSchemaRow",
    "ReviewRow",
    "SourceRow",
    "TagRow",
    "TaskRow",
    "UserRow",
    "VendorRow",
    "VersionParentRow",
    "VersionRow",
    "VersionSourceRow",
    "utcnow",
]
