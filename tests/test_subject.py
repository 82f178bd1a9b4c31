"""Subject parser: the labelled corpus (accuracy printed and asserted), configuration, cross-checks, gazetteer."""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from checks import regions
from checks.subject import (
    Category,
    ParsedSubject,
    SubjectSpec,
    example_subject,
    fill_from_other_sources,
    parse_subject,
)
from subject_corpus import FIELDS, load, names_the_doubt, same

ROOT = Path(__file__).resolve().parent.parent
JSON_KEYS = {"submitter_kind", "province", "city", "organization", "case_name", "category_no", "category", "part",
             "confidence", "needs_review", "reasons"}


@pytest.fixture(scope="module")
def campaign() -> dict[str, Any]:
    with open(ROOT / "config.example.toml", "rb") as f:
        return dict(tomllib.load(f)["campaign"])


@pytest.fixture(scope="module")
def spec(campaign: dict[str, Any]) -> SubjectSpec:
    return SubjectSpec.from_campaign(campaign)


# ---------------------------------------------------------------------------------------------------------------
# The labelled corpus
# ---------------------------------------------------------------------------------------------------------------


def test_corpus_accuracy(spec: SubjectSpec) -> None:
    rows = load()
    assert len(rows) >= 300
    wrong_fields: Counter[str] = Counter()
    fully_right = 0
    silent: list[str] = []
    unnamed: list[str] = []
    report: list[str] = []
    reviewed_right = 0
    for subject, expected in rows:
        parsed = parse_subject(subject, spec)
        got = parsed.to_json()
        bad = [f for f in FIELDS if not same(got[f], expected[f])]
        category = spec.category(expected["category_no"])
        if (category.name if category else None) != parsed.category:
            bad.append("category")
        if not bad:
            fully_right += 1
            reviewed_right += parsed.needs_review
            continue
        wrong_fields.update(bad)
        line = f"  {subject}\n    " + "; ".join(f"{f}: {got.get(f)!r} ≠ {expected.get(f)!r}" for f in bad if f != "category")
        line += f"  [review={parsed.needs_review} conf={parsed.confidence} {'；'.join(parsed.reasons)}]"
        report.append(line)
        if not parsed.needs_review:
            silent.append(line)
        elif not all(names_the_doubt(f, got["reasons"]) for f in bad):
            unnamed.append(line)
    accuracy = fully_right / len(rows)
    print(f"\nsubject corpus: {fully_right}/{len(rows)} subjects with every field right ({accuracy:.1%}); "
          f"{len(report) - len(silent)} of {len(report)} not fully right flagged needs-review; "
          f"{reviewed_right} fully right but sent to review")
    for field in FIELDS + ("category",):
        print(f"  {field:15} {1 - wrong_fields[field] / len(rows):.1%}")
    if report:
        print("not fully right:\n" + "\n".join(report))
    assert not silent, "wrong but not flagged needs-review:\n" + "\n".join(silent)
    assert not unnamed, "flagged, but no reason names the wrong field:\n" + "\n".join(unnamed)
    assert accuracy >= 0.98


def test_json_has_exactly_the_agreed_keys(spec: SubjectSpec) -> None:
    data = parse_subject("浙江省/杭州市文三街小学/AI+劳动课程群建设+人工智能教育", spec).to_json()
    assert set(data) == JSON_KEYS | {"raw"}
    assert data["category_no"] == 6 and data["category"] == "人工智能教育" and data["needs_review"] is False
    assert isinstance(data["reasons"], list)


def test_unsure_subjects_say_why(spec: SubjectSpec) -> None:
    parsed = parse_subject("朝阳区实验小学/家校社协同育人/体制机制改革", spec)
    assert parsed.province is None and parsed.needs_review
    assert any("北京市" in r and "吉林省" in r for r in parsed.reasons)
    missing = parse_subject("杭州市文三街小学申报材料", spec)
    assert missing.needs_review and "未识别到类别" in missing.reasons and "未识别到案例名称" in missing.reasons
    conflict = parse_subject("浙江省/南京市琅琊路小学/小公民道德实践/党建德育工作", spec)
    assert conflict.needs_review and any("南京市" in r for r in conflict.reasons)


def test_category_conflict_is_never_silent(spec: SubjectSpec) -> None:
    parsed = parse_subject("浙江省/杭州市文三街小学/AI赋能课堂/（五）人工智能教育", spec)
    assert parsed.needs_review
    assert any("不一致" in r for r in parsed.reasons)


# ---------------------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------------------


def test_spec_from_example_config(spec: SubjectSpec) -> None:
    assert [c.no for c in spec.categories] == list(range(1, 11))
    assert spec.category(3) == Category(3, "“五育并举”育人", spec.categories[2].aliases, spec.categories[2].topics)
    assert "劳动" in spec.categories[2].topics and "思政" in spec.categories[0].aliases
    assert spec.review_below == 0.8 and spec.required_marker == ""
    assert "基础教育创新实践案例名称" in spec.template_words


