"""收信与处理: run, worker, poll, import, retry, health."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click

from ingest.cli.shell import (
    app_config,
    campaign_heading,
    campaign_option,
    campaign_views,
    config_option,
    config_path,
    echo_json,
    fail,
    json_time,
    local_time,
    log_config_warnings,
    open_runtime,
    open_runtimes,
    open_store,
)

if TYPE_CHECKING:
    from ingest.config import AppConfig
    from ingest.runtime import Runtime
    from store.workload import Workload
    from ingest.runtime import Runtime


def memory_note(cfg: AppConfig) -> str:
    """"；峰值内存 98 MB（读取附件的工作进程另计 140 MB）": peak resident memory of this process and of the worker
    process that read the attachments (ingest/files/isolation.py); each from its own VmHWM."""
    from ingest.files.isolation import peak_memory_mb, worker_peak_memory_mb

    own = peak_memory_mb()
    if not own:
        return ""
    worker = worker_peak_memory_mb(cfg.limits)
    extra = f"（读取附件的工作进程另计 {worker:.0f} MB）" if worker else ""
    return f"；峰值内存 {own:.0f} MB{extra}"


@click.command()
@config_option
# Kept so scripts written for earlier versions (`intake poll --once`) still run: one cycle is all poll does.
@click.option("--once", is_flag=True, hidden=True, expose_value=False)
@campaign_option
def poll(campaign: str | None) -> None:
    """收一轮信：取新邮件、检查、登记、发送回执，然后退出（适合 cron 和脚本）。

    配置了多个征集时，每个征集的邮箱各收一轮（某个邮箱出错不影响其他征集），--campaign 只收其中一个。

    \b
    示例：
      INTAKE_IMAP_PASSWORD=授权码 INTAKE_SMTP_PASSWORD=授权码 intake poll --config config.toml
    """
    import threading

    from ingest.pipeline.daemon import Daemon, poll_all
    from ingest.logs import setup_logging

    cfg = app_config(secrets=True)
    setup_logging(cfg.intake.log_format)
    log_config_warnings(cfg)
    runtimes = open_runtimes(cfg, campaign)
    _refuse_beside_workers(runtimes[0])
    stop = threading.Event()
    reports = poll_all([Daemon(rt, stop) for rt in runtimes])
    views = tuple(rt.config for rt in runtimes)
    lines = [f"{heading}：{report.summary()}" if (heading := campaign_heading(rt.config, views)) else report.summary()
             for rt, report in zip(runtimes, reports)]
    lines[-1] += memory_note(cfg)
    click.echo("\n".join(lines))
    if any(r.error for r in reports):
        sys.exit(1)


def _worker_options(f: Callable[..., None]) -> Callable[..., None]:
    f = click.option("--stalled-after-seconds", type=click.FloatRange(min=1), default=60.0, show_default=True,
                     help="工作进程多久没有心跳即视为已停止，其任务由其他工作进程接手。")(f)
    return click.option("--heartbeat-seconds", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
                        help="工作进程心跳间隔（写入数据库，intake health 显示）。")(f)


@click.command()
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="多进程模式（仅限 PostgreSQL）：在本机启动这么多个工作进程并行处理；其他主机用 intake worker 加入。"
                   "不给出时单进程运行。")
@_worker_options
@config_option
@campaign_option
def run(workers: int | None, heartbeat_seconds: float, stalled_after_seconds: float, campaign: str | None) -> None:
    """作为守护进程运行：按配置的间隔收信，直到收到 SIGTERM。

    单进程（默认，SQLite 或 PostgreSQL）：一个进程收信、检查、登记、发回执；配置了多个征集时同时服务全部征集
    （每个邮箱各自收信，某个邮箱出错不影响其他征集），--campaign 只服务其中一个。
    --workers N（PostgreSQL）：N 个工作进程分担收信、逐封处理和发送回执；同一发件人的邮件按到达顺序处理，
    收到 SIGTERM 时每个进程做完手头的一件再退出；进程被杀后其任务由其他进程接手，不丢不重。

    \b
    示例：
      intake run --config /etc/case-intake/config.toml
      intake run --workers 4 --config /etc/case-intake/config.toml
    """
    from ingest.logs import setup_logging

    cfg = app_config(secrets=True)
    setup_logging(cfg.intake.log_format)
    log_config_warnings(cfg)
    if workers is None:
        import threading

        from ingest.pipeline.daemon import Daemon, serve_forever

        runtimes = open_runtimes(cfg, campaign)
        _refuse_beside_workers(runtimes[0])
        stop = threading.Event()
        serve_forever([Daemon(rt, stop) for rt in runtimes])
        return
    from ingest.distributed import require_distributed

    require_distributed(cfg.intake.database_url)
    from ingest.distributed.queue import ensure_schema
    from ingest.distributed.tasks import WorkerSettings
    from ingest.distributed.workers import Supervisor

    open_runtimes(cfg)  # every campaign's configuration and templates, and our schema, checked once before any worker
    ensure_schema(cfg.intake.database_url)
    settings = WorkerSettings(heartbeat_seconds=heartbeat_seconds, stalled_after_seconds=stalled_after_seconds)
    sys.exit(Supervisor(config_path(), workers, settings).run())


@click.command()
@_worker_options
@config_option
def worker(heartbeat_seconds: float, stalled_after_seconds: float) -> None:
    """多进程模式（PostgreSQL）的一个工作进程：与 intake run --workers 共用数据库和收件目录，可在其他主机运行。

    收信、处理和发送回执以任务形式分给所有工作进程；收到 SIGTERM 时做完手头的任务再退出。
    各主机的 spool_dir 须指向同一个共享目录（例如 NFS）。

    \b
    示例：
      intake worker --config /etc/case-intake/config.toml
    """
    from ingest.logs import setup_logging

    cfg = app_config(secrets=True)
    setup_logging(cfg.intake.log_format)
    log_config_warnings(cfg)
    from ingest.distributed import require_distributed

    require_distributed(cfg.intake.database_url)
    from ingest.distributed.tasks import WorkerSettings
    from ingest.distributed.workers import run_worker

    settings = WorkerSettings(heartbeat_seconds=heartbeat_seconds, stalled_after_seconds=stalled_after_seconds)
    run_worker(open_runtimes(cfg), settings)


def _alive_workers(rt: Runtime) -> int:
    """Distributed-mode workers with a fresh heartbeat on this database (0 on SQLite or without the queue)."""
    from store.workload import queue_state

    queue = queue_state(rt.store)
    return queue.alive_workers if queue is not None else 0


def _workers_line(alive: int) -> str:
    """The first half of every refusal beside workers: how many run, and which commands they are."""
    return f"这个数据库上有 {alive} 个多进程模式的工作进程在运行（intake run --workers / intake worker）"


def _refuse_beside_workers(rt: Runtime) -> None:
    """The single-process daemon and distributed workers on one database would work the same mail at the same
    time (the daemon's lease and the workers' locks do not know each other): one line instead."""
    if alive := _alive_workers(rt):
        fail(f"{_workers_line(alive)}："
             "请不要同时运行单进程的 intake run 或 intake poll；先停止工作进程，或继续使用多进程模式")


@click.command("import")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--process/--no-process", default=True, show_default=True,
              help="导入后也在本进程中检查、登记并回复（intake run / intake poll 正在处理这个邮箱时，交给它处理）；"
                   "多进程模式的工作进程在运行时须用 --no-process，由工作进程处理。")
@config_option
@campaign_option
def import_(source: Path, process: bool, campaign: str | None) -> None:
    """从 .eml 文件、mbox 或 Maildir 补录邮件，走与收信相同的流程（重复导入不会重复登记）。

    配置了多个征集时须用 --campaign 指明邮件属于哪个征集。多进程模式的工作进程在运行时只能加 --no-process 导入，
    导入的邮件由工作进程在下一次定时检查时接手处理。

    \b
    示例：
      intake import ~/导出邮件/INBOX.mbox
      intake import --no-process ~/导出邮件/INBOX.mbox     # 多进程模式（intake run --workers / intake worker）
    """
    from ingest.mail.local import import_local
    from ingest.logs import setup_logging
    from ingest.pipeline.daemon import Daemon
    from ingest.pipeline.outbox import dispatch
    from ingest.pipeline.process import process_pending

    cfg = app_config(secrets=True)
    if campaign is None and cfg.multi:
        fail(f"配置了多个征集（{'、'.join(cfg.campaign_ids)}）：请用 --campaign 指明这些邮件属于哪个征集")
    setup_logging(cfg.intake.log_format)
    log_config_warnings(cfg)
    [rt] = open_runtimes(cfg, campaign)
    # Processing here works every pending mail of the campaign, the workers' too, outside their sender locks (as
    # `intake poll` would): refused before anything is imported. Without processing, the workers' tick queues
    # what was imported (ingest/distributed/tasks.py, sweep: every spooled message without a job).
    alive = _alive_workers(rt)
    every = f"每 {rt.config.intake.poll_interval_seconds} 秒一次"
    if alive and process:
        fail(f"{_workers_line(alive)}：intake import 会在本进程中处理邮件，与工作进程同时处理同一批邮件；"
             f"请改用 intake import --no-process 只导入，工作进程在下一次定时检查时（{every}）接手处理并发送回执")
    new, known = import_local(source, rt.store, rt.spool)
    click.echo(f"导入：新邮件 {new} 封，已存在 {known} 封")
    if alive:
        click.echo(f"处理：交给在运行的 {alive} 个工作进程，下一次定时检查时（{every}）开始；"
                   "intake health 显示处理积压")
    if not process:
        return
    # A running `intake run` / `intake poll` on this mailbox works the same queue: its lease decides who does.
    daemon = Daemon(rt)
    with daemon.holding_lease() as held:
        if not held:
            click.echo(f"处理：intake run / intake poll 正在处理这个邮箱的邮件，导入的邮件由它在下一轮（{every}）"
                       "接手处理并发送回执")
            return
        rep = process_pending(rt, stop_requested=daemon.stop_or_renew)
        click.echo(f"处理：入库 {rep.stored}，跳过 {rep.skipped}，失败 {rep.failed}")
        smtp = rt.config.smtp
        if smtp is not None:
            sent = dispatch(rt.store, rt.sender, rt.reply_from, retry_base_seconds=smtp.retry_base_seconds,
                            stop_requested=daemon.stop_or_renew)
            click.echo(f"回执：发送 {sent.sent}，失败 {sent.failed}")


@click.command()
@click.argument("message_ids", nargs=-1, type=int)
@click.option("--dismiss", is_flag=True, help="改为搁置这些邮件（已人工处理）；需同时给出 --reason。")
@click.option("--reason", default="", help="为什么搁置（写入操作记录）。")
@click.option("--actor", envvar="USER", default="staff", show_default=True, help="操作人（写入操作记录）。")
@config_option
@campaign_option
def retry(message_ids: tuple[int, ...], dismiss: bool, reason: str, actor: str, campaign: str | None) -> None:
    """多次处理失败的邮件（intake health 会提示）：列出、重新排队或搁置。

    不给邮件编号时列出处理失败的邮件；给出编号时，这些邮件在下一轮收信时重新处理（先排除故障原因），
    加 --dismiss 则记为已人工处理。

    \b
    示例：
      intake retry
      intake retry 17 23
      intake retry 17 --dismiss --reason "已电话联系学校重新发送"
    """
    cfg = app_config()
    views = campaign_views(cfg, campaign)
    shared = open_store(cfg, writes=bool(message_ids))  # listing only reads
    store = shared.for_campaign(campaign)  # message numbers are unique in the database; --campaign narrows
    if not message_ids:
        for view in views:
            failed = shared.for_campaign(view.campaign.id).failed_messages()
            if heading := campaign_heading(view, views):
                click.echo(heading)
            for m in failed:
                click.echo(f"#{m.id}  {local_time(m.received_at, view.campaign.tz)}  "
                           f"{m.from_addr or '发件人不明'}  “{(m.subject or '')[:40]}”  {m.error}")
            click.echo(f"多次处理失败的邮件：{len(failed)} 封")
        return
    if dismiss and not reason.strip():
        fail("--dismiss 需要 --reason 说明如何处理的")
    for message_id in message_ids:
        done = (store.dismiss_message(message_id, actor=actor, reason=reason.strip()) if dismiss
                else store.retry_message(message_id, actor=actor))
        if not done:
            fail(f"邮件 #{message_id} 不存在或不是处理失败的邮件（用 intake retry 查看）")
        click.echo(f"邮件 #{message_id}：" + ("已标记为人工处理" if dismiss else "已重新排队，下一轮收信时处理"))


def _lag_json(load: Workload, tz: tzinfo) -> dict[str, Any]:
    return {"oldest_unprocessed": json_time(load.oldest_unprocessed, tz),
            "lag_seconds": round(load.lag().total_seconds())}


def _queue_json(load: Workload, tz: tzinfo) -> dict[str, Any] | None:
    """The task queue of distributed mode; None in single-process mode."""
    q = load.queue
    if q is None:
        return None
    return {"waiting": q.waiting(), "running": q.running(), "jobs": q.jobs, "workers_alive": q.alive_workers,
            "workers": [{"id": w.worker_id, "last_heartbeat": json_time(w.last_heartbeat, tz), "alive": w.alive}
                        for w in q.workers]}


def _workload_lines(lags: dict[str, Workload], load: Workload, tz: tzinfo) -> list[str]:
    """处理积压 per campaign, then the task queue and its workers when distributed mode runs."""
    lines = []
    for campaign_id, lag in lags.items():
        if lag.oldest_unprocessed is None:
            lines.append(f"处理积压（{campaign_id}）：无")
        else:
            lines.append(f"处理积压（{campaign_id}）：最早一封未处理的邮件收到于 "
                         f"{local_time(lag.oldest_unprocessed, tz, '%Y-%m-%d %H:%M:%S')}，已等待 {_duration(lag.lag())}")
    q = load.queue
    if q is None:
        return lines
    from ingest.distributed import TASK_LABELS

    by_task = "，".join(f"{TASK_LABELS.get(name, name)} {q.waiting(name)}" for name in sorted(q.jobs)
                        if q.waiting(name))
    lines.append(f"任务队列：等待 {q.waiting()}{f'（{by_task}）' if by_task else ''}，进行中 {q.running()}")
    lines.append(f"工作进程：在线 {q.alive_workers} 个" + "".join(
        f"\n  #{w.worker_id} 最近心跳 {local_time(w.last_heartbeat, tz, '%Y-%m-%d %H:%M:%S')}"
        f"{'' if w.alive else '（已失联）'}" for w in q.workers))
    return lines


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} 秒"
    if seconds < 3600:
        return f"{seconds // 60} 分钟"
    return f"{seconds // 3600} 小时 {seconds % 3600 // 60} 分钟"


def _counts_line(counts: dict[str, int], label: Callable[[str], str]) -> str:
    """"已回复 3，处理失败 1": counts by status, each status by its Chinese label."""
    return "，".join(f"{label(k)} {v}" for k, v in sorted(counts.items())) or "无"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="输出一个 JSON 对象（供脚本使用）。")
@click.option("--send-alerts", is_flag=True,
              help="同时把每个问题发邮件给 campaign.organizer_email（每类每天一次），供 cron 使用。")
@config_option
@campaign_option
def health(as_json: bool, send_alerts: bool, campaign: str | None) -> None:
    """守护进程是否正常：最近一次成功收信、处理积压、队列、工作进程、失败和告警。有问题时退出码为 1。

    配置了多个征集时逐个征集列出（JSON 的 campaigns 按征集 id 给出各征集的情况），--campaign 只看其中一个。

    \b
    示例：
      intake health --json
      */10 * * * *  intake health --send-alerts     # cron：守护进程本身停了也能告警
    """
    cfg = app_config(secrets=send_alerts)
    runtimes = open_runtimes(cfg, campaign, writes=send_alerts)
    views = tuple(rt.config for rt in runtimes)
    found = [_campaign_health(rt, send_alerts) for rt in runtimes]
    queue = found[0].queue  # one task queue for the whole deployment
    if as_json:
        per_campaign = {rt.config.campaign.id: h.data for rt, h in zip(runtimes, found)}
        every_alert = [{**a, "campaign": cid} for cid, d in per_campaign.items() for a in d["alerts"]]
        top = found[0].data if len(found) == 1 else {"timezone": str(views[0].campaign.tz)}
        echo_json({**top, "campaigns": per_campaign, "queue": queue, "alerts": every_alert})
    else:
        for rt, h in zip(runtimes, found):
            if heading := campaign_heading(rt.config, views):
                click.echo(heading)
            click.echo("\n".join(h.lines))
        for line in found[0].queue_lines:
            click.echo(line)
    if any(h.data["alerts"] for h in found):
        sys.exit(1)


@dataclass(frozen=True)
class CampaignHealth:
    """One campaign's health: its JSON object, its lines of text, and the task queue (the same for every one)."""

    data: dict[str, Any]
    lines: list[str]
    queue_lines: list[str]
    queue: dict[str, Any] | None


