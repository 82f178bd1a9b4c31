"""The command line's shell: no guessed configuration, the schema check of read-only commands, click's own words in
Chinese, plain aligned text when piped, typed errors as one line."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ingest.cli import main
from ingest.cli.shell import NO_CONFIG, plain_table
from cli_probe import loaded_after
from staff_factory import fill_cases
from store import Store
from store.db import SCHEMA_HEAD, alembic_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"


def write_config(tmp_path: Path, db: Path | str, intake: str = "") -> Path:
    """``tmp_path/config.toml`` of the example call on ``db`` (a SQLite file, or a database URL), with more
    ``[intake]`` lines."""
    example = EXAMPLE.read_text(encoding="utf-8")
    cfg = tmp_path / "config.toml"
    url = f"sqlite:///{db}" if isinstance(db, Path) else db
    cfg.write_text(f'[intake]\nspool_dir = "spool"\ndatabase_url = "{url}"\n{intake}'
                   + example[example.index("\n[campaign]\n"):], encoding="utf-8")
    return cfg


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env={"INTAKE_CONFIG": None, "COLUMNS": "80", **(env or {})})


def test_schema_head_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() == SCHEMA_HEAD


@pytest.mark.parametrize("command", [["stats"], ["list"], ["show", "1"], ["review"], ["export", "--xlsx", "x.xlsx"],
                                     ["chart"], ["health"], ["retry"], ["recheck"]])
def test_staff_commands_never_guess_a_config(command: list[str], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./config.toml here
    result = run(*command)
    assert result.exit_code == 2
    assert result.output.strip() == f"错误：{NO_CONFIG}"
    assert not list(tmp_path.iterdir()), "nothing may be created without a configuration"


def test_read_only_commands_check_the_schema_instead_of_migrating(tmp_path: Path) -> None:
    from alembic import command

    db = tmp_path / "intake.db"
    cfg = str(write_config(tmp_path, db))
    empty = run("stats", "--config", cfg)
    assert empty.exit_code == 2 and "还没有收件数据表" in empty.output and empty.output.count("\n") == 1
    command.upgrade(alembic_config(f"sqlite:///{db}"), "0001")
    for args in (["show", "1"], ["list"], ["stats"]):  # through the Store (ORM), through store.reader (sqlite3)
        old = run(*args, "--config", cfg)
        assert old.exit_code == 2 and f"比本程序（{SCHEMA_HEAD}）旧" in old.output and "intake check-config" in old.output
    store = Store.open(f"sqlite:///{db}")  # what check-config and the daemon do
    fill_cases(store.engine, 5, seed=4)
    store.close()
    assert json.loads(run("stats", "--format", "json", "--config", cfg).output)["total"] == 5


@pytest.mark.parametrize("args", [["stats", "--format", "json"], ["export", "--xlsx", "汇总表.xlsx"]])
def test_stats_and_export_on_sqlite_load_no_sqlalchemy(args: list[str], tmp_path: Path) -> None:
    """`intake stats` runs from cron and staff's shells one call at a time, `intake export --xlsx` before each
    panel: on SQLite they read with the standard library's sqlite3 (store.reader), SQLAlchemy and the ORM stay
    unloaded, and they still count."""
    db = tmp_path / "intake.db"
    cfg = write_config(tmp_path, db)
    store = Store.open(f"sqlite:///{db}")
    fill_cases(store.engine, 7, seed=5)
    store.close()
    printed, loaded = loaded_after([*args, "--config", str(cfg)], tmp_path, ("sqlalchemy", "alembic", "rich"))
    assert loaded == []
    if args[0] == "stats":
        assert json.loads(printed)["total"] == 7
    else:
        assert "（7 件，" in printed and (tmp_path / "汇总表.xlsx").stat().st_size > 0


@pytest.mark.postgres
@pytest.mark.parametrize("args, password", [(["stats", "--format", "json"], "in the URL"),
                                            (["export", "--xlsx", "汇总表.xlsx"], "in a file"),
                                            (["list", "--limit", "0", "--format", "csv"], "none")])
def test_read_only_commands_on_postgresql_load_no_sqlalchemy(args: list[str], password: str, pg_url: str,
                                                              tmp_path: Path) -> None:
    """On PostgreSQL too `intake stats`, `intake export --xlsx` and `intake list` read with psycopg alone
    (store.reader), the configuration's URL (a password written in it, or one from a secrets file) read by
    store.pg_url: SQLAlchemy stays unloaded (the local server trusts us: any password is let in)."""
    store = Store.open(pg_url)
    fill_cases(store.engine, 7, seed=5)
    store.close()
    if password == "in the URL":
        cfg = write_config(tmp_path, pg_url.replace("postgres@", "postgres:Pw-in-url@"))
    elif password == "in a file":
        (tmp_path / "db.secret").write_text("Pw-from-file\n", encoding="utf-8")
        (tmp_path / "db.secret").chmod(0o600)
        cfg = write_config(tmp_path, pg_url, 'database_password_file = "db.secret"\n')
    else:
        cfg = write_config(tmp_path, pg_url)
    printed, loaded = loaded_after([*args, "--config", str(cfg)], tmp_path, ("sqlalchemy", "alembic", "rich"))
    assert loaded == []
    if args[0] == "stats":
        assert json.loads(printed[printed.index("{"):])["total"] == 7
    elif args[0] == "export":
        assert "（7 件，" in printed and (tmp_path / "汇总表.xlsx").stat().st_size > 0
    else:
        assert printed.count("JCJY2025-") == 7


def _xlsx_parts(path: Path) -> dict[str, bytes]:
    """The workbook's files but its creation time (docProps/core.xml)."""
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist() if name != "docProps/core.xml"}


