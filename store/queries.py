"""Read-side queries and staff write actions over the stored cases (statistics, lists, review).

Everything a staff command shows is computed here with SQL aggregation, so it stays fast on tens
of thousands of cases and gives the same answers on SQLite and PostgreSQL. Results cross the store
boundary as frozen records; no ORM object leaves a session.

"Effective status" is the staff override when there is one, else the checks' verdict. Per-case
figures (photos, video length, failed findings) always describe the case's current version.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from email.utils import format_datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.orm import Session, aliased

from checks.domain import (ACCEPTED_STATUSES, AttachmentKind, CaseIdentity, FileRole, OutboxStatus, SubmissionStatus,
                           SubmitterKind)
from store.models import FILE_KINDS, Attachment, Case, Event, Finding, OutboxMail, Submission, utcnow
from store.repo import Store

UNKNOWN_PROVINCE = "未识别省份"
UNKNOWN_CATEGORY = "未识别类别"
UNKNOWN_KIND = "未识别"

# Case fields staff may correct; everything else is history (versions, files, findings).
CORRECTABLE_FIELDS = ("submitter_kind", "province", "city", "organization", "case_name", "category_no",
                      "category", "part")


def effective_status_column() -> ColumnElement[str]:
    """A case's effective status in SQL: a staff override wins over the checks' verdict."""
    return func.coalesce(Case.override_status, Case.status)


_LinkAtt = aliased(Attachment)  # the link row, beside the supplied-file rows of the same version


def _current_submission_join() -> ColumnElement[bool]:
    return and_(Submission.case_id == Case.id, Submission.version == Case.current_version)


# ---- statistics ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Count:
    """One row of a breakdown: a machine key (status code, category number, ISO date…), its
    Chinese label, and how many cases."""

    key: str
    label: str
    count: int


@dataclass(frozen=True)
class FailureReason:
    """A rule that failed in some cases' current versions: how many cases, and one of its messages."""

    rule: str
    clause: str
    severity: str
    cases: int
    example: str  # one of the messages, so staff see what the rule id means


@dataclass(frozen=True)
class Stats:
    """The campaign's statistics for ``intake stats`` and the console: totals by category, province, status, kind,
    day."""

    total: int
    by_category: tuple[Count, ...]
    by_province: tuple[Count, ...]
    by_status: tuple[Count, ...]
    by_submitter_kind: tuple[Count, ...]
    by_day: tuple[Count, ...]
    failure_reasons: tuple[FailureReason, ...]

    def to_json(self) -> dict[str, Any]:
        """The statistics as plain JSON values (``intake stats --format json``)."""
        def counts(rows: Sequence[Count]) -> list[dict[str, Any]]:
            return [{"key": r.key, "label": r.label, "count": r.count} for r in rows]

        return {
            "total": self.total,
            "by_category": counts(self.by_category),
            "by_province": counts(self.by_province),
            "by_status": counts(self.by_status),
            "by_submitter_kind": counts(self.by_submitter_kind),
            "by_day": counts(self.by_day),
            "failure_reasons": [{"rule": r.rule, "clause": r.clause, "severity": r.severity, "cases": r.cases,
                                 "example": r.example} for r in self.failure_reasons],
        }


def _hour_bucket(store: Store, column: Any) -> ColumnElement[str]:
    """The UTC hour of a timestamp as 'YYYY-MM-DD HH' on either database. Days are then taken in
    the campaign's time zone in Python: grouping by hour keeps the work in SQL (at most 24 groups
    a day) while staying exact for every zone whose offset is a whole number of hours."""
    if store.engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", column)


def _by_day(s: Session, store: Store, campaign_id: str, tz: tzinfo) -> tuple[Count, ...]:
    bucket = _hour_bucket(store, Case.first_received_at).label("bucket")
    rows = s.execute(select(bucket, func.count()).where(Case.campaign_id == campaign_id).group_by(bucket))
    per_day: dict[date, int] = defaultdict(int)
    for hour, n in rows:
        utc_hour = datetime.strptime(hour, "%Y-%m-%d %H").replace(tzinfo=timezone.utc)
        per_day[utc_hour.astimezone(tz).date()] += n
    return tuple(Count(d.isoformat(), f"{d.month}月{d.day}日", per_day[d]) for d in sorted(per_day))


