"""Building reply messages and handing them to SMTP (or, in dry-run, to .eml files)."""

from __future__ import annotations

import hashlib
import hmac
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.errors import HeaderDefect, MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, formataddr, getaddresses
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol, Sequence

# SendError and its permanent/transient kinds live with the other errors (checks/errors.py); re-exported.
# SmtpPermanent: never retried (5xx, RFC 5321 §4.2.1; a refused or unencodable address). SmtpTransient: backoff.
from checks.errors import SendError, SmtpPermanent, SmtpTransient

__all__ = ["DryRunSender", "SendError", "Sender", "SmtpPermanent", "SmtpSender", "SmtpTarget", "SmtpTransient",
           "SmtpUnreachable", "UnencodableMessage", "build_message", "domain_of", "make_message_id"]


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    security: str  # ssl | starttls | plain
    username: str = ""
    password: str = field(default="", repr=False)
    timeout_seconds: int = 30


class SmtpUnreachable(SmtpTransient):
    """No conversation with the server was possible at all (refused, unresolved, down; a full disk in dry-run):
    every other reply would fail the same way, so the outbox stops for this cycle."""


# What a stranger's mail may put into our reply's headers (RFC 5322 keeps lines under 998 octets; these
# bounds keep every header far below, however the sender wrote theirs).
MAX_REFERENCES = 10          # the thread's last ids only: the first one and the newest ones matter to clients
MAX_MESSAGE_ID_CHARS = 250   # a longer id is not a real one: it is left out, not cut (a cut id matches nothing)
MAX_SUBJECT_CHARS = 200
MAX_NAME_CHARS = 64


def cut(text: str, limit: int) -> str:
    """``text`` at most ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def usable_message_id(value: str | None) -> str | None:
    """A Message-ID we may echo (In-Reply-To, References): one ``<…>`` token of printable ASCII, bounded."""
    if not value:
        return None
    value = value.strip()
    if len(value) > MAX_MESSAGE_ID_CHARS or not re.fullmatch(r"<[\x21-\x7e]+>", value):
        return None
    return value


def thread_references(references: Sequence[str], in_reply_to: str | None) -> list[str]:
    """The References of a reply: the thread's ids, the mail answered last, at most MAX_REFERENCES (the
    first id of the thread and the newest ones, as RFC 5322 §3.6.4 suggests when trimming)."""
    refs = [r for r in (usable_message_id(x) for x in references) if r]
    answered = usable_message_id(in_reply_to)
    if answered and answered not in refs:
        refs.append(answered)
    refs = list(dict.fromkeys(refs))
    if len(refs) > MAX_REFERENCES:
        refs = [refs[0], *refs[-(MAX_REFERENCES - 1):]]
    return refs


def needs_smtputf8(*addresses: str) -> bool:
    return any(not a.isascii() for a in addresses)


class Sender(Protocol):
    def send(self, raw: bytes, sender: str, recipient: str, message_id: str) -> str: ...


def build_message(
    *, sender: str, sender_name: str, recipient: str, subject: str, text: str, html: str | None,
    message_id: str, in_reply_to: str | None = None, references: Sequence[str] = (),
    date: datetime | None = None, extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A UTF-8 multipart/alternative reply. ``Auto-Submitted: auto-replied`` (RFC 3834) tells other
    robots not to answer it, which is what prevents mail loops between two auto-responders."""
    if "\ufffd" in recipient or any(ord(ch) < 32 for ch in recipient):
        raise UnencodableMessage(f"收件地址无法识别（含无法解码或控制字符）：{recipient[:80]!r}")
    # A non-ASCII address (RFC 6531) can only be written as UTF-8 headers, sent with SMTPUTF8.
    msg = EmailMessage(policy=SMTPUTF8 if needs_smtputf8(sender, recipient) else SMTP)
    msg["From"] = formataddr((cut(sender_name, MAX_NAME_CHARS), sender)) if sender_name else sender
    msg["To"] = recipient
    msg["Subject"] = cut(subject, MAX_SUBJECT_CHARS)
    msg["Date"] = format_datetime(date or datetime.now(timezone.utc))
    msg["Message-ID"] = message_id
    answered = usable_message_id(in_reply_to)
    if answered:
        msg["In-Reply-To"] = answered
    refs = thread_references(references, in_reply_to)
    if refs:
        msg["References"] = " ".join(refs)
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    for name, value in extra_headers:
        msg[name] = value
    msg.set_content(text, charset="utf-8")
    if html:
        msg.add_alternative(html, subtype="html", charset="utf-8")
    try:
        return msg.as_bytes()
    except (MessageError, HeaderDefect, ValueError, UnicodeError) as exc:
        raise UnencodableMessage(f"回复无法编码（收件地址 {recipient[:80]!r}）：{exc}") from exc


