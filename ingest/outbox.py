"""Outbox dispatch: queued replies handed to SMTP (or written out in dry-run), each at most once.

A row is marked 'sending' before the SMTP transaction and 'sent' after it; a kill -9 between the
two leaves 'sending', which is retried: the only window where a reply can go out twice, and it is
visible in the event log. SMTP failures back off (1, 2, 4 … minutes) and retry on later cycles.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from notify.mailer import SendError, Sender
from store import Store

log = logging.getLogger(__name__)


@dataclass
class DispatchReport:
    sent: int = 0
    failed: int = 0


def dispatch(store: Store, sender: Sender, envelope_from: str, *, retry_base_seconds: float = 60,
             stop_requested: Callable[[], bool] = lambda: False) -> DispatchReport:
    report = DispatchReport()
    # due_mail() returns one page (100 rows): keep taking pages until nothing is due, so a backlog of
    # receipts goes out in this cycle, not 100 per poll interval. Sent rows leave the page; a failure stops.
    while batch := store.due_mail():
        for mail in batch:
            if stop_requested():
                return report
            store.mark_sending(mail.id)
            try:
                how = sender.send(mail.raw, envelope_from, mail.recipient, mail.message_id)
            except SendError as exc:
                log.warning("reply %s to %s not sent: %s", mail.message_id, mail.recipient, exc)
                store.mark_send_failed(mail.id, str(exc), base_seconds=retry_base_seconds)
                report.failed += 1
                # The server is down or refusing: the rest would fail the same way; retry next cycle.
                return report
            store.mark_sent(mail.id, how=how)
            report.sent += 1
    return report
