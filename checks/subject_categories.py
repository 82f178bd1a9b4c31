"""Category matching for the subject parser: numbers, names, aliases and near names, and where they stand."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from checks.subject_text import (
    BOUNDARY,
    CLOSERS,
    NUMBER_PATTERN,
    OPENERS,
    QUOTES_AND_SPACES,
    REMOVED,
    SEPARATORS,
    fold_width,
    matching_close,
    name_key,
    parse_number,
    quoted_title,
    strip_edges,
)
from checks.subject_types import Category, Doubt, SubjectSpec

_CATEGORY_LABEL = re.compile(r"^(?:具体类别|所属类别|申报类别|征集类别|案例类别|参评类别|类别|类型|方向|领域)")
_CATEGORY_TAIL_WORD = re.compile(r"(?:类别|类|方向|领域|板块|类案例)$")
_NUMBER_ONLY = re.compile(rf"^第?({NUMBER_PATTERN})(?:类别|类|号)?$")
_NUMBER_THEN_NAME = re.compile(rf"^第?({NUMBER_PATTERN})(?:类别|类)?[、.:\s]*(.+)$")
_NAME_THEN_NUMBER = re.compile(rf"^(.+?)[、.:\s]*第?({NUMBER_PATTERN})(?:类别|类)?$")


@dataclass(frozen=True)
class CategoryHit:
    """A category read from a piece of the subject, and how it was recognised."""

    no: int | None  # None when the number is out of range
    how: str  # "name", "topic", "number", "both", "fuzzy", "conflict", "out_of_range"
    written: str
    other_no: int | None = None  # the number written beside a name that disagrees with it


@lru_cache(maxsize=32)
def _category_index(categories: tuple[Category, ...], topics: bool) -> dict[str, int]:
    index: dict[str, int] = {}
    for category in categories:
        for text in (category.name, *category.aliases, *(category.topics if topics else ())):
            index[name_key(text)] = category.no
    return index


def _match_name(key: str, spec: SubjectSpec, fuzzy: bool, topics: bool = False) -> tuple[int, bool] | None:
    """The category named by a normalised key: (number, was_fuzzy), or None. Topics match exactly only."""
    index = _category_index(spec.categories, topics)
    if key in index:
        return index[key], False
    stripped = _CATEGORY_TAIL_WORD.sub("", key)
    if stripped != key and stripped in index:
        return index[stripped], False
    if not fuzzy or len(key) < 4:
        return None
    scored: list[tuple[float, int]] = []
    for name, no in _category_index(spec.categories, False).items():
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


def _number_hit(number_text: str, spec: SubjectSpec, written: str) -> CategoryHit | None:
    number = parse_number(number_text)
    if number is None:
        return None
    if spec.category(number) is None:
        return CategoryHit(no=None, how="out_of_range", written=written, other_no=number)
    return CategoryHit(no=number, how="number", written=written)


def parse_category(token: str, spec: SubjectSpec, *, allow_bare_number: bool, fuzzy: bool,
                   topics: bool = True) -> CategoryHit | None:
    """Read one token as a category: 人工智能教育, 6, （六）, 类别六, 第六类, 6.人工智能教育, 人工只能教育 …;
    with ``topics`` also one of a category's topics (劳动教育, 双减 …)."""
    text = fold_width(token).strip()
    labelled = bool(_CATEGORY_LABEL.match(strip_edges(text)))
    # brackets become spaces: （一）五育并举 is 一 and 五育并举, not the numeral 一五
    compact = re.sub(r"\s+", " ", re.sub(r"[" + re.escape(OPENERS + CLOSERS) + r"]", " ", text)).strip(SEPARATORS + ".")
    compact = _CATEGORY_LABEL.sub("", compact).strip(SEPARATORS + ".")
    if not compact:
        return None
    key = name_key(compact)
    found = _match_name(key, spec, fuzzy=False, topics=topics)
    if found:
        strong = _match_name(key, spec, fuzzy=False) is not None
        return CategoryHit(no=found[0], how="name" if strong else "topic", written=token)
    decorated = labelled or bool(re.search(r"[第类()（）【】\[\]]", text))
    number_only = _NUMBER_ONLY.match(compact)
    if number_only and (allow_bare_number or decorated):
        return _number_hit(number_only.group(1), spec, token)
    for pattern, number_group, name_group in ((_NUMBER_THEN_NAME, 1, 2), (_NAME_THEN_NUMBER, 2, 1)):
        both = pattern.match(compact)
        if not both:
            continue
        named = _match_name(name_key(both.group(name_group)), spec, fuzzy=fuzzy, topics=topics)
        number = parse_number(both.group(number_group))
        if named is None or number is None:
            continue
        if named[0] != number:
            return CategoryHit(no=named[0], how="conflict", written=token, other_no=number)
        return CategoryHit(no=named[0], how="fuzzy" if named[1] else "both", written=token)
    if fuzzy:
        near = _match_name(key, spec, fuzzy=True)
        if near:
            return CategoryHit(no=near[0], how="fuzzy", written=token)
    return None