@pytest.mark.postgres
def test_read_only_commands_print_the_same_through_psycopg_and_sqlalchemy(pg_url: str, tmp_path: Path) -> None:
    """`intake stats`, `list`, `show` and `export` print (and write) byte for byte what they printed when the
    read-only commands read PostgreSQL through SQLAlchemy Core: the same database under a URL store.pg_url
    leaves to SQLAlchemy (a "host=h:p" option) is read through Core."""
    from sqlalchemy import select
    from sqlalchemy.engine import make_url

    from store.models import Case
    from store.reader import Database

    store = Store.open(pg_url)
    fill_cases(store.engine, 60, seed=9)
    with store.session() as s, s.begin():  # the JSON column, with a "%" in it
        for case in s.scalars(select(Case).order_by(Case.id).limit(3)):
            case.subject_reasons = ["主题中没有省份", "50% 把握"]
    store.close()
    parsed = make_url(pg_url)
    urls = {"psycopg": pg_url, "sqlalchemy": f"{pg_url}?host={parsed.host}:{parsed.port or 5432}"}
    commands = [["stats"], ["stats", "--format", "csv", "--top", "0"], ["stats", "--format", "json"],
                ["list"], ["list", "--limit", "0", "--format", "json"], ["list", "--search", "%学_"], ["list", "--search", "学"],
                ["list", "--region", "江", "--from", "2025-09-10", "--to", "2025-10-20", "--format", "csv"],
                ["list", "--status", "退回修改", "--limit", "5"], ["show", "JCJY2025-000005"],
                ["show", "12", "--format", "json"]]
    printed: dict[str, list[str]] = {}
    workbooks: dict[str, dict[str, bytes]] = {}
    for driver, url in urls.items():
        db = Database(url)
        assert db.driver == driver
        db.close()
        (tmp_path / driver).mkdir()
        cfg = str(write_config(tmp_path / driver, url))
        results = [run(*args, "--config", cfg) for args in commands]
        assert all(r.exit_code == 0 for r in results), [r.output for r in results if r.exit_code]
        exported = run("export", "--xlsx", str(tmp_path / driver / "汇总表.xlsx"), "--config", cfg)
        assert exported.exit_code == 0, exported.output
        printed[driver] = [r.output for r in results] + [exported.output.replace(driver, "…")]
        workbooks[driver] = _xlsx_parts(tmp_path / driver / "汇总表.xlsx")
    assert printed["psycopg"] == printed["sqlalchemy"]
    assert workbooks["psycopg"] == workbooks["sqlalchemy"]
    assert json.loads(printed["psycopg"][2])["total"] == 60 and "50% 把握" in printed["psycopg"][4]
    assert [out.count("JCJY2025-0") for out in printed["psycopg"][3:9]] == [60, 60, 0, 51, 3, 5]


def test_click_speaks_chinese() -> None:
    bad = run("list", "--limit", "x")
    assert bad.exit_code == 2 and "错误：" in bad.output and "不是数字" in bad.output and "用法:" in bad.output
    assert "没有命令 'lisst'" in run("lisst").output
    assert "没有选项 '--bogus'" in run("stats", "--bogus").output
    help_text = run("--help").output
    assert "选项" in help_text and "查询与导出" in help_text and "显示本帮助并退出" in help_text
    assert "--once" not in run("poll", "--help").output  # kept for old scripts, no longer offered


