"""The analysis of one mail in named stages: parse → unpack → classify → read facts → identify → check → decide.

Each stage takes and returns frozen values (ingest/pipeline/values.py) and the few settings it needs: no
database, no mailbox, no ``Runtime``. ``ingest/pipeline/analyse.py`` calls them in order; a test can call any
one alone on real files; a worker on another host could run one. Stages that read strangers' files do it
through ``ingest.files.isolation`` (bounded in time and memory) and return the time each file took.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from checks.domain import AttachmentKind, FileRole
from checks.facts import FileFacts, LinkFacts, SubmissionFacts
from checks.registry import ConfiguredRules, decide_status
from checks.subject import (ParsedSubject, SubjectSpec, example_subject, fill_from_other_sources, parse_subject,
                            sender_as_unit, unprescribed_subject)
from ingest.config import LimitSettings
from ingest.files.classify import CONVERT_SECONDS, Classification, classify, read_form_fields
from ingest.files.isolation import Overrun, run_bounded
from ingest.files.isolation_items import Outcome, map_bounded, map_parallel, run_rules_bounded
from ingest.files.linkfetch import SuppliedFile
from ingest.files.links import find_large_attachment_links
from ingest.files.sniff import UNKNOWN_KIND
from ingest.files.unpack import ExtractedFile, UnpackLimits, unpack_attachment
from ingest.files.unpack import Finding as UnpackFinding
from ingest.files.worker_tasks import FileToRead, read_file_facts
from ingest.mail.mime import AttachmentPart, ParsedMail
from ingest.mail.mime_stream import parse_file
from ingest.pipeline.values import (AnalysedFile, Analysis, Checked, Classified, FactsRead, Identified, MailContext,
                                    ParsedMessage, Unpacked)
from store import CaseFields

# A real submission carries a few large-attachment links (a video, a photo pack); a stranger's mail may carry
# thousands, each of which would be stored and echoed into the reply.
MAX_LINKS_PER_MAIL = 20

# Names LibreOffice may be started for inside classify (its own timeout: CONVERT_SECONDS on top of reading).
_LEGACY_WORD_SUFFIXES = (".doc", ".dot", ".wps", ".wpt", ".rtf")


# ---- parse ------------------------------------------------------------------------------------------------------

def parse(spool_path: Path, parts_dir: Path, spec: SubjectSpec) -> ParsedMessage:
    """The spooled mail parsed once, attachments decoded into ``parts_dir``, subject read by the campaign's
    format. Raises ``NotAMimeMessage`` for bytes that are not a mail."""
    mail = parse_file(spool_path, parts_dir)
    return ParsedMessage(mail=mail, subject=parse_subject(mail.subject, spec))


# ---- unpack -----------------------------------------------------------------------------------------------------

def _safe_part_name(index: int, name: str) -> str:
    suffix = re.sub(r"[^A-Za-z0-9.]", "", Path(name).suffix)[:12]
    return f"part{index:03d}{suffix}"


def _mail_budget_finding(limits: LimitSettings, what: str, skipped: Sequence[str]) -> UnpackFinding:
    """The whole mail ran past one of its budgets: the attachments not read are named, the mail goes to review."""
    listed = "、".join(f"“{n}”" for n in skipped[:5]) + ("等" if len(skipped) > 5 else "")
    limit = (f"{limits.mail_seconds:.0f} 秒" if what == "time" else f"{limits.mail_unpacked_mb} MB")
    label = "处理时间" if what == "time" else "解压总量"
    return UnpackFinding(f"mail.{what}_budget", f"整封邮件的{label}超过上限（{limit}），附件{listed}未处理，"
                         "已转人工审核。请精简材料或分多封邮件发送。", skipped[0] if skipped else "")


def _unpack_one(part: AttachmentPart, index: int, work_dir: Path, limits: LimitSettings, left: float,
                unpacked_left: int) -> tuple[list[ExtractedFile], list[UnpackFinding], list[str]]:
    """One attachment saved and unpacked within what is left of the mail's time and bytes."""
    default = UnpackLimits()
    saved = part.save_to(work_dir / "parts" / _safe_part_name(index, part.name))
    bounded = replace(default, max_total_bytes=min(default.max_total_bytes, unpacked_left))
    overruns: list[str] = []
    try:
        members, found = run_bounded(limits, min(limits.attachment_seconds, left), unpack_attachment,
                                     part.name, saved, work_dir / "files" / f"{index:03d}", bounded, part.sha256)
    except Overrun as exc:
        kind = "budget" if left < limits.attachment_seconds and exc.kind == "timeout" else exc.kind
        why = "未完成：整封邮件的处理时间已用完" if kind == "budget" else exc.chinese()
        members, found = [], [UnpackFinding(f"file.{kind}", f"附件“{part.name}”解压{why}。", part.name)]
        overruns.append(f"附件“{part.name}”解压{why}")
    return members, list(found), overruns