@pytest.mark.parametrize("change, message", [
    (lambda c: c["categories"].append({"no": 1, "name": "重复"}), "用了两次"),
    (lambda c: c["categories"].append({"no": 11, "name": "新类别", "aliases": ["德育"]}), "同时指向类别"),
    (lambda c: c["categories"].append({"no": 12, "name": "思政课"}), "同时指向类别"),
    (lambda c: c["subject"].update(review_below=1.5), "review_below"),
    (lambda c: c["subject"].update(templat="x"), "未知的配置项"),
    (lambda c: c["categories"].append({"no": 13, "name": "x", "alias": []}), "未知的配置项"),
    (lambda c: c["categories"].append({"no": "14", "name": "x"}), "1 到 99 的整数"),
    (lambda c: c["subject"].update(template_words="案例名称"), "template_words"),
    (lambda c: c.update(categories=[]), "非空"),
    (lambda c: c["categories"].append({"no": 15, "name": "x", "topics": "劳动"}), "topics"),
    (lambda c: c["categories"].append({"no": 16, "name": "y", "topics": ["心理健康"]}), "同时指向类别"),
])
def test_spec_rejects_bad_config(campaign: dict[str, Any], change: Any, message: str) -> None:
    bad = {**campaign, "subject": dict(campaign["subject"]),
           "categories": [dict(c) for c in campaign["categories"]]}
    change(bad)
    with pytest.raises(ValueError, match=message):
        SubjectSpec.from_campaign(bad)


XINHUA_NAMES = ("公益教育", "匠心人物", "思政育人", "就业创业", "数字教育", "科技创新", "生涯教育", "教师专业发展",
                "智慧教辅", "素质教育", "产教融合", "职业教育企业", "国际教育", "先锋品牌", "榜样集团")


def _xinhua_spec() -> SubjectSpec:
    """The 15 categories of seed 001 (新华网 2024) as a campaign table: no code change needed."""
    return SubjectSpec.from_campaign({
        "subject": {"template": "2024新华网教育优秀案例征集", "required_marker": "2024新华网教育优秀案例征集",
                    "template_words": [], "review_below": 0.8},
        "categories": [{"no": i, "name": n} for i, n in enumerate(XINHUA_NAMES, 1)],
    })


def test_another_call_with_fifteen_categories_and_a_required_marker() -> None:
    xinhua = _xinhua_spec()
    ok = parse_subject("2024新华网教育优秀案例征集-江苏省南京市第一中学-生涯规划“一生一案”-生涯教育", xinhua)
    assert (ok.category_no, ok.category, ok.province, ok.organization) == (7, "生涯教育", "江苏省", "南京市第一中学")
    assert ok.case_name == "生涯规划“一生一案”" and not ok.needs_review
    by_number = parse_subject("2024 新华网教育优秀案例征集/广州市第二中学/校企合作实训基地/第十一类", xinhua)
    assert by_number.category_no == 11 and by_number.category == "产教融合"
    missing = parse_subject("江苏省南京市第一中学-生涯规划“一生一案”-生涯教育", xinhua)
    assert missing.needs_review and any("2024新华网教育优秀案例征集" in r for r in missing.reasons)
    assert example_subject(missing, xinhua).startswith("2024新华网教育优秀案例征集")


# ---------------------------------------------------------------------------------------------------------------
# Cross-checks and the example shown to senders
# ---------------------------------------------------------------------------------------------------------------


def test_fill_from_form_and_attachments(spec: SubjectSpec) -> None:
    parsed = parse_subject("文三街小学申报材料", spec)
    assert parsed.needs_review
    names = ["附件1：文三街小学-AI赋能课堂-申报表.docx", "AI赋能课堂（文字材料）.docx", "图片1.jpg", "AI赋能课堂.mp4"]
    filled, notes = fill_from_other_sources(parsed, attachment_names=names, spec=spec,
                                            form_fields={"申报单位": "杭州市文三街小学", "类别": "（六）人工智能教育"})
    assert notes == ()
    assert (filled.province, filled.city, filled.case_name, filled.category_no) == ("浙江省", "杭州市", "AI赋能课堂", 6)
    assert "未识别到类别" not in filled.reasons and any("附件名" in r for r in filled.reasons)
    assert filled.needs_review  # a case name guessed from file names is shown to staff


def test_form_completes_subject_without_review(spec: SubjectSpec) -> None:
    parsed = parse_subject("浙江省杭州市文三街小学/AI赋能课堂", spec)
    filled, notes = fill_from_other_sources(parsed, attachment_names=[], spec=spec,
                                            form_fields={"申报单位": "杭州市文三街小学", "案例名称": "《AI赋能课堂》",
                                                         "类别": "人工智能教育"})
    assert notes == () and filled.category_no == 6 and not filled.needs_review


def test_mismatches_are_recorded(spec: SubjectSpec) -> None:
    parsed = parse_subject("浙江省/杭州市文三街小学/AI赋能课堂/人工智能教育", spec)
    filled, notes = fill_from_other_sources(
        parsed, attachment_names=["申报表.docx"], spec=spec,
        form_fields={"申报单位": "杭州市胜利实验学校", "案例名称": "劳动教育课程群", "类别": "教师队伍建设"})
    assert len(notes) == 3
    assert any("申报单位" in n for n in notes) and any("案例名称" in n for n in notes) and any("类别" in n for n in notes)
    assert filled.category_no == 6 and filled.needs_review