def test_list_piped_is_one_aligned_line_per_case(tmp_path: Path) -> None:
    db = tmp_path / "intake.db"
    cfg = str(write_config(tmp_path, db))
    store = Store.open(f"sqlite:///{db}")
    data = fill_cases(store.engine, 12, seed=8)
    store.close()
    out = run("list", "--config", cfg).output.splitlines()
    header, rows, total = out[0], out[1:-1], out[-1]
    assert total == "共 12 件" and len(rows) == 12
    assert sorted(r.split()[0] for r in rows) == sorted(c.case_no for c in data.cases)
    # every column starts at the same terminal column on every line (CJK characters take two)
    from ingest.cli.shell import cell_width

    status_col = cell_width(header[:header.index("状态")])
    assert all(cell_width(r[:len(r.split()[0])]) + 2 == status_col for r in rows)
    assert "│" not in "\n".join(out) and "━" not in "\n".join(out)


def test_plain_table_aligns_wide_characters() -> None:
    lines = plain_table(("名称", "n"), [("浙江省", 1), ("ab", 12)], right=[1])
    assert lines == ["名称     n", "浙江省   1", "ab      12"]


def test_config_typed_on_the_group_wins_over_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "intake.db"
    cfg = str(write_config(tmp_path, db))
    store = Store.open(f"sqlite:///{db}")
    fill_cases(store.engine, 3, seed=5)
    store.close()
    wrong = {"INTAKE_CONFIG": str(tmp_path / "missing.toml")}
    for args in (["review", "--config", cfg, "--format", "json"], ["review", "--format", "json", "--config", cfg]):
        result = run(*args, env=wrong)
        assert result.exit_code == 0, result.output
        assert "total" in json.loads(result.output)
    assert run("review", "--format", "json", env=wrong).exit_code == 2  # the environment's file is used, and missing
    shown = run("review", "--config", cfg, "correct", "JCJY2025-000001", "--city", "杭州市", env=wrong)
    assert shown.exit_code == 0 and "杭州市" in shown.output


def test_unreachable_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    from tests.servers import free_port

    cfg = write_config(tmp_path, tmp_path / "x.db")
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        f"sqlite:///{tmp_path / 'x.db'}", f"postgresql://intake:s3cret@127.0.0.1:{free_port()}/none"), encoding="utf-8")
    for command in (["stats"], ["review", "correct", "1", "--city", "杭州市"]):
        result = run(*command, "--config", str(cfg))
        assert result.exit_code == 2, result.output
        assert result.output.startswith("错误：无法打开数据库 postgresql://intake:***@127.0.0.1:")
        assert result.output.count("\n") == 1 and "s3cret" not in result.output


def test_retry_lists_without_migrating_and_refuses_unknown_messages(tmp_path: Path) -> None:
    db = tmp_path / "intake.db"
    cfg = str(write_config(tmp_path, db))
    store = Store.open(f"sqlite:///{db}")
    fill_cases(store.engine, 2, seed=6)
    store.close()
    listed = run("retry", "--config", cfg)
    assert listed.exit_code == 0 and "多次处理失败的邮件：0 封" in listed.output
    unknown = run("retry", "999", "--config", cfg)
    assert unknown.exit_code == 2 and "邮件 #999 不存在" in unknown.output


def test_a_command_that_goes_on_working_migrates_a_new_database_in_a_child(tmp_path: Path) -> None:
    """`intake import` (like `poll` and `run`, which open the same way) on a new database: the schema is brought
    to head by a child process, so Alembic never enters the process that goes on working (a daemon would carry
    its 13.8 MB for weeks); the mail is still filed."""
    from ingest.samples.submissions import SCHOOLS, submission_mail

    db = tmp_path / "intake.db"
    cfg = write_config(tmp_path, db)
    mail = tmp_path / "申报.eml"
    mail.write_bytes(submission_mail(SCHOOLS[0], photos=1, video_seconds=None))
    printed, loaded = loaded_after(["import", str(mail), "--config", str(cfg)], tmp_path, ("alembic", "mako"))
    assert loaded == [], printed
    import sqlite3

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(SCHEMA_HEAD,)]
        assert conn.execute("SELECT count(*) FROM cases").fetchone() == (1,)
