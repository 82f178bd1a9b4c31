"""What the staff queries share: the effective status in SQL, the current version's join, the names
of unknown values and the fields staff may correct."""

from __future__ import annotations


from sqlalchemy import ColumnElement, and_, func
from sqlalchemy.orm import aliased

from store.models import Attachment, Case, Submission
from store.queries.names import UNKNOWN_CATEGORY, UNKNOWN_KIND, UNKNOWN_PROVINCE

__all__ = ["UNKNOWN_CATEGORY", "UNKNOWN_KIND", "UNKNOWN_PROVINCE", "CORRECTABLE_FIELDS", "effective_status_column",
           "LinkAttachment", "current_submission_join"]

# Case fields staff may correct; everything else is history (versions, files, findings).
CORRECTABLE_FIELDS = ("submitter_kind", "province", "city", "organization", "case_name", "category_no",
                      "category", "part")


def effective_status_column() -> ColumnElement[str]:
    """A case's effective status in SQL: a staff override wins over the checks' verdict (the statistics' plain
    SQL says the same in ``store.queries.stats.effective_status_sql``)."""
    return func.coalesce(Case.override_status, Case.status)


LinkAttachment = aliased(Attachment)  # the link row, beside the supplied-file rows of the same version


def current_submission_join() -> ColumnElement[bool]:
    """Joins a case to the submission of its current version."""
    return and_(Submission.case_id == Case.id, Submission.version == Case.current_version)
