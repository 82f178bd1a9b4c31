"""Alerts about the daemon itself: repeated failed polls, a refused login, no successful poll for too long,
a stalled scheduler. Paperless-ngx's fetcher died silently for days (#7346); here the organisers get a mail.

The state is read from the database (poll events, the mailbox's last successful poll), so the daemon,
``intake health`` run by cron, and a second host all see the same problems. An alert mail goes through the
outbox with a deterministic Message-ID per (alert kind, local day): at most one mail per kind per day,
however many processes notice the same problem.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from checks.domain import OutboxStatus, ReplyKind
from ingest.pipeline.outbox import dispatch
from notify.mailer import build_message, domain_of, make_message_id
from store import Store, queries
from store.workload import workload

if TYPE_CHECKING:
    from ingest.runtime import Runtime

log = logging.getLogger(__name__)

# Words servers use when they refuse the credentials (Dovecot, Coremail/163, QQ, Exchange).
_LOGIN_REFUSED_WORDS = ("AUTHENTICATIONFAILED", "authentication failed", "LOGIN failed", "login fail",
                        "Unsafe Login", "invalid credentials", "password", "授权码")


@dataclass(frozen=True)
class Alert:
    """One thing wrong now, for staff (title and detail in Chinese); ``kind`` names it for the alert mail's key."""

    # login_refused | poll_failing | no_recent_poll | scheduler_stalled | messages_failed | links_expiring |
    # replies_failed | replies_stuck | reply_cap | processing_lag
    kind: str
    title: str
    detail: str


@dataclass(frozen=True)
class PollHistory:
    """How polling has gone since the last success: when that was, the failures since, the last error."""

    last_success: datetime | None
    failures_since_success: int
    first_failure_since_success: datetime | None
    last_error: str


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def poll_history(store: Store) -> PollHistory:
    """Failed polls since the last successful one (events), and that success's time."""
    last_success = _aware(store.last_successful_poll())
    failures = store.events_since("poll.failed", last_success)
    last_error = str(failures[-1][1].get("error", "")) if failures else ""
    return PollHistory(last_success=last_success, failures_since_success=len(failures),
                       first_failure_since_success=_aware(failures[0][0]) if failures else None,
                       last_error=last_error)


def looks_like_login_refused(error: str) -> bool:
    """Whether a poll error reads as the mailbox refusing the login (wrong 授权码, "Unsafe Login")."""
    lowered = error.lower()
    return any(word.lower() in lowered for word in _LOGIN_REFUSED_WORDS)


def current_alerts(rt: Runtime, *, now: datetime | None = None, cycle_running_since: datetime | None = None,
                   last_cycle_finished: datetime | None = None) -> list[Alert]:
    """What is wrong now. ``cycle_running_since`` / ``last_cycle_finished`` come from a running daemon's
    watchdog (in-memory); without them only what the database shows is judged."""
    now = now or datetime.now(timezone.utc)
    history = poll_history(rt.store)
    found = [poll_failing_alert(rt, history), failed_messages_alert(rt), expiring_links_alert(rt, now)]
    alerts = [a for a in found if a is not None] + reply_alerts(rt, now)
    lag = lag_alert(rt, now)
    if lag is not None:
        alerts.append(lag)
    return alerts + stalled_alerts(rt, history, now, cycle_running_since, last_cycle_finished)


def poll_failing_alert(rt: Runtime, history: PollHistory) -> Alert | None:
    """``intake.alert_after_failures`` failed polls in a row: the login refused (授权码), or polling failing."""
    intake = rt.config.intake
    if intake.alert_after_failures <= 0 or history.failures_since_success < intake.alert_after_failures:
        return None
    if looks_like_login_refused(history.last_error):
        return Alert("login_refused", "邮箱登录被拒绝（授权码错误、过期或被停用？）",
                     f"已连续 {history.failures_since_success} 次登录失败。最后一次错误：{history.last_error}\n"
                     "请在邮箱网页版重新生成授权码，更新服务器上的密码设置后重启收件程序。")
    return Alert("poll_failing", "连续收信失败",
                 f"已连续 {history.failures_since_success} 次收信失败，程序会自动重试。"
                 f"最后一次错误：{history.last_error}")


def failed_messages_alert(rt: Runtime) -> Alert | None:
    """Mails given up after their attempts: listed (the first ten) with what staff can do."""
    failed = rt.store.failed_messages()
    if not failed:
        return None
    lines = [f"邮件 #{m.id}（{m.from_addr or '发件人不明'}，主题“{(m.subject or '')[:40]}”）：{m.error}"
             for m in failed[:10]]
    more = f"\n……另有 {len(failed) - 10} 封" if len(failed) > 10 else ""
    return Alert("messages_failed", f"{len(failed)} 封邮件多次处理失败，已停止自动重试",
                 "\n".join(lines) + more + "\n原始邮件已保存在收件目录中，不会丢失。排除原因后运行"
                 "“intake retry 编号”重新处理；已人工处理的用“intake retry 编号 --dismiss --reason 说明”"
                 "标记。")