def _once_each(files: Sequence[ExtractedFile], repeated: list[tuple[str, str]]) -> list[ExtractedFile]:
    """Each content once: a photo attached twice, or the same photo loose and inside the ZIP, is one photo.
    The copies are noted in ``repeated`` (copy, file kept) for an info finding."""
    first: dict[str, str] = {}
    kept: list[ExtractedFile] = []
    for f in files:
        if f.sha256 and f.sha256 in first:
            repeated.append((f.name, first[f.sha256]))
            continue
        if f.sha256:
            first[f.sha256] = f.name
        kept.append(f)
    return kept


def unpack(attachments: Sequence[AttachmentPart], work_dir: Path, limits: LimitSettings,
           deadline: float) -> Unpacked:
    """Every attachment saved under ``work_dir`` and archives opened, within the mail's budgets (``deadline`` on
    ``time.monotonic()``, ``limits.mail_unpacked_mb``); the same attachment attached twice counts once."""
    (work_dir / "parts").mkdir(parents=True, exist_ok=True)
    unpacked_left = limits.mail_unpacked_mb << 20
    extracted: list[ExtractedFile] = []
    findings: list[UnpackFinding] = []
    overruns: list[str] = []
    repeated: list[tuple[str, str]] = []
    first_part: dict[str, str] = {}
    for index, part in enumerate(attachments):
        if part.sha256 and part.sha256 in first_part:
            repeated.append((part.name, first_part[part.sha256]))
            continue
        if part.sha256:
            first_part[part.sha256] = part.name
        left = deadline - time.monotonic()
        if left <= 0 or unpacked_left <= 0:
            finding = _mail_budget_finding(limits, "time" if left <= 0 else "bytes",
                                           [p.name for p in attachments[index:]])
            findings.append(finding)
            overruns.append(finding.message)
            break
        members, found, stopped = _unpack_one(part, index, work_dir, limits, left, unpacked_left)
        overruns += stopped
        capped = unpacked_left < UnpackLimits().max_total_bytes
        unpacked_left -= sum(m.size for m in members)
        if capped and any(f.code == "archive.too_large" for f in found):
            finding = _mail_budget_finding(limits, "bytes", [p.name for p in attachments[index:]])
            found.append(finding)
            overruns.append(finding.message)
            unpacked_left = 0
        findings += found
        extracted += members
    kept = _once_each(extracted, repeated)
    return Unpacked(tuple(kept), tuple(findings), tuple(overruns), tuple(repeated))


def with_supplied(unpacked: Unpacked, supplied: Sequence[SuppliedFile]) -> Unpacked:
    """The files added after the mail (the file behind a link, a file staff uploaded) join the mail's own."""
    added = tuple(ExtractedFile(name=f.name, path=f.path, size=f.size, sha256=f.sha256, archive=None, depth=0)
                  for f in supplied)
    return replace(unpacked, files=(*unpacked.files, *added))


# ---- classify ---------------------------------------------------------------------------------------------------

def _classify_all(limits: LimitSettings, files: Sequence[ExtractedFile], deadline: float) -> list[Outcome]:
    """Each file's ``Classification`` (or the ``Overrun`` that stopped it), in order."""
    legacy = [i for i, f in enumerate(files) if f.name.lower().endswith(_LEGACY_WORD_SUFFIXES)]
    other = sorted(set(range(len(files))) - set(legacy))
    outcomes: dict[int, Outcome] = {}
    for indexes, seconds in ((legacy, limits.file_seconds + CONVERT_SECONDS), (other, limits.file_seconds)):
        outcomes.update(zip(indexes, map_bounded(limits, seconds, classify, [files[i] for i in indexes],
                                                 deadline=deadline)))
    return [outcomes[i] for i in range(len(files))]


def _unreadable(f: AnalysedFile, why: str) -> FileFacts:
    return FileFacts(name=f.name, role=f.role, size=f.size, sha256=f.sha256 or "", archive=f.archive, error=why)


