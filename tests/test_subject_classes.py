"""Property tests per class of issue 17: subjects composed the way schools and offices write them, with the
truth known from the composition. A parse is either right on every field the subject settles, or it needs
review with a reason that names the doubtful field — never silently wrong."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.subject import ParsedSubject, SubjectSpec, parse_subject
from subject_corpus import names_the_doubt, same

ROOT = Path(__file__).resolve().parent.parent
with open(ROOT / "config.example.toml", "rb") as _f:
    SPEC = SubjectSpec.from_campaign(tomllib.load(_f)["campaign"])

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SEPARATORS = ("/", "+", "-", " ", "——", "／", "|")
CASES = ("“AI+劳动”课程群建设", "县中振兴的实践探索", "《整本书阅读推进》", "心理健康教育“三级预警”体系", "书院制育人模式",
         "“双减”背景下作业设计改革", "边疆民族团结教育", "红色资源融入思政课")
# (how it is written, category number)
CATEGORY_FORMS = (("人工智能教育", 6), ("五育并举", 3), ("“五育并举”育人", 3), ("教育教学改革", 5), ("（六）人工智能教育", 6),
                  ("劳动教育", 3), ("心理健康教育", 3), ("读书行动", 3), ("双减", 5), ("科技教育", 5), ("家校社协同育人", 7),
                  ("中考改革", 7), ("法治教育", 8), ("校园安全", 8), ("特殊教育", 9), ("师德师风", 10), ("思政", 1),
                  ("类别：8 法治教育", 8), ("9.特殊教育", 9), ("（三）心理健康教育", 3), ("第十类 师德师风建设", 10))


def right_or_flagged(parsed: ParsedSubject, truth: dict[str, Any], *, must_flag: bool = False) -> None:
    """Every field of ``truth`` right, or needs_review with a reason naming each wrong field."""
    got = parsed.to_json()
    wrong = [f for f, want in truth.items() if not same(got[f], want)]
    if must_flag:
        assert parsed.needs_review, (parsed.raw, got)
    if not wrong:
        return
    assert parsed.needs_review, f"silently wrong: {parsed.raw} {[(f, got[f], truth[f]) for f in wrong]}"
    for field in wrong:
        assert names_the_doubt(field, list(parsed.reasons)), (parsed.raw, field, parsed.reasons)


# ---- Units named after a university, a famous school, or a street bearing another place's name --------------

# (where the branch stands, its province) and parents whose names carry another place or none
BRANCH_PLACES = (("贵阳", "贵州省"), ("深圳", "广东省"), ("合肥", "安徽省"), ("乌兰察布", "内蒙古自治区"), ("宿迁", "江苏省"),
                 ("厦门", "福建省"), ("汕尾", "广东省"), ("嘉兴", "浙江省"), ("珠海", "广东省"), ("昆明", "云南省"))
PARENTS = ("北京师范大学", "华东师范大学", "人大附中", "清华大学附属中学", "北京八中", "南京师范大学附属中学", "华中师范大学",
           "北京大学附属中学")
BRANCH_WORDS = ("附属中学", "附属学校", "学校", "分校", "附属实验学校", "实验学校")
STREET_SCHOOLS = ("上海路小学", "北京东路小学", "江苏路小学", "宁夏路小学", "南京街第一小学", "长春路小学", "天津路小学")
CITIES = (("青岛市市南区", "山东省"), ("南京市鼓楼区", "江苏省"), ("沈阳市和平区", "辽宁省"), ("昆明市五华区", "云南省"))


@SETTINGS
@given(st.sampled_from(PARENTS), st.sampled_from(BRANCH_PLACES), st.sampled_from(BRANCH_WORDS),
       st.sampled_from(("none", "same", "other")), st.sampled_from(SEPARATORS), st.sampled_from(CASES),
       st.sampled_from(CATEGORY_FORMS))
def test_units_named_after_a_parent_school_elsewhere(parent: str, place: tuple[str, str], word: str, written: str,
                                                     sep: str, case: str, category: tuple[str, int]) -> None:
    if parent.endswith(("附中", "八中", "附属中学")) and word.startswith("附属"):
        word = "学校"  # 人大附中附属中学 is no school's name
    unit = f"{parent}{place[0]}{word}"
    province = {"none": "", "same": place[1], "other": "海南省" if place[1] != "海南省" else "青海省"}[written]
    subject = sep.join(p for p in (province, unit, case, category[0]) if p)
    parsed = parse_subject(subject, SPEC)
    truth: dict[str, Any] = {"submitter_kind": "unit", "organization": unit, "category_no": category[1],
                             "case_name": case.strip("《》")}
    if written != "other":  # a province written against the unit's own places: nobody can tell, staff decide
        truth["province"] = place[1]
    right_or_flagged(parsed, truth, must_flag=written == "other")


@SETTINGS
@given(st.sampled_from(STREET_SCHOOLS), st.sampled_from((*CITIES, ("", ""))), st.sampled_from(SEPARATORS),
       st.sampled_from(CASES), st.sampled_from(CATEGORY_FORMS))
def test_schools_named_after_a_street_bearing_a_place_name(school: str, city: tuple[str, str], sep: str, case: str,
                                                           category: tuple[str, int]) -> None:
    subject = sep.join(p for p in (f"{city[0]}{school}", case, category[0]))
    parsed = parse_subject(subject, SPEC)
    truth: dict[str, Any] = {"organization": f"{city[0]}{school}", "case_name": case.strip("《》"),
                             "category_no": category[1]}
    if city[0]:
        truth["province"] = city[1]
    else:  # the street's place name is not where the school is: the province is unknown, not taken from it
        assert parsed.province is None and parsed.needs_review, parsed.to_json()
    right_or_flagged(parsed, truth)


# ---- Categories written as one of their topics, a short form, or number and name -----------------------------

@SETTINGS
@given(st.sampled_from(("浙江省/杭州市文三街小学", "江苏省南京市琅琊路小学", "四川省成都市武侯区棕北中学")),
       st.sampled_from(SEPARATORS), st.sampled_from(CASES), st.sampled_from(CATEGORY_FORMS),
       st.sampled_from((None, 1, 2, 4, 5, 6, 7, 8, 9, 10)))
def test_category_topics_and_numbers(school: str, sep: str, case: str, category: tuple[str, int],
                                     number: int | None) -> None:
    written = category[0]
    if number is not None:  # a number written before the name, agreeing or not
        written = f"（{'一二三四五六七八九十'[number - 1]}）{category[0].split('）')[-1].split(' ')[-1].lstrip('9.')}"
    parsed = parse_subject(sep.join((school, case, written)), SPEC)
    conflict = number is not None and number != category[1]
    right_or_flagged(parsed, {"case_name": case.strip("《》"), "category_no": category[1]}, must_flag=conflict)
    if conflict:
        assert any("不一致" in r for r in parsed.reasons), parsed.reasons


# ---- Annotations, split-mail markers and ordinal suffixes ---------------------------------------------------

ANNOTATIONS = ("", "（更正版）", "(修改稿)", "（第二次提交）", "【更正】", "（修订版）", "（请以此为准）", "（最终版）")
SPLITS = (("", None), ("（附件较大，分2封发送，此为第1封）", "1/2"), ("附件较大分三封发送此为第二封", "2/3"),
          ("（附件过大，分两封发送，此为第二封）", "2/2"), ("(1/2)", "1/2"), ("第2封", "2"), ("【分3封发送，第3封】", "3/3"))
ORDINALS = ("", "之一", "之二", "（一）", "（二）", "(2)", "(3)", "（之三）", "系列之一")


@SETTINGS
@given(st.sampled_from(("浙江省/杭州市文三街小学", "湖南省长沙市雅礼中学", "广西壮族自治区南宁市第三中学")),
       st.sampled_from(SEPARATORS), st.sampled_from(CASES), st.sampled_from(ORDINALS), st.sampled_from(ANNOTATIONS),
       st.sampled_from(("case", "end", "front")), st.sampled_from(SPLITS), st.sampled_from(("end", "front")),
       st.sampled_from(CATEGORY_FORMS))
def test_annotations_splits_and_ordinals(school: str, sep: str, case: str, ordinal: str, note: str, note_at: str,
                                         split: tuple[str, str | None], split_at: str,
                                         category: tuple[str, int]) -> None:
    named = case + ordinal
    text = sep.join((school, named + (note if note_at == "case" else ""), category[0]))
    if note_at == "end":
        text += note
    elif note_at == "front":
        text = note + text
    text = split[0] + text if split_at == "front" else text + split[0]
    parsed = parse_subject(text, SPEC)
    want_case = named if ordinal else case.strip("《》")  # 《…》 enclosing the whole name is dropped, not 《…》之一
    right_or_flagged(parsed, {"case_name": want_case, "category_no": category[1], "part": split[1]})


# ---- Provincial recommendations -----------------------------------------------------------------------------

DEPARTMENTS = (("浙江省教育厅", "浙江省"), ("江苏省教育厅", "江苏省"), ("北京市教委", "北京市"), ("四川省教育厅", "四川省"),
               ("广西壮族自治区教育厅", "广西壮族自治区"), ("新疆生产建设兵团教育局", "新疆生产建设兵团"))
RECOMMENDS = ("推荐{sep}", "（推荐）{sep}", "推荐：", "择优推荐{sep}", "（推荐）")
SCHOOLS = (("{city}第一中学", ""), ("{city}实验小学", ""), ("{city}教育局", ""))
CITIES_OF = {"浙江省": "杭州市", "江苏省": "南京市", "北京市": "海淀区", "四川省": "成都市", "广西壮族自治区": "南宁市",
             "新疆生产建设兵团": "石河子市"}


@SETTINGS
@given(st.sampled_from(DEPARTMENTS), st.sampled_from(RECOMMENDS), st.sampled_from(SCHOOLS), st.booleans(),
       st.sampled_from(("/", "-", "——", " ")), st.sampled_from(CASES), st.sampled_from(CATEGORY_FORMS),
       st.booleans())
def test_provincial_recommendations(department: tuple[str, str], recommends: str, school: tuple[str, str],
                                    names_school: bool, sep: str, case: str, category: tuple[str, int],
                                    bracketed: bool) -> None:
    head = department[0] + recommends.format(sep=sep)
    if bracketed:
        head = f"【{department[0]}推荐】"
    unit = school[0].format(city=CITIES_OF[department[1]])
    parts = ([unit] if names_school else []) + [case, category[0]]
    subject = head + sep.join(parts)
    parsed = parse_subject(subject, SPEC)
    truth = {"submitter_kind": "province", "province": department[1], "case_name": case.strip("《》"),
             "category_no": category[1], "organization": unit if names_school else department[0]}
    right_or_flagged(parsed, truth)