def _failure_reasons(s: Session, campaign_id: str, limit: int | None) -> tuple[FailureReason, ...]:
    cases = func.count(func.distinct(Case.id)).label("cases")
    q = (select(Finding.rule, Finding.clause, Finding.severity, cases, func.min(Finding.message))
         .join(Submission, Submission.id == Finding.submission_id)
         .join(Case, _current_submission_join())
         .where(Case.campaign_id == campaign_id, Finding.passed == false())
         .group_by(Finding.rule, Finding.clause, Finding.severity)
         .order_by(cases.desc(), Finding.rule))
    if limit:
        q = q.limit(limit)
    return tuple(FailureReason(rule, clause, severity, n, example) for rule, clause, severity, n, example in s.execute(q))


def campaign_stats(store: Store, campaign_id: str, *, tz: tzinfo, top_reasons: int | None = 20) -> Stats:
    """Every breakdown `intake stats` shows, by GROUP BY queries (one round trip each). Quota overruns are
    worked out by the quota rule's own computation (``checks.rules.quota.Quota.overruns``), not here."""
    status = effective_status_column().label("st")
    with store.session() as s:
        in_campaign = Case.campaign_id == campaign_id
        total = s.scalar(select(func.count()).select_from(Case).where(in_campaign)) or 0
        categories = s.execute(select(Case.category_no, func.max(Case.category), func.count()).where(in_campaign)
                               .group_by(Case.category_no)).all()
        provinces = s.execute(select(Case.province, func.count()).where(in_campaign).group_by(Case.province)).all()
        statuses = s.execute(select(status, func.count()).where(in_campaign).group_by(status)).all()
        kinds = s.execute(select(Case.submitter_kind, func.count()).where(in_campaign)
                          .group_by(Case.submitter_kind)).all()
        by_day = _by_day(s, store, campaign_id, tz)
        reasons = _failure_reasons(s, campaign_id, top_reasons)
    status_order = {k: i for i, k in enumerate(SubmissionStatus.codes())}
    return Stats(
        total=total,
        by_category=tuple(Count("" if no is None else str(no), name or UNKNOWN_CATEGORY, n) for no, name, n in
                          sorted(categories, key=lambda r: (r[0] is None, r[0] or 0))),
        by_province=tuple(Count(p or "", p or UNKNOWN_PROVINCE, n) for p, n in
                          sorted(provinces, key=lambda r: (-r[1], r[0] is None, r[0] or ""))),
        by_status=tuple(Count(st, SubmissionStatus.label_of(st), n) for st, n in
                        sorted(statuses, key=lambda r: (status_order.get(r[0], 99), r[0]))),
        by_submitter_kind=tuple(Count(k or "", SubmitterKind.label_of(k, UNKNOWN_KIND), n)
                                for k, n in sorted(kinds, key=lambda r: (-r[1], r[0] or ""))),
        by_day=by_day,
        failure_reasons=reasons,
    )


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
         .outerjoin(Submission, _current_submission_join())
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
         .join(Submission, _current_submission_join())
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
class AttachmentRow:
    """One stored file or link of a version, as the case page shows it."""

    id: int
    name: str
    role: str
    kind: str
    size: int
    sha256: str | None
    stored_path: str | None
    archive: str | None
    url: str | None
    expires_at: datetime | None
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FindingRow:
    """One rule's result on a version, as the case page shows it."""

    rule: str
    clause: str
    severity: str
    passed: bool
    message: str
    fix: str
    file: str | None


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
            atts[a.submission_id].append(AttachmentRow(a.id, a.name, a.role, a.kind, a.size, a.sha256, a.stored_path,
                                                       a.archive, a.url, a.expires_at, dict(a.facts or {})))
        finds: dict[int, list[FindingRow]] = defaultdict(list)
        for f in s.scalars(select(Finding).where(Finding.submission_id.in_(sub_ids)).order_by(Finding.id)):
            finds[f.submission_id].append(FindingRow(f.rule, f.clause, f.severity, f.passed, f.message, f.fix,
                                                     f.file))
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
         .join(Submission, _current_submission_join())
         .join(Attachment, Attachment.submission_id == Submission.id)
         .where(Case.campaign_id == campaign_id, effective_status_column().in_(list(statuses)),
                Attachment.kind.in_(FILE_KINDS))
         .order_by(Case.category_no, Case.province, Case.id, Attachment.id))
    with store.session() as s:
        return [CaseFile(no or "", cat_no, cat, prov, org, name, aname, path, size, sha)
                for no, cat_no, cat, prov, org, name, aname, path, size, sha in s.execute(q)]