def category_doubts(hit: CategoryHit, spec: SubjectSpec) -> list[Doubt]:
    """What is doubtful about a category found: out of range, number and name disagreeing, a near name."""
    category = spec.category(hit.no)
    written = strip_edges(hit.written.strip()) or hit.written
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


def take_category(w: str, spec: SubjectSpec) -> tuple[CategoryHit | None, str, list[Doubt]]:
    """Find the category and cut it out of the working text; doubts for conflicts and guesses."""
    doubts: list[Doubt] = []
    w = w.rstrip(SEPARATORS)
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
    w = w[:start] + REMOVED + w[end:]
    other, other_start, other_end = _segment_category(w, spec)
    if other is not None and other.no is not None and other.no != hit.no:
        doubts.append(Doubt("category_twice", f"主题中出现两个类别（“{strip_edges(other.written)}”和"
                            f"“{strip_edges(hit.written)}”），请人工确认", 0.4, True))
        return None, w[:other_start] + REMOVED + w[other_end:], doubts
    return hit, w, doubts


def _boundaries(w: str) -> list[int]:
    return [i for i, ch in enumerate(w) if ch in BOUNDARY]


def _tail_category(w: str, spec: SubjectSpec) -> tuple[CategoryHit | None, int, int]:
    best: tuple[CategoryHit | None, int, int] = (None, 0, 0)
    for cut in reversed(_boundaries(w)):
        tail = w[cut:]
        if len(tail) > 40:
            break
        if w[cut] in CLOSERS or not strip_edges(tail):
            continue
        if quoted_title(tail):
            # 《…》《…》《五育并举》: a quoted group of its own may hold the category, named exactly
            if cut > 0 and w[cut - 1] not in SEPARATORS + CLOSERS:
                continue
            hit = parse_category(tail, spec, allow_bare_number=False, fuzzy=False)
            if hit is not None and hit.how in ("name", "both"):
                best = (hit, cut, len(w))
            continue
        if best[0] is not None and _glued_ordinal(w, cut, best[1]):
            break  # 课程改革（一）+教育教学改革: （一） numbers the case, the category is the name after it
        hit = parse_category(tail, spec, allow_bare_number=True, fuzzy=True)
        if hit is not None:
            best = (hit, cut, len(w))
    return best


def _glued_ordinal(w: str, start: int, category_start: int) -> bool:
    """A bracket group at ``start`` glued to the text before it and parted from the category after it by a
    separator: an ordinal of the case name (劳动教育（二）/五育并举), not a category number."""
    if start == 0 or w[start] not in OPENERS or w[start - 1] in SEPARATORS + OPENERS:
        return False  # 《县中振兴》（二）: a closing mark before it is still the case name's end
    close = matching_close(w, start)
    return close is not None and close < category_start and any(
        ch in SEPARATORS for ch in w[close + 1:category_start + 1])


