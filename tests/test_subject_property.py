"""Property tests: the subject parser never raises and always returns values within their contracts."""

from __future__ import annotations

import tomllib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.subject import SubjectSpec, example_subject, fill_from_other_sources, parse_subject

ROOT = Path(__file__).resolve().parent.parent

with open(ROOT / "config.example.toml", "rb") as _f:
    SPEC = SubjectSpec.from_campaign(tomllib.load(_f)["campaign"])
NUMBERS = {c.no for c in SPEC.categories}

# Pieces real subjects are made of, so that generated text reaches deep into the parser, mixed with anything.
PIECES = st.sampled_from([
    "浙江省", "浙江", "兵团", "新疆生产建设兵团", "杭州市", "杭州", "西湖区", "朝阳区", "第八师", "恩施州", "海南",
    "文三街小学", "教育局", "教育厅", "教委", "幼儿园", "中学校", "七中", "附属", "（集团）", "教研室",
    "AI赋能课堂", "“双减”", "《县中振兴》", "人工智能教育", "人工只能教育", "五育并举", "“五育并举”育人", "AI",
    "类别", "类别：", "第六类", "（六）", "六", "6", "11", "十", "1/3", "(2/3)", "第2封", "共3封", "之一", "part2",
    "Re:", "回复：", "转发：", "省级推荐", "基础教育创新实践案例名称", "具体类别", "XX省（区、市、兵团）",
    "/", "／", "+", "＋", "-", "——", "_", "|", "、", "：", ":", " ", "　", "【", "】", "《", "》", "“", "”", "「", "」",
    "(", ")", "（", "）", "[", "]", "〔", "〕", "·", "\x00", "\x1f", "\u200b", "\n",
])
SUBJECTS = st.one_of(
    st.text(max_size=120),
    st.lists(st.one_of(PIECES, st.text(max_size=4)), max_size=16).map("".join),
)


def _check(parsed_subject: object) -> None:
    from checks.subject import ParsedSubject

    assert isinstance(parsed_subject, ParsedSubject)
    parsed = parsed_subject
    # parse_subject turns a parser fault into a needs-review result; here no input may cause one
    assert all(d.code != "parser_fault" for d in parsed.doubts), parsed.reasons
    assert 0.0 <= parsed.confidence <= 1.0
    assert parsed.category_no is None or parsed.category_no in NUMBERS
    assert (parsed.category is None) == (parsed.category_no is None)
    assert parsed.submitter_kind in ("province", "unit")
    assert all(isinstance(r, str) and r for r in parsed.reasons)
    if parsed.confidence < SPEC.review_below:
        assert parsed.needs_review
    for value in (parsed.province, parsed.city, parsed.organization, parsed.case_name, parsed.part):
        assert value is None or (isinstance(value, str) and value.strip())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SUBJECTS)
def test_parser_never_raises_and_keeps_its_contract(text: str) -> None:
    parsed = parse_subject(text, SPEC)
    _check(parsed)
    assert parsed.raw == text
    assert isinstance(example_subject(parsed, SPEC), str)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SUBJECTS, st.lists(SUBJECTS, max_size=4), SUBJECTS, SUBJECTS, SUBJECTS)
def test_cross_check_never_raises(text: str, names: list[str], unit: str, case: str, category: str) -> None:
    parsed = parse_subject(text, SPEC)
    filled, notes = fill_from_other_sources(parsed, attachment_names=names, spec=SPEC,
                                            form_fields={"申报单位": unit, "案例名称": case, "类别": category})
    _check(filled)
    assert all(isinstance(n, str) and n for n in notes)
