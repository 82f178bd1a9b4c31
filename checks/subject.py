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
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Any

from checks import regions

# ---------------------------------------------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------------------------------------------

_WIDTH_FOLD = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20, 0x00A0: 0x20}


def fold_width(text: str) -> str:
    """Full-width ASCII and ideographic space → half-width, one character for one (spans stay aligned)."""
    return text.translate(_WIDTH_FOLD)


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_NUMBER = r"(?:\d{1,2}|[一二三四五六七八九十两]{1,3})"


def parse_number(text: str) -> int | None:
    """1–99 written as digits or as a Chinese numeral (六, 十, 十二, 二十三); None otherwise."""
    if text.isdigit() and text.isascii():
        return int(text)
    if not text or any(ch not in _CN_DIGITS and ch != "十" for ch in text):
        return None
    if "十" not in text:
        return _CN_DIGITS[text] if len(text) == 1 else None
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        return None
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


# Characters that separate the parts of a subject (after width folding). "\x1f" marks a removed span.
_SEPARATORS = "/\\|+_:;~、—–―-－ \x1f，,。；·•"
_OPENERS = "【[(《“\"「『〈<‘〔〖"
_CLOSERS = "】])》”\"」』〉>’〕〗"
_BOUNDARY = set(_SEPARATORS + _OPENERS + _CLOSERS)
_REMOVED = "\x1f"
_QUOTES_AND_SPACES = re.compile(r"[\s“”\"'‘’「」『』《》〈〉·•]")


def _strip_edges(text: str) -> str:
    return text.strip(_SEPARATORS + _OPENERS + _CLOSERS + ".")


def _unwrap(text: str) -> str:
    """Drop separators at both ends and brackets that enclose the whole text (《AI赋能课堂》 → AI赋能课堂)."""
    while True:
        unwrapped = _unwrap_once(text)
        if unwrapped == text:
            return text
        text = unwrapped


def _unwrap_once(text: str) -> str:
    text = text.strip(_SEPARATORS)
    while len(text) >= 2 and text[0] in _OPENERS:
        close = _CLOSERS[_OPENERS.index(text[0])]
        if text[-1] != close or _matching_close(text, 0) != len(text) - 1:
            break
        text = text[1:-1].strip(_SEPARATORS)
    # Unbalanced leftovers at the edges (a bracket whose partner was removed with the category).
    while text and text[0] in _CLOSERS:
        text = text[1:].strip(_SEPARATORS)
    while text and text[-1] in _OPENERS:
        text = text[:-1].strip(_SEPARATORS)
    if text and text[-1] in _CLOSERS and _CLOSERS[_CLOSERS.index(text[-1])] not in _opened(text):
        text = text[:-1].strip(_SEPARATORS)
    if text and text[0] in _OPENERS and _matching_close(text, 0) is None:
        text = text[1:].strip(_SEPARATORS)
    return text


def _opened(text: str) -> str:
    return "".join(_CLOSERS[_OPENERS.index(ch)] for ch in text if ch in _OPENERS)


def _matching_close(text: str, start: int) -> int | None:
    opener = text[start]
    close = _CLOSERS[_OPENERS.index(opener)]
    if opener == close:  # straight quotes: the next one closes
        nxt = text.find(close, start + 1)
        return nxt if nxt >= 0 else None
    depth = 0
    for index in range(start, len(text)):
        if text[index] == opener:
            depth += 1
        elif text[index] == close:
            depth -= 1
            if depth == 0:
                return index
    return None


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


# ---------------------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    no: int
    name: str  # canonical name, as the call writes it (“五育并举”育人)
    aliases: tuple[str, ...] = ()


_SUBJECT_KEYS = {"template", "required_marker", "template_words", "review_below", "example_province",
                 "example_organization", "example_case_name"}
_CATEGORY_KEYS = {"no", "name", "aliases"}


@dataclass(frozen=True)
class SubjectSpec:
    """What a campaign says about subjects: its categories and the format it asks for."""

    categories: tuple[Category, ...]
    template: str = ""
    required_marker: str = ""  # text every subject must carry ("" for none)
    template_words: tuple[str, ...] = ()  # words of the template senders leave in; removed before parsing
    review_below: float = 0.8  # confidence below which a subject goes to staff review
    # Placeholders of the example subject shown to senders when a part was not understood.
    example_province: str = "XX省"
    example_organization: str = "XX学校"
    example_case_name: str = "案例名称"

    @classmethod
    def from_campaign(cls, campaign: Mapping[str, Any]) -> SubjectSpec:
        """Build from the parsed ``[campaign]`` TOML table (its ``subject`` table and ``categories`` array)."""
        subject = campaign.get("subject", {})
        if not isinstance(subject, Mapping):
            raise ValueError("campaign.subject must be a table")
        unknown = sorted(set(subject) - _SUBJECT_KEYS)
        if unknown:
            raise ValueError(f"campaign.subject: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_SUBJECT_KEYS))})")
        raw_categories = campaign.get("categories")
        if not isinstance(raw_categories, Sequence) or isinstance(raw_categories, str) or not raw_categories:
            raise ValueError("campaign.categories must be a non-empty array of tables")
        categories = tuple(_category_from_table(i, table) for i, table in enumerate(raw_categories))
        _check_categories(categories)
        texts = {key: subject.get(key, default) for key, default in (
            ("template", ""), ("required_marker", ""), ("example_province", "XX省"),
            ("example_organization", "XX学校"), ("example_case_name", "案例名称"))}
        for key, value in texts.items():
            if not isinstance(value, str):
                raise ValueError(f"campaign.subject.{key} must be a string, got {value!r}")
        words = subject.get("template_words", [])
        if not isinstance(words, Sequence) or isinstance(words, str) or not all(
                isinstance(w, str) and w.strip() for w in words):
            raise ValueError("campaign.subject.template_words must be an array of non-empty strings")
        review_below = subject.get("review_below", 0.8)
        if isinstance(review_below, bool) or not isinstance(review_below, int | float) or not 0 <= review_below <= 1:
            raise ValueError(f"campaign.subject.review_below must be a number between 0 and 1, got {review_below!r}")
        return cls(categories=categories, template=texts["template"], required_marker=texts["required_marker"],
                   template_words=tuple(words), review_below=float(review_below),
                   example_province=texts["example_province"], example_organization=texts["example_organization"],
                   example_case_name=texts["example_case_name"])

    def category(self, no: int | None) -> Category | None:
        return next((c for c in self.categories if c.no == no), None)


