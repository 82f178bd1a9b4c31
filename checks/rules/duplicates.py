"""Duplicates: the same file (sha256) already in another case, or the same case name from the same body.

A resubmission of the same case is a new version of that case (the store files it so), so ``facts.prior`` holds
other cases only; a match there is a case sent twice, or one file reused for two cases. Staff decide (warn).
"""

from __future__ import annotations

from typing import Iterator

from checks.domain import FileRole, Severity, SubmitterKind
from checks.facts import PriorSubmission, SubmissionFacts
from checks.registry import REGISTRY, Check, Params
from checks.rules.common import normalise, quoted


@REGISTRY.rule(id="duplicate-file", clause="四.2", severity=Severity.WARN, title="重复文件",
               params={"roles": (list[str], [FileRole.FORM_PDF, FileRole.TEXT, FileRole.PHOTO, FileRole.VIDEO,
                                              FileRole.AUDIO]),
                       "min_bytes": (int, 1024)})
def duplicate_file(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    roles = set(params["roles"])
    files = [f for f in facts.files if f.role in roles and f.size >= params["min_bytes"] and f.sha256]
    seen: dict[str, str] = {}
    found = False
    # Copies the intake already set aside (same content twice in this mail): counted once, noted for staff.
    for copy, kept in facts.repeated:
        found = True
        yield Check(False, f"文件{quoted(copy)}与本次材料中的{quoted(kept)}内容完全相同（重复附上），只计一次。",
                    file=copy, evidence={"same_as": kept},
                    fix="无需处理；如本想附上不同的文件，请换成正确的文件后重新发送。", milder=Severity.INFO)
    for f in files:
        if f.sha256 in seen:
            found = True
            yield Check(False, f"文件{quoted(f.name)}与本次材料中的{quoted(seen[f.sha256])}内容完全相同（重复附上）。",
                        file=f.name, evidence={"sha256": f.sha256, "same_as": seen[f.sha256]},
                        fix="请删除重复的文件；如需不同的照片或材料，请换成正确的文件后重新发送。", milder=Severity.INFO)
            continue
        seen[f.sha256] = f.name
        earlier = [p for p in facts.prior if f.sha256 in p.file_sha256s and p.case_no != facts.case_no]
        if earlier:
            found = True
            cases = "、".join(_case(p) for p in earlier[:5])
            yield Check(False, f"文件{quoted(f.name)}与已受理的案例{cases}中的文件完全相同，可能是重复报送。",
                        file=f.name, evidence={"sha256": f.sha256, "cases": ",".join(p.case_no for p in earlier)},
                        fix="如为同一案例重复发送，无需处理，以最新一次为准；如为不同案例，请换成本案例自己的材料。")
    if not found:
        yield Check(True, f"{len(files)}个文件与其他案例均不重复。", evidence={"files": len(files)})


def _case(p: PriorSubmission) -> str:
    return p.case_no + (quoted(p.identity.case_name) if p.identity.case_name else "")


def _same_body(facts: SubmissionFacts, p: PriorSubmission) -> bool:
    org = facts.subject.organization
    if org and p.identity.organization and normalise(org) == normalise(p.identity.organization):
        return True
    if (facts.subject.submitter_kind == SubmitterKind.PROVINCE == p.identity.submitter_kind
            and facts.subject.province and facts.subject.province == p.identity.province):
        return True
    return bool(facts.sender) and facts.sender.lower() == p.sender.lower()


@REGISTRY.rule(id="duplicate-case", clause="四.2", severity=Severity.WARN, title="重复报送")
def duplicate_case(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    name = facts.subject.case_name
    if not name or not normalise(name):
        yield Check(False, "未能识别案例名称，无法核对是否重复报送。", milder=Severity.INFO)
        return
    same = [p for p in facts.prior
            if p.case_no != facts.case_no and p.identity.case_name
            and normalise(p.identity.case_name) == normalise(name)
            and _same_body(facts, p)]
    if same:
        cases = "、".join(p.case_no for p in same[:5])
        yield Check(False, f"同一单位已报送过同名案例{quoted(name)}（受理编号{cases}），本次可能是重复报送。",
                    evidence={"cases": ",".join(p.case_no for p in same)},
                    fix="如为修改后的新版本，请回复原受理回执邮件或在邮件主题中注明“修改稿”；如误发，请告知征集工作组撤回其中一份。")
    else:
        yield Check(True, f"案例{quoted(name)}未发现同一单位的重复报送。")
