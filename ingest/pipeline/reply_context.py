"""What a reply says: the template context of a receipt, rejection, needs-review or batch reply, built from an
analysis and the filed version (pure: no database, no sending), and the sample context templates are
validated with at start-up. Queuing the rendered reply is ingest/pipeline/replies.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Sequence

from checks.domain import AttachmentKind, CaseIdentity, FileRole, Severity, SubmissionStatus, SubmitterKind
from checks.registry import Finding
from ingest.config import AppConfig
from ingest.mail.mime import ParsedMail
from ingest.pipeline.values import Analysis
from notify.mailer import MAX_NAME_CHARS, cut
from store import CaseSummary, FiledVersion, address_key


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


def _campaign(config: AppConfig) -> dict[str, Any]:
    c = config.campaign
    return {"name": c.name, "mailbox": c.mailbox, "deadline": c.deadline.strftime("%Y年%m月%d日"),
            "subject_template": c.raw.get("subject", {}).get("template", ""),
            "organizer_email": c.organizer_email, "materials": c.materials}


def _greeting(analysis: Analysis, mail: ParsedMail) -> str:
    """The unit the subject names, else the sender's display name + 老师, else 老师."""
    unit = analysis.subject.organization
    greeting = cut(unit or (mail.from_name or "").strip() or "老师", MAX_NAME_CHARS)
    return greeting if greeting.endswith(("老师", "同志")) or unit else f"{greeting}老师"


def _findings(analysis: Analysis, foreign: Sequence[CaseSummary]) -> dict[str, list[dict[str, Any]]]:
    """The findings as the reply lists them: passed (not-applicable ones folded), problems, distinct warnings."""
    own_name = analysis.subject.case_name

    def finding(f: Finding) -> dict[str, Any]:
        return {"rule": f.rule, "clause": f.clause, "severity": f.severity, "file": f.file,
                "message": redact(f.message, foreign, own_name), "fix": redact(f.fix, foreign, own_name)}
    failed = [f for f in analysis.findings if not f.passed]
    return {
        "passed": [finding(f) for f in fold_not_applicable([f for f in analysis.findings if f.passed])],
        "problems": [finding(f) for f in failed if f.severity == Severity.REJECT],
        # One line per distinct warning: a video sent as a link is "not checked yet" for four rules in one wording.
        "warnings": list({(f.message, f.fix): finding(f) for f in failed if f.severity == Severity.WARN}.values()),
    }


def build_context(config: AppConfig, analysis: Analysis, filed: FiledVersion, mail: ParsedMail,
                  foreign: Sequence[CaseSummary] = ()) -> dict[str, Any]:
    """The template context of a reply about one version: greeting, campaign, case, fields, files, links, findings
    grouped (passed, problems, warnings), review reasons; other senders' case numbers and names redacted."""
    s = analysis.subject
    downloaded = {f.url for f in analysis.files if f.kind == "supplied" and f.url}
    return {
        "greeting": _greeting(analysis, mail),
        "campaign": _campaign(config),
        "case": {"case_no": filed.case_no, "version": filed.version, "status": analysis.status,
                 "received_at": _local(analysis.received_at, config), "sender": mail.from_addr or ""},
        "fields": {**s.identity.as_dict(), "part": s.part},
        "subject_info": {"raw": mail.subject, "confidence": s.confidence, "reasons": list(s.reasons),
                         "example": analysis.subject_example},
        "attachments": [{"name": f.name, "role": f.role, "size": f.size, "archive": f.archive, "kind": f.kind,
                         "url": f.url, "expires_at": _local(f.expires_at, config)} for f in analysis.files],
        "links": [{"name": f.name, "url": f.url, "expires_at": _local(f.expires_at, config),
                   "size": f.note, "downloaded": f.url in downloaded} for f in analysis.links],
        **_findings(analysis, foreign),
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
        "campaign": _campaign(config),
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


