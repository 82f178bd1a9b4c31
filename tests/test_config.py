"""Configuration is read once, validated, and every mistake is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.config import REPO_ROOT, ConfigError, load_config

EXAMPLE = REPO_ROOT / "config.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def example_with(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text
    return write(tmp_path, text.replace(old, new, 1))


ENV = {"INTAKE_IMAP_PASSWORD": "imap-secret", "INTAKE_SMTP_PASSWORD": "smtp-secret",
       "INTAKE_CONSOLE_SECRET": "x" * 40}


def test_example_config_loads_with_secrets_from_environment() -> None:
    cfg = load_config(EXAMPLE, env=ENV)
    assert cfg.imap is not None and cfg.imap.password == "imap-secret"
    assert cfg.smtp is not None and cfg.smtp.password == "smtp-secret"
    assert "secret" not in repr(cfg.imap)
    assert cfg.campaign.id == "jcjy2025"
    assert str(cfg.campaign.deadline_end) == "2025-12-10 23:59:59.999999+08:00"


def test_missing_secret_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="INTAKE_IMAP_PASSWORD"):
        load_config(EXAMPLE, env={})


def test_password_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "imap.secret").write_text("from-file\n", encoding="utf-8")
    p = example_with(tmp_path, 'password_env = "INTAKE_IMAP_PASSWORD"', 'password_file = "imap.secret"')
    assert load_config(p, env=ENV).imap.password == "from-file"  # type: ignore[union-attr]


def test_password_in_toml_is_refused(tmp_path: Path) -> None:
    p = example_with(tmp_path, 'password_env = "INTAKE_IMAP_PASSWORD"', 'password = "oops"')
    with pytest.raises(ConfigError, match="密码不能写在 TOML 里"):
        load_config(p, env=ENV)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("poll_interval_seconds = 60", "poll_intervall = 60", "未知的配置项 'poll_intervall'"),
    ('database_url = "sqlite:///var/intake.db"', 'database_url = "mysql://x/y"', "不支持的数据库"),
    ('database_url = "sqlite:///var/intake.db"', 'database_url = "::not a url"', "不是数据库地址"),
    ('mailbox = "jcjyzj2025@163.com"', 'mailbox = "nobody"', "不是邮箱地址"),
    ('\nsecurity = "ssl"', '\nsecurity = "tls"', "只能是 ssl、starttls、plain 之一"),
    ('deadline = "2025-12-10"', 'deadline = "10/12/2025"', "应为日期，例如 2025-12-10"),
    ('timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"', "未知的时区"),
    ("file_seconds = 120", "file_seconds = 0", "limits.file_seconds：应为正的秒数"),
    ("rule_seconds = 10", 'rule_seconds = "10"', "limits.rule_seconds：应为数字"),
    ("worker_memory_mb = 2048", "worker_memory_mb = 64", "limits.worker_memory_mb：0（不限）或至少 256"),
    ("isolate = true", "isolate = 1", "limits.isolate：应为true 或 false"),
    ("attachment_seconds = 600", "attachment_secs = 600", "limits：未知的配置项 'attachment_secs'"),
])
def test_bad_values_give_one_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(example_with(tmp_path, old, new), env=ENV)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_and_missing_campaign(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="找不到配置文件"):
        load_config(tmp_path / "nope.toml", env=ENV)
    with pytest.raises(ConfigError, match="缺少 \\[campaign\\]"):
        load_config(write(tmp_path, "[intake]\n"), env=ENV)


def test_offline_commands_need_no_secrets() -> None:
    cfg = load_config(EXAMPLE, env={}, offline=True)
    assert cfg.imap is not None and cfg.imap.password == ""


def test_limits_are_read(tmp_path: Path) -> None:
    cfg = load_config(example_with(tmp_path, "file_seconds = 120", "file_seconds = 7.5"), env=ENV)
    assert cfg.limits.file_seconds == 7.5 and cfg.limits.isolate and cfg.limits.worker_memory_mb == 2048
    assert load_config(EXAMPLE, env=ENV).limits.file_seconds == 120.0


def test_config_is_frozen() -> None:
    cfg = load_config(EXAMPLE, env=ENV)
    with pytest.raises(AttributeError):
        cfg.intake.poll_interval_seconds = 1  # type: ignore[misc]


@pytest.mark.parametrize("url", ["sqlite:///intake.db", "sqlite:///data/库/intake.db", "sqlite:////srv/intake.db",
                                 "sqlite:///~/intake.db", "sqlite:///intake.db?timeout=5", "sqlite:///a%20b.db",
                                 "sqlite://", "sqlite:///:memory:", "postgresql://u@localhost/intake",
                                 "postgresql+psycopg2://u:p%40w@db:6432/库?sslmode=require",
                                 "postgresql://u@db/intake?port=6432", "postgresql+asyncpg://u@db/intake"])
def test_database_url_fast_path_agrees_with_sqlalchemy(url: str, tmp_path: Path) -> None:
    """Plain SQLite URLs and the usual PostgreSQL ones are read without SQLAlchemy (start-up time); the result is
    what SQLAlchemy gives."""
    from sqlalchemy.engine import make_url

    from ingest.config import _database_url

    got = make_url(_database_url(url, tmp_path))
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        expected = Path(parsed.database).expanduser()
        parsed = parsed.set(database=str(expected if expected.is_absolute() else tmp_path / expected))
    assert got == parsed


@pytest.mark.parametrize("url", ["postgresql://intake@db.example/intake",  # read by store.pg_url
                                 "postgresql://intake@db.example/intake?port=5433"])  # by SQLAlchemy
def test_database_password_joins_the_url_once(url: str, tmp_path: Path) -> None:
    """The password from database_password_env is written into the URL as SQLAlchemy writes it; one also written
    in the URL is refused, and one only in the URL is warned about."""
    from sqlalchemy.engine import make_url

    line = 'database_url = "sqlite:///var/intake.db"'
    env = {**ENV, "DBPW": "p@ss:w/rd %+"}
    cfg = load_config(example_with(tmp_path, line, f'database_url = "{url}"\ndatabase_password_env = "DBPW"'), env=env)
    assert cfg.intake.database_url == make_url(url).set(password=env["DBPW"]).render_as_string(hide_password=False)
    assert make_url(cfg.intake.database_url).password == env["DBPW"]
    inline = url.replace("intake@", "intake:inline-pw@")
    with pytest.raises(ConfigError, match="同时写在了 database_url 和 database_password_env/_file 中") as err:
        load_config(example_with(tmp_path, line, f'database_url = "{inline}"\ndatabase_password_env = "DBPW"'),
                    env=env)
    assert "inline-pw" not in str(err.value)
    warned = load_config(example_with(tmp_path, line, f'database_url = "{inline}"'), env=env)
    assert any("database_url 中写有数据库密码" in w for w in warned.warnings)
    assert not any("数据库密码" in w for w in load_config(example_with(tmp_path, line, f'database_url = "{url}"'),
                                                          env=env).warnings)
