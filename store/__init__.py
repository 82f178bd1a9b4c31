"""Persistence for case-intake: SQLAlchemy models, migrations and the repository."""

from store.records import (
    AttachmentRecord,
    CaseFields,
    CaseSummary,
    FailedMessage,
    FiledVersion,
    FindingRecord,
    OutgoingMail,
    SpooledMessage,
    VersionRecord,
)
from store.db import SchemaMismatch
from store.repo import MAX_ATTEMPTS, Store

__all__ = [
    "MAX_ATTEMPTS", "SchemaMismatch", "AttachmentRecord", "CaseFields", "CaseSummary", "FailedMessage", "FiledVersion", "FindingRecord", "OutgoingMail",
    "SpooledMessage", "Store", "VersionRecord",
]
