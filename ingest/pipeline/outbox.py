"""Outbox dispatch: queued replies handed to SMTP (or written out in dry-run), each at most once.

A row is marked 'sending' before the SMTP transaction and 'sent' after it; a kill -9 between the
two leaves 'sending', which is retried: the only window where a reply can go out twice, and it is
visible in the event log. One reply's failure is that reply's alone: a permanent one (5xx, a refused
or unencodable address) fails it at once, a transient one (4xx, timeout) backs off (1, 2, 4 … minutes)
and is retried on later cycles; the loop goes on with the next reply. Only a server that cannot be
reached at all ends the loop for this cycle (every other reply would fail the same way).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Callable

from notify.mailer import SendError, Sender, SmtpPermanent, SmtpUnreachable
from store import OutgoingMail, Store

log = logging.getLogger(__name__)


@dataclass
class DispatchReport:
    """How many replies a dispatch sent and how many failed."""

    sent: int = 0
    failed: int = 0


def dispatch(store: Store, sender: Sender, envelope_from: str, *, retry_base_seconds: float = 60,
             stop_requested: Callable[[], bool] = lambda: False, only_alerts: bool = False) -> DispatchReport:
    """Send every due reply: alert mails first (a backlog of receipts never holds up an alert), then the
    rest in queue order. ``only_alerts`` for the watchdog and cron, when the cycle itself is stuck."""
    report = DispatchReport()
    for alerts in ((True,) if only_alerts else (True, False)):
        if not _dispatch_pages(store, sender, envelope_from, report, alerts=alerts,
                               retry_base_seconds=retry_base_seconds, stop_requested=stop_requested):
            break
    return report


def _dispatch_pages(store: Store, sender: Sender, envelope_from: str, report: DispatchReport, *, alerts: bool,
                    retry_base_seconds: float, stop_requested: Callable[[], bool]) -> bool:
    """Page through the due rows with a cursor (a row that failed is not read again this cycle). False when
    the loop must end for this cycle (stop requested, server unreachable)."""
    after_id = 0
    while batch := store.due_mail(after_id=after_id, alerts=alerts):
        for mail in batch:
            after_id = mail.id
            if stop_requested():
                return False
            outcome = _send(store, sender, envelope_from, mail, retry_base_seconds)
            if outcome is SendOutcome.SENT:
                report.sent += 1
                continue
            report.failed += 1
            if outcome is SendOutcome.UNREACHABLE:
                return False
    return True


class SendOutcome(enum.Enum):
    """What one send attempt came to (not stored: the outbox row's status is the record)."""

    SENT = enum.auto()
    FAILED = enum.auto()  # this reply only (permanent, or retried later with backoff)
    UNREACHABLE = enum.auto()  # the server: every other reply would fail the same way now
    NOT_DUE = enum.auto()  # sent already, failed for good, or its next attempt is later


def send_one(store: Store, sender: Sender, envelope_from: str, outbox_id: int, *,
             retry_base_seconds: float = 60) -> SendOutcome:
    """One queued reply, if it is due now (a job of distributed mode; the caller makes sure no other process
    sends the same row at the same time). The same at-most-once marks as ``dispatch``."""
    mail = store.outgoing_if_due(outbox_id)
    if mail is None:
        return SendOutcome.NOT_DUE
    return _send(store, sender, envelope_from, mail, retry_base_seconds)


def _send(store: Store, sender: Sender, envelope_from: str, mail: OutgoingMail,
          retry_base_seconds: float) -> SendOutcome:
    store.mark_sending(mail.id)
    try:
        how = sender.send(mail.raw, envelope_from, mail.recipient, mail.message_id)
    except SendError as exc:
        _failed(store, mail.id, mail.message_id, mail.recipient, exc, retry_base_seconds)
        return SendOutcome.UNREACHABLE if isinstance(exc, SmtpUnreachable) else SendOutcome.FAILED
    except Exception as exc:  # noqa: BLE001 - isolation boundary: one bad reply never stops the others
        # A fault of ours or of a library on this one reply (smtplib raised UnicodeEncodeError for a raw
        # 8-bit address before the errors were classified): it fails, with its reason, for staff.
        log.exception("回复 %s（收件人 %r）发送时意外出错", mail.message_id, mail.recipient)
        failure = SmtpPermanent(f"发送时出错：{type(exc).__name__}: {exc}")
        _failed(store, mail.id, mail.message_id, mail.recipient, failure, retry_base_seconds)
        return SendOutcome.FAILED
    store.mark_sent(mail.id, how=how)
    return SendOutcome.SENT


def _failed(store: Store, outbox_id: int, message_id: str, recipient: str, exc: SendError,
            retry_base_seconds: float) -> None:
    permanent = isinstance(exc, SmtpPermanent)
    log.warning("回复 %s（收件人 %r）未发出（%s）：%s", message_id, recipient, "不再重试" if permanent else "稍后重试",
                exc)
    store.mark_send_failed(outbox_id, str(exc), base_seconds=retry_base_seconds, permanent=permanent)
