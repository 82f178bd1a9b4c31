"""From a parsed mail to a verdict: save parts, unpack, classify, read facts, parse the subject, check.

Used by the daemon's pipeline and by ``intake inspect`` (offline, no mailbox, no database), so a
staff member's offline check gives exactly the answer the daemon would.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from checks.domain import AttachmentKind, CaseIdentity, FileRole, SubmissionStatus
from checks.facts import FileFacts, LinkFacts, PriorSubmission, SubmissionFacts
from checks.registry import Finding, decide_status
from checks.subject import (ParsedSubject, example_subject, fill_from_other_sources, parse_subject,
                            sender_as_unit, unprescribed_subject)
from ingest.pipeline.batch import BatchPlan, plan_batch
from ingest.files.classify import CONVERT_SECONDS, Classification, classify, read_form_fields
from ingest.config import LimitSettings
from ingest.files.isolation import Outcome, Overrun, map_bounded, run_bounded, run_rules_bounded
from ingest.files.linkfetch import SuppliedFile
from ingest.files.links import find_large_attachment_links
from ingest.mail.mime import ParsedMail
from ingest.files.sniff import UNKNOWN_KIND
from ingest.pipeline.timing import StageTimes
from ingest.files.unpack import Finding as UnpackFinding
from ingest.files.unpack import ExtractedFile, UnpackLimits, unpack_attachment
from store import CaseFields

if TYPE_CHECKING:
    from ingest.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalysedFile:
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
class Analysis:
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
        return tuple(f for f in self.files if f.kind == AttachmentKind.LINK)


def _safe_part_name(index: int, name: str) -> str:
    suffix = re.sub(r"[^A-Za-z0-9.]", "", Path(name).suffix)[:12]
    return f"part{index:03d}{suffix}"


def inherit_fields(subject: ParsedSubject, known: CaseFields) -> ParsedSubject:
    """A reply to our receipt ("回复：【退回修改通知】JCJY2025-000012 …") continues a known case: where its
    subject is unclear, the case's fields stand (the sender did not mean to rename the case)."""
    if not subject.needs_review and subject.case_name:
        return subject
    kept = known.identity.as_dict() | {"submitter_kind": known.identity.submitter_kind or subject.submitter_kind}
    return replace(subject, **kept, confidence=max(subject.confidence, known.confidence), needs_review=False,
                   reasons=("回复邮件：沿用原案例的申报单位、案例名称和类别",), doubts=())


# A real submission carries a few large-attachment links (a video, a photo pack); a stranger's mail may carry
# thousands, each of which would be stored and echoed into the reply.
MAX_LINKS_PER_MAIL = 20

# Names LibreOffice may be started for inside classify (its own timeout: CONVERT_SECONDS on top of reading).
_LEGACY_WORD_SUFFIXES = (".doc", ".dot", ".wps", ".wpt", ".rtf")


def _classify_all(bounds: LimitSettings, files: Sequence[ExtractedFile], deadline: float) -> list[Outcome]:
    """Each file's ``Classification`` (or the ``Overrun`` that stopped it), in order."""
    legacy = [i for i, f in enumerate(files) if f.name.lower().endswith(_LEGACY_WORD_SUFFIXES)]
    other = sorted(set(range(len(files))) - set(legacy))
    outcomes: dict[int, Outcome] = {}
    for indexes, seconds in ((legacy, bounds.file_seconds + CONVERT_SECONDS), (other, bounds.file_seconds)):
        outcomes.update(zip(indexes, map_bounded(bounds, seconds, classify, [files[i] for i in indexes],
                                                 deadline=deadline)))
    return [outcomes[i] for i in range(len(files))]


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


