"""Reading TOML values and secrets: the small checks every section parser shares, each failing with one Chinese line."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Mapping

from checks.errors import ConfigError

def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}：未知的配置项 {unknown[0]!r}（可用：{'、'.join(sorted(allowed))}）")


_KIND_NAMES = {str: "文本（用引号）", int: "整数", float: "数字", bool: "true 或 false", list: "列表 [...]",
               dict: "表 {...}"}


def _kind_name(kind: type | tuple[type, ...]) -> str:
    """What a TOML value should be, in words: int → 整数, (int, float) → 数字."""
    if isinstance(kind, tuple):
        return "数字" if set(kind) <= {int, float} else "或".join(_KIND_NAMES.get(k, k.__name__) for k in kind)
    return _KIND_NAMES.get(kind, kind.__name__)


def _require(table: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if key not in table:
        raise ConfigError(f"{where}：缺少必填项 {key!r}")
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise ConfigError(f"{where}.{key}：应为{_kind_name(kind)}，实际是 {value!r}")
    return value


def _optional(table: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...], default: Any) -> Any:
    if key not in table:
        return default
    value = table[key]
    if not isinstance(value, kind) or (kind in (int, (int, float)) and isinstance(value, bool)):
        raise ConfigError(f"{where}.{key}：应为{_kind_name(kind)}，实际是 {value!r}")
    return value


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p)


@dataclass(frozen=True)
class SecretSpec:
    """One secret the configuration names: what it is (for the operator) and the keys naming where it lives."""

    label: str
    where: str
    env_key: str = "password_env"
    file_key: str = "password_file"


IMAP_SECRET = SecretSpec("IMAP 收信授权码（163 等邮箱网页版开启 IMAP 服务后给出，不是登录密码）", "imap")
SMTP_SECRET = SecretSpec("SMTP 发信授权码（同一邮箱的授权码）", "smtp")
DATABASE_SECRET = SecretSpec("数据库密码（PostgreSQL）", "intake", "database_password_env", "database_password_file")
MESSAGE_ID_KEY_SECRET = SecretSpec("回复邮件 Message-ID 的密钥（可选；不设置时自动生成并保存在数据库中）", "smtp",
                                   "message_id_key_env", "message_id_key_file")
CONSOLE_SECRET = SecretSpec("管理页面的会话签名密钥（至少 32 个字符的随机串，不是授权码）", "console",
                            "secret_key_env", "secret_key_file")


class Secrets:
    """Resolves secrets (environment first, then the [intake] secrets_file, then a *_file key) and collects
    every missing one, so that one run of check-config names them all instead of one per run."""

    def __init__(self, env: Mapping[str, str], base: Path) -> None:
        self.env = env
        self.base = base
        self.missing: list[str] = []
        self.warnings: list[str] = []
        self.database_password = False

    def get(self, table: Mapping[str, Any], spec: SecretSpec, required: bool) -> str:
        """A secret named by ``table``: from the environment variable it names, else the secrets file; missing ones
        are collected."""
        var = table.get(spec.env_key)
        if var is not None and not isinstance(var, str):
            raise ConfigError(f"{spec.where}.{spec.env_key}：应为环境变量的名字")
        if var and self.env.get(var):
            return self.env[var]
        file_ = table.get(spec.file_key)
        if file_:
            path = _resolve(self.base, str(file_))
            self.warnings += _readable_by_all(path, "密钥文件")
            try:
                return path.read_text(encoding="utf-8").splitlines()[0].strip()
            except (OSError, IndexError) as exc:
                if required:
                    # The path and the reason only, never the file's contents.
                    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "文件为空"
                    self.missing.append(f"{spec.label}：无法从文件 {path} 读取（{spec.where}.{spec.file_key}；{reason}）")
                return ""
        if var and required:
            self.missing.append(f"{spec.label}：环境变量 {var} 未设置或为空（{spec.where}.{spec.env_key}）")
        return ""

    def raise_if_missing(self, secrets_file: Path | None) -> None:
        """One ConfigError listing every missing secret, if any."""
        if not self.missing:
            return
        where = f"填入 {secrets_file}" if secrets_file else "设置这些环境变量（或在 [intake] 中用 secrets_file 指定密钥文件）"
        lines = "\n".join(f"  - {m}" for m in self.missing)
        raise ConfigError(f"缺少 {len(self.missing)} 项密钥，请{where}：\n{lines}")


def _readable_by_all(path: Path, what: str) -> list[str]:
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    if mode & 0o004:
        return [f"{what} {path} 所有用户都可读取（权限 {mode & 0o777:o}），请执行 chmod 600 或 640"]
    return []


def _with_password(url: str, password: str) -> str:
    """``url`` with the password from the environment or a secrets file (never written in the TOML), written as
    SQLAlchemy writes it (``store.pg_url`` for the usual PostgreSQL forms, SQLAlchemy for the rest)."""
    from store.pg_url import read_url  # local: the file-reading workers import this module, never the store

    parsed = read_url(url)
    if parsed.password:
        raise ConfigError("intake.database_url：数据库密码同时写在了 database_url 和 database_password_env/_file 中，"
                          "请从 database_url 中删去")
    return parsed.set(password=password).render_as_string(hide_password=False)


def _loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _secrets_env(path: Path | None, env: Mapping[str, str]) -> Mapping[str, str]:
    """The environment, completed by the KEY=value lines of the secrets file (the environment wins)."""
    if path is None:
        return env
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"intake.secrets_file：无法读取 {path}：{exc}") from exc
    if mode & 0o077:
        raise ConfigError(f"intake.secrets_file：{path} 其他用户也能读取（权限 {mode & 0o777:o}），"
                          f"请执行 chmod 600 {path}")
    from dotenv import dotenv_values  # local: only commands that need secrets pay for the import

    values = {k: v for k, v in dotenv_values(path, interpolate=False).items() if v}
    return {**values, **env}


# A plain SQLite file URL (no driver options, nothing escaped): the common case, read without importing
# SQLAlchemy (0.15–0.2 s) so that commands without a database (intake subject) start at once. PostgreSQL URLs of
# the usual forms are read by store.pg_url for the same reason.
_PLAIN_SQLITE = re.compile(r"sqlite:///(?P<path>[^?%#]+)")


def _database_url(value: str, base: Path) -> str:
    plain = _PLAIN_SQLITE.fullmatch(value)
    if plain and plain["path"] != ":memory:":
        return f"sqlite:///{_resolve(base, plain['path'])}"
    from store.pg_url import parse as parse_pg_url  # local, as in _with_password

    if parse_pg_url(value) is not None:
        return value  # a PostgreSQL URL of a usual form: read as SQLAlchemy reads it, without loading it
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError:
        # The value may hold a password: say what is wrong without repeating it.
        shown = value.split("://", 1)[0] + "://…" if "://" in value else "（未显示）"
        raise ConfigError(f"intake.database_url：不是数据库地址（开头为 {shown}）") from None
    backend = url.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise ConfigError(f"intake.database_url：不支持的数据库 {backend!r}（请用 sqlite 或 postgresql）")
    if backend == "sqlite" and url.database and url.database != ":memory:":
        db = _resolve(base, url.database)
        return str(url.set(database=str(db)))
    return value


def _date(table: Mapping[str, Any], key: str, where: str) -> date:
    value = table.get(key)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}.{key}：应为日期，例如 2025-12-10，实际是 {value!r}")

