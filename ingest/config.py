"""Configuration: one TOML file read once at start into frozen dataclasses.

Every key is known: an unknown key, a missing section or a bad value stops start-up with one
clear line (``ConfigError``). Secrets never live in the TOML; they are resolved from environment
variables or secret files when the config is loaded, so a missing secret is also a start-up error.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from checks.errors import ConfigError  # re-exported: callers import it from here
from ingest import resources

CONFIG_ENV = "INTAKE_CONFIG"
DEFAULT_CONFIG = "config.toml"
REPO_ROOT = resources.PACKAGES_ROOT


@dataclass(frozen=True)
class IntakeSettings:
    spool_dir: Path
    database_url: str = field(repr=False)  # may hold the database password (issue 15 §6)
    poll_interval_seconds: int = 60
    log_format: str = "text"
    max_message_bytes: int = 200 * 1024 * 1024
    alert_after_failures: int = 5
    alert_no_poll_minutes: int = 30
    templates_dir: Path = field(default_factory=resources.templates_dir)
    secrets_file: Path | None = None


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str  # ssl | starttls | plain
    username: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    processed_folder: str = ""
    fetch_chunk_bytes: int = 8 * 1024 * 1024
    timeout_seconds: int = 60
    use_idle: bool = True


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # ssl | starttls | plain
    username: str
    password: str = field(repr=False)
    sender: str = ""
    sender_name: str = ""
    mode: str = "send"  # send | dry-run
    outbox_dir: Path = Path("var/outbox")
    timeout_seconds: int = 30
    max_replies_per_sender_per_hour: int = 10
    retry_base_seconds: int = 60
    # All automatic replies together, per hour (0 = no cap); past it replies are held and an alert is raised.
    max_automatic_replies_per_hour: int = 300
    # Key of the reply Message-IDs (HMAC); "" = the one generated once and kept in the database.
    message_id_key: str = field(default="", repr=False)


@dataclass(frozen=True)
class CampaignConfig:
    """The call for submissions. ``raw`` keeps the validated TOML table for the pure layers
    (``checks`` builds its own dataclasses from it, so it never imports this module)."""

    id: str
    name: str
    mailbox: str
    case_number_prefix: str
    opens: date
    deadline: date
    timezone: str
    organizer_email: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    materials: str = "完整材料"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def deadline_end(self) -> datetime:
        """The last instant submissions are on time: end of the deadline day, local time."""
        return datetime.combine(self.deadline, time(23, 59, 59, 999999), tzinfo=self.tz)


@dataclass(frozen=True)
class ConsoleUser:
    name: str
    role: str  # viewer | reviewer
    password_hash: str = field(repr=False)


@dataclass(frozen=True)
class ConsoleConfig:
    host: str
    port: int
    secret_key: str = field(repr=False)
    https_only: bool = True
    users: tuple[ConsoleUser, ...] = ()


@dataclass(frozen=True)
class LimitSettings:
    """Bounds on reading strangers' files (see ingest/files/isolation.py)."""

    isolate: bool = True
    file_seconds: float = 120.0
    attachment_seconds: float = 600.0
    rule_seconds: float = 10.0
    worker_memory_mb: int = 2048
    # One whole mail: time reading all its files, bytes unpacked from all its attachments (issue 15 §5).
    mail_seconds: float = 1800.0
    mail_unpacked_mb: int = 2048


# The hosts of the webmails whose large-attachment links case-intake recognises (ingest/files/links.py): a host is
# allowed when it is one of these or a subdomain of one.
LINK_PROVIDER_HOSTS = ("163.com", "126.com", "yeah.net", "qq.com")


@dataclass(frozen=True)
class LinkSettings:
    """163 超大附件 / QQ 文件中转站 links: optional automatic download, and when staff are warned of expiry."""

    fetch: bool = False
    allowed_hosts: tuple[str, ...] = LINK_PROVIDER_HOSTS
    max_bytes: int = 1 << 30
    timeout_seconds: float = 300.0
    alert_days: int = 3

    def host_allowed(self, host: str | None) -> bool:
        host = (host or "").lower().rstrip(".")
        return bool(host) and any(host == h or host.endswith("." + h) for h in self.allowed_hosts)


@dataclass(frozen=True)
class AppConfig:
    path: Path
    intake: IntakeSettings
    imap: ImapSettings | None
    smtp: SmtpSettings | None
    campaign: CampaignConfig
    console: ConsoleConfig | None = None
    limits: LimitSettings = LimitSettings()
    links: LinkSettings = LinkSettings()
    # Plain-Chinese warnings found while loading (a secret file everyone can read, a password sent in clear…):
    # not reasons to stop; check-config prints them and the daemon logs them (issue 15 §6).
    warnings: tuple[str, ...] = ()


