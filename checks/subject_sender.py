"""The sender in a subject line: province (full or short name), prefecture/county names, then the unit."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from checks import regions
from checks.subject_text import (
    CLOSERS,
    OPENERS,
    REMOVED,
    SEPARATORS,
    quoted_title,
    skip_marks,
    strip_edges,
    unwrap,
)
from checks.subject_types import Doubt

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
                           r"背景下|视域|视角|路径|策略|如何|实践|课程|改革|的|让|以|与|和(?![平街路美谐顺睦])|及|在")
_UNIT_STOP = set(SEPARATORS) | set(OPENERS) | set(CLOSERS)
_UNIT_MORE = re.compile(
    r"(?:[^" + re.escape(SEPARATORS + OPENERS) + r"附]{0,6}?|第[一二三四五六七八九十]+)?(?:附属|附设)"
    r"[^" + re.escape(SEPARATORS + OPENERS) + r"]{0,12}?"
    r"(?:幼儿园|小学|中学|学校|初中|高中)"
    r"|教研室|教研中心|教科所|教科院|教育研究院|教师发展中心|基础教育处|基教处"
    r"|(?:教育)?集团|[^" + re.escape(SEPARATORS + OPENERS) + r"]{0,5}?(?:分校|分园|校区)"
    r"|(?:初中|高中|小学|幼儿|国际|中学|本)部"
    r"|[(\[][^()\[\]]{0,8}(?:集团|校区|分校|分园|园区|本部|总校|校|部|园|学)[)\]]"
    r"|·[^" + re.escape(SEPARATORS + OPENERS) + r"]{1,8}?(?:校区|分校|学校)"
    r"|[东西南北]校(?![园长])")
_PROVINCIAL_AUTHORITY = re.compile(r"(?:教育厅|教育委员会|教委|教育局|教育工委|教育工作委员会)(?:基础教育处|基教处|办公室)?")


@dataclass(frozen=True)
class Place:
    """A place name read inside a unit's name, and the provinces it may be in."""

    written: str
    provinces: tuple[str, ...]


@dataclass(frozen=True)
class Sender:
    province: str | None = None
    province_written: str | None = None
    divisions: tuple[regions.DivisionMatch, ...] = ()
    organization: str | None = None
    authority: bool = False  # the unit is a provincial education department
    region_only: bool = False  # only place names, no unit
    start: int = 0
    end: int = 0  # w[start:end] is the sender; the rest holds the case name
    # The province is the head of the unit's own name (北京八中, 山东省实验中学), not a prefix written apart.
    province_glued: bool = False
    # Place names inside the unit's name: evidence of where it is, not proof (see province_doubts).
    branch_places: tuple[Place, ...] = ()  # a branch's place after the parent school (人大附中深圳学校)
    name_places: tuple[Place, ...] = ()  # a place that heads a university's name (北京师范大学…附属中学)

    @property
    def found(self) -> bool:
        return bool(self.province or self.divisions or self.organization)


def province_at(w: str, i: int) -> tuple[str, str] | None:
    """(as written, full name) of a province named at ``w[i]``; None when a longer place name starts there."""
    province = regions.match_province_at(w, i)
    division = regions.match_division_at(w, i)
    if province and division and len(division.written) > len(province[0]):
        return None  # 吉林市, 海南藏族自治州: a division, not the province
    return province


_GENERIC_STEM = re.compile(
    r"^(?:国门|乡村|农村|薄弱|寄宿制|小规模|民族|边境|普通|县域|城区|城镇|优质|新建|公办|民办|特色|示范|未来|智慧|数字|"
    r"高原|牧区|团场|草原|义务教育|中小|各级|各类|全省|全市|全区|全县|本地|一流|品牌|新优质|百年|名|老|新|好)+$")


