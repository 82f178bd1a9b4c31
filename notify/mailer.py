"""Building reply messages and handing them to SMTP (or, in dry-run, to .eml files)."""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, getaddresses
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol, Sequence

# SendError and its permanent/transient kinds live with the other errors (checks/errors.py); re-exported.
from checks.errors import SendError, SmtpPermanent, SmtpTransient

__all__ = ["DryRunSender", "SendError", "Sender", "SmtpPermanent", "SmtpSender", "SmtpTarget", "SmtpTransient",
           "build_message", "domain_of", "make_message_id"]


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    security: str  # ssl | starttls | plain
    username: str = ""
    password: str = field(default="", repr=False)
    timeout_seconds: int = 30



class Sender(Protocol):
    def send(self, raw: bytes, sender: str, recipient: str, message_id: str) -> str: ...


def build_message(
    *, sender: str, sender_name: str, recipient: str, subject: str, text: str, html: str | None,
    message_id: str, in_reply_to: str | None = None, references: Sequence[str] = (),
    date: datetime | None = None, extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A UTF-8 multipart/alternative reply. ``Auto-Submitted: auto-replied`` (RFC 3834) tells other
    robots not to answer it, which is what prevents mail loops between two auto-responders."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = formataddr((sender_name, sender)) if sender_name else sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime.now(timezone.utc))
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    refs = [r for r in references if r]
    if in_reply_to and in_reply_to not in refs:
        refs.append(in_reply_to)
    if refs:
        msg["References"] = " ".join(refs)
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    for name, value in extra_headers:
        msg[name] = value
    msg.set_content(text, charset="utf-8")
    if html:
        msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg.as_bytes()


def make_message_id(kind: str, key: str, domain: str) -> str:
    """Deterministic Message-ID: the same reply always gets the same id, so it is queued once."""
    safe = re.sub(r"[^A-Za-z0-9.-]+", "-", f"{kind}.{key}").strip("-")
    return f"<{safe}@{domain}>"


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
        t = self.target
        try:
            client: smtplib.SMTP
            if t.security == "ssl":
                client = smtplib.SMTP_SSL(t.host, t.port, timeout=t.timeout_seconds,
                                          context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(t.host, t.port, timeout=t.timeout_seconds)
            with client:
                if t.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if t.username and t.password:
                    client.login(t.username, t.password)
                # Empty envelope sender is not used: bounces of receipts must come back to us so staff
                # see undeliverable receipts (they are recognised and never answered).
                refused = client.sendmail(sender, [recipient], raw)
        except (smtplib.SMTPException, OSError) as exc:
            raise SendError(f"SMTP {t.host}:{t.port}: {exc}") from exc
        if refused:
            raise SendError(f"SMTP refused {recipient}: {refused}")
        return "smtp"


class DryRunSender:
    """Writes each reply as ``<outbox_dir>/<message-id>.eml`` and sends nothing."""

    def __init__(self, outbox_dir: Path) -> None:
        self.outbox_dir = outbox_dir

    def path_for(self, message_id: str) -> Path:
        return self.outbox_dir / (re.sub(r"[^A-Za-z0-9.@_-]+", "_", message_id.strip("<>")) + ".eml")

    def send(self, raw: bytes, sender: str, recipient: str, message_id: str) -> str:
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        path = self.path_for(message_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(raw)
        tmp.replace(path)
        return f"dry-run:{path}"
