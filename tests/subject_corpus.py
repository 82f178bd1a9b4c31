"""The labelled subject corpus (tests/data/subjects.tsv) and how a parse is judged against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checks.subject import fold_width

CORPUS = Path(__file__).resolve().parent / "data" / "subjects.tsv"
FIELDS = ("submitter_kind", "province", "city", "organization", "case_name", "category_no", "part")
ISSUE_17_MARK = "# ---- Added for issue #17"
# A flagged parse must say what it doubts: for each wrong field, some reason names it.
FIELD_WORDS = {"submitter_kind": ("推荐", "省级", "单位"), "province": ("省",), "city": ("地名", "市", "区", "县"),
               "organization": ("单位",), "case_name": ("案例名称",), "category_no": ("类别",),
               "category": ("类别",), "part": ("封", "分", "序号")}


def load(*, issue_17_only: bool = False) -> list[tuple[str, dict[str, Any]]]:
    rows = []
    started = not issue_17_only
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        started = started or line.startswith(ISSUE_17_MARK)
        if not line or line.startswith("#") or not started:
            continue
        subject, kind, province, city, organization, case_name, category_no, part = line.split("\t")
        expected: dict[str, Any] = {
            "submitter_kind": kind, "province": province or None, "city": city or None,
            "organization": organization or None, "case_name": case_name or None,
            "category_no": int(category_no) if category_no else None, "part": part or None}
        rows.append((subject, expected))
    return rows


def same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        return fold_width(actual) == fold_width(expected)
    return bool(actual == expected)


def wrong_fields(got: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    return [f for f in FIELDS if not same(got[f], expected[f])]


def names_the_doubt(field: str, reasons: list[str]) -> bool:
    return any(word in reason for reason in reasons for word in FIELD_WORDS[field])
