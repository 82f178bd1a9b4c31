"""Persistence for case-intake: SQLAlchemy models, migrations and the repository.

Names are loaded when first used (PEP 562): ``store.records``, ``store.reader`` and ``store.queries.stats`` are
light, and a read-only command that needs only them (``intake stats`` on SQLite) must not pay for SQLAlchemy's
ORM (about 0.2 s of CPU) just by importing this package.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from store.addresses import address_key, domain_key
    from store.reader import SchemaMismatch
    from store.records import (AttachmentRecord, CaseFields, CaseSummary, FailedMessage, FailedReply, FiledVersion,
                               FindingRecord, OutgoingMail, SpooledMessage, VersionRecord)
    from store.repo import MAX_ATTEMPTS, Store

_WHERE = {
    **dict.fromkeys(("AttachmentRecord", "CaseFields", "CaseSummary", "FailedMessage", "FailedReply", "FiledVersion",
                     "FindingRecord", "OutgoingMail", "SpooledMessage", "VersionRecord"), "store.records"),
    "address_key": "store.addresses", "domain_key": "store.addresses",
    "SchemaMismatch": "store.reader",
    "MAX_ATTEMPTS": "store.repo", "Store": "store.repo",
}

__all__ = [
    "MAX_ATTEMPTS", "SchemaMismatch", "address_key", "domain_key", "AttachmentRecord", "CaseFields", "CaseSummary",
    "FailedMessage", "FailedReply", "FiledVersion", "FindingRecord", "OutgoingMail",
    "SpooledMessage", "Store", "VersionRecord",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'store' has no attribute {name!r}")
    value = getattr(import_module(_WHERE[name]), name)
    globals()[name] = value  # looked up once
    return value