def _mail_budget_finding(bounds: LimitSettings, what: str, skipped: Sequence[str]) -> UnpackFinding:
    """The whole mail ran past one of its budgets: the attachments not read are named, the mail goes to review."""
    listed = "、".join(f"“{n}”" for n in skipped[:5]) + ("等" if len(skipped) > 5 else "")
    limit = (f"{bounds.mail_seconds:.0f} 秒" if what == "time" else f"{bounds.mail_unpacked_mb} MB")
    label = "处理时间" if what == "time" else "解压总量"
    return UnpackFinding(f"mail.{what}_budget", f"整封邮件的{label}超过上限（{limit}），附件{listed}未处理，"
                         "已转人工审核。请精简材料或分多封邮件发送。", skipped[0] if skipped else "")


def _file_facts(f: AnalysedFile) -> FileFacts:
    assert f.path is not None
    # Imported here: only the worker reads files; the daemon's memory would carry every reader's libraries.
    from ingest.files.facts import extract_facts

    return extract_facts(f.path, f.name, f.role, f.size, f.sha256 or "", f.archive)


def _unreadable(f: AnalysedFile, why: str) -> FileFacts:
    return FileFacts(name=f.name, role=f.role, size=f.size, sha256=f.sha256 or "", archive=f.archive, error=why)


def _batch_reason(plan: BatchPlan | None) -> str:
    """Why a mail of several cases that cannot be split by folder goes to staff (plain Chinese), else ""."""
    if plan is None or not plan.ambiguous:
        return ""
    return plan.ambiguous + "，不能作为一个案例受理，工作人员将人工拆分登记"