# A school's branch named after the parent (人大附中深圳学校, 清华大学附属中学合肥学校, 成都七中万达学校): what follows
# a complete parent name up to the end of its segment.
_PARENT_END = re.compile(r"(?:大学|附中|附小|附属中学|附属小学|第?[一二三四五六七八九十\d]{1,3}中|中学|学校)$")
_UNIT_WORD_AT_END = re.compile(r"(?:外国语学校|实验学校|学校|分校|校区|中学|小学)$")
_BRANCH_REST = re.compile(r"^[^的]{1,6}?(?:外国语学校|实验学校|学校|分校|校区|中学|小学)$")


def _unit_end(w: str, stem_start: int, unit_start: int) -> tuple[int, int] | None:
    """End of the unit name starting at ``unit_start`` (stem = its part after place names), and the end of
    its first complete name (what follows it names a branch: 附属中学, 深圳学校 …), or None."""
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
        elif rest and _PARENT_END.search(w, unit_start, end) and _BRANCH_REST.match(rest) and not (
                _ACTION_WORDS.search(rest) or _GENERIC_STEM.match(_UNIT_WORD_AT_END.sub("", rest))):
            end = segment_end  # not 新狮小学乡村小规模学校: a kind of school is a case name's word
        return end, m.end()
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
        if division is None or _name_borne(w, pos + len(division.written)):
            break  # 南京师范大学…, 长春路小学: the place heads another name
        division_level = _LEVEL_ORDER[division.level]
        repeated = any(d.name == division.name for d in divisions)
        # Places go down (市 then 区/县); a short form (杭州) only opens the list, so 昆明市五华区长春小学 and
        # 大连市中山区中山小学 keep their school names.
        if not repeated and (division_level <= level or (divisions and division.written != division.name
                                                        and not division.written.endswith("县"))):
            break
        if glued_after_province and not divisions and unit_start is None:
            unit_start = pos
        if not repeated:
            divisions.append(division)
            level = division_level
        end = pos + len(division.written)
        nxt = skip_marks(w, end)
        if nxt > end or nxt >= len(w):
            unit_start = pos = nxt
            region_end = skip_marks(w, end, SEPARATORS)  # an opening mark after it belongs to what follows
        else:
            pos = region_end = end
    return divisions, pos, unit_start, region_end


_RECOMMENDS = re.compile(r"\s*[(\[【（]?\s*(?:择优|正式)?推荐(?:案例|单位)?\s*[)\]】）]?")


def read_sender(w: str, start: int) -> Sender:
    """Read province, place names and unit at ``w[start:]`` (the start of the subject or of a segment).

    ``浙江省教育厅推荐/杭州市文三街小学/…``, ``浙江省教育厅（推荐）-…``: a department recommending a school. The
    school named after it is the unit (its place names count); the department makes the submitter a province
    when it is a provincial one."""
    sender = _read_sender(w, start)
    if not sender.organization:
        return sender
    recommends = _RECOMMENDS.match(w, sender.end)
    if recommends is None:
        return sender
    after = skip_marks(w, recommends.end(), SEPARATORS)
    school = _read_sender(w, after) if after < len(w) else Sender()
    if not school.organization or school.authority or (school.province and school.province != (
            sender.province or school.province)):
        if recommends.end() < len(w) and w[recommends.end()] not in _UNIT_STOP and \
                w[recommends.end() - 1] not in _UNIT_STOP:
            return sender  # 杭州市文三街小学 推荐阅读课程: 推荐 begins the case name
        return replace(sender, end=recommends.end())
    return replace(sender, divisions=school.divisions or sender.divisions, organization=school.organization,
                   region_only=False, end=school.end)


# After a place name: the place heads a street's or a university's name (上海路小学, 北京西路小学, 北京师范大学…),
# so it does not say where the unit is (a street) or only hints at it (a university's 附属 school may be anywhere).
_STREET_AFTER = re.compile(r"[东西南北中]?(?:路|街|大街|大道|巷)")
_UNIVERSITY_AFTER = re.compile(r"(?:师范|外国语|交通|理工|科技|农业|医科|工业|财经|民族|体育|第一师范|第二师范)?"
                               r"(?:大学|师大|交大)")


