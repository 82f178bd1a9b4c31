"""Lists of cases with their per-case figures, one case in full, and the accepted cases' files."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, Mapping, Sequence

from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.orm import Session

from checks.domain import (ACCEPTED_STATUSES, CaseIdentity, FileRole, SubmissionStatus)
from store.models import FILE_KINDS, Attachment, Case, Event, Finding, OutboxMail, Submission
from store.records import AttachmentRecord, FindingRecord
from store.repo import Store
from store.queries.common import current_submission_join, effective_status_column

# ---- lists --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CaseFilter:
    """What `intake list` narrows by; every field is optional and they combine with AND."""

    status: str | None = None  # effective status code
    category_no: int | None = None
    category_text: str | None = None  # part of the category name (when no number is given)
    region: str | None = None  # part of the province or city name
    submitter_kind: str | None = None
    received_from: date | None = None  # local dates, inclusive
    received_to: date | None = None
    text: str | None = None  # part of the case name or the unit
    case_nos: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseRow:
    """One case as staff lists show it: identity, effective and checked status, versions, dates."""

    case_id: int
    case_no: str
    status: str  # effective
    checked_status: str  # the checks' verdict, before any override
    override_reason: str | None
    identity: CaseIdentity
    sender: str
    first_received_at: datetime
    last_received_at: datetime
    current_version: int
    subject_confidence: float
    subject_reasons: tuple[str, ...]
    photos: int
    video_seconds: float | None
    failed_findings: int

    @property
    def status_label(self) -> str:
        """The effective status in Chinese."""
        return SubmissionStatus.label_of(self.status)


def _per_case_figures() -> tuple[Any, Any, Any]:
    """Photos, longest video and failed findings of the current version, as correlated subqueries
    over the submission_id indexes (0002). Unlike joins to whole-table aggregates, these keep one
    cheap plan even when PostgreSQL has no statistics yet (right after a bulk import an unanalysed
    database chose a nested loop over aggregates: minutes instead of milliseconds)."""
    photos = (select(func.count()).select_from(Attachment)
              .where(Attachment.submission_id == Submission.id, Attachment.role == FileRole.PHOTO,
                     Attachment.kind.in_(FILE_KINDS))
              .correlate(Submission).scalar_subquery())
    video = (select(func.max(Attachment.facts[("video", "duration_s")].as_float()))
             .where(Attachment.submission_id == Submission.id, Attachment.role == FileRole.VIDEO)
             .correlate(Submission).scalar_subquery())
    failed = (select(func.count()).select_from(Finding)
              .where(Finding.submission_id == Submission.id, Finding.passed == false())
              .correlate(Submission).scalar_subquery())
    return photos, video, failed


def _case_rows_query(campaign_id: str, filt: CaseFilter, tz: tzinfo) -> Select[Any]:
    photos, video, failed = _per_case_figures()
    status = effective_status_column()
    # Column order is what _case_row reads.
    columns: list[Any] = [
        Case.id, Case.case_no, status, Case.status, Case.override_reason, Case.submitter_kind, Case.province,
        Case.city, Case.organization, Case.case_name, Case.category_no, Case.category, Case.sender,
        Case.first_received_at, Case.last_received_at, Case.current_version, Case.subject_confidence,
        Case.subject_reasons, func.coalesce(photos, 0), video, func.coalesce(failed, 0)]
    q = (select(*columns)
         .outerjoin(Submission, current_submission_join())
         .where(Case.campaign_id == campaign_id))
    if filt.status:
        q = q.where(status == filt.status)
    if filt.category_no is not None:
        q = q.where(Case.category_no == filt.category_no)
    if filt.category_text:
        q = q.where(Case.category.icontains(filt.category_text.strip(), autoescape=True))
    if filt.region:
        needle = filt.region.strip()
        q = q.where(or_(Case.province.icontains(needle, autoescape=True),
                        Case.city.icontains(needle, autoescape=True)))
    if filt.submitter_kind:
        q = q.where(Case.submitter_kind == filt.submitter_kind)
    if filt.received_from:
        q = q.where(Case.first_received_at >= datetime.combine(filt.received_from, time(), tzinfo=tz))
    if filt.received_to:
        end = datetime.combine(filt.received_to + timedelta(days=1), time(), tzinfo=tz)
        q = q.where(Case.first_received_at < end)
    if filt.text:
        needle = filt.text.strip()
        q = q.where(or_(Case.case_name.icontains(needle, autoescape=True),
                        Case.organization.icontains(needle, autoescape=True)))
    if filt.case_nos:
        q = q.where(Case.case_no.in_(list(filt.case_nos)))
    return q


def _case_row(r: Any) -> CaseRow:
    return CaseRow(case_id=r[0], case_no=r[1] or "", status=r[2], checked_status=r[3], override_reason=r[4],
                   identity=CaseIdentity(*r[5:12]), sender=r[12], first_received_at=r[13],
                   last_received_at=r[14], current_version=r[15], subject_confidence=r[16],
                   subject_reasons=tuple(r[17] or ()), photos=int(r[18]),
                   video_seconds=float(r[19]) if r[19] is not None else None, failed_findings=int(r[20]))


def list_cases(store: Store, campaign_id: str, filt: CaseFilter = CaseFilter(), *, tz: tzinfo = timezone.utc,
               limit: int | None = None, offset: int = 0) -> list[CaseRow]:
    """Cases matching the filter, earliest received first."""
    q = _case_rows_query(campaign_id, filt, tz).order_by(Case.first_received_at, Case.id).offset(offset)
    if limit:
        q = q.limit(limit)
    with store.session() as s:
        return [_case_row(r) for r in s.execute(q)]


def count_cases(store: Store, campaign_id: str, filt: CaseFilter = CaseFilter(), *,
                tz: tzinfo = timezone.utc) -> int:
    """How many cases match the filter (the list's total, without loading the rows)."""
    q = _case_rows_query(campaign_id, filt, tz).subquery()
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(q)) or 0


def failed_findings_by_case(store: Store, campaign_id: str,
                            case_ids: Sequence[int] | None = None) -> dict[int, list[tuple[str, str, str]]]:
    """Case id → (severity, clause, message) of the failed findings of its current version."""
    q = (select(Case.id, Finding.severity, Finding.clause, Finding.message)
         .join(Submission, current_submission_join())
         .join(Finding, Finding.submission_id == Submission.id)
         .where(Case.campaign_id == campaign_id, Finding.passed == false())
         .order_by(Case.id, Finding.id))
    if case_ids is not None:
        q = q.where(Case.id.in_(list(case_ids)))
    out: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    with store.session() as s:
        for case_id, severity, clause, message in s.execute(q):
            out[case_id].append((severity, clause, message))
    return dict(out)


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
    [row] = _rows_for_ids(store, campaign_id, [case_id])
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


def _rows_for_ids(store: Store, campaign_id: str, case_ids: Sequence[int]) -> list[CaseRow]:
    q = _case_rows_query(campaign_id, CaseFilter(), timezone.utc).where(Case.id.in_(list(case_ids)))
    with store.session() as s:
        return [_case_row(r) for r in s.execute(q.order_by(Case.id))]


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