def analyse(mail: ParsedMail, *, work_dir: Path, runtime: Runtime, received_at: datetime,
            prior: Sequence[PriorSubmission] = (), case_no: str = "",
            known: CaseFields | None = None, corrections: Mapping[str, Any] | None = None,
            times: StageTimes | None = None, supplied: Sequence[SuppliedFile] = (),
            forced_review: Sequence[str] = ()) -> Analysis:
    """``supplied``: files added to the submission after its mail (the file behind a link), read like the others."""
    times = times if times is not None else StageTimes()
    spec = runtime.campaign.subject_spec
    with times.stage("subject"):
        subject = parse_subject(mail.subject, spec)
    if known is not None:
        subject = inherit_fields(subject, known)
    if corrections:  # staff corrected these fields: they are the truth the checks (quota, …) work with
        subject = replace(subject, **{k: v for k, v in corrections.items() if hasattr(subject, k)},
                          needs_review=False, reasons=(*subject.reasons, "工作人员已更正字段"))
    defects: list[str] = list(mail.defects)
    files: list[AnalysedFile] = []
    unpack_findings: list[UnpackFinding] = []
    limits = UnpackLimits()
    parts_dir = work_dir / "parts"
    parts_dir.mkdir(parents=True, exist_ok=True)

    bounds = runtime.config.limits
    # The whole mail's budgets (issue 15 §5): reading time and unpacked bytes, on top of the per-file bounds.
    deadline = time.monotonic() + bounds.mail_seconds
    unpacked_left = bounds.mail_unpacked_mb << 20
    # Files a reader could not finish (time, memory, crash): staff look before anything is sent.
    overruns: list[str] = []
    extracted: list[ExtractedFile] = []
    # The same attachment (or archive) attached twice counts once (five photos attached twice are five).
    repeated: list[tuple[str, str]] = []
    first_part: dict[str, str] = {}
    attachments = list(mail.attachments)
    for index, part in enumerate(attachments):
        if part.sha256 and part.sha256 in first_part:
            repeated.append((part.name, first_part[part.sha256]))
            continue
        if part.sha256:
            first_part[part.sha256] = part.name
        left = deadline - time.monotonic()
        if left <= 0 or unpacked_left <= 0:
            what = "time" if left <= 0 else "bytes"
            finding = _mail_budget_finding(bounds, what, [p.name for p in attachments[index:]])
            unpack_findings.append(finding)
            overruns.append(finding.message)
            break
        with times.stage("unpack"):
            saved = part.save_to(parts_dir / _safe_part_name(index, part.name))
            bounded = replace(limits, max_total_bytes=min(limits.max_total_bytes, unpacked_left))
            try:
                members, found = run_bounded(bounds, min(bounds.attachment_seconds, left), unpack_attachment,
                                             part.name, saved, work_dir / "files" / f"{index:03d}", bounded)
            except Overrun as exc:
                kind = "budget" if left < bounds.attachment_seconds and exc.kind == "timeout" else exc.kind
                why = "未完成：整封邮件的处理时间已用完" if kind == "budget" else exc.chinese()
                members, found = [], [UnpackFinding(f"file.{kind}", f"附件“{part.name}”解压{why}。", part.name)]
                overruns.append(f"附件“{part.name}”解压{why}")
        unpacked_left -= sum(m.size for m in members)
        if bounded.max_total_bytes < limits.max_total_bytes and any(f.code == "archive.too_large" for f in found):
            finding = _mail_budget_finding(bounds, "bytes", [p.name for p in attachments[index:]])
            found = [*found, finding]
            overruns.append(finding.message)
            unpacked_left = 0
        unpack_findings.extend(found)
        extracted.extend(members)
    extracted = _once_each(extracted, repeated)
    added = {Path(f.path): f for f in supplied}
    extracted += [ExtractedFile(name=f.name, path=f.path, size=f.size, sha256=f.sha256, archive=None, depth=0)
                  for f in supplied]

    stopped: dict[Path, str] = {}
    for ef, (cls, seconds) in zip(extracted, _classify_all(bounds, extracted, deadline)):
        times.add("classify", seconds)
        if isinstance(cls, Overrun):  # recorded once, as this file's facts (no second try at reading it)
            overruns.append(f"文件“{ef.name}”{cls.chinese()}")
            stopped[ef.path] = cls.chinese()
            cls = Classification(FileRole.UNKNOWN, UNKNOWN_KIND, "application/octet-stream", cls.chinese())
        unpack_findings.extend(cls.findings)
        extra = added.get(ef.path)
        files.append(AnalysedFile(name=ef.name, role=cls.role, size=ef.size, sha256=ef.sha256,
                                  path=cls.converted or ef.path, archive=ef.archive, note=cls.reason,
                                  kind="file" if extra is None else "supplied",
                                  url=None if extra is None else extra.url))

    links = find_large_attachment_links(mail.html, mail.text, runtime.config.links.allowed_hosts)
    if len(links) > MAX_LINKS_PER_MAIL:  # each one is stored, shown to staff and listed in the reply
        defects.append(f"邮件中的超大附件链接有 {len(links)} 个，只记录前 {MAX_LINKS_PER_MAIL} 个")
        links = links[:MAX_LINKS_PER_MAIL]
    for link in links:
        files.append(AnalysedFile(name=link.name, role=FileRole.LINK, size=link.size_bytes or 0, sha256=None, path=None,
                                  archive=None, kind=AttachmentKind.LINK, url=link.url, expires_at=link.expires_at,
                                  note=link.size_text))

    # Several complete cases in one mail (a province's recommended cases, one folder each) are never one case.
    plan = plan_batch([f"{f.archive}/{f.name}" if f.archive else f.name for f in files], [f.role for f in files])

    mail_subject = subject  # before the form fills it in: a batch's cases are filled from their own forms
    form_fields: dict[str, str] = {}
    with times.stage("subject"):
        for f in files:
            if f.role == FileRole.FORM_WORD and f.path is not None and f.path.suffix.lower() == ".docx":
                try:
                    form_fields = run_bounded(bounds, bounds.file_seconds, read_form_fields, f.path)
                except Overrun:
                    form_fields = {}  # the file's own facts below meet the same bound and record it
                if form_fields:
                    break
        if not spec.prescribed and not form_fields.get("申报单位") and subject.organization is None:
            unit = sender_as_unit(mail.from_name or "")  # no form, no subject format: the sender's name says who
            if unit:
                form_fields = {**form_fields, "申报单位": unit}
        subject, mismatches = fill_from_other_sources(
            subject, attachment_names=[f.name for f in files], form_fields=form_fields, spec=spec)
        subject = unprescribed_subject(subject, spec)

    readable = [f for f in files if f.kind != AttachmentKind.LINK and f.path is not None and f.path not in stopped]
    outcomes = dict(zip(readable, map_bounded(bounds, bounds.file_seconds, _file_facts, readable,
                                              deadline=deadline)))
    with_facts: list[AnalysedFile] = []
    for f in files:
        if f.path in stopped:
            f = replace(f, facts=_unreadable(f, stopped[f.path]))
        elif f in outcomes:
            result, seconds = outcomes[f]
            times.add(f"facts:{f.role}", seconds)
            if isinstance(result, Overrun):
                overruns.append(f"文件“{f.name}”{result.chinese()}")
                result = _unreadable(f, result.chinese())
            f = replace(f, facts=result)
        with_facts.append(f)

    supplied_urls = {f.url for f in supplied if f.url}

    if plan is not None and len(plan.cases) >= 2:
        return _analyse_batch(plan, mail, with_facts, mail_subject, runtime=runtime, received_at=received_at, prior=prior,
                              defects=[*defects, *(p.message for p in unpack_findings)], overruns=overruns,
                              problems=unpack_findings, times=times)

    facts = SubmissionFacts(
        case_no=case_no,
        sender=mail.from_addr or "",
        subject=subject.identity,
        received_at=received_at,
        files=tuple(f.facts for f in with_facts if f.facts is not None),
        links=tuple(LinkFacts(name=f.name, url=f.url or "", size_bytes=f.size or None, expires_at=f.expires_at,
                              supplied=f.url in supplied_urls)
                    for f in with_facts if f.kind == AttachmentKind.LINK),
        body_text=mail.text,
        prior=tuple(prior),
        problems=tuple((p.code, p.message, p.path) for p in unpack_findings),
        mismatches=tuple(mismatches),
        repeated=tuple(repeated),
    )
    checked, rule_seconds = run_rules_bounded(bounds, runtime.campaign.rules, facts)
    for rule_id, seconds in rule_seconds.items():
        times.add(f"check:{rule_id}", seconds)
    findings = tuple(checked)
    batch_reason = _batch_reason(plan)
    status = decide_status(findings, subject.needs_review or bool(overruns) or bool(batch_reason)
                           or bool(forced_review))
    review = [batch_reason] if batch_reason else []
    review += list(subject.reasons) if subject.needs_review else []
    review += [*forced_review, *overruns]
    defects += forced_review
    review += [f.message for f in findings if f.rule == "rule-error"]
    review += list(mismatches)
    defects += [p.message for p in unpack_findings]
    kept = tuple(dict.fromkeys([*(ef.path for ef in extracted), *(f.path for f in with_facts if f.path)]))
    return Analysis(subject=subject, subject_example=example_subject(subject, spec), files=tuple(with_facts),
                    findings=findings, status=status, defects=tuple(dict.fromkeys(defects)),
                    received_at=received_at, review_reasons=tuple(dict.fromkeys(review)), kept_paths=kept)


