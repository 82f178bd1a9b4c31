"""ingest.files.facts on real files: what each reader measures, and that corrupt or hostile input never raises."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Pt
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.actions import JavaScript

from ingest.samples import files as samples
from ingest.files.facts import extract_facts
from ingest.files.readers.image import read_image
from ingest.files.readers.seal import seal_score
from ingest.files.sniff import format_of
from test_rules_support import made


def facts(path: Path, role: str, name: str | None = None) -> Any:
    data = path.read_bytes()
    return extract_facts(path, name or path.name, role, len(data), hashlib.sha256(data).hexdigest(), None)


def test_docx_text_tables_page_size_and_count() -> None:
    f = facts(made("form.docx"), "form_word")
    assert f.error is None and f.doc is not None
    assert (f.doc.page_width_mm, f.doc.page_height_mm) == (210.0, 297.0)
    assert f.doc.tables[0][0] == ("申报单位", "杭州市文三街小学")
    assert "人工智能教育" in f.doc.text
    assert f.doc.word_count == f.doc.cjk_chars + f.doc.latin_words


def test_docx_fonts_resolved_through_styles_and_doc_defaults(tmp_path: Path) -> None:
    doc = Document()
    styles = doc.styles
    # docDefaults: East Asian font 仿宋 for everything that does not say otherwise.
    defaults = styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    fonts = defaults.find(qn("w:rFonts"))
    for attr in list(fonts.attrib):
        del fonts.attrib[attr]
    fonts.set(qn("w:eastAsia"), "仿宋")
    normal = styles["Normal"]
    normal.font.size = Pt(12)
    normal.paragraph_format.line_spacing = 1.5
    body = styles.add_style("正文段落", 1)
    body.base_style = normal  # inherits size and spacing, sets nothing itself
    title = styles.add_style("大标题", 1)
    title.base_style = normal
    title.font.size = Pt(16)
    title.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "黑体")
    doc.add_paragraph("案例标题", style="大标题")
    doc.add_paragraph("正文内容从样式继承字体。", style="正文段落")
    p = doc.add_paragraph()
    run = p.add_run("直接设置楷体的一段")
    rpr = run.element.get_or_add_rPr()
    rfonts = OxmlElement("w:rFonts")
    rfonts.set(qn("w:eastAsia"), "楷体")
    rpr.append(rfonts)
    path = tmp_path / "styled.docx"
    doc.save(str(path))
    paras = facts(path, "text").doc.paragraphs
    assert (paras[0].east_asian_font, paras[0].size_pt) == ("黑体", 16.0)
    assert (paras[1].east_asian_font, paras[1].size_pt, paras[1].line_spacing) == ("仿宋", 12.0, 1.5)
    assert paras[2].east_asian_font == "楷体"


def test_generated_documents_are_a4_not_letter() -> None:
    f = facts(made("text_2400.docx"), "text")
    assert (f.doc.page_width_mm, f.doc.page_height_mm) == (210.0, 297.0)


def test_scanned_pdf_facts() -> None:
    pdf = facts(made("scan_sealed.pdf"), "form_pdf").pdf
    assert pdf.pages == 2 and pdf.image_only_pages == (1, 2) and pdf.fonts_on_pages == ()
    assert pdf.text_chars_per_page == (0, 0) and pdf.is_scan and not pdf.ocr_only_text
    assert pdf.seal_best_page == 2 and pdf.seal_scores[0] < 0.2 <= 0.5 <= pdf.seal_scores[1]


def test_born_digital_pdf_facts() -> None:
    pdf = facts(made("born_digital.pdf"), "form_pdf").pdf
    assert pdf.fonts_on_pages == (1, 2) and pdf.image_only_pages == () and not pdf.is_scan
    assert "申报单位" in pdf.text


def test_pdf_javascript_is_detected(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=str(made("born_digital.pdf")))
    writer.add_open_action(JavaScript("app.alert('hi');"))
    path = tmp_path / "js.pdf"
    writer.write(str(path))
    assert facts(path, "form_pdf").pdf.has_javascript
    assert not facts(made("born_digital.pdf"), "form_pdf").pdf.has_javascript


def test_encrypted_pdf_is_an_error_not_a_crash(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=str(made("born_digital.pdf")))
    writer.encrypt(user_password="secret", owner_password="owner")
    path = tmp_path / "locked.pdf"
    writer.write(str(path))
    f = facts(path, "form_pdf")
    assert f.pdf is None and "密码" in (f.error or "")


def test_owner_password_only_pdf_still_reads(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=str(made("born_digital.pdf")))
    writer.encrypt(user_password="", owner_password="owner")
    path = tmp_path / "restricted.pdf"
    writer.write(str(path))
    f = facts(path, "form_pdf")
    assert f.error is None and f.pdf is not None and f.pdf.encrypted and f.pdf.pages == 2


def test_seal_score_on_the_page_image_itself() -> None:
    page = PdfReader(str(made("scan_sealed.pdf"))).pages[1].images[0].image
    assert page is not None
    assert seal_score(page) >= 0.5
    assert seal_score(page.convert("L")) == 0.0


def test_images_by_magic_and_full_decode() -> None:
    assert read_image(made("photo_2.1mb.jpg")).decoded_ok
    png = read_image(made("png_renamed.jpg"))
    assert png.format == "PNG" and png.decoded_ok and (png.width, png.height) == (1400, 1000)
    cut = read_image(made("truncated.jpg"))
    assert cut.format == "JPEG" and not cut.decoded_ok and "截断" in (cut.error or "")
    # Image.verify() alone would pass the truncated file: the point of the full decode.
    with Image.open(made("truncated.jpg")) as im:
        im.verify()


def test_decompression_bomb_limit_stays_on(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("1", (20_000, 10_000)).save(path)  # 200 megapixels of one bit: a tiny file
    f = facts(path, "photo", "大图.jpg")
    assert f.image is not None and not f.image.decoded_ok and "安全上限" in (f.image.error or "")


def test_video_facts_with_rotation() -> None:
    v = facts(made("video_phone_rotated.mp4"), "video").video
    assert (v.container, v.width, v.height, v.rotation_deg) == ("MP4", 1920, 1080, 90)
    assert v.shown_size == (1080, 1920) and v.shown_aspect is not None and v.shown_aspect < 1
    assert abs(v.duration_s - 5) < 0.5


@pytest.mark.parametrize(("name", "role"), [("x.pdf", "form_pdf"), ("x.docx", "text"), ("x.mp4", "video"),
                                            ("x.jpg", "photo"), ("x.mp3", "audio")])
def test_random_bytes_never_raise(tmp_path: Path, name: str, role: str) -> None:
    path = tmp_path / name
    path.write_bytes(os.urandom(5000))
    f = facts(path, role)
    assert f.error or (f.image is not None and not f.image.decoded_ok) or f.video is None


@pytest.mark.parametrize("kind", ["scan_sealed.pdf", "born_digital.pdf", "form.docx", "video_16x9_1080p.mp4"])
def test_truncated_real_files_never_raise(tmp_path: Path, kind: str) -> None:
    data = made(kind).read_bytes()
    path = tmp_path / kind
    path.write_bytes(data[: len(data) // 2])
    role = {"pdf": "form_pdf", "docx": "text", "mp4": "video"}[kind.rsplit(".", 1)[1]]
    facts(path, role)  # must return, whatever it found


def test_sniff_uses_content_not_extension() -> None:
    assert format_of(made("png_renamed.jpg").read_bytes()[:64]) == "PNG"
    assert format_of(made("video_720p.mov").read_bytes()[:64]) == "MOV"
    assert format_of(made("audio.mp3").read_bytes()[:64]) == "MP3"


def test_text_material_as_a_plain_text_file(tmp_path: Path) -> None:
    path = tmp_path / "图片说明.txt"
    path.write_bytes("图1：学生在劳动基地种植蔬菜\n".encode("gb18030"))
    f = facts(path, "auxiliary")
    assert f.doc is not None and "种植蔬菜" in f.doc.text and f.doc.word_count == 14


def test_samples_seal_generator_is_real() -> None:
    path = made("scan_sealed.pdf")
    assert path.read_bytes().startswith(b"%PDF")
    assert samples.A4_MM == (210.0, 297.0)


def test_word_count_takes_each_text_box_once_and_counts_notes(tmp_path: Path) -> None:
    """Word's 字数统计 (包括文本框、脚注和尾注 ticked): 2,900 字 of body, a 65-字 text box written twice (DrawingML
    choice and VML fallback, by LibreOffice as by Word 2010+), a footnote and an endnote: 2,969, not 3,034."""
    path = samples.make_textbox_docx(tmp_path / "t.docx", 2900, "框" * 65, footnote="脚注", endnote="尾注")
    import zipfile

    xml = zipfile.ZipFile(path).read("word/document.xml").decode()
    assert xml.count("txbxContent>") == 4 and "mc:Fallback" in xml  # the box really is there twice
    doc = facts(path, "text").doc
    assert doc.word_count == 2900 + 65 + 2 + 2
    assert doc.text.count("框" * 65) == 1


def test_six_parts_found_in_a_one_cell_table(tmp_path: Path) -> None:
    from test_rules_support import run, submission

    path = samples.make_textbox_docx(tmp_path / "t.docx", 2000, "", in_table=True)
    f = facts(path, "text")
    assert f.doc.word_count == 2000 and all(p.in_table for p in f.doc.paragraphs if p.text)
    assert [x.passed for x in run("text-sections", submission(f))] == [True]


def test_photo_orientation_from_exif_and_truncation_in_a_later_progressive_scan(tmp_path: Path) -> None:
    """Orientation comes from the headers; the reduced-scale decode still reads every scan of a progressive
    JPEG, so a file cut inside its last scans is found truncated."""
    rng = __import__("random").Random(6)
    im = Image.frombytes("RGB", (640, 480), bytes(rng.randrange(256) for _ in range(640 * 480 * 3)))
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = tmp_path / "turned.jpg"
    im.save(turned, "JPEG", quality=90, exif=exif)
    f = read_image(turned)
    assert f.decoded_ok and f.orientation == 6 and (f.width, f.height) == (640, 480)
    assert f.shown_size == (480, 640)
    progressive = tmp_path / "progressive.jpg"
    im.save(progressive, "JPEG", quality=90, progressive=True)
    data = progressive.read_bytes()
    assert read_image(progressive).decoded_ok and read_image(progressive).orientation == 1
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) * 9 // 10])  # inside the last scans: the first ones are whole
    assert not read_image(cut).decoded_ok
