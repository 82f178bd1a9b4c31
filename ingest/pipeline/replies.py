"""Turning an analysis into stored records (``version_record``) and queued replies (receipt, rejection,
needs-review, batch): rendered from ingest/pipeline/reply_context.py, held back by the reply limits, put in the
outbox with a deterministic Message-ID so a reply is queued at most once."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from checks.domain import OutboxStatus, ReplyKind, SubmissionStatus
from ingest.mail.hygiene import answer_address
from ingest.mail.mime import ParsedMail
from ingest.pipeline.reply_context import batch_context, build_context, foreign_cases
from ingest.pipeline.values import Analysis
from notify.mailer import UnencodableMessage, build_message, domain_of, make_message_id
from store import CaseFields, CaseSummary, FiledVersion, FindingRecord, AttachmentRecord, SpooledMessage, VersionRecord

if TYPE_CHECKING:
    from ingest.runtime import Runtime

# The daemon's reply to each verdict.
KIND_BY_STATUS: Mapping[str, ReplyKind] = {
    SubmissionStatus.ACCEPTED: ReplyKind.RECEIPT,
    SubmissionStatus.ACCEPTED_WITH_WARNINGS: ReplyKind.RECEIPT,
    SubmissionStatus.REJECTED: ReplyKind.REJECTION,
    SubmissionStatus.NEEDS_REVIEW: ReplyKind.NEEDS_REVIEW,
}


def _facts_json(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    data = asdict(obj)

    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if k != "text"}  # full texts stay in the files
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v][:200]
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, (str, int, float, bool)) or v is None:
            return v
        return str(v)

    return clean(data)


def version_record(msg: SpooledMessage, mail: ParsedMail, analysis: Analysis, campaign_id: str,
                   case_id: int | None, batch_index: int = 0) -> VersionRecord:
    """What the store files for one analysed case: fields cut to their columns, files with their facts, findings."""
    s = analysis.subject
    return VersionRecord(
        message_row_id=msg.id,
        campaign_id=campaign_id,
        sender=mail.from_addr or "",
        received_at=analysis.received_at,
        raw_subject=mail.subject,
        # Cut to the columns' sizes (PostgreSQL refuses longer values, SQLite does not: a stranger's 1,000
        # character subject must not fail the mail on one database only).
        fields=CaseFields(identity=replace(s.identity, province=_cap(s.province, 64), city=_cap(s.city, 128),
                                           organization=_cap(s.organization, 255), category=_cap(s.category, 128)),
                          part=_cap(s.part, 20), confidence=s.confidence, reasons=tuple(s.reasons)),
        status=analysis.status,
        attachments=tuple(
            AttachmentRecord(name=f.name, role=f.role, size=f.size, sha256=f.sha256,
                             stored_path=str(f.path) if f.path else None, archive=f.archive, kind=f.kind,
                             url=f.url, expires_at=f.expires_at, facts=_facts_json(f.facts))
            for f in analysis.files
        ),
        findings=tuple(
            FindingRecord(rule=f.rule, clause=f.clause, severity=f.severity, passed=f.passed, message=f.message,
                          fix=f.fix, file=f.file, evidence=_facts_json_mapping(f.evidence))
            for f in analysis.findings
        ),
        case_id=case_id,
        batch_index=batch_index,
    )


def _cap(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None else None


def _facts_json_mapping(m: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in m.items():
        out[k] = v.isoformat() if isinstance(v, datetime) else v if isinstance(v, (str, int, float, bool,
                                                                                    type(None))) else str(v)
    return out


def _without_numbers(text: str, foreign: Sequence[CaseSummary]) -> str:
    for c in foreign:
        if c.case_no in text:
            text = text.replace(c.case_no, "（其他案例编号）")
    return text


def _own_thread(message_id: str, foreign: Sequence[CaseSummary]) -> bool:
    """Whether a Reference may be echoed: not one of our replies about another sender's case (our ids name
    the case), or the reply would thread into that case's conversation and show its number."""
    return not any(c.case_no in message_id for c in foreign)


def queue_reply(rt: Runtime, msg: SpooledMessage, mail: ParsedMail, analysis: Analysis, filed: FiledVersion, *,
                kind: str, staff: str | None = None, reply_allowed: bool = True, hygiene_reason: str = "") -> str:
    """Render and queue one reply; returns its Message-ID. The daemon's reply per version has a
    deterministic id (queued at most once); a reply chosen by staff gets its own id. The reply goes to the
    address ``hygiene.answer_address`` picks (From, or a Reply-To of the same domain), never elsewhere."""
    foreign = foreign_cases(rt.store.case_summaries(rt.config.campaign.id), answer_address(mail) or "",
                            filed.case_id)
    rendered = rt.renderer.render(kind, build_context(rt.config, analysis, filed, mail, foreign))
    key = f"{filed.case_no}.v{filed.version}"
    if staff is not None:
        key += f".staff{int(datetime.now(timezone.utc).timestamp())}"
    return _enqueue(rt, msg, mail, rendered, kind=kind, key=key, case_id=filed.case_id, staff=staff,
                    reply_allowed=reply_allowed, hygiene_reason=hygiene_reason)


