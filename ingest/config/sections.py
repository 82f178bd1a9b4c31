"""One parser per TOML section ([intake], [imap], [smtp], [console], [limits], [links], [campaign])."""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from pathlib import Path
from dataclasses import replace
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingest import resources
from ingest.config.model import (CampaignConfig, ConsoleConfig, ConsoleUser, ImapSettings, IntakeSettings,
                                 LimitSettings, LinkSettings, SmtpSettings)
from ingest.config.values import (CONSOLE_SECRET, IMAP_SECRET, MESSAGE_ID_KEY_SECRET, SMTP_SECRET, ConfigError,
                                  Secrets, _check_keys, _database_url, _date, _optional, _require, _resolve)

_INTAKE_KEYS = {
    "spool_dir", "database_url", "poll_interval_seconds", "log_format", "max_message_bytes",
    "alert_after_failures", "alert_no_poll_minutes", "alert_lag_minutes", "templates_dir", "secrets_file",
    "database_password_env", "database_password_file",
}
# The keys of model.MailServer (the password named, never written in the file), then each table's own.
_SERVER_KEYS = {"host", "port", "security", "username", "password_env", "password_file"}
_IMAP_KEYS = _SERVER_KEYS | {
    "folder", "processed_folder", "fetch_chunk_bytes", "fetch_connections", "timeout_seconds", "use_idle",
}
_SMTP_KEYS = _SERVER_KEYS | {
    "sender", "sender_name", "mode", "outbox_dir", "timeout_seconds", "max_replies_per_sender_per_hour",
    "retry_base_seconds", "max_automatic_replies_per_hour", "message_id_key_env", "message_id_key_file",
}
_CAMPAIGN_KEYS = {
    "id", "name", "mailbox", "case_number_prefix", "opens", "deadline", "timezone",
    "organizer_email", "subject", "categories", "rules", "quotas", "documents", "materials",
}
_LINK_KEYS = {"fetch", "allowed_hosts", "max_bytes", "timeout_seconds", "alert_days"}
_LIMIT_KEYS = {"isolate", "file_seconds", "attachment_seconds", "rule_seconds", "worker_memory_mb", "workers",
               "mail_seconds", "mail_unpacked_mb"}
_CONSOLE_KEYS = {"host", "port", "secret_key_env", "secret_key_file", "https_only", "users"}
_SECURITY = {"ssl", "starttls", "plain"}


def parse_intake(t: Mapping[str, Any], base: Path) -> IntakeSettings:
    """The [intake] table, checked, with paths resolved against ``base``."""
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
        alert_lag_minutes=_optional(t, "alert_lag_minutes", "intake", int, 30),
        templates_dir=_resolve(base, t["templates_dir"]) if "templates_dir" in t else resources.templates_dir(),
        secrets_file=_resolve(base, t["secrets_file"]) if t.get("secrets_file") else None,
    )


def parse_limits(t: Mapping[str, Any]) -> LimitSettings:
    """The [limits] table, checked (every limit positive)."""
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
    workers = _optional(t, "workers", "limits", int, default.workers)
    if workers < 0:
        raise ConfigError("limits.workers：0（每个处理器核心一个）或正整数")
    return LimitSettings(isolate=_optional(t, "isolate", "limits", bool, True), worker_memory_mb=memory,
                         workers=workers, mail_unpacked_mb=unpacked, **seconds)


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


def parse_links(t: Mapping[str, Any]) -> LinkSettings:
    """The [links] table, checked."""
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


def _security(t: Mapping[str, Any], where: str) -> str:
    security = _optional(t, "security", where, str, "ssl")
    if security not in _SECURITY:
        raise ConfigError(f"{where}.security：只能是 ssl、starttls、plain 之一（实际是 {security!r}）")
    return str(security)


def _fetch_connections(t: Mapping[str, Any], where: str) -> int:
    count = _optional(t, "fetch_connections", where, int, ImapSettings.fetch_connections)
    if not 1 <= count <= MAX_FETCH_CONNECTIONS:
        raise ConfigError(f"{where}.fetch_connections：应为 1 到 {MAX_FETCH_CONNECTIONS} 之间的整数（实际是 {count}）")
    return int(count)


# Mail services limit the sessions one account may hold (Dovecot's default: 10 per user and address).
MAX_FETCH_CONNECTIONS = 4


def parse_imap(t: Mapping[str, Any], secrets: Secrets, required: bool, where: str = "imap") -> ImapSettings:
    """``where``: the table's name in messages ("imap", or "campaigns[1].imap" for one campaign's mailbox)."""
    _no_plain_password(t, where)
    _check_keys(t, _IMAP_KEYS, where)
    security = _security(t, where)
    return ImapSettings(
        host=_require(t, "host", where, str),
        port=_optional(t, "port", where, int, 993 if security == "ssl" else 143),
        security=security,
        username=_require(t, "username", where, str),
        password=secrets.get(t, replace(IMAP_SECRET, where=where), required),
        folder=_optional(t, "folder", where, str, "INBOX"),
        processed_folder=_optional(t, "processed_folder", where, str, ""),
        fetch_chunk_bytes=_optional(t, "fetch_chunk_bytes", where, int, ImapSettings.fetch_chunk_bytes),
        fetch_connections=_fetch_connections(t, where),
        timeout_seconds=_optional(t, "timeout_seconds", where, int, 60),
        use_idle=_optional(t, "use_idle", where, bool, True),
    )


