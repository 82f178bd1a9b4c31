"""One spooled message through every step, with its status recorded so a restart resumes.

    spooled ─parse─► parsed ─unpack, facts, checks, file (one transaction)─► stored ─outbox─► notified
                 └► skipped (auto-reply, bounce, list, own address)      └► failed (error, retried)

Every step before 'stored' only reads the spool and writes a fresh work directory, so re-running it
after a kill -9 gives the same result; the filing transaction is idempotent per message row.
"""

from __future__ import annotations

import errno
import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

from checks.domain import MessageStatus, SubmissionStatus
from ingest import heap
from ingest.files.linkfetch import SuppliedFile, fetch_video_links
from ingest.mail.hygiene import Hygiene, assess
from ingest.mail.mime import NotAMimeMessage, ParsedMail
from ingest.pipeline.analyse import analyse
from ingest.pipeline.continuation import continued_case, held_for_staff, prepare, same_case
from ingest.pipeline.prior import prior_from_summaries
from ingest.pipeline.readahead import ParseAhead, parse_fresh
from ingest.pipeline.replies import enqueue_replies, queue_batch_reply, version_record
from ingest.pipeline.timing import StageTimes
from ingest.pipeline.values import Analysis, MailContext, ParsedMessage
from ingest.runtime import Runtime
from store import MAX_ATTEMPTS, FiledVersion, SpooledMessage

log = logging.getLogger(__name__)

# Reply Message-IDs we generate look like <receipt.JCJY2025-000001.v1.<keyed tag>@163.com>.
OUR_REPLY_ID = re.compile(rb"<((?:receipt|rejection|needs_review)\.[A-Za-z0-9.-]+@[A-Za-z0-9.-]+)>")


@dataclass
class ProcessReport:
    """How many messages a pass over the queue filed, skipped and left failed."""

    stored: int = 0
    skipped: int = 0
    failed: int = 0


class ProcessingError(RuntimeError):
    """A message could not be processed now; it stays in the queue and is retried."""


def received_time(msg: SpooledMessage, mail: ParsedMail) -> datetime:
    """The server's INTERNALDATE is authoritative for deadlines; the sender's Date header is not."""
    return msg.internaldate or mail.date or datetime.now(timezone.utc)


def process_message(rt: Runtime, msg: SpooledMessage, ahead: ParseAhead | None = None) -> str:
    """Process one message; returns its new status. Logs the time of each stage (``stage_seconds``).
    ``ahead``: the queue's parser that may have parsed this message already (``process_pending``)."""
    times = StageTimes()
    status = _process_message(rt, msg, times, ahead)
    log.info("邮件 %d 各步用时：%s", msg.id, times.summary(),
             extra={"message_row_id": msg.id, "message_bytes": msg.size, "status": status,
                    "stage_seconds": times.rounded()})
    return status


def _process_message(rt: Runtime, msg: SpooledMessage, times: StageTimes, ahead: ParseAhead | None) -> str:
    """The story of one message: parse, skip what gets no processing, read what the database knows, fetch linked
    videos, analyse, hold for staff what acts for someone else, file, queue the reply."""
    with times.stage("parse"):  # with a parse ahead: the wait for it (its own time is "parse:ahead")
        opened = _open(rt, msg, ahead, times)
    if opened is None or opened.hygiene.skip_processing:
        return _skip(rt, msg, opened.hygiene if opened is not None else None)
    mail, work_dir = opened.message.mail, opened.work_dir
    with times.stage("store:read"):
        case_id, refused = continued_case(rt, mail)
        mail, case_id, known = prepare(rt, msg, opened.message, case_id, work_dir)
        prior = prior_from_summaries(rt.store.case_summaries(rt.config.campaign.id), exclude_case_id=case_id)
    with times.stage("links"):
        fetched, fetch_failures = fetch_video_links(rt.spool, msg.id, mail, rt.config.links)
    context = MailContext(received_at=received_time(msg, mail), prior=prior, known=known, supplied=tuple(fetched),
                          forced_review=opened.oversize)
    analysis = analyse(ParsedMessage(mail, opened.message.subject), work_dir=work_dir,
                       settings=rt.analysis_settings, context=context, times=times)
    analysis = held_for_staff(analysis, mail, refused)
    if analysis.cases:
        return _file_batch(rt, msg, mail, analysis, opened.hygiene, times)
    with times.stage("store"):
        filed = _file(rt, msg, mail, analysis, case_id, fetched, fetch_failures)
    with times.stage("notify:enqueue"):
        enqueue_replies(rt, msg, mail, analysis, filed, reply_allowed=opened.hygiene.reply,
                        hygiene_reason=opened.hygiene.reason)
    if refused is not None:
        rt.store.log_event("case.reference_refused", case_id=filed.case_id, message_row_id=msg.id,
                           detail={"referred_case": refused.case_no, "how": refused.how, "sender": mail.from_addr})
    log.info("邮件 %d（UID %d）→ 案例 %s 第 %d 版：%s", msg.id, msg.uid, filed.case_no, filed.version,
             SubmissionStatus.label_of(analysis.status))
    return MessageStatus.STORED


