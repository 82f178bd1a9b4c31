"""The subject checked against the application form (申报表) and the attachment names (pure).

The form is filled in and stamped by the sender, so where the subject is doubtful (it needs review) the form's
申报单位, 案例名称 and 类别 win, and every disagreement is recorded in plain Chinese. A subject read with full
confidence keeps its fields; a disagreement with the form is then recorded (a category disagreement is sent to
review, since it decides quotas). Where the subject lacks a field, the form (or, for the case name and the
category, the attachment names) completes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from checks.subject_categories import category_from_files, parse_category
from checks.subject_sender import province_doubts, read_sender
from checks.subject_text import CLOSERS, OPENERS, REMOVED, SEPARATORS, clean_case_name, fold_width
from checks.subject_types import Doubt, ParsedSubject, SubjectSpec, with_doubts

_FILE_WORDS = re.compile(r"申报表|申请表|推荐表|文字材料|案例材料|案例文本|图片材料|图片说明|图片|照片|视频|辅助材料|辅助资料|"
                         r"相关材料|附件\s*\d*|PDF版|word版|盖章版?|扫描件|说明|材料|正文|终稿|定稿|最终版|修改版|\(\d+\)|"
                         r"\d+$|^\d+[.、]", re.IGNORECASE)
# The subject's doubts a field taken from the form (or the files) settles.
_SETTLED_BY = {
    "organization": ("no_unit", "unit_guess"),
    "case_name": ("no_case_name", "short_case_name", "case_starts_like_unit", "ordinal_after_category"),
    "category": ("no_category", "category_glued", "category_near", "category_conflict", "category_twice",
                 "category_out_of_range"),
    "province": ("no_province", "province_ambiguous", "province_conflict", "unit_place_conflict",
                 "province_from_name"),
}
_FIELD_LABELS = {"organization": "申报单位", "case_name": "案例名称", "category": "类别", "province": "省份"}


def _compare_key(text: str) -> str:
    return re.sub(r"[\s" + re.escape(SEPARATORS + OPENERS + CLOSERS) + r"·.、]", "", fold_width(text)).lower()


def _differs(a: str, b: str) -> bool:
    """Different names, not one written inside the other (杭州市文三街小学 / 浙江省杭州市文三街小学 agree)."""
    ka, kb = _compare_key(a), _compare_key(b)
    return bool(ka and kb) and ka not in kb and kb not in ka


def _name_from_files(attachment_names: Sequence[str], organization: str | None) -> str | None:
    """The case name most attachment names share once file words (申报表, 图片3 …) are removed."""
    counts: dict[str, int] = {}
    for name in attachment_names:
        stem = fold_width(re.split(r"[/\\]", name)[-1]).rsplit(".", 1)[0]
        if organization:
            stem = stem.replace(fold_width(organization), REMOVED)
        stem = _FILE_WORDS.sub(REMOVED, stem)
        cleaned = clean_case_name(stem)
        if cleaned and len(cleaned) >= 4 and not cleaned.isdigit():
            counts[cleaned] = counts.get(cleaned, 0) + 1
    if not counts:
        return None
    return max(counts.items(), key=lambda item: (item[1], len(item[0])))[0]


def _unit_glued_to_case(parsed_name: str | None, form_name: str, form_unit: str) -> bool:
    """The template invites "学校" and "案例名称" written with nothing between them, so the tail of the unit
    ("实验小学") can end up at the head of the parsed case name. The form tells them apart: the parsed name is
    the form's case name with a prefix that ends the form's unit."""
    if not parsed_name or not form_unit or parsed_name == form_name or not parsed_name.endswith(form_name):
        return False
    prefix = parsed_name[: -len(form_name)]
    return bool(prefix) and fold_width(form_unit).endswith(fold_width(prefix))


def _take_from_form(field: str, subject_value: str, form_value: str, notes: list[str], doubts: list[Doubt]) -> None:
    """The form's value replaces a doubtful subject's: a disagreement is recorded in ``notes``; a fuller
    name (杭州市文三街小学 for 文三街小学) is a completion, said among the reasons."""
    label = _FIELD_LABELS[field]
    if _differs(subject_value, form_value):
        note = f"邮件主题中的{label}“{subject_value}”与申报表中的“{form_value}”不一致，主题存疑，已按申报表"
        notes.append(note)
        doubts.append(Doubt(f"{field}_from_form", note, 1.0))  # kept with the case's reasons, not only in a reply
    else:
        doubts.append(Doubt(f"{field}_completed_from_form", f"{label}按申报表写作“{form_value}”"
                            f"（主题中为“{subject_value}”）", 1.0))


@dataclass
class _Filling:
    """What the form and the files change in a subject, gathered field by field."""

    parsed: ParsedSubject
    doubts: list[Doubt]
    notes: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    filled: list[str] = field(default_factory=list)

    @property
    def doubtful(self) -> bool:
        """The subject itself is unsure: the stamped form is the better witness."""
        return self.parsed.needs_review

    def take(self, name: str, value: Any) -> None:
        """Set a field of the completed subject and count it as filled (``name`` is also the filled key)."""
        self.fields[name] = value
        self.filled.append(name)


def fill_from_other_sources(parsed: ParsedSubject, *, attachment_names: Sequence[str],
                            form_fields: Mapping[str, str], spec: SubjectSpec) -> tuple[ParsedSubject, tuple[str, ...]]:
    """Complete or correct the subject from the application form (申报单位, 案例名称, 类别) and the attachment
    names; return the result and the disagreements between them (plain Chinese)."""
    filling = _Filling(parsed, list(parsed.doubts))
    unit = (form_fields.get("申报单位") or "").strip()
    if unit:
        _name_from_form(filling, "organization", parsed.organization, unit, always=False)
        _place_from_unit(filling, unit)
    case_name = (form_fields.get("案例名称") or "").strip()
    if case_name:
        glued = _unit_glued_to_case(parsed.case_name, case_name, unit)
        short = "short_case_name" in {d.code for d in parsed.doubts}
        _name_from_form(filling, "case_name", parsed.case_name, case_name, always=short or glued)
    elif parsed.case_name is None:
        from_files = _name_from_files(attachment_names, parsed.organization or filling.fields.get("organization"))
        if from_files:
            filling.take("case_name", from_files)
            filling.doubts.append(Doubt("case_from_files", f"案例名称取自附件名“{from_files}”，请核对", 0.75))
    _category_from_sources(filling, (form_fields.get("类别") or "").strip(), attachment_names, spec)

    settled = {code for name in filling.filled for code in _SETTLED_BY.get(name, ())}
    if "province" not in filling.filled:
        settled -= set(_SETTLED_BY["province"])
    doubts = [d for d in filling.doubts if d.code not in settled]
    completed = replace(parsed, **filling.fields)
    return with_doubts(completed, doubts, spec), tuple(filling.notes)


_FROM_FORM_CODES = {"organization": "unit_from_form", "case_name": "case_from_form"}


def _name_from_form(filling: _Filling, name: str, subject_value: str | None, form_value: str, *, always: bool) -> None:
    """A name field (申报单位, 案例名称) against the form: the form's fills a missing one (or replaces it ``always``),
    wins over a doubtful subject's that differs, and otherwise a disagreement is only noted."""
    label = _FIELD_LABELS[name]
    if subject_value is None or always:
        filling.take(name, form_value)
        filling.doubts.append(Doubt(_FROM_FORM_CODES[name], f"{label}取自申报表：{form_value}", 1.0))
    elif filling.doubtful and _compare_key(subject_value) != _compare_key(form_value):
        filling.take(name, form_value)
        _take_from_form(name, subject_value, form_value, filling.notes, filling.doubts)
    elif _differs(subject_value, form_value):
        filling.notes.append(f"邮件主题中的{label}“{subject_value}”与申报表中的“{form_value}”不一致")