def _category_from_table(index: int, table: Any) -> Category:
    where = f"campaign.categories[{index}]"
    if not isinstance(table, Mapping):
        raise ValueError(f"{where} must be a table")
    unknown = sorted(set(table) - _CATEGORY_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (allowed: aliases, name, no)")
    no, name, aliases = table.get("no"), table.get("name"), table.get("aliases", [])
    if isinstance(no, bool) or not isinstance(no, int) or not 1 <= no <= 99:
        raise ValueError(f"{where}.no must be a whole number from 1 to 99, got {no!r}")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}.name must be a non-empty string")
    if not isinstance(aliases, Sequence) or isinstance(aliases, str) or not all(
            isinstance(a, str) and a.strip() for a in aliases):
        raise ValueError(f"{where}.aliases must be an array of non-empty strings")
    return Category(no=no, name=name.strip(), aliases=tuple(a.strip() for a in aliases))


def _check_categories(categories: tuple[Category, ...]) -> None:
    seen_no: set[int] = set()
    owner: dict[str, int] = {}
    for category in categories:
        if category.no in seen_no:
            raise ValueError(f"campaign.categories: number {category.no} is used twice")
        seen_no.add(category.no)
        for text in (category.name, *category.aliases):
            key = _name_key(text)
            if not key:
                raise ValueError(f"campaign.categories: category {category.no} has an empty name or alias")
            if owner.get(key, category.no) != category.no:
                raise ValueError(f"campaign.categories: {text!r} names both category {owner[key]} "
                                 f"and category {category.no}")
            owner[key] = category.no


def _name_key(text: str) -> str:
    return _QUOTES_AND_SPACES.sub("", fold_width(text)).lower()


# ---------------------------------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Doubt:
    """One reason for less than full confidence."""

    code: str
    reason: str  # plain Chinese, for staff
    factor: float  # multiplies the confidence
    blocking: bool = False  # always needs review, whatever the threshold


@dataclass(frozen=True)
class ParsedSubject:
    submitter_kind: str  # "province" (provincial department's recommendation) or "unit"
    province: str | None
    city: str | None
    organization: str | None
    case_name: str | None
    category_no: int | None
    category: str | None
    part: str | None  # "1/3", "2" …
    confidence: float
    needs_review: bool
    reasons: tuple[str, ...]
    raw: str
    doubts: tuple[Doubt, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"submitter_kind": self.submitter_kind, "province": self.province, "city": self.city,
                "organization": self.organization, "case_name": self.case_name, "category_no": self.category_no,
                "category": self.category, "part": self.part, "confidence": self.confidence,
                "needs_review": self.needs_review, "reasons": list(self.reasons), "raw": self.raw}


def _with_doubts(parsed: ParsedSubject, doubts: Sequence[Doubt], spec: SubjectSpec) -> ParsedSubject:
    unique = tuple({d.code + d.reason: d for d in doubts}.values())
    confidence = 1.0
    for doubt in unique:
        confidence *= doubt.factor
    confidence = round(min(1.0, max(0.0, confidence)), 3)
    needs_review = confidence < spec.review_below or any(d.blocking for d in unique)
    return replace(parsed, doubts=unique, confidence=confidence, needs_review=needs_review,
                   reasons=tuple(d.reason for d in unique))


# ---------------------------------------------------------------------------------------------------------------
# Categories
# ---------------------------------------------------------------------------------------------------------------

_CATEGORY_LABEL = re.compile(r"^(?:具体类别|所属类别|申报类别|征集类别|案例类别|参评类别|类别|类型|方向|领域)")
_CATEGORY_TAIL_WORD = re.compile(r"(?:类别|类|方向|领域|板块|类案例)$")
_NUMBER_ONLY = re.compile(rf"^第?({_NUMBER})(?:类别|类|号)?$")
_NUMBER_THEN_NAME = re.compile(rf"^第?({_NUMBER})(?:类别|类)?[、.:\s]*(.+)$")
_NAME_THEN_NUMBER = re.compile(rf"^(.+?)[、.:\s]*第?({_NUMBER})(?:类别|类)?$")


@dataclass(frozen=True)
class _CategoryHit:
    no: int | None  # None when the number is out of range
    how: str  # "name", "number", "both", "fuzzy", "conflict", "out_of_range"
    written: str
    other_no: int | None = None  # the number written beside a name that disagrees with it


@lru_cache(maxsize=16)
def _category_index(categories: tuple[Category, ...]) -> dict[str, int]:
    index: dict[str, int] = {}
    for category in categories:
        for text in (category.name, *category.aliases):
            index[_name_key(text)] = category.no
    return index


