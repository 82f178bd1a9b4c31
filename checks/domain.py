"""The domain vocabulary: every status, role and severity code, their Chinese labels, and a case's identity.

This module is the bottom of the layering: it imports nothing of ours, does no I/O, and every package
(checks, store, notify, ingest, console) may import it. Each code is a ``StrEnum`` whose values are the
strings stored in the database, written in templates and printed by ``--json``; since a ``StrEnum``
member *is* its string (``SubmissionStatus.ACCEPTED == "accepted"``), stored rows, JSON and templates
keep working unchanged.

The Chinese labels live in one table, ``LABELS`` (one section per vocabulary), read through
``Member.label`` or ``Vocabulary.label_of(stored_string)``. Nothing else spells a label.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Mapping
from urllib.parse import urlsplit


class _Vocabulary(StrEnum):
    """A set of codes with Chinese labels in ``LABELS``."""

    @property
    def label(self) -> str:
        """The Chinese label (the code itself when the table has none)."""
        return LABELS.get(type(self), {}).get(self.value, self.value)

    @classmethod
    def label_of(cls, value: str | None, default: str = "—") -> str:
        """The label of a stored code; an unknown code is shown as it is, ``None`` or "" as ``default``."""
        if not value:
            return default
        return LABELS.get(cls, {}).get(value, value)

    @classmethod
    def codes(cls) -> tuple[str, ...]:
        """All codes, in declaration order."""
        return tuple(m.value for m in cls)


class SubmissionStatus(_Vocabulary):
    """The verdict on a submission (a case's version), and a staff override of it."""

    ACCEPTED = "accepted"
    ACCEPTED_WITH_WARNINGS = "accepted_with_warnings"
    REJECTED = "rejected"
    NEEDS_REVIEW = "needs_review"


#: Verdicts that count as received (受理) for quotas, exports and statistics.
ACCEPTED_STATUSES: tuple[SubmissionStatus, ...] = (SubmissionStatus.ACCEPTED,
                                                   SubmissionStatus.ACCEPTED_WITH_WARNINGS)


class MessageStatus(_Vocabulary):
    """Where a spooled mail is: spooled → parsed → stored → notified; or skipped / failed."""

    SPOOLED = "spooled"
    PARSED = "parsed"
    STORED = "stored"
    NOTIFIED = "notified"
    SKIPPED = "skipped"  # no case made: auto-reply, bounce, not a mail, dismissed by staff …
    FAILED = "failed"  # every attempt failed; staff retry or dismiss it


class OutboxStatus(_Vocabulary):
    """A queued reply: pending → sending → sent; or failed (gave up) / suppressed (no reply wanted)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


class ReplyKind(_Vocabulary):
    """The kinds of mail we send; each has ``templates/<kind>.txt.j2`` and ``.html.j2``."""

    RECEIPT = "receipt"
    REJECTION = "rejection"
    NEEDS_REVIEW = "needs_review"
    ALERT = "alert"
    BATCH = "batch"  # one reply to a mail carrying several cases (a province's batch)


class FileRole(_Vocabulary):
    """What a received file (or a link in the body) is for."""

    FORM_WORD = "form_word"
    FORM_PDF = "form_pdf"
    TEXT = "text"
    PHOTO = "photo"
    VIDEO = "video"
    AUDIO = "audio"
    AUXILIARY = "auxiliary"
    LINK = "link"
    UNKNOWN = "unknown"


class AttachmentKind(_Vocabulary):
    """How a file reached us: attached to the mail, or a large-attachment link (163 超大附件, QQ 文件中转站)."""

    FILE = "file"
    LINK = "link"


class Severity(_Vocabulary):
    """What a failed check does to the verdict, mildest last."""

    REJECT = "reject"
    WARN = "warn"
    INFO = "info"


class SubmitterKind(_Vocabulary):
    """Who submits: a provincial department's recommendation, or a unit (school …) on its own."""

    PROVINCE = "province"
    UNIT = "unit"


# The one label table. Submitters read the status and role labels in their receipts, staff in the CLI,
# exports and console, so each is worded once for both.
LABELS: Mapping[type[_Vocabulary], Mapping[str, str]] = MappingProxyType({
    SubmissionStatus: MappingProxyType({
        SubmissionStatus.ACCEPTED: "已受理",
        SubmissionStatus.ACCEPTED_WITH_WARNINGS: "已受理（有提醒事项）",
        SubmissionStatus.REJECTED: "退回修改",
        SubmissionStatus.NEEDS_REVIEW: "待人工审核",
    }),
    MessageStatus: MappingProxyType({
        MessageStatus.SPOOLED: "已接收",
        MessageStatus.PARSED: "已解析",
        MessageStatus.STORED: "已登记",
        MessageStatus.NOTIFIED: "已回复",
        MessageStatus.SKIPPED: "已跳过",
        MessageStatus.FAILED: "处理失败",
    }),
    OutboxStatus: MappingProxyType({
        OutboxStatus.PENDING: "待发送",
        OutboxStatus.SENDING: "发送中",
        OutboxStatus.SENT: "已发送",
        OutboxStatus.FAILED: "发送失败",
        OutboxStatus.SUPPRESSED: "不发送",
    }),
    ReplyKind: MappingProxyType({
        ReplyKind.RECEIPT: "受理回执",
        ReplyKind.REJECTION: "退回修改通知",
        ReplyKind.NEEDS_REVIEW: "待审核通知",
        ReplyKind.ALERT: "运行告警",
        ReplyKind.BATCH: "批量收件回执",
    }),
    FileRole: MappingProxyType({
        FileRole.FORM_WORD: "申报表（Word 版）",
        FileRole.FORM_PDF: "申报表（盖章扫描 PDF 版）",
        FileRole.TEXT: "文字材料",
        FileRole.PHOTO: "图片材料",
        FileRole.VIDEO: "视频",
        FileRole.AUDIO: "音频",
        FileRole.AUXILIARY: "相关辅助资料",
        FileRole.LINK: "超大附件链接",
        FileRole.UNKNOWN: "未能识别的文件",
    }),
    AttachmentKind: MappingProxyType({
        AttachmentKind.FILE: "附件",
        AttachmentKind.LINK: "链接",
    }),
    Severity: MappingProxyType({
        Severity.REJECT: "退回",
        Severity.WARN: "提醒",
        Severity.INFO: "说明",
    }),
    SubmitterKind: MappingProxyType({
        SubmitterKind.PROVINCE: "省级推荐",
        SubmitterKind.UNIT: "自主申报",
    }),
})

# Labels staff may still type for a status (earlier spellings), besides those in ``LABELS``.
STATUS_LABEL_ALIASES: Mapping[str, SubmissionStatus] = MappingProxyType({
    "已受理（有提醒）": SubmissionStatus.ACCEPTED_WITH_WARNINGS,
})


def parse_status(value: str) -> SubmissionStatus | None:
    """A submission status given as its code or its Chinese label; ``None`` when it is neither."""
    value = value.strip()
    if value in SubmissionStatus.codes():
        return SubmissionStatus(value)
    by_label = {label: SubmissionStatus(code) for code, label in LABELS[SubmissionStatus].items()}
    return by_label.get(value) or STATUS_LABEL_ALIASES.get(value)


@dataclass(frozen=True)
class CaseIdentity:
    """Who sent which case in which category: what the subject (completed from the form) says.

    The one declaration of the case fields; subjects, rule facts, stored records and staff rows hold
    one of these instead of repeating the fields.
    """

    submitter_kind: str | None = None  # a ``SubmitterKind`` code
    province: str | None = None
    city: str | None = None
    organization: str | None = None  # the unit (school, bureau …); the province's department when it recommends
    case_name: str | None = None
    category_no: int | None = None
    category: str | None = None

    @property
    def region(self) -> str:
        """Province and city as one place name (a municipality once: 北京市, not 北京市北京市)."""
        parts = [p for p in (self.province, self.city) if p]
        if len(parts) == 2 and parts[0] == parts[1]:
            parts = parts[:1]
        return "".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """The fields by name (for JSON and for ``dataclasses.replace`` of holders)."""
        return asdict(self)


def format_size(n_bytes: int | float | None) -> str:
    """A file size as every message writes it: "512 B", "830 KB", "3.4 MB", "1.21 GB" (1 KB = 1024 bytes, as
    Windows shows sizes to senders); "—" for none."""
    if n_bytes is None:
        return "—"
    n = float(n_bytes)
    if n < 1024:
        return f"{n:.0f} B"
    if n < 1024 ** 2:
        return f"{n / 1024:.0f} KB"
    if n < 1024 ** 3:
        return f"{n / 1024 ** 2:.1f} MB"
    return f"{n / 1024 ** 3:.2f} GB"


#: The webmails whose large-attachment links we recognise, by provider: ingest/files/links.py reads such links from
#: bodies, and the console shows only links to these hosts as anchors.
WEBMAIL_HOSTS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "163": ("163.com", "126.com", "yeah.net"),
    "qq": ("qq.com",),
})


def host_in(host: str, domains: tuple[str, ...]) -> bool:
    """``host`` is one of ``domains`` or below one of them (``evil163.com`` is not below ``163.com``)."""
    return any(host == d or host.endswith("." + d) for d in domains)


def http_host(url: str) -> str | None:
    """The lower-case host of an http(s) URL that holds no whitespace or control character, else None: the scheme
    and host of a stranger's URL decide what it is, never words elsewhere in it."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or any(c.isspace() or ord(c) < 32 for c in text):
        return None
    return host or None


#: The field names of a ``CaseIdentity``, in order.
IDENTITY_FIELDS: tuple[str, ...] = ("submitter_kind", "province", "city", "organization", "case_name",
                                    "category_no", "category")

__all__ = [
    "ACCEPTED_STATUSES", "IDENTITY_FIELDS", "LABELS", "STATUS_LABEL_ALIASES", "AttachmentKind", "CaseIdentity",
    "FileRole", "MessageStatus", "OutboxStatus", "ReplyKind", "Severity", "SubmissionStatus", "SubmitterKind",
    "WEBMAIL_HOSTS", "format_size", "host_in", "http_host", "parse_status",
]
