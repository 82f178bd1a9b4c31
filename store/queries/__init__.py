"""Read-side queries and staff write actions over the stored cases (statistics, lists, review).

Everything a staff command shows is computed here with SQL aggregation, so it stays fast on tens
of thousands of cases and gives the same answers on SQLite and PostgreSQL. Results cross the store
boundary as frozen records; no ORM object leaves a session.

"Effective status" is the staff override when there is one, else the checks' verdict. Per-case
figures (photos, video length, failed findings) always describe the case's current version.
"""

from store.queries.common import (
    UNKNOWN_PROVINCE, UNKNOWN_CATEGORY, UNKNOWN_KIND, CORRECTABLE_FIELDS, effective_status_column,
    LinkAttachment, current_submission_join,
)
from store.queries.stats import (
    Count, FailureReason, Stats, campaign_stats,
)
from store.queries.cases import (
    CaseFilter, CaseRow, list_cases, count_cases, failed_findings_by_case, AttachmentRow, FindingRow,
    VersionRow, MailRow, EventRow, CaseDetail, resolve_case_id, campaign_of_case, case_detail, CaseFile,
    accepted_case_files,
)
from store.queries.actions import (
    OverrideResult, override_status, correct_fields, review_queue, current_message_row, QueuedResend,
    resend_reply, PendingLink, pending_links,
)

__all__ = [
    "UNKNOWN_PROVINCE", "UNKNOWN_CATEGORY", "UNKNOWN_KIND", "CORRECTABLE_FIELDS", "effective_status_column",
    "LinkAttachment", "current_submission_join", "Count", "FailureReason", "Stats", "campaign_stats",
    "CaseFilter", "CaseRow", "list_cases", "count_cases", "failed_findings_by_case", "AttachmentRow",
    "FindingRow", "VersionRow", "MailRow", "EventRow", "CaseDetail", "resolve_case_id", "campaign_of_case",
    "case_detail", "CaseFile", "accepted_case_files", "OverrideResult", "override_status", "correct_fields",
    "review_queue", "current_message_row", "QueuedResend", "resend_reply", "PendingLink", "pending_links",
]
