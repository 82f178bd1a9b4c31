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
from dataclasses import replace

from checks.subject_categories import category_doubts, parse_category, take_category
from checks.subject_form import fill_from_other_sources
from checks.subject_sender import guess_unit, province_at, province_doubts, read_sender, sender_in_segments
from checks.subject_text import (
    CLOSERS,
    NUMBER_PATTERN,
    OPENERS,
    REMOVED,
    SEPARATORS,
    clean_case_name,
    fold_width,
    parse_number,
    skip_marks,
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
    r"请?以此(?:版|稿|封)?为准|(?:附件|文件)(?:较大|过大|太大))\s*[)\]】]"
    r"|(?:^|(?<=[" + re.escape(SEPARATORS) + r"]))(?:更正版|修改版|修订版|修改稿|最终版|重新提交|再次提交|补发|重发|"
    r"(?:附件|文件)(?:较大|过大|太大)|"
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
            w = w[: m.start()] + REMOVED + w[m.end():]
            if total is None:  # 附件过大分两封-第2封, 共两封，此为第一封: the total written apart from the index
                whole = _TOTAL_ONLY.search(w)
                number = parse_number(whole.group(1)) if whole else None
                if whole and number is not None and index <= number <= 30:
                    total, w = number, w[: whole.start()] + REMOVED + w[whole.end():]
            return (f"{index}/{total}" if total else str(index)), w
    return None, w


_TOTAL_ONLY = re.compile(rf"[(\[【]?\s*{_SPLIT_WORDS}(?:分|共)\s*({NUMBER_PATTERN})\s*(?:封|次|份|个邮件)\s*(?:邮件)?\s*"
                         r"(?:发送|发出|寄送|提交)?\s*[,，、;；]?\s*(?:此为|这是|本邮件为|本封为|本封是|此封为)?\s*[)\]】]?")


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
    case_name = clean_case_name(rest)
    if case_name and sender.province:
        # 上海市教委推荐——上海市/“五育融合”区域推进: the province written again before the case name
        again = province_at(case_name, 0)
        if again and again[1] == sender.province and skip_marks(case_name, len(again[0]), SEPARATORS) > len(again[0]):
            case_name = clean_case_name(case_name[len(again[0]):])
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


_UNIT_WORDS = ("学校", "小学", "中学", "幼儿园", "学院", "大学", "教育局", "教育厅", "教委", "教育委员会", "中心", "研究院",
               "教研室", "督导室")


def sender_as_unit(display_name: str) -> str | None:
    """The sender's display name when it names a unit ("江苏省教育厅", "芦淞区建设小学"), else None."""
    name = display_name.strip().strip('"')
    return name if 3 <= len(name) <= 40 and any(w in name for w in _UNIT_WORDS) else None


def unprescribed_subject(parsed: ParsedSubject, spec: SubjectSpec) -> ParsedSubject:
    """A call that prescribes no subject format: the subject is no reason for review when the fields could be read
    (from the subject, the 申报表, the attachments' names or the sender's name). Doubts that two sources disagree
    still send it to staff."""
    if spec.prescribed or not parsed.needs_review:
        return parsed
    complete = bool(parsed.case_name) and bool(parsed.organization or parsed.province) and (
        parsed.category_no is not None or not spec.category_required)
    if not complete or any(d.code.endswith("mismatch") for d in parsed.doubts):
        return parsed
    return replace(parsed, needs_review=False,
                   reasons=(*parsed.reasons, "本次征集未规定邮件主题格式，字段取自邮件和附件"))
