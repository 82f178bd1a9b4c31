"""One spooled message through every step, with its status recorded so a restart resumes.

    spooled ─parse─► parsed ─unpack, facts, checks, file (one transaction)─► stored ─outbox─► notified
                 └► skipped (auto-reply, bounce, list, own address)      └► failed (error, retried)

Every step before 'stored' only reads the spool and writes a fresh work directory, so re-running it
after a kill -9 gives the same result; the filing transaction is idempotent per message row.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

from checks.domain import MessageStatus, ReplyKind, Severity, SubmissionStatus
from checks.facts import LinkFacts
from checks.registry import Finding
from checks.subject import ParsedSubject, parse_subject
from ingest.pipeline.analyse import analyse
from ingest.pipeline.prior import prior_from_summaries
from ingest.mail.hygiene import Hygiene, assess, foreign_reply_to
from ingest.files.linkfetch import SuppliedFile, add_local_file, fetch_video_links
from ingest.mail.mime import NotAMimeMessage, ParsedMail
from ingest.mail.mime_stream import parse_file
from ingest.pipeline.stages import parse
from ingest.pipeline.values import Analysis, MailContext, ParsedMessage
from ingest.pipeline.replies import KIND_BY_STATUS, enqueue_replies, queue_batch_reply, queue_reply, version_record
from ingest.runtime import Runtime
from ingest.pipeline.timing import StageTimes
from store import MAX_ATTEMPTS, CaseFields, SpooledMessage

log = logging.getLogger(__name__)

# Reply Message-IDs we generate look like <receipt.JCJY2025-000001.v1.<keyed tag>@163.com>.
OUR_REPLY_ID = re.compile(rb"<((?:receipt|rejection|needs_review)\.[A-Za-z0-9.-]+@[A-Za-z0-9.-]+)>")
CASE_NO_IN_SUBJECT = re.compile(r"[A-Za-z][A-Za-z0-9]*-\d{6}")


@dataclass
class ProcessReport:
    stored: int = 0
    skipped: int = 0
    failed: int = 0


class ProcessingError(RuntimeError):
    """A message could not be processed now; it stays in the queue and is retried."""


def received_time(msg: SpooledMessage, mail: ParsedMail) -> datetime:
    """The server's INTERNALDATE is authoritative for deadlines; the sender's Date header is not."""
    return msg.internaldate or mail.date or datetime.now(timezone.utc)


def process_message(rt: Runtime, msg: SpooledMessage) -> str:
    """Process one message; returns its new status. Logs the time of each stage (``stage_seconds``)."""
    times = StageTimes()
    status = _process_message(rt, msg, times)
    log.info("邮件 %d 各步用时：%s", msg.id, times.summary(),
             extra={"message_row_id": msg.id, "message_bytes": msg.size, "status": status,
                    "stage_seconds": times.rounded()})
    return status


def _process_message(rt: Runtime, msg: SpooledMessage, times: StageTimes) -> str:
    store = rt.store
    with times.stage("parse"):
        store.begin_attempt(msg.id)
        work_dir = rt.spool.fresh_work_dir(msg.id)
        try:
            parsed = parse(Path(msg.spool_path), work_dir / "parts", rt.campaign.subject_spec)
        except NotAMimeMessage as exc:
            store.set_message_status(msg.id, MessageStatus.SKIPPED, kind="not_mail", error=str(exc))
            rt.spool.drop_work_dir(msg.id)
            return MessageStatus.SKIPPED
        mail = parsed.mail
        oversize = _oversize(rt, msg)
        if oversize:
            mail = replace(mail, defects=(*mail.defects, *oversize))
        hygiene = assess(mail, rt.own_addresses)
        if msg.status != MessageStatus.STORED:  # a filed message only needs its reply queued: its status stays 'stored'
            store.set_message_status(msg.id, MessageStatus.PARSED, kind=hygiene.kind, defects=mail.defects,
                                     from_addr=mail.from_addr, subject=mail.subject)
    if hygiene.skip_processing:
        if hygiene.kind == "bounce":
            _match_bounce(rt, msg, Path(msg.spool_path))
        store.set_message_status(msg.id, MessageStatus.SKIPPED, kind=hygiene.kind, error=hygiene.reason)
        rt.spool.drop_work_dir(msg.id)
        return MessageStatus.SKIPPED

    campaign = rt.config.campaign
    with times.stage("store:read"):
        case_id, refused = _continued_case(rt, mail)
        mail, case_id, known = _prepare(rt, msg, ParsedMessage(mail, parsed.subject), case_id, work_dir)
        prior = prior_from_summaries(store.case_summaries(campaign.id), exclude_case_id=case_id)
    with times.stage("links"):
        fetched, fetch_failures = fetch_video_links(rt.spool, msg.id, mail, rt.config.links)
    context = MailContext(received_at=received_time(msg, mail), prior=prior, known=known, supplied=tuple(fetched),
                          forced_review=oversize)
    analysis = analyse(ParsedMessage(mail, parsed.subject), work_dir=work_dir, settings=rt.analysis_settings,
                       context=context, times=times)
    analysis = _held_for_staff(analysis, mail, refused)
    if analysis.cases:
        return _file_batch(rt, msg, mail, analysis, hygiene, times)
    with times.stage("store"):
        if case_id is None:
            case_id = same_case(rt, mail, analysis.subject)
        filed = store.file_version(version_record(msg, mail, analysis, campaign.id, case_id),
                                   campaign.case_number_prefix)
        for f in fetched:
            store.log_event("link.fetched", case_id=filed.case_id, message_row_id=msg.id,
                            detail={"name": f.name, "url": f.url, "size": f.size, "sha256": f.sha256})
        for name, url, reason in fetch_failures:
            store.log_event("link.fetch_failed", case_id=filed.case_id, message_row_id=msg.id,
                            detail={"name": name, "url": url, "reason": reason})
        rt.spool.prune_work_dir(msg.id, analysis.kept_paths)
    with times.stage("notify:enqueue"):
        enqueue_replies(rt, msg, mail, analysis, filed, reply_allowed=hygiene.reply,
                        hygiene_reason=hygiene.reason)
    if refused is not None:
        store.log_event("case.reference_refused", case_id=filed.case_id, message_row_id=msg.id,
                        detail={"referred_case": refused.case_no, "how": refused.how, "sender": mail.from_addr})
    log.info("邮件 %d（UID %d）→ 案例 %s 第 %d 版：%s", msg.id, msg.uid, filed.case_no, filed.version,
             SubmissionStatus.label_of(analysis.status))
    return MessageStatus.STORED


def _file_batch(rt: Runtime, msg: SpooledMessage, mail: ParsedMail, analysis: Analysis, hygiene: Hygiene,
                times: StageTimes) -> str:
    """A mail carrying several cases: each filed as a case of its own (a version of the sender's case of that
    name, if any), one reply listing them all. Filing is idempotent per (message, case index)."""
    campaign = rt.config.campaign
    with times.stage("store"):
        filed = []
        for index, case in enumerate(analysis.cases):
            case_id = same_case(rt, mail, case.subject)
            filed.append(rt.store.file_version(version_record(msg, mail, case, campaign.id, case_id, index),
                                               campaign.case_number_prefix))
    with times.stage("notify:enqueue"):
        queue_batch_reply(rt, msg, mail, analysis, filed, reply_allowed=hygiene.reply,
                          hygiene_reason=hygiene.reason)
    log.info("邮件 %d（UID %d）→ %d 个案例：%s", msg.id, msg.uid, len(filed),
             "，".join(f"{f.case_no} 第 {f.version} 版 {SubmissionStatus.label_of(c.status)}"
                      for f, c in zip(filed, analysis.cases)))
    return MessageStatus.STORED


def _oversize(rt: Runtime, msg: SpooledMessage) -> tuple[str, ...]:
    """A mail past ``intake.max_message_bytes`` was spooled as its header only (ingest/mail/fetch.py)."""
    limit = rt.config.intake.max_message_bytes
    if not limit or msg.size <= limit or Path(msg.spool_path).stat().st_size >= msg.size:
        return ()
    return (f"邮件大小 {msg.size / (1 << 20):.1f} MB，超过上限 {limit / (1 << 20):.0f} MB（intake.max_message_bytes），"
            "正文和附件未下载处理，请工作人员在邮箱中查看",)


@dataclass(frozen=True)
class RefusedReference:
    """A mail named an existing case (our receipt in In-Reply-To/References, or its number in the subject)
    but its sender may not change that case: it became a submission of its own."""

    case_no: str
    how: str  # "reply" | "subject"


def _held_for_staff(analysis: Analysis, mail: ParsedMail, refused: RefusedReference | None) -> Analysis:
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


def _prepare(rt: Runtime, msg: SpooledMessage, parsed: ParsedMessage, case_id: int | None,
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


def _continued_case(rt: Runtime, mail: ParsedMail) -> tuple[int | None, RefusedReference | None]:
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


def _match_bounce(rt: Runtime, msg: SpooledMessage, spooled: Path) -> None:
    """A bounce of one of our own replies: record it on the case so staff see the receipt was lost."""
    with spooled.open("rb") as fh:
        head = fh.read(1 << 20)  # DSNs quote the original's headers near the top
    ids = [f"<{m.decode()}>" for m in OUR_REPLY_ID.findall(head)]
    case_id = rt.store.case_id_by_reply(ids)
    if case_id is not None:
        rt.store.log_event("mail.bounced", case_id=case_id, message_row_id=msg.id,
                           detail={"bounced_message_ids": ids})


def process_pending(rt: Runtime, *, stop_requested: Callable[[], bool] = lambda: False) -> ProcessReport:
    report = ProcessReport()
    # A message that killed the process on every attempt (it never got as far as being marked failed): stop.
    for message_row_id in rt.store.give_up_messages():
        log.error("邮件 %d：%d 次尝试都没能处理完，留给工作人员处理（intake retry）",
                  message_row_id, MAX_ATTEMPTS)
        report.failed += 1
    # Filed messages without a queued reply (killed between the two commits) run again: the filing is
    # idempotent per message and the reply is queued this time.
    pending = rt.store.messages_with_status((MessageStatus.SPOOLED, MessageStatus.PARSED, MessageStatus.FAILED))
    for msg in [*pending, *rt.store.messages_filed_without_reply()]:
        if stop_requested():
            break
        status = process_isolated(rt, msg)
        if status == MessageStatus.FAILED:
            report.failed += 1
        elif status == MessageStatus.STORED:
            report.stored += 1
        else:
            report.skipped += 1
    return report


def process_isolated(rt: Runtime, msg: SpooledMessage) -> str:
    """``process_message`` behind the isolation boundary every caller needs (the daemon's cycle, a worker's
    job): a fault of this mail is recorded on it (retried later, attempts capped) and returned as 'failed'."""
    try:
        return process_message(rt, msg)
    except Exception as exc:  # noqa: BLE001 - isolation boundary: one bad mail never stops the others
        # Recorded and retried on later cycles (attempts are counted, capped); staff see the error.
        log.exception("邮件 %d 处理失败", msg.id)
        rt.store.set_message_status(msg.id, MessageStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        return MessageStatus.FAILED


def _reanalyse(rt: Runtime, message_row_id: int,
               added: Sequence[SuppliedFile] = ()) -> tuple[SpooledMessage, ParsedMail, Analysis, str]:
    """The analysis of a filed message as it would be made now (current rules, staff corrections, the files
    added to it since, and ``added``)."""
    store = rt.store
    msg = store.message(message_row_id)
    work_dir = rt.spool.fresh_work_dir(msg.id)
    parsed = parse(Path(msg.spool_path), work_dir / "parts", rt.campaign.subject_spec)
    campaign = rt.config.campaign
    summaries = store.case_summaries(campaign.id)
    case_no_by_msg = dict((mid, no) for no, mid in store.current_versions(campaign.id))
    this_case = case_no_by_msg.get(message_row_id, "")
    prior = prior_from_summaries([s for s in summaries if s.case_no != this_case], exclude_case_id=None)
    case_id = store.case_id_by_no(this_case) if this_case else None
    # The version being rechecked is the case's newest: earlier parts are merged, fields are its own.
    mail, _case, _known = _prepare(rt, msg, parsed, case_id, work_dir)
    corrections = store.corrected_fields(case_id) if case_id is not None else {}
    supplied = [SuppliedFile(name=a.name, path=Path(a.stored_path), size=a.size, sha256=a.sha256 or "", url=a.url)
                for a in store.supplied_files(message_row_id) if a.stored_path and Path(a.stored_path).is_file()]
    context = MailContext(received_at=received_time(msg, mail), prior=prior, case_no=this_case,
                          corrections=corrections, supplied=(*supplied, *added))
    analysis = analyse(ParsedMessage(mail, parsed.subject), work_dir=work_dir, settings=rt.analysis_settings,
                       context=context)
    _continued, refused = _continued_case(rt, mail)
    if refused is not None and refused.case_no == this_case:
        refused = None
    return msg, mail, _held_for_staff(analysis, mail, refused), this_case


def recheck_message(rt: Runtime, message_row_id: int, *, actor: str = "daemon",
                    added: Sequence[SuppliedFile] = ()) -> str:
    """Re-run the whole analysis of a filed message from its spooled bytes (after a rule or config
    change, or a staff request) and replace that version's findings and verdict. No mail is sent.
    ``added``: files staff add to this version now (kept with it for later rechecks)."""
    msg, mail, analysis, _case_no = _reanalyse(rt, message_row_id, added)
    campaign = rt.config.campaign
    for index, case in enumerate(analysis.cases):  # a mail carrying several cases: each case's version
        rt.store.refile_version(version_record(msg, mail, case, campaign.id, None, index))
    if analysis.cases:
        return analysis.status
    filed = rt.store.refile_version(version_record(msg, mail, analysis, campaign.id, None))
    rt.spool.prune_work_dir(msg.id, analysis.kept_paths)
    rt.store.log_event("case.recheck_requested", actor=actor, case_id=filed.case_id, message_row_id=msg.id,
                       detail={"status": analysis.status})
    return analysis.status


def send_chosen_reply(rt: Runtime, message_row_id: int, kind: str, *, actor: str) -> str:
    """Queue a reply of the kind staff chose (e.g. a receipt after overriding a rejection), rendered from
    the current analysis of the case's newest version. Returns a line for staff."""
    if kind not in KIND_BY_STATUS.values():
        raise ValueError(f"回复类型只能是 {'、'.join(sorted(set(KIND_BY_STATUS.values())))} 之一")
    msg, mail, analysis, case_no = _reanalyse(rt, message_row_id)
    if analysis.cases:
        raise ValueError("这封邮件含多个案例，已合并回复；请在各案例页面分别处理")
    filed = rt.store.filed_version_of(message_row_id)
    message_id = queue_reply(rt, msg, mail, analysis, filed, kind=kind, staff=actor)
    rt.store.log_event("mail.chosen_reply", actor=actor, case_id=filed.case_id, message_row_id=msg.id,
                       detail={"kind": kind, "message_id": message_id})
    return f"已排队发送：{case_no} 的{ReplyKind.label_of(kind)}（{message_id}）"