def _name_borne(w: str, end: int) -> str | None:
    """"street" or "university" when the place name ending at ``end`` heads such a name, else None."""
    if _STREET_AFTER.match(w, end) and regions.match_division_at(w, end) is None:  # 台州市路桥区 is no street
        return "street"
    if _UNIVERSITY_AFTER.match(w, end):
        return "university"
    return None


def _place_at(w: str, i: int) -> Place | None:
    """A province or prefecture/county name at ``w[i]`` (longest first), unless it heads a street's name."""
    province = regions.match_province_at(w, i)
    division = regions.match_division_at(w, i)
    if division and (province is None or len(division.written) > len(province[0])):
        place = Place(division.written, division.provinces)
    elif province:
        place = Place(province[0], (province[1],))
    else:
        return None
    return None if _name_borne(w, i + len(place.written)) == "street" else place


def _places_in(w: str, start: int, end: int) -> tuple[Place, ...]:
    """The first place name in ``w[start:end]`` (a branch's name: 合肥学校, 乌兰察布分校, 厦门海沧附属实验中学)."""
    for i in range(start, end - 1):
        place = _place_at(w, i)
        if place is not None and i + len(place.written) <= end:
            return (place,)
    return ()


def _read_sender(w: str, start: int) -> Sender:
    i = skip_marks(w, start)
    province = province_at(w, i)
    p_full: str | None = None
    p_written: str | None = None
    pos = i
    unit_start = i
    glued = False
    name_places: list[Place] = []
    if province and _name_borne(w, i + len(province[0])):
        # 北京师范大学贵阳附属中学, 上海路小学: the province names a university or a street, not the sender's place
        if _name_borne(w, i + len(province[0])) == "university":
            name_places.append(Place(province[0], (province[1],)))
        province = None
    if province:
        p_written, p_full = province
        after = i + len(p_written)
        authority = _PROVINCIAL_AUTHORITY.match(w, after)
        if authority:
            return Sender(province=p_full, province_written=p_written, organization=w[i:authority.end()],
                           authority=True, start=start, end=authority.end())
        pos = skip_marks(w, after)
        glued = pos == after and pos < len(w)
        unit_start = i if glued else pos
        # the province written again at the unit's start (浙江省/浙江省杭州第二中学, 海南省海南中学)
        again = province_at(w, pos)
        if again and again[1] == p_full:
            authority = _PROVINCIAL_AUTHORITY.match(w, pos + len(again[0]))
            if authority:
                return Sender(province=p_full, province_written=p_written, organization=w[pos:authority.end()],
                               authority=True, start=start, end=authority.end())
            if glued:
                unit_start = pos
            pos += len(again[0])
    divisions, pos, place_unit_start, region_end = _read_places(w, pos, glued)
    if place_unit_start is not None:
        unit_start = place_unit_start
    stem_start = pos
    head = _place_at(w, stem_start)
    university = regions.university_at(w, stem_start)
    if head is None and university is not None:
        head = Place(university[0], (university[1],))  # 华东师范大学第二附属中学: the university's place
    if head is not None and head not in name_places and (not divisions or _name_borne(w, stem_start + len(head.written))) and not (
            p_full and head.provinces == (p_full,) and not _name_borne(w, stem_start + len(head.written))):
        name_places.append(head)  # 浙江省/北京八中…, 深圳市南山区北京师范大学南山附属学校
    ends = _unit_end(w, stem_start, unit_start)
    sender = Sender(province=p_full, province_written=p_written, divisions=tuple(divisions), start=start,
                    province_glued=glued and not divisions and unit_start == i)
    if ends is not None:
        unit_end, core_end = ends
        branches = _places_in(w, core_end, unit_end)
        return replace(sender, organization=w[unit_start:unit_end], end=unit_end, branch_places=branches,
                       name_places=tuple(name_places))
    if divisions:
        return replace(sender, region_only=True, end=region_end)
    if p_full:
        return replace(sender, end=i + len(p_written or ""))
    return replace(sender, end=start)


