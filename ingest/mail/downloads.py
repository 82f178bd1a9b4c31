"""Downloading several messages at once, each over its own IMAP connection, into the spool.

One connection fetches one chunk at a time: the server waits while we write, we wait while it reads. However lean
the client, one connection stayed at 0.95 × mbsync on the bench machine; two connections in two threads took
0.57 × (bench/fetch_vs_mbsync.py, imapclient-2conn). So ``fetch_new`` hands each message it wants here, and
records the results itself in UID order: only the bytes travel side by side. What counts as received (the
database row, the mailbox's last UID) still advances one message at a time, in order, as before.

The first download uses the poll's own connection; another connection is opened only when a second message is
wanted while the first is still downloading, and closed when the fetch ends. A server that refuses it (a limit on
connections per user) leaves the fetch on the one connection it has, with a warning.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from checks.errors import MailboxError
from ingest.mail.imap import MailboxClient, MessageHead
from ingest.mail.spool import FileStore, SpooledFile

log = logging.getLogger(__name__)


class ParallelDownloads:
    """Messages of one mailbox epoch downloaded to the spool over up to ``connections`` connections at once."""

    def __init__(self, mailbox: MailboxClient, spool: FileStore, *, connections: int,
                 max_message_bytes: int = 0) -> None:
        self._mailbox = mailbox
        self._spool = spool
        self._max_message_bytes = max_message_bytes
        self.connections = max(1, connections)
        self._free: queue.SimpleQueue[MailboxClient] = queue.SimpleQueue()
        self._free.put(mailbox)
        self._opened: list[MailboxClient] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.connections, thread_name_prefix="imap-download")

    def submit(self, head: MessageHead) -> Future[tuple[SpooledFile, bool]]:
        """Start downloading one message: the future gives its spooled file and whether only its header was
        taken (larger than ``max_message_bytes``). The caller keeps no more than ``connections`` in flight."""
        return self._pool.submit(self._download, head)

    def close(self) -> None:
        """Wait for downloads in flight (a message spooled but not recorded is downloaded again by the next poll)
        and log out of the connections opened here (the poll's own connection stays open)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            opened, self._opened = self._opened, []
        for client in opened:
            client.close()

    def _download(self, head: MessageHead) -> tuple[SpooledFile, bool]:
        client = self._take()
        try:
            return spool_message(client, self._spool, head, self._max_message_bytes)
        finally:
            self._free.put(client)

    def _take(self) -> MailboxClient:
        """A connection nobody is downloading on: a free one, a new one while fewer than ``connections`` are
        open, else (the server refused another) the next one freed."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            may_open = 1 + len(self._opened) < self.connections
        if may_open:
            extra = self._open_another()
            if extra is not None:
                return extra
        return self._free.get()

    def _open_another(self) -> MailboxClient | None:
        extra = MailboxClient(self._mailbox.settings)
        try:
            extra.connect()
        except MailboxError as exc:
            with self._lock:
                self.connections = 1 + len(self._opened)  # the server's limit: do not ask again in this fetch
            log.warning("邮箱 %s 拒绝再开一个连接，本次收取用 %d 个连接：%s", self._mailbox.account, self.connections, exc)
            return None
        if extra.uidvalidity != self._mailbox.uidvalidity:
            extra.close()
            raise MailboxError(f"邮箱 {self._mailbox.account} 的 UIDVALIDITY 在收取中改变"
                               f"（{self._mailbox.uidvalidity} → {extra.uidvalidity}），下次收取时重新开始")
        with self._lock:
            self._opened.append(extra)
        return extra


def spool_message(mailbox: MailboxClient, spool: FileStore, head: MessageHead,
                  max_message_bytes: int = 0) -> tuple[SpooledFile, bool]:
    """One message from the mailbox into the spool, durable on return; True with it when only its header was
    taken (the message is larger than ``max_message_bytes``: recorded and answered, its body stays in the
    mailbox, issue 15 §5)."""
    writer = spool.writer(mailbox.account, mailbox.uidvalidity, head.uid)
    oversize = bool(max_message_bytes) and head.size > max_message_bytes
    try:
        if oversize:
            log.warning("UID %d：%d 字节，超过 intake.max_message_bytes（%d），只收取信头", head.uid, head.size,
                        max_message_bytes)
            mailbox.download_header(head.uid, writer.write)
        else:
            mailbox.download(head.uid, head.size, writer.write)
        return writer.commit(), oversize
    except BaseException:
        writer.abort()
        raise