def stalled_alerts(rt: Runtime, history: PollHistory, now: datetime, cycle_running_since: datetime | None,
                   last_cycle_finished: datetime | None) -> list[Alert]:
    """No successful poll for ``intake.alert_no_poll_minutes``; a cycle running that long, or none started since."""
    intake = rt.config.intake
    if intake.alert_no_poll_minutes <= 0 or rt.config.imap is None:
        return []
    alerts: list[Alert] = []
    limit = timedelta(minutes=intake.alert_no_poll_minutes)
    reference = history.last_success or history.first_failure_since_success
    if reference is not None and now - reference > limit:
        since = "从未成功" if history.last_success is None else f"最近一次成功在 {_local(rt, history.last_success)}"
        alerts.append(Alert("no_recent_poll", f"超过 {intake.alert_no_poll_minutes} 分钟没有成功收信",
                            f"{since}。{('最后一次错误：' + history.last_error) if history.last_error else ''}"
                            "在此期间学校发来的邮件仍留在邮箱中，恢复后会自动补收。"))
    if cycle_running_since is not None and now - cycle_running_since > limit:
        alerts.append(Alert("scheduler_stalled", "收件程序一轮处理卡住",
                            f"本轮处理从 {_local(rt, cycle_running_since)} 开始，至今未结束；新邮件无法处理。"
                            "请查看日志，必要时重启收件程序（已收下的邮件不会丢失）。"))
    elif cycle_running_since is None and last_cycle_finished is not None and now - last_cycle_finished > limit:
        alerts.append(Alert("scheduler_stalled", "收件程序的定时任务停止运行",
                            f"最近一轮处理结束于 {_local(rt, last_cycle_finished)}，之后再没有开始新的一轮。"
                            "请重启收件程序（已收下的邮件不会丢失）。"))
    return alerts


def lag_alert(rt: Runtime, now: datetime) -> Alert | None:
    """Received mail waiting longer than ``intake.alert_lag_minutes`` to be processed: the daemon or the workers
    do not keep up with a deadline-day rush, or (distributed mode) no worker is running at all."""
    minutes = rt.config.intake.alert_lag_minutes
    if minutes <= 0:
        return None
    load = workload(rt.store, now=now)
    lag = load.lag(now)
    if load.oldest_unprocessed is None or lag <= timedelta(minutes=minutes):
        return None
    detail = (f"最早一封未处理的邮件于 {_local(rt, load.oldest_unprocessed)} 收到，已等待 {lag.total_seconds() / 60:.0f} 分钟"
              f"（告警阈值 {minutes} 分钟，intake.alert_lag_minutes）。")
    if load.queue is not None:
        detail += (f"任务队列：等待 {load.queue.waiting()} 个，进行中 {load.queue.running()} 个；"
                   f"在线工作进程 {load.queue.alive_workers} 个。")
        if not load.queue.alive_workers:
            detail += "没有在线的工作进程：请启动 intake run --workers N 或 intake worker。"
        else:
            detail += "可在其他主机运行 intake worker 增加工作进程。"
    return Alert("processing_lag", f"邮件处理积压超过 {minutes} 分钟", detail + "已收下的邮件不会丢失。")


def expiring_links_alert(rt: Runtime, now: datetime) -> Alert | None:
    """Large-attachment links that expire within ``[links] alert_days`` and whose file nobody has added yet: once
    the webmail deletes the file, the school must send it again."""
    days = rt.config.links.alert_days
    if days <= 0:
        return None
    pending = queries.pending_links(rt.store, rt.config.campaign.id, within_days=days, now=now,
                                    include_expired=False)
    if not pending:
        return None
    lines = [f"{p.case_no}（{p.case_name or '案例名称未识别'}，{p.sender}）：“{p.name}” {_local(rt, p.expires_at)} 到期"
             f"\n    {p.url}" for p in pending[:20]]
    more = f"\n……另有 {len(pending) - 20} 个" if len(pending) > 20 else ""
    return Alert("links_expiring", f"{len(pending)} 个超大附件链接将在 {days} 天内到期，文件尚未下载",
                 "\n".join(lines) + more + "\n请下载后用“intake attach 受理编号 文件”或管理页面的案例页上传，"
                 "系统会用该文件重新审查。")


# A reply whose SMTP attempt began this long ago and never ended is stuck (an attempt is bounded by the SMTP
# timeout, 30 s by default; a daemon that died inside one retries it on its next cycle).
STUCK_SENDING_MINUTES = 15


