"""text-format on real DOCX files made by python-docx: fonts resolved through w:eastAsia and the Normal style, sizes,
line spacing, paper and margins, as the Zhuzhou call prescribes (三号黑体 / 小三号楷体 / 小四宋体, 1.5, A4)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pytest

from checks.facts import FileFacts
from ingest.samples import files as samples
from test_rules_support import ROOT, failures, file_facts, only_passes, run, submission

ZHUZHOU = {"paper": "A4", "margins_mm": list(samples.WORD_DEFAULT_MARGINS_MM), "title_font": "黑体",
           "title_size_pt": 16.0, "subtitle_font": "楷体", "subtitle_size_pt": 15.0, "body_font": "宋体",
           "body_size_pt": 12.0, "line_spacing": 1.5}
PARTS = ("案例描述", "案例分析", "案例反思")


@lru_cache(maxsize=None)
def doc(name: str, **layout: Any) -> FileFacts:
    path = ROOT / f"layout-{name}.docx"
    samples.make_formatted_docx(path, 800, PARTS, title="“作业超市”让减负提质落地", subtitle="——建设小学分层作业实践",
                                lines_before=("主持人：李红",), **layout)
    return file_facts(path, "text", f"{name}.docx")


def test_document_as_prescribed_passes() -> None:
    findings = run("text-format", submission(doc("ok")), **ZHUZHOU)
    assert only_passes(findings), [f.message for f in failures(findings)]
    assert any("标题为三号（16磅）黑体" in f.message for f in findings)
    assert any("副标题为小三（15磅）楷体" in f.message for f in findings)


def test_english_font_names_are_the_same_fonts() -> None:
    findings = run("text-format", submission(doc("english", title_font="SimHei", body_font="SimSun")), **ZHUZHOU)
    assert only_passes(findings)


@pytest.mark.parametrize(("name", "layout", "expected"), [
    ("title_song", {"title_font": "宋体"}, "标题字体为宋体，要求三号（16磅）黑体"),
    ("title_small", {"title_size_pt": 14.0}, "字号为四号（14磅）"),
    ("subtitle_fangsong", {"subtitle_font": "仿宋"}, "副标题字体为仿宋，要求小三（15磅）楷体"),
    ("body_fangsong", {"body_font": "仿宋"}, "正文"),
    ("body_five", {"body_size_pt": 10.5}, "字号为五号（10.5磅）"),
    ("single", {"line_spacing": 1.0}, "不是1.5倍行距"),
    ("letter", {"paper_mm": (215.9, 279.4)}, "不是A4"),
    ("narrow", {"margins_mm": (12.7, 12.7, 12.7, 12.7)}, "页边距为上1.27厘米"),
])
def test_each_departure_is_named(name: str, layout: dict[str, Any], expected: str) -> None:
    bad = failures(run("text-format", submission(doc(name, **layout)), **ZHUZHOU))
    assert len(bad) == 1 and expected in bad[0].message, [f.message for f in bad]
    assert bad[0].severity == "reject" and bad[0].fix


def test_body_font_comes_from_the_style_chain() -> None:
    """The body paragraphs carry no run fonts: 仿宋 is found through the Normal style. The 4 body paragraphs (主持人
    line, 3 paragraphs) are counted; the 3 section headings ("一、案例描述") are not 正文 (issue 16)."""
    facts = doc("body_fangsong", body_font="仿宋")
    body = [p for p in facts.doc.paragraphs if p.text.startswith("一、")] if facts.doc else []
    assert body and body[0].east_asian_font == "仿宋"
    bad = failures(run("text-format", submission(facts), **ZHUZHOU))
    assert "正文4段不是小四（12磅）宋体" in bad[0].message
    assert "一、" not in bad[0].message


def test_nothing_to_check_without_a_docx() -> None:
    findings = run("text-format", submission(), **ZHUZHOU)
    assert findings[0].severity == "info" and not findings[0].passed


def test_bad_parameters_stop_configuration() -> None:
    with pytest.raises(ValueError, match="margins_mm"):
        run("text-format", submission(), margins_mm=[25.4])
    with pytest.raises(ValueError, match="paper"):
        run("text-format", submission(), paper="Letter")