def attach_file(rt: Runtime, message_row_id: int, source: BinaryIO, name: str, *,
                actor: str) -> tuple[str, str | None]:
    """Staff add a file to a filed version (typically the video behind a 163 超大附件 link they downloaded): it is
    copied into the spool and the version is checked again with it, like any attachment. Returns the new status
    and the link the file was taken to stand for (by name, else the only video link still waiting, else none)."""
    name = Path(name.replace("\\", "/")).name or "附件"  # a display name only: the stored path is our own
    links = rt.store.version_links(message_row_id)
    done = {a.url for a in rt.store.supplied_files(message_row_id) if a.url}
    waiting = [a for a in links if a.url not in done]
    link = next((a for a in waiting if a.name == name), None)
    if link is None:
        videos = [a for a in waiting if LinkFacts(name=a.name, url=a.url or "").is_video]
        link = videos[0] if len(videos) == 1 else waiting[0] if len(waiting) == 1 else None
    url = link.url if link is not None else None
    added = add_local_file(rt.spool, message_row_id, source, name, url)
    status = recheck_message(rt, message_row_id, actor=actor, added=[added])
    filed = rt.store.filed_version_of(message_row_id)
    rt.store.log_event("case.file_attached", actor=actor, case_id=filed.case_id, message_row_id=message_row_id,
                       detail={"name": name, "size": added.size, "sha256": added.sha256,
                               "link": link.name if link is not None else "", "url": url or "", "status": status})
    return status, link.name if link is not None else None