# Words that make a sender a provincial education department (its cases are its recommendations, 四.2(1)).
_DEPARTMENT = re.compile(r"教育厅|教委|教育委员会|教育局|教育部门")


def _case_subject(base: ParsedSubject, form_fields: Mapping[str, str], names: Sequence[str],
                  runtime: Runtime) -> tuple[ParsedSubject, tuple[str, ...]]:
    """One case of a batch: its fields come from its own 申报表; the mail's subject gives the province (and,
    for a provincial department, that the case is its recommendation)."""
    spec = runtime.campaign.subject_spec
    kind = "province" if base.submitter_kind == "province" or _DEPARTMENT.search(base.organization or "") else "unit"
    empty = replace(base, submitter_kind=kind, city=None, organization=None, case_name=None, category_no=None,
                    category=None, part=None, needs_review=False, reasons=(), doubts=(), confidence=1.0)
    subject, notes = fill_from_other_sources(empty, attachment_names=list(names), form_fields=form_fields, spec=spec)
    missing = [label for label, value in (("申报单位", subject.organization), ("案例名称", subject.case_name))
               if not value]
    if subject.category_no is None and spec.category_required:
        missing.append("类别")
    if missing:
        subject = replace(subject, needs_review=True,
                          reasons=(*subject.reasons, f"申报表中未能读出{'、'.join(missing)}"))
    return replace(subject, submitter_kind=kind), notes


