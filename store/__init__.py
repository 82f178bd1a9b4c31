"""Persistence for case-intake: SQLAlchemy models, migrations and the repository."""

from store.records import (
    AttachmentRecord,
    CaseFields,
    CaseSummary,
    FailedMessage,
    FailedReply,
    FiledVersion,
    FindingRecord,
    OutgoingMail,
    SpooledMessage,
    VersionRecord,
)
from store.addresses import address_key, domain_key
from store.db import SchemaMismatch
from store.repo import MAX_ATTEMPTS, Store

__all__ = [
    "MAX_ATTEMPTS", "SchemaMismatch", "address_key", "domain_key", "AttachmentRecord", "CaseFields", "CaseSummary",
    "FailedMessage", "FailedReply", "FiledVersion", "FindingRecord", "OutgoingMail",
    "SpooledMessage", "Store", "VersionRecord",
]
