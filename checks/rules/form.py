"""四.3 and 四.4(1): the application form (申报表) in both a Word and a PDF version; the PDF a scan of the signed
form (image pages, at most an invisible OCR layer) carrying a red official seal (公章) found on the page image."""

from __future__ import annotations

from typing import Iterator

from checks.domain import FileRole, Severity
from checks.facts import FileFacts, SubmissionFacts
from checks.registry import REGISTRY, Check, Params
from checks.rules.common import listing, quoted


def _pages(pages: tuple[int, ...]) -> str:
    return "第" + listing((str(p) for p in pages), limit=5) + "页"


@REGISTRY.rule(id="form-versions", clause="四.3", severity=Severity.REJECT, title="申报表Word版和PDF版",
               params={"require_word": (bool, True), "require_pdf": (bool, True)})
def form_versions(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    words = facts.with_role(FileRole.FORM_WORD)
    pdfs = facts.with_role(FileRole.FORM_PDF)
    if params["require_word"] and not words:
        yield Check(False, "未找到Word版申报表（.docx/.doc/.wps）。申报表须同时提供Word版和PDF版（四.3）。",
                    evidence={"form_word": 0, "form_pdf": len(pdfs)},
                    fix="请补充填写好的Word版申报表，文件名中注明“申报表”，与其他材料一并重新发送。")
    if params["require_pdf"] and not pdfs:
        yield Check(False, "未找到PDF版申报表。申报表填写后须加盖单位公章，再扫描成PDF版提交（四.3、四.4(1)）。",
                    clause="四.4(1)", evidence={"form_word": len(words), "form_pdf": 0},
                    fix="请将申报表打印、加盖单位公章后扫描成PDF，文件名中注明“申报表”，与其他材料一并重新发送。")
    if (words or not params["require_word"]) and (pdfs or not params["require_pdf"]):
        found = listing(quoted(f.name) for f in words + pdfs)
        yield Check(True, f"申报表Word版和PDF版齐全：{found}。",
                    evidence={"form_word": len(words), "form_pdf": len(pdfs)})


@REGISTRY.rule(id="form-pdf-scan", clause="四.4(1)", severity=Severity.WARN, title="申报表PDF为扫描件",
               params={"accept_ocr_layer": (bool, True)})
def form_pdf_scan(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    if not facts.with_role(FileRole.FORM_PDF):
        yield Check(False, "未收到PDF版申报表，无法检查是否为扫描件。", milder=Severity.INFO)
    for f in facts.with_role(FileRole.FORM_PDF):
        pdf = f.pdf
        if pdf is None:  # unreadable: files-readable says why; the receipt must not call it a scan
            yield Check(False, f"申报表PDF{quoted(f.name)}无法读取，未能检查是否为扫描件（原因见“文件可读”一项）。",
                        file=f.name, milder=Severity.INFO)
            continue
        # Image-only pages may carry an invisible OCR layer (render mode 3); a call may refuse even that.
        scanned = len(pdf.image_only_pages) == pdf.pages and (params["accept_ocr_layer"] or not pdf.ocr_only_text)
        evidence = {"pages": pdf.pages, "image_only_pages": len(pdf.image_only_pages),
                    "ocr_only_text": pdf.ocr_only_text}
        if scanned and pdf.pages:
            note = "（带文字识别层）" if pdf.ocr_only_text else ""
            yield Check(True, f"申报表PDF{quoted(f.name)}为扫描件{note}，共{pdf.pages}页。", file=f.name,
                        evidence=evidence)
            continue
        text_pages = tuple(i + 1 for i, n in enumerate(pdf.text_chars_per_page) if n > 0)
        if pdf.ocr_only_text:
            why = "页面图像上叠加了文字识别层"
        elif text_pages:
            why = f"{_pages(text_pages)}是可直接选中的文字，像是由Word直接导出的电子文档"
        else:
            why = "页面上没有扫描图像"
        yield Check(False, f"申报表PDF{quoted(f.name)}不是扫描件：{why}（四.4(1)要求盖章后扫描成PDF）。",
                    file=f.name, evidence=evidence,
                    fix="请将申报表打印、加盖单位公章后用扫描仪（或扫描软件）扫描成PDF再发送。")


def _seal_checks(f: FileFacts, threshold: float) -> Iterator[Check]:
    pdf = f.pdf
    if pdf is None:
        yield Check(False, f"申报表PDF{quoted(f.name)}无法读取，未能检查是否盖章（原因见“文件可读”一项）。",
                    file=f.name, milder=Severity.INFO)
        return
    score = round(pdf.seal_best_score, 2)
    evidence = {"page": pdf.seal_best_page, "confidence": score, "threshold": threshold}
    if pdf.seal_best_page is not None and score >= threshold:
        yield Check(True, f"申报表PDF{quoted(f.name)}第{pdf.seal_best_page}页检测到红色公章。",
                    file=f.name, evidence=evidence)
        return
    yield Check(False, f"申报表PDF{quoted(f.name)}的页面图像上未检测到红色公章，"
                       f"申报表须加盖单位公章（四.4(1)）。",
                file=f.name, evidence=evidence,
                fix="请在申报表上加盖单位公章（红色印泥），彩色扫描成PDF后重新发送；黑白扫描无法辨认公章。")


@REGISTRY.rule(id="form-pdf-seal", clause="四.4(1)", severity=Severity.REJECT, title="申报表加盖公章",
               params={"min_confidence": (float, 0.5)})
def form_pdf_seal(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    pdfs = facts.with_role(FileRole.FORM_PDF)
    if not pdfs:
        yield Check(False, "未收到PDF版申报表，无法检查公章（缺少的文件见“申报表Word版和PDF版”一项）。", milder=Severity.INFO)
        return
    checks = [c for f in pdfs for c in _seal_checks(f, params["min_confidence"])]
    if any(c.passed for c in checks):
        # One sealed copy is enough (a sender may add an unsealed draft too); report the sealed one only.
        yield next(c for c in checks if c.passed)
    else:
        yield from checks
