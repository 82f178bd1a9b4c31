"""The ``intake`` command: a thin shell over the library, commands grouped by area.

    ingest/cli/shell.py     --config, the configuration, resources closed by click, one-line errors
    ingest/cli/zh.py        click's own words in Chinese
    ingest/cli/setup.py     开始使用: demo, check-config, passwd, web
    ingest/cli/mailbox.py   收信与处理: run, worker, poll, import, retry, health
    ingest/cli/trial.py     离线试用: subject, inspect
    ingest/cli/cases.py     查询与导出: stats, list, show, export, chart
    ingest/cli/review.py    人工处理: review …, recheck

Command modules import only click at the top; each command imports its machinery when it runs.
"""

from __future__ import annotations

from typing import Any

import click

from checks.errors import IntakeError
from ingest.cli import zh
from ingest.cli.shell import cell_width, fail, guard_terminal

zh.install()

# The areas `intake --help` lists the commands under, in this order; a command not named here is listed last.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("开始使用", ("demo", "init", "check-config", "passwd", "web")),
    ("收信与处理", ("run", "worker", "poll", "import", "retry", "health")),
    ("离线试用", ("subject", "inspect")),
    ("查询与导出", ("stats", "list", "show", "export", "chart")),
    ("人工处理", ("review", "recheck", "attach", "link")),
)


def short_help(command: click.Command, room: int) -> str:
    """A command's line in the list: its help up to the first 。, cut to ``room`` terminal columns (click's
    own shortening looks for ". " and spaces, which Chinese has not)."""
    if command.short_help:
        return command.short_help
    text = (command.help or "").strip().split("\n\n")[0].replace("\n", "")
    text = text.split("。")[0]
    if cell_width(text) <= room:
        return text
    while text and cell_width(text) > room - 1:
        text = text[:-1]
    return text + "…"


class IntakeGroup(click.Group):
    """The root group: commands listed by area, and our typed errors shown as one line, never a traceback."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands in the help by area (see SECTIONS), each with its short help."""
        commands = {name: cmd for name in self.list_commands(ctx)
                    if (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden}
        room = formatter.width - 6 - max((len(n) for n in commands), default=0)
        placed: set[str] = set()
        for title, names in (*SECTIONS, ("其他", tuple(commands))):
            rows = [(n, short_help(commands[n], room)) for n in names if n in commands and n not in placed]
            placed.update(n for n, _ in rows)
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; an IntakeError ends it with its one Chinese line instead of a traceback."""
        try:
            return super().invoke(ctx)
        except IntakeError as exc:
            fail(str(exc))


@click.group(cls=IntakeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="case-intake")
def main() -> None:
    """case-intake：案例征集邮件自动收件、形式审查与回执。

    每个命令都有帮助：intake 命令 --help。

    \b
    示例：
      intake demo                      # 用生成的样例邮件跑一遍全流程（SQLite，无需邮箱账号）
      intake stats --config /etc/case-intake/config.toml
    """
    guard_terminal()


def _register() -> None:
    from ingest.cli import cases, mailbox, review, setup, trial

    for module in (setup, mailbox, trial, cases, review):
        for command in module.COMMANDS:
            main.add_command(command)


_register()

__all__ = ["main"]
