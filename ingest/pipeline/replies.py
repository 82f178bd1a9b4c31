"""Turning an analysis into stored records and queued replies (receipt, rejection, needs-review)."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from checks.domain import (AttachmentKind, CaseIdentity, FileRole, OutboxStatus, ReplyKind, Severity, SubmissionStatus,
                           SubmitterKind)
from checks.registry import Finding
from ingest.config import AppConfig
from ingest.mail.hygiene import answer_address
from ingest.mail.mime import ParsedMail
from notify.mailer import MAX_NAME_CHARS, UnencodableMessage, build_message, cut, domain_of, make_message_id
from store import (
    AttachmentRecord,
    CaseFields,
    CaseSummary,
    FiledVersion,
    FindingRecord,
    SpooledMessage,
    VersionRecord,
    address_key,
)

if TYPE_CHECKING:
    from ingest.pipeline.analyse import Analysis
    from ingest.runtime import Runtime

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


def _local(dt: datetime | None, config: AppConfig) -> str:
    if dt is None:
        return ""
    return dt.astimezone(config.campaign.tz).strftime("%Y年%m月%d日 %H:%M")


def fold_not_applicable(passed: list[Finding]) -> list[Finding]:
    """One line per material that was not sent, instead of one per check that therefore did not apply: no video
    gives "未附视频（视频为可选的辅助资料），无需检查格式、时长、画面比例、分辨率、文件大小。" where the rules
    yielded six lines. The rules mark such checks with evidence ``absent`` (and ``unchecked``: what was skipped)."""
    groups: dict[str, list[Finding]] = {}
    for f in passed:
        if f.evidence.get("absent"):
            groups.setdefault(str(f.evidence["absent"]), []).append(f)
    out: list[Finding] = []
    for f in passed:
        absent = f.evidence.get("absent")
        if not absent:
            out.append(f)
            continue
        group = groups.pop(str(absent), None)
        if group is None:  # already folded into the first of its kind
            continue
        heads = [g for g in group if "unchecked" not in g.evidence]
        skipped = list(dict.fromkeys(str(g.evidence["unchecked"]) for g in group if "unchecked" in g.evidence))
        message = heads[0].message.rstrip("。") if heads else f"未附{absent}"
        message += f"，无需检查{'、'.join(skipped)}。" if skipped else "。"
        clauses = "、".join(dict.fromkeys(g.clause for g in group))
        out.append(replace(group[0], message=message, clause=clauses))
    return out


def foreign_cases(summaries: Sequence[CaseSummary], recipient: str, own_case_id: int | None) -> list[CaseSummary]:
    """Cases of other senders: their numbers and names never go into a reply to ``recipient``."""
    key = address_key(recipient)
    return [c for c in summaries if c.case_id != own_case_id and address_key(c.sender) != key]


def redact(text: str, foreign: Sequence[CaseSummary], own_case_name: str | None = None) -> str:
    """A finding's text for the sender: another school's case number and case name (duplicate and quota
    findings cite them for staff) become "其他单位的案例". A name the sender wrote themselves stays."""
    for c in foreign:
        if c.case_no and c.case_no in text:
            text = text.replace(c.case_no, "其他单位的案例")
        name = c.identity.case_name
        if name and len(name) >= 2 and name != own_case_name and name in text:
            text = text.replace(f"“{name}”", "").replace(name, "")
    return text


def _without_numbers(text: str, foreign: Sequence[CaseSummary]) -> str:
    for c in foreign:
        if c.case_no in text:
            text = text.replace(c.case_no, "（其他案例编号）")
    return text


def _own_thread(message_id: str, foreign: Sequence[CaseSummary]) -> bool:
    """Whether a Reference may be echoed: not one of our replies about another sender's case (our ids name
    the case), or the reply would thread into that case's conversation and show its number."""
    return not any(c.case_no in message_id for c in foreign)