def _analyse_batch(plan: BatchPlan, mail: ParsedMail, files: Sequence[AnalysedFile], subject: ParsedSubject, *,
                   runtime: Runtime, received_at: datetime, prior: Sequence[PriorSubmission], defects: list[str],
                   overruns: list[str], problems: Sequence[UnpackFinding], times: StageTimes) -> Analysis:
    """Each case of a batch checked on its own files, like a mail of its own; the cases before it in the batch
    count for its quota like earlier mails."""
    bounds = runtime.config.limits
    spec = runtime.campaign.subject_spec
    shared = [files[i] for i in plan.shared]
    cases: list[Analysis] = []
    siblings: list[PriorSubmission] = []
    for group in plan.cases:
        own = [files[i] for i in group.files]
        form = own[0]
        fields: dict[str, str] = {}
        if form.path is not None and form.path.suffix.lower() == ".docx":
            try:
                fields = run_bounded(bounds, bounds.file_seconds, read_form_fields, form.path)
            except Overrun:
                fields = {}
        case_subject, notes = _case_subject(subject, fields, [f.name for f in own], runtime)
        facts = SubmissionFacts(
            case_no="", sender=mail.from_addr or "", subject=case_subject.identity, received_at=received_at,
            files=tuple(f.facts for f in own if f.facts is not None), body_text=mail.text,
            prior=(*prior, *siblings), mismatches=notes,
            problems=tuple((p.code, p.message, p.path) for p in problems
                           if p.path is None or any(p.path in f.name or f.name in p.path for f in own)))
        checked, rule_seconds = run_rules_bounded(bounds, runtime.campaign.rules, facts)
        for rule_id, seconds in rule_seconds.items():
            times.add(f"check:{rule_id}", seconds)
        findings = tuple(checked)
        own_overruns = [o for o in overruns if any(f"“{f.name}”" in o for f in own)]
        status = decide_status(findings, case_subject.needs_review or bool(own_overruns))
        review = list(case_subject.reasons) if case_subject.needs_review else []
        review += own_overruns + [f.message for f in findings if f.rule == "rule-error"] + list(notes)
        cases.append(Analysis(subject=case_subject, subject_example=example_subject(case_subject, spec),
                              files=(*own, *shared), findings=findings, status=status, defects=tuple(defects),
                              received_at=received_at, review_reasons=tuple(dict.fromkeys(review)),
                              folder=group.folder.rsplit("/", 1)[-1]))
        siblings.append(PriorSubmission(
            case_no=f"（同一邮件第{len(siblings) + 1}个案例）", sender=mail.from_addr or "",
            identity=CaseIdentity(case_subject.submitter_kind, case_subject.province, case_subject.city,
                                  case_subject.organization, case_subject.case_name, case_subject.category_no,
                                  case_subject.category),
            received_at=received_at, file_sha256s=tuple(f.sha256 for f in own if f.sha256), status=status))
    order = (SubmissionStatus.NEEDS_REVIEW, SubmissionStatus.REJECTED, SubmissionStatus.ACCEPTED_WITH_WARNINGS,
             SubmissionStatus.ACCEPTED)
    worst = min((c.status for c in cases), key=order.index)
    return Analysis(subject=subject, subject_example=example_subject(subject, spec), files=tuple(files), findings=(),
                    status=worst, defects=tuple(dict.fromkeys(defects)), received_at=received_at,
                    review_reasons=(), cases=tuple(cases))