@dataclass(frozen=True)
class _Opened:
    """A message past the parse step."""

    message: ParsedMessage  # its mail carries the oversize defect, if any
    hygiene: Hygiene
    oversize: tuple[str, ...]
    work_dir: Path


def _open(rt: Runtime, msg: SpooledMessage, ahead: ParseAhead | None, times: StageTimes) -> _Opened | None:
    """The parse step: a fresh work directory, the mail parsed (None: not a mail at all, recorded as skipped),
    its size checked, which kind of mail it is (hygiene); the message recorded as parsed."""
    rt.store.begin_attempt(msg.id)
    try:
        if ahead is None:
            work_dir, parsed, _seconds = parse_fresh(rt.spool, msg, rt.campaign.subject_spec)
        else:
            (work_dir, parsed, seconds), early = ahead.parse(msg)
            if early:
                times.add("parse:ahead", seconds)
    except NotAMimeMessage as exc:
        rt.store.set_message_status(msg.id, MessageStatus.SKIPPED, kind="not_mail", error=str(exc))
        return None
    mail = parsed.mail
    oversize = _oversize(rt, msg)
    if oversize:
        mail = replace(mail, defects=(*mail.defects, *oversize))
    hygiene = assess(mail, rt.own_addresses)
    if msg.status != MessageStatus.STORED:  # a filed message only needs its reply queued: its status stays 'stored'
        rt.store.set_message_status(msg.id, MessageStatus.PARSED, kind=hygiene.kind, defects=mail.defects,
                                    from_addr=mail.from_addr, subject=mail.subject)
    return _Opened(replace(parsed, mail=mail), hygiene, oversize, work_dir)


def _skip(rt: Runtime, msg: SpooledMessage, hygiene: Hygiene | None) -> str:
    """A mail that gets no processing (not a mail; an auto-reply, bounce, list mail, our own): its work
    directory goes; a bounce of one of our replies is noted on its case."""
    if hygiene is not None:
        if hygiene.kind == "bounce":
            _match_bounce(rt, msg, Path(msg.spool_path))
        rt.store.set_message_status(msg.id, MessageStatus.SKIPPED, kind=hygiene.kind, error=hygiene.reason)
    rt.spool.drop_work_dir(msg.id)
    return MessageStatus.SKIPPED


def _file(rt: Runtime, msg: SpooledMessage, mail: ParsedMail, analysis: Analysis, case_id: int | None,
          fetched: Sequence[SuppliedFile], fetch_failures: Sequence[tuple[str, str, str]]) -> FiledVersion:
    """The analysis filed as a version of its case (the sender's case of that name, else a new one), with the
    link downloads noted; the work directory keeps only the files the version points at."""
    campaign = rt.config.campaign
    if case_id is None:
        case_id = same_case(rt, mail, analysis.subject)
    filed = rt.store.file_version(version_record(msg, mail, analysis, campaign.id, case_id),
                                  campaign.case_number_prefix)
    for f in fetched:
        rt.store.log_event("link.fetched", case_id=filed.case_id, message_row_id=msg.id,
                           detail={"name": f.name, "url": f.url, "size": f.size, "sha256": f.sha256})
    for name, url, reason in fetch_failures:
        rt.store.log_event("link.fetch_failed", case_id=filed.case_id, message_row_id=msg.id,
                           detail={"name": name, "url": url, "reason": reason})
    rt.spool.prune_work_dir(msg.id, analysis.kept_paths)
    return filed


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


