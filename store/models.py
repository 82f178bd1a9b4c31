"""SQLAlchemy 2.0 models: the durable record of every mail, case, file, finding and reply.

Every row that belongs to one campaign says which (``campaign_id``, the ``id`` of its [campaign] / [[campaigns]]
entry): cases, messages, mailbox states, outbox mails, events. One database serves any number of campaigns.

Table roles:
- ``mailbox_state``: per (account, folder, UIDVALIDITY) epoch, the highest UID fully recorded.
- ``messages``: one row per raw mail spooled, with its processing status.
- ``cases``: one row per case (受理编号), the parsed fields of its current version and its verdict.
- ``submissions``: one row per version of a case (each mail that carried files for it).
- ``attachments``, ``findings``: what a version carried and what the checks said about it.
- ``outbox``: every reply we send, keyed by a deterministic Message-ID so it is sent at most once.
- ``events``: the audit log (who did what, when), for staff.
- ``leases``: a database lease so two daemons never work the same mailbox at once.
- ``case_addresses``: further addresses staff allowed to send new versions of a case (besides its sender).
- ``app_secrets``: keys the application generated itself (the reply Message-ID key when none is configured).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from checks.domain import CaseIdentity, MessageStatus, OutboxStatus
from store.records import FILE_KINDS  # noqa: F401  (named here too, where the models' users look)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (what every datetime column stores)."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on both SQLite (which drops the offset) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """A datetime to store: refuses a naive one, converts to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """A stored datetime back as an aware UTC datetime (SQLite returns naive ones)."""
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """The declarative base: datetimes stored as UTC, dicts and lists as JSON."""

    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class MailboxState(Base):
    """Per mailbox folder and UIDVALIDITY: the last UID fetched and when polls last ran and succeeded."""

    __tablename__ = "mailbox_state"
    __table_args__ = (UniqueConstraint("account", "folder", "uidvalidity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(320))
    folder: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_poll_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """One spooled mail: where it came from (UIDVALIDITY+UID), its bytes' hash and spool path, and its processing
    status."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("account", "folder", "uidvalidity", "uid", name="uq_message_uid"),
        # The same bytes may reach two campaigns (a school writing to both calls): each files its own (0005).
        UniqueConstraint("campaign_id", "sha256", name="uq_messages_campaign_sha256"),
        Index("ix_messages_campaign_status", "campaign_id", "status"),
        Index("ix_messages_message_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(320))
    folder: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(998))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    spool_path: Mapped[str] = mapped_column(String(1024))
    internaldate: Mapped[datetime | None]
    from_addr: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    # spooled → parsed → stored → notified; or skipped (auto-reply, bounce, …) / failed
    status: Mapped[str] = mapped_column(String(20), default=MessageStatus.SPOOLED)
    kind: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    defects: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Case(Base):
    """One case of a campaign (a school's submission across its versions): its identity, verdict and any staff
    override."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_campaign_status", "campaign_id", "status"),
        Index("ix_cases_category", "category_no"),
        Index("ix_cases_province", "province"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64))
    case_no: Mapped[str | None] = mapped_column(String(64), unique=True)
    sender: Mapped[str] = mapped_column(String(320))
    submitter_kind: Mapped[str | None] = mapped_column(String(20))
    province: Mapped[str | None] = mapped_column(String(64))
    city: Mapped[str | None] = mapped_column(String(128))
    organization: Mapped[str | None] = mapped_column(String(255))
    case_name: Mapped[str | None] = mapped_column(Text)
    category_no: Mapped[int | None]
    category: Mapped[str | None] = mapped_column(String(128))
    part: Mapped[str | None] = mapped_column(String(20))
    subject_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    subject_reasons: Mapped[list[Any]] = mapped_column(default=list)
    # accepted | accepted_with_warnings | rejected | needs_review
    status: Mapped[str] = mapped_column(String(32))
    override_status: Mapped[str | None] = mapped_column(String(32))
    override_reason: Mapped[str | None] = mapped_column(Text)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    first_received_at: Mapped[datetime]
    last_received_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    submissions: Mapped[list[Submission]] = relationship(back_populates="case", order_by="Submission.version")

    @property
    def effective_status(self) -> str:
        """The status that counts: a staff override, else the checks' verdict."""
        return self.override_status or self.status

    @classmethod
    def identity_columns(cls) -> tuple[Any, ...]:
        """The identity's columns in ``CaseIdentity``'s field order: select them and build ``CaseIdentity(*row)``."""
        return tuple(getattr(cls, f.name) for f in fields(CaseIdentity))

    @property
    def identity(self) -> CaseIdentity:
        """The case's identity fields as one value (the columns stay flat for SQL filters and indexes)."""
        return CaseIdentity(submitter_kind=self.submitter_kind, province=self.province, city=self.city,
                            organization=self.organization, case_name=self.case_name,
                            category_no=self.category_no, category=self.category)


class Submission(Base):
    """One version of a case: the files and findings of one mail."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("case_id", "version"),
                      UniqueConstraint("message_row_id", "batch_index", name="uq_submissions_message_case"))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    version: Mapped[int] = mapped_column(Integer)
    message_row_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    # 0 for a mail of one case; a mail carrying several cases (a province's batch) files one per 申报表: 0, 1, 2 …
    batch_index: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    received_at: Mapped[datetime]
    raw_subject: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="submissions")
    attachments: Mapped[list[Attachment]] = relationship(back_populates="submission", order_by="Attachment.id")
    findings: Mapped[list[Finding]] = relationship(back_populates="submission", order_by="Finding.id")


class Attachment(Base):
    """One file (or link) of a submission: its name, role, size, hash and where it is stored."""

    __tablename__ = "attachments"
    # submission_id: PostgreSQL does not index foreign keys; a case's files are read by it (0002).
    __table_args__ = (Index("ix_attachments_sha256", "sha256"), Index("ix_attachments_submission", "submission_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    name: Mapped[str] = mapped_column(Text)  # decoded original name (path inside archives joined by "/")
    role: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    stored_path: Mapped[str | None] = mapped_column(String(1024))
    archive: Mapped[str | None] = mapped_column(Text)
    # kind: file (came with the mail) | link (163 超大附件 / QQ 文件中转站, the file not received) | supplied (a file
    # added afterwards: staff attached it, or the automatic download of a link fetched it; kept in the spool)
    kind: Mapped[str] = mapped_column(String(10), default="file")
    url: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)

    submission: Mapped[Submission] = relationship(back_populates="attachments")


class Finding(Base):
    """One rule's result on a submission: clause, severity, pass or fail, and the message in Chinese."""

    __tablename__ = "findings"
    __table_args__ = (Index("ix_findings_submission", "submission_id"),)  # see Attachment (0002)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    rule: Mapped[str] = mapped_column(String(80))
    clause: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))
    passed: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str] = mapped_column(Text)
    fix: Mapped[str] = mapped_column(Text, default="")
    file: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)

    submission: Mapped[Submission] = relationship(back_populates="findings")


