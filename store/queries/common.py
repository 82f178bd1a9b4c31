"""What the staff queries share: the effective status in SQL, the current version's join, the names
of unknown values and the fields staff may correct."""

from __future__ import annotations


from sqlalchemy import ColumnElement, String, and_, literal_column
from sqlalchemy.orm import aliased

from store.models import Attachment, Case, Submission
from store.queries.names import UNKNOWN_CATEGORY, UNKNOWN_KIND, UNKNOWN_PROVINCE
from store.queries.stats import effective_status_sql

__all__ = ["UNKNOWN_CATEGORY", "UNKNOWN_KIND", "UNKNOWN_PROVINCE", "CORRECTABLE_FIELDS", "effective_status_column",
           "LinkAttachment", "current_submission_join"]

# Case fields staff may correct; everything else is history (versions, files, findings).
CORRECTABLE_FIELDS = ("submitter_kind", "province", "city", "organization", "case_name", "category_no",
                      "category", "part")


def effective_status_column() -> ColumnElement[str]:
    """A case's effective status for an ORM query over ``cases``: the plain SQL of
    ``store.queries.stats.effective_status_sql`` (a staff override wins over the checks' verdict), said once."""
    return literal_column(effective_status_sql(Case.__tablename__), String)


LinkAttachment = aliased(Attachment)  # the link row, beside the supplied-file rows of the same version


def current_submission_join() -> ColumnElement[bool]:
    """Joins a case to the submission of its current version."""
    return and_(Submission.case_id == Case.id, Submission.version == Case.current_version)