_INTAKE_KEYS = {
    "spool_dir", "database_url", "poll_interval_seconds", "log_format", "max_message_bytes",
    "alert_after_failures", "alert_no_poll_minutes", "templates_dir", "secrets_file",
    "database_password_env", "database_password_file",
}
_IMAP_KEYS = {
    "host", "port", "security", "username", "password_env", "password_file", "folder",
    "processed_folder", "fetch_chunk_bytes", "timeout_seconds", "use_idle",
}
_SMTP_KEYS = {
    "host", "port", "security", "username", "password_env", "password_file", "sender",
    "sender_name", "mode", "outbox_dir", "timeout_seconds", "max_replies_per_sender_per_hour",
    "retry_base_seconds", "max_automatic_replies_per_hour", "message_id_key_env", "message_id_key_file",
}
_CAMPAIGN_KEYS = {
    "id", "name", "mailbox", "case_number_prefix", "opens", "deadline", "timezone",
    "organizer_email", "subject", "categories", "rules", "quotas", "documents", "materials",
}
_TOP_KEYS = {"intake", "imap", "smtp", "campaign", "campaign_file", "console", "limits", "links"}
_LINK_KEYS = {"fetch", "allowed_hosts", "max_bytes", "timeout_seconds", "alert_days"}
_LIMIT_KEYS = {"isolate", "file_seconds", "attachment_seconds", "rule_seconds", "worker_memory_mb", "mail_seconds",
               "mail_unpacked_mb"}
_CONSOLE_KEYS = {"host", "port", "secret_key_env", "secret_key_file", "https_only", "users"}
_SECURITY = {"ssl", "starttls", "plain"}


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
    """``url`` with the password from the environment or a secrets file (never written in the TOML)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.password:
        raise ConfigError("intake: the database password is both in database_url and in "
                          "database_password_env/_file; keep only the second")
    return parsed.set(password=password).render_as_string(hide_password=False)


def _loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _warnings(cfg_path: Path, intake: IntakeSettings, secrets: Secrets,
              mail: tuple[ImapSettings | None, SmtpSettings | None]) -> tuple[str, ...]:
    found = _readable_by_all(cfg_path, "配置文件") + secrets.warnings
    if "://" in intake.database_url and not intake.database_url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        if make_url(intake.database_url).password and not secrets.database_password:
            found.append("intake.database_url 中写有数据库密码：请改用 database_password_env 或 database_password_file")
    for kind, section in zip(("imap", "smtp"), mail):
        if section is not None and section.security == "plain" and not _loopback(section.host):
            found.append(f"{kind}.security = \"plain\"：连接 {section.host} 不加密，密码和邮件以明文传输；"
                         "请改用 ssl 或 starttls")
    return tuple(dict.fromkeys(found))


def _secrets_env(path: Path | None, env: Mapping[str, str]) -> Mapping[str, str]:
    """The environment, completed by the KEY=value lines of the secrets file (the environment wins)."""
    if path is None:
        return env
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"intake.secrets_file：无法读取 {path}：{exc}") from exc
    if mode & 0o077:
        raise ConfigError(f"intake.secrets_file: {path} 其他用户也能读取（权限 {mode & 0o777:o}），"
                          f"请执行 chmod 600 {path}")
    from dotenv import dotenv_values  # local: only commands that need secrets pay for the import

    values = {k: v for k, v in dotenv_values(path, interpolate=False).items() if v}
    return {**values, **env}


# A plain SQLite file URL (no driver options, nothing escaped): the common case, read without importing
# SQLAlchemy (0.15–0.2 s) so that commands without a database (intake subject) start at once.
_PLAIN_SQLITE = re.compile(r"sqlite:///(?P<path>[^?%#]+)")


def _database_url(value: str, base: Path) -> str:
    plain = _PLAIN_SQLITE.fullmatch(value)
    if plain and plain["path"] != ":memory:":
        return f"sqlite:///{_resolve(base, plain['path'])}"
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


def _parse_intake(t: Mapping[str, Any], base: Path) -> IntakeSettings:
    _check_keys(t, _INTAKE_KEYS, "intake")
    log_format = _optional(t, "log_format", "intake", str, "text")
    if log_format not in {"text", "json"}:
        raise ConfigError("intake.log_format：只能是 'text' 或 'json'")
    interval = _optional(t, "poll_interval_seconds", "intake", int, 60)
    if interval < 1:
        raise ConfigError("intake.poll_interval_seconds：至少为 1")
    return IntakeSettings(
        spool_dir=_resolve(base, _optional(t, "spool_dir", "intake", str, "var/spool")),
        database_url=_database_url(_optional(t, "database_url", "intake", str, "sqlite:///var/intake.db"), base),
        poll_interval_seconds=interval,
        log_format=log_format,
        max_message_bytes=_optional(t, "max_message_bytes", "intake", int, 200 * 1024 * 1024),
        alert_after_failures=_optional(t, "alert_after_failures", "intake", int, 5),
        alert_no_poll_minutes=_optional(t, "alert_no_poll_minutes", "intake", int, 30),
        templates_dir=_resolve(base, t["templates_dir"]) if "templates_dir" in t else resources.templates_dir(),
        secrets_file=_resolve(base, t["secrets_file"]) if t.get("secrets_file") else None,
    )


def _parse_limits(t: Mapping[str, Any]) -> LimitSettings:
    _check_keys(t, _LIMIT_KEYS, "limits")
    default = LimitSettings()
    seconds = {}
    for key in ("file_seconds", "attachment_seconds", "rule_seconds", "mail_seconds"):
        value = _optional(t, key, "limits", (int, float), getattr(default, key))
        if value <= 0:
            raise ConfigError(f"limits.{key}：应为正的秒数")
        seconds[key] = float(value)
    memory = _optional(t, "worker_memory_mb", "limits", int, default.worker_memory_mb)
    if memory != 0 and memory < 256:
        raise ConfigError("limits.worker_memory_mb：0（不限）或至少 256")
    if seconds["mail_seconds"] < seconds["file_seconds"]:
        raise ConfigError("limits.mail_seconds：不能小于 limits.file_seconds（一封邮件至少要能读完一个文件）")
    unpacked = _optional(t, "mail_unpacked_mb", "limits", int, default.mail_unpacked_mb)
    if unpacked < 1:
        raise ConfigError("limits.mail_unpacked_mb：应为正的 MB 数")
    return LimitSettings(isolate=_optional(t, "isolate", "limits", bool, True), worker_memory_mb=memory,
                         mail_unpacked_mb=unpacked, **seconds)


def _host_name(value: Any) -> bool:
    """A bare host name ("163.com") or IP address ("127.0.0.1"): what a URL's hostname is compared with."""
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        ipaddress.ip_address(value.strip())
        return True
    except ValueError:
        return re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*",
                            value.strip()) is not None


