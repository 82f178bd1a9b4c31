"""``intake worker`` (one worker process, on any host) and ``intake run --workers N`` (N of them on this host,
restarted when one dies, stopped together on SIGTERM)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Sequence

from ingest.distributed.queue import ensure_schema, make_app
from ingest.distributed.tasks import WorkerSettings, register
from ingest.runtime import Runtime

log = logging.getLogger(__name__)

# A worker that keeps dying is restarted after 1, 2, 4 … seconds, at most this long.
MAX_RESTART_DELAY = 60.0


def run_worker(runtimes: Sequence[Runtime], settings: WorkerSettings) -> None:
    """Work the jobs of every campaign in ``runtimes`` until SIGTERM/SIGINT, then finish the job in hand (a poll
    stops between two messages)."""
    url = runtimes[0].config.intake.database_url
    step = ensure_schema(url)
    log.info("%s", step.summary())
    app = make_app(url)
    register(app, {rt.config.campaign.id: rt for rt in runtimes}, settings)
    name = f"{socket.gethostname()}:{os.getpid()}"
    log.info("工作进程 %s 已启动", name)
    # shutdown_graceful_timeout=0: on a stop request every running job is told at once (``should_abort``); a
    # poll stops between two messages, a message or a reply is finished; the worker waits for both.
    app.run_worker(name=name, concurrency=1, wait=True, delete_jobs="successful", shutdown_graceful_timeout=0.0,
                   update_heartbeat_interval=settings.heartbeat_seconds,
                   stalled_worker_timeout=settings.stalled_after_seconds,
                   fetch_job_polling_interval=settings.fetch_interval_seconds)
    log.info("工作进程 %s 已停止", name)


@dataclass
class _Child:
    proc: subprocess.Popen[bytes]
    restarts: int = 0  # in a row: a worker that ran a while before it died starts again at once
    not_before: float = 0.0
    started: float = field(default_factory=time.monotonic)


class Supervisor:
    """N ``intake worker`` processes on this host. The periodic poll needs no process of its own: every worker
    defers the tick (procrastinate keeps one per period), so any host can stop without the polling stopping."""

    CHECK_SECONDS = 1.0

    def __init__(self, config_path: Path, count: int, settings: WorkerSettings) -> None:
        self.config_path = config_path
        self.count = count
        self.settings = settings
        self.stop_event = threading.Event()
        self.children: list[_Child | None] = [None] * count

    def command(self) -> list[str]:
        """The command line of one worker process."""
        s = self.settings
        return [sys.executable, "-m", "ingest.cli", "worker", "--config", str(self.config_path),
                "--heartbeat-seconds", str(s.heartbeat_seconds),
                "--stalled-after-seconds", str(s.stalled_after_seconds)]

    def _spawn(self, slot: int, restarts: int) -> None:
        # Own process group: a Ctrl-C at the terminal reaches the supervisor only, which stops the workers
        # in order (each finishes its job) instead of all of them being interrupted at once.
        proc = subprocess.Popen(self.command(), start_new_session=True)
        self.children[slot] = _Child(proc, restarts)
        log.info("工作进程 %d 已启动（pid %d）", slot + 1, proc.pid)

    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        """Ask every worker to finish its current task and exit (SIGTERM, SIGINT)."""
        log.info("收到停止信号 %s：各工作进程做完手头的任务后退出", signum)
        self.stop_event.set()

    def run(self) -> int:
        """Start the workers, restart those that die, and stop them all on a signal; returns the exit code."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        for slot in range(self.count):
            self._spawn(slot, 0)
        while not self.stop_event.wait(self.CHECK_SECONDS):
            self._restart_dead()
        return self._stop_all()

    def _restart_dead(self) -> None:
        now = time.monotonic()
        for slot, child in enumerate(self.children):
            if child is None or child.proc.poll() is None:
                continue
            if not child.not_before:
                if now - child.started > MAX_RESTART_DELAY:
                    child.restarts = 0
                delay = 0.0 if not child.restarts else min(MAX_RESTART_DELAY, 2.0 ** child.restarts)
                child.not_before = now + delay
                log.error("工作进程 %d（pid %d）已退出（%s），%.0f 秒后重新启动", slot + 1, child.proc.pid,
                          child.proc.returncode, delay)
            elif now >= child.not_before:
                self._spawn(slot, child.restarts + 1)

    def _stop_all(self) -> int:
        live = [c.proc for c in self.children if c is not None and c.proc.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        for proc in live:
            proc.wait()
        log.info("所有工作进程已停止")
        return 0


__all__ = ["Supervisor", "run_worker"]
