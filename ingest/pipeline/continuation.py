"""Which case a mail continues, and whether its sender may: a reply to one of our receipts, a case number in the
subject, the same sender's case of the same name, the earlier parts of a submission sent as several mails.

A mail may change only its own sender's case (or one staff linked its address to): a reference to anyone else's
case is refused, the mail becomes a submission of its own and goes to staff review (``held_for_staff``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from checks.domain import Severity, SubmissionStatus
from checks.registry import Finding
from checks.subject import ParsedSubject, parse_subject
from ingest.mail.hygiene import foreign_reply_to
from ingest.mail.mime import ParsedMail
from ingest.mail.mime_stream import parse_file
from ingest.pipeline.values import Analysis, ParsedMessage
from ingest.runtime import Runtime
from store import CaseFields, SpooledMessage

CASE_NO_IN_SUBJECT = re.compile(r"[A-Za-z][A-Za-z0-9]*-\d{6}")


@dataclass(frozen=True)
class RefusedReference:
    """A mail named an existing case (our receipt in In-Reply-To/References, or its number in the subject)
    but its sender may not change that case: it became a submission of its own."""

    case_no: str
    how: str  # "reply" | "subject"


def held_for_staff(analysis: Analysis, mail: ParsedMail, refused: RefusedReference | None) -> Analysis:
    """Mail that tries to act for someone else goes to staff review: it named another sender's case, or asked
    for replies to go to another domain (Reply-To). Staff see which case (an info finding, never mailed); the
    sender is told only that staff will look."""
    extra: list[Finding] = []
    reasons: list[str] = []
    if refused is not None:
        how = "回复了该案例的受理回执" if refused.how == "reply" else "在邮件主题中写了该案例的受理编号"
        extra.append(Finding(
            rule="case-reference", clause="", severity=Severity.INFO, passed=False,
            message=f"本邮件{how}（{refused.case_no}），但发件人 {mail.from_addr or '（无）'} 不是该案例的发件人，"
                    f"也不是工作人员为该案例登记的地址；已作为一份新的申报登记，未改动 {refused.case_no}。",
            evidence={"referred_case": refused.case_no, "how": refused.how},
            fix=f"如确为同一单位的另一个邮箱，可用“intake link {refused.case_no} 地址”登记，此后该地址的邮件可更新该案例。"))
        reasons.append("本邮件引用了其他发件人的受理回执或受理编号，已作为一份新的申报登记，工作人员核对后与您联系")
    other = foreign_reply_to(mail)
    if other is not None:
        extra.append(Finding(
            rule="reply-to-domain", clause="", severity=Severity.INFO, passed=False,
            message=f"邮件要求回复到另一个域名的地址（Reply-To：{other[:120]}），与发件人 {mail.from_addr} 不同；"
                    "回执只发给发件人。", evidence={"reply_to": other[:320]}))
        reasons.append("邮件的回复地址（Reply-To）与发件地址不属于同一单位邮箱，回执只发给发件地址，工作人员核对后与您联系")
    if not extra:
        return analysis
    return replace(analysis, findings=(*analysis.findings, *extra), status=SubmissionStatus.NEEDS_REVIEW,
                   review_reasons=tuple(dict.fromkeys((*reasons, *analysis.review_reasons))))


def prepare(rt: Runtime, msg: SpooledMessage, parsed: ParsedMessage, case_id: int | None,
             work_dir: Path) -> tuple[ParsedMail, int | None, CaseFields | None]:
    """What the analysis needs besides the mail: the case it continues (if known), that case's fields
    (for replies whose subject is our receipt's), and the earlier parts of a split submission."""
    known = rt.store.case_fields(case_id) if case_id is not None else None
    mail, part = parsed.mail, parsed.subject.part
    if case_id is None and part:
        case_id = same_case(rt, mail, parsed.subject)
    if case_id is not None and part:
        mail = _merge_parts(rt, case_id, part, mail, work_dir, this_message=msg.id)
    return mail, case_id, known


def _series_total(part: str | None) -> str | None:
    return part.split("/", 1)[1] if part and "/" in part else None


def _merge_parts(rt: Runtime, case_id: int, part: str, mail: ParsedMail, work_dir: Path, *,
                 this_message: int) -> ParsedMail:
    """One case sent as several mails ("(1/3)", "第2封"): this part's files join those of the earlier parts
    of the same series, so the checks see the whole submission. A mail without a part marker, or of
    another series, starts over (it is a new version that supersedes)."""
    spec = rt.campaign.subject_spec
    total = _series_total(part)
    attachments = list(mail.attachments)
    texts, htmls = [mail.text], [mail.html]
    seen = {a.sha256 for a in attachments}
    seen_parts = {part}
    for _version, message_row_id, raw_subject in rt.store.case_versions(case_id):
        if message_row_id == this_message:  # a recheck of a filed part: the newer parts are not its own
            seen_parts.clear()
            attachments, texts, htmls = list(mail.attachments), [mail.text], [mail.html]
            seen, seen_parts = {a.sha256 for a in attachments}, {part}
            continue
        earlier = parse_subject(raw_subject or "", spec).part
        if not earlier or _series_total(earlier) != total or earlier in seen_parts:
            break
        seen_parts.add(earlier)
        other = parse_file(Path(rt.store.message(message_row_id).spool_path), work_dir / f"part-{message_row_id}")
        for a in other.attachments:
            if a.sha256 not in seen:
                seen.add(a.sha256)
                attachments.append(a)
        texts.append(other.text)
        htmls.append(other.html)
    return replace(mail, attachments=tuple(attachments), text="\n".join(texts), html="\n".join(htmls))


def same_case(rt: Runtime, mail: ParsedMail, subject: ParsedSubject) -> int | None:
    """The case of the same sender (or an address staff linked to it) whose case name is this one's, as written:
    劳动教育之一 and 劳动教育之二 are two cases, 劳动教育（更正版） is the next version of 劳动教育."""
    return rt.store.find_case(rt.config.campaign.id, mail.from_addr or "", subject.case_name, subject.category_no)


def continued_case(rt: Runtime, mail: ParsedMail) -> tuple[int | None, RefusedReference | None]:
    """The case this mail continues: a reply to one of our receipts (In-Reply-To/References) or a case number
    in the subject, when the sender may change that case (its sender or an address staff linked, compared
    normalised). Anyone else's reference is refused: the mail becomes its own submission (returned second)."""
    store = rt.store
    named: list[tuple[int, str]] = []
    by_reply = store.case_id_by_reply([mail.in_reply_to or "", *mail.references[-MAX_REFERENCES_READ:]])
    if by_reply is not None:
        named.append((by_reply, "reply"))
    prefix = rt.config.campaign.case_number_prefix
    for match in CASE_NO_IN_SUBJECT.finditer(mail.subject[:MAX_SUBJECT_SCAN]):
        if match.group(0).startswith(prefix + "-"):
            found = store.case_id_by_no(match.group(0))
            if found is not None:
                named.append((found, "subject"))
                break
    for case_id, _how in named:
        if store.may_continue_case(case_id, mail.from_addr):
            return case_id, None
    if named:
        case_id, how = named[0]
        return None, RefusedReference(case_no=store.case_no_of(case_id), how=how)
    return None, None


# A reply's References list the thread; ours are among the newest. Only these are looked up.
MAX_REFERENCES_READ = 20
MAX_SUBJECT_SCAN = 300


