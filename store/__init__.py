"""Persistence for case-intake: SQLAlchemy models, migrations and the repository."""

from store.records import (
    AttachmentRecord,
    CaseFields,
    CaseSummary,
    FiledVersion,
    FindingRecord,
    OutgoingMail,
    SpooledMessage,
    VersionRecord,
)
from store.repo import Store

__all__ = [
    "AttachmentRecord", "CaseFields", "CaseSummary", "FiledVersion", "FindingRecord", "OutgoingMail",
    "SpooledMessage", "Store", "VersionRecord",
]