def _enqueue(rt: Runtime, msg: SpooledMessage, mail: ParsedMail, rendered: Any, *, kind: str, key: str,
             case_id: int, staff: str | None, reply_allowed: bool, hygiene_reason: str) -> str:
    """Queue a rendered reply once (its Message-ID is the key), other senders' case numbers taken out, held back
    when the limits say so; a reply that cannot be encoded is recorded as failed."""
    config = rt.config
    recipient = answer_address(mail) or ""
    # Another school's case number never reaches this recipient, not even echoed from their own subject, nor as
    # one of our reply ids in References (issue 15.1).
    numbers = [c for c in foreign_cases(rt.store.case_summaries(config.campaign.id), recipient, case_id) if c.case_no]
    rendered = replace(rendered, subject=_without_numbers(rendered.subject, numbers),
                       text=_without_numbers(rendered.text, numbers), html=_without_numbers(rendered.html, numbers))
    reply_from = rt.reply_from
    message_id = make_message_id(kind, key, domain_of(reply_from), rt.message_id_key)
    if rt.store.outbox_exists(message_id):
        return message_id
    status, reason = OutboxStatus.PENDING, ""
    try:
        raw = build_message(
            sender=reply_from, sender_name=config.smtp.sender_name if config.smtp else "", recipient=recipient,
            subject=rendered.subject, text=rendered.text, html=rendered.html, message_id=message_id,
            in_reply_to=mail.message_id, references=[r for r in mail.references if _own_thread(r, numbers)],
        )
    except UnencodableMessage as exc:  # recorded as a failed reply (staff see it), the mail itself is filed
        raw, status, reason = b"", OutboxStatus.FAILED, str(exc)
    if status != OutboxStatus.FAILED:
        status, reason = _held_back(rt, recipient, automatic=staff is None, reply_allowed=reply_allowed,
                                    hygiene_reason=hygiene_reason)
    queued = rt.store.enqueue_mail(message_id=message_id, kind=kind, recipient=recipient, subject=rendered.subject,
                                   raw=raw, case_id=case_id, message_row_id=msg.id, status=status,
                                   automatic=staff is None, error=reason or None)
    if queued and status in (OutboxStatus.SUPPRESSED, OutboxStatus.FAILED):
        rt.store.log_event(f"mail.{status}", case_id=case_id, message_row_id=msg.id,
                           detail={"kind": kind, "to": recipient, "reason": reason})
    return message_id


def _held_back(rt: Runtime, recipient: str, *, automatic: bool, reply_allowed: bool,
               hygiene_reason: str) -> tuple[OutboxStatus, str]:
    """Whether a reply is sent ('pending') or held back ('suppressed', with the reason staff see): no automatic
    mail for this sender or no address, the per-sender hourly limit, the hourly cap on all automatic replies."""
    smtp = rt.config.smtp
    per_sender = smtp.max_replies_per_sender_per_hour if smtp else 10
    cap = smtp.max_automatic_replies_per_hour if smtp else 0
    hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    if not reply_allowed or not recipient:
        return OutboxStatus.SUPPRESSED, hygiene_reason or "没有可回复的地址"
    if automatic and rt.store.replies_sent_since(recipient, hour_ago) >= per_sender:
        return OutboxStatus.SUPPRESSED, f"同一发件人一小时内自动回复已达 {per_sender} 封上限"
    if automatic and cap and rt.store.automatic_replies_since(hour_ago) >= cap:
        return OutboxStatus.SUPPRESSED, f"一小时内自动回复总数已达 {cap} 封上限（smtp.max_automatic_replies_per_hour）"
    return OutboxStatus.PENDING, ""


def enqueue_replies(rt: Runtime, msg: SpooledMessage, mail: ParsedMail, analysis: Analysis, filed: FiledVersion,
                    *, reply_allowed: bool, hygiene_reason: str = "") -> str:
    """Queue the daemon's reply for this version. Held back (status 'suppressed', visible to staff) when the
    sender must not get automatic mail or has hit the per-sender rate limit."""
    return queue_reply(rt, msg, mail, analysis, filed, kind=KIND_BY_STATUS.get(analysis.status, ReplyKind.NEEDS_REVIEW),
                       reply_allowed=reply_allowed, hygiene_reason=hygiene_reason)


def queue_batch_reply(rt: Runtime, msg: SpooledMessage, mail: ParsedMail, analysis: Analysis,
                      filed: list[FiledVersion], *, reply_allowed: bool,
                      hygiene_reason: str = "") -> str:
    """The one reply to a mail carrying several cases (deterministic id: queued at most once)."""
    rendered = rt.renderer.render("batch", batch_context(rt.config, analysis, filed, mail))
    return _enqueue(rt, msg, mail, rendered, kind="batch", key=f"{filed[0].case_no}.v{filed[0].version}.batch",
                    case_id=filed[0].case_id, staff=None, reply_allowed=reply_allowed, hygiene_reason=hygiene_reason)
