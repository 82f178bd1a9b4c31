"""Plain records crossing the store boundary, so callers never hold ORM objects outside a session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from checks.domain import CaseIdentity

# Attachment kinds that are a file on disk (stored_path), as opposed to a link.
FILE_KINDS = ("file", "supplied")


@dataclass(frozen=True)
class SpooledMessage:
    """A spooled mail as processing needs it: mailbox position, hashes, spool path, status and attempts."""

    id: int
    account: str
    folder: str
    uidvalidity: int
    uid: int
    message_id: str | None
    sha256: str
    size: int
    spool_path: str
    internaldate: datetime | None
    status: str
    attempts: int


@dataclass(frozen=True)
class FailedMessage:
    """A message that failed for good: no more automatic retries until staff retry or dismiss it."""

    id: int
    uid: int
    from_addr: str | None
    subject: str | None
    error: str | None
    attempts: int
    received_at: datetime  # when it was spooled


@dataclass(frozen=True)
class CaseFields:
    """What was understood of who sent what (from the subject, completed from the files)."""

    identity: CaseIdentity
    part: str | None  # "1/3", "2" … of a submission split over several mails
    confidence: float
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class AttachmentRecord:
    """One file or link of a version to record."""

    name: str
    role: str
    size: int
    sha256: str | None
    stored_path: str | None
    archive: str | None = None
    kind: str = "file"
    url: str | None = None
    expires_at: datetime | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FindingRecord:
    """One rule's result on a version to record."""

    rule: str
    clause: str
    severity: str
    passed: bool
    message: str
    fix: str = ""
    file: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionRecord:
    """One processed mail, ready to be filed under a (new or existing) case."""

    message_row_id: int
    campaign_id: str
    sender: str
    received_at: datetime
    raw_subject: str | None
    fields: CaseFields
    status: str
    attachments: tuple[AttachmentRecord, ...]
    findings: tuple[FindingRecord, ...]
    # Case this mail continues (reply to a receipt, case number in the subject, same sender+name).
    case_id: int | None = None
    batch_index: int = 0  # which case of a mail carrying several (0 for a mail of one case)


@dataclass(frozen=True)
class FiledVersion:
    """Where a message was filed: the case, its number and the version's submission."""

    case_id: int
    case_no: str
    version: int
    submission_id: int


@dataclass(frozen=True)
class CaseSummary:
    """A case as later checks see it (quotas, duplicates)."""

    case_id: int
    case_no: str
    sender: str
    identity: CaseIdentity
    status: str  # effective (a staff override counts)
    first_received_at: datetime
    file_sha256s: tuple[str, ...]


@dataclass(frozen=True)
class OutgoingMail:
    """An outbox mail due to be sent, with its bytes."""

    id: int
    message_id: str
    kind: str
    recipient: str
    subject: str
    raw: bytes
    attempts: int
    case_id: int | None


@dataclass(frozen=True)
class FailedReply:
    """A reply that will not go out by itself: failed for good, or stuck in 'sending'."""

    id: int
    message_id: str
    kind: str
    recipient: str
    status: str  # failed | sending
    error: str
    attempts: int
    case_id: int | None
    since: datetime
