"""The ``intake`` command: a thin layer over the library. Every command has --help with an example."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

import click

from ingest.config import AppConfig, ConfigError, load_config
from ingest.logs import setup_logging
from ingest.runtime import Runtime, StartupError

CONFIG_HELP = "Configuration file (default: $INTAKE_CONFIG, else ./config.toml)."


def fail(message: str) -> NoReturn:
    click.echo(f"错误：{message}", err=True)
    sys.exit(2)


def _load(config: str | None, *, offline: bool = False) -> AppConfig:
    try:
        return load_config(config, offline=offline)
    except ConfigError as exc:
        fail(str(exc))


def _runtime(cfg: AppConfig, *, open_store: bool = True) -> Runtime:
    try:
        return Runtime(cfg, open_store=open_store)
    except StartupError as exc:
        fail(str(exc))


def memory_note(cfg: AppConfig) -> str:
    """"；峰值内存 98 MB（读取附件的工作进程另计 140 MB）": peak resident memory of this process and of the worker
    process that read the attachments (ingest/isolation.py); each from its own VmHWM."""
    from ingest.isolation import peak_memory_mb, worker_peak_memory_mb

    own = peak_memory_mb()
    if not own:
        return ""
    worker = worker_peak_memory_mb(cfg.limits)
    extra = f"（读取附件的工作进程另计 {worker:.0f} MB）" if worker else ""
    return f"；峰值内存 {own:.0f} MB{extra}"


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="case-intake")
def main() -> None:
    """case-intake：案例征集邮件自动收件、形式审查与回执。

    \b
    Example:
      intake demo                      # whole job on sample mail, SQLite, no mail account
      intake --help / intake COMMAND --help
    """


@main.command("check-config")
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def check_config(config_path: str | None) -> None:
    """Validate the configuration, rules and templates, and migrate the database.

    \b
    Example:
      intake check-config --config /etc/case-intake/config.toml
    """
    cfg = _load(config_path)
    rt = _runtime(cfg)
    click.echo(f"配置有效：{cfg.campaign.name}（{cfg.campaign.id}），截止 {cfg.campaign.deadline}，"
               f"{len(rt.campaign.subject_spec.categories)} 个类别，{len(rt.campaign.rules.rules)} 条规则")
    rt.close()


@main.command()
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
@click.option("--once", is_flag=True, default=True, show_default=True, help="Run exactly one cycle (the default).")
def poll(config_path: str | None, once: bool) -> None:
    """Run one cycle: fetch new mail, check it, file it, send replies.

    \b
    Example:
      INTAKE_IMAP_PASSWORD=授权码 INTAKE_SMTP_PASSWORD=授权码 intake poll --once --config config.toml
    """
    from ingest.daemon import Daemon

    cfg = _load(config_path)
    setup_logging(cfg.intake.log_format)
    rt = _runtime(cfg)
    report = Daemon(rt).cycle()
    click.echo(report.summary() + memory_note(cfg))
    rt.close()
    if report.error:
        sys.exit(1)


@main.command()
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def run(config_path: str | None) -> None:
    """Run the daemon: poll on the configured interval until SIGTERM.

    \b
    Example:
      intake run --config /etc/case-intake/config.toml
    """
    from ingest.daemon import Daemon

    cfg = _load(config_path)
    setup_logging(cfg.intake.log_format)
    rt = _runtime(cfg)
    Daemon(rt).run_forever()
    rt.close()


@main.command()
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def subject(text: str, as_json: bool, config_path: str | None) -> None:
    """Try how a subject line is understood, without sending mail.

    \b
    Example:
      intake subject --json "浙江省/杭州市文三街小学AI+劳动课程群建设+人工智能教育"
    """
    from checks.subject import parse_subject

    cfg = _load(config_path, offline=True)
    rt = _runtime(cfg, open_store=False)
    parsed = parse_subject(text, rt.campaign.subject_spec)
    data = parsed.to_json()
    if as_json:
        _print_json(data)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="主题解析", show_header=False)
    labels = {"submitter_kind": "报送方式", "province": "省份", "city": "市/县", "organization": "单位",
              "case_name": "案例名称", "category_no": "类别编号", "category": "类别", "part": "分封",
              "confidence": "可信度", "needs_review": "需人工审核", "reasons": "原因"}
    for key, label in labels.items():
        value = data.get(key)
        table.add_row(label, "；".join(value) if isinstance(value, list) else "—" if value is None else str(value))
    Console().print(table)


def _parse_when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--received: 不是 ISO 时间：{value!r}（例如 2025-12-10T18:00+08:00）")
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


@main.command()
@click.argument("mail_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--received", help="Received time for deadline/quota rules (ISO 8601); default: the Date header.")
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def inspect(mail_file: Path, as_json: bool, received: str | None, config_path: str | None) -> None:
    """Inspect a saved mail (.eml) offline: subject, attachments, defects, findings, verdict.

    \b
    Example:
      intake inspect 收件箱导出/某校申报.eml --json
    """
    from ingest.inspect import inspect_file, render_report

    cfg = _load(config_path, offline=True)
    rt = _runtime(cfg, open_store=False)
    try:
        report = inspect_file(rt, mail_file, _parse_when(received))
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        _print_json(report)
    else:
        render_report(report)


@main.command("import")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--process/--no-process", default=True, show_default=True, help="Also check, file and reply.")
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def import_(source: Path, process: bool, config_path: str | None) -> None:
    """Backfill mail from .eml files, an mbox or a Maildir through the same pipeline (idempotent).

    \b
    Example:
      intake import ~/导出邮件/INBOX.mbox
    """
    from ingest.local import import_local
    from ingest.outbox import dispatch
    from ingest.pipeline import process_pending

    cfg = _load(config_path)
    setup_logging(cfg.intake.log_format)
    rt = _runtime(cfg)
    new, known = import_local(source, rt.store, rt.spool)
    click.echo(f"导入：新邮件 {new} 封，已存在 {known} 封")
    if process:
        rep = process_pending(rt)
        click.echo(f"处理：入库 {rep.stored}，跳过 {rep.skipped}，失败 {rep.failed}")
        if cfg.smtp is not None:
            sent = dispatch(rt.store, rt.sender, rt.reply_from, retry_base_seconds=cfg.smtp.retry_base_seconds)
            click.echo(f"回执：发送 {sent.sent}，失败 {sent.failed}")
    rt.close()


@main.command()
@click.argument("case_nos", nargs=-1)
@click.option("--actor", envvar="USER", default="staff", show_default=True, help="Who asks (event log).")
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def recheck(case_nos: tuple[str, ...], actor: str, config_path: str | None) -> None:
    """Re-run the checks on stored cases (all, or the given case numbers) after a rule change. Sends nothing.

    \b
    Example:
      intake recheck JCJY2025-000012 JCJY2025-000031
    """
    from ingest.pipeline import recheck_message

    cfg = _load(config_path, offline=True)
    rt = _runtime(cfg)
    targets = rt.store.current_versions(cfg.campaign.id, case_nos)
    missing = set(case_nos) - {no for no, _ in targets}
    if missing:
        fail(f"没有这些受理编号：{'、'.join(sorted(missing))}")
    for case_no, message_row_id in targets:
        status = recheck_message(rt, message_row_id, actor=actor)
        click.echo(f"{case_no}：{status}")
    rt.close()


@main.command()
@click.argument("message_ids", nargs=-1, type=int)
@click.option("--dismiss", is_flag=True, help="Set the messages aside instead (handled by hand); needs --reason.")
@click.option("--reason", default="", help="Why they are set aside (event log).")
@click.option("--actor", envvar="USER", default="staff", show_default=True, help="Who asks (event log).")
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def retry(message_ids: tuple[int, ...], dismiss: bool, reason: str, actor: str, config_path: str | None) -> None:
    """Mail that failed for good (shown by `intake health`): list it, queue it again, or set it aside.

    Without message numbers: list the failed messages. With them: they are processed again on the next poll
    (after the cause was fixed), or with --dismiss recorded as handled by hand.

    \b
    Example:
      intake retry
      intake retry 17 23
      intake retry 17 --dismiss --reason "已电话联系学校重新发送"
    """
    cfg = _load(config_path, offline=True)
    rt = _runtime(cfg)
    store = rt.store
    if not message_ids:
        failed = store.failed_messages()
        for m in failed:
            click.echo(f"#{m.id}  {m.received_at.astimezone(cfg.campaign.tz):%Y-%m-%d %H:%M}  "
                       f"{m.from_addr or '发件人不明'}  “{(m.subject or '')[:40]}”  {m.error}")
        click.echo(f"多次处理失败的邮件：{len(failed)} 封")
        rt.close()
        return
    if dismiss and not reason.strip():
        fail("--dismiss 需要 --reason 说明如何处理的")
    for message_id in message_ids:
        done = (store.dismiss_message(message_id, actor=actor, reason=reason.strip()) if dismiss
                else store.retry_message(message_id, actor=actor))
        if not done:
            fail(f"邮件 #{message_id} 不存在或不是处理失败的邮件（用 intake retry 查看）")
        click.echo(f"邮件 #{message_id}：" + ("已标记为人工处理" if dismiss else "已重新排队，下一轮收信时处理"))
    rt.close()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--send-alerts", is_flag=True,
              help="Also mail each problem to campaign.organizer_email (once per kind and day); for cron.")
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
def health(as_json: bool, send_alerts: bool, config_path: str | None) -> None:
    """Show the daemon's health: last successful poll, queues, failures, alerts. Exits 1 when there is a problem.

    \b
    Example:
      intake health --json
      */10 * * * *  intake health --send-alerts     # cron: alert even when the daemon itself is dead
    """
    from ingest.alerts import current_alerts, enqueue_alerts, poll_history, send_now

    cfg = _load(config_path, offline=not send_alerts)
    rt = _runtime(cfg)
    store = rt.store
    history = poll_history(store)
    last = history.last_success
    messages, outbox = store.message_status_counts(), store.outbox_counts()
    alerts = current_alerts(rt)
    if send_alerts:
        enqueue_alerts(rt, alerts)
        send_now(rt)
    if as_json:
        _print_json({"last_successful_poll": last.isoformat() if last else None,
                     "failed_polls_since": history.failures_since_success, "last_error": history.last_error or None,
                     "messages": messages, "outbox": outbox,
                     "alerts": [{"kind": a.kind, "title": a.title, "detail": a.detail} for a in alerts]})
    else:
        click.echo(f"最近一次成功收信：{last.astimezone(cfg.campaign.tz):%Y-%m-%d %H:%M:%S}" if last else
                   "最近一次成功收信：从未")
        if history.failures_since_success:
            click.echo(f"此后收信失败 {history.failures_since_success} 次，最后一次：{history.last_error}")
        click.echo("邮件状态：" + ("，".join(f"{k} {v}" for k, v in sorted(messages.items())) or "无"))
        click.echo("回执队列：" + ("，".join(f"{k} {v}" for k, v in sorted(outbox.items())) or "无"))
        for a in alerts:
            click.echo(f"告警：{a.title}。{a.detail}")
        if not alerts:
            click.echo("告警：无")
    rt.close()
    if alerts:
        sys.exit(1)


@main.command()
@click.option("--config", "config_path", envvar="INTAKE_CONFIG", help=CONFIG_HELP)
@click.option("--host", help="Address to listen on (default: console.host).")
@click.option("--port", type=int, help="Port (default: console.port).")
def web(config_path: str | None, host: str | None, port: int | None) -> None:
    """Serve the staff web console (sign-in, dashboard, cases, review, export).

    \b
    Example:
      INTAKE_CONSOLE_SECRET=... intake web --config /etc/case-intake/config.toml
    """
    import uvicorn

    from ingest.webapp import build_console

    cfg = _load(config_path)
    if cfg.console is None:
        fail("配置中没有 [console] 段，无法启动管理页面")
    setup_logging(cfg.intake.log_format)
    rt = _runtime(cfg)
    app = build_console(rt)
    uvicorn.run(app, host=host or cfg.console.host, port=port or cfg.console.port, log_level="info")


@main.command()
@click.option("--password", prompt="新密码", hide_input=True, confirmation_prompt="再输入一次",
              help="The password to hash (asked for when not given).")
def passwd(password: str) -> None:
    """Print an argon2 hash for a [[console.users]] entry's password_hash.

    \b
    Example:
      intake passwd
    """
    from console.auth import hash_password

    if len(password) < 10:
        fail("密码至少 10 个字符")
    click.echo(hash_password(password))


@main.command()
@click.option("--dir", "demo_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo"),
              show_default=True, help="Where the demo mailbox, database, spool and outbox are created.")
@click.option("--count", default=6, show_default=True, help="How many sample submissions to generate.")
def demo(demo_dir: Path, count: int) -> None:
    """Run the whole job on generated sample submissions: SQLite, no mail account, replies to files.

    \b
    Example:
      intake demo --dir /tmp/intake-demo
    """
    from ingest.demo import run_demo

    run_demo(demo_dir, count, echo=click.echo)


def _register_staff_commands() -> None:
    from ingest.staff import STAFF_COMMANDS

    for command in STAFF_COMMANDS:
        main.add_command(command)


_register_staff_commands()

if __name__ == "__main__":
    main()
