"""四.3 提交办法: the mail's attachments and archives could be opened and every file read.

Nothing else can be checked in an encrypted or broken archive, so those problems carry the rule's severity;
minor packaging notes (a skipped link entry inside an archive) are reported with a milder one.
"""

from __future__ import annotations

from typing import Iterator

from checks.domain import Severity
from checks.facts import SubmissionFacts
from checks.registry import REGISTRY, Check, Params
from checks.rules.common import quoted

_RESEND = "请检查后重新打包发送（不要设置密码，压缩包请用ZIP格式）。"


@REGISTRY.rule(id="files-readable", clause="四.3", severity=Severity.REJECT, title="附件可读取",
               params={"grave_codes": (list[str], ["archive.encrypted", "archive.corrupt", "archive.bomb",
                                                   "archive.too_large", "archive.too_many_entries",
                                                   "archive.too_deep", "office.encrypted", "archive.unsupported"]),
                       "unreadable_files_grave": (bool, True)})
def files_readable(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    grave = set(params["grave_codes"])
    for code, message, path in facts.problems:
        yield Check(False, message, file=path, evidence={"code": code},
                    fix=_RESEND, milder=None if code in grave else Severity.WARN)
    for f in facts.files:
        if f.error:
            yield Check(False, f"文件{quoted(f.name)}无法读取：{f.error}", file=f.name,
                        evidence={"role": f.role, "size": f.size},
                        fix="请确认文件能在本机正常打开，另存一份后重新发送。",
                        milder=None if params["unreadable_files_grave"] else Severity.WARN)
    if not facts.problems and not any(f.error for f in facts.files):
        yield Check(True, f"全部{len(facts.files)}个文件均已解开并读取。", evidence={"files": len(facts.files)})
