"""The work units of distributed mode as procrastinate tasks (see the package doc for the whole picture).

Each task reads what is still to do from our tables before doing it, so running one twice, or again after
its worker was killed, changes nothing that was done. The locks only decide who works on what at a time:
the mailbox for a poll, the sender for processing, the reply for sending.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from imapclient.exceptions import IMAPClientError
from procrastinate import App, JobContext, exceptions, utils
from procrastinate.jobs import Status
from sqlalchemy import text

from checks.domain import MessageStatus
from ingest.distributed.queue import POLL, PROCESS, SEND, TICK, cron_for, defer, mailbox_key, sender_lock
from ingest.mail.fetch import fetch_failure, fetch_new
from ingest.mail.imap import MailboxClient, MailboxError
from ingest.mail.mime import sender_address
from ingest.pipeline.alerts import current_alerts, enqueue_alerts
from ingest.pipeline.outbox import send_one
from ingest.pipeline.process import process_isolated
from ingest.runtime import Runtime
from store import SpooledMessage

log = logging.getLogger(__name__)

# The sender is read from the message's first bytes: its header block (a From past this is not looked for).
HEAD_BYTES = 256 * 1024
# A partial download untouched this long was left by a killed poller (others may be downloading now).
STALE_PART_SECONDS = 3600


@dataclass(frozen=True)
class WorkerSettings:
    """How fast a dead worker is noticed: heartbeats every ``heartbeat_seconds``; a worker silent for
    ``stalled_after_seconds`` is taken for dead and its jobs are run again by another worker."""

    heartbeat_seconds: float = 10.0
    stalled_after_seconds: float = 60.0
    # Between two looks for new jobs when no notification came (LISTEN/NOTIFY normally wakes a worker).
    fetch_interval_seconds: float = 5.0


def register(app: App, runtimes: Mapping[str, Runtime], settings: WorkerSettings) -> None:
    """Bind the tasks to this process's runtimes (one per campaign served, by campaign id) and add them, and the
    periodic tick, to ``app``. Every job names its campaign; each campaign's work goes through its own view of
    the database (``Store.for_campaign``), templates and mailbox."""
    interval = min(rt.config.intake.poll_interval_seconds for rt in runtimes.values())

    def runtime(campaign: str) -> Runtime | None:
        rt = runtimes.get(campaign)
        if rt is None:  # a job queued by a host whose configuration serves a campaign this one does not
            log.warning("任务属于征集 %s，本工作进程的配置中没有它，跳过", campaign)
        return rt

    @app.periodic(cron=cron_for(interval), periodic_id="tick")
    # No lock: a tick whose worker died must not hold up the next one (which is what retries it).
    @app.task(name=TICK, pass_context=True, queueing_lock="tick")
    def tick(context: JobContext, timestamp: int) -> None:
        retry_stalled_jobs(app, settings.stalled_after_seconds)
        for campaign, rt in runtimes.items():
            key = mailbox_key(rt.config)
            if key is not None:
                defer(app, POLL, lock=f"poll:{key}", queueing_lock=f"poll:{key}", campaign=campaign)
            sweep(rt, app)

    @app.task(name=POLL, pass_context=True)
    def poll(context: JobContext, campaign: str) -> None:
        if (rt := runtime(campaign)) is not None:
            poll_mailbox(rt, app, stop_requested=context.should_abort)

    @app.task(name=PROCESS, pass_context=True)
    def process(context: JobContext, campaign: str, message_row_id: int) -> None:
        if (rt := runtime(campaign)) is not None:
            process_one(rt, app, message_row_id)

    @app.task(name=SEND, pass_context=True)
    def send(context: JobContext, campaign: str, outbox_id: int) -> None:
        rt = runtime(campaign)
        if rt is not None and rt.config.smtp is not None:
            send_one(rt.store, rt.sender, rt.reply_from, outbox_id,
                     retry_base_seconds=rt.config.smtp.retry_base_seconds)


def poll_mailbox(rt: Runtime, app: App, *, stop_requested: Any) -> None:
    """New mail of the campaign's mailbox into the spool; each new message queued for processing once recorded."""
    imap = rt.config.imap
    if imap is None:
        return
    client = MailboxClient(imap)
    try:
        client.connect()
        fetch_new(client, rt.store, rt.spool, stop_requested=stop_requested,
                  max_message_bytes=rt.config.intake.max_message_bytes,
                  on_spooled=lambda msg: queue_message(rt, app, msg))
        rt.store.record_poll(client.account, imap.folder, ok=True)
    except (MailboxError, IMAPClientError, OSError) as exc:
        error, _disk_full = fetch_failure(exc, rt.spool.root)
        log.error("%s", error)
        rt.store.log_event("poll.failed", detail={"error": error})
    finally:
        client.close()