def _match_name(key: str, spec: SubjectSpec, fuzzy: bool) -> tuple[int, bool] | None:
    """The category named by a normalised key: (number, was_fuzzy), or None."""
    index = _category_index(spec.categories)
    if key in index:
        return index[key], False
    stripped = _CATEGORY_TAIL_WORD.sub("", key)
    if stripped != key and stripped in index:
        return index[stripped], False
    if not fuzzy or len(key) < 4:
        return None
    scored: list[tuple[float, int]] = []
    for name, no in index.items():
        if len(name) < 4 or abs(len(name) - len(key)) > 1:
            continue
        distance = _edit_distance(key, name)
        ratio = SequenceMatcher(None, key, name).ratio()
        same_characters = sorted(key) == sorted(name)  # 教学教育改革 for 教育教学改革
        if distance <= (1 if len(name) <= 6 else 2) or ratio >= 0.8 or same_characters:
            scored.append((ratio - distance / 10, no))
    if not scored:
        return None
    scored.sort(reverse=True)
    if len({no for _, no in scored}) > 1 and scored[0][0] - next(s for s, n in scored if n != scored[0][1]) < 0.15:
        return None  # two categories about as near: do not guess
    return scored[0][1], True


def _number_hit(number_text: str, spec: SubjectSpec, written: str) -> _CategoryHit | None:
    number = parse_number(number_text)
    if number is None:
        return None
    if spec.category(number) is None:
        return _CategoryHit(no=None, how="out_of_range", written=written, other_no=number)
    return _CategoryHit(no=number, how="number", written=written)


def _parse_category(token: str, spec: SubjectSpec, *, allow_bare_number: bool, fuzzy: bool) -> _CategoryHit | None:
    """Read one token as a category: 人工智能教育, 6, （六）, 类别六, 第六类, 6.人工智能教育, 人工只能教育 …"""
    text = fold_width(token).strip()
    labelled = bool(_CATEGORY_LABEL.match(_strip_edges(text)))
    compact = re.sub(r"[\s" + re.escape(_OPENERS + _CLOSERS) + r"]", "", text).strip(_SEPARATORS + ".")
    compact = _CATEGORY_LABEL.sub("", compact).strip(_SEPARATORS + ".")
    if not compact:
        return None
    key = _name_key(compact)
    found = _match_name(key, spec, fuzzy=False)
    if found:
        return _CategoryHit(no=found[0], how="name", written=token)
    decorated = labelled or bool(re.search(r"[第类()（）【】\[\]]", text))
    number_only = _NUMBER_ONLY.match(compact)
    if number_only and (allow_bare_number or decorated):
        return _number_hit(number_only.group(1), spec, token)
    for pattern, number_group, name_group in ((_NUMBER_THEN_NAME, 1, 2), (_NAME_THEN_NUMBER, 2, 1)):
        both = pattern.match(compact)
        if not both:
            continue
        named = _match_name(_name_key(both.group(name_group)), spec, fuzzy=fuzzy)
        number = parse_number(both.group(number_group))
        if named is None or number is None:
            continue
        if named[0] != number:
            return _CategoryHit(no=named[0], how="conflict", written=token, other_no=number)
        return _CategoryHit(no=named[0], how="fuzzy" if named[1] else "both", written=token)
    if fuzzy:
        near = _match_name(key, spec, fuzzy=True)
        if near:
            return _CategoryHit(no=near[0], how="fuzzy", written=token)
    return None


def _category_doubts(hit: _CategoryHit, spec: SubjectSpec) -> list[Doubt]:
    category = spec.category(hit.no)
    written = _strip_edges(hit.written.strip()) or hit.written
    if hit.how == "out_of_range":
        return [Doubt("category_out_of_range", f"类别编号“{written}”不在本次征集的类别范围内", 0.4, True)]
    if category is None:
        return [Doubt("no_category", "未识别到类别", 0.4, True)]
    if hit.how == "conflict":
        return [Doubt("category_conflict", f"类别编号（{hit.other_no}）与类别名称（{category.no}."
                      f"{category.name}）不一致，请人工确认", 0.4, True)]
    if hit.how == "fuzzy":
        return [Doubt("category_near", f"类别“{written}”与征集类别名称不完全一致，按近似名称识别为“{category.name}”",
                      0.85)]
    return []


def _take_category(w: str, spec: SubjectSpec) -> tuple[_CategoryHit | None, str, list[Doubt]]:
    """Find the category and cut it out of the working text; doubts for conflicts and guesses."""
    doubts: list[Doubt] = []
    w = w.rstrip(_SEPARATORS)
    hit, start, end = _tail_category(w, spec)
    if hit is None:
        hit, start, end = _labelled_category(w, spec)
    if hit is None:
        hit, start, end = _segment_category(w, spec)
    if hit is None:
        hit, start, end = _glued_category(w, spec)
        if hit is not None:
            name = spec.category(hit.no)
            doubts.append(Doubt("category_glued", f"类别“{name.name if name else hit.written}”与案例名称连写，"
                                "按名称结尾识别，请核对案例名称", 0.75))
    if hit is None:
        return None, w, doubts
    w = w[:start] + _REMOVED + w[end:]
    other, other_start, other_end = _segment_category(w, spec)
    if other is not None and other.no is not None and other.no != hit.no:
        doubts.append(Doubt("category_twice", f"主题中出现两个类别（“{_strip_edges(other.written)}”和"
                            f"“{_strip_edges(hit.written)}”），请人工确认", 0.4, True))
        return None, w[:other_start] + _REMOVED + w[other_end:], doubts
    return hit, w, doubts


def _boundaries(w: str) -> list[int]:
    return [i for i, ch in enumerate(w) if ch in _BOUNDARY]