def _parse_links(t: Mapping[str, Any]) -> LinkSettings:
    _check_keys(t, _LINK_KEYS, "links")
    default = LinkSettings()
    hosts = _optional(t, "allowed_hosts", "links", list, list(default.allowed_hosts))
    if not hosts or not all(_host_name(h) for h in hosts):
        raise ConfigError("links.allowed_hosts：应为非空的主机名列表，例如 \"163.com\"（不带协议、路径或端口）")
    max_bytes = _optional(t, "max_bytes", "links", int, default.max_bytes)
    if max_bytes < 1:
        raise ConfigError("links.max_bytes：应为正的字节数")
    seconds = _optional(t, "timeout_seconds", "links", (int, float), default.timeout_seconds)
    if seconds <= 0:
        raise ConfigError("links.timeout_seconds：应为正的秒数")
    days = _optional(t, "alert_days", "links", int, default.alert_days)
    if days < 0:
        raise ConfigError("links.alert_days：0（不提醒到期）或天数")
    return LinkSettings(fetch=_optional(t, "fetch", "links", bool, False),
                        allowed_hosts=tuple(h.strip().lower() for h in hosts), max_bytes=max_bytes,
                        timeout_seconds=float(seconds), alert_days=days)


def _no_plain_password(t: Mapping[str, Any], where: str) -> None:
    if "password" in t:
        raise ConfigError(f"{where}：密码不能写在 TOML 里；请用 password_env 或 password_file")


def _parse_imap(t: Mapping[str, Any], secrets: Secrets, required: bool) -> ImapSettings:
    _no_plain_password(t, "imap")
    _check_keys(t, _IMAP_KEYS, "imap")
    security = _optional(t, "security", "imap", str, "ssl")
    if security not in _SECURITY:
        raise ConfigError(f"imap.security：只能是 ssl、starttls、plain 之一（实际是 {security!r}）")
    return ImapSettings(
        host=_require(t, "host", "imap", str),
        port=_optional(t, "port", "imap", int, 993 if security == "ssl" else 143),
        security=security,
        username=_require(t, "username", "imap", str),
        password=secrets.get(t, IMAP_SECRET, required),
        folder=_optional(t, "folder", "imap", str, "INBOX"),
        processed_folder=_optional(t, "processed_folder", "imap", str, ""),
        fetch_chunk_bytes=_optional(t, "fetch_chunk_bytes", "imap", int, 8 * 1024 * 1024),
        timeout_seconds=_optional(t, "timeout_seconds", "imap", int, 60),
        use_idle=_optional(t, "use_idle", "imap", bool, True),
    )