def process_one(rt: Runtime, app: App, message_row_id: int) -> None:
    """One message, if it still needs processing, then its replies queued for sending."""
    msg = rt.store.message_needing_work(message_row_id)
    if msg is not None:
        status = process_isolated(rt, msg)
        if status == MessageStatus.FAILED:
            return  # retried by a later tick (attempts are counted, capped)
    if rt.config.smtp is not None:
        for outbox_id in rt.store.due_outbox_ids(message_row_id=message_row_id):
            queue_send(rt, app, outbox_id)


def queue_message(rt: Runtime, app: App, msg: SpooledMessage) -> None:
    """A process job for this message, in its sender's line."""
    try:
        with Path(msg.spool_path).open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        head = b""  # the job records why the spool file cannot be read
    campaign = rt.config.campaign.id
    defer(app, PROCESS, lock=sender_lock(campaign, sender_address(head)), queueing_lock=f"message:{msg.id}",
          campaign=campaign, message_row_id=msg.id)


def queue_send(rt: Runtime, app: App, outbox_id: int) -> None:
    """A send job for one outbox mail (one at a time per mail, at most one queued)."""
    defer(app, SEND, lock=f"outbox:{outbox_id}", queueing_lock=f"outbox:{outbox_id}",
          campaign=rt.config.campaign.id, outbox_id=outbox_id)


def sweep(rt: Runtime, app: App) -> None:
    """Queue whatever is still to do and has no job: mail left by a failed or lost job, replies due for a
    retry; raise the alerts (they go out as send jobs too)."""
    store = rt.store
    for message_row_id in store.give_up_messages():
        log.error("邮件 %d：多次尝试都没能处理完，留给工作人员处理（intake retry）", message_row_id)
    waiting = active_job_keys(rt, PROCESS, "message_row_id")
    pending = [*store.messages_with_status((MessageStatus.SPOOLED, MessageStatus.PARSED, MessageStatus.FAILED)),
               *store.messages_filed_without_reply()]
    for msg in sorted(pending, key=lambda m: m.id):
        if msg.id not in waiting:
            queue_message(rt, app, msg)
    enqueue_alerts(rt, current_alerts(rt))
    if rt.config.smtp is not None:
        sending = active_job_keys(rt, SEND, "outbox_id")
        for outbox_id in store.due_outbox_ids():
            if outbox_id not in sending:
                queue_send(rt, app, outbox_id)
    rt.spool.clean_tmp(older_than_seconds=STALE_PART_SECONDS)


def active_job_keys(rt: Runtime, task_name: str, argument: str) -> set[int]:
    """The ``argument`` of every queued or running job of that task (procrastinate's jobs table)."""
    query = text("SELECT args ->> :argument FROM procrastinate_jobs "
                 "WHERE task_name = :task AND status IN ('todo', 'doing')")
    with rt.store.engine.connect() as conn:
        return {int(v) for (v,) in conn.execute(query, {"argument": argument, "task": task_name}) if v is not None}


def retry_stalled_jobs(app: App, stalled_after_seconds: float) -> int:
    """Jobs of workers that stopped sending heartbeats (killed, host lost) run again on a live worker. A job
    whose retry would sit beside an equal one already queued (a poll) is closed instead."""
    stalled = utils.async_to_sync(app.job_manager.get_stalled_jobs, seconds_since_heartbeat=stalled_after_seconds)
    count = 0
    for job in stalled:
        assert job.id is not None
        log.warning("任务 %s 所在的工作进程已失联，交给其他工作进程重做", job.call_string)
        try:
            app.job_manager.retry_job_by_id(job.id, retry_at=utils.utcnow())
            count += 1
        except exceptions.ConnectorException:
            utils.async_to_sync(app.job_manager.finish_job_by_id_async, job.id, status=Status.FAILED,
                                delete_job=False)
    return count


__all__ = ["WorkerSettings", "active_job_keys", "poll_mailbox", "process_one", "queue_message", "queue_send",
           "register", "retry_stalled_jobs", "sweep"]
