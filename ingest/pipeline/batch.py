"""One mail carrying several complete cases: a provincial office sends its recommended cases in one ZIP, one folder
per case, each with its own 申报表, often beside a 推荐函 and a 汇总表 (issue 16 §2).

``plan_batch`` is pure: from the files' names (archive paths) and roles to a plan. A mail with two or more 申报表 (Word) is never
checked as one case (it would be rejected for the sum of their photos). Each 申报表 in a folder of its own makes one
case of that folder's files; files outside every case folder (推荐函, 汇总表) belong to the batch. When the
申报表 cannot be told apart by folder (two in one folder, nested case folders), the plan is ambiguous and says why.
``analyse_cases`` then checks each case of a plan with the stages of ingest/pipeline/stages.py, like a mail of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from checks.domain import FileRole, SubmissionStatus, SubmitterKind
from checks.facts import PriorSubmission, SubmissionFacts
from checks.subject import ParsedSubject, SubjectSpec, example_subject, fill_from_other_sources
from ingest.files.unpack import Finding as UnpackFinding
from ingest.pipeline.stages import check, decide
from ingest.pipeline.timing import StageTimes
from ingest.pipeline.values import (AnalysedFile, Analysis, AnalysisSettings, Identified, MailContext,
                                    ParsedMessage)


FORM_ROLES = (FileRole.FORM_WORD,)  # one Word 申报表 per case; its PDF scan sits beside it


@dataclass(frozen=True)
class CaseGroup:
    """One case of a mail of several: its folder and its files."""

    folder: str  # the case's folder inside the mail ("湖北省推荐/01 夷陵中学")
    files: tuple[int, ...]  # indexes into the analysed files, the form first


@dataclass(frozen=True)
class BatchPlan:
    """How a mail's files split into cases (and the files of the batch itself), or why they cannot be split."""

    cases: tuple[CaseGroup, ...]
    shared: tuple[int, ...]  # files of the batch itself (推荐函, 汇总表)
    ambiguous: str = ""  # why the split cannot be made by folder (plain Chinese), "" when it can

    @property
    def is_batch(self) -> bool:
        """Whether the mail is not one case (split into several, or to be split by staff)."""
        return len(self.cases) >= 2 or bool(self.ambiguous)


def _folder(name: str) -> str:
    return name.rsplit("/", 1)[0] if "/" in name else ""


def _within(name: str, folder: str) -> bool:
    return name.startswith(folder + "/")


def plan_batch(names: Sequence[str], roles: Sequence[str]) -> BatchPlan | None:
    """The split of a mail whose files are ``names`` (archive paths) with ``roles``; None for a mail of one case."""
    forms = [i for i, role in enumerate(roles) if role in FORM_ROLES]
    if len(forms) < 2:
        return None
    folders = [_folder(names[i]) for i in forms]
    shown = "、".join(f"“{names[i]}”" for i in forms[:6]) + ("等" if len(forms) > 6 else "")
    if len(set(folders)) < len(folders) or "" in folders:
        return BatchPlan((), tuple(range(len(names))),
                         f"本邮件含{len(forms)}份申报表（{shown}），但不是每份各在一个文件夹中，系统无法判断各案例包含哪些材料")
    nested = [a for a in folders for b in folders if a != b and _within(b, a)]
    if nested:
        return BatchPlan((), tuple(range(len(names))),
                         f"本邮件含{len(forms)}份申报表（{shown}），其文件夹相互嵌套，系统无法判断各案例包含哪些材料")
    groups: list[CaseGroup] = []
    taken: set[int] = set()
    for form, folder in zip(forms, folders):
        members = [form] + [i for i, n in enumerate(names) if i != form and _within(n, folder)]
        taken.update(members)
        groups.append(CaseGroup(folder, tuple(members)))
    shared = tuple(i for i in range(len(names)) if i not in taken)
    return BatchPlan(tuple(groups), shared)