def _place_from_unit(filling: _Filling, unit: str) -> None:
    """The province (and city) the form's 申报单位 names, against the subject's."""
    parsed = filling.parsed
    unit_sender = read_sender(fold_width(unit), 0)
    unit_province, unit_doubts = province_doubts(unit_sender) if unit_sender.found else (None, [])
    unit_sure = unit_province is not None and not any(d.blocking for d in unit_doubts)
    if unit_province and parsed.province is None:
        filling.take("province", unit_province)
        filling.doubts.append(Doubt("province_from_form", f"省份按申报表中的单位“{unit}”确定为{unit_province}",
                                    0.95 if unit_sure else 0.6, not unit_sure))
    elif parsed.province and unit_province and unit_province != parsed.province:
        if filling.doubtful and unit_sure:
            filling.take("province", unit_province)
            _take_from_form("province", parsed.province, unit_province, filling.notes, filling.doubts)
        else:
            filling.notes.append(f"邮件主题中的省份“{parsed.province}”与申报表单位所在省份“{unit_province}”不一致")
    elif parsed.province and unit_sure and unit_province == parsed.province and filling.doubtful:
        filling.filled.append("province")  # the form's unit confirms the province the subject was unsure of
    if unit_sender.divisions and (parsed.city is None or "organization" in filling.filled):
        filling.fields["city"] = "".join(d.name for d in unit_sender.divisions)


def _category_from_sources(filling: _Filling, form_category: str, attachment_names: Sequence[str],
                           spec: SubjectSpec) -> None:
    """The category from the form (else the attachment names), against the subject's."""
    parsed = filling.parsed
    category_no: int | None = None
    if form_category:
        hit = parse_category(form_category, spec, allow_bare_number=True, fuzzy=True)
        category_no = hit.no if hit is not None and hit.how not in ("conflict", "out_of_range") else None
        if category_no is None:
            filling.notes.append(f"申报表中的类别“{form_category}”不是本次征集的类别")
    chosen = spec.category(category_no)
    if chosen is not None and parsed.category_no is not None and chosen.no != parsed.category_no:
        if filling.doubtful:
            filling.fields["category_no"] = chosen.no
            filling.take("category", chosen.name)
            _take_from_form("category", parsed.category or "", chosen.name, filling.notes, filling.doubts)
        else:
            filling.notes.append(f"邮件主题中的类别“{parsed.category}”与申报表中的类别“{chosen.name}”不一致")
            filling.doubts.append(Doubt("category_mismatch", "邮件主题与申报表的类别不一致，请人工确认", 0.4, True))
    elif parsed.category_no is None or any(d.code in ("category_glued", "category_near") for d in parsed.doubts):
        source = "申报表"
        if category_no is None:
            category_no, source = category_from_files(attachment_names, spec), "附件名"
        chosen = spec.category(category_no)
        if chosen is not None and (parsed.category_no is None or chosen.no == parsed.category_no):
            filling.fields["category_no"] = chosen.no
            filling.take("category", chosen.name)
            filling.doubts.append(Doubt("category_from_" + ("form" if source == "申报表" else "files"),
                                        f"类别取自{source}：{chosen.name}", 1.0 if source == "申报表" else 0.85))
    elif chosen is not None and filling.doubtful:
        filling.filled.append("category")  # the form confirms the category the subject was unsure of