def _match_bounce(rt: Runtime, msg: SpooledMessage, spooled: Path) -> None:
    """A bounce of one of our own replies: record it on the case so staff see the receipt was lost."""
    with spooled.open("rb") as fh:
        head = fh.read(1 << 20)  # DSNs quote the original's headers near the top
    ids = [f"<{m.decode()}>" for m in OUR_REPLY_ID.findall(head)]
    case_id = rt.store.case_id_by_reply(ids)
    if case_id is not None:
        rt.store.log_event("mail.bounced", case_id=case_id, message_row_id=msg.id,
                           detail={"bounced_message_ids": ids})


def process_pending(rt: Runtime, *, stop_requested: Callable[[], bool] = lambda: False,
                    wait_for_more: Callable[[], bool] | None = None) -> ProcessReport:
    """Every message still to do (spooled, parsed, failed and not given up, filed without a queued reply), one by
    one behind the isolation boundary, oldest first, until ``stop_requested``. ``wait_for_more`` (while a fetch
    runs beside this): called when the queue is done, blocks until more messages were recorded (True: look
    again) or the fetch ended with none (False). A message is tried at most once per call."""
    report = ProcessReport()
    # A message that killed the process on every attempt (it never got as far as being marked failed): stop.
    for message_row_id in rt.store.give_up_messages():
        log.error("邮件 %d：%d 次尝试都没能处理完，留给工作人员处理（intake retry）",
                  message_row_id, MAX_ATTEMPTS)
        report.failed += 1
    # Filed messages without a queued reply (killed between the two commits) run again: the filing is
    # idempotent per message and the reply is queued this time.
    unanswered = rt.store.messages_filed_without_reply()
    tried: set[int] = set()
    while True:
        pending = rt.store.messages_with_status((MessageStatus.SPOOLED, MessageStatus.PARSED, MessageStatus.FAILED))
        if not _process_each(rt, [m for m in pending if m.id not in tried], tried, report, stop_requested):
            return report
        if wait_for_more is None or not wait_for_more():
            break
    _process_each(rt, [m for m in unanswered if m.id not in tried], tried, report, stop_requested)
    return report


def _process_each(rt: Runtime, messages: Sequence[SpooledMessage], tried: set[int], report: ProcessReport,
                  stop_requested: Callable[[], bool]) -> bool:
    """Each message in turn (its outcome counted in ``report``), the next one parsed while this one is analysed
    (ingest/pipeline/readahead.py); False when a stop was requested."""
    ahead = ParseAhead(rt.spool, rt.campaign.subject_spec, messages)
    try:
        for msg in messages:
            if stop_requested():
                return False
            tried.add(msg.id)
            status = process_isolated(rt, msg, disk_full_stops=True, ahead=ahead)
            heap.release()  # the mail's buffers are gone: so are their pages (ingest/heap.py)
            if status == MessageStatus.FAILED:
                report.failed += 1
            elif status == MessageStatus.STORED:
                report.stored += 1
            else:
                report.skipped += 1
        return True
    finally:
        ahead.close()


def process_isolated(rt: Runtime, msg: SpooledMessage, *, disk_full_stops: bool = False,
                     ahead: ParseAhead | None = None) -> str:
    """``process_message`` behind the isolation boundary every caller needs (the daemon's cycle, a worker's
    job): a fault of this mail is recorded on it (retried later, attempts capped) and returned as 'failed'.
    ``disk_full_stops``: a full disk is not the mail's fault: its attempt is given back and the error raised
    (the daemon's cycle ends with the disk-full line; the next cycle resumes)."""
    try:
        return process_message(rt, msg, ahead)
    except Exception as exc:  # noqa: BLE001 - isolation boundary: one bad mail never stops the others
        if disk_full_stops and isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            rt.store.give_back_attempt(msg.id)
            raise
        # Recorded and retried on later cycles (attempts are counted, capped); staff see the error.
        log.exception("邮件 %d 处理失败", msg.id)
        rt.store.set_message_status(msg.id, MessageStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        return MessageStatus.FAILED