def batch_reason(plan: BatchPlan | None) -> str:
    """Why a mail of several cases that cannot be split by folder goes to staff (plain Chinese), else ""."""
    if plan is None or not plan.ambiguous:
        return ""
    return plan.ambiguous + "，不能作为一个案例受理，工作人员将人工拆分登记"


# Words that make a sender a provincial education department (its cases are its recommendations, 四.2(1)).
_DEPARTMENT = re.compile(r"教育厅|教委|教育委员会|教育局|教育部门")


def case_subject(base: ParsedSubject, form_fields: Mapping[str, str], names: Sequence[str],
                 spec: SubjectSpec) -> Identified:
    """One case of a batch: its fields come from its own 申报表; the mail's subject gives the province (and,
    for a provincial department, that the case is its recommendation)."""
    kind = (SubmitterKind.PROVINCE if base.submitter_kind == SubmitterKind.PROVINCE
            or _DEPARTMENT.search(base.organization or "") else SubmitterKind.UNIT)
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
    return Identified(subject=replace(subject, submitter_kind=kind), as_sent=base, mismatches=tuple(notes))


def _case_problems(problems: Sequence[UnpackFinding], own: Sequence[AnalysedFile]) -> tuple[UnpackFinding, ...]:
    """The unpack and classify findings about this case's files (or about no file in particular)."""
    return tuple(p for p in problems if p.path is None or any(p.path in f.name or f.name in p.path for f in own))


def analyse_cases(plan: BatchPlan, message: ParsedMessage, files: Sequence[AnalysedFile], subject: ParsedSubject,
                  forms: Mapping[int, Mapping[str, str]], *, settings: AnalysisSettings, context: MailContext,
                  defects: Sequence[str], overruns: Sequence[str], problems: Sequence[UnpackFinding],
                  times: StageTimes) -> Analysis:
    """Each case of a batch checked on its own files, like a mail of its own; the cases before it in the batch
    count for its quota like earlier mails. The mail's verdict is its worst case's."""
    spec, mail = settings.subject_spec, message.mail
    shared = [files[i] for i in plan.shared]
    cases: list[Analysis] = []
    siblings: list[PriorSubmission] = []
    for group in plan.cases:
        own = [files[i] for i in group.files]
        identified = case_subject(subject, forms.get(group.files[0], {}), [f.name for f in own], spec)
        facts = SubmissionFacts(
            case_no="", sender=mail.from_addr or "", subject=identified.subject.identity,
            received_at=context.received_at, files=tuple(f.facts for f in own if f.facts is not None),
            body_text=mail.text, prior=(*context.prior, *siblings), mismatches=identified.mismatches,
            problems=tuple((p.code, p.message, p.path) for p in _case_problems(problems, own)))
        checked = check(facts, settings.rules, settings.limits)
        times.add_all(checked.timings)
        own_overruns = [o for o in overruns if any(f"“{f.name}”" in o for f in own)]
        case = decide(identified, checked, spec=spec, files=(*own, *shared),
                      context=replace(context, forced_review=()), defects=tuple(defects), overruns=own_overruns)
        cases.append(replace(case, folder=group.folder.rsplit("/", 1)[-1]))
        siblings.append(PriorSubmission(
            case_no=f"（同一邮件第{len(siblings) + 1}个案例）", sender=mail.from_addr or "",
            identity=identified.subject.identity, received_at=context.received_at,
            file_sha256s=tuple(f.sha256 for f in own if f.sha256), status=case.status))
    order = (SubmissionStatus.NEEDS_REVIEW, SubmissionStatus.REJECTED, SubmissionStatus.ACCEPTED_WITH_WARNINGS,
             SubmissionStatus.ACCEPTED)
    worst = min((c.status for c in cases), key=order.index)
    return Analysis(subject=subject, subject_example=example_subject(subject, spec), files=tuple(files), findings=(),
                    status=worst, defects=tuple(dict.fromkeys(defects)), received_at=context.received_at,
                    review_reasons=(), cases=tuple(cases))