def _quoted_title(token: str) -> bool:
    """《…》 and “…” hold case names, never categories."""
    core = token.strip(_SEPARATORS)
    return bool(core) and core[0] in "《“\"「『" and _matching_close(core, 0) == len(core) - 1


def _tail_category(w: str, spec: SubjectSpec) -> tuple[_CategoryHit | None, int, int]:
    best: tuple[_CategoryHit | None, int, int] = (None, 0, 0)
    for cut in reversed(_boundaries(w)):
        tail = w[cut:]
        if len(tail) > 40:
            break
        if w[cut] in _CLOSERS or not _strip_edges(tail):
            continue
        if _quoted_title(tail):
            # 《…》《…》《五育并举》: a quoted group of its own may hold the category, named exactly
            if cut > 0 and w[cut - 1] not in _SEPARATORS + _CLOSERS:
                continue
            hit = _parse_category(tail, spec, allow_bare_number=False, fuzzy=False)
            if hit is not None and hit.how in ("name", "both"):
                best = (hit, cut, len(w))
            continue
        hit = _parse_category(tail, spec, allow_bare_number=True, fuzzy=True)
        if hit is not None:
            best = (hit, cut, len(w))
    return best


_LABEL_ANYWHERE = re.compile(r"(?:具体类别|所属类别|申报类别|征集类别|案例类别|参评类别|类别)\s*:?\s*")


def _token_end(w: str, start: int) -> int:
    """End of the token starting at ``start``: a bracket group, or text up to the next boundary."""
    if start < len(w) and w[start] in _OPENERS:
        close = _matching_close(w, start)
        if close is not None:
            return close + 1
    end = start
    while end < len(w) and w[end] not in _BOUNDARY:
        end += 1
    return end


def _labelled_category(w: str, spec: SubjectSpec) -> tuple[_CategoryHit | None, int, int]:
    for label in _LABEL_ANYWHERE.finditer(w):
        end = _token_end(w, label.end())
        # "类别：（六）人工智能教育": a number group followed by a name
        if end < len(w) and w[label.end()] in _OPENERS:
            end = max(end, _token_end(w, end))
        hit = _parse_category(w[label.start():end], spec, allow_bare_number=True, fuzzy=True)
        if hit is not None:
            return hit, label.start(), end
    return None, 0, 0


_SEGMENT_EDGE = set(_SEPARATORS + "【】[]()「」〔〕〖〗")


def _segment_category(w: str, spec: SubjectSpec) -> tuple[_CategoryHit | None, int, int]:
    """A segment of its own that is exactly a category (【人工智能教育】浙江省…, …/人工智能教育/…)."""
    start = 0
    while start < len(w):
        while start < len(w) and w[start] in _SEPARATORS:
            start += 1
        if start >= len(w):
            break
        end = _token_end(w, start)
        if end == start:
            end = start + 1
        token = w[start:end]
        if not _quoted_title(token):
            hit = _parse_category(token, spec, allow_bare_number=False, fuzzy=False)
            before, after = w[start - 1] if start else "/", w[end] if end < len(w) else "/"
            # quotes and 《》 hold titles: a word right after “小班化” is part of the case name
            stands_alone = (before in _SEGMENT_EDGE or token[0] in _OPENERS) and (
                after in _SEGMENT_EDGE or token[-1] in _CLOSERS)
            if hit is not None and stands_alone:
                # （六）人工智能教育, 人工智能教育（六）: a number group and a name written together
                if end < len(w) and w[end] not in _SEPARATORS:
                    joined_end = _token_end(w, end)
                    joined = _parse_category(w[start:joined_end], spec, allow_bare_number=False, fuzzy=False)
                    if joined is not None and joined_end > end:
                        return joined, start, joined_end
                return hit, start, end
        start = end
    return None, 0, 0


def _glued_category(w: str, spec: SubjectSpec) -> tuple[_CategoryHit | None, int, int]:
    """A category name written straight after the case name (…课程群建设人工智能教育)."""
    core = w.rstrip(_SEPARATORS + _CLOSERS)
    best: tuple[_CategoryHit | None, int, int] = (None, 0, 0)
    for category in spec.categories:
        for text in (category.name, *category.aliases):
            name = fold_width(text)
            if len(_name_key(name)) < 4:
                continue
            for variant in {name, _QUOTES_AND_SPACES.sub("", name)}:
                if core.endswith(variant) and len(core) > len(variant) and len(variant) > best[2] - best[1]:
                    best = (_CategoryHit(no=category.no, how="name", written=variant), len(core) - len(variant),
                            len(w))
    return best


# ---------------------------------------------------------------------------------------------------------------
# Prefixes, markers, template words, parts
# ---------------------------------------------------------------------------------------------------------------

_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|回复|答复|回覆|转发|转寄|转)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)+", re.IGNORECASE)
_TEMPLATE_REMNANT = re.compile(r"[(\[]?区[、,，\s]*市[、,，\s]*兵团[)\]]?|[Xx×]{2}[省市区]?|(?:^|(?<=[/\x1f]))学校(?=\x1f)")
_PROVINCE_RECOMMENDS = re.compile(
    r"[(\[【]?(?<![\u4e00-\u9fff])(?:省级教育行政部门推荐|省级推荐|省厅推荐|省教育厅推荐|省级教育行政部门)[)\]】]?")
