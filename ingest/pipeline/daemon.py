"""The daemon: one cycle = fetch → process → send, on a schedule, never overlapping itself. Within a cycle the
fetch runs in a thread beside the processing (the next mail downloads while the current one is read).

- A database lease makes sure only one process works a mailbox at a time (two daemons on one
  PostgreSQL database and mailbox never process a mail twice), and APScheduler's
  ``max_instances=1, coalesce=True`` keeps a slow cycle from overlapping the next one.
- Several campaigns: one ``Daemon`` per campaign (its Runtime, mailbox, lease, backoff, IDLE watcher), each
  cycle its own scheduled job in its own thread (``serve_forever``), so a mailbox that hangs or fails holds up
  no other campaign.
- SIGTERM/SIGINT set a flag checked between messages: the current message is finished, then exit.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import FrameType
from typing import Iterator, Sequence

from imapclient.exceptions import IMAPClientError

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from ingest.pipeline.alerts import current_alerts, enqueue_alerts

from ingest.mail.fetch import FetchReport, fetch_failure, fetch_new
from ingest.config import ImapSettings
from ingest.mail.imap import MailboxClient, MailboxError
from ingest.pipeline.outbox import DispatchReport, dispatch
from ingest.pipeline.process import ProcessReport, process_pending
from ingest.runtime import Runtime
from ingest.pipeline.timing import StageTimes
from ingest.pipeline.watchers import IdleWatcher, Watchdog

log = logging.getLogger(__name__)

# Longest wait between two tries while the mailbox, database or disk keeps failing.
MAX_BACKOFF_SECONDS = 600


@dataclass
class CycleReport:
    """What one cycle did: mails fetched, processed, replies sent, and where its time went."""

    fetched: FetchReport = field(default_factory=FetchReport)
    processed: ProcessReport = field(default_factory=ProcessReport)
    sent: DispatchReport = field(default_factory=DispatchReport)
    skipped_locked: bool = False
    error: str | None = None
    # Wall time of the cycle's phases: fetch (IMAP to spool), process (parse … file), send (outbox to SMTP).
    times: StageTimes = field(default_factory=StageTimes)

    def summary(self) -> str:
        """The cycle in one Chinese log line."""
        if self.skipped_locked:
            return "另一个进程正在处理该邮箱，本轮跳过"
        parts = [f"新邮件 {self.fetched.new}", f"重复 {self.fetched.duplicates}",
                 f"已入库 {self.processed.stored}", f"跳过 {self.processed.skipped}",
                 f"失败 {self.processed.failed}", f"已发送回执 {self.sent.sent}",
                 f"发送失败 {self.sent.failed}"]
        return "，".join(parts) + (f"；错误：{self.error}" if self.error else "")


class Daemon:
    """The scheduled worker of one campaign: a cycle (fetch, process, send) every poll interval under a database
    lease, woken early by IMAP IDLE, watched by a watchdog, stopped cleanly by SIGTERM/SIGINT. ``stop_event``:
    shared by the daemons of one process (one signal stops them all)."""

    def __init__(self, runtime: Runtime, stop_event: threading.Event | None = None) -> None:
        self.rt = runtime
        self.stop_event = stop_event or threading.Event()
        self.job_id = f"cycle:{runtime.config.campaign.id}"
        # Log lines of a deployment of several campaigns say which campaign they are about.
        self.log_prefix = f"[{runtime.config.campaign.id}] " if runtime.config.multi else ""
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        imap = runtime.config.imap
        self.lease_name = f"cycle:{imap.username}@{imap.host}/{imap.folder}" if imap else "cycle:local"
        self.lease_ttl = max(300, 5 * runtime.config.intake.poll_interval_seconds)
        self._last_renew = 0.0
        self._renew_lock = threading.Lock()
        self._lease_lost = False
        self._not_before = 0.0
        self.consecutive_failures = 0
        # Read by the watchdog thread (a stuck cycle cannot report itself).
        self.cycle_started: datetime | None = None
        self.last_cycle_finished: datetime | None = None
        self.last_tick: datetime | None = None  # the scheduler's last call, backing off or not

    def stop_or_renew(self) -> bool:
        """Checked between messages (by the fetch and the processing of a cycle, each in its thread, or of
        ``holding_lease``'s work): honour a stop request and keep our lease alive. A lease lost stays lost for
        the rest of the cycle."""
        if self.stop_event.is_set() or self._lease_lost:
            return True
        with self._renew_lock:
            now = time.monotonic()
            if now - self._last_renew > self.lease_ttl / 3:
                if not self.rt.store.acquire_lease(self.lease_name, self.holder, self.lease_ttl):
                    log.error("收信锁已被另一个进程取得，本轮到此停止")
                    self._lease_lost = True
                    return True
                self._last_renew = now
        return False

    def _take_lease(self) -> bool:
        store = self.rt.store
        if store.acquire_lease(self.lease_name, self.holder, self.lease_ttl):
            return True
        # A daemon killed with SIGKILL leaves its lease until it expires. A holder on this host whose
        # process is gone is known dead: take over at once instead of waiting out the lease.
        holder = store.lease_holder(self.lease_name)
        if holder and _dead_local_process(holder):
            log.warning("接管 %s 的收信锁（该进程已不存在）", holder)
            return store.take_over_lease(self.lease_name, holder, self.holder, self.lease_ttl)
        return False

    @contextmanager
    def holding_lease(self) -> Iterator[bool]:
        """This mailbox's cycle lease, held around other work on its mail (``intake import`` processing what it
        imported, beside a daemon that may be running): yields False, holding nothing, when a running ``intake
        run`` or ``intake poll`` has it. Keep it with ``stop_or_renew`` between messages; released at the end."""
        taken = self._take_lease()
        self._last_renew, self._lease_lost = time.monotonic(), False
        try:
            yield taken
        finally:
            if taken:
                try:
                    self.rt.store.release_lease(self.lease_name, self.holder)
                except SQLAlchemyError:
                    pass  # the lease expires by itself

    def cycle(self) -> CycleReport:
        """One fetch → process → send. Faults of the mailbox, the database or the disk end the cycle with
        one clear line in ``report.error`` (the next cycle retries); they never end the daemon."""
        report = CycleReport()
        self.cycle_started = datetime.now(timezone.utc)
        try:
            if not self._take_lease():
                report.skipped_locked = True
                return self._finish(report)
        except SQLAlchemyError as exc:
            report.error = f"数据库不可用：{_first_line(exc)}"
            log.error("%s", report.error)
            return self._finish(report)
        self._last_renew = time.monotonic()
        self._lease_lost = False
        try:
            self._work(report)
        except SQLAlchemyError as exc:
            report.error = f"数据库不可用：{_first_line(exc)}"
            log.error("%s", report.error)
        except OSError as exc:  # processing met a full disk (fetch_failure words it) or another storage fault
            report.error = (fetch_failure(exc, self.rt.spool.root)[0] if exc.errno == errno.ENOSPC
                            else f"本地存储出错（{self.rt.spool.root}）：{exc}")
            log.error("%s", report.error)
        finally:
            try:
                self.rt.store.release_lease(self.lease_name, self.holder)
            except SQLAlchemyError:
                pass  # the lease expires by itself
        return self._finish(report)

    def _work(self, report: CycleReport) -> None:
        self.rt.spool.clean_tmp()
        imap = self.rt.config.imap
        if imap is None:
            with report.times.stage("process"):
                report.processed = process_pending(self.rt, stop_requested=self.stop_or_renew)
        else:
            self._fetch_and_process(report, imap)
        enqueue_alerts(self.rt, current_alerts(self.rt))
        smtp = self.rt.config.smtp
        if smtp is not None:
            with report.times.stage("send"):
                report.sent = dispatch(self.rt.store, self.rt.sender, self.rt.reply_from,
                                       retry_base_seconds=smtp.retry_base_seconds,
                                       stop_requested=self.stop_or_renew)

    def _fetch_and_process(self, report: CycleReport, imap: ImapSettings) -> None:
        """Fetch and process side by side: a thread downloads the next messages into the spool (the cycle's
        one IMAP connection) while this thread processes those already recorded, oldest first, as before.
        A message is processed only once its spool file and row are committed, so a kill -9 leaves what
        either side would have left alone."""
        fetcher = _Fetcher(self, report, imap)
        if _private_to_each_thread(self.rt.store.engine.url):  # SQLite in memory: fetch first, as before
            fetcher.run()
            if fetcher.failure is not None:
                raise fetcher.failure
            if not fetcher.disk_full:
                with report.times.stage("process"):
                    report.processed = process_pending(self.rt, stop_requested=self.stop_or_renew)
            return
        fetcher.start()
        try:
            with report.times.stage("process"):
                # With the disk full every message would fail and use up one of its attempts for nothing.
                report.processed = process_pending(
                    self.rt, stop_requested=lambda: fetcher.disk_full or self.stop_or_renew(),
                    wait_for_more=fetcher.wait_for_more)
        finally:
            fetcher.join()
        if fetcher.failure is not None:  # what the cycle would have raised had the fetch run in this thread
            raise fetcher.failure

    def _finish(self, report: CycleReport) -> CycleReport:
        started, self.cycle_started = self.cycle_started, None
        self.last_cycle_finished = datetime.now(timezone.utc)
        self.consecutive_failures = self.consecutive_failures + 1 if report.error else 0
        # The phases overlap (fetch beside process): the cycle's own wall time is not their sum.
        wall = (self.last_cycle_finished - started).total_seconds() if started else 0.0
        log.info("%s本轮收信：%s（用时：%s）", self.log_prefix, report.summary(), report.times.summary(),
                 extra={"cycle_seconds": report.times.rounded(), "cycle_wall_seconds": round(wall, 3),
                        "fetched_bytes": report.fetched.bytes})
        return report

    def backoff_seconds(self) -> float:
        """Wait before the next scheduled cycle after failures: the interval doubled per failure, capped."""
        if not self.consecutive_failures:
            return 0.0
        interval = self.rt.config.intake.poll_interval_seconds
        return float(min(interval * 2 ** (self.consecutive_failures - 1), max(interval, MAX_BACKOFF_SECONDS)))

    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        """Stop after the message in hand (also the signal handler)."""
        log.info("收到停止信号 %s：处理完当前这封邮件后退出", signum)
        self.stop_event.set()

    def run_forever(self) -> None:
        """Run cycles until a stop is requested (blocks): the scheduler, the IDLE watcher, the watchdog, signals."""
        serve_forever([self])

    def _scheduled_cycle(self) -> None:
        if self.stop_event.is_set():
            return
        self.last_tick = datetime.now(timezone.utc)
        if time.monotonic() < self._not_before:
            return  # backing off after failures: a dead server is not hammered every interval
        report = self.cycle()
        if report.error:
            wait = self.backoff_seconds()
            self._not_before = time.monotonic() + wait
            log.warning("%s收信已连续失败 %d 次，%.0f 秒后再试", self.log_prefix, self.consecutive_failures, wait)


def poll_all(daemons: Sequence[Daemon]) -> list[CycleReport]:
    """One cycle of every campaign (``intake poll``): one after the other, each fault kept to its own campaign."""
    return [d.cycle() for d in daemons]


def serve_forever(daemons: Sequence[Daemon]) -> None:
    """Run every campaign's cycles until SIGTERM/SIGINT: one scheduled job per campaign, in a thread of its own
    (a mailbox that hangs or fails holds up no other); IMAP IDLE wakes the campaign whose mailbox got mail."""
    interval = daemons[0].rt.config.intake.poll_interval_seconds
    scheduler = BlockingScheduler(timezone="UTC", executors={"default": ThreadPoolExecutor(len(daemons) + 1)})
    for d in daemons:
        scheduler.add_job(d._scheduled_cycle, "interval", seconds=interval, id=d.job_id, max_instances=1,
                          coalesce=True, next_run_time=datetime.now(timezone.utc))
        imap = d.rt.config.imap
        if imap is not None and imap.use_idle:
            def wake(job_id: str = d.job_id) -> None:
                scheduler.modify_job(job_id, next_run_time=datetime.now(timezone.utc))
            IdleWatcher(MailboxClient(imap), wake, d.stop_event, name=f"imap-idle-{d.rt.config.campaign.id}").start()
        Watchdog(d).start()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        daemons[0].request_stop(signum, frame)
        for d in daemons[1:]:
            d.stop_event.set()
        # shutdown(wait=True) from a signal handler would deadlock with the running job.
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    names = "、".join(d.rt.config.campaign.id for d in daemons)
    log.info("case-intake 服务已启动：每 %d 秒收一次信（征集：%s）", interval, names)
    scheduler.start()
    log.info("case-intake 服务已停止")


class _Fetcher(threading.Thread):
    """One cycle's fetch, beside its processing: new mail into the spool, each recorded message announced to
    ``wait_for_more``. Faults end the fetch with one line in ``report.error``, as when it ran alone."""

    def __init__(self, daemon: Daemon, report: CycleReport, imap: ImapSettings) -> None:
        super().__init__(name="imap-fetch", daemon=True)
        self.daemon_, self.report, self.imap = daemon, report, imap
        self.disk_full = False
        self.failure: BaseException | None = None  # anything the cycle does not turn into report.error itself
        self._changed = threading.Condition()
        self._recorded = self._seen = 0
        self._done = False

    def run(self) -> None:
        try:
            self._fetch()
        except BaseException as exc:  # noqa: BLE001 - handed to the cycle's thread, raised there after join
            self.failure = exc
        finally:
            with self._changed:
                self._done = True
                self._changed.notify_all()

    def _fetch(self) -> None:
        d, report, rt = self.daemon_, self.report, self.daemon_.rt
        mailbox = MailboxClient(self.imap)
        try:
            with report.times.stage("fetch"):
                mailbox.connect()
                report.fetched = fetch_new(mailbox, rt.store, rt.spool, stop_requested=d.stop_or_renew,
                                           max_message_bytes=rt.config.intake.max_message_bytes,
                                           on_spooled=lambda _row: self._announce())
            rt.store.record_poll(mailbox.account, self.imap.folder, ok=True)
        except (MailboxError, IMAPClientError, OSError) as exc:
            # A server restart, a dropped connection or a refused login: what was spooled stays, the
            # next cycle resumes after the last recorded UID.
            report.error, self.disk_full = fetch_failure(exc, rt.spool.root)
            log.error("%s", report.error)
            rt.store.log_event("poll.failed", detail={"error": report.error})
        finally:
            mailbox.close()

    def _announce(self) -> None:
        with self._changed:
            self._recorded += 1
            self._changed.notify_all()

    def wait_for_more(self) -> bool:
        """Blocks until a message was recorded since the last call (True) or the fetch ended (False when it
        recorded nothing more)."""
        with self._changed:
            self._changed.wait_for(lambda: self._recorded > self._seen or self._done)
            more = self._recorded > self._seen
            self._seen = self._recorded
            return more


def _private_to_each_thread(url: URL) -> bool:
    """SQLite in memory: each thread's connection is a database of its own, so a fetch thread's rows would
    never reach the processing."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _dead_local_process(holder: str) -> bool:
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