class OutboxMail(Base):
    """One mail to send (receipt, rejection, alert): its bytes, status and retry schedule, sent at most once."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status", "status", "next_attempt_at"),
                      Index("ix_outbox_recipient_key", "recipient_key", "created_at"),
                      Index("ix_outbox_created", "created_at"),
                      Index("ix_outbox_campaign", "campaign_id", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    # Each campaign replies from its own SMTP account and counts its own reply limits (0005).
    campaign_id: Mapped[str] = mapped_column(String(64))
    # Deterministic per (case, version, kind): the unique key that makes a reply at-most-once.
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    message_row_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    kind: Mapped[str] = mapped_column(String(32))  # receipt | rejection | needs_review | alert | …
    recipient: Mapped[str] = mapped_column(String(320))
    # store.addresses.address_key(recipient): the per-sender reply limit counts by it (0004).
    recipient_key: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    # pending → sending → sent; or failed (gave up) / suppressed (no reply wanted)
    status: Mapped[str] = mapped_column(String(12), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    # When the current SMTP attempt began: a row left 'sending' long after it is raised by `intake health` (0004).
    sending_at: Mapped[datetime | None]
    # True for replies staff chose to send: they count against no automatic-reply limit (0004).
    automatic: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """One entry of the event log: who did what to which case or message, when."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_case", "case_id"), Index("ix_events_campaign", "campaign_id", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for what concerns no campaign in particular (0005).
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(120), default="daemon")
    action: Mapped[str] = mapped_column(String(60))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    message_row_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Lease(Base):
    """A named lease (e.g. the daemon's poll) held by one process until it expires."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime]


class CaseAddress(Base):
    """An address staff linked to a case: mail from it may add versions to the case (issue 15.1)."""

    __tablename__ = "case_addresses"
    __table_args__ = (UniqueConstraint("case_id", "address_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    address: Mapped[str] = mapped_column(String(320))
    address_key: Mapped[str] = mapped_column(String(320))  # store.addresses.address_key(address)
    added_by: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppSecret(Base):
    """A key the application made for itself (e.g. the reply Message-ID key), shared by every host of one database."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