def classify_files(files: Sequence[ExtractedFile], limits: LimitSettings, deadline: float,
                   supplied: Sequence[SuppliedFile] = ()) -> Classified:
    """Each file's role (申报表, 照片, 视频, …) from its name and magic bytes; a legacy Word file converted to DOCX.
    A file whose reader overran is recorded once, as its facts ("unreadable"): nobody tries to read it again."""
    by_path = {Path(f.path): f for f in supplied}
    analysed: list[AnalysedFile] = []
    findings: list[UnpackFinding] = []
    overruns: list[str] = []
    timings: list[tuple[str, float]] = []
    for ef, (cls, seconds) in zip(files, _classify_all(limits, files, deadline)):
        timings.append(("classify", seconds))
        stopped = cls.chinese() if isinstance(cls, Overrun) else None
        if stopped is not None:
            overruns.append(f"文件“{ef.name}”{stopped}")
            cls = Classification(FileRole.UNKNOWN, UNKNOWN_KIND, "application/octet-stream", stopped)
        findings += cls.findings
        extra = by_path.get(ef.path)
        f = AnalysedFile(name=ef.name, role=cls.role, size=ef.size, sha256=ef.sha256,
                         path=cls.converted or ef.path, archive=ef.archive, note=cls.reason,
                         kind="file" if extra is None else "supplied", url=None if extra is None else extra.url)
        analysed.append(f if stopped is None else replace(f, facts=_unreadable(f, stopped)))
    return Classified(tuple(analysed), tuple(findings), tuple(overruns), tuple(timings))


def find_links(mail: ParsedMail, hosts: tuple[str, ...]) -> tuple[tuple[AnalysedFile, ...], tuple[str, ...]]:
    """The mail's large-attachment links (163 超大附件, QQ 文件中转站) as files of the submission, at most
    ``MAX_LINKS_PER_MAIL``; the defect saying some were left out, if any."""
    links = find_large_attachment_links(mail.html, mail.text, hosts)
    defects: tuple[str, ...] = ()
    if len(links) > MAX_LINKS_PER_MAIL:  # each one is stored, shown to staff and listed in the reply
        defects = (f"邮件中的超大附件链接有 {len(links)} 个，只记录前 {MAX_LINKS_PER_MAIL} 个",)
        links = links[:MAX_LINKS_PER_MAIL]
    return tuple(AnalysedFile(name=link.name, role=FileRole.LINK, size=link.size_bytes or 0, sha256=None, path=None,
                              archive=None, kind=AttachmentKind.LINK, url=link.url, expires_at=link.expires_at,
                              note=link.size_text) for link in links), defects


# ---- read facts -------------------------------------------------------------------------------------------------

def _to_read(f: AnalysedFile) -> FileToRead:
    assert f.path is not None
    return FileToRead(f.path, f.name, f.role, f.size, f.sha256 or "", f.archive)


def read_facts(files: Sequence[AnalysedFile], limits: LimitSettings, deadline: float) -> FactsRead:
    """The facts of every file not read yet (page count, 字数, resolution, duration, seal, …), each bounded in time
    and memory; links and files already marked unreadable pass through unchanged."""
    readable = [i for i, f in enumerate(files)
                if f.kind != AttachmentKind.LINK and f.path is not None and f.facts is None]
    outcomes = dict(zip(readable, map_parallel(limits, limits.file_seconds, read_file_facts,
                                              [_to_read(files[i]) for i in readable], deadline=deadline)))
    read: list[AnalysedFile] = []
    overruns: list[str] = []
    timings: list[tuple[str, float]] = []
    for i, f in enumerate(files):
        if i in outcomes:
            result, seconds = outcomes[i]
            timings.append((f"facts:{f.role}", seconds))
            if isinstance(result, Overrun):
                overruns.append(f"文件“{f.name}”{result.chinese()}")
                result = _unreadable(f, result.chinese())
            f = replace(f, facts=result)
        read.append(f)
    return FactsRead(tuple(read), tuple(overruns), tuple(timings))


# ---- identify ---------------------------------------------------------------------------------------------------

def inherit_fields(subject: ParsedSubject, known: CaseFields) -> ParsedSubject:
    """A reply to our receipt ("回复：【退回修改通知】JCJY2025-000012 …") continues a known case: where its
    subject is unclear, the case's fields stand (the sender did not mean to rename the case)."""
    if not subject.needs_review and subject.case_name:
        return subject
    kept = known.identity.as_dict() | {"submitter_kind": known.identity.submitter_kind or subject.submitter_kind}
    return replace(subject, **kept, confidence=max(subject.confidence, known.confidence), needs_review=False,
                   reasons=("回复邮件：沿用原案例的申报单位、案例名称和类别",), doubts=())