def build_context(config: AppConfig, analysis: Analysis, filed: FiledVersion, mail: ParsedMail,
                  foreign: Sequence[CaseSummary] = ()) -> dict[str, Any]:
    c = config.campaign
    s = analysis.subject
    def finding(f: Any) -> dict[str, Any]:
        return {"rule": f.rule, "clause": f.clause, "severity": f.severity, "file": f.file,
                "message": redact(f.message, foreign, s.case_name), "fix": redact(f.fix, foreign, s.case_name)}
    greeting = cut(s.organization or (mail.from_name or "").strip() or "老师", MAX_NAME_CHARS)
    downloaded = {f.url for f in analysis.files if f.kind == "supplied" and f.url}
    return {
        "greeting": greeting if greeting.endswith(("老师", "同志")) or s.organization else f"{greeting}老师",
        "campaign": {"name": c.name, "mailbox": c.mailbox, "deadline": c.deadline.strftime("%Y年%m月%d日"),
                     "subject_template": c.raw.get("subject", {}).get("template", ""),
                     "organizer_email": c.organizer_email, "materials": c.materials},
        "case": {"case_no": filed.case_no, "version": filed.version, "status": analysis.status,
                 "received_at": _local(analysis.received_at, config), "sender": mail.from_addr or ""},
        "fields": {**s.identity.as_dict(), "part": s.part},
        "subject_info": {"raw": mail.subject, "confidence": s.confidence, "reasons": list(s.reasons),
                         "example": analysis.subject_example},
        "attachments": [{"name": f.name, "role": f.role, "size": f.size, "archive": f.archive, "kind": f.kind,
                         "url": f.url, "expires_at": _local(f.expires_at, config)} for f in analysis.files],
        "links": [{"name": f.name, "url": f.url, "expires_at": _local(f.expires_at, config),
                   "size": f.note, "downloaded": f.url in downloaded} for f in analysis.links],
        "passed": [finding(f) for f in fold_not_applicable([f for f in analysis.findings if f.passed])],
        "problems": [finding(f) for f in analysis.findings if not f.passed and f.severity == Severity.REJECT],
        # One line per distinct warning: a video sent as a link is "not checked yet" for four rules in one wording.
        "warnings": list({(f.message, f.fix): finding(f) for f in analysis.findings
                          if not f.passed and f.severity == Severity.WARN}.values()),
        "review_reasons": list(analysis.review_reasons) or ["需要工作人员核对"],
        "alert": {"title": "", "detail": "", "at": ""},
    }


def sample_context(config: AppConfig) -> dict[str, Any]:
    """A full context for start-up template validation (every key a real one has)."""
    c = config.campaign
    finding = {"rule": "photo.min_size", "clause": "四.4(4)", "severity": Severity.REJECT,
               "message": "照片“活动1.jpg”大小为 1.2 MB，低于 2 MB", "fix": "请提供原图", "file": "活动1.jpg"}
    return {
        "greeting": "示例学校",
        "campaign": {"name": c.name, "mailbox": c.mailbox, "deadline": c.deadline.strftime("%Y年%m月%d日"),
                     "subject_template": c.raw.get("subject", {}).get("template", ""),
                     "organizer_email": c.organizer_email, "materials": c.materials},
        "case": {"case_no": f"{c.case_number_prefix}-000001", "version": 1, "status": SubmissionStatus.REJECTED,
                 "received_at": "2025年11月01日 10:00", "sender": "school@example.com"},
        "fields": {**CaseIdentity(SubmitterKind.UNIT, "浙江省", "杭州市", "示例小学", "示例案例", 6, "人工智能教育").as_dict(),
                   "part": None},
        "subject_info": {"raw": "示例", "confidence": 0.5, "reasons": ["示例原因"], "example": "浙江省/示例小学示例案例+人工智能教育"},
        "attachments": [{"name": "申报表.docx", "role": FileRole.FORM_WORD, "size": 12345, "archive": None,
                         "kind": AttachmentKind.FILE,
                         "url": None, "expires_at": ""},
                        {"name": "视频.mp4", "role": FileRole.LINK, "size": 0, "archive": None,
                         "kind": AttachmentKind.LINK,
                         "url": "https://example.com/x", "expires_at": "2025年12月01日 10:00"}],
        "links": [{"name": "视频.mp4", "url": "https://example.com/x", "expires_at": "2025年12月01日 10:00",
                   "size": "120.5M", "downloaded": False}],
        "passed": [finding, {**finding, "rule": "photo-count", "message": "共收到3张照片（四.4(4)）"}],
        "problems": [finding], "warnings": [finding],
        "review_reasons": ["示例原因"],
        "alert": {"title": "示例告警", "detail": "示例", "at": "2025-11-01 10:00"},
        "batch": {"count": 1, "quota_note": "每个案例分别计入推荐名额", "shared": ["推荐函.docx"],
                  "cases": [{"case_no": f"{c.case_number_prefix}-000001", "case_name": "示例案例",
                             "organization": "示例小学", "category": "人工智能教育", "folder": "01 示例小学",
                             "files": 3, "status": SubmissionStatus.REJECTED,
                             "status_label": "退回修改", "problems": [finding],
                             "warnings": [finding], "review_reasons": ["示例原因"]}]},
    }