_PART_PATTERNS: tuple[tuple[re.Pattern[str], int, int], ...] = (
    # (1/3), 第1/3封, [2/2]
    (re.compile(r"[(\[【]?\s*第?\s*(?<!\d)(\d{1,2})\s*/\s*(?:共\s*)?(\d{1,2})(?!\d)\s*(?:封|部分|份|个)?\s*[)\]】]?"),
     1, 2),
    # 共3封第1封, （共3封之2）
    (re.compile(rf"[(\[【]?\s*共\s*({_NUMBER})\s*(?:封|部分|份)\s*[,，、]?\s*(?:第|之)\s*({_NUMBER})\s*(?:封|部分|份)?"
                r"\s*[)\]】]?"), 2, 1),
    # 第2封, 第二封（共3封）, 第1部分
    (re.compile(rf"[(\[【]?\s*第\s*({_NUMBER})\s*(?:封|部分|份邮件|个压缩包|包)\s*(?:[,，、/(（]?\s*共\s*({_NUMBER})\s*"
                r"(?:封|部分|份)[)）]?)?\s*[)\]】]?"), 1, 2),
    # 之一, （之二）: only at a boundary, so 十大案例之一 inside a name is left alone
    (re.compile(r"[(\[【]?之([一二三四五六七八九十])[)\]】]?(?=$|[" + re.escape(_SEPARATORS + _CLOSERS) + "])"), 1, 0),
    # part 2, Part2
    (re.compile(r"(?i)\bpart\s*(\d{1,2})\b"), 1, 0),
)


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
            return part, w[: m.start()] + _REMOVED + w[m.end():]
    return None, w


def _remove_marker(w: str, marker: str) -> tuple[bool, str]:
    folded = re.sub(r"\s+", "", fold_width(marker))
    if not folded:
        return True, w
    pattern = re.compile(r"\s*".join(re.escape(ch) for ch in folded), re.IGNORECASE)
    m = pattern.search(w)
    if m is None:
        return False, w
    return True, w[: m.start()] + _REMOVED + w[m.end():]


# ---------------------------------------------------------------------------------------------------------------
# The sender: province, divisions, unit
# ---------------------------------------------------------------------------------------------------------------

_UNIT_END = re.compile(
    r"幼儿园|幼稚园|托儿所|托育园|高级中学|初级中学|中心小学|中心学校|中心校|完小|教学点|"
    r"中学校|(?<!中)小学校|(?<!中)小学|中学|学校|高中|初中|附中|附小|实小|职高|职中|中专|技校|学院|大学|书院|"
    r"第?[一二三四五六七八九十\d]{1,3}[中小幼](?![学心国部儿稚园])|"
    r"教育集团|集团|学区|教育局|教育厅|教委|教育委员会|教体局|教育和体育局|教育体育局|文教局|教育科技局|教育和科技局|"
    r"社会事业局|社会事业发展局|教育办公室|教育办|教办|教管中心|教育管理中心|教研室|教研中心|教研院|教科院|教科所|"
    r"教育科学研究院|教育科学研究所|教育研究院|教育研究所|教育研究中心|教学研究室|研究院|研究所|教师发展中心|"
    r"教师进修学校|教师进修学院|教育发展中心|研修中心|研训中心|少年宫|青少年活动中心|实践基地|活动中心|"
    r"人民政府|政府|工委|分校|分园|校区")
# Words that name a place of study inside a case name, not the end of a unit name (小学数学, 中学生 …).
_NOT_A_UNIT_AFTER = re.compile(
    r"生|段|阶段|教育|教学|课程|课堂|语文|数学|英语|物理|化学|生物|历史|地理|政治|道德|思政|科学|信息|美术|音乐|体育|劳动|心理"
    r"|部(?!门)|一体化|衔接|贯通|学[段科]")
_BUREAU = re.compile(r"^(?:教育局|教育厅|教委|教育委员会|教体局|教育和体育局|教育体育局|文教局|教育科技局|教育和科技局|"
                     r"社会事业局|社会事业发展局|教育办公室|教育办|教办|教管中心|教育管理中心|教研室|教研中心|教研院|"
                     r"教科院|教科所|教育科学研究院|教育科学研究所|教育研究院|教育研究所|教育研究中心|教学研究室|"
                     r"教师发展中心|教师进修学校|教师进修学院|教育发展中心|研修中心|研训中心|少年宫|青少年活动中心|"
                     r"实践基地|活动中心|人民政府|政府|工委|学区|第?[一二三四五六七八九十\d]{1,3}[中小幼])$")
# Verbs and phrases of case titles that never stand inside a unit's name.
_ACTION_WORDS = re.compile(r"推进|构建|打造|探索|基于|深化|助力|赋能|开展|促进|聚焦|引领|落实|实施|提升|加强|推动|"
                           r"背景下|视域|视角|路径|策略|如何|实践|课程|改革|的|让|以|与|和|及|在")
_UNIT_STOP = set(_SEPARATORS) | set(_OPENERS) | set(_CLOSERS)
_UNIT_MORE = re.compile(
    r"(?:第[一二三四五六七八九十]+)?(?:附属|附设)[^" + re.escape(_SEPARATORS + _OPENERS) + r"]{0,12}?"
    r"(?:幼儿园|小学|中学|学校|初中|高中)"
    r"|教研室|教研中心|教科所|教科院|教育研究院|教师发展中心|基础教育处|基教处"
    r"|(?:教育)?集团|[^" + re.escape(_SEPARATORS + _OPENERS) + r"]{0,5}?(?:分校|分园|校区)"
    r"|(?:初中|高中|小学|幼儿|国际|中学|本)部"
    r"|[(\[][^()\[\]]{0,8}(?:集团|校区|分校|分园|园区|本部|总校|校|部|园|学)[)\]]"
    r"|·[^" + re.escape(_SEPARATORS + _OPENERS) + r"]{1,8}?(?:校区|分校|学校)")