def as_sent(subject: ParsedSubject, known: CaseFields | None, corrections: Mapping[str, Any]) -> ParsedSubject:
    """The mail's parsed subject, with the fields of the case it continues where it is unclear, and the fields
    staff corrected (they are the truth the checks, quota and all, work with)."""
    if known is not None:
        subject = inherit_fields(subject, known)
    if corrections:
        subject = replace(subject, **{k: v for k, v in corrections.items() if hasattr(subject, k)},
                          needs_review=False, reasons=(*subject.reasons, "工作人员已更正字段"))
    return subject


def read_forms(files: Sequence[AnalysedFile], limits: LimitSettings) -> dict[int, dict[str, str]]:
    """The fields of every Word 申报表 (DOCX, or converted to it), by index in ``files``: read once, for the mail's
    subject and for each case of a mail of several. A form whose reading overran has none (its facts say why)."""
    forms: dict[int, dict[str, str]] = {}
    for i, f in enumerate(files):
        if f.role == FileRole.FORM_WORD and f.path is not None and f.path.suffix.lower() == ".docx":
            try:
                forms[i] = run_bounded(limits, limits.file_seconds, read_form_fields, f.path)
            except Overrun:
                forms[i] = {}
    return forms


def identify(subject: ParsedSubject, files: Sequence[AnalysedFile], form_fields: Mapping[str, str],
             from_name: str, spec: SubjectSpec) -> Identified:
    """Who sends which case: the subject as sent, completed from the 申报表's fields and the file names (and,
    when the campaign prescribes no subject format and nothing else names the unit, from the sender's name)."""
    fields = dict(form_fields)
    if not spec.prescribed and not fields.get("申报单位") and subject.organization is None:
        unit = sender_as_unit(from_name)  # no form, no subject format: the sender's name says who
        if unit:
            fields["申报单位"] = unit
    filled, mismatches = fill_from_other_sources(subject, attachment_names=[f.name for f in files],
                                                 form_fields=fields, spec=spec)
    return Identified(subject=unprescribed_subject(filled, spec), as_sent=subject, mismatches=tuple(mismatches))


# ---- check ------------------------------------------------------------------------------------------------------

def submission_facts(message: ParsedMessage, identified: Identified, files: Sequence[AnalysedFile],
                     context: MailContext, problems: Sequence[UnpackFinding],
                     repeated: Sequence[tuple[str, str]]) -> SubmissionFacts:
    """What the rules see of a mail of one case."""
    supplied_urls = {f.url for f in context.supplied if f.url}
    return SubmissionFacts(
        case_no=context.case_no, sender=message.mail.from_addr or "", subject=identified.subject.identity,
        received_at=context.received_at, files=tuple(f.facts for f in files if f.facts is not None),
        links=tuple(LinkFacts(name=f.name, url=f.url or "", size_bytes=f.size or None, expires_at=f.expires_at,
                              supplied=f.url in supplied_urls)
                    for f in files if f.kind == AttachmentKind.LINK),
        body_text=message.mail.text, prior=context.prior,
        problems=tuple((p.code, p.message, p.path) for p in problems),
        mismatches=identified.mismatches, repeated=tuple(repeated))


def check(facts: SubmissionFacts, rules: ConfiguredRules, limits: LimitSettings) -> Checked:
    """The campaign's rules run on the facts, each bounded in time (a rule that fails is a finding, not a crash)."""
    findings, seconds = run_rules_bounded(limits, rules, facts)
    return Checked(tuple(findings), tuple((f"check:{rule_id}", s) for rule_id, s in seconds.items()))


# ---- decide -----------------------------------------------------------------------------------------------------

def decide(identified: Identified, checked: Checked, *, spec: SubjectSpec, files: Sequence[AnalysedFile],
           context: MailContext, defects: Sequence[str], overruns: Sequence[str], held: str = "",
           kept_paths: Sequence[Path] = ()) -> Analysis:
    """The verdict: rejected, accepted (with warnings) or staff review, and why staff must look (an unclear
    subject, a reader that overran, a rule error, a mismatch, ``held``: a mail of several cases not split)."""
    subject = identified.subject
    status = decide_status(checked.findings, subject.needs_review or bool(overruns) or bool(held)
                           or bool(context.forced_review))
    review = [held] if held else []
    review += list(subject.reasons) if subject.needs_review else []
    review += [*context.forced_review, *overruns]
    review += [f.message for f in checked.findings if f.rule == "rule-error"]
    review += list(identified.mismatches)
    return Analysis(subject=subject, subject_example=example_subject(subject, spec), files=tuple(files),
                    findings=checked.findings, status=status, defects=tuple(dict.fromkeys(defects)),
                    received_at=context.received_at, review_reasons=tuple(dict.fromkeys(review)),
                    kept_paths=tuple(dict.fromkeys(kept_paths)))