class UnencodableMessage(ValueError):
    """The reply cannot be written as a mail (e.g. an address no header can carry): it fails, never retried."""


def make_message_id(kind: str, key: str, domain: str, secret: str | bytes) -> str:
    """Deterministic but unguessable Message-ID: the same (kind, key) always gets the same id, so a reply is
    queued once; without ``secret`` nobody can compute it. A mail naming one of our ids in In-Reply-To thus
    proves it saw our reply (that alone still gives it no right to the case: see the pipeline)."""
    secret_bytes = secret.encode() if isinstance(secret, str) else secret
    tag = hmac.new(secret_bytes, f"{kind}\x00{key}".encode(), hashlib.sha256).hexdigest()[:24]
    safe = re.sub(r"[^A-Za-z0-9.-]+", "-", f"{kind}.{key}").strip("-")[:80]
    return f"<{safe}.{tag}@{domain}>"


def domain_of(address: str) -> str:
    addrs = getaddresses([address])
    addr = addrs[0][1] if addrs else address
    try:
        return Address(addr_spec=addr).domain or "localhost"
    except (ValueError, IndexError):
        return addr.rpartition("@")[2] or "localhost"


class SmtpSender:
    def __init__(self, target: SmtpTarget) -> None:
        self.target = target

    def send(self, raw: bytes, sender: str, recipient: str, message_id: str) -> str:
        """Hand one reply over. Raises SmtpPermanent (fail it now) or SmtpTransient (retry later)."""
        t = self.target
        where = f"SMTP {t.host}:{t.port}"
        try:
            client = self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            raise SmtpUnreachable(f"{where}: 无法连接：{exc}") from exc
        try:
            with client:
                if t.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if t.username and t.password:
                    client.login(t.username, t.password)
                options: list[str] = []
                if needs_smtputf8(sender, recipient) or not raw.isascii():
                    client.ehlo_or_helo_if_needed()
                    if client.has_extn("smtputf8"):
                        options = ["SMTPUTF8"]
                    elif needs_smtputf8(sender, recipient):
                        raise SmtpPermanent(f"{where}: 收件地址 {recipient!r} 含非 ASCII 字符，发信服务器不支持 "
                                                 "SMTPUTF8，无法投递")
                # Empty envelope sender is not used: bounces of receipts must come back to us so staff
                # see undeliverable receipts (they are recognised and never answered).
                refused = client.sendmail(sender, [recipient], raw, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _classified(where, f"拒收收件人 {recipient}", exc.recipients.get(recipient, (550, b""))) from exc
        except smtplib.SMTPResponseException as exc:  # SMTPSenderRefused, SMTPDataError, SMTPAuthenticationError…
            raise _classified(where, "拒绝", (exc.smtp_code, exc.smtp_error)) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise SmtpPermanent(f"{where}: {exc}") from exc
        except UnicodeError as exc:  # smtplib encodes commands as ASCII unless SMTPUTF8 is in use
            raise SmtpPermanent(f"{where}: 地址无法编码：{exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:  # disconnected mid-way, timeout
            raise SmtpTransient(f"{where}: {exc}") from exc
        if refused:
            raise _classified(where, f"拒收收件人 {recipient}", refused.get(recipient, (550, b"")))
        return "smtp"

    def _connect(self) -> smtplib.SMTP:
        t = self.target
        if t.security == "ssl":
            return smtplib.SMTP_SSL(t.host, t.port, timeout=t.timeout_seconds, context=ssl.create_default_context())
        return smtplib.SMTP(t.host, t.port, timeout=t.timeout_seconds)


class DryRunSender:
    """Writes each reply as ``<outbox_dir>/<message-id>.eml`` and sends nothing."""

    def __init__(self, outbox_dir: Path) -> None:
        self.outbox_dir = outbox_dir

    def path_for(self, message_id: str) -> Path:
        return self.outbox_dir / (re.sub(r"[^A-Za-z0-9.@_-]+", "_", message_id.strip("<>")) + ".eml")

    def send(self, raw: bytes, sender: str, recipient: str, message_id: str) -> str:
        path = self.path_for(message_id)
        try:
            self.outbox_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(raw)
            tmp.replace(path)
        except OSError as exc:  # a full or unwritable disk: every reply would fail alike
            raise SmtpUnreachable(f"dry-run {self.outbox_dir}: {exc}") from exc
        return f"dry-run:{path}"


def _classified(where: str, what: str, reply: tuple[int, bytes | str]) -> SendError:
    """5xx is permanent (RFC 5321 §4.2.1); anything else (4xx, odd codes) is worth another try."""
    code, text = reply
    detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    message = f"{where}: {what}：{code} {detail}".strip()
    return SmtpPermanent(message) if 500 <= code < 600 else SmtpTransient(message)