def test_category_from_attachment_names(spec: SubjectSpec) -> None:
    parsed = parse_subject("浙江省杭州市文三街小学/AI赋能课堂", spec)
    filled, notes = fill_from_other_sources(parsed, attachment_names=["AI赋能课堂-人工智能教育.docx", "图片.jpg"],
                                            form_fields={}, spec=spec)
    assert notes == () and filled.category_no == 6


@pytest.mark.parametrize("subject", [
    "浙江省/杭州市文三街小学/AI+劳动课程群建设+人工智能教育",
    "【省级推荐】上海市/人工智能赋能教学变革/类别六",
    "兵团教育局：兵团中小学教师培训体系建设（十）(2/3)",
    "深圳市福田区红岭中学/“创新人才早期培养”实验/教育教学改革 第2封",
])
def test_example_subject_reads_back_the_same(spec: SubjectSpec, subject: str) -> None:
    parsed = parse_subject(subject, spec)
    example = example_subject(parsed, spec)
    again = parse_subject(example, spec)
    for field in FIELDS + ("category",):
        assert getattr(again, field) == getattr(parsed, field), (example, field)


def test_example_subject_fills_placeholders(spec: SubjectSpec) -> None:
    parsed = parse_subject("文三街小学申报材料", spec)
    example = example_subject(parsed, spec)
    assert example == "XX省/文三街小学/案例名称+具体类别"


def test_empty_and_odd_input(spec: SubjectSpec) -> None:
    for text in ("", "   ", "\x00\x1f", "Re:", "+++", "（）", "《》"):
        parsed = parse_subject(text, spec)
        assert isinstance(parsed, ParsedSubject) and parsed.needs_review


# ---------------------------------------------------------------------------------------------------------------
# Gazetteer
# ---------------------------------------------------------------------------------------------------------------


def test_gazetteer_provinces_and_short_forms() -> None:
    names = regions.province_names()
    assert len(names) == 32 and regions.BINGTUAN in names
    for short, full in (("浙江", "浙江省"), ("内蒙古", "内蒙古自治区"), ("广西", "广西壮族自治区"), ("新疆", "新疆维吾尔自治区"),
                        ("宁夏", "宁夏回族自治区"), ("西藏", "西藏自治区"), ("兵团", regions.BINGTUAN), ("北京", "北京市")):
        assert regions.normalize_province(short) == full
    assert regions.match_province_at("新疆生产建设兵团第八师") == ("新疆生产建设兵团", regions.BINGTUAN)
    assert regions.normalize_province("台湾") is None


def test_gazetteer_divisions() -> None:
    assert regions.provinces_of("杭州市") == ("浙江省",)
    assert regions.provinces_of("朝阳区") == ("北京市", "吉林省")
    assert regions.provinces_of("石河子市") == (regions.BINGTUAN,)
    assert regions.provinces_of("第八师") == (regions.BINGTUAN,)
    match = regions.match_division_at("恩施州来凤县")
    assert match is not None and match.name == "恩施土家族苗族自治州" and match.provinces == ("湖北省",)
    qinghai = regions.match_division_at("海南藏族自治州共和县")
    assert qinghai is not None and qinghai.provinces == ("青海省",)
    assert regions.match_division_at("文三街小学") is None


def test_unit_glued_to_the_case_name_is_split_by_the_form(spec: SubjectSpec) -> None:
    parsed = parse_subject("山东省/潍坊市诸城市实验小学劳动教育“五育融合”课程+“五育并举”育人", spec)
    assert parsed.needs_review and parsed.case_name == "实验小学劳动教育“五育融合”课程"
    filled, _notes = fill_from_other_sources(
        parsed, attachment_names=[], spec=spec,
        form_fields={"申报单位": "山东省潍坊市诸城市实验小学", "案例名称": "劳动教育“五育融合”课程", "类别": "“五育并举”育人"})
    assert filled.case_name == "劳动教育“五育融合”课程"
    assert filled.organization == "山东省潍坊市诸城市实验小学" and not filled.needs_review


def test_a_call_without_categories_in_its_subjects_does_not_review_for_them(campaign: dict[str, Any]) -> None:
    strict = SubjectSpec.from_campaign(campaign)
    relaxed = SubjectSpec.from_campaign({**campaign, "subject": {**campaign["subject"], "category_required": False}})
    text = "浙江省/杭州市文三街小学/劳动教育课程群建设"
    assert parse_subject(text, strict).needs_review
    loose = parse_subject(text, relaxed)
    assert loose.category_no is None and "未识别到类别" not in loose.reasons
    with pytest.raises(ValueError, match="category_required"):
        SubjectSpec.from_campaign({**campaign, "subject": {**campaign["subject"], "category_required": "yes"}})
