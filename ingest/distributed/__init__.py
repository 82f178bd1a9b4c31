"""Distributed mode: many worker processes on any number of hosts, one PostgreSQL, one shared spool.

The embedded default (SQLite, or PostgreSQL without ``--workers``) is the daemon of ingest/pipeline/daemon.py:
one process, APScheduler, nothing of this package imported. With PostgreSQL, ``intake run --workers N`` starts N
worker processes on this host and ``intake worker`` joins from another; the work is split into jobs of
**procrastinate**, a task queue kept in the same database (no broker):

    intake.tick     periodic (every poll interval, deferred by whichever worker is up: no host is special):
                    retry jobs of dead workers, queue one poll per mailbox, queue what is still to do
    intake.poll     one mailbox into the spool (lock = the mailbox: one poller at a time, whichever host);
                    each new message is queued for processing as soon as it is recorded
    intake.process  one message (lock = its sender: parallel across senders, in order per sender, so
                    versions and split parts are filed in the order they arrived)
    intake.send     one queued reply (lock = the reply; the outbox's 'sending' mark stays the at-most-once guard)

Every job is idempotent: it starts by reading what is still to do from our tables (the message status machine
of ingest/pipeline/process.py, the outbox states), so a job run twice, or retried after its worker was killed
(procrastinate's heartbeats find the dead worker; the tick retries its jobs), loses nothing and files nothing
twice. SIGTERM stops a worker after the job in hand (a poll stops between two messages).

Module map: ``queue`` (the procrastinate app, its schema, queue state for ``intake health``), ``tasks`` (the
work units), ``workers`` (``intake worker`` and the ``--workers N`` supervisor). Only these import
procrastinate, and only when distributed mode runs; ``status`` reads the queue tables with plain SQL.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

from checks.errors import IntakeError


TICK, POLL, PROCESS, SEND = "intake.tick", "intake.poll", "intake.process", "intake.send"
# The jobs as staff see them (intake health, the console).
TASK_LABELS = {TICK: "定时检查", POLL: "收信", PROCESS: "处理邮件", SEND: "发送回执"}


class DistributedUnavailable(IntakeError):
    """Distributed mode asked for where it cannot run (SQLite, or procrastinate not installed)."""


def is_postgres(database_url: str) -> bool:
    """Whether the database URL is PostgreSQL (distributed mode needs it)."""
    return make_url(database_url).get_backend_name() == "postgresql"


def require_distributed(database_url: str) -> None:
    """Raise a one-line reason when this deployment cannot run distributed mode."""
    if not is_postgres(database_url):
        raise DistributedUnavailable("多进程/多主机模式（--workers、intake worker）需要 PostgreSQL 数据库；"
                                     "SQLite 请直接运行 intake run（单进程）")
    try:
        import procrastinate  # noqa: F401
    except ImportError as exc:
        raise DistributedUnavailable("多进程/多主机模式需要 procrastinate："
                                     "pip install 'case-intake[distributed]'") from exc


__all__ = ["POLL", "PROCESS", "SEND", "TASK_LABELS", "TICK", "DistributedUnavailable", "is_postgres",
           "require_distributed"]
