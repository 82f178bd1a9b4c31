"""The errors that stop a step, each worded once, in Chinese, for the person who has to act on it.

A small tree (like imapclient's ``LoginError``/``CapabilityError``) so callers catch what they can
handle and let the rest through:

    IntakeError                       one line for the operator: ``str(exc)``
    ├── ConfigError                   the configuration cannot be used (also a ValueError)
    ├── MailboxError                  talking to the mailbox failed
    │   ├── MailboxUnreachable        no connection: name not resolved, refused, timed out, TLS
    │   └── LoginRefused              the server answered but refused the account / 授权码
    ├── SendError                     a mail could not be handed to SMTP
    │   ├── SmtpTransient             try again later (4xx, connection trouble)
    │   └── SmtpPermanent             never retry (5xx, RFC 5321 §4.2.1; a refused address)
    ├── UnreadableFile                a file given to a command cannot be read
    ├── StartupError                  (ingest/runtime.py) campaign, rules or templates unusable
    └── SchemaMismatch                (store/reader.py) the database is not at the code's schema

Findings about a submitter's files are data, not errors: these are for steps that cannot go on.
Pure (no imports of ours, nothing but the standard library) so every package may raise them.
"""

from __future__ import annotations


class IntakeError(Exception):
    """Base of our errors; ``str(exc)`` is the one Chinese line shown to the operator."""


class ConfigError(IntakeError, ValueError):
    """A configuration problem, worded as the single line shown to the operator."""


class MailboxError(IntakeError):
    """A failure talking to the mailbox, worded for the operator."""


class MailboxUnreachable(MailboxError):
    """The mailbox server could not be reached (DNS, connection, timeout, TLS)."""

    @classmethod
    def unresolved(cls, host: str) -> MailboxUnreachable:
        return cls(f"无法解析邮箱服务器地址 {host}（请检查服务器名称和网络）")

    @classmethod
    def no_connection(cls, host: str, port: int, reason: object) -> MailboxUnreachable:
        return cls(f"无法连接邮箱服务器 {host}:{port}：{reason}")


class LoginRefused(MailboxError):
    """The server answered but refused the account or its authorization code."""

    @classmethod
    def for_account(cls, username: str, host: str, reason: object) -> LoginRefused:
        return cls(f"无法登录邮箱 {username}@{host}：用户名或授权码被拒绝（请检查授权码，它不是网页登录密码）；"
                   f"服务器答复：{reason}")


class SendError(IntakeError):
    """A mail could not be handed over to SMTP."""


class SmtpTransient(SendError):
    """Handing over failed for now (4xx reply, connection trouble): retried later."""


class SmtpPermanent(SendError):
    """The server refused for good (5xx reply, refused recipient): never retried."""


class UnreadableFile(IntakeError):
    """A file given to a command cannot be read (missing, no permission, not what it claims to be)."""

    @classmethod
    def for_path(cls, path: object, reason: object) -> UnreadableFile:
        return cls(f"无法读取文件 {path}：{reason}")


__all__ = ["ConfigError", "IntakeError", "LoginRefused", "MailboxError", "MailboxUnreachable", "SendError",
           "SmtpPermanent", "SmtpTransient", "UnreadableFile"]
