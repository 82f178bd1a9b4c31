"""The values the analysis stages hand to each other (ingest/pipeline/stages.py): frozen, made of paths, strings
and numbers, so each stage can be called alone (tests), from ``intake inspect``, or on another machine.

No live object (database, mailbox, renderer) appears here: what a stage needs of the configuration is in
``AnalysisSettings``, what the database knew before the mail was read is in ``MailContext``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from checks.domain import AttachmentKind
from checks.facts import FileFacts, PriorSubmission
from checks.registry import ConfiguredRules, Finding
from checks.subject import ParsedSubject, SubjectSpec
from ingest.config import LimitSettings
from store import CaseFields

if TYPE_CHECKING:  # named in annotations only: importing the values (Runtime does) loads no unpacker or parser
    from ingest.files.linkfetch import SuppliedFile
    from ingest.files.unpack import ExtractedFile
    from ingest.files.unpack import Finding as UnpackFinding
    from ingest.mail.mime import ParsedMail

Timings = tuple[tuple[str, float], ...]  # (stage name, seconds) measured inside a stage, for StageTimes


@dataclass(frozen=True)
class AnalysisSettings:
    """What the analysis needs of the configuration: the campaign's subject format and rules, the bounds on
    reading strangers' files, the hosts whose large-attachment links are recognised."""

    subject_spec: SubjectSpec
    rules: ConfiguredRules
    limits: LimitSettings
    link_hosts: tuple[str, ...]


@dataclass(frozen=True)
class MailContext:
    """What was known before this mail was read: when it arrived, the campaign's earlier cases (quota,
    duplicates), the case it continues and staff corrections, files added after the mail, forced review reasons."""

    received_at: datetime
    prior: tuple[PriorSubmission, ...] = ()
    case_no: str = ""
    known: CaseFields | None = None
    corrections: Mapping[str, Any] = field(default_factory=dict)
    supplied: tuple[SuppliedFile, ...] = ()
    forced_review: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedMessage:
    """A spooled mail parsed once: its MIME structure (attachments as files) and its subject."""

    mail: ParsedMail
    subject: ParsedSubject


@dataclass(frozen=True)
class Unpacked:
    """The unpack stage's result: every file of the mail (archives opened), each content once."""

    files: tuple[ExtractedFile, ...]
    findings: tuple[UnpackFinding, ...] = ()
    overruns: tuple[str, ...] = ()  # budgets and bounds that stopped reading (staff review, in Chinese)
    repeated: tuple[tuple[str, str], ...] = ()  # (copy, file kept): the same content attached twice


@dataclass(frozen=True)
class AnalysedFile:
    """One file (or large-attachment link) of a submission, with its role and, once read, its facts."""

    name: str
    role: str
    size: int
    sha256: str | None
    path: Path | None
    archive: str | None
    kind: str = "file"  # file | link | supplied (added after the mail: staff or the link download)
    url: str | None = None
    expires_at: datetime | None = None
    facts: FileFacts | None = None
    note: str = ""


@dataclass(frozen=True)
class Classified:
    """The classify stage's result: each file with its role (files a reader could not finish already carry
    their "unreadable" facts), the findings and overruns of classifying, the time per file."""

    files: tuple[AnalysedFile, ...]
    findings: tuple[UnpackFinding, ...] = ()
    overruns: tuple[str, ...] = ()
    timings: Timings = ()


@dataclass(frozen=True)
class FactsRead:
    """The facts stage's result: the same files, each readable one with its facts."""

    files: tuple[AnalysedFile, ...]
    overruns: tuple[str, ...] = ()
    timings: Timings = ()


@dataclass(frozen=True)
class Identified:
    """Who sends which case: the subject as the mail wrote it (``as_sent``, after a known case's fields and staff
    corrections) and as completed from the 申报表 and file names (``subject``), with the disagreements found."""

    subject: ParsedSubject
    as_sent: ParsedSubject
    mismatches: tuple[str, ...] = ()


@dataclass(frozen=True)
class Checked:
    """The check stage's result: the rules' findings, in rule order, and the time each rule took."""

    findings: tuple[Finding, ...]
    timings: Timings = ()


@dataclass(frozen=True)
class Analysis:
    """The verdict on one mail (or one case of a mail of several): its subject, files, findings, status, and
    why staff must look."""

    subject: ParsedSubject
    subject_example: str
    files: tuple[AnalysedFile, ...]
    findings: tuple[Finding, ...]
    status: str
    defects: tuple[str, ...]
    received_at: datetime
    review_reasons: tuple[str, ...]
    # A mail carrying several complete cases (one 申报表 each, one folder each): one analysis per case, in order;
    # shared files (推荐函, 汇总表) are listed with each. Empty for a mail of one case.
    cases: tuple[Analysis, ...] = ()
    folder: str = ""  # a case of such a mail: its folder ("湖北省推荐案例/01 夷陵中学")
    # Every file on disk this analysis refers to (read files, their converted copies): the rest of the work
    # directory may go once the version is stored.
    kept_paths: tuple[Path, ...] = ()

    @property
    def links(self) -> tuple[AnalysedFile, ...]:
        """The large-attachment links of the mail (files not attached but linked)."""
        return tuple(f for f in self.files if f.kind == AttachmentKind.LINK)
