"""Fetch step: new mail from the mailbox into the spool and the database, nothing lost, nothing twice.

Order per message: download (streamed, chunked) → fsync + rename into the spool → row in ``messages``
→ advance the epoch's last UID. A kill -9 anywhere leaves either nothing (the UID is fetched again),
a spool file without a row (overwritten by the re-fetch), or a row (the sha256 makes the re-fetch a
no-op). Duplicates across UIDVALIDITY epochs are caught before download by Message-ID + size, and
after download by sha256.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from ingest.mail.imap import MailboxClient, MessageHead
from ingest.mail.spool import Spool
from store import Store

log = logging.getLogger(__name__)


@dataclass
class FetchReport:
    new: int = 0
    duplicates: int = 0
    bytes: int = 0
    uids: list[int] = field(default_factory=list)


def fetch_new(mailbox: MailboxClient, store: Store, spool: Spool, *, batch: int = 200,
              stop_requested: Callable[[], bool] = lambda: False, max_message_bytes: int = 0) -> FetchReport:
    """Download every message above the stored last UID of the current UIDVALIDITY epoch."""
    report = FetchReport()
    account, folder = mailbox.account, mailbox.settings.folder
    mailbox.select()  # refresh UIDVALIDITY/UIDNEXT (they may have changed since the last cycle)
    uidvalidity = mailbox.uidvalidity
    last = store.mailbox_last_uid(account, folder, uidvalidity)
    uids = mailbox.new_uids(last)
    if not uids:
        return report
    log.info("邮箱 %s/%s：UID %d 之后有 %d 封新邮件（UIDVALIDITY %d）", account, folder, last, len(uids),
             uidvalidity)
    for start in range(0, len(uids), batch):
        heads = mailbox.heads(uids[start:start + batch])
        known = store.known_messages([h.message_id for h in heads if h.message_id])
        for head in heads:
            if stop_requested():
                return report
            if head.message_id and head.size in known.get(head.message_id, ()):
                report.duplicates += 1
                store.log_event("message.duplicate_skipped",
                                detail={"uid": head.uid, "uidvalidity": uidvalidity, "message_id": head.message_id})
            else:
                _download_one(mailbox, store, spool, head, account, folder, uidvalidity, report, max_message_bytes)
            store.advance_last_uid(account, folder, uidvalidity, head.uid)
    if mailbox.settings.processed_folder:
        mailbox.copy_to(report.uids, mailbox.settings.processed_folder)
    return report


def _download_one(mailbox: MailboxClient, store: Store, spool: Spool, head: MessageHead, account: str,
                  folder: str, uidvalidity: int, report: FetchReport, max_message_bytes: int = 0) -> None:
    writer = spool.writer(account, uidvalidity, head.uid)
    oversize = bool(max_message_bytes) and head.size > max_message_bytes
    try:
        if oversize:  # the header only: recorded and answered, the body stays in the mailbox (issue 15 §5)
            log.warning("UID %d：%d 字节，超过 intake.max_message_bytes（%d），只收取信头", head.uid, head.size,
                        max_message_bytes)
            mailbox.download_header(head.uid, writer.write)
        else:
            mailbox.download(head.uid, head.size, writer.write)
        spooled = writer.commit()
    except BaseException:
        writer.abort()
        raise
    row = store.record_spooled(
        account=account, folder=folder, uidvalidity=uidvalidity, uid=head.uid, message_id=head.message_id,
        sha256=spooled.sha256, size=max(spooled.size, head.size) if oversize else spooled.size,
        spool_path=str(spooled.path), internaldate=head.internaldate,
    )
    if row is None:
        # Same bytes already recorded under another UID/epoch: keep the first copy only.
        original = store.message_by_sha(spooled.sha256)
        if original is None or original.spool_path != str(spooled.path):
            spooled.path.unlink(missing_ok=True)
        report.duplicates += 1
        store.log_event("message.duplicate_skipped",
                        detail={"uid": head.uid, "uidvalidity": uidvalidity, "sha256": spooled.sha256})
        return
    report.new += 1
    report.bytes += spooled.size
    report.uids.append(head.uid)