_PROVINCIAL_AUTHORITY = re.compile(r"(?:教育厅|教育委员会|教委|教育局|教育工委|教育工作委员会)(?:基础教育处|基教处|办公室)?")
_NOISE_WORDS = ("申报材料", "报送材料", "案例申报", "案例材料", "申报", "报送", "推荐", "投稿", "参评", "材料", "案例")


@dataclass(frozen=True)
class _Sender:
    province: str | None = None
    province_written: str | None = None
    divisions: tuple[regions.DivisionMatch, ...] = ()
    organization: str | None = None
    authority: bool = False  # the unit is a provincial education department
    region_only: bool = False  # only place names, no unit
    start: int = 0
    end: int = 0  # w[start:end] is the sender; the rest holds the case name

    @property
    def found(self) -> bool:
        return bool(self.province or self.divisions or self.organization)


def _skip(w: str, i: int, chars: str = _SEPARATORS + _OPENERS + _CLOSERS) -> int:
    while i < len(w) and w[i] in chars:
        i += 1
    return i


def _province_at(w: str, i: int) -> tuple[str, str] | None:
    province = regions.match_province_at(w, i)
    division = regions.match_division_at(w, i)
    if province and division and len(division.written) > len(province[0]):
        return None  # 吉林市, 海南藏族自治州: a division, not the province
    return province


_GENERIC_STEM = re.compile(
    r"^(?:国门|乡村|农村|薄弱|寄宿制|小规模|民族|边境|普通|县域|城区|城镇|优质|新建|公办|民办|特色|示范|未来|智慧|数字|"
    r"高原|牧区|团场|草原|义务教育|中小|各级|各类|全省|全市|全区|全县|本地|一流|品牌|新优质|百年|名|老|新|好)+$")


def _unit_end(w: str, stem_start: int, unit_start: int) -> int | None:
    """End of the unit name starting at ``unit_start`` (stem = its part after place names), or None."""
    segment_end = stem_start
    while segment_end < len(w) and w[segment_end] not in _UNIT_STOP:
        segment_end += 1
    after_places = unit_start < stem_start
    for m in _UNIT_END.finditer(w, stem_start, segment_end):
        stem = w[stem_start:m.start()]
        if _NOT_A_UNIT_AFTER.match(w, m.end()) or _ACTION_WORDS.search(stem) or len(stem) > 20:
            continue
        if not after_places and _GENERIC_STEM.match(stem):
            continue  # 国门学校, 乡村小规模学校: a kind of school in a case title, not a school's name
        # After place names any unit word completes a name (杭州市教育局, 铁门关市幼儿园, 成都七中); without
        # them a bare 教育局 names nobody and 大学/学校 need a name of two characters or more.
        needed = 0 if after_places else 1 if _BUREAU.match(m.group()) else 2
        if len(stem) < needed:
            continue
        end = m.end()
        while True:
            more = _UNIT_MORE.match(w, end)
            if more is None or more.end() == end:
                break
            end = more.end()
        # 第三高级中学校, 第一完全学校高级中学: a short rest of the segment that is itself unit words
        rest = w[end:segment_end]
        if rest and (rest in ("校", "园") or _UNIT_WORDS_ONLY.match(rest)):
            end = segment_end
        return end
    return None


_UNIT_WORDS_ONLY = re.compile(r"^(?:高级|初级|完全|中心|实验|附属|外国语|职业|特殊教育|九年一贯制|十二年一贯制)*"
                              r"(?:中学校?|小学校?|学校|高中|初中|幼儿园)$")


_LEVEL_ORDER = {"prefecture": 1, "county": 2}


def _read_places(w: str, pos: int, glued_after_province: bool
                 ) -> tuple[list[regions.DivisionMatch], int, int | None, int]:
    """Place names from ``pos``: prefecture then county, each written once. Returns them, the position after
    them, where the unit starts when a place name stands alone (浙江省/杭州市/文三街小学) or follows a glued
    province (浙江省杭州市文三街小学 → 杭州市文三街小学), and the end of the place names with their separators."""
    divisions: list[regions.DivisionMatch] = []
    unit_start: int | None = None
    region_end = pos
    level = 0
    while True:
        division = regions.match_division_at(w, pos)
        if division is None:
            break
        division_level = _LEVEL_ORDER[division.level]
        repeated = any(d.name == division.name for d in divisions)
        # Places go down (市 then 区/县); a short form (杭州) only opens the list, so 昆明市五华区长春小学 and
        # 大连市中山区中山小学 keep their school names.
        if not repeated and (division_level <= level or (divisions and division.written != division.name)):
            break
        if glued_after_province and not divisions and unit_start is None:
            unit_start = pos
        if not repeated:
            divisions.append(division)
            level = division_level
        end = pos + len(division.written)
        nxt = _skip(w, end)
        if nxt > end or nxt >= len(w):
            unit_start = pos = nxt
            region_end = _skip(w, end, _SEPARATORS)  # an opening mark after it belongs to what follows
        else:
            pos = region_end = end
    return divisions, pos, unit_start, region_end


