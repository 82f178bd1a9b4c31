"""Roles of real files made with real tools: python-docx, reportlab, Pillow, ffmpeg, msoffcrypto, openpyxl."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import imageio_ffmpeg
import openpyxl
import pytest
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from archive_factory import (CORPUS, a4_document, application_form_docx, case_text_docx, encrypted_docx,
                             infozip_raw_names, jpeg_bytes, plain_docx)
from ingest.samples import files as samples
from ingest.files.facts import extract_facts
from checks.domain import FileRole
from ingest.files.classify import classify, convert_legacy_word, read_form_fields
from ingest.files.sniff import detect_kind
from ingest.files.unpack import UnpackLimits, unpack_attachment


def _pdf(target: Path, lines: list[str]) -> Path:
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    page = canvas.Canvas(str(target), pagesize=A4)
    page.setFont("STSong-Light", 12)
    for index, line in enumerate(lines):
        page.drawString(72, 780 - 18 * index, line)
    page.save()
    return target


def _scanned_pdf(target: Path, work: Path) -> Path:
    scan = work / "scan.jpg"
    Image.new("RGB", (620, 877), (250, 250, 250)).save(scan, "JPEG")
    page = canvas.Canvas(str(target), pagesize=A4)
    page.drawImage(str(scan), 0, 0, *A4)
    page.save()
    return target


def _ffmpeg(target: Path, *args: str) -> Path:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args, str(target)],
                   check=True)
    return target


VIDEO_INPUT = ("-f", "lavfi", "-i", "testsrc=size=128x72:rate=10:duration=0.5")
AUDIO_INPUT = ("-f", "lavfi", "-i", "sine=frequency=440:duration=0.5")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("media")
    (work / "p.jpg").write_bytes(jpeg_bytes())
    Image.new("RGB", (32, 32)).save(work / "p.png")
    Image.new("RGB", (32, 32)).save(work / "p.webp")
    with wave.open(str(work / "a.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 800)
    return {
        "jpeg": work / "p.jpg", "png": work / "p.png", "webp": work / "p.webp", "wav": work / "a.wav",
        "mp4": _ffmpeg(work / "v.mp4", *VIDEO_INPUT, "-c:v", "libx264", "-pix_fmt", "yuv420p"),
        "mov": _ffmpeg(work / "v.mov", *VIDEO_INPUT, "-c:v", "mpeg4"),
        "avi": _ffmpeg(work / "v.avi", *VIDEO_INPUT, "-c:v", "mpeg4"),
        "mp3": _ffmpeg(work / "a.mp3", *AUDIO_INPUT, "-c:a", "libmp3lame"),
        "m4a": _ffmpeg(work / "a.m4a", *AUDIO_INPUT, "-c:a", "aac"),
    }


@pytest.mark.parametrize("kind,role", [("jpeg", "photo"), ("png", "photo"), ("webp", "photo"), ("mp4", "video"),
                                       ("mov", "video"), ("avi", "video"), ("mp3", "audio"), ("wav", "audio"),
                                       ("m4a", "audio")])
def test_media_by_magic_bytes(media: dict[str, Path], kind: str, role: str) -> None:
    assert detect_kind(media[kind]) == kind
    # The extension lies on purpose: the role comes from the bytes.
    result = classify(("申报表.docx", media[kind]))
    assert (result.role, result.kind) == (role, kind) and result.mime.split("/")[0] in ("image", "video", "audio")


def test_word_roles_by_name(tmp_path: Path) -> None:
    form = application_form_docx(tmp_path / "a.docx")
    prose = plain_docx(tmp_path / "b.docx", "一段说明。")
    cases = {"实践创新案例申报表.docx": (form, "form_word"), "附件1：推荐表.docx": (prose, "form_word"),
             "案例文字材料.docx": (prose, "text"), "正文.docx": (prose, "text"),
             "媒体报道汇编.docx": (prose, "auxiliary"), "新闻稿（案例）.docx": (prose, "auxiliary"),
             "申报表/盖章版/1.docx": (prose, "form_word")}
    for name, (path, role) in cases.items():
        result = classify((name, path))
        assert result.role == role, (name, result)
        assert result.kind == "docx" and result.reason


def test_word_roles_by_content_when_the_name_says_nothing(tmp_path: Path) -> None:
    assert classify(("XX学校.docx", application_form_docx(tmp_path / "f.docx"))).role == "form_word"
    assert classify(("以劳树德.docx", case_text_docx(tmp_path / "t.docx"))).role == "text"
    assert classify(("其他.docx", plain_docx(tmp_path / "o.docx", "学校简介。"))).role == "auxiliary"


def test_pdf_roles(tmp_path: Path) -> None:
    form = _pdf(tmp_path / "form.pdf", ["2025年中国基础教育创新实践案例申报表", "申报单位 北京市海淀区实验小学"])
    text = _pdf(tmp_path / "text.pdf", ["一、案例基本情况", "二、创新亮点和做法", "四、取得的成效", "五、经验与启示"])
    report = _pdf(tmp_path / "report.pdf", ["本报讯 某校开展劳动教育活动。"])
    scan = _scanned_pdf(tmp_path / "scan.pdf", tmp_path)
    assert classify(("扫描件.pdf", form)).role == "form_pdf"
    assert classify(("XX学校.pdf", text)).role == "text"
    assert classify(("人民教育.pdf", report)).role == "auxiliary"
    assert classify(("申报表（盖章）.pdf", scan)).role == "form_pdf"
    scanned = classify(("001.pdf", scan))
    assert scanned.role == "auxiliary" and "扫描" in scanned.reason and scanned.kind == "pdf"


def test_encrypted_pdf_is_reported(tmp_path: Path) -> None:
    import pypdf

    writer = pypdf.PdfWriter(clone_from=_pdf(tmp_path / "p.pdf", ["案例"]))
    writer.encrypt(user_password="secret", owner_password="owner")
    writer.write(tmp_path / "locked.pdf")
    result = classify(("材料.pdf", tmp_path / "locked.pdf"))
    assert result.role == "unknown" and [f.code for f in result.findings] == ["pdf.encrypted"]


def test_encrypted_docx_and_leftover_archives_are_unknown(tmp_path: Path) -> None:
    locked = classify(("申报表.docx", encrypted_docx(tmp_path / "e.docx", tmp_path)))
    assert (locked.role, locked.kind) == ("unknown", "office_encrypted")
    archive = infozip_raw_names(tmp_path / "pw.zip", {b"a.txt": b"a"}, tmp_path, "-P", "pw")
    assert classify(("材料.zip", archive)).role == "unknown"


def test_other_documents_and_unknown_bytes(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active["A1"] = "汇总"
    book.save(tmp_path / "s.xlsx")
    assert (classify(("汇总.xlsx", tmp_path / "s.xlsx")).role, detect_kind(tmp_path / "s.xlsx")) == ("auxiliary", "xlsx")
    (tmp_path / "r.bin").write_bytes(bytes(range(256)) * 4)
    assert classify(("x.bin", tmp_path / "r.bin")).role == "unknown"
    (tmp_path / "说明.txt").write_bytes("照片说明：学生劳动。".encode("gbk"))
    assert classify(("说明.txt", tmp_path / "说明.txt")).role == "auxiliary"


def test_every_role_is_a_known_role(tmp_path: Path, media: dict[str, Path]) -> None:
    for path in media.values():
        assert classify(("f", path)).role in FileRole.codes()


def test_unpacked_files_classify_directly(tmp_path: Path) -> None:
    form = application_form_docx(tmp_path / "f.docx")
    archive = infozip_raw_names(tmp_path / "m.zip", {"申报表.docx".encode("gbk"): form.read_bytes(),
                                                     "照片1.jpg".encode("gbk"): jpeg_bytes()}, tmp_path)
    files, _ = unpack_attachment("m.zip", archive, tmp_path / "out", UnpackLimits())
    assert sorted((f.name, classify(f).role) for f in files) == [("照片1.jpg", "photo"), ("申报表.docx", "form_word")]


def test_form_fields_from_the_table(tmp_path: Path) -> None:
    fields = read_form_fields(application_form_docx(tmp_path / "f.docx"))
    assert fields == {"申报单位": "北京市海淀区实验小学", "案例名称": "“AI+劳动”课程群建设", "类别": "人工智能教育",
                      "联系人": "王老师", "电话": "13800138000"}


def test_form_fields_from_label_lines_and_merged_cells(tmp_path: Path) -> None:
    document = a4_document()
    document.add_paragraph("申报单位：新疆生产建设兵团第一师高级中学")
    document.add_paragraph("案例名称： 兵团精神进课堂")
    table = document.add_table(rows=1, cols=3)
    merged = table.rows[0].cells[1].merge(table.rows[0].cells[2])
    table.rows[0].cells[0].text, merged.text = "申报类别", "思政课改革创新"
    document.save(str(tmp_path / "f.docx"))
    assert read_form_fields(tmp_path / "f.docx") == {"申报单位": "新疆生产建设兵团第一师高级中学",
                                                     "案例名称": "兵团精神进课堂", "类别": "思政课改革创新"}
    assert read_form_fields(_pdf(tmp_path / "not.docx", ["x"])) == {}


def test_missing_libreoffice_is_reported_plainly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # soffice really cannot be found
    rtf = tmp_path / "old.rtf"
    rtf.write_text(r"{\rtf1\ansi hello}", encoding="ascii")
    converted, finding = convert_legacy_word(rtf, tmp_path / "conv")
    assert converted is None and finding is not None
    assert finding.code == "office.converter_missing" and "LibreOffice" in finding.message and "人工" in finding.message


def test_libreoffice_converts_when_installed(tmp_path: Path) -> None:
    rtf = tmp_path / "申报表.rtf"
    rtf.write_text(r"{\rtf1\ansi \u30003?\u25253?\u34920? hello}", encoding="ascii")
    converted, finding = convert_legacy_word(rtf, tmp_path / "conv", timeout_seconds=120)
    assert finding is None and converted is not None and detect_kind(converted) == "docx"


def test_legacy_word_files_written_by_libreoffice_are_read_as_text(tmp_path: Path) -> None:
    """.doc and .rtf saved by LibreOffice from a DOCX, and that .doc renamed .wps (as WPS users send it), side by
    side in one folder: each is converted on its own and read as text material with its 字数."""
    samples.make_text_docx(tmp_path / "案例.docx", 2900)
    doc = samples.libreoffice_convert(tmp_path / "案例.docx", "doc", tmp_path)
    rtf = samples.libreoffice_convert(tmp_path / "案例.docx", "rtf", tmp_path)
    wps = tmp_path / "案例.wps"
    wps.write_bytes(doc.read_bytes())
    for path, kind in ((doc, "doc"), (rtf, "rtf"), (wps, "wps")):
        result = classify((path.name, path), convert_dir=tmp_path / "conv")
        assert (result.kind, result.role, result.findings) == (kind, "text", ()), (path.name, result)
        assert result.converted is not None
        assert extract_facts(result.converted, path.name, "text", 1, "", None).doc.word_count == 2900


def test_outlook_msg_from_the_corpus_is_an_ole_container(tmp_path: Path) -> None:
    sample = CORPUS / "mail-parser" / "mail_outlook_1.msg"
    result = classify(("mail.msg", sample))
    assert (result.kind, result.role) == ("ole", "auxiliary")
