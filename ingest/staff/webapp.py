"""Wiring the web console to the pipeline: the console gets a Store and the actions as callables."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from functools import partial
from typing import Any, BinaryIO, Sequence

from checks.domain import MessageStatus, SubmissionStatus
from checks.rules.quota import Quota, QuotaOverrun
from console.app import ConsoleServices, ConsoleSettings, create_app
from console.auth import StaffUser
from ingest.pipeline import alerts
from ingest.staff.export import workbook_bytes
from ingest.pipeline.recheck import attach_file, recheck_message, send_chosen_reply
from ingest.runtime import Runtime
from ingest.staff.output import quota_overruns
from store import queries
from store.workload import workload
from starlette.applications import Starlette


def console_health(rt: Runtime) -> dict[str, Any]:
    """The dashboard's health box: last successful poll, failed mails, replies that need staff, the lag, and (in
    distributed mode) the task queue and its workers."""
    cfg = rt.config
    campaign = cfg.campaign
    last = rt.store.last_successful_poll()
    counts = rt.store.message_status_counts()
    # Replies that will not go out by themselves (failed, stuck in 'sending', the hourly cap): issue 15.2.
    reply_alerts = [a.title for a in alerts.reply_alerts(rt, datetime.now(timezone.utc))]
    load = workload(rt.store)
    oldest, queue = load.oldest_unprocessed, load.queue
    beat = max((w.last_heartbeat for w in queue.workers), default=None) if queue is not None else None
    return {"last_successful_poll": last.astimezone(campaign.tz).strftime("%Y-%m-%d %H:%M") if last else None,
            "failed": counts.get(MessageStatus.FAILED, 0), "reply_alerts": reply_alerts,
            # The lag: the oldest received mail not yet processed, and how long it has waited.
            "oldest_unprocessed": oldest.astimezone(campaign.tz).strftime("%Y-%m-%d %H:%M") if oldest else None,
            "lag_minutes": int(load.lag().total_seconds() // 60),
            "lag_alert": 0 < cfg.intake.alert_lag_minutes < load.lag().total_seconds() / 60,
            # Distributed mode only: jobs waiting and running, workers with a fresh heartbeat.
            "queue": None if queue is None else {
                "waiting": queue.waiting(), "running": queue.running(), "workers_alive": queue.alive_workers,
                "last_heartbeat": beat.astimezone(campaign.tz).strftime("%Y-%m-%d %H:%M:%S") if beat else None}}


def build_console(rt: Runtime, *, https_only: bool | None = None, others: Sequence[Runtime] = ()) -> Starlette:
    """The console of ``rt``'s campaign, and of ``others`` (the further campaigns of one deployment)."""
    console = rt.config.console
    if console is None:
        raise ValueError("no [console] section in the configuration")
    settings, services = _campaign_console(rt)
    settings = replace(settings, users={u.name: StaffUser(u.name, u.role, u.password_hash) for u in console.users},
                       secret_key=console.secret_key,
                       https_only=console.https_only if https_only is None else https_only)
    return create_app(rt.shared_store, settings, services, [_campaign_console(o) for o in others])


def _campaign_console(rt: Runtime) -> tuple[ConsoleSettings, ConsoleServices]:
    """One campaign's part of the console: its name, time zone and categories, and its pipeline actions."""
    cfg = rt.config
    campaign = cfg.campaign

    def recheck(case_no: str, actor: str) -> str:
        _no, message_row_id = queries.current_message_row(rt.store, campaign.id, case_no)
        return recheck_message(rt, message_row_id, actor=actor)

    def attach(case_no: str, name: str, source: BinaryIO, actor: str) -> str:
        _no, message_row_id = queries.current_message_row(rt.store, campaign.id, case_no)
        status, link = attach_file(rt, message_row_id, source, name, actor=actor)
        stands_for = f"（作为超大附件链接“{link}”的文件）" if link else ""
        return f"已添加文件{stands_for}并重新审查：{SubmissionStatus.label_of(status)}"

    def send_reply(case_no: str, kind: str, actor: str) -> str:
        _no, message_row_id = queries.current_message_row(rt.store, campaign.id, case_no)
        return send_chosen_reply(rt, message_row_id, kind, actor=actor)

    categories = tuple((int(c["no"]), str(c["name"])) for c in campaign.raw.get("categories", []))

    def export_xlsx(filt: queries.CaseFilter) -> bytes:
        return workbook_bytes(rt.store, campaign.id, tz=campaign.tz, categories=categories, filt=filt)

    settings = ConsoleSettings(campaign_id=campaign.id, campaign_name=campaign.name, timezone=campaign.timezone,
                               users={}, secret_key="", categories=categories, link_alert_days=cfg.links.alert_days)
    quota = Quota.of_rules(rt.campaign.rules)

    def overruns() -> tuple[Quota, tuple[QuotaOverrun, ...]]:
        return quota, quota_overruns(rt.store, campaign.id, quota)

    return settings, ConsoleServices(recheck=recheck, last_poll=partial(console_health, rt),
                                     export_xlsx=export_xlsx, send_reply=send_reply, attach=attach,
                                     quota_overruns=overruns)