def _read_sender(w: str, start: int) -> _Sender:
    """Read province, place names and unit at ``w[start:]`` (the start of the subject or of a segment)."""
    i = _skip(w, start)
    province = _province_at(w, i)
    p_full: str | None = None
    p_written: str | None = None
    pos = i
    unit_start = i
    glued = False
    if province:
        p_written, p_full = province
        after = i + len(p_written)
        authority = _PROVINCIAL_AUTHORITY.match(w, after)
        if authority:
            return _Sender(province=p_full, province_written=p_written, organization=w[i:authority.end()],
                           authority=True, start=start, end=authority.end())
        pos = _skip(w, after)
        glued = pos == after and pos < len(w)
        unit_start = i if glued else pos
        # the province written again at the unit's start (浙江省/浙江省杭州第二中学, 海南省海南中学)
        again = _province_at(w, pos)
        if again and again[1] == p_full:
            authority = _PROVINCIAL_AUTHORITY.match(w, pos + len(again[0]))
            if authority:
                return _Sender(province=p_full, province_written=p_written, organization=w[pos:authority.end()],
                               authority=True, start=start, end=authority.end())
            if glued:
                unit_start = pos
            pos += len(again[0])
    divisions, pos, place_unit_start, region_end = _read_places(w, pos, glued)
    if place_unit_start is not None:
        unit_start = place_unit_start
    stem_start = pos
    unit_end = _unit_end(w, stem_start, unit_start)
    sender = _Sender(province=p_full, province_written=p_written, divisions=tuple(divisions), start=start)
    if unit_end is not None:
        return replace(sender, organization=w[unit_start:unit_end], end=unit_end)
    if divisions:
        return replace(sender, region_only=True, end=region_end)
    if p_full:
        return replace(sender, end=i + len(p_written or ""))
    return replace(sender, end=start)


def _sender_in_segments(w: str) -> _Sender:
    """A unit written after or around the case name (AI赋能课堂——杭州市文三街小学, …（广州市育才实验学校）)."""
    stops = _SEPARATORS + _OPENERS + _CLOSERS
    start = 0
    while start < len(w):
        start = _skip(w, start, stops)
        end = start
        while end < len(w) and w[end] not in stops:
            end += 1
        if end > start:
            sender = _read_sender(w, start)
            if sender.organization and sender.end >= end:
                return replace(sender, start=start)
        start = end + 1
    return _Sender()


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
        return _with_doubts(empty, [Doubt("parser_fault", f"主题无法自动解析（{type(fault).__name__}），请人工处理",
                                          0.0, True)], spec)


# 校/阳光体育…, 高级中学/县中…: the unit was cut short and its end landed in the case name
_UNIT_TAIL_IN_CASE = re.compile(r"^(?:[校园]|[^/|+\s]{0,6}(?:中学|小学|学校|幼儿园|高中|初中|教育局))[/|+\s—_-]")
_NOT_A_TITLE = re.compile(r"自动回复|请查收|请查阅|无主题|你好|您好|^关于.*的(?:函|通知|报告|请示)$|^[\d\s]*$")
_ABOUT_CASE = re.compile(r"^关于(.+?)的?(?:案例)?(?:申报|报送|推荐|投稿)$")


def _clean_case_name(text: str) -> str | None:
    pieces = [_unwrap(piece) for piece in text.split(_REMOVED)]
    pieces = [p for p in pieces if p and _strip_edges(p)]
    if not pieces:
        return None
    name = max(pieces, key=len)
    for _ in range(3):
        before = name
        for word in _NOISE_WORDS:
            if name.startswith(word) and (len(name) == len(word) or name[len(word)] in _BOUNDARY):
                name = _unwrap(name[len(word):])
            if name.endswith(word) and (len(name) == len(word) or name[-len(word) - 1] in _BOUNDARY):
                name = _unwrap(name[: -len(word)])
        # 《AI赋能课堂》案例: the title is what the marks enclose
        title = re.fullmatch(r"《([^《》]+)》(?:案例|实践案例|创新案例|创新实践案例)?", name)
        if title:
            name = title.group(1).strip()
        about = _ABOUT_CASE.match(name)  # 关于AI赋能课堂的案例申报
        if about:
            name = _unwrap(about.group(1))
        if name == before:
            break
    name = re.sub(r"\s+", " ", name).strip()
    return name or None


def _province_doubts(sender: _Sender) -> tuple[str | None, list[Doubt]]:
    """The province (written or inferred from place names) and what is doubtful about it."""
    names = "、".join(d.written for d in sender.divisions)
    if sender.province:
        strangers = [d for d in sender.divisions if sender.province not in d.provinces]
        if strangers:
            where = "、".join(f"“{d.written}”（{'、'.join(d.provinces)}）" for d in strangers)
            return sender.province, [Doubt("province_conflict", f"主题中的省份“{sender.province}”与地名{where}不符，"
                                           "请人工确认", 0.5, True)]
        return sender.province, []
    if not sender.divisions:
        return None, [Doubt("no_province", "未写明省份，也无法从单位名称推断", 0.6, True)]
    common = set(sender.divisions[0].provinces)
    for division in sender.divisions[1:]:
        common &= set(division.provinces)
    if len(common) == 1:
        province = common.pop()
        return province, [Doubt("province_inferred", f"主题未写省份，按“{names}”推断为{province}", 0.95)]
    if common:
        return None, [Doubt("province_ambiguous", f"“{names}”在{'、'.join(sorted(common))}都有，无法确定省份",
                            0.6, True)]
    return None, [Doubt("province_conflict", f"地名“{names}”不属于同一省份，无法确定省份", 0.5, True)]


