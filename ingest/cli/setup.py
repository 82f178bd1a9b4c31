"""开始使用: demo, init, check-config, passwd, web."""

from __future__ import annotations

from pathlib import Path

import click

from ingest.cli.shell import app_config, config_option, fail, open_runtimes


@click.command("check-config")
@config_option
def check_config() -> None:
    """检查配置、规则和回执模板，并把数据库升级到最新结构。

    \b
    示例：
      intake check-config --config /etc/case-intake/config.toml
    """
    cfg = app_config(secrets=True)
    for warning in cfg.warnings:
        click.echo(f"警告：{warning}", err=True)
    for rt in open_runtimes(cfg):  # every campaign: its rules and templates are validated on the way
        c = rt.config.campaign
        click.echo(f"配置有效：{c.name}（{c.id}），截止 {c.deadline}，"
                   f"{len(rt.campaign.subject_spec.categories)} 个类别，{len(rt.campaign.rules.rules)} 条规则")
    _queue_schema(cfg.intake.database_url)


def _queue_schema(database_url: str) -> None:
    """On PostgreSQL with procrastinate installed, the task queue of distributed mode is made ready too (the
    workers would do it at their first start; here an operator sees it done)."""
    from ingest.distributed import DistributedUnavailable, require_distributed

    try:
        require_distributed(database_url)
    except DistributedUnavailable:
        return  # single-process mode only: nothing to prepare
    from ingest.distributed.queue import ensure_schema

    click.echo(f"多进程模式：{ensure_schema(database_url).summary()}")


@click.command()
@click.option("--dir", "demo_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo"),
              show_default=True, help="演示用的邮箱、数据库、存档和回执目录建在这里。")
@click.option("--count", default=6, show_default=True, help="生成多少份样例申报。")
def demo(demo_dir: Path, count: int) -> None:
    """用生成的样例申报跑一遍全流程：SQLite，无需邮箱账号，回执写成文件。

    \b
    示例：
      intake demo --dir /tmp/intake-demo
    """
    from ingest.setup.demo import run_demo

    run_demo(demo_dir, count, echo=click.echo)


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--mailbox", required=True, help="征集邮箱地址，例如 jcjyzj2025@163.com。")
def init(directory: Path, mailbox: str) -> None:
    """为正式部署生成 config.toml、secrets.env（权限 600）和 systemd 服务文件。

    已有的文件不会被覆盖。管理页面的会话密钥和第一个工作人员账号的密码随机生成；
    IMAP/SMTP 授权码留空待填，intake check-config 会一次列出所有还缺的密钥。

    \b
    示例：
      intake init /srv/case-intake --mailbox jcjyzj2025@163.com
    """
    from ingest.setup.deploy import init_deployment, print_next_steps

    print_next_steps(init_deployment(directory, mailbox), click.echo)


@click.command()
@click.option("--password", prompt="新密码", hide_input=True, confirmation_prompt="再输入一次",
              help="要生成散列的密码（不给出时会提示输入）。")
def passwd(password: str) -> None:
    """为 [[console.users]] 的 password_hash 生成 argon2 散列。

    \b
    示例：
      intake passwd
    """
    from console.auth import hash_password

    if len(password) < 10:
        fail("密码至少 10 个字符")
    click.echo(hash_password(password))


@click.command()
@config_option
@click.option("--host", help="监听地址（默认：console.host）。")
@click.option("--port", type=int, help="端口（默认：console.port）。")
def web(host: str | None, port: int | None) -> None:
    """启动工作人员管理页面（登录、总览、案例、审核、导出）。

    \b
    示例：
      INTAKE_CONSOLE_SECRET=... intake web --config /etc/case-intake/config.toml
    """
    import uvicorn

    from ingest.logs import setup_logging
    from ingest.staff.webapp import build_console

    cfg = app_config(secrets=True)
    if cfg.console is None:
        fail("配置中没有 [console] 段，无法启动管理页面")
    setup_logging(cfg.intake.log_format)
    first, *others = open_runtimes(cfg)  # every campaign: staff switch between them
    app = build_console(first, others=others)
    uvicorn.run(app, host=host or cfg.console.host, port=port or cfg.console.port, log_level="info")


COMMANDS: list[click.Command] = [demo, init, check_config, passwd, web]
