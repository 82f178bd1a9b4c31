"""Application form rules (四.3, 四.4(1)) on real DOCX and PDF files: "form-versions", "form-pdf-scan",
"form-pdf-seal"."""

from __future__ import annotations

from test_rules_support import failures, file_facts, only_passes, run, submission


def test_form_versions_both_present_passes() -> None:
    facts = submission(file_facts("form.docx", "form_word"), file_facts("scan_sealed.pdf", "form_pdf"))
    findings = run("form-versions", facts)
    assert only_passes(findings)
    assert "齐全" in findings[0].message


def test_form_versions_missing_pdf_fails_with_clause_4_4_1() -> None:
    findings = run("form-versions", submission(file_facts("form.docx", "form_word")))
    (bad,) = failures(findings)
    assert bad.severity == "reject" and bad.clause == "四.4(1)"
    assert "PDF" in bad.message and "公章" in bad.fix


def test_form_versions_missing_word_fails() -> None:
    (bad,) = failures(run("form-versions", submission(file_facts("scan_sealed.pdf", "form_pdf"))))
    assert bad.clause == "四.3" and "Word" in bad.message


def test_form_pdf_scan_passes_for_image_only_pages() -> None:
    findings = run("form-pdf-scan", submission(file_facts("scan_sealed.pdf", "form_pdf")))
    assert only_passes(findings) and "扫描件" in findings[0].message
    assert findings[0].evidence["pages"] == 2


def test_form_pdf_scan_accepts_an_invisible_ocr_layer() -> None:
    findings = run("form-pdf-scan", submission(file_facts("ocr_sealed.pdf", "form_pdf")))
    assert only_passes(findings) and "文字识别层" in findings[0].message


def test_form_pdf_scan_ocr_layer_can_be_refused_by_config() -> None:
    findings = run("form-pdf-scan", submission(file_facts("ocr_sealed.pdf", "form_pdf")), accept_ocr_layer=False)
    assert failures(findings)


def test_form_pdf_scan_fails_for_a_born_digital_pdf() -> None:
    (bad,) = failures(run("form-pdf-scan", submission(file_facts("born_digital.pdf", "form_pdf"))))
    assert bad.severity == "warn" and "第1、2页" in bad.message and "扫描" in bad.fix


def test_form_pdf_seal_found_on_the_page_image() -> None:
    (ok,) = run("form-pdf-seal", submission(file_facts("scan_sealed.pdf", "form_pdf")))
    assert ok.passed and ok.evidence["page"] == 2 and ok.evidence["confidence"] >= 0.5
    assert "第2页" in ok.message


def test_form_pdf_seal_missing_is_rejected() -> None:
    (bad,) = failures(run("form-pdf-seal", submission(file_facts("scan_unsealed.pdf", "form_pdf"))))
    assert bad.severity == "reject" and "未检测到红色公章" in bad.message


def test_form_pdf_seal_red_letterhead_is_not_a_seal() -> None:
    findings = run("form-pdf-seal", submission(file_facts("scan_red_header.pdf", "form_pdf")))
    assert failures(findings)
    assert findings[0].evidence["confidence"] < 0.2


def test_form_pdf_seal_grey_scan_cannot_show_a_red_seal() -> None:
    (bad,) = failures(run("form-pdf-seal", submission(file_facts("scan_gray.pdf", "form_pdf"))))
    assert "彩色扫描" in bad.fix


def test_form_pdf_seal_one_sealed_copy_is_enough() -> None:
    facts = submission(file_facts("scan_unsealed.pdf", "form_pdf", "草稿.pdf"),
                       file_facts("scan_sealed.pdf", "form_pdf", "盖章版.pdf"))
    (ok,) = run("form-pdf-seal", facts)
    assert ok.passed and ok.file == "盖章版.pdf"


def test_form_pdf_rules_without_a_pdf_only_inform() -> None:
    facts = submission(file_facts("form.docx", "form_word"))
    for rule in ("form-pdf-seal", "form-pdf-scan"):
        (note,) = run(rule, facts)
        assert not note.passed and note.severity == "info"
