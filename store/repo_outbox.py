"""The repository's outbox: queued replies, their sending state and the sending limits."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from checks.domain import MessageStatus, OutboxStatus
from store.addresses import address_key
from store.models import (
    Message,
    OutboxMail,
    utcnow,
)
from store.records import (
    FailedReply,
    OutgoingMail,
)
from store.repo_base import StoreBase


class OutboxRecords(StoreBase):
    """Queued replies, marked sending/sent/failed at most once."""

    # ---- outbox -------------------------------------------------------------------------------
    def enqueue_mail(self, *, message_id: str, kind: str, recipient: str, subject: str, raw: bytes,
                     case_id: int | None = None, message_row_id: int | None = None,
                     status: str = OutboxStatus.PENDING, automatic: bool = True, error: str | None = None) -> bool:
        """Queue a reply; False when a mail with that Message-ID was queued before (never twice). ``error``
        goes with a reply queued as 'failed' or 'suppressed' (why it is not sent)."""
        with self.session() as s:
            s.add(OutboxMail(campaign_id=self._campaign, message_id=message_id, kind=kind, recipient=recipient, subject=subject, raw=raw,
                             case_id=case_id, message_row_id=message_row_id, status=status,
                             recipient_key=address_key(recipient), automatic=automatic, last_error=error))
            try:
                s.commit()
                return True
            except IntegrityError:
                s.rollback()
                return False

    def outbox_exists(self, message_id: str) -> bool:
        """Whether a mail with this Message-ID is already in the outbox (a reply is queued once)."""
        with self.session() as s:
            return s.scalar(select(OutboxMail.id).where(OutboxMail.message_id == message_id)) is not None

    def due_mail(self, now: datetime | None = None, limit: int = 100, *, after_id: int = 0,
                 alerts: bool | None = None) -> list[OutgoingMail]:
        """One page of the replies due now, in queue order, after ``after_id`` (a cursor: each call returns
        rows not seen before, however many failed). ``alerts``: True only alert mails, False none, None all."""
        now = now or utcnow()
        query = select(OutboxMail).where(OutboxMail.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING)),
                                         OutboxMail.next_attempt_at <= now, OutboxMail.id > after_id,
                                         self._scope(OutboxMail.campaign_id))
        if alerts is not None:
            query = query.where((OutboxMail.kind == "alert") if alerts else (OutboxMail.kind != "alert"))
        with self.session() as s:
            rows = s.scalars(query.order_by(OutboxMail.id).limit(limit))
            return [OutgoingMail(id=r.id, message_id=r.message_id, kind=r.kind, recipient=r.recipient,
                                 subject=r.subject, raw=r.raw, attempts=r.attempts, case_id=r.case_id) for r in rows]

    def due_outbox_ids(self, *, message_row_id: int | None = None, now: datetime | None = None) -> list[int]:
        """Ids of the replies due now (all, or those of one message), alert mails first, then queue order."""
        query = select(OutboxMail.id).where(OutboxMail.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING)),
                                            OutboxMail.next_attempt_at <= (now or utcnow()),
                                            self._scope(OutboxMail.campaign_id))
        if message_row_id is not None:
            query = query.where(OutboxMail.message_row_id == message_row_id)
        with self.session() as s:
            return list(s.scalars(query.order_by((OutboxMail.kind != "alert"), OutboxMail.id)))

    def outgoing_if_due(self, outbox_id: int, now: datetime | None = None) -> OutgoingMail | None:
        """One queued reply if it is due now (not sent, not failed for good, not waiting for a later retry)."""
        with self.session() as s:
            r = s.scalar(select(OutboxMail).where(
                OutboxMail.id == outbox_id, OutboxMail.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING)),
                OutboxMail.next_attempt_at <= (now or utcnow()), self._scope(OutboxMail.campaign_id)))
            if r is None:
                return None
            return OutgoingMail(id=r.id, message_id=r.message_id, kind=r.kind, recipient=r.recipient,
                                subject=r.subject, raw=r.raw, attempts=r.attempts, case_id=r.case_id)

    def mark_sending(self, outbox_id: int) -> None:
        """Mark an outbox mail as being sent, counting the attempt, before the SMTP transaction starts."""
        # 'sending' is written before the SMTP transaction: after a kill -9 inside the send, the
        # row is retried (at most one duplicate, which staff can see in the event log).
        with self.session() as s, s.begin():
            s.execute(update(OutboxMail).where(OutboxMail.id == outbox_id)
                      .values(status=OutboxStatus.SENDING, attempts=OutboxMail.attempts + 1, sending_at=utcnow()))

    def mark_sent(self, outbox_id: int, *, how: str = "smtp") -> None:
        """Mark an outbox mail sent (``how``: by SMTP, or found already delivered) and log the event."""
        with self.session() as s, s.begin():
            row = s.get_one(OutboxMail, outbox_id)
            row.status = OutboxStatus.SENT
            row.sent_at = utcnow()
            row.last_error = None
            s.add(self._event(action="mail.sent", case_id=row.case_id, message_row_id=row.message_row_id,
                        detail={"kind": row.kind, "to": row.recipient, "message_id": row.message_id, "via": how}))
            if row.message_row_id is not None:
                pending = s.scalar(select(func.count()).select_from(OutboxMail).where(
                    OutboxMail.message_row_id == row.message_row_id, OutboxMail.status != OutboxStatus.SENT))
                if not pending:
                    s.execute(update(Message).where(Message.id == row.message_row_id,
                                                    Message.status == MessageStatus.STORED)
                              .values(status=MessageStatus.NOTIFIED))

    def mark_send_failed(self, outbox_id: int, error: str, *, base_seconds: float = 60,
                         give_up_after: int = 20, permanent: bool = False) -> None:
        """A failed attempt: ``permanent`` (the server refused the address, it cannot be encoded …) fails the
        reply at once; otherwise it is retried with exponential backoff until ``give_up_after`` attempts."""
        with self.session() as s, s.begin():
            row = s.get_one(OutboxMail, outbox_id)
            row.last_error = error
            # Exponential backoff from base_seconds (1, 2, 4 … minutes by default), capped at an hour.
            delay = min(3600.0, base_seconds * 2 ** max(0, row.attempts - 1))
            row.next_attempt_at = utcnow() + timedelta(seconds=delay)
            row.status = OutboxStatus.FAILED if permanent or row.attempts >= give_up_after else OutboxStatus.PENDING
            s.add(self._event(action="mail.send_failed", case_id=row.case_id, message_row_id=row.message_row_id,
                        detail={"error": error, "attempt": row.attempts, "permanent": permanent,
                                "to": row.recipient, "message_id": row.message_id}))

    def outbox_counts(self) -> dict[str, int]:
        """How many of this campaign's outbox mails are in each status."""
        with self.session() as s:
            return {k: v for k, v in s.execute(select(OutboxMail.status, func.count())
                                               .where(self._scope(OutboxMail.campaign_id))
                                               .group_by(OutboxMail.status))}

    def replies_sent_since(self, recipient: str, since: datetime) -> int:
        """Replies queued to this address (normalised: ``A+x@QQ.com`` is ``a@qq.com``) since then, held ones not
        counted."""
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(OutboxMail).where(
                OutboxMail.recipient_key == address_key(recipient), OutboxMail.created_at >= since,
                OutboxMail.status != OutboxStatus.SUPPRESSED, self._scope(OutboxMail.campaign_id))) or 0

    def automatic_replies_since(self, since: datetime) -> int:
        """Automatic replies to senders queued since then (alerts, staff-chosen and held replies not counted)."""
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(OutboxMail).where(
                OutboxMail.created_at >= since, OutboxMail.kind != "alert", OutboxMail.automatic.is_(True),
                OutboxMail.status != OutboxStatus.SUPPRESSED, self._scope(OutboxMail.campaign_id))) or 0

    def failed_replies(self, *, stuck_before: datetime | None = None) -> list[FailedReply]:
        """Replies that failed for good, and (with ``stuck_before``) replies whose SMTP attempt began before
        then and never ended ('sending': the process died inside it, or keeps dying)."""
        cond = OutboxMail.status == OutboxStatus.FAILED
        if stuck_before is not None:
            cond = or_(cond, (OutboxMail.status == OutboxStatus.SENDING) & (OutboxMail.sending_at < stuck_before))
        with self.session() as s:
            rows = s.scalars(select(OutboxMail).where(cond, self._scope(OutboxMail.campaign_id)).order_by(OutboxMail.id))
            return [FailedReply(id=r.id, message_id=r.message_id, kind=r.kind, recipient=r.recipient,
                                status=r.status, error=r.last_error or "", attempts=r.attempts, case_id=r.case_id,
                                since=r.sending_at or r.created_at) for r in rows]
