"""Text material rules (四.4(2), 四.4(3)) on real python-docx documents: "text-present", "text-length",
"text-sections"."""

from __future__ import annotations

from pathlib import Path

from docx import Document

from checks.wordcount import word_count
from ingest.samples import files as samples
from test_rules_support import failures, file_facts, made, only_passes, run, submission


def test_generated_text_has_the_asked_word_count_when_read_back() -> None:
    for n in (2999, 3000, 3001):
        doc = Document(str(made(f"text_{n}.docx")))
        assert word_count("\n".join(p.text for p in doc.paragraphs)) == n


def test_text_present_passes_with_a_text_docx() -> None:
    findings = run("text-present", submission(file_facts("text_2400.docx", "text", "文字材料.docx")))
    assert only_passes(findings) and "文字材料.docx" in findings[0].message


def test_text_present_fails_without_text_material() -> None:
    (bad,) = failures(run("text-present", submission(file_facts("form.docx", "form_word"))))
    assert bad.severity == "reject" and bad.clause == "四.4(2)"


def test_text_present_fails_for_a_scanned_text_pdf() -> None:
    (bad,) = failures(run("text-present", submission(file_facts("scan_unsealed.pdf", "text", "文字材料.pdf"))))
    assert "没有可读取的文字" in bad.message and bad.file == "文字材料.pdf"


def test_text_length_at_the_limit_passes() -> None:
    for kind in ("text_2999.docx", "text_3000.docx", "text_3000_latin.docx"):
        findings = run("text-length", submission(file_facts(kind, "text")))
        assert only_passes(findings), kind
        assert findings[0].evidence["measured"] in (2999, 3000)


def test_text_length_one_over_fails_with_measured_value() -> None:
    (bad,) = failures(run("text-length", submission(file_facts("text_3001.docx", "text", "案例.docx"))))
    assert bad.severity == "reject" and bad.evidence["measured"] == 3001 and bad.evidence["max"] == 3000
    assert "3001字" in bad.message and "3000字" in bad.message and "字数统计" in bad.fix


def test_text_length_minimum_from_config() -> None:
    (bad,) = failures(run("text-length", submission(file_facts("text_2400.docx", "text")), min_words=2500,
                          max_words=5000))
    assert "少于要求的2500字" in bad.message


def test_text_sections_all_six_found() -> None:
    findings = run("text-sections", submission(file_facts("text_2400.docx", "text")))
    assert only_passes(findings) and "全部6个部分" in findings[0].message


def test_text_sections_other_wording_is_tolerated() -> None:
    assert only_passes(run("text-sections", submission(file_facts("text_other_headings.docx", "text"))))


def test_text_sections_inline_headings_in_paragraphs(tmp_path: Path) -> None:
    doc = Document()
    for part in ("（一）基本情况。学校位于城区。", "（二）创新亮点和做法：开设课程。", "（三）问题及破解办法：统筹资源。",
                 "（四）取得的成效。成绩明显。", "（五）经验与启示。坚持育人。", "（六）下一步发展计划。继续推进。"):
        doc.add_paragraph(part)
    doc.save(str(tmp_path / "t.docx"))
    assert only_passes(run("text-sections", submission(file_facts(tmp_path / "t.docx", "text"))))


def test_text_sections_missing_parts_warn_not_reject() -> None:
    (bad,) = failures(run("text-sections", submission(file_facts("text_two_parts.docx", "text"))))
    assert bad.severity == "warn"
    assert "创新亮点和做法" in bad.message and "下一步发展计划" in bad.message and "基本情况" not in bad.message


def test_text_sections_parts_come_from_config(tmp_path: Path) -> None:
    path = tmp_path / "zhuzhou.docx"
    samples.make_text_docx(path, 2000, parts=("案例描述", "案例分析", "案例反思"))
    facts = submission(file_facts(path, "text"))
    assert only_passes(run("text-sections", facts, parts=["案例描述", "案例分析", "案例反思"]))
    assert failures(run("text-sections", facts))
