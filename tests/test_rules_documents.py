"""Rules for calls that ask for named documents, named people or one of several forms of material, on real Word,
Excel and PDF files: required-documents (MoE 2024: 附件1–5 by name and content, two deadlines), material-present
(Xinhua 2024: text, video or audio), named-fields (Zhuzhou: 主持人 and 团队成员)."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from docx import Document

from checks.facts import FileFacts
from ingest.samples import files as samples
from test_rules_support import ROOT, failures, file_facts, made, only_passes, run, submission

DOCUMENTS: list[dict[str, Any]] = [
    {"name": "附件1 成果信息一览表", "file_words": ["成果信息一览表"], "content_words": ["成果信息一览表"],
     "deadline": "2024-09-10", "batch": "推广应用成果"},
    {"name": "附件2 成果简介", "file_words": ["成果简介"], "content_words": ["成果简介"], "deadline": "2024-09-10",
     "batch": "推广应用成果"},
    {"name": "附件3 成果汇总表", "file_words": ["成果汇总表"], "content_words": ["成果汇总表"],
     "deadline": "2024-09-10", "batch": "推广应用成果"},
    {"name": "附件4 成果应用方信息一览表", "file_words": ["成果应用方信息一览表"], "content_words": ["成果应用方信息一览表"],
     "deadline": "2024-10-25", "batch": "成果应用方"},
    {"name": "附件5 成果应用方汇总表", "file_words": ["成果应用方汇总表"], "content_words": ["成果应用方汇总表"],
     "deadline": "2024-10-25", "batch": "成果应用方"},
]
FORMATS = ["docx", "doc", "wps", "xlsx", "xls"]
SEPT = datetime(2024, 9, 5, 2, 0, tzinfo=timezone.utc)


@lru_cache(maxsize=None)
def xlsx(title: str) -> Path:
    path = ROOT / f"{title}.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([title])
    sheet.append(["序号", "成果名称", "成果持有方", "获奖等级"])
    sheet.append([1, "大单元教学的区域实践", "某市教科院", "一等奖"])
    book.save(str(path))
    return path


@lru_cache(maxsize=None)
def docx(title: str) -> Path:
    path = ROOT / f"{title}.docx"
    doc = Document()
    doc.add_paragraph(title)
    doc.add_paragraph("成果名称：大单元教学的区域实践。成果主要解决的教学问题与方法……")
    doc.save(str(path))
    return path


def sheet(title: str, name: str | None = None) -> FileFacts:
    return file_facts(xlsx(title), "auxiliary", name or f"{title}.xlsx")


def word(title: str, name: str | None = None) -> FileFacts:
    return file_facts(docx(title), "auxiliary", name or f"{title}.docx")


def first_batch() -> list[FileFacts]:
    return [sheet("成果信息一览表", "附件1 成果信息一览表.xlsx"), word("成果简介", "附件2.docx"),
            sheet("成果汇总表", "附件3 成果汇总表.xlsx")]


def check(*files: FileFacts, received_at: datetime = SEPT, **overrides: Any) -> list[Any]:
    return run("required-documents", submission(*files, received_at=received_at),
               **{"documents": DOCUMENTS, "formats": FORMATS, **overrides})


def test_excel_cells_are_read() -> None:
    facts = sheet("成果信息一览表")
    assert facts.sheet is not None and facts.sheet.rows == 3 and "成果信息一览表" in facts.text


def test_a_whole_batch_on_time_passes_and_names_each_form() -> None:
    findings = check(*first_batch())
    assert only_passes(findings), [f.message for f in findings]
    assert [f.message.split("：")[0] for f in findings] == ["已收到附件1 成果信息一览表", "已收到附件2 成果简介",
                                                            "已收到附件3 成果汇总表"]


def test_recognised_by_content_when_the_name_says_nothing() -> None:
    """附件2.docx has no title words in its name: its first line (成果简介) identifies it."""
    findings = check(*first_batch())
    assert any("附件2 成果简介：“附件2.docx”" in f.message for f in findings)


def test_recognised_by_name_alone_when_content_is_asked_not() -> None:
    renamed = word("说明文字", "附件3 成果汇总表.docx")
    files = [*first_batch()[:2], renamed]
    assert only_passes(check(*files))
    # Both asked: 附件2.docx lacks the name, the renamed 附件3 the content.
    bad = failures(check(*files, match="name_and_content"))
    assert [f.message.split("（")[0] for f in bad] == ["未找到附件2 成果简介", "未找到附件3 成果汇总表"]
    assert bad[0].message.endswith("（附件1 成果信息一览表、附件2 成果简介、附件3 成果汇总表须一并报送）。")


def test_a_batch_missing_a_form() -> None:
    bad = failures(check(*first_batch()[:2]))
    assert len(bad) == 1 and bad[0].message.startswith("未找到附件3 成果汇总表") and bad[0].severity == "reject"


def test_an_application_form_is_not_mistaken_for_a_holder_form() -> None:
    """成果应用方信息一览表 contains 信息一览表 but not 成果信息一览表: it is 附件4, and its batch is incomplete."""
    bad = failures(check(sheet("成果应用方信息一览表")))
    assert [f.message.split("（")[0] for f in bad] == ["未找到附件5 成果应用方汇总表"]


def test_each_form_has_its_own_deadline() -> None:
    october = datetime(2024, 10, 20, 2, 0, tzinfo=timezone.utc)
    assert only_passes(check(sheet("成果应用方信息一览表"), sheet("成果应用方汇总表"), received_at=october))
    bad = failures(check(*first_batch(), received_at=october))
    assert len(bad) == 3 and all("已超过其报送截止时间2024年9月10日" in f.message for f in bad)


def test_deadline_is_the_end_of_the_day_in_beijing() -> None:
    late_evening = datetime(2024, 9, 10, 15, 59, tzinfo=timezone.utc)  # 23:59 Beijing time
    assert only_passes(check(*first_batch(), received_at=late_evening))
    just_after = datetime(2024, 9, 10, 16, 0, tzinfo=timezone.utc)
    assert len(failures(check(*first_batch(), received_at=just_after))) == 3


def test_wrong_format_and_nothing_recognised() -> None:
    pdf = file_facts(made("born_digital.pdf"), "auxiliary", "附件1 成果信息一览表.pdf")
    bad = failures(check(pdf, *first_batch()[1:]))
    assert len(bad) == 1 and "格式不符合要求，应为Word/WPS/Excel文件" in bad[0].message
    bad = failures(check(file_facts(made("photo_small.jpg"), "photo", "合影.jpg")))
    assert len(bad) == 1 and bad[0].message.startswith("未找到规定的材料")


def test_bad_document_tables_stop_configuration() -> None:
    with pytest.raises(ValueError, match="documents\\[0\\]：未知的配置项 'title'"):
        check(documents=[{"name": "附件1", "title": "x", "file_words": ["附件1"]}])
    with pytest.raises(ValueError, match="请给出 file_words 或 content_words"):
        check(documents=[{"name": "附件1"}])
    with pytest.raises(ValueError, match="deadline"):
        check(documents=[{"name": "附件1", "file_words": ["附件1"], "deadline": "9月10日"}])


# --- material-present ---------------------------------------------------------------------------------------------


def test_material_present_accepts_any_one_form() -> None:
    video = file_facts("video_16x9_1080p.mp4", "video", "案例视频.mp4")
    findings = run("material-present", submission(video))
    assert only_passes(findings) and "视频1个" in findings[0].message
    bad = failures(run("material-present", submission(file_facts("photo_small.jpg", "photo", "封面.jpg"))))
    assert bad and bad[0].message == "未收到案例材料：文字材料、视频、音频至少需要提供一种。"


# --- named-fields ---------------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def zhuzhou_text(name: str, *lines: str) -> FileFacts:
    path = ROOT / f"named-{name}.docx"
    samples.make_formatted_docx(path, 600, ("案例描述", "案例分析", "案例反思"), title="案例", lines_before=lines)
    return file_facts(path, "text", f"{name}.docx")


def test_named_fields_found_in_the_text() -> None:
    text = zhuzhou_text("both", "主持人：李红", "团队成员：王芳、张伟")
    findings = run("named-fields", submission(text))
    assert only_passes(findings)
    assert [f.message for f in findings] == ["已写明主持人：李红（见“both.docx”）。", "已写明团队成员：王芳、张伟（见“both.docx”）。"]


def test_named_fields_found_in_a_form_table_and_the_mail_body() -> None:
    form = file_facts(made("form.docx"), "form_word", "申报表.docx")  # its table has 申报单位 | 杭州市文三街小学
    findings = run("named-fields", submission(form, body_text="团队成员: 赵一、钱二"), fields=["申报单位", "团队成员"])
    assert only_passes(findings) and "（见邮件正文）" in findings[1].message


def test_a_label_without_a_name_is_missing() -> None:
    text = zhuzhou_text("empty_host", "主持人：", "团队成员：王芳")
    bad = failures(run("named-fields", submission(text)))
    assert [f.message for f in bad] == ["材料中未写明主持人（如“主持人：姓名”）。"]


# --- MoE 2024 二(一), 二(二): what the forms list (achievements.py) ------------------------------------------------


def _sheet(tmp_path: Path, name: str, rows: list[list[Any]]) -> FileFacts:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(str(tmp_path / name))
    return file_facts(tmp_path / name, "auxiliary")


def test_achievement_awards_warn_outside_the_years_and_levels(tmp_path: Path) -> None:
    header = [["成果信息一览表"], ["序号", "成果名称", "成果持有方", "获奖年度", "获奖等级"]]
    good = _sheet(tmp_path, "附件1 成果信息一览表.xlsx", [*header, [1, "大单元教学", "海淀区", 2022, "一等奖"],
                                                          [2, "复式教学", "某县", 2018, "二等奖"]])
    found = run("achievement-awards", submission(good))
    assert only_passes(found) and "其中1项为二等奖" in found[0].message
    odd = _sheet(tmp_path, "附件3 成果汇总表.xlsx", [*header, [1, "大单元教学", "海淀区", 2022, "一等奖"],
                                                     [2, "劳动课程", "某市", 2019, "三等奖"]])
    bad = failures(run("achievement-awards", submission(odd)))
    assert len(bad) == 1 and "“劳动课程”（2019，三等奖）" in bad[0].message
    untabled = _sheet(tmp_path, "附件1 成果信息一览表（空）.xlsx", [["成果信息一览表"], ["说明：另见纸质版"]])
    assert run("achievement-awards", submission(untabled))[0].severity == "info"


def test_application_choices_two_to_three_per_applicant(tmp_path: Path) -> None:
    rows = [["成果应用方信息一览表"], ["序号", "成果应用方", "拟推广应用的成果"],
            [1, "南京市", "大单元教学"], [2, None, "复式教学"],  # merged cell: 南京市 written once
            [3, "苏州市", "大单元教学"], [4, None, "复式教学"], [5, None, "劳动课程"], [6, None, "科学实验"]]
    found = failures(run("application-choices", submission(_sheet(tmp_path, "附件4 成果应用方信息一览表.xlsx", rows))))
    assert len(found) == 1 and "苏州市（4个）" in found[0].message and "南京市" not in found[0].message
    assert only_passes(run("application-choices", submission(_sheet(tmp_path, "附件5 成果应用方汇总表.xlsx", rows[:6]))))
