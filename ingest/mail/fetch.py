"""Fetch step: new mail from the mailbox into the spool and the database, nothing lost, nothing twice.

Order per message: download (streamed, chunked) → fsync + rename into the spool → row in ``messages``
→ advance the epoch's last UID. A kill -9 anywhere leaves either nothing (the UID is fetched again),
a spool file without a row (overwritten by the re-fetch), or a row (the sha256 makes the re-fetch a
no-op). Duplicates across UIDVALIDITY epochs are caught before download by Message-ID + size, and
after download by sha256.
"""

from __future__ import annotations

import errno
import logging
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ingest.mail.downloads import ParallelDownloads
from ingest.mail.imap import MailboxClient, MailboxError, MessageHead
from ingest.mail.spool import FileStore, SpooledFile
from store import SpooledMessage, Store

log = logging.getLogger(__name__)

# Messages per connection that may wait, spooled, for an earlier one to arrive before they are recorded.
_LOOKAHEAD = 4


@dataclass
class FetchReport:
    """What one fetch brought: new messages, duplicates skipped, bytes, and the UIDs taken."""

    new: int = 0
    duplicates: int = 0
    bytes: int = 0
    uids: list[int] = field(default_factory=list)


def fetch_new(mailbox: MailboxClient, store: Store, spool: FileStore, *, batch: int = 200,
              stop_requested: Callable[[], bool] = lambda: False, max_message_bytes: int = 0,
              on_spooled: Callable[[SpooledMessage], None] | None = None) -> FetchReport:
    """Download every message above the stored last UID of the current UIDVALIDITY epoch. ``on_spooled``
    is told of each new message once it is recorded (distributed mode queues its processing at once).

    Up to ``imap.fetch_connections`` messages download side by side (``ingest.mail.downloads``); each is
    recorded, and the last UID advanced past it, in UID order."""
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
    downloads = ParallelDownloads(mailbox, spool, connections=mailbox.settings.fetch_connections,
                                  max_message_bytes=max_message_bytes)
    # In UID order: each head with its download (None: a duplicate known before download).
    waiting: deque[tuple[MessageHead, Future[tuple[SpooledFile, bool]] | None]] = deque()

    def record_first() -> None:
        head, download = waiting.popleft()
        if download is None:
            report.duplicates += 1
            store.log_event("message.duplicate_skipped",
                            detail={"uid": head.uid, "uidvalidity": uidvalidity, "message_id": head.message_id})
        else:
            spooled, header_only = download.result()
            row = _record(store, spooled, header_only, head, account, folder, uidvalidity, report)
            if row is not None and on_spooled is not None:
                on_spooled(row)
        store.advance_last_uid(account, folder, uidvalidity, head.uid)

    def record_ready() -> None:
        """Record what arrived, in order; while every connection is busy, wait for any one of them (not only
        the first in line: a large message must not keep the other connections idle)."""
        while waiting:
            first = waiting[0][1]
            if first is None or first.done() or len(waiting) >= _LOOKAHEAD * downloads.connections:
                record_first()
                continue
            running = [d for _, d in waiting if d is not None and not d.done()]
            if len(running) < downloads.connections:
                return
            wait(running, return_when=FIRST_COMPLETED)

    try:
        for start in range(0, len(uids), batch):
            # The heads come over the poll's own connection, which also downloads: nothing is in flight here.
            heads = mailbox.heads(uids[start:start + batch])
            known = store.known_messages([h.message_id for h in heads if h.message_id])
            for head in heads:
                if stop_requested():
                    while waiting:  # what is in flight is recorded
                        record_first()
                    return report
                if head.message_id and head.size in known.get(head.message_id, ()):
                    waiting.append((head, None))
                else:
                    waiting.append((head, downloads.submit(head)))
                record_ready()
            while waiting:
                record_first()
    finally:
        downloads.close()
    if mailbox.settings.processed_folder:
        mailbox.copy_to(report.uids, mailbox.settings.processed_folder)
    return report


def fetch_failure(exc: BaseException, spool_root: Path) -> tuple[str, bool]:
    """The one line staff see for a poll that broke off (a server restart, a dropped connection, a refused
    login, a full disk), and whether the disk is full (then processing waits too). What was spooled stays;
    the next poll resumes after the last recorded UID."""
    disk_full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    if disk_full:
        return f"存储空间已满，暂停收信和处理（{spool_root}）：{exc}", True
    return (str(exc) if isinstance(exc, MailboxError) else f"收信中断：{exc}"), False


def _record(store: Store, spooled: SpooledFile, header_only: bool, head: MessageHead, account: str, folder: str,
            uidvalidity: int, report: FetchReport) -> SpooledMessage | None:
    """The row of a message now in the spool (None: the same bytes were recorded before, under another UID or
    epoch; the copy is dropped)."""
    row = store.record_spooled(
        account=account, folder=folder, uidvalidity=uidvalidity, uid=head.uid, message_id=head.message_id,
        sha256=spooled.sha256, size=max(spooled.size, head.size) if header_only else spooled.size,
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
        return None
    report.new += 1
    report.bytes += spooled.size
    report.uids.append(head.uid)
    return row