def _parse_smtp(t: Mapping[str, Any], base: Path, secrets: Secrets, required: bool) -> SmtpSettings:
    _no_plain_password(t, "smtp")
    _check_keys(t, _SMTP_KEYS, "smtp")
    security = _optional(t, "security", "smtp", str, "ssl")
    if security not in _SECURITY:
        raise ConfigError(f"smtp.security：只能是 ssl、starttls、plain 之一（实际是 {security!r}）")
    mode = _optional(t, "mode", "smtp", str, "send")
    if mode not in {"send", "dry-run"}:
        raise ConfigError("smtp.mode：只能是 'send' 或 'dry-run'")
    username = _optional(t, "username", "smtp", str, "")
    return SmtpSettings(
        host=_require(t, "host", "smtp", str),
        port=_optional(t, "port", "smtp", int, 465 if security == "ssl" else 25),
        security=security,
        username=username,
        password=secrets.get(t, SMTP_SECRET, required and mode == "send"),
        sender=_optional(t, "sender", "smtp", str, username),
        sender_name=_optional(t, "sender_name", "smtp", str, ""),
        mode=mode,
        outbox_dir=_resolve(base, _optional(t, "outbox_dir", "smtp", str, "var/outbox")),
        timeout_seconds=_optional(t, "timeout_seconds", "smtp", int, 30),
        max_replies_per_sender_per_hour=_optional(t, "max_replies_per_sender_per_hour", "smtp", int, 10),
        retry_base_seconds=_optional(t, "retry_base_seconds", "smtp", int, 60),
        max_automatic_replies_per_hour=_non_negative(t, "max_automatic_replies_per_hour", 300),
        message_id_key=_message_id_key(t, secrets),
    )


def _non_negative(t: Mapping[str, Any], key: str, default: int) -> int:
    value = _optional(t, key, "smtp", int, default)
    if value < 0:
        raise ConfigError(f"smtp.{key}：应为 0（不设上限）或正整数")
    return int(value)


def _message_id_key(t: Mapping[str, Any], secrets: Secrets) -> str:
    """The reply Message-ID key from message_id_key_env / message_id_key_file; "" when neither is set (a key is
    then generated once and kept in the database, the same for every host)."""
    key = secrets.get(t, MESSAGE_ID_KEY_SECRET, required=False)
    if key and len(key) < 16:
        raise ConfigError("smtp.message_id_key：至少需要 16 个字符（例如 `python3 -c 'import secrets; "
                          "print(secrets.token_hex(32))'`）")
    return key


def _parse_console(t: Mapping[str, Any], secrets: Secrets, required: bool) -> ConsoleConfig:
    _check_keys(t, _CONSOLE_KEYS, "console")
    missing_before = len(secrets.missing)
    secret = secrets.get(t, CONSOLE_SECRET, required)
    if required and len(secrets.missing) == missing_before and len(secret) < 32:
        secrets.missing.append(f"{CONSOLE_SECRET.label}：只有 {len(secret)} 个字符（可用 `python3 -c 'import secrets; "
                               "print(secrets.token_urlsafe(48))'` 生成）")
    users = []
    for i, u in enumerate(t.get("users", [])):
        where = f"console.users[{i}]"
        if not isinstance(u, dict):
            raise ConfigError(f"{where}：应为一个表")
        _check_keys(u, {"name", "role", "password_hash"}, where)
        role = _require(u, "role", where, str)
        if role not in {"viewer", "reviewer"}:
            raise ConfigError(f"{where}.role：只能是 viewer 或 reviewer")
        pw_hash = _require(u, "password_hash", where, str)
        if not pw_hash.startswith("$argon2"):
            raise ConfigError(f"{where}.password_hash：不是 argon2 散列（用 intake passwd 生成）")
        users.append(ConsoleUser(_require(u, "name", where, str), role, pw_hash))
    if len({u.name for u in users}) != len(users):
        raise ConfigError("console.users：用户名重复")
    return ConsoleConfig(host=_optional(t, "host", "console", str, "127.0.0.1"),
                         port=_optional(t, "port", "console", int, 8080), secret_key=secret,
                         https_only=_optional(t, "https_only", "console", bool, True), users=tuple(users))


