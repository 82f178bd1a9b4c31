"""Read-side queries and staff write actions over the stored cases (statistics, lists, review).

Everything a staff command shows is computed here with SQL aggregation, so it stays fast on tens
of thousands of cases and gives the same answers on SQLite and PostgreSQL. Results cross the store
boundary as frozen records; no ORM object leaves a session.

"Effective status" is the staff override when there is one, else the checks' verdict. Per-case
figures (photos, video length, failed findings) always describe the case's current version.

Names are loaded when first used (PEP 562): the statistics (``store.queries.stats``) and the lists
(``store.queries.lists``) are plain SQL that runs without SQLAlchemy for ``intake stats`` and ``intake export
--xlsx``; the case view and the actions load the ORM.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from store.queries.actions import (OverrideResult, PendingLink, QueuedResend, correct_fields,
                                       current_message_row, override_status, pending_links, resend_reply,
                                       review_queue)
    from store.queries.cases import (AttachmentRow, CaseDetail, CaseFile, EventRow, FindingRow, MailRow, VersionRow,
                                     accepted_case_files, campaign_of_case, case_detail, resolve_case_id)
    from store.queries.common import (CORRECTABLE_FIELDS, LinkAttachment, current_submission_join,
                                      effective_status_column)
    from store.queries.lists import CaseFilter, CaseRow, count_cases, failed_findings_by_case, list_cases
    from store.queries.names import UNKNOWN_CATEGORY, UNKNOWN_KIND, UNKNOWN_PROVINCE
    from store.queries.stats import Count, FailureReason, Stats, campaign_stats

__all__ = [
    "UNKNOWN_PROVINCE", "UNKNOWN_CATEGORY", "UNKNOWN_KIND", "CORRECTABLE_FIELDS", "effective_status_column",
    "LinkAttachment", "current_submission_join", "Count", "FailureReason", "Stats", "campaign_stats",
    "CaseFilter", "CaseRow", "list_cases", "count_cases", "failed_findings_by_case", "AttachmentRow",
    "FindingRow", "VersionRow", "MailRow", "EventRow", "CaseDetail", "resolve_case_id", "campaign_of_case",
    "case_detail", "CaseFile", "accepted_case_files", "OverrideResult", "override_status", "correct_fields",
    "review_queue", "current_message_row", "QueuedResend", "resend_reply", "PendingLink", "pending_links",
]

_MODULES = ("names", "stats", "lists", "common", "cases", "actions")  # the light ones first


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'store.queries' has no attribute {name!r}")
    for module in _MODULES:
        found = import_module(f"store.queries.{module}")
        if hasattr(found, name):
            globals()[name] = value = getattr(found, name)
            return value
    raise AttributeError(name)