def reply_alerts(rt: Runtime, now: datetime) -> list[Alert]:
    """Replies that will not go out by themselves (failed for good, stuck in 'sending'), and the hourly cap on
    automatic replies being reached (further replies are held: someone may be flooding the mailbox)."""
    alerts: list[Alert] = []
    problems = rt.store.failed_replies(stuck_before=now - timedelta(minutes=STUCK_SENDING_MINUTES))
    failed = [r for r in problems if r.status == OutboxStatus.FAILED and r.kind != ReplyKind.ALERT]
    stuck = [r for r in problems if r.status == OutboxStatus.SENDING]
    if failed:
        lines = [f"回复 #{r.id}（{r.kind}，收件人 {r.recipient[:80]}）：{r.error[:200]}" for r in failed[:10]]
        more = f"\n……另有 {len(failed) - 10} 封" if len(failed) > 10 else ""
        alerts.append(Alert("replies_failed", f"{len(failed)} 封回复发送失败，不会自动重发",
                            "\n".join(lines) + more + "\n地址无效或被对方服务器拒收的回复不再重试；其他回复照常发送。"
                            "请核对地址后用“intake review reply 受理编号 --kind …”重新发送，或电话联系报送单位。"))
    if stuck:
        lines = [f"回复 #{r.id}（{r.kind}，收件人 {r.recipient[:80]}）自 {_local(rt, r.since)} 起" for r in stuck[:10]]
        alerts.append(Alert("replies_stuck", f"{len(stuck)} 封回复发送超过 {STUCK_SENDING_MINUTES} 分钟仍未完成",
                            "\n".join(lines) + "\n收件程序可能在发送这些回复时反复退出，或已停止运行。请查看日志。"))
    smtp = rt.config.smtp
    if smtp is not None and smtp.max_automatic_replies_per_hour > 0:
        count = rt.store.automatic_replies_since(now - timedelta(hours=1))
        if count >= smtp.max_automatic_replies_per_hour:
            alerts.append(Alert("reply_cap", "一小时内自动回复已达上限，其余回复暂不发送",
                                f"过去一小时已排队 {count} 封自动回复（上限 smtp.max_automatic_replies_per_hour = "
                                f"{smtp.max_automatic_replies_per_hour}）。超出部分已记录为“未发送”（suppressed），"
                                "不会自动补发：可能有人向征集邮箱大量发信。请在控制台核对，需要时由工作人员选择回复。"))
    return alerts


def _local(rt: Runtime, dt: datetime) -> str:
    return dt.astimezone(rt.config.campaign.tz).strftime("%Y-%m-%d %H:%M:%S")


def alert_message_id(rt: Runtime, kind: str, now: datetime) -> str:
    """Once per campaign, kind and local day (two campaigns replying from one domain each get theirs)."""
    day = now.astimezone(rt.config.campaign.tz).strftime("%Y%m%d")
    return make_message_id("alert", f"{rt.config.campaign.id}.{kind}.{day}", domain_of(rt.reply_from),
                           rt.message_id_key)


def enqueue_alerts(rt: Runtime, alerts: list[Alert], *, now: datetime | None = None) -> list[str]:
    """Queue one alert mail per alert (once per kind and day); returns the Message-IDs queued now."""
    now = now or datetime.now(timezone.utc)
    recipient = rt.config.campaign.organizer_email
    if not recipient or not alerts:
        return []
    queued: list[str] = []
    for alert in alerts:
        message_id = alert_message_id(rt, alert.kind, now)
        if rt.store.outbox_exists(message_id):
            continue
        context = {"campaign": {"name": rt.config.campaign.name, "mailbox": rt.config.campaign.mailbox,
                                "organizer_email": recipient},
                   "alert": {"title": alert.title, "detail": alert.detail, "at": _local(rt, now)}}
        rendered = rt.renderer.render("alert", context)
        smtp = rt.config.smtp
        raw = build_message(sender=rt.reply_from, sender_name=smtp.sender_name if smtp else "", recipient=recipient,
                            subject=rendered.subject, text=rendered.text, html=rendered.html, message_id=message_id)
        if rt.store.enqueue_mail(message_id=message_id, kind="alert", recipient=recipient, subject=rendered.subject,
                                 raw=raw):
            log.error("告警：%s — %s", alert.title, alert.detail)
            rt.store.log_event("alert.raised", detail={"kind": alert.kind, "title": alert.title,
                                                      "message_id": message_id})
            queued.append(message_id)
    return queued


def send_now(rt: Runtime) -> int:
    """Hand the due alert mails (only those, however many replies wait before them) to SMTP, through the same
    dispatch as replies: used when the cycle that would send them is stuck or not running (the watchdog,
    ``intake health --send-alerts`` from cron)."""
    if rt.config.smtp is None:
        return 0
    return dispatch(rt.store, rt.sender, rt.reply_from, retry_base_seconds=rt.config.smtp.retry_base_seconds,
                    only_alerts=True).sent