def _campaign_health(rt: Runtime, send_alerts: bool) -> CampaignHealth:
    """One campaign's last poll, mail and reply states, lag and alerts (sent too with ``send_alerts``)."""
    from checks.domain import MessageStatus, OutboxStatus
    from ingest.pipeline.alerts import current_alerts, enqueue_alerts, poll_history, send_now
    from store.workload import workload

    tz = rt.config.campaign.tz
    store = rt.store
    history = poll_history(store)
    last = history.last_success
    messages, outbox = store.message_status_counts(), store.outbox_counts()
    load = workload(store)  # this campaign's lag (its view of the database) and the deployment's task queue
    alerts = current_alerts(rt)
    if send_alerts:
        enqueue_alerts(rt, alerts)
        send_now(rt)
    data = {"timezone": str(tz), "last_successful_poll": json_time(last, tz),
            "failed_polls_since": history.failures_since_success, "last_error": history.last_error or None,
            "messages": messages, "outbox": outbox, **_lag_json(load, tz),
            "alerts": [{"kind": a.kind, "title": a.title, "detail": a.detail} for a in alerts]}
    lines = [f"最近一次成功收信：{local_time(last, tz, '%Y-%m-%d %H:%M:%S') or '从未'}"]
    if history.failures_since_success:
        lines.append(f"此后收信失败 {history.failures_since_success} 次，最后一次：{history.last_error}")
    lines.append("邮件状态：" + _counts_line(messages, MessageStatus.label_of))
    lines.append("回执队列：" + _counts_line(outbox, OutboxStatus.label_of))
    lag_line, *queue_lines = _workload_lines({rt.config.campaign.id: load}, load, tz)
    lines.append(lag_line)
    lines += [f"告警：{a.title}。{a.detail}" for a in alerts] or ["告警：无"]
    return CampaignHealth(data, lines, queue_lines, _queue_json(load, tz))


COMMANDS: list[click.Command] = [run, worker, poll, import_, retry, health]
