"""What every command shares: the ``--config`` option, the configuration and the resources a command opens
(runtime, database) closed by click when the command ends, one-line errors, JSON and time output.

Imports here are light (click and the standard library): each command imports what it needs when it runs,
so ``intake --help`` and ``intake subject`` start without SQLAlchemy, the pipeline or the console.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from contextlib import closing
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, NoReturn, Sequence, TypeVar

import click

if TYPE_CHECKING:
    from ingest.config import AppConfig
    from ingest.runtime import Runtime
    from store import Store
    from store.reader import Database

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_ENV = "INTAKE_CONFIG"
DEFAULT_CONFIG = "config.toml"
_CONFIG_KEY = "intake.config_path"
NO_CONFIG = ("没有找到配置文件：请用 --config 指定，或设置环境变量 INTAKE_CONFIG，或在当前目录放置 config.toml"
             "（intake init 目录 可生成一份）")


# C0 controls but tab/newline/CR, DEL and C1: a stranger's subject or file name must not drive the staff
# member's terminal (clear the screen, set the title, fake output) when a command prints it (issue 15 §6).
# Colour (SGR, "ESC[…m", what click and rich write for a terminal) is the one escape let through.
_TERMINAL_CONTROLS = re.compile("\x1b(?!\\[[0-9;]*m)|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]")


class _WithoutControls:
    """A text stream that drops terminal control characters from everything written to it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(_TERMINAL_CONTROLS.sub("", text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def guard_terminal() -> None:
    """Every command's stdout and stderr go through ``_WithoutControls``."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, _WithoutControls):
            setattr(sys, name, _WithoutControls(stream))


def fail(message: str, code: int = 2) -> NoReturn:
    """Stop the command with one Chinese line on stderr."""
    click.echo(f"错误：{message}", err=True)
    sys.exit(code)


def _remember_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    # ctx.meta is shared by a group and its subcommands: `intake review --config X override …` and
    # `intake review override … --config X` both work. A value typed on the command line wins over one from
    # $INTAKE_CONFIG; an option not given keeps what the group got.
    typed = ctx.get_parameter_source(param.name or "") is click.core.ParameterSource.COMMANDLINE
    if _CONFIG_KEY not in ctx.meta or (value is not None and (typed or ctx.meta[_CONFIG_KEY] is None)):
        ctx.meta[_CONFIG_KEY] = value
    return value


def config_option(f: F) -> F:
    """``--config FILE`` (default: $INTAKE_CONFIG, else ./config.toml), read through ``app_config()``."""
    return click.option("--config", "config_path", envvar=CONFIG_ENV, metavar="FILE", expose_value=False,
                        callback=_remember_config,
                        help="配置文件（默认：环境变量 INTAKE_CONFIG，否则当前目录的 config.toml）。")(f)


def app_config(*, secrets: bool = False, example_ok: bool = False) -> AppConfig:
    """The validated configuration of this command, read once.

    ``secrets``: mail passwords must be set (commands that fetch or send). ``example_ok``: without any
    configuration the shipped example (the 2025 call) is used — only for the trial commands (subject, inspect);
    every other command says in one line that it has no configuration instead of guessing one."""
    from ingest.config import ConfigError, load_config

    ctx = click.get_current_context()
    cached = ctx.meta.get("intake.config")
    if cached is not None:
        return cached
    path = ctx.meta.get(_CONFIG_KEY)
    if not path and not example_ok and not Path(DEFAULT_CONFIG).exists():
        fail(NO_CONFIG)
    try:
        cfg = load_config(path, offline=not secrets)
    except ConfigError as exc:
        fail(str(exc))
    ctx.meta["intake.config"] = cfg
    return cfg


def config_path() -> Path:
    """The configuration file this command read, as an absolute path (for the processes it starts)."""
    path = click.get_current_context().meta.get(_CONFIG_KEY)
    return Path(path or DEFAULT_CONFIG).resolve()


def campaign_option(f: F) -> F:
    """``--campaign NAME``: only this campaign (its id); without it every campaign the configuration serves."""
    return click.option("--campaign", "campaign", metavar="ID", default=None,
                        help="只看（或只处理）这个征集（配置中的 id）；不给时为全部征集。")(f)


def campaign_views(cfg: AppConfig, campaign: str | None) -> tuple[AppConfig, ...]:
    """The configuration of each campaign chosen (``--campaign``), one line on stderr for an unknown id."""
    from ingest.config import ConfigError

    try:
        return cfg.views(campaign)
    except ConfigError as exc:
        fail(str(exc))


def campaign_heading(view: AppConfig, views: tuple[AppConfig, ...]) -> str | None:
    """"【jcjy2025】2025年中国基础教育创新案例征集" above a campaign's part of the output, when there are several."""
    return f"【{view.campaign.id}】{view.campaign.name}" if len(views) > 1 else None


def log_config_warnings(cfg: AppConfig) -> None:
    """The configuration's warnings (a secret file readable by everyone, a password sent in clear) in the
    daemon's log, where its operator looks; ``check-config`` prints them."""
    import logging

    for warning in cfg.warnings:
        logging.getLogger("ingest.config").warning("%s", warning)


def open_runtime(cfg: AppConfig, *, open_store: bool = True, writes: bool = True) -> Runtime:
    """The command's ``Runtime`` (campaign, templates, database), closed by click when the command ends.
    ``writes=False``: the database schema is checked, not migrated (as ``open_store``)."""
    from sqlalchemy.exc import SQLAlchemyError

    from ingest.runtime import Runtime, StartupError
    from store import SchemaMismatch

    try:
        if open_store and writes:
            _migrate_apart(cfg)
        rt = Runtime(cfg, open_store=open_store, migrate=writes)
    except (StartupError, SchemaMismatch) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(_database_problem(cfg, exc))
    return click.get_current_context().with_resource(closing(rt))


def open_runtimes(cfg: AppConfig, campaign: str | None = None, *, writes: bool = True) -> list[Runtime]:
    """One ``Runtime`` per campaign chosen (``--campaign``, else all), on one database, closed by click when the
    command ends."""
    from sqlalchemy.exc import SQLAlchemyError

    from ingest.runtime import Runtime, StartupError
    from store import SchemaMismatch

    campaign_views(cfg, campaign)  # an unknown id: one line
    try:
        if writes:
            _migrate_apart(cfg)
        runtimes = Runtime.for_each_campaign(cfg, campaign, migrate=writes)
        click.get_current_context().with_resource(closing(runtimes[0]))  # it holds the database
        return runtimes
    except (StartupError, SchemaMismatch) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(_database_problem(cfg, exc))


def _migrate_apart(cfg: AppConfig) -> None:
    """The migrations, if any are due, in a child process: these commands go on working (the daemon for weeks),
    and Alembic would stay in their memory (store/migrate_apart.py)."""
    from store.migrate_apart import migrate_apart

    migrate_apart(cfg.intake.database_url, cfg.campaign_ids[0])


def open_store(cfg: AppConfig, *, writes: bool = False) -> Store:
    """The command's database, closed by click when the command ends. Commands that only read check the schema
    version (one query) instead of running the migrations; commands that write migrate first."""
    from sqlalchemy.exc import SQLAlchemyError

    from store import SchemaMismatch, Store

    try:
        store = Store.open(cfg.intake.database_url, upgrade=writes, default_campaign=cfg.campaign_ids[0])
    except SchemaMismatch as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(_database_problem(cfg, exc))
    return click.get_current_context().with_resource(closing(store))


def open_reader(cfg: AppConfig) -> Database:
    """The database opened for reading only (``store.reader``: sqlite3 on SQLite, psycopg on PostgreSQL, no ORM),
    its schema version checked, closed by click when the command ends: for commands that read with plain SQL
    (``intake stats``)."""
    from store.reader import Database, SchemaMismatch

    try:
        db = Database(cfg.intake.database_url)
    except SchemaMismatch as exc:
        fail(str(exc))
    return click.get_current_context().with_resource(closing(db))


def _database_problem(cfg: AppConfig, exc: Exception) -> str:
    """"无法打开数据库 postgresql://intake:***@db/intake：connection refused" (no password, no traceback)."""
    from store.pg_url import shown
    from store.reader import unreadable

    return str(unreadable(shown(cfg.intake.database_url), exc))


def local_time(dt: datetime | None, tz: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time as the campaign's local time for people ("" for none)."""
    return dt.astimezone(tz).strftime(fmt) if dt else ""


def json_time(dt: datetime | None, tz: tzinfo) -> str | None:
    """A time for JSON: ISO 8601 in the campaign's time zone, the offset shown (2025-12-10T18:00:00+08:00)."""
    return dt.astimezone(tz).isoformat() if dt else None


def echo_json(data: Any) -> None:
    """Print JSON as staff read it: Chinese as is, indented."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def cell_width(text: str) -> int:
    """Columns a text takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def plain_table(header: Sequence[str], rows: Iterable[Sequence[object]], *, right: Iterable[int] = ()) -> list[str]:
    """Rows as aligned plain-text lines (for pipes and files: one record per line, no box drawing, no wrapping).
    Columns are separated by two spaces; ``right`` are the indexes of right-aligned columns."""
    table = [[str(v) for v in header]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(cell_width(r[i]) for r in table) for i in range(len(header))]
    right_set = set(right)
    lines = []
    for r in table:
        cells = [(" " * (w - cell_width(v)) + v) if i in right_set else (v + " " * (w - cell_width(v)))
                 for i, (v, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
    return lines
