"""Clauses about what the MoE 2024 forms list (教基厅函〔2024〕24号, seed 003), read from their tables:

- ``achievement-awards`` 二(一): 原则上以2022年、2018年和2014年特等奖、一等奖成果项目为主，部分…二等奖成果也可纳入.
- ``application-choices`` 二(二): 成果应用方…原则上可选择2—3个拟推广应用的成果项目.

Both are "原则上" clauses: profiles give them severity warn. A table is found by its header row (a cell naming
the column); a form without such a table is reported as not checkable (info), never as a fault.
"""

from __future__ import annotations

import re
from typing import Callable, Iterator, Mapping, Sequence

from checks.domain import Severity
from checks.facts import FileFacts, SubmissionFacts
from checks.registry import REGISTRY, Check, Params
from checks.rules.common import listing, normalise, quoted

Table = list[list[str]]


def _tables(f: FileFacts) -> list[Table]:
    """Tables of a Word form (its tables) or an Excel one (each sheet; cells are tab-separated in the facts)."""
    if f.doc is not None:
        return [[list(row) for row in t] for t in f.doc.tables]
    if f.sheet is not None:
        return [[line.split("\t") for line in block.splitlines()] for block in f.sheet.text.split("\n\n")]
    return []


def _column(header: Sequence[str], words: Sequence[str]) -> int | None:
    for index, cell in enumerate(header):
        if any(normalise(w) in normalise(cell) for w in words if w):
            return index
    return None


def _rows(f: FileFacts, columns: Mapping[str, Sequence[str]]) -> list[dict[str, str]] | None:
    """Data rows (column name → cell) of the first table whose header names every column; None when none does."""
    for table in _tables(f):
        for h, header in enumerate(table[:5]):  # a title row or two may come first
            found = {key: _column(header, words) for key, words in columns.items()}
            if any(i is None for i in found.values()):
                continue
            rows = []
            for row in table[h + 1:]:
                cells = {key: row[i].strip() if i is not None and i < len(row) else "" for key, i in found.items()}
                if any(cells.values()):
                    rows.append(cells)
            return rows
    return None


def _forms(facts: SubmissionFacts, names: Sequence[str]) -> list[FileFacts]:
    wanted = [normalise(n) for n in names]
    return [f for f in facts.files if (f.doc is not None or f.sheet is not None)
            and any(w in normalise(f.base_name) or w in normalise(f.text[:2000]) for w in wanted)]


def _words(value: str) -> list[str]:
    return [w for w in value.split("|") if w]


Rows = list[dict[str, str]]


def _check_forms(facts: SubmissionFacts, forms: Sequence[str], columns: Mapping[str, Sequence[str]], *,
                 columns_named: str, checked: str, judge: Callable[[FileFacts, Rows], Iterator[Check]]) -> Iterator[Check]:
    """Each form named by ``forms``: the rows of its table judged, or, when no table names ``columns``, an info
    that ``checked`` could not be checked."""
    for f in _forms(facts, forms):
        rows = _rows(f, columns)
        if rows is None:
            yield Check(False, f"{quoted(f.name)}中未找到{columns_named}栏目，未能核对{checked}。",
                        file=f.name, milder=Severity.INFO)
        else:
            yield from judge(f, rows)


@REGISTRY.rule(id="achievement-awards", clause="四", severity=Severity.WARN, title="成果获奖年度与等级",
               params={"forms": (list[str], ["成果信息一览表", "成果汇总表"]), "years": (list[int], [2022, 2018, 2014]),
                       "levels": (list[str], ["特等奖", "一等奖"]), "also_levels": (list[str], ["二等奖"]),
                       "year_column": (str, "获奖年度|获奖年份|获奖时间|年度"),
                       "level_column": (str, "获奖等级|奖励等级|等级"), "name_column": (str, "成果名称|成果")})
def achievement_awards(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    columns = {"name": _words(params["name_column"]), "year": _words(params["year_column"]),
               "level": _words(params["level_column"])}
    yield from _check_forms(facts, params["forms"], columns, columns_named="“获奖年度”“获奖等级”",
                            checked="成果的获奖年度和等级", judge=lambda f, rows: _awards(f, rows, params))


def _awards(f: FileFacts, rows: Rows, params: Params) -> Iterator[Check]:
    """The listed achievements against the years and award levels the call names."""
    years = [str(y) for y in params["years"]]
    odd = []
    second = []
    for row in rows:
        year = re.search(r"(19|20)\d\d", row["year"])
        level_ok = any(w in row["level"] for w in params["levels"])
        also = any(w in row["level"] for w in params["also_levels"])
        if year is None or year.group(0) not in years or not (level_ok or also):
            odd.append(f"“{row['name'] or '（未填名称）'}”（{row['year'] or '年度未填'}，{row['level'] or '等级未填'}）")
        elif also and not level_ok:
            second.append(row["name"])
    wanted = f"{'、'.join(years)}年{'、'.join(params['levels'])}"
    if odd:
        yield Check(False, f"{quoted(f.name)}中有{len(odd)}项成果不是{wanted}成果：{listing(odd, limit=4)}"
                           f"（原则上以{wanted}成果为主）。", file=f.name,
                    evidence={"rows": len(rows), "outside": len(odd)},
                    fix="请核对这些成果的获奖年度和等级；确需纳入的，请在报送说明中注明理由。")
    elif rows:
        note = f"（其中{len(second)}项为{'、'.join(params['also_levels'])}，可纳入）" if second else ""
        yield Check(True, f"{quoted(f.name)}所列{len(rows)}项成果均为{wanted}成果{note}。", file=f.name,
                    evidence={"rows": len(rows)})


@REGISTRY.rule(id="application-choices", clause="四", severity=Severity.WARN, title="应用方选择的成果数",
               params={"forms": (list[str], ["成果应用方信息一览表", "成果应用方汇总表"]), "min_count": (int, 2),
                       "max_count": (int, 3), "applicant_column": (str, "成果应用方|应用方|应用地区|地市|市（地、州、盟）"),
                       "achievement_column": (str, "拟推广应用的成果|拟推广应用成果|选择的成果|成果名称|成果项目")})
def application_choices(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    columns = {"applicant": _words(params["applicant_column"]), "achievement": _words(params["achievement_column"])}
    yield from _check_forms(facts, params["forms"], columns, columns_named="“成果应用方”“成果名称”",
                            checked="各应用方选择的成果数", judge=lambda f, rows: _choices(f, rows, params))


def _choices(f: FileFacts, rows: Rows, params: Params) -> Iterator[Check]:
    """How many achievements each applicant chose, against the call's range."""
    low, high = params["min_count"], params["max_count"]
    chosen: dict[str, set[str]] = {}
    current = ""
    for row in rows:
        current = row["applicant"] or current  # merged cells: the applicant is written once for its rows
        if current and row["achievement"]:
            chosen.setdefault(current, set()).add(row["achievement"])
    outside = [f"{who}（{len(items)}个）" for who, items in chosen.items() if not low <= len(items) <= high]
    if outside:
        yield Check(False, f"{quoted(f.name)}中{listing(outside, limit=4)}选择的成果项目数不在{low}—{high}个之间"
                           f"（原则上可选择{low}—{high}个）。", file=f.name,
                    evidence={"applicants": len(chosen), "outside": len(outside)},
                    fix=f"请核对各成果应用方选择的成果项目，原则上每个应用方{low}—{high}个。")
    elif chosen:
        yield Check(True, f"{quoted(f.name)}中{len(chosen)}个成果应用方各选择了{low}—{high}个成果项目。", file=f.name,
                    evidence={"applicants": len(chosen)})
