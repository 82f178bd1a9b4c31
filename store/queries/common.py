"""What the staff queries share: the effective status in SQL, the current version's join, the names
of unknown values and the fields staff may correct."""

from __future__ import annotations


from sqlalchemy import ColumnElement, and_, func
from sqlalchemy.orm import aliased

from store.models import Attachment, Case, Submission

UNKNOWN_PROVINCE = "未识别省份"
UNKNOWN_CATEGORY = "未识别类别"
UNKNOWN_KIND = "未识别"

# Case fields staff may correct; everything else is history (versions, files, findings).
CORRECTABLE_FIELDS = ("submitter_kind", "province", "city", "organization", "case_name", "category_no",
                      "category", "part")


def effective_status_column() -> ColumnElement[str]:
    """A case's effective status in SQL: a staff override wins over the checks' verdict."""
    return func.coalesce(Case.override_status, Case.status)


LinkAttachment = aliased(Attachment)  # the link row, beside the supplied-file rows of the same version


def current_submission_join() -> ColumnElement[bool]:
    """Joins a case to the submission of its current version."""
    return and_(Submission.case_id == Case.id, Submission.version == Case.current_version)
