"""What staff do to a case (override, correct, resend) and the large-attachment links awaiting download."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from email.utils import format_datetime
from typing import Any, Mapping

from sqlalchemy import func, select

from checks.domain import (AttachmentKind, OutboxStatus, SubmissionStatus)
from store.models import Attachment, Case, Event, OutboxMail, Submission, utcnow
from store.repo import Store
from store.queries.cases import CaseFilter, CaseRow, list_cases, resolve_case_id
from store.queries.common import CORRECTABLE_FIELDS, LinkAttachment, current_submission_join

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
                                            Attachment.kind == "supplied", Attachment.url == LinkAttachment.url)
                .correlate(Submission, LinkAttachment).exists())
    q = (select(Case.case_no, Case.case_name, Case.sender, LinkAttachment.name, LinkAttachment.url, LinkAttachment.size,
                LinkAttachment.expires_at)
         .join(Submission, current_submission_join())
         .join(LinkAttachment, LinkAttachment.submission_id == Submission.id)
         .where(Case.campaign_id == campaign_id, LinkAttachment.kind == AttachmentKind.LINK, LinkAttachment.expires_at.is_not(None),
                LinkAttachment.expires_at <= now + timedelta(days=within_days), ~supplied)
         .order_by(LinkAttachment.expires_at, Case.id))
    if not include_expired:
        q = q.where(LinkAttachment.expires_at > now)
    with store.session() as s:
        return [PendingLink(no or "", name, sender, lname, url or "", size or 0, expires)
                for no, name, sender, lname, url, size, expires in s.execute(q) if expires is not None]
