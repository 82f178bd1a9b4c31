"""The daemon: one cycle = fetch → process → send, on a schedule, never overlapping itself.

- A database lease makes sure only one process works a mailbox at a time (two daemons on one
  PostgreSQL database and mailbox never process a mail twice), and APScheduler's
  ``max_instances=1, coalesce=True`` keeps a slow cycle from overlapping the next one.
- SIGTERM/SIGINT set a flag checked between messages: the current message is finished, then exit.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import FrameType
from typing import Callable

from imapclient.exceptions import IMAPClientError

from apscheduler.schedulers.blocking import BlockingScheduler

from ingest.fetch import FetchReport, fetch_new
from ingest.imap import MailboxClient, MailboxError
from ingest.outbox import DispatchReport, dispatch
from ingest.pipeline import ProcessReport, process_pending
from ingest.runtime import Runtime
from ingest.stages import StageTimes

log = logging.getLogger(__name__)


@dataclass
class CycleReport:
    fetched: FetchReport = field(default_factory=FetchReport)
    processed: ProcessReport = field(default_factory=ProcessReport)
    sent: DispatchReport = field(default_factory=DispatchReport)
    skipped_locked: bool = False
    error: str | None = None
    # Wall time of the cycle's phases: fetch (IMAP to spool), process (parse … file), send (outbox to SMTP).
    times: StageTimes = field(default_factory=StageTimes)

    def summary(self) -> str:
        if self.skipped_locked:
            return "另一个进程正在处理该邮箱，本轮跳过"
        parts = [f"新邮件 {self.fetched.new}", f"重复 {self.fetched.duplicates}",
                 f"已入库 {self.processed.stored}", f"跳过 {self.processed.skipped}",
                 f"失败 {self.processed.failed}", f"已发送回执 {self.sent.sent}",
                 f"发送失败 {self.sent.failed}"]
        return "，".join(parts) + (f"；错误：{self.error}" if self.error else "")


class Daemon:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.stop_event = threading.Event()
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        imap = runtime.config.imap
        self.lease_name = f"cycle:{imap.username}@{imap.host}/{imap.folder}" if imap else "cycle:local"
        self.lease_ttl = max(300, 5 * runtime.config.intake.poll_interval_seconds)
        self._last_renew = 0.0

    def _stop_or_renew(self) -> bool:
        """Checked between messages: honour a stop request and keep our lease alive."""
        if self.stop_event.is_set():
            return True
        now = time.monotonic()
        if now - self._last_renew > self.lease_ttl / 3:
            if not self.rt.store.acquire_lease(self.lease_name, self.holder, self.lease_ttl):
                log.error("lost the mailbox lease to another process; stopping this cycle")
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
            log.warning("taking over the mailbox lease of %s (process no longer exists)", holder)
            return store.take_over_lease(self.lease_name, holder, self.holder, self.lease_ttl)
        return False

    def cycle(self) -> CycleReport:
        report = CycleReport()
        store = self.rt.store
        if not self._take_lease():
            report.skipped_locked = True
            return report
        self._last_renew = time.monotonic()
        try:
            self.rt.spool.clean_tmp()
            imap = self.rt.config.imap
            if imap is not None:
                mailbox = MailboxClient(imap)
                try:
                    with report.times.stage("fetch"):
                        mailbox.connect()
                        report.fetched = fetch_new(mailbox, store, self.rt.spool,
                                                   stop_requested=self._stop_or_renew)
                    store.record_poll(mailbox.account, imap.folder, ok=True)
                except MailboxError as exc:
                    report.error = str(exc)
                    log.error("%s", exc)
                    store.log_event("poll.failed", detail={"error": str(exc)})
                finally:
                    mailbox.close()
            with report.times.stage("process"):
                report.processed = process_pending(self.rt, stop_requested=self._stop_or_renew)
            smtp = self.rt.config.smtp
            if smtp is not None:
                with report.times.stage("send"):
                    report.sent = dispatch(store, self.rt.sender, self.rt.reply_from,
                                           retry_base_seconds=smtp.retry_base_seconds,
                                           stop_requested=self._stop_or_renew)
        finally:
            store.release_lease(self.lease_name, self.holder)
        log.info("cycle: %s (%s)", report.summary(), report.times.summary(),
                 extra={"cycle_seconds": report.times.rounded(), "fetched_bytes": report.fetched.bytes})
        return report

    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        log.info("stop requested (signal %s): finishing the current message", signum)
        self.stop_event.set()

    def run_forever(self) -> None:
        scheduler = BlockingScheduler(timezone="UTC")
        interval = self.rt.config.intake.poll_interval_seconds
        scheduler.add_job(self._scheduled_cycle, "interval", seconds=interval, id="cycle", max_instances=1,
                          coalesce=True, next_run_time=datetime.now(timezone.utc))
        imap = self.rt.config.imap
        if imap is not None and imap.use_idle:
            def wake() -> None:
                scheduler.modify_job("cycle", next_run_time=datetime.now(timezone.utc))
            IdleWatcher(MailboxClient(imap), wake, self.stop_event).start()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            self.request_stop(signum, frame)
            # shutdown(wait=True) from a signal handler would deadlock with the running job.
            threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        log.info("case-intake daemon started: polling every %ds", interval)
        scheduler.start()
        log.info("case-intake daemon stopped")

    def _scheduled_cycle(self) -> None:
        if self.stop_event.is_set():
            return
        self.cycle()


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


class IdleWatcher(threading.Thread):
    """Holds a second IMAP connection in IDLE and wakes the cycle as soon as new mail arrives.

    IDLE is re-issued every minute (servers drop IDLE after 30 minutes; imapclient connections have
    been seen to hang after hours), socket timeouts are set by MailboxClient, and any error reconnects
    with backoff. The interval poll keeps running regardless, so a dead watcher only costs latency.
    """

    # IDLE is re-issued this often; also bounds how long a stop request waits for this thread.
    IDLE_SLICE_SECONDS = 60.0

    def __init__(self, mailbox: MailboxClient, wake: Callable[[], None], stop: threading.Event) -> None:
        super().__init__(name="imap-idle", daemon=True)
        self.mailbox = mailbox
        self.wake = wake
        self.stop = stop

    def run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            try:
                self.mailbox.connect()
                if not self.mailbox.supports_idle():
                    log.info("server offers no IDLE: interval polling only")
                    return
                backoff = 1.0
                while not self.stop.is_set():
                    if self.mailbox.idle_wait(self.IDLE_SLICE_SECONDS):
                        log.info("IDLE: new mail announced")
                        self.wake()
            except (MailboxError, IMAPClientError, OSError) as exc:
                log.warning("IDLE connection lost (%s); reconnecting in %.0fs", exc, backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 300)
            finally:
                self.mailbox.close()