def _parse(text: str, spec: SubjectSpec) -> ParsedSubject:
    w = re.sub(r"\s+", " ", _CONTROL.sub(" ", fold_width(text))).strip()
    doubts: list[Doubt] = []
    empty = ParsedSubject("unit", None, None, None, None, None, None, None, 1.0, False, (), raw=text)
    if not w:
        return _with_doubts(empty, [Doubt("empty", "邮件主题为空", 0.0, True)], spec)
    reply = _REPLY_PREFIX.match(w)
    if reply:
        w = w[reply.end():]
    looks_like_prose = bool(_NOT_A_TITLE.search(w))
    if spec.required_marker:
        present, w = _remove_marker(w, spec.required_marker)
        if not present:
            doubts.append(Doubt("marker_missing", f"主题缺少规定字样“{spec.required_marker}”", 0.5, True))
    for word in sorted(spec.template_words, key=len, reverse=True):
        w = w.replace(fold_width(word), _REMOVED)
    w = _TEMPLATE_REMNANT.sub(_REMOVED, w)
    recommended = _PROVINCE_RECOMMENDS.search(w) is not None
    w = _PROVINCE_RECOMMENDS.sub(_REMOVED, w)
    part, w = _take_part(w)
    hit, w, category_doubts = _take_category(w, spec)
    doubts += category_doubts
    if hit is None and not category_doubts:
        doubts.append(Doubt("no_category", "未识别到类别", 0.4, True))
    elif hit is not None:
        doubts += _category_doubts(hit, spec)
        if hit.how == "conflict":
            hit = None  # number and name disagree: staff decide, nothing is guessed

    sender = _read_sender(w, 0)
    if not sender.organization and not sender.province and not sender.divisions:
        sender = _sender_in_segments(w)
    rest = w[: sender.start] + _REMOVED + w[sender.end:] if sender.found else w
    organization = (_unwrap(sender.organization) or None) if sender.organization else None
    if not sender.found:
        guess = _guess_unit(w)
        if guess is not None:
            organization, rest = guess
            doubts.append(Doubt("unit_guess", f"“{organization}”不像常见的单位名称，按申报单位处理，请核对", 0.7))
    case_name = _clean_case_name(rest)
    if case_name and sender.province:
        # 上海市教委推荐——上海市/“五育融合”区域推进: the province written again before the case name
        again = _province_at(case_name, 0)
        if again and again[1] == sender.province and _skip(case_name, len(again[0]), _SEPARATORS) > len(again[0]):
            case_name = _clean_case_name(case_name[len(again[0]):])
    if case_name and hit is None and not sender.found and (looks_like_prose or _NOT_A_TITLE.search(case_name)):
        case_name = None  # a sentence, an auto-reply, "（无主题）": there is no case name to read
    province, province_doubts = _province_doubts(sender)
    doubts += province_doubts

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
    if case_name is None:
        doubts.append(Doubt("no_case_name", "未识别到案例名称", 0.5, True))
    elif len(case_name) <= 2:
        doubts.append(Doubt("short_case_name", f"案例名称“{case_name}”过短，请核对", 0.7))
    category = spec.category(hit.no) if hit else None
    city = "".join(d.name for d in sender.divisions) or None
    parsed = replace(empty, submitter_kind=kind, province=province, city=city, organization=organization,
                     case_name=case_name, category_no=category.no if category else None,
                     category=category.name if category else None, part=part)
    return _with_doubts(parsed, doubts, spec)


def _guess_unit(w: str) -> tuple[str, str] | None:
    """With no place or unit word at all: a short first segment before a '/', '|', '-' is likely the unit."""
    m = re.match(r"^[" + re.escape(_SEPARATORS + _OPENERS) + r"]*([^/|\-—_" + _REMOVED + r"]{2,14}?)\s*[/|\-—_]+(.+)$", w)
    if m is None or not _strip_edges(m.group(2)) or _quoted_title(m.group(1)) or not _unwrap(m.group(1)):
        return None
    return _unwrap(m.group(1)), m.group(2)


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
    return re.sub(r"[\s" + re.escape(_SEPARATORS + _OPENERS + _CLOSERS) + r"·.、]", "", fold_width(text)).lower()


def _differs(a: str, b: str) -> bool:
    ka, kb = _compare_key(a), _compare_key(b)
    return bool(ka and kb) and ka not in kb and kb not in ka


def _name_from_files(attachment_names: Sequence[str], organization: str | None) -> str | None:
    """The case name most attachment names share once file words (申报表, 图片3 …) are removed."""
    counts: dict[str, int] = {}
    for name in attachment_names:
        stem = fold_width(re.split(r"[/\\]", name)[-1]).rsplit(".", 1)[0]
        if organization:
            stem = stem.replace(fold_width(organization), _REMOVED)
        stem = _FILE_WORDS.sub(_REMOVED, stem)
        cleaned = _clean_case_name(stem)
        if cleaned and len(cleaned) >= 4 and not cleaned.isdigit():
            counts[cleaned] = counts.get(cleaned, 0) + 1
    if not counts:
        return None
    return max(counts.items(), key=lambda item: (item[1], len(item[0])))[0]


def _category_from_files(attachment_names: Sequence[str], spec: SubjectSpec) -> int | None:
    found: set[int] = set()
    for name in attachment_names:
        stem = fold_width(re.split(r"[/\\]", name)[-1]).rsplit(".", 1)[0]
        hit, _, _ = _tail_category(stem, spec)
        if hit is None:
            hit, _, _ = _segment_category(stem, spec)
        if hit is not None and hit.no is not None and hit.how in ("name", "both"):
            found.add(hit.no)
    return found.pop() if len(found) == 1 else None


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
        unit_sender = _read_sender(fold_width(unit), 0)
        unit_province, _ = _province_doubts(unit_sender) if unit_sender.found else (None, [])
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
        if parsed.case_name is None or "short_case_name" in {d.code for d in parsed.doubts}:
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
        hit = _parse_category(form_category, spec, allow_bare_number=True, fuzzy=True)
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
            category_no, source = _category_from_files(attachment_names, spec), "附件名"
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
    return _with_doubts(completed, doubts, spec), tuple(notes)


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
