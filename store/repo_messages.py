"""The repository's mailboxes and messages: UIDs seen per mailbox, spooled messages and their status."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Sequence

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from checks.domain import MessageStatus
from store.models import (
    MailboxState,
    Message,
    OutboxMail,
    Submission,
    utcnow,
)
from store.records import (
    FailedMessage,
    SpooledMessage,
)
from store.repo_base import StoreBase

# Attempts at processing one message before it is left for staff (each attempt starts from the spooled bytes).
MAX_ATTEMPTS = 5


def _spooled(m: Message) -> SpooledMessage:
    return SpooledMessage(
        id=m.id, account=m.account, folder=m.folder, uidvalidity=m.uidvalidity, uid=m.uid,
        message_id=m.message_id, sha256=m.sha256, size=m.size, spool_path=m.spool_path,
        internaldate=m.internaldate, status=m.status, attempts=m.attempts,
    )


class MessageRecords(StoreBase):
    """Mailbox state (last UID per UIDVALIDITY, polls) and the messages' lifecycle."""

    # ---- mailbox state ------------------------------------------------------------------------
    def mailbox_last_uid(self, account: str, folder: str, uidvalidity: int) -> int:
        """Highest UID fully recorded in this UIDVALIDITY epoch (0 for a new epoch)."""
        with self.session() as s, s.begin():
            row = s.scalar(select(MailboxState).filter_by(account=account, folder=folder, uidvalidity=uidvalidity))
            if row is None:
                s.add(MailboxState(campaign_id=self._campaign, account=account, folder=folder,
                                   uidvalidity=uidvalidity, last_uid=0))
                return 0
            return row.last_uid

    def advance_last_uid(self, account: str, folder: str, uidvalidity: int, uid: int) -> None:
        """Move the mailbox's last seen UID forward to ``uid`` (never back), for this UIDVALIDITY only."""
        with self.session() as s, s.begin():
            s.execute(
                update(MailboxState)
                .where(MailboxState.account == account, MailboxState.folder == folder,
                       MailboxState.uidvalidity == uidvalidity, MailboxState.last_uid < uid)
                .values(last_uid=uid)
            )

    def record_poll(self, account: str, folder: str, ok: bool) -> None:
        """Record that a poll of the mailbox ran now, and whether it succeeded (for ``intake health`` and alerts)."""
        now = utcnow()
        with self.session() as s, s.begin():
            values: dict[str, Any] = {"last_poll_at": now}
            if ok:
                values["last_success_at"] = now
            s.execute(update(MailboxState).where(MailboxState.account == account,
                                                 MailboxState.folder == folder).values(**values))

    def last_successful_poll(self) -> datetime | None:
        """When a poll of any of this campaign's mailboxes last succeeded; None if none ever did."""
        with self.session() as s:
            return s.scalar(select(func.max(MailboxState.last_success_at))
                            .where(self._scope(MailboxState.campaign_id)))

    # ---- messages -----------------------------------------------------------------------------
    def known_messages(self, message_ids: Iterable[str]) -> dict[str, set[int]]:
        """Message-ID → sizes already recorded; a mail is only skipped unseen when both match, since
        broken clients have been seen to reuse Message-IDs for different mails."""
        ids = [m for m in message_ids if m]
        found: dict[str, set[int]] = {}
        with self.session() as s:
            for i in range(0, len(ids), 500):
                rows = s.execute(select(Message.message_id, Message.size)
                                 .where(Message.message_id.in_(ids[i:i + 500]), self._scope(Message.campaign_id)))
                for mid, size in rows:
                    if mid is not None:
                        found.setdefault(mid, set()).add(size)
        return found

    def message_by_sha(self, sha256: str) -> SpooledMessage | None:
        """The spooled message of this campaign with these bytes (SHA-256), if any: the content-hash dedupe."""
        with self.session() as s:
            m = s.scalar(select(Message).where(Message.sha256 == sha256, self._scope(Message.campaign_id)))
            return _spooled(m) if m else None

    def record_spooled(
        self, *, account: str, folder: str, uidvalidity: int, uid: int, message_id: str | None, sha256: str,
        size: int, spool_path: str, internaldate: datetime | None, from_addr: str | None = None,
        subject: str | None = None,
    ) -> SpooledMessage | None:
        """Record a spooled raw mail. Returns None when the same bytes (sha256) were recorded before."""
        with self.session() as s:
            row = Message(
                campaign_id=self._campaign, account=account, folder=folder, uidvalidity=uidvalidity, uid=uid, message_id=message_id,
                sha256=sha256, size=size, spool_path=spool_path, internaldate=internaldate,
                from_addr=from_addr, subject=subject, status=MessageStatus.SPOOLED, defects=[],
            )
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                return None
            s.add(self._event(action="message.spooled", message_row_id=row.id,
                        detail={"uid": uid, "uidvalidity": uidvalidity, "size": size, "message_id": message_id}))
            s.commit()
            return _spooled(row)

    def message(self, message_row_id: int) -> SpooledMessage:
        """The spooled message with this row id."""
        with self.session() as s:
            return _spooled(s.get_one(Message, message_row_id))

    def messages_with_status(self, statuses: Sequence[str], *, max_attempts: int = MAX_ATTEMPTS) -> list[SpooledMessage]:
        """Spooled messages in one of ``statuses`` still under ``max_attempts`` tries, oldest first: the work to
        resume."""
        with self.session() as s:
            rows = s.scalars(select(Message).where(Message.status.in_(statuses), Message.attempts < max_attempts,
                                                   self._scope(Message.campaign_id))
                             .order_by(Message.id))
            return [_spooled(m) for m in rows]

    def messages_filed_without_reply(self, *, max_attempts: int = MAX_ATTEMPTS) -> list[SpooledMessage]:
        """Filed ('stored') messages whose reply was never queued: a kill -9 between the filing
        transaction and the outbox insert leaves these; they must still be answered."""
        filed = select(Submission.id).where(Submission.message_row_id == Message.id).exists()
        queued = select(OutboxMail.id).where(OutboxMail.message_row_id == Message.id).exists()
        with self.session() as s:
            rows = s.scalars(select(Message).where(Message.status == MessageStatus.STORED,
                                                   Message.attempts < max_attempts, self._scope(Message.campaign_id),
                                                   filed, ~queued).order_by(Message.id))
            return [_spooled(m) for m in rows]

    def message_needing_work(self, message_row_id: int, *,
                             max_attempts: int = MAX_ATTEMPTS) -> SpooledMessage | None:
        """The message if processing it is still to do (the one-message form of ``messages_with_status`` and
        ``messages_filed_without_reply``): not yet filed or skipped, or failed with attempts left, or filed
        without its reply queued. None when it is done (a repeated job finds nothing to do)."""
        retryable = (MessageStatus.SPOOLED, MessageStatus.PARSED, MessageStatus.FAILED)
        queued = select(OutboxMail.id).where(OutboxMail.message_row_id == Message.id).exists()
        filed = select(Submission.id).where(Submission.message_row_id == Message.id).exists()
        with self.session() as s:
            m = s.scalar(select(Message).where(
                Message.id == message_row_id, Message.attempts < max_attempts, self._scope(Message.campaign_id),
                or_(Message.status.in_(retryable), (Message.status == MessageStatus.STORED) & filed & ~queued)))
            return _spooled(m) if m is not None else None

    def oldest_unprocessed(self, *, max_attempts: int = MAX_ATTEMPTS) -> datetime | None:
        """When the longest-waiting mail that is received but not yet processed was spooled (the lag)."""
        retryable = (MessageStatus.SPOOLED, MessageStatus.PARSED, MessageStatus.FAILED)
        with self.session() as s:
            return s.scalar(select(func.min(Message.created_at)).where(
                Message.status.in_(retryable), Message.attempts < max_attempts, self._scope(Message.campaign_id)))

    def give_up_messages(self, *, max_attempts: int = MAX_ATTEMPTS) -> list[int]:
        """Messages whose processing began ``max_attempts`` times and never ended (the process died each time:
        killed for memory, a crash in a library) are marked failed, so they are no longer retried and show in
        ``intake health`` and the alerts. A failure that raised is marked failed at once (pipeline)."""
        with self.session() as s, s.begin():
            rows = s.scalars(select(Message).where(Message.status.in_((MessageStatus.SPOOLED, MessageStatus.PARSED)),
                                                   Message.attempts >= max_attempts,
                                                   self._scope(Message.campaign_id))).all()
            for m in rows:
                m.status = MessageStatus.FAILED
                m.error = f"处理此邮件时程序 {m.attempts} 次异常退出，未能完成，已停止自动重试"
                s.add(self._event(action="message.gave_up", message_row_id=m.id, detail={"attempts": m.attempts}))
            return [m.id for m in rows]

    def failed_messages(self, *, max_attempts: int = MAX_ATTEMPTS) -> list[FailedMessage]:
        """Messages that failed for good (every automatic attempt used)."""
        with self.session() as s:
            rows = s.scalars(select(Message).where(Message.status == MessageStatus.FAILED,
                                                   Message.attempts >= max_attempts, self._scope(Message.campaign_id))
                             .order_by(Message.id))
            return [FailedMessage(m.id, m.uid, m.from_addr, m.subject, m.error, m.attempts, m.created_at)
                    for m in rows]

    def retry_message(self, message_row_id: int, *, actor: str) -> bool:
        """A failed message goes back to the queue with fresh attempts (after the cause was fixed)."""
        with self.session() as s, s.begin():
            m = s.get(Message, message_row_id)
            if m is None or m.status != MessageStatus.FAILED or not self._owns(m.campaign_id):
                return False
            m.status, m.attempts = MessageStatus.SPOOLED, 0
            s.add(self._event(action="message.retry", message_row_id=m.id, actor=actor, detail={"error": m.error}))
            return True

    def dismiss_message(self, message_row_id: int, *, actor: str, reason: str) -> bool:
        """Staff handled a failed message by hand (e.g. asked the school to send again): it is set aside."""
        with self.session() as s, s.begin():
            m = s.get(Message, message_row_id)
            if m is None or m.status != MessageStatus.FAILED or not self._owns(m.campaign_id):
                return False
            s.add(self._event(action="message.dismissed", message_row_id=m.id, actor=actor,
                        detail={"reason": reason, "error": m.error}))
            m.status, m.kind, m.error = MessageStatus.SKIPPED, "dismissed", f"工作人员已处理：{reason}"
            return True

    def begin_attempt(self, message_row_id: int) -> None:
        """Count one more processing attempt of the message before it starts (a kill -9 inside still counts)."""
        with self.session() as s, s.begin():
            s.execute(update(Message).where(Message.id == message_row_id).values(attempts=Message.attempts + 1))

    def give_back_attempt(self, message_row_id: int) -> None:
        """An attempt that ended for a cause outside the mail (the disk full) does not count against it."""
        with self.session() as s, s.begin():
            s.execute(update(Message).where(Message.id == message_row_id, Message.attempts > 0)
                      .values(attempts=Message.attempts - 1))

    def set_message_status(
        self, message_row_id: int, status: str, *, error: str | None = None, kind: str | None = None,
        defects: Sequence[str] | None = None, from_addr: str | None = None, subject: str | None = None,
    ) -> None:
        """Set a message's status and error, and whatever else processing learned (kind, MIME defects, sender,
        subject)."""
        values: dict[str, Any] = {"status": status, "error": error, "updated_at": utcnow()}
        if kind is not None:
            values["kind"] = kind
        if defects is not None:
            values["defects"] = list(defects)
        if from_addr is not None:
            values["from_addr"] = from_addr
        if subject is not None:
            values["subject"] = subject
        with self.session() as s, s.begin():
            s.execute(update(Message).where(Message.id == message_row_id).values(**values))
            s.add(self._event(action=f"message.{status}", message_row_id=message_row_id,
                        detail={"error": error} if error else {"kind": kind} if kind else {}))

    def message_status_counts(self) -> dict[str, int]:
        """How many of this campaign's messages are in each status."""
        with self.session() as s:
            return {k: v for k, v in s.execute(select(Message.status, func.count())
                                               .where(self._scope(Message.campaign_id)).group_by(Message.status))}
