"""What a submission must contain, for calls that ask for named documents or named people rather than the 2025 call's
form + text + photos:

- ``required-documents``: named documents (附件1 成果信息一览表 …), each recognised by words of its file name and/or
  of its content (Word, PDF or Excel text), in the formats allowed, each with its own deadline. Documents belong to
  batches sent together (附件1–3 by one date, 附件4–5 by a later one): a submission holding any document of a batch
  must hold the whole batch.
- ``material-present``: at least one of several forms of material (a case as text, as video or as audio).
- ``named-fields``: labels that must be filled in somewhere in the material (主持人：…, 团队成员：…).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from checks.domain import FileRole, Severity
from checks.facts import FileFacts, SubmissionFacts
from checks.registry import REGISTRY, Check, Params
from checks.rules.common import case_in_form, listing, normalise, quoted

_DOC_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str, "file_words": list, "content_words": list, "deadline": (str, dt.date), "batch": str}
_MATCH = ("name_or_content", "name_and_content", "name", "content")
_FORMAT_ZH = {"docx": "Word", "doc": "Word", "wps": "WPS", "xlsx": "Excel", "xls": "Excel", "pdf": "PDF",
              "et": "WPS表格"}


@dataclass(frozen=True)
class _Document:
    name: str
    file_words: tuple[str, ...]
    content_words: tuple[str, ...]
    deadline: dt.date | None
    batch: str


def _document(i: int, table: Mapping[str, Any]) -> _Document:
    where = f"documents[{i}]"
    stray = sorted(set(table) - set(_DOC_KEYS))
    if stray:
        raise ValueError(f"{where}：未知的配置项 {stray[0]!r}（可用：{'、'.join(sorted(_DOC_KEYS))}）")
    if not isinstance(table.get("name"), str) or not table["name"].strip():
        raise ValueError(f"{where}.name：应为非空字符串")
    words = {}
    for key in ("file_words", "content_words"):
        value = table.get(key, [])
        if not isinstance(value, (list, tuple)) or not all(isinstance(w, str) and w.strip() for w in value):
            raise ValueError(f"{where}.{key}：应为非空字符串的列表")
        words[key] = tuple(value)
    if not words["file_words"] and not words["content_words"]:
        raise ValueError(f"{where}：请给出 file_words 或 content_words（按什么认出这份材料）")
    raw = table.get("deadline", "")
    deadline: dt.date | None
    if isinstance(raw, dt.date):
        deadline = raw
    elif isinstance(raw, str):
        try:
            deadline = dt.date.fromisoformat(raw) if raw else None
        except ValueError:
            raise ValueError(f"{where}.deadline：应为日期，例如 2024-09-10，实际是 {raw!r}") from None
    else:
        raise ValueError(f"{where}.deadline：应为日期，例如 2024-09-10，实际是 {raw!r}")
    batch = table.get("batch", "")
    if not isinstance(batch, str):
        raise ValueError(f"{where}.batch：应为字符串")
    return _Document(table["name"].strip(), words["file_words"], words["content_words"], deadline, batch)


def _documents(params: Params) -> list[_Document]:
    return [_document(i, t) for i, t in enumerate(params["documents"])]


def _validate(params: Params) -> None:
    docs = _documents(params)
    if len({d.name for d in docs}) != len(docs):
        raise ValueError("documents：两份材料同名")
    if params["match"] not in _MATCH:
        raise ValueError(f"match 只能是 {'、'.join(_MATCH)} 之一")
    try:
        ZoneInfo(params["timezone"])
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"timezone：未知的时区 {params['timezone']!r}") from exc


def _extension(f: FileFacts) -> str:
    return f.base_name.rsplit(".", 1)[-1].lower() if "." in f.base_name else ""


def _by_name(f: FileFacts, d: _Document) -> bool:
    stem = normalise(f.base_name.rsplit(".", 1)[0])
    return any(normalise(w) in stem for w in d.file_words)


def _by_content(f: FileFacts, d: _Document) -> bool:
    text = normalise(f.text[:20000])
    return bool(text) and any(normalise(w) in text for w in d.content_words)


def _recognise(f: FileFacts, d: _Document, match: str) -> bool:
    name = bool(d.file_words) and _by_name(f, d)
    content = bool(d.content_words) and _by_content(f, d)
    if match == "name":
        return name
    if match == "content":
        return content
    if match == "name_and_content":
        return (name or not d.file_words) and (content or not d.content_words)
    return name or content


def _day(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


@REGISTRY.rule(id="required-documents", clause="四", severity=Severity.REJECT, title="规定材料",
               params={"documents": (list[dict], []), "match": (str, "name_or_content"),
                       "formats": (list[str], []), "other_formats_warn": (bool, False),
                       "timezone": (str, "Asia/Shanghai")},
               from_campaign={"timezone": "timezone"}, validate=_validate)
def required_documents(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    docs = _documents(params)
    if not docs:
        return
    formats = {x.lower().lstrip(".") for x in params["formats"]}
    found: dict[str, list[FileFacts]] = {d.name: [f for f in facts.files if _recognise(f, d, params["match"])]
                                         for d in docs}
    present_batches = {d.batch for d in docs if found[d.name]}
    local = facts.received_at.astimezone(ZoneInfo(params["timezone"]))
    if not present_batches:
        yield Check(False, f"未找到规定的材料（{listing((d.name for d in docs), limit=8)}）。", evidence={"found": 0},
                    fix="请按通知要求提交规定的材料，文件名写明材料名称（如“附件1 成果信息一览表”）后重新发送。")
        return
    for d in docs:
        files = found[d.name]
        if d.batch not in present_batches:
            continue
        if not files:
            together = [x.name for x in docs if x.batch == d.batch]
            yield Check(False, f"未找到{d.name}（{listing(together)}须一并报送）。", evidence={"missing": d.name},
                        fix=f"请补充{d.name}，文件名写明材料名称，与同批材料一并重新发送。")
            continue
        yield from _document_checks(d, files, formats, local, params["other_formats_warn"])


def _document_checks(d: _Document, files: list[FileFacts], formats: set[str], local: dt.datetime,
                     other_formats_warn: bool) -> Iterator[Check]:
    names = listing(quoted(f.name) for f in files)
    ok = True
    if formats:
        wrong = [f for f in files if _extension(f) not in formats]
        allowed = "/".join(dict.fromkeys(_FORMAT_ZH.get(x, x) for x in sorted(formats)))
        if wrong and len(wrong) == len(files) and other_formats_warn:
            # A call that names no format: any file is accepted; the editable version is asked for, not required.
            ok = False
            yield Check(False, f"{d.name}{names}不是可编辑版本（{allowed}），已受理；如有可编辑版本，请一并发送。",
                        file=files[0].name, evidence={"format": _extension(files[0])}, milder=Severity.WARN,
                        fix=f"建议补发{d.name}的{allowed}文件，便于汇总。")
        elif wrong and len(wrong) == len(files):
            ok = False
            yield Check(False, f"{d.name}{names}的格式不符合要求，应为{allowed}文件。", file=files[0].name,
                        evidence={"format": _extension(files[0])},
                        fix=f"请以{allowed}文件（{'、'.join('.' + x for x in sorted(formats))}）提交{d.name}。")
    if d.deadline is not None:
        end = dt.datetime.combine(d.deadline + dt.timedelta(days=1), dt.time(0), tzinfo=local.tzinfo)
        if local >= end:
            ok = False
            yield Check(False, f"{d.name}于{local:%Y年%m月%d日 %H:%M}收到，已超过其报送截止时间{_day(d.deadline)}。",
                        file=files[0].name, evidence={"deadline": d.deadline.isoformat(), "received_at": local.isoformat()},
                        fix="已逾期；如有特殊情况，请与征集工作组联系说明。")
    if ok:
        due = f"，在{_day(d.deadline)}截止前报送" if d.deadline else ""
        yield Check(True, f"已收到{d.name}：{names}{due}。", file=files[0].name)


# --- at least one form of material ------------------------------------------------------------------------------


@REGISTRY.rule(id="material-present", clause="四", severity=Severity.REJECT, title="案例表现形式",
               params={"any_of": (list[str], [FileRole.TEXT, FileRole.VIDEO, FileRole.AUDIO]),
                       "form_text_min_words": (int, 0)})
def material_present(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    roles = tuple(params["any_of"])
    wanted = "、".join(FileRole.label_of(r) for r in roles)
    present = [r for r in roles if facts.role_count(r)]
    in_form = case_in_form(facts, params["form_text_min_words"]) if FileRole.TEXT in roles else ()
    if present:
        got = "、".join(f"{FileRole.label_of(r)}{facts.role_count(r)}个" for r in present)
        yield Check(True, f"已收到案例材料：{got}。", evidence={"roles": ",".join(present)})
    elif in_form:
        words = in_form[0].doc.word_count if in_form[0].doc is not None else 0
        yield Check(True, f"案例文本写在申报表{quoted(in_form[0].name)}中（{words}字），作为文本案例受理。",
                    file=in_form[0].name, evidence={"roles": "form_text", "measured": words})
    else:
        yield Check(False, f"未收到案例材料：{wanted}至少需要提供一种。", evidence={"roles": ""},
                    fix=f"请以{wanted}中的一种或几种形式提交案例后重新发送。")


# --- labels filled in (主持人：…) --------------------------------------------------------------------------------

_SEPARATOR = r"[ \t\u3000]*[:：][ \t\u3000]*"  # on the same line: "主持人：" with the name on no line is missing


def _filled_in_lines(text: str, label: str) -> str | None:
    pattern = re.compile(rf"(?:^|[\s，,；;（(]){re.escape(label)}(?:姓名)?{_SEPARATOR}([^\s：:，,；;）)][^\n]*)", re.M)
    m = pattern.search(text)
    return m.group(1).strip()[:40] if m else None


def _filled_in_tables(f: FileFacts, label: str) -> str | None:
    if f.doc is None:
        return None
    for table in f.doc.tables:
        for row in table:
            for i, cell in enumerate(row):
                if normalise(cell) in (normalise(label), normalise(label + "姓名")):
                    value = next((c for c in row[i + 1:] if normalise(c) and normalise(c) != normalise(cell)), "")
                    if value.strip():
                        return value.strip()[:40]
    return None


@REGISTRY.rule(id="named-fields", clause="一", severity=Severity.REJECT, title="必填信息",
               params={"fields": (list[str], ["主持人", "团队成员|成员"]),
                       "roles": (list[str], [FileRole.TEXT, FileRole.FORM_WORD, FileRole.FORM_PDF]),
                       "search_mail_body": (bool, True)})
def named_fields(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    sources = [f for f in facts.files if f.role in params["roles"] and f.text]
    for field in params["fields"]:
        labels = [x.strip() for x in field.split("|") if x.strip()]
        shown = labels[0]
        value = where = None
        for label in labels:
            for f in sources:
                value = _filled_in_tables(f, label) or _filled_in_lines(f.text, label)
                if value:
                    where = quoted(f.name)
                    break
            if not value and params["search_mail_body"]:
                value = _filled_in_lines(facts.body_text, label)
                where = "邮件正文" if value else None
            if value:
                break
        if value:
            yield Check(True, f"已写明{shown}：{value}（见{where}）。", evidence={"field": shown})
        else:
            yield Check(False, f"材料中未写明{shown}（如“{shown}：姓名”）。", evidence={"field": shown},
                        fix=f"请在文字材料开头写明“{shown}：姓名”后重新发送。")
