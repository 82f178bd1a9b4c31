"""The repository: every read and write the daemon and staff tools make, one short transaction each."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from sqlalchemy import Engine, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from checks.domain import AttachmentKind, CaseIdentity, MessageStatus, OutboxStatus
from store.addresses import address_key
from store.db import check_schema, make_engine, migrate, session_factory
from store.models import (
    AppSecret,
    FILE_KINDS,
    Attachment,
    Case,
    CaseAddress,
    Event,
    Finding,
    Lease,
    MailboxState,
    Message,
    OutboxMail,
    Submission,
    utcnow,
)
from store.records import (
    AttachmentRecord,
    CaseFields,
    CaseSummary,
    FailedMessage,
    FailedReply,
    FiledVersion,
    OutgoingMail,
    SpooledMessage,
    VersionRecord,
)


# Attempts at processing one message before it is left for staff (each attempt starts from the spooled bytes).
MAX_ATTEMPTS = 5


def _spooled(m: Message) -> SpooledMessage:
    return SpooledMessage(
        id=m.id, account=m.account, folder=m.folder, uidvalidity=m.uidvalidity, uid=m.uid,
        message_id=m.message_id, sha256=m.sha256, size=m.size, spool_path=m.spool_path,
        internaldate=m.internaldate, status=m.status, attempts=m.attempts,
    )


class Store:
    """The database. Unscoped (``campaign_id`` None) it reads every campaign's rows; ``for_campaign`` gives the view
    of one campaign, which reads only that campaign's messages, replies and mailbox states and writes its id into
    every row it adds. Views share the engine; only the store that opened it closes it."""

    def __init__(self, engine: Engine, campaign_id: str | None = None) -> None:
        self.engine = engine
        self.campaign_id = campaign_id
        self._sessions: sessionmaker[Session] = session_factory(engine)
        self._owns_engine = True

    def for_campaign(self, campaign_id: str | None) -> Store:
        """The view of one campaign (None: of every campaign) on this store's engine."""
        view = Store.__new__(Store)
        view.engine, view.campaign_id, view._sessions, view._owns_engine = (self.engine, campaign_id,
                                                                            self._sessions, False)
        return view

    @property
    def _campaign(self) -> str:
        """The campaign a new row belongs to: writing messages and replies needs a campaign's view."""
        if self.campaign_id is None:
            raise RuntimeError("this write needs the store of one campaign (Store.for_campaign)")
        return self.campaign_id

    def _scope(self, column: Any) -> Any:
        """A condition keeping a campaign view to its own rows (true for the unscoped store)."""
        return column == self.campaign_id if self.campaign_id is not None else true()

    def _owns(self, campaign_id: str | None) -> bool:
        return self.campaign_id is None or campaign_id == self.campaign_id

    def _event(self, **values: Any) -> Event:
        return Event(campaign_id=self.campaign_id, **values)

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True, campaign_id: str | None = None,
             default_campaign: str | None = None) -> Store:
        """Open the database and migrate it; with ``upgrade=False`` (read-only commands) only check that its
        schema is the one this code reads (``SchemaMismatch`` otherwise). ``campaign_id``: the campaign this store
        serves (None: every campaign, reading only); ``default_campaign`` (else ``campaign_id``): where migrating
        places rows of an older database no case places (``migrate``): the configuration's first campaign."""
        store = cls(make_engine(url), campaign_id)
        try:
            if upgrade:
                migrate(store.engine, default_campaign or campaign_id)
            else:
                check_schema(store.engine)
        except BaseException:
            store.close()
            raise
        return store

    def session(self) -> Session:
        """A new ORM session (``expire_on_commit=False``: rows stay readable after the transaction)."""
        return self._sessions()

    def close(self) -> None:
        """Dispose of the engine if this store made it (an engine passed in belongs to the caller)."""
        if self._owns_engine:
            self.engine.dispose()

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

    # ---- cases --------------------------------------------------------------------------------
    def find_case(self, campaign_id: str, sender: str, case_name: str | None,
                  category_no: int | None = None) -> int | None:
        """The case a later mail continues: same campaign, the same case name as written (an ordinal suffix such
        as 之二 makes another case), no other category (a category written only once does not part them), and
        the mail's sender is the case's sender or an address staff linked to it (compared normalised: case,
        ``+tag``)."""
        if not case_name:
            return None
        key = address_key(sender)
        query = select(Case.id, Case.sender).where(Case.campaign_id == campaign_id, Case.case_name == case_name)
        if category_no is not None:
            query = query.where(or_(Case.category_no == category_no, Case.category_no.is_(None)))
        with self.session() as s:
            candidates = s.execute(query.order_by(Case.id))
            for case_id, case_sender in candidates:
                if key and (address_key(case_sender) == key or self._linked(s, case_id, key)):
                    return int(case_id)
        return None

    @staticmethod
    def _linked(s: Session, case_id: int, key: str) -> bool:
        return s.scalar(select(CaseAddress.id).where(CaseAddress.case_id == case_id,
                                                     CaseAddress.address_key == key)) is not None

    def may_continue_case(self, case_id: int, sender: str | None) -> bool:
        """Whether mail from ``sender`` may add a version to the case: it is the case's sender or an address
        staff linked to it (compared normalised). Anyone can name a case number or reply to a receipt."""
        key = address_key(sender)
        if not key:
            return False
        with self.session() as s:
            case_sender = s.scalar(select(Case.sender).where(Case.id == case_id))
            return case_sender is not None and (address_key(case_sender) == key or self._linked(s, case_id, key))

    def link_address(self, case_no: str, address: str, *, actor: str, reason: str = "") -> bool:
        """Let mail from ``address`` add versions to the case (e.g. the school's second mailbox). False when it
        already could; LookupError when there is no such case."""
        key = address_key(address)
        with self.session() as s, s.begin():
            case = s.scalar(select(Case).where(Case.case_no == case_no))
            if case is None:
                raise LookupError(f"没有受理编号为 {case_no} 的案例")
            if address_key(case.sender) == key or self._linked(s, case.id, key):
                return False
            s.add(CaseAddress(case_id=case.id, address=address.strip(), address_key=key, added_by=actor,
                              reason=reason))
            s.add(self._event(action="case.address_linked", actor=actor, case_id=case.id,
                        detail={"address": address.strip(), "reason": reason}))
            return True

    def unlink_address(self, case_no: str, address: str, *, actor: str) -> bool:
        """Withdraw another address's right to send versions of the case; False if it had none. Logged as an event."""
        key = address_key(address)
        with self.session() as s, s.begin():
            case = s.scalar(select(Case).where(Case.case_no == case_no))
            if case is None:
                raise LookupError(f"没有受理编号为 {case_no} 的案例")
            link = s.scalar(select(CaseAddress).where(CaseAddress.case_id == case.id, CaseAddress.address_key == key))
            if link is None:
                return False
            s.delete(link)
            s.add(self._event(action="case.address_unlinked", actor=actor, case_id=case.id, detail={"address": link.address}))
            return True

    def linked_addresses(self, case_id: int) -> list[str]:
        """The other addresses allowed to send versions of the case, in the order they were linked."""
        with self.session() as s:
            return list(s.scalars(select(CaseAddress.address).where(CaseAddress.case_id == case_id)
                                  .order_by(CaseAddress.id)))

    def app_secret(self, name: str, make: Callable[[], str]) -> str:
        """A key the application keeps for itself, made by ``make`` on first use. Every process and host of
        this database gets the same value (the first insert wins)."""
        with self.session() as s:
            found = s.scalar(select(AppSecret.value).where(AppSecret.name == name))
            if found is not None:
                return found
            s.add(AppSecret(name=name, value=make()))
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
            return s.scalar(select(AppSecret.value).where(AppSecret.name == name)) or ""

    def case_no_of(self, case_id: int) -> str:
        """The case's number (受理编号), "" for an unknown id."""
        with self.session() as s:
            return s.scalar(select(Case.case_no).where(Case.id == case_id)) or ""

    def case_id_by_no(self, case_no: str) -> int | None:
        """The id of this campaign's case with that number, None if there is none."""
        with self.session() as s:
            return s.scalar(select(Case.id).where(Case.case_no == case_no, self._scope(Case.campaign_id)))

    def case_id_by_reply(self, referenced_ids: Iterable[str]) -> int | None:
        """The case one of our replies belongs to, found by the Message-IDs a mail references (In-Reply-To,
        References)."""
        ids = [i for i in referenced_ids if i]
        if not ids:
            return None
        with self.session() as s:
            return s.scalar(select(OutboxMail.case_id).where(OutboxMail.message_id.in_(ids),
                                                            OutboxMail.case_id.is_not(None),
                                                            self._scope(OutboxMail.campaign_id)).limit(1))

    def file_version(self, record: VersionRecord, case_number_prefix: str) -> FiledVersion:
        """File one processed mail as a new case or the next version of an existing one, atomically
        with its attachments, findings and the message's status 'stored'."""
        f = record.fields
        with self.session() as s, s.begin():
            existing = s.scalar(select(Submission).where(Submission.message_row_id == record.message_row_id,
                                                         Submission.batch_index == record.batch_index))
            if existing is not None:  # a restart after the commit: the filing already happened
                case = s.get_one(Case, existing.case_id)
                return FiledVersion(case.id, case.case_no or "", existing.version, existing.id)
            found = s.get(Case, record.case_id) if record.case_id else None
            if found is not None:
                case = found
            else:
                case = Case(campaign_id=record.campaign_id, sender=record.sender, status=record.status,
                            first_received_at=record.received_at, last_received_at=record.received_at,
                            current_version=0, subject_reasons=[])
                s.add(case)
                s.flush()
                case.case_no = f"{case_number_prefix}-{case.id:06d}"
            version = case.current_version + 1
            case.current_version = version
            case.last_received_at = record.received_at
            for key, value in f.identity.as_dict().items():
                setattr(case, key, value)
            case.part = f.part
            case.subject_confidence = f.confidence
            case.subject_reasons = list(f.reasons)
            case.status = record.status
            sub = Submission(case_id=case.id, version=version, message_row_id=record.message_row_id,
                             batch_index=record.batch_index, received_at=record.received_at, raw_subject=record.raw_subject, status=record.status)
            s.add(sub)
            s.flush()
            _add_contents(s, sub.id, record)
            s.execute(update(Message).where(Message.id == record.message_row_id)
                      .values(status=MessageStatus.STORED, error=None, updated_at=utcnow()))
            s.add(self._event(action="case.version_filed", case_id=case.id, message_row_id=record.message_row_id,
                        detail={"version": version, "status": record.status}))
            return FiledVersion(case.id, case.case_no or "", version, sub.id)

    def refile_version(self, record: VersionRecord) -> FiledVersion:
        """Replace the attachments, findings and verdict of an already filed version (recheck after a
        rule or configuration change). The case's fields follow when it is the current version."""
        f = record.fields
        with self.session() as s, s.begin():
            sub = s.scalar(select(Submission).where(Submission.message_row_id == record.message_row_id,
                                                    Submission.batch_index == record.batch_index))
            if sub is None:
                raise LookupError(f"message {record.message_row_id} was never filed")
            case = s.get_one(Case, sub.case_id)
            for old in list(sub.attachments) + list(sub.findings):
                s.delete(old)
            s.flush()
            _add_contents(s, sub.id, record)
            previous = sub.status
            sub.status = record.status
            if sub.version == case.current_version:
                case.status = record.status
                corrected = {k for d in s.scalars(select(Event.detail).where(
                    Event.case_id == case.id, Event.action == "case.fields_corrected")) for k in (d or {})}
                for key, value in {**f.identity.as_dict(), "part": f.part}.items():
                    if key not in corrected:  # what staff corrected stands
                        setattr(case, key, value)
                case.subject_confidence = f.confidence
                case.subject_reasons = list(f.reasons)
            s.add(self._event(action="case.rechecked", case_id=case.id, message_row_id=record.message_row_id,
                        detail={"version": sub.version, "from": previous, "to": record.status}))
            return FiledVersion(case.id, case.case_no or "", sub.version, sub.id)

    def filed_version_of(self, message_row_id: int, batch_index: int = 0) -> FiledVersion:
        """The case, version and submission a processed message was filed as; LookupError while it is not filed."""
        with self.session() as s:
            sub = s.scalar(select(Submission).where(Submission.message_row_id == message_row_id,
                                                    Submission.batch_index == batch_index))
            if sub is None:
                raise LookupError(f"邮件 {message_row_id} 尚未入库")
            case = s.get_one(Case, sub.case_id)
            return FiledVersion(case.id, case.case_no or "", sub.version, sub.id)

    def current_versions(self, campaign_id: str, case_nos: Sequence[str] = ()) -> list[tuple[str, int]]:
        """(case number, message row id) of each case's current version, optionally only some cases."""
        with self.session() as s:
            q = (select(Case.case_no, Submission.message_row_id)
                 .join(Submission, (Submission.case_id == Case.id) & (Submission.version == Case.current_version))
                 .where(Case.campaign_id == campaign_id).order_by(Case.id))
            if case_nos:
                q = q.where(Case.case_no.in_(list(case_nos)))
            return [(no or "", mid) for no, mid in s.execute(q)]

    def message(self, message_row_id: int) -> SpooledMessage:
        """The spooled message with this row id."""
        with self.session() as s:
            return _spooled(s.get_one(Message, message_row_id))

    def attachment_file(self, campaign_id: str, attachment_id: int) -> tuple[str, str] | None:
        """(original name, stored path) of an attachment of the campaign whose file still exists."""
        with self.session() as s:
            row = s.execute(
                select(Attachment.name, Attachment.stored_path)
                .join(Submission, Submission.id == Attachment.submission_id)
                .join(Case, Case.id == Submission.case_id)
                .where(Attachment.id == attachment_id, Case.campaign_id == campaign_id,
                       Attachment.kind.in_(FILE_KINDS))
            ).first()
        if row is None or not row[1] or not Path(row[1]).is_file():
            return None
        return row[0].rsplit("/", 1)[-1], row[1]

    def supplied_files(self, message_row_id: int) -> list[AttachmentRecord]:
        """Files added to this filed version after it arrived (staff attached them, or a link was downloaded):
        a recheck reads them with the mail's own files."""
        with self.session() as s:
            rows = s.scalars(select(Attachment).join(Submission, Submission.id == Attachment.submission_id)
                             .where(Submission.message_row_id == message_row_id, Attachment.kind == "supplied")
                             .order_by(Attachment.id))
            return [AttachmentRecord(name=a.name, role=a.role, size=a.size, sha256=a.sha256,
                                     stored_path=a.stored_path, kind=a.kind, url=a.url) for a in rows]

    def version_links(self, message_row_id: int) -> list[AttachmentRecord]:
        """The large-attachment links of a filed version."""
        with self.session() as s:
            rows = s.scalars(select(Attachment).join(Submission, Submission.id == Attachment.submission_id)
                             .where(Submission.message_row_id == message_row_id, Attachment.kind == AttachmentKind.LINK)
                             .order_by(Attachment.id))
            return [AttachmentRecord(name=a.name, role=a.role, size=a.size, sha256=a.sha256, stored_path=None,
                                     kind=a.kind, url=a.url, expires_at=a.expires_at) for a in rows]

    def case_fields(self, case_id: int) -> CaseFields:
        """The case's identity as filed, with the subject's confidence and reasons."""
        with self.session() as s:
            c = s.get_one(Case, case_id)
            return CaseFields(identity=c.identity, part=c.part, confidence=c.subject_confidence,
                              reasons=tuple(c.subject_reasons or ()))

    def corrected_fields(self, case_id: int) -> dict[str, Any]:
        """Fields staff corrected on the case (their current values): a recheck keeps them."""
        with self.session() as s:
            details = s.scalars(select(Event.detail).where(Event.case_id == case_id,
                                                           Event.action == "case.fields_corrected"))
            keys = {k for d in details for k in (d or {})}
            case = s.get_one(Case, case_id)
            return {k: getattr(case, k) for k in sorted(keys) if hasattr(case, k)}

    def case_versions(self, case_id: int) -> list[tuple[int, int, str | None]]:
        """(version, message row id, raw subject) of a case, newest first."""
        with self.session() as s:
            rows = s.execute(select(Submission.version, Submission.message_row_id, Submission.raw_subject)
                             .where(Submission.case_id == case_id).order_by(Submission.version.desc()))
            return [(v, m, subj) for v, m, subj in rows]

    def case_summaries(self, campaign_id: str, *, files: bool = True) -> list[CaseSummary]:
        """Every case of the campaign with its current version's file hashes (for quotas and duplicates);
        ``files=False`` leaves the hashes out (quotas need none). Columns, not ORM objects: the daemon reads
        this for every mail and ``intake stats`` for its quota table, over every case of the campaign."""
        with self.session() as s:
            cases = s.execute(
                select(Case.id, Case.case_no, Case.sender, Case.override_status, Case.status,
                       Case.first_received_at, *Case.identity_columns())
                .where(Case.campaign_id == campaign_id).order_by(Case.id)).all()
            hashes: dict[int, list[str]] = {}
            rows = s.execute(
                select(Submission.case_id, Attachment.sha256)
                .join(Attachment, Attachment.submission_id == Submission.id)
                .join(Case, Case.id == Submission.case_id)
                .where(Case.campaign_id == campaign_id, Submission.version == Case.current_version,
                       Attachment.sha256.is_not(None))
            ) if files else ()
            for case_id, sha in rows:
                if sha is not None:
                    hashes.setdefault(case_id, []).append(sha)
            return [
                CaseSummary(case_id=case_id, case_no=case_no or "", sender=sender, identity=CaseIdentity(*who),
                            status=override or status, first_received_at=first,
                            file_sha256s=tuple(hashes.get(case_id, ())))
                for case_id, case_no, sender, override, status, first, *who in cases
            ]

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

    # ---- events and leases --------------------------------------------------------------------
    def log_event(self, action: str, *, actor: str = "daemon", case_id: int | None = None,
                  message_row_id: int | None = None, detail: Mapping[str, Any] | None = None) -> None:
        """Append one event (who did what to which case or message) to the event log."""
        with self.session() as s, s.begin():
            s.add(self._event(action=action, actor=actor, case_id=case_id, message_row_id=message_row_id,
                        detail=dict(detail or {})))

    def events_since(self, action: str, since: datetime | None) -> list[tuple[datetime, dict[str, Any]]]:
        """(time, detail) of this campaign's events of one kind after ``since`` (all of them for None), oldest first."""
        query = select(Event.at, Event.detail).where(Event.action == action, self._scope(Event.campaign_id))
        if since is not None:
            query = query.where(Event.at > since)
        with self.session() as s:
            return [(at, dict(detail or {})) for at, detail in s.execute(query.order_by(Event.id))]

    def acquire_lease(self, name: str, holder: str, ttl_seconds: int) -> bool:
        """Take or renew a named lease. Only one holder at a time across processes and hosts."""
        now = datetime.now(timezone.utc)
        expires = now + timedelta(seconds=ttl_seconds)
        with self.session() as s:
            try:
                with s.begin():
                    res = s.execute(update(Lease).where(Lease.name == name,
                                                        or_(Lease.holder == holder, Lease.expires_at < now))
                                    .values(holder=holder, expires_at=expires))
                    if res.rowcount:  # type: ignore[attr-defined]
                        return True
                    if s.get(Lease, name) is not None:
                        return False
                    s.add(Lease(name=name, holder=holder, expires_at=expires))
                return True
            except IntegrityError:
                return False

    def lease_holder(self, name: str) -> str | None:
        """Who holds the named lease now (expired or not), None if nobody."""
        with self.session() as s:
            lease = s.get(Lease, name)
            return lease.holder if lease is not None else None

    def take_over_lease(self, name: str, dead_holder: str, holder: str, ttl_seconds: int) -> bool:
        """Take a lease from a holder known to be dead (only if it still holds it)."""
        expires = datetime.now(timezone.utc) + timedelta(seconds=ttl_seconds)
        with self.session() as s, s.begin():
            res = s.execute(update(Lease).where(Lease.name == name, Lease.holder == dead_holder)
                            .values(holder=holder, expires_at=expires))
            return bool(res.rowcount)  # type: ignore[attr-defined]

    def release_lease(self, name: str, holder: str) -> None:
        """Give up the named lease, if ``holder`` still holds it."""
        with self.session() as s, s.begin():
            lease = s.get(Lease, name)
            if lease is not None and lease.holder == holder:
                s.delete(lease)


def _add_contents(s: Session, submission_id: int, record: VersionRecord) -> None:
    """The attachments and findings of one version."""
    for a in record.attachments:
        s.add(Attachment(submission_id=submission_id, name=a.name, role=a.role, size=a.size, sha256=a.sha256,
                         stored_path=a.stored_path, archive=a.archive, kind=a.kind, url=a.url,
                         expires_at=a.expires_at, facts=dict(a.facts)))
    for fd in record.findings:
        s.add(Finding(submission_id=submission_id, rule=fd.rule, clause=fd.clause, severity=fd.severity,
                      passed=fd.passed, message=fd.message, fix=fd.fix, file=fd.file, evidence=dict(fd.evidence)))


def record_to_json(obj: Any) -> dict[str, Any]:
    """A dataclass record as a JSON-ready mapping (datetimes as ISO strings)."""
    out = asdict(obj)
    for k, v in out.items():
        if isinstance(v, datetime):
            out[k] = v.isoformat()
    return out
