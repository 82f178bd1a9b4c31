"""One mail carrying several complete cases: a provincial office sends its recommended cases in one ZIP, one folder
per case, each with its own 申报表, often beside a 推荐函 and a 汇总表 (issue 16 §2).

Pure: from the files' names (archive paths) and roles to a plan. A mail with two or more 申报表 (Word) is never
checked as one case (it would be rejected for the sum of their photos). Each 申报表 in a folder of its own makes one
case of that folder's files; files outside every case folder (推荐函, 汇总表) belong to the batch. When the
申报表 cannot be told apart by folder (two in one folder, nested case folders), the plan is ambiguous and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from checks.domain import FileRole


FORM_ROLES = (FileRole.FORM_WORD,)  # one Word 申报表 per case; its PDF scan sits beside it


@dataclass(frozen=True)
class CaseGroup:
    folder: str  # the case's folder inside the mail ("湖北省推荐/01 夷陵中学")
    files: tuple[int, ...]  # indexes into the analysed files, the form first


@dataclass(frozen=True)
class BatchPlan:
    cases: tuple[CaseGroup, ...]
    shared: tuple[int, ...]  # files of the batch itself (推荐函, 汇总表)
    ambiguous: str = ""  # why the split cannot be made by folder (plain Chinese), "" when it can

    @property
    def is_batch(self) -> bool:
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