def parse_campaign(t: Mapping[str, Any]) -> CampaignConfig:
    _check_keys(t, _CAMPAIGN_KEYS, "campaign")
    tz = _optional(t, "timezone", "campaign", str, "Asia/Shanghai")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"campaign.timezone：未知的时区 {tz!r}") from exc
    mailbox = _require(t, "mailbox", "campaign", str)
    if "@" not in mailbox:
        raise ConfigError(f"campaign.mailbox：不是邮箱地址：{mailbox!r}")
    cfg = CampaignConfig(
        id=_require(t, "id", "campaign", str),
        name=_require(t, "name", "campaign", str),
        mailbox=mailbox,
        case_number_prefix=_optional(t, "case_number_prefix", "campaign", str, "CASE"),
        opens=_date(t, "opens", "campaign") if "opens" in t else date(1970, 1, 1),
        deadline=_date(t, "deadline", "campaign"),
        timezone=tz,
        organizer_email=_optional(t, "organizer_email", "campaign", str, mailbox),
        raw=dict(t),
        materials=_optional(t, "materials", "campaign", str, "完整材料"),
    )
    if cfg.opens > cfg.deadline:
        raise ConfigError("campaign.opens：晚于 campaign.deadline")
    return cfg


def example_campaign_toml() -> str:
    """The [campaign] part of the shipped example (the 2025 call), for generated configurations."""
    text = resources.example_config().read_text(encoding="utf-8")
    start = text.find("\n[campaign]\n")
    if start < 0:
        raise ConfigError("config.example.toml 中没有 [campaign] 表")
    return text[start + 1:]


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"找不到配置文件 {path}（用 --config 或环境变量 {CONFIG_ENV} 指定）") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}：不是有效的 TOML：{exc}") from exc


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None, *,
                offline: bool = False) -> AppConfig:
    """Read and validate the whole configuration; raises ``ConfigError`` with one line.

    ``offline`` is for commands that neither fetch nor send (subject, inspect): secrets are not
    required, and without any config file the shipped example (the 2025 call) is used."""
    env = os.environ if env is None else env
    chosen = path or env.get(CONFIG_ENV)
    if offline:
        if not chosen and not Path(DEFAULT_CONFIG).exists():
            chosen = resources.example_config()
    cfg_path = Path(chosen or DEFAULT_CONFIG).expanduser().resolve()
    data = load_toml(cfg_path)
    base = cfg_path.parent
    _check_keys(data, _TOP_KEYS, "config")
    if "campaign" in data and "campaign_file" in data:
        raise ConfigError("config：[campaign] 和 campaign_file 只能给出一个")
    if "campaign_file" in data:
        camp_path = _resolve(base, str(data["campaign_file"]))
        named = Path(str(data["campaign_file"]))
        shipped = resources.campaigns_dir() / named.name
        if not camp_path.exists() and named.parent == Path("campaigns") and shipped.exists():
            camp_path = shipped
        camp_data = load_toml(camp_path)
        if set(camp_data) != {"campaign"}:
            raise ConfigError(f"{camp_path}：征集配置文件只能有一个 [campaign] 表")
        campaign_table = camp_data["campaign"]
    elif "campaign" in data:
        campaign_table = data["campaign"]
    else:
        raise ConfigError("config：缺少 [campaign]（或 campaign_file）")
    intake = _parse_intake(data.get("intake", {}), base)
    secrets = Secrets(env if offline else _secrets_env(intake.secrets_file, env), base)
    imap = _parse_imap(data["imap"], secrets, not offline) if "imap" in data else None
    smtp = _parse_smtp(data["smtp"], base, secrets, not offline) if "smtp" in data else None
    console = _parse_console(data["console"], secrets, not offline) if "console" in data else None
    db_password = secrets.get(data.get("intake", {}), DATABASE_SECRET, False)
    secrets.database_password = bool(db_password)
    if db_password:
        intake = replace(intake, database_url=_with_password(intake.database_url, db_password))
    secrets.raise_if_missing(intake.secrets_file)
    return AppConfig(path=cfg_path, intake=intake, imap=imap, smtp=smtp, campaign=parse_campaign(campaign_table),
                     console=console, limits=_parse_limits(data.get("limits", {})),
                     links=_parse_links(data.get("links", {})),
                     warnings=_warnings(cfg_path, intake, secrets, (imap, smtp)))