_LABEL_ANYWHERE = re.compile(r"(?:具体类别|所属类别|申报类别|征集类别|案例类别|参评类别|类别)\s*:?\s*")


def _token_end(w: str, start: int) -> int:
    """End of the token starting at ``start``: a bracket group, or text up to the next boundary."""
    if start < len(w) and w[start] in OPENERS:
        close = matching_close(w, start)
        if close is not None:
            return close + 1
    end = start
    while end < len(w) and w[end] not in BOUNDARY:
        end += 1
    return end


def _labelled_category(w: str, spec: SubjectSpec) -> tuple[CategoryHit | None, int, int]:
    for label in _LABEL_ANYWHERE.finditer(w):
        end = _token_end(w, label.end())
        # "类别：（六）人工智能教育": a number group followed by a name
        if end < len(w) and w[label.end()] in OPENERS:
            end = max(end, _token_end(w, end))
        hit = parse_category(w[label.start():end], spec, allow_bare_number=True, fuzzy=True)
        if hit is not None:
            return hit, label.start(), end
    return None, 0, 0


_SEGMENT_EDGE = set(SEPARATORS + "【】[]()「」〔〕〖〗")


def _segment_category(w: str, spec: SubjectSpec) -> tuple[CategoryHit | None, int, int]:
    """A segment of its own that is exactly a category (【人工智能教育】浙江省…, …/人工智能教育/…)."""
    start = 0
    while start < len(w):
        while start < len(w) and w[start] in SEPARATORS:
            start += 1
        if start >= len(w):
            break
        end = _token_end(w, start)
        if end == start:
            end = start + 1
        token = w[start:end]
        if not quoted_title(token):
            hit = parse_category(token, spec, allow_bare_number=False, fuzzy=False, topics=False)
            before, after = w[start - 1] if start else "/", w[end] if end < len(w) else "/"
            # quotes and 《》 hold titles: a word right after “小班化” is part of the case name
            stands_alone = (before in _SEGMENT_EDGE or token[0] in OPENERS) and (
                after in _SEGMENT_EDGE or token[-1] in CLOSERS)
            if hit is not None and hit.how in ("number", "out_of_range") and before not in _SEGMENT_EDGE:
                hit = None  # 课程改革（一）: a number glued to the text before it numbers the case
            if hit is not None and stands_alone:
                # （六）人工智能教育, 人工智能教育（六）: a number group and a name written together
                if end < len(w) and w[end] not in SEPARATORS:
                    joined_end = _token_end(w, end)
                    joined = parse_category(w[start:joined_end], spec, allow_bare_number=False, fuzzy=False,
                                            topics=False)
                    if joined is not None and joined_end > end:
                        return joined, start, joined_end
                return hit, start, end
        start = end
    return None, 0, 0


def _glued_category(w: str, spec: SubjectSpec) -> tuple[CategoryHit | None, int, int]:
    """A category name written straight after the case name (…课程群建设人工智能教育)."""
    core = w.rstrip(SEPARATORS + CLOSERS)
    best: tuple[CategoryHit | None, int, int] = (None, 0, 0)
    for category in spec.categories:
        for text in (category.name, *category.aliases):
            name = fold_width(text)
            if len(name_key(name)) < 4:
                continue
            for variant in {name, QUOTES_AND_SPACES.sub("", name)}:
                if core.endswith(variant) and len(core) > len(variant) and len(variant) > best[2] - best[1]:
                    best = (CategoryHit(no=category.no, how="name", written=variant), len(core) - len(variant),
                            len(w))
    return best


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def category_from_files(attachment_names: Sequence[str], spec: SubjectSpec) -> int | None:
    found: set[int] = set()
    for name in attachment_names:
        stem = fold_width(re.split(r"[/\\]", name)[-1]).rsplit(".", 1)[0]
        hit, _, _ = _tail_category(stem, spec)
        if hit is None:
            hit, _, _ = _segment_category(stem, spec)
        if hit is not None and hit.no is not None and hit.how in ("name", "both"):
            found.add(hit.no)
    return found.pop() if len(found) == 1 else None