def sender_in_segments(w: str) -> Sender:
    """A unit written after or around the case name (AI赋能课堂——杭州市文三街小学, …（广州市育才实验学校）)."""
    stops = SEPARATORS + OPENERS + CLOSERS
    start = 0
    while start < len(w):
        start = skip_marks(w, start, stops)
        end = start
        while end < len(w) and w[end] not in stops:
            end += 1
        if end > start:
            sender = read_sender(w, start)
            if sender.organization and sender.end >= end:
                return replace(sender, start=start)
        start = end + 1
    return Sender()


def _where(places: Sequence[Place]) -> str:
    return "、".join(f"“{p.written}”（{'、'.join(p.provinces)}）" for p in places)


def province_doubts(sender: Sender) -> tuple[str | None, list[Doubt]]:
    """The province (written or inferred from place names) and what is doubtful about it.

    Place names inside a unit's name are evidence, not proof: a branch's place (人大附中深圳学校) outweighs the
    parent school's (北京八中乌兰察布分校), a university's place (北京师范大学…) only hints. A written province
    stands; it is flagged when the unit's own place names all point elsewhere."""
    names = "、".join(d.written for d in sender.divisions)
    inner = (*sender.branch_places, *sender.name_places)
    if sender.province and not sender.province_glued:
        strangers = [d for d in sender.divisions if sender.province not in d.provinces]
        if strangers:
            where = "、".join(f"“{d.written}”（{'、'.join(d.provinces)}）" for d in strangers)
            return sender.province, [Doubt("province_conflict", f"主题中的省份“{sender.province}”与地名{where}不符，"
                                           "请人工确认", 0.5, True)]
        agreeing = [p for p in inner if sender.province in p.provinces]
        if inner and not agreeing and not sender.divisions:
            return sender.province, [Doubt("unit_place_conflict", f"单位名称中的{_where(inner)}与主题所写省份"
                                           f"“{sender.province}”不符，请核对申报单位与省份", 0.5, True)]
        return sender.province, []
    if sender.branch_places:
        branch = sender.branch_places[0]
        others = [*([Place(sender.province_written or "", (sender.province,))] if sender.province else []),
                  *(Place(d.written, d.provinces) for d in sender.divisions), *sender.name_places]
        strangers_of_branch = [p for p in others if not set(p.provinces) & set(branch.provinces)]
        if len(branch.provinces) == 1 and not strangers_of_branch:
            return branch.provinces[0], [Doubt("province_inferred", f"主题未写省份，按单位名称中的“{branch.written}”"
                                               f"推断为{branch.provinces[0]}", 0.95)]
        if len(branch.provinces) == 1:
            return branch.provinces[0], [Doubt(
                "unit_place_conflict", f"单位名称中的{_where([branch, *strangers_of_branch])}不在同一省份，"
                f"按“{branch.written}”推断为{branch.provinces[0]}，请核对", 0.5, True)]
    if sender.province:  # glued to the unit's name: 北京八中, 山东省实验中学
        return sender.province, []
    if not sender.divisions:
        if len(sender.name_places) == 1 and len(sender.name_places[0].provinces) == 1:
            place = sender.name_places[0]
            return place.provinces[0], [Doubt(
                "province_from_name", f"主题未写省份，按单位名称中的“{place.written}”推断为{place.provinces[0]}"
                "（校名中的地名不一定是学校所在地），请核对", 0.6, True)]
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


def guess_unit(w: str) -> tuple[str, str] | None:
    """With no place or unit word at all: a short first segment before a '/', '|', '-' is likely the unit."""
    m = re.match(r"^[" + re.escape(SEPARATORS + OPENERS) + r"]*([^/|\-—_" + REMOVED + r"]{2,14}?)\s*[/|\-—_]+(.+)$", w)
    if m is None or not strip_edges(m.group(2)) or quoted_title(m.group(1)) or not unwrap(m.group(1)):
        return None
    return unwrap(m.group(1)), m.group(2)
