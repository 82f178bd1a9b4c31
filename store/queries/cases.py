"""Lists of cases with their per-case figures, one case in full, and the accepted cases' files."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from checks.domain import ACCEPTED_STATUSES
from store.models import FILE_KINDS, Attachment, Case, Event, Finding, OutboxMail, Submission
from store.records import AttachmentRecord, FindingRecord
from store.repo import Store
from store.queries.common import current_submission_join, effective_status_column
from store.queries.lists import (CaseFilter, CaseRow, count_cases, failed_findings_by_case, list_cases,  # noqa: F401
                                 rows_for_ids)

# ---- lists: plain SQL in store.queries.lists (CaseFilter, CaseRow, list_cases, count_cases, failed findings) ---

# ---- one case -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AttachmentRow(AttachmentRecord):
    """One stored file or link of a version, as the case page shows it: the record as it was filed plus the row's
    id, which the page's download link names (a record about to be filed has no id yet; that is all they differ
    in)."""

    id: int = field(kw_only=True)


# One rule's result on a version, as the case page shows it: the finding as it was filed (nothing links to a
# single finding, so the page needs no id), the same type.
FindingRow = FindingRecord


@dataclass(frozen=True)
class VersionRow:
    """One version of a case (one mail): its status, files and findings."""

    version: int
    submission_id: int
    message_row_id: int
    received_at: datetime
    raw_subject: str | None
    status: str
    attachments: tuple[AttachmentRow, ...]
    findings: tuple[FindingRow, ...]


@dataclass(frozen=True)
class MailRow:
    """One mail we sent or queued about a case (receipt, rejection, reminder)."""

    id: int
    kind: str
    recipient: str
    subject: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None
    message_id: str


@dataclass(frozen=True)
class EventRow:
    """One entry of a case's history (who did what, when)."""

    at: datetime
    actor: str
    action: str
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class CaseDetail:
    """Everything the case page shows: the case, its versions, the mails sent and its history."""

    case: CaseRow
    versions: tuple[VersionRow, ...]
    mails: tuple[MailRow, ...]
    events: tuple[EventRow, ...]


def resolve_case_id(s: Session, campaign_id: str, case_ref: str) -> int:
    """A case number (JCJY2025-000012), or the bare number (12 / 000012) staff type in a hurry."""
    ref = case_ref.strip()
    found = s.scalar(select(Case.id).where(Case.campaign_id == campaign_id, Case.case_no == ref))
    if found is None and ref.isdigit():
        found = s.scalar(select(Case.id).where(Case.campaign_id == campaign_id, Case.id == int(ref)))
    if found is None:
        raise LookupError(f"没有受理编号为 {ref} 的案例")
    return found


def campaign_of_case(store: Store, case_ref: str, campaign_ids: Sequence[str]) -> str | None:
    """Which of these campaigns holds the case (a case number is unique across campaigns; a bare number is looked
    up in each in turn)."""
    with store.session() as s:
        for campaign_id in campaign_ids:
            try:
                resolve_case_id(s, campaign_id, case_ref)
            except LookupError:
                continue
            return campaign_id
    return None


def case_detail(store: Store, campaign_id: str, case_ref: str) -> CaseDetail:
    """Everything about one case: fields, every version with its files and findings, the mails
    sent for it and its event log. Raises LookupError for an unknown case."""
    with store.session() as s:
        case_id = resolve_case_id(s, campaign_id, case_ref)
    [row] = rows_for_ids(store, campaign_id, [case_id])
    with store.session() as s:
        subs = s.execute(select(Submission.id, Submission.version, Submission.message_row_id,
                                Submission.received_at, Submission.raw_subject, Submission.status)
                         .where(Submission.case_id == case_id).order_by(Submission.version)).all()
        sub_ids = [r[0] for r in subs]
        atts: dict[int, list[AttachmentRow]] = defaultdict(list)
        for a in s.scalars(select(Attachment).where(Attachment.submission_id.in_(sub_ids)).order_by(Attachment.id)):
            atts[a.submission_id].append(AttachmentRow(
                id=a.id, name=a.name, role=a.role, kind=a.kind, size=a.size, sha256=a.sha256,
                stored_path=a.stored_path, archive=a.archive, url=a.url, expires_at=a.expires_at,
                facts=dict(a.facts or {})))
        finds: dict[int, list[FindingRow]] = defaultdict(list)
        for f in s.scalars(select(Finding).where(Finding.submission_id.in_(sub_ids)).order_by(Finding.id)):
            finds[f.submission_id].append(FindingRow(f.rule, f.clause, f.severity, f.passed, f.message, f.fix,
                                                     f.file, dict(f.evidence or {})))
        mails = tuple(MailRow(m.id, m.kind, m.recipient, m.subject, m.status, m.attempts, m.created_at, m.sent_at,
                              m.last_error, m.message_id)
                      for m in s.scalars(select(OutboxMail).where(OutboxMail.case_id == case_id)
                                         .order_by(OutboxMail.id)))
        events = tuple(EventRow(e.at, e.actor, e.action, dict(e.detail or {}))
                       for e in s.scalars(select(Event).where(Event.case_id == case_id)
                                          .order_by(Event.at, Event.id)))
    versions = tuple(VersionRow(version=v, submission_id=sid, message_row_id=mid, received_at=at, raw_subject=subj,
                                status=st, attachments=tuple(atts.get(sid, ())), findings=tuple(finds.get(sid, ())))
                     for sid, v, mid, at, subj, st in subs)
    return CaseDetail(case=row, versions=versions, mails=mails, events=events)


# ---- files for the expert panel -----------------------------------------------------------------

@dataclass(frozen=True)
class CaseFile:
    """One stored file of an accepted case, with the case fields the export folders are named by."""

    case_no: str
    category_no: int | None
    category: str | None
    province: str | None
    organization: str | None
    case_name: str | None
    name: str  # original name (path inside an archive joined by "/")
    stored_path: str | None
    size: int
    sha256: str | None


def accepted_case_files(store: Store, campaign_id: str,
                        statuses: Sequence[str] = ACCEPTED_STATUSES) -> list[CaseFile]:
    """The stored files of the current version of every case whose effective status is one of
    `statuses` (accepted ones by default): what the expert panel receives."""
    q = (select(Case.case_no, Case.category_no, Case.category, Case.province, Case.organization, Case.case_name,
                Attachment.name, Attachment.stored_path, Attachment.size, Attachment.sha256)
         .join(Submission, current_submission_join())
         .join(Attachment, Attachment.submission_id == Submission.id)
         .where(Case.campaign_id == campaign_id, effective_status_column().in_(list(statuses)),
                Attachment.kind.in_(FILE_KINDS))
         .order_by(Case.category_no, Case.province, Case.id, Attachment.id))
    with store.session() as s:
        return [CaseFile(no or "", cat_no, cat, prov, org, name, aname, path, size, sha)
                for no, cat_no, cat, prov, org, name, aname, path, size, sha in s.execute(q)]