# How the batch reply words each case's verdict (a sentence, not the status label of LABELS).
STATUS_LABELS: dict[str, str] = {SubmissionStatus.ACCEPTED: "受理",
                                 SubmissionStatus.ACCEPTED_WITH_WARNINGS: "受理（有提醒事项）",
                                 SubmissionStatus.REJECTED: "退回修改", SubmissionStatus.NEEDS_REVIEW: "待工作人员审核"}


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
    now = datetime.now(timezone.utc)
    smtp = config.smtp
    per_sender = smtp.max_replies_per_sender_per_hour if smtp else 10
    cap = smtp.max_automatic_replies_per_hour if smtp else 0
    if status == OutboxStatus.FAILED:
        pass
    elif not reply_allowed or not recipient:
        status, reason = OutboxStatus.SUPPRESSED, hygiene_reason or "没有可回复的地址"
    elif staff is None and rt.store.replies_sent_since(recipient, now - timedelta(hours=1)) >= per_sender:
        status, reason = OutboxStatus.SUPPRESSED, f"同一发件人一小时内自动回复已达 {per_sender} 封上限"
    elif staff is None and cap and rt.store.automatic_replies_since(now - timedelta(hours=1)) >= cap:
        status, reason = OutboxStatus.SUPPRESSED, f"一小时内自动回复总数已达 {cap} 封上限（smtp.max_automatic_replies_per_hour）"
    queued = rt.store.enqueue_mail(message_id=message_id, kind=kind, recipient=recipient, subject=rendered.subject,
                                   raw=raw, case_id=case_id, message_row_id=msg.id, status=status,
                                   automatic=staff is None, error=reason or None)
    if queued and status in (OutboxStatus.SUPPRESSED, OutboxStatus.FAILED):
        rt.store.log_event(f"mail.{status}", case_id=case_id, message_row_id=msg.id,
                           detail={"kind": kind, "to": recipient, "reason": reason})
    return message_id


def enqueue_replies(rt: Runtime, msg: SpooledMessage, mail: ParsedMail, analysis: Analysis, filed: FiledVersion,
                    *, reply_allowed: bool, hygiene_reason: str = "") -> str:
    """Queue the daemon's reply for this version. Held back (status 'suppressed', visible to staff) when the
    sender must not get automatic mail or has hit the per-sender rate limit."""
    return queue_reply(rt, msg, mail, analysis, filed, kind=KIND_BY_STATUS.get(analysis.status, ReplyKind.NEEDS_REVIEW),
                       reply_allowed=reply_allowed, hygiene_reason=hygiene_reason)


def batch_context(config: AppConfig, analysis: Analysis, filed: list[FiledVersion],
                  mail: ParsedMail) -> dict[str, Any]:
    """The context of the one reply to a mail carrying several cases: a line per case with its number and
    verdict, its problems and warnings."""
    first = build_context(config, analysis.cases[0], filed[0], mail)
    shared = [f.name for f in analysis.files if all(f.name in {g.name for g in c.files} for c in analysis.cases)]
    cases = []
    for case, version in zip(analysis.cases, filed):
        ctx = build_context(config, case, version, mail)
        cases.append({"case_no": version.case_no, "case_name": case.subject.case_name,
                      "organization": case.subject.organization, "category": case.subject.category,
                      "folder": case.folder, "files": len(case.files) - len(shared), "status": case.status,
                      "status_label": STATUS_LABELS.get(case.status, case.status), "problems": ctx["problems"],
                      "warnings": ctx["warnings"],
                      "review_reasons": (list(case.review_reasons)
                                         if case.status == SubmissionStatus.NEEDS_REVIEW else [])})
    recommended = any(c.subject.submitter_kind == SubmitterKind.PROVINCE for c in analysis.cases)
    return {**first, "greeting": analysis.subject.organization or first["greeting"],
            "batch": {"count": len(cases), "cases": cases, "shared": shared,
                      "quota_note": "每个案例分别计入本省推荐名额" if recommended else ""}}


def queue_batch_reply(rt: Runtime, msg: SpooledMessage, mail: ParsedMail, analysis: Analysis,
                      filed: list[FiledVersion], *, reply_allowed: bool,
                      hygiene_reason: str = "") -> str:
    """The one reply to a mail carrying several cases (deterministic id: queued at most once)."""
    rendered = rt.renderer.render("batch", batch_context(rt.config, analysis, filed, mail))
    return _enqueue(rt, msg, mail, rendered, kind="batch", key=f"{filed[0].case_no}.v{filed[0].version}.batch",
                    case_id=filed[0].case_id, staff=None, reply_allowed=reply_allowed, hygiene_reason=hygiene_reason)