def parse_smtp(t: Mapping[str, Any], base: Path, secrets: Secrets, required: bool, where: str = "smtp") -> SmtpSettings:
    """An [smtp] table, checked, its password from the environment or the secrets file."""
    _no_plain_password(t, where)
    _check_keys(t, _SMTP_KEYS, where)
    security = _security(t, where)
    mode = _optional(t, "mode", where, str, "send")
    if mode not in {"send", "dry-run"}:
        raise ConfigError(f"{where}.mode：只能是 'send' 或 'dry-run'")
    username = _optional(t, "username", where, str, "")
    return SmtpSettings(
        host=_require(t, "host", where, str),
        port=_optional(t, "port", where, int, 465 if security == "ssl" else 25),
        security=security,
        username=username,
        password=secrets.get(t, replace(SMTP_SECRET, where=where), required and mode == "send"),
        sender=_optional(t, "sender", where, str, username),
        sender_name=_optional(t, "sender_name", where, str, ""),
        mode=mode,
        outbox_dir=_resolve(base, _optional(t, "outbox_dir", where, str, "var/outbox")),
        timeout_seconds=_optional(t, "timeout_seconds", where, int, 30),
        max_replies_per_sender_per_hour=_optional(t, "max_replies_per_sender_per_hour", where, int, 10),
        retry_base_seconds=_optional(t, "retry_base_seconds", where, int, 60),
        max_automatic_replies_per_hour=_non_negative(t, "max_automatic_replies_per_hour", 300, where),
        message_id_key=_message_id_key(t, secrets, where),
    )


def _non_negative(t: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = _optional(t, key, where, int, default)
    if value < 0:
        raise ConfigError(f"{where}.{key}：应为 0（不设上限）或正整数")
    return int(value)


def _message_id_key(t: Mapping[str, Any], secrets: Secrets, where: str) -> str:
    """The reply Message-ID key from message_id_key_env / message_id_key_file; "" when neither is set (a key is
    then generated once and kept in the database, the same for every host)."""
    key = secrets.get(t, replace(MESSAGE_ID_KEY_SECRET, where=where), required=False)
    if key and len(key) < 16:
        raise ConfigError(f"{where}.message_id_key：至少需要 16 个字符（例如 `python3 -c 'import secrets; "
                          "print(secrets.token_hex(32))'`）")
    return key


def parse_console(t: Mapping[str, Any], secrets: Secrets, required: bool) -> ConsoleConfig:
    """The [console] table, checked, its secret key from the environment or the secrets file."""
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


# A campaign id keys the campaign's rows in the database and names it on the command line (--campaign).
_CAMPAIGN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_PREFIX = re.compile(r"[^\s/\\]{1,40}")


def parse_campaign(t: Mapping[str, Any], where: str = "campaign") -> CampaignConfig:
    """A [campaign] table, checked: id, mailbox, case number prefix, dates and timezone (the subject format,
    categories, quotas and rules in it are checked by the layers that use them)."""
    _check_keys(t, _CAMPAIGN_KEYS, where)
    tz = _optional(t, "timezone", where, str, "Asia/Shanghai")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{where}.timezone：未知的时区 {tz!r}") from exc
    mailbox = _require(t, "mailbox", where, str)
    if "@" not in mailbox:
        raise ConfigError(f"{where}.mailbox：不是邮箱地址：{mailbox!r}")
    campaign_id = _require(t, "id", where, str)
    if not _CAMPAIGN_ID.fullmatch(campaign_id):
        raise ConfigError(f"{where}.id：只能由字母、数字和 _ . - 组成，至多 64 个字符（实际是 {campaign_id!r}）")
    prefix = _optional(t, "case_number_prefix", where, str, "CASE")
    if not _PREFIX.fullmatch(prefix):
        raise ConfigError(f"{where}.case_number_prefix：不能为空，不能含空白或斜杠，至多 40 个字符（实际是 {prefix!r}）")
    cfg = CampaignConfig(
        id=campaign_id,
        name=_require(t, "name", where, str),
        mailbox=mailbox,
        case_number_prefix=prefix,
        opens=_date(t, "opens", where) if "opens" in t else date(1970, 1, 1),
        deadline=_date(t, "deadline", where),
        timezone=tz,
        organizer_email=_optional(t, "organizer_email", where, str, mailbox),
        raw=dict(t),
        materials=_optional(t, "materials", where, str, "完整材料"),
    )
    if cfg.opens > cfg.deadline:
        raise ConfigError(f"{where}.opens：晚于 {where}.deadline")
    return cfg
