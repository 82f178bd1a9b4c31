"""Subject-line parser: a mail subject in, clean fields out (pure, never raises).

The 2025 call asks for ``XX省（区、市、兵团）/学校基础教育创新实践案例名称+具体类别``; senders write it a hundred
ways. The parser peels the subject from the outside in, on a width-folded copy (full-width ASCII → half-width,
one character for one, so every span is also a span of what was written):

1. reply/forward prefixes, the campaign's required marker, the template's own words, part markers (1/3, 第2封);
2. the category: at the end (after the last separator), labelled (类别：…), at the front, or as a segment of its
   own; by number, Chinese numeral, name, alias or near name;
3. the sender: province (full or short name), prefecture/county names (gazetteer), then the unit up to a word
   that ends unit names (小学, 幼儿园, 教育局 …);
4. what is left is the case name.

Every doubt lowers the confidence and says why in plain Chinese; some doubts (no category, ambiguous province …)
always send the subject to staff review, whatever the configured threshold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from checks.subject_categories import category_doubts, category_from_files, parse_category, take_category
from checks.subject_sender import guess_unit, province_at, province_doubts, read_sender, sender_in_segments
from checks.subject_text import (
    BOUNDARY,
    CLOSERS,
    NUMBER_PATTERN,
    OPENERS,
    REMOVED,
    SEPARATORS,
    fold_width,
    parse_number,
    skip_marks,
    strip_edges,
    unwrap,
)
from checks.subject_types import Category, Doubt, ParsedSubject, SubjectSpec, with_doubts

# The public entry: callers import all of these from checks.subject.
__all__ = ["Category", "Doubt", "ParsedSubject", "SubjectSpec", "example_subject", "fill_from_other_sources",
           "fold_width", "parse_number", "parse_subject"]

# ---------------------------------------------------------------------------------------------------------------
# Prefixes, markers, template words, parts
# ---------------------------------------------------------------------------------------------------------------

_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|回复|答复|回覆|转发|转寄|转)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)+", re.IGNORECASE)
_TEMPLATE_REMNANT = re.compile(r"[(\[]?区[、,，\s]*市[、,，\s]*兵团[)\]]?|[Xx×]{2}[省市区]?|(?:^|(?<=[/\x1f]))学校(?=\x1f)")
_PROVINCE_RECOMMENDS = re.compile(
    r"[(\[【]?(?<![\u4e00-\u9fff])(?:省级教育行政部门推荐|省级推荐|省厅推荐|省教育厅推荐|省级教育行政部门)[)\]】]?")
_SPLIT_WORDS = r"(?:因|由于)?(?:附件|文件|材料|邮件)?(?:较大|过大|太大|超大)?\s*[,，、]?\s*"
_PART_PATTERNS: tuple[tuple[re.Pattern[str], int, int], ...] = (
    # 附件较大，分2封发送，此为第1封 / 分两次发送，第二封 / 分3封发送之1: the total is written before the index
    (re.compile(rf"[(\[【]?\s*{_SPLIT_WORDS}分\s*({NUMBER_PATTERN})\s*(?:封|次|份|个邮件|部分)\s*(?:邮件)?\s*(?:发送|发出|寄送|提交)?"
                rf"\s*[,，、;；]?\s*(?:此为|这是|本邮件为|本封为|本封是|此封为|现发)?\s*(?:第|之)\s*({NUMBER_PATTERN})\s*"
                r"(?:封|次|份|部分)?\s*[)\]】]?"), 2, 1),
    # (1/3), 第1/3封, [2/2]
    (re.compile(r"[(\[【]?\s*第?\s*(?<!\d)(\d{1,2})\s*/\s*(?:共\s*)?(\d{1,2})(?!\d)\s*(?:封|部分|份|个)?\s*[)\]】]?"),
     1, 2),
    # 共3封第1封, （共3封之2）
    (re.compile(rf"[(\[【]?\s*共\s*({NUMBER_PATTERN})\s*(?:封|部分|份)\s*[,，、]?\s*(?:第|之)\s*({NUMBER_PATTERN})\s*(?:封|部分|份)?"
                r"\s*[)\]】]?"), 2, 1),
    # 第2封, 第二封（共3封）, 第1部分
    (re.compile(rf"[(\[【]?\s*第\s*({NUMBER_PATTERN})\s*(?:封|部分|份邮件|个压缩包|包)\s*(?:[,，、/(（]?\s*共\s*({NUMBER_PATTERN})\s*"
                r"(?:封|部分|份)[)）]?)?\s*[)\]】]?"), 1, 2),
    # part 2, Part2
    (re.compile(r"(?i)\bpart\s*(\d{1,2})\b"), 1, 0),
)
# Ordinal suffixes (之一, （二）, (3)) are NOT parts: they tell a school's cases apart (劳动教育之一, 劳动教育之二 are two
# cases). They stay in the case name; see _ordinal_after_category for one written after the category.

# Notes about the mail, not part of the case name: a corrected version is a new version of the same case.
_ANNOTATION = re.compile(
    r"[(\[【]\s*(?:(?:更正|修改|修订|更新|最终|最新|重发|补发|二次修改|再次修改|修正)(?:版|稿|后)?|终稿|定稿|修改稿|"
    r"第\s*[\d一二三四五六七八九十]{1,2}\s*次(?:提交|报送|发送|修改)|(?:重新|再次|二次)(?:提交|报送|发送)|补充材料|"
    r"请?以此(?:版|稿|封)?为准)\s*[)\]】]"
    r"|(?:^|(?<=[" + re.escape(SEPARATORS) + r"]))(?:更正版|修改版|修订版|修改稿|最终版|重新提交|再次提交|补发|重发|"
    r"第\s*[\d一二三四五六七八九十]{1,2}\s*次(?:提交|报送))(?=$|[" + re.escape(SEPARATORS) + r"])")


def _take_annotations(w: str) -> tuple[list[str], str]:
    found = [m.group(0) for m in _ANNOTATION.finditer(w)]
    return found, _ANNOTATION.sub(REMOVED, w)


def _take_part(w: str) -> tuple[str | None, str]:
    for pattern, index_group, total_group in _PART_PATTERNS:
        for m in reversed(list(pattern.finditer(w))):
            if (m.start() > 0 and w[m.start() - 1] in "“《\"「『") or (m.end() < len(w) and w[m.end()] in "”》\"」』"):
                continue  # “1/2”成长课程: inside a title
            index = parse_number(m.group(index_group))
            total = parse_number(m.group(total_group)) if total_group and m.group(total_group) else None
            if index is None or index < 1 or index > 30 or (total is not None and not index <= total <= 30):
                continue
            part = f"{index}/{total}" if total else str(index)
            return part, w[: m.start()] + REMOVED + w[m.end():]
    return None, w


_TRAILING_ORDINAL = re.compile(r"[(\[【]?之(?:[一二三四五六七八九十]{1,2}|\d{1,2})[)\]】]?$")


def _ordinal_after_category(w: str, spec: SubjectSpec) -> tuple[str | None, str]:
    """``…/五育并举之一``: an ordinal glued to the category names one of several cases. It is cut off here (so
    the category is read) and appended to the case name, with a doubt."""
    core = w.rstrip(SEPARATORS)
    m = _TRAILING_ORDINAL.search(core)
    if m is None:
        return None, w
    head = core[: m.start()]
    cut = max((head.rfind(ch) for ch in SEPARATORS), default=-1)
    last = head[cut + 1:]
    if not last or parse_category(last, spec, allow_bare_number=False, fuzzy=False) is None:
        return None, w
    return m.group(0), head + REMOVED


def _remove_marker(w: str, marker: str) -> tuple[bool, str]:
    folded = re.sub(r"\s+", "", fold_width(marker))
    if not folded:
        return True, w
    pattern = re.compile(r"\s*".join(re.escape(ch) for ch in folded), re.IGNORECASE)
    m = pattern.search(w)
    if m is None:
        return False, w
    return True, w[: m.start()] + REMOVED + w[m.end():]

# ---------------------------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1e\x7f\u200b-\u200f\u2028\u2029\ufeff]")
# Errors a parser bug could raise; parse_subject turns them into a needs-review result (see there).
_PARSER_FAULTS = (ValueError, IndexError, KeyError, TypeError, AttributeError, RecursionError)


def parse_subject(text: str, spec: SubjectSpec) -> ParsedSubject:
    """Parse one subject line. Never raises: this is the isolation boundary between a sender's free text and
    the pipeline, so a parser fault becomes a needs-review result with its reason instead of a lost mail."""
    try:
        return _parse(text if isinstance(text, str) else "", spec)
    except _PARSER_FAULTS as fault:
        empty = ParsedSubject("unit", None, None, None, None, None, None, None, 0.0, True, (), raw=str(text))
        return with_doubts(empty, [Doubt("parser_fault", f"主题无法自动解析（{type(fault).__name__}），请人工处理",
                                          0.0, True)], spec)


# 校/阳光体育…, 高级中学/县中…: the unit was cut short and its end landed in the case name
_UNIT_TAIL_IN_CASE = re.compile(r"^(?:[校园]|[^/|+\s]{0,6}(?:中学|小学|学校|幼儿园|高中|初中|教育局))[/|+\s—_-]")
_NOT_A_TITLE = re.compile(r"自动回复|请查收|请查阅|无主题|你好|您好|^关于.*的(?:函|通知|报告|请示)$|^[\d\s]*$")
_ABOUT_CASE = re.compile(r"^关于(.+?)的?(?:案例)?(?:申报|报送|推荐|投稿)$")
_NOISE_WORDS = ("申报材料", "报送材料", "案例申报", "案例材料", "申报", "报送", "推荐", "投稿", "参评", "材料", "案例")


def _clean_case_name(text: str) -> str | None:
    pieces = [unwrap(piece) for piece in text.split(REMOVED)]
    pieces = [p for p in pieces if p and strip_edges(p)]
    if not pieces:
        return None
    name = max(pieces, key=len)
    for _ in range(3):
        before = name
        for word in _NOISE_WORDS:
            if name.startswith(word) and (len(name) == len(word) or name[len(word)] in BOUNDARY):
                name = unwrap(name[len(word):])
            if name.endswith(word) and (len(name) == len(word) or name[-len(word) - 1] in BOUNDARY):
                name = unwrap(name[: -len(word)])
        # 《AI赋能课堂》案例: the title is what the marks enclose
        title = re.fullmatch(r"《([^《》]+)》(?:案例|实践案例|创新案例|创新实践案例)?", name)
        if title:
            name = title.group(1).strip()
        about = _ABOUT_CASE.match(name)  # 关于AI赋能课堂的案例申报
        if about:
            name = unwrap(about.group(1))
        if name == before:
            break
    name = re.sub(r"\s+", " ", name).strip()
    return name or None

def _parse(text: str, spec: SubjectSpec) -> ParsedSubject:
    w = re.sub(r"\s+", " ", _CONTROL.sub(" ", fold_width(text))).strip()
    doubts: list[Doubt] = []
    empty = ParsedSubject("unit", None, None, None, None, None, None, None, 1.0, False, (), raw=text)
    if not w:
        return with_doubts(empty, [Doubt("empty", "邮件主题为空", 0.0, True)], spec)
    reply = _REPLY_PREFIX.match(w)
    if reply:
        w = w[reply.end():]
    looks_like_prose = bool(_NOT_A_TITLE.search(w))
    if spec.required_marker:
        present, w = _remove_marker(w, spec.required_marker)
        if not present:
            doubts.append(Doubt("marker_missing", f"主题缺少规定字样“{spec.required_marker}”", 0.5, True))
    for word in sorted(spec.template_words, key=len, reverse=True):
        w = w.replace(fold_width(word), REMOVED)
    w = _TEMPLATE_REMNANT.sub(REMOVED, w)
    recommended = _PROVINCE_RECOMMENDS.search(w) is not None
    w = _PROVINCE_RECOMMENDS.sub(REMOVED, w)
    part, w = _take_part(w)
    _annotations, w = _take_annotations(w)
    ordinal, w = _ordinal_after_category(w, spec)
    hit, w, taking_doubts = take_category(w, spec)
    doubts += taking_doubts
    if hit is None and not taking_doubts and spec.category_required:
        doubts.append(Doubt("no_category", "未识别到类别", 0.4, True))
    elif hit is not None:
        doubts += category_doubts(hit, spec)
        if hit.how == "conflict":
            hit = None  # number and name disagree: staff decide, nothing is guessed

    sender = read_sender(w, 0)
    if not sender.organization and not sender.province and not sender.divisions:
        sender = sender_in_segments(w)
    rest = w[: sender.start] + REMOVED + w[sender.end:] if sender.found else w
    organization = (unwrap(sender.organization) or None) if sender.organization else None
    if not sender.found:
        guess = guess_unit(w)
        if guess is not None:
            organization, rest = guess
            doubts.append(Doubt("unit_guess", f"“{organization}”不像常见的单位名称，按申报单位处理，请核对", 0.7))
    case_name = _clean_case_name(rest)
    if case_name and sender.province:
        # 上海市教委推荐——上海市/“五育融合”区域推进: the province written again before the case name
        again = province_at(case_name, 0)
        if again and again[1] == sender.province and skip_marks(case_name, len(again[0]), SEPARATORS) > len(again[0]):
            case_name = _clean_case_name(case_name[len(again[0]):])
    if case_name and hit is None and not sender.found and (looks_like_prose or _NOT_A_TITLE.search(case_name)):
        case_name = None  # a sentence, an auto-reply, "（无主题）": there is no case name to read
    province, place_doubts = province_doubts(sender)
    doubts += place_doubts

    kind = "province" if recommended or sender.authority or (
        sender.province and not sender.organization and not sender.divisions) else "unit"
    if kind == "unit" and organization is None:
        if sender.region_only:
            places = "".join(d.name for d in sender.divisions)
            doubts.append(Doubt("no_unit", f"只写了地名“{places}”，未写明申报单位", 0.75))
        else:
            doubts.append(Doubt("no_unit", "未写明申报单位", 0.75))
    if case_name and _UNIT_TAIL_IN_CASE.match(case_name):
        doubts.append(Doubt("case_starts_like_unit", f"案例名称“{case_name}”的开头像单位名称的一部分，请核对单位与案例名称",
                            0.6, True))
    if ordinal and case_name:
        case_name += ordinal
        doubts.append(Doubt("ordinal_after_category", f"类别后的“{ordinal}”按案例序号并入案例名称（序号不同即为不同案例）；"
                            "若它是分封发送的序号，请核对案例名称", 0.6, True))
    if case_name is None:
        doubts.append(Doubt("no_case_name", "未识别到案例名称", 0.5, True))
    elif len(case_name) <= 2:
        doubts.append(Doubt("short_case_name", f"案例名称“{case_name}”过短，请核对", 0.7))
    category = spec.category(hit.no) if hit else None
    city = "".join(d.name for d in sender.divisions) or None
    parsed = replace(empty, submitter_kind=kind, province=province, city=city, organization=organization,
                     case_name=case_name, category_no=category.no if category else None,
                     category=category.name if category else None, part=part)
    return with_doubts(parsed, doubts, spec)


# ---------------------------------------------------------------------------------------------------------------
# Cross-checks with the attachments and the application form; the example shown to senders
# ---------------------------------------------------------------------------------------------------------------

_FILE_WORDS = re.compile(r"申报表|申请表|推荐表|文字材料|案例材料|案例文本|图片材料|图片说明|图片|照片|视频|辅助材料|辅助资料|"
                         r"相关材料|附件\s*\d*|PDF版|word版|盖章版?|扫描件|说明|材料|正文|终稿|定稿|最终版|修改版|\(\d+\)|"
                         r"\d+$|^\d+[.、]", re.IGNORECASE)
_FILLED_CODES = {"organization": ("no_unit", "unit_guess"), "case_name": ("no_case_name", "short_case_name"),
                 "category": ("no_category", "category_glued", "category_near"),
                 "province": ("no_province", "province_ambiguous")}


def _compare_key(text: str) -> str:
    return re.sub(r"[\s" + re.escape(SEPARATORS + OPENERS + CLOSERS) + r"·.、]", "", fold_width(text)).lower()


def _differs(a: str, b: str) -> bool:
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
        cleaned = _clean_case_name(stem)
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


def fill_from_other_sources(parsed: ParsedSubject, *, attachment_names: Sequence[str],
                            form_fields: Mapping[str, str], spec: SubjectSpec) -> tuple[ParsedSubject, tuple[str, ...]]:
    """Complete what the subject lacks from the application form (申报单位, 案例名称, 类别) and the attachment
    names; return the completed subject and the disagreements between them (plain Chinese)."""
    notes: list[str] = []
    doubts = list(parsed.doubts)
    fields: dict[str, Any] = {}
    filled: list[str] = []

    unit = (form_fields.get("申报单位") or "").strip()
    if unit:
        if parsed.organization is None:
            fields["organization"] = unit
            filled.append("organization")
            doubts.append(Doubt("unit_from_form", f"申报单位取自申报表：{unit}", 1.0))
        elif _differs(parsed.organization, unit):
            notes.append(f"邮件主题中的申报单位“{parsed.organization}”与申报表中的“{unit}”不一致")
        unit_sender = read_sender(fold_width(unit), 0)
        unit_province, _ = province_doubts(unit_sender) if unit_sender.found else (None, [])
        if parsed.province is None and unit_province:
            fields["province"] = unit_province
            filled.append("province")
            doubts.append(Doubt("province_from_form", f"省份按申报表中的单位“{unit}”确定为{unit_province}", 0.95))
        elif parsed.province and unit_province and unit_province != parsed.province:
            notes.append(f"邮件主题中的省份“{parsed.province}”与申报表单位所在省份“{unit_province}”不一致")
        if parsed.city is None and unit_sender.divisions:
            fields["city"] = "".join(d.name for d in unit_sender.divisions)

    case_name = (form_fields.get("案例名称") or "").strip()
    if case_name:
        glued = _unit_glued_to_case(parsed.case_name, case_name, unit)
        if parsed.case_name is None or "short_case_name" in {d.code for d in parsed.doubts} or glued:
            fields["case_name"] = case_name
            filled.append("case_name")
            doubts.append(Doubt("case_from_form", f"案例名称取自申报表：{case_name}", 1.0))
        elif _differs(parsed.case_name, case_name):
            notes.append(f"邮件主题中的案例名称“{parsed.case_name}”与申报表中的“{case_name}”不一致")
    elif parsed.case_name is None:
        from_files = _name_from_files(attachment_names, parsed.organization or fields.get("organization"))
        if from_files:
            fields["case_name"] = from_files
            filled.append("case_name")
            doubts.append(Doubt("case_from_files", f"案例名称取自附件名“{from_files}”，请核对", 0.75))

    form_category = (form_fields.get("类别") or "").strip()
    category_no: int | None = None
    if form_category:
        hit = parse_category(form_category, spec, allow_bare_number=True, fuzzy=True)
        category_no = hit.no if hit is not None and hit.how not in ("conflict", "out_of_range") else None
        if category_no is None:
            notes.append(f"申报表中的类别“{form_category}”不是本次征集的类别")
    if category_no is not None and parsed.category_no is not None and category_no != parsed.category_no:
        form_name = spec.category(category_no)
        notes.append(f"邮件主题中的类别“{parsed.category}”与申报表中的类别“{form_name.name if form_name else ''}”"
                     "不一致")
        doubts.append(Doubt("category_mismatch", "邮件主题与申报表的类别不一致，请人工确认", 0.4, True))
    elif parsed.category_no is None or any(d.code in ("category_glued", "category_near") for d in parsed.doubts):
        source = "申报表"
        if category_no is None:
            category_no, source = category_from_files(attachment_names, spec), "附件名"
        chosen = spec.category(category_no)
        if chosen is not None and (parsed.category_no is None or chosen.no == parsed.category_no):
            fields["category_no"], fields["category"] = chosen.no, chosen.name
            filled.append("category")
            doubts.append(Doubt("category_from_" + ("form" if source == "申报表" else "files"),
                                f"类别取自{source}：{chosen.name}", 1.0 if source == "申报表" else 0.85))

    cleared = {code for field_name in filled for code in _FILLED_CODES.get(field_name, ())}
    if "organization" in filled and parsed.submitter_kind == "unit":
        cleared.add("no_unit")
    doubts = [d for d in doubts if d.code not in cleared]
    completed = replace(parsed, **fields)
    return with_doubts(completed, doubts, spec), tuple(notes)


def example_subject(parsed: ParsedSubject, spec: SubjectSpec) -> str:
    """A correct subject for this submission, built from what was understood (placeholders for the rest)."""
    province = parsed.province or spec.example_province
    if parsed.submitter_kind == "province" and not parsed.organization:
        sender = province
    else:
        unit = parsed.organization or spec.example_organization
        sender = f"{province}/{unit}" if not unit.startswith(province) else unit
    category = parsed.category or "具体类别"
    subject = f"{sender}/{parsed.case_name or spec.example_case_name}+{category}"
    if parsed.part:
        subject += f"（{parsed.part}）" if "/" in parsed.part else f"（第{parsed.part}封）"
    if spec.required_marker:
        subject = f"{spec.required_marker}：{subject}"
    return subject