# ---- staff write actions ------------------------------------------------------------------------

@dataclass(frozen=True)
class OverrideResult:
    """A staff override: the case's effective status before and after."""

    case_no: str
    previous: str  # effective status before
    current: str  # effective status after


def override_status(store: Store, campaign_id: str, case_ref: str, status: str | None, reason: str, *,
                    actor: str) -> OverrideResult:
    """Set (or with status None, clear) the staff verdict of a case, with a reason, in the event log."""
    if status is not None and status not in SubmissionStatus.codes():
        raise ValueError(f"状态只能是 {'、'.join(SubmissionStatus.codes())} 之一，收到 {status!r}")
    if not reason.strip():
        raise ValueError("请写明改判理由")
    with store.session() as s, s.begin():
        case = s.get_one(Case, resolve_case_id(s, campaign_id, case_ref))
        before = case.effective_status
        case.override_status = status
        case.override_reason = reason.strip() if status is not None else None
        case.updated_at = utcnow()
        s.add(Event(campaign_id=campaign_id, actor=actor,
                    action="case.override" if status is not None else "case.override_cleared",
                    case_id=case.id, detail={"from": before, "to": case.effective_status, "reason": reason.strip()}))
        return OverrideResult(case.case_no or "", before, case.effective_status)


def correct_fields(store: Store, campaign_id: str, case_ref: str, changes: Mapping[str, Any], *,
                   actor: str) -> dict[str, tuple[Any, Any]]:
    """Correct parsed fields of a case (province, unit, case name, category…). Returns field →
    (old, new) for what really changed; nothing changed means no event."""
    unknown = sorted(set(changes) - set(CORRECTABLE_FIELDS))
    if unknown:
        raise ValueError(f"不能修改的字段：{'、'.join(unknown)}")
    with store.session() as s, s.begin():
        case = s.get_one(Case, resolve_case_id(s, campaign_id, case_ref))
        changed: dict[str, tuple[Any, Any]] = {}
        for key, new in changes.items():
            old = getattr(case, key)
            if old != new:
                changed[key] = (old, new)
                setattr(case, key, new)
        if changed:
            case.updated_at = utcnow()
            s.add(Event(campaign_id=campaign_id, actor=actor, action="case.fields_corrected", case_id=case.id,
                        detail={k: [old, new] for k, (old, new) in changed.items()}))
        return changed


def review_queue(store: Store, campaign_id: str, *, tz: tzinfo = timezone.utc) -> list[CaseRow]:
    """Cases waiting for a person (effective status needs_review), earliest first."""
    return list_cases(store, campaign_id, CaseFilter(status=SubmissionStatus.NEEDS_REVIEW), tz=tz)


def current_message_row(store: Store, campaign_id: str, case_ref: str) -> tuple[str, int]:
    """(case number, message row id) of a case's current version: what a recheck re-reads."""
    with store.session() as s:
        case = s.get_one(Case, resolve_case_id(s, campaign_id, case_ref))
        mid = s.scalar(select(Submission.message_row_id).where(Submission.case_id == case.id,
                                                              Submission.version == case.current_version))
        if mid is None:
            raise LookupError(f"案例 {case.case_no} 没有已入库的版本")
        return case.case_no or "", mid


@dataclass(frozen=True)
class QueuedResend:
    """A reply queued again: the original outbox row, the new one and its fresh Message-ID."""

    case_no: str
    original_outbox_id: int
    new_outbox_id: int
    kind: str
    recipient: str
    message_id: str


_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _replace_header(head: bytes, name: bytes, value: bytes) -> bytes:
    """Replace one header (with its folded continuation lines) in a raw header block."""
    pattern = re.compile(rb"^" + re.escape(name) + rb":[^\n]*\n(?:[ \t][^\n]*\n)*", re.IGNORECASE | re.MULTILINE)
    eol = b"\r\n" if b"\r\n" in head else b"\n"
    line = name + b": " + value + eol
    if pattern.search(head + eol):
        return pattern.sub(lambda _m: line, head + eol, count=1)[: -len(eol)]
    return line + head


