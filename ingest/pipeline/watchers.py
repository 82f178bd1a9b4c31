"""The threads that stand beside a running daemon's schedule (``daemon.serve_forever`` starts one of each per
campaign): the IDLE watcher wakes a campaign's cycle when mail arrives, the watchdog notices a cycle or a scheduler
that stopped and sends the alert itself. Neither takes part in a cycle: the daemon runs as well without them,
only later (IDLE) or silently (watchdog)."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Protocol

from imapclient.exceptions import IMAPClientError

from ingest.mail.imap import MailboxClient, MailboxError
from ingest.pipeline.alerts import current_alerts, enqueue_alerts, send_now

if TYPE_CHECKING:
    from ingest.runtime import Runtime

log = logging.getLogger(__name__)


class Watched(Protocol):
    """What the watchdog reads of a daemon (``daemon.Daemon``), from its own thread: the campaign's runtime, the
    stop flag, and the times its cycle last started and its scheduler last called."""

    rt: Runtime
    stop_event: threading.Event
    cycle_started: datetime | None
    last_tick: datetime | None


class IdleWatcher(threading.Thread):
    """Holds a second IMAP connection in IDLE and wakes the cycle as soon as new mail arrives.

    IDLE is re-issued every minute (servers drop IDLE after 30 minutes; imapclient connections have
    been seen to hang after hours), socket timeouts are set by MailboxClient, and any error reconnects
    with backoff. The interval poll keeps running regardless, so a dead watcher only costs latency.
    """

    # IDLE is re-issued this often; also bounds how long a stop request waits for this thread.
    IDLE_SLICE_SECONDS = 60.0

    def __init__(self, mailbox: MailboxClient, wake: Callable[[], None], stop: threading.Event,
                 name: str = "imap-idle") -> None:
        super().__init__(name=name, daemon=True)
        self.mailbox = mailbox
        self.wake = wake
        self.stop = stop

    def run(self) -> None:
        """Wait in IDLE and wake the cycle on new mail until stopped; reconnect with backoff on any error."""
        backoff = 1.0
        while not self.stop.is_set():
            try:
                self.mailbox.connect()
                if not self.mailbox.supports_idle():
                    log.info("邮箱服务器不支持 IDLE：只按间隔定时收信")
                    return
                backoff = 1.0
                while not self.stop.is_set():
                    if self.mailbox.idle_wait(self.IDLE_SLICE_SECONDS):
                        log.info("IDLE：服务器通知有新邮件")
                        self.wake()
            except (MailboxError, IMAPClientError, OSError) as exc:
                log.warning("IDLE 连接断开（%s），%.0f 秒后重连", exc, backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 300)
            finally:
                self.mailbox.close()


class Watchdog(threading.Thread):
    """Notices what the cycle itself cannot report: a cycle that never ends or a scheduler that stopped
    starting cycles (Paperless-ngx's scheduler died silently, #7346). Raises the alert mail and sends it
    itself, since the cycle that would send it is the one that is stuck."""

    CHECK_SECONDS = 30.0

    def __init__(self, daemon: Watched) -> None:
        super().__init__(name="watchdog", daemon=True)
        self.daemon_ = daemon

    def run(self) -> None:
        """Every ``CHECK_SECONDS``: raise and send the stalled-scheduler alert if the cycle stopped."""
        d = self.daemon_
        while not d.stop_event.wait(self.CHECK_SECONDS):
            try:
                alerts = [a for a in current_alerts(d.rt, cycle_running_since=d.cycle_started,
                                                    last_cycle_finished=d.last_tick)
                          if a.kind == "scheduler_stalled"]
                enqueue_alerts(d.rt, alerts)
                send_now(d.rt)
            except Exception:  # noqa: BLE001 - the watchdog must outlive any fault it reports on
                log.exception("看门狗检查出错")
