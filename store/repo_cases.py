"""The repository's cases: finding, continuing, filing and reading cases and their versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from checks.domain import AttachmentKind, MessageStatus
from store.addresses import address_key
from store.models import (
    FILE_KINDS,
    AppSecret,
    Attachment,
    Case,
    CaseAddress,
    Event,
    Finding,
    Message,
    OutboxMail,
    Submission,
    utcnow,
)
from store.records import (
    AttachmentRecord,
    CaseFields,
    CaseSummary,
    FiledVersion,
    VersionRecord,
)
from store.repo_base import StoreBase
from store.summaries import case_summaries


class CaseRecords(StoreBase):
    """Cases, their versions, files and linked addresses."""

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
        ``files=False`` leaves the hashes out (quotas need none). Plain SQL (``store.summaries``), not ORM objects:
        the daemon reads this for every mail and ``intake stats`` for its quota table, over every case."""
        return case_summaries(self, campaign_id, files=files)


def _add_contents(s: Session, submission_id: int, record: VersionRecord) -> None:
    """The attachments and findings of one version."""
    for a in record.attachments:
        s.add(Attachment(submission_id=submission_id, name=a.name, role=a.role, size=a.size, sha256=a.sha256,
                         stored_path=a.stored_path, archive=a.archive, kind=a.kind, url=a.url,
                         expires_at=a.expires_at, facts=dict(a.facts)))
    for fd in record.findings:
        s.add(Finding(submission_id=submission_id, rule=fd.rule, clause=fd.clause, severity=fd.severity,
                      passed=fd.passed, message=fd.message, fix=fd.fix, file=fd.file, evidence=dict(fd.evidence)))