def resend_reply(store: Store, campaign_id: str, case_ref: str, *, outbox_id: int | None = None,
                 actor: str) -> QueuedResend:
    """Queue again one reply of a case (the newest one, or the chosen outbox id), e.g. after a
    bounce or when staff release a reply that was held back. The copy gets a fresh Message-ID and
    Date, so mail systems that drop duplicate Message-IDs still deliver it; the daemon sends it."""
    with store.session() as s, s.begin():
        case_id = resolve_case_id(s, campaign_id, case_ref)
        q = select(OutboxMail).where(OutboxMail.case_id == case_id)
        q = q.where(OutboxMail.id == outbox_id) if outbox_id is not None else q.order_by(OutboxMail.id.desc())
        original = s.scalars(q.limit(1)).first()
        if original is None:
            raise LookupError("这个案例没有可重发的回执" if outbox_id is None else f"这个案例没有编号为 {outbox_id} 的回执")
        copies = s.scalar(select(func.count()).select_from(OutboxMail)
                          .where(OutboxMail.message_id.like(f"<resend%.{original.message_id.strip('<>')}>"))) or 0
        new_id = f"<resend{copies + 1}.{original.message_id.strip('<>')}>"
        match = _HEADER_END.search(original.raw)
        head, body = (original.raw[:match.start()], original.raw[match.start():]) if match else (original.raw, b"")
        head = _replace_header(head, b"Message-ID", new_id.encode("ascii"))
        head = _replace_header(head, b"Date", format_datetime(utcnow()).encode("ascii"))
        row = OutboxMail(campaign_id=campaign_id, message_id=new_id, case_id=case_id, kind=original.kind,
                         recipient=original.recipient, subject=original.subject, raw=head + body, status=OutboxStatus.PENDING,
                         recipient_key=original.recipient_key, automatic=False)
        s.add(row)
        s.flush()
        case_no = s.scalar(select(Case.case_no).where(Case.id == case_id)) or ""
        s.add(Event(campaign_id=campaign_id, actor=actor, action="mail.resend_requested", case_id=case_id,
                    detail={"outbox_id": original.id, "new_outbox_id": row.id, "kind": original.kind,
                            "to": original.recipient, "message_id": new_id}))
        return QueuedResend(case_no, original.id, row.id, original.kind, original.recipient, new_id)


# ---- large-attachment links awaiting download ---------------------------------------------------

@dataclass(frozen=True)
class PendingLink:
    """A 163 超大附件 / QQ 文件中转站 link of a case's current version whose file nobody has added yet."""

    case_no: str
    case_name: str | None
    sender: str
    name: str
    url: str
    size: int
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        """Whether the link's download has expired at ``now``."""
        return self.expires_at <= now


def pending_links(store: Store, campaign_id: str, *, within_days: int, now: datetime | None = None,
                  include_expired: bool = True) -> list[PendingLink]:
    """Links expiring within ``within_days`` (soonest first) whose file is not part of the case yet: staff must
    download them before the webmail deletes the file. Expired ones are listed too unless ``include_expired``
    is false (an alert mail names only what can still be saved)."""
    now = now or utcnow()
    supplied = (select(Attachment.id).where(Attachment.submission_id == Submission.id,
                                            Attachment.kind == "supplied", Attachment.url == _LinkAtt.url)
                .correlate(Submission, _LinkAtt).exists())
    q = (select(Case.case_no, Case.case_name, Case.sender, _LinkAtt.name, _LinkAtt.url, _LinkAtt.size,
                _LinkAtt.expires_at)
         .join(Submission, _current_submission_join())
         .join(_LinkAtt, _LinkAtt.submission_id == Submission.id)
         .where(Case.campaign_id == campaign_id, _LinkAtt.kind == AttachmentKind.LINK, _LinkAtt.expires_at.is_not(None),
                _LinkAtt.expires_at <= now + timedelta(days=within_days), ~supplied)
         .order_by(_LinkAtt.expires_at, Case.id))
    if not include_expired:
        q = q.where(_LinkAtt.expires_at > now)
    with store.session() as s:
        return [PendingLink(no or "", name, sender, lname, url or "", size or 0, expires)
                for no, name, sender, lname, url, size, expires in s.execute(q) if expires is not None]
