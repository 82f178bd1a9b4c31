"""The one sniffer (ingest/files/sniff.py): the kind classification uses, the archive unpacking opens and the format the
file facts report all come from the same magic bytes."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

from archive_factory import a4_document, jpeg_bytes
from ingest.files.sniff import archive_kind, detect_kind, format_of, magic_kind, read_head

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"


def test_a_zip_whose_first_member_is_a_stored_pdf_is_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "材料.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("申报表.pdf", PDF * 4)
    assert b"%PDF-" in read_head(path, 512)  # the PDF's header sits inside the ZIP's first 512 bytes
    assert (magic_kind(read_head(path)), archive_kind(path), detect_kind(path)) == ("zip", "zip", "zip")
    assert format_of(read_head(path, 2048)) == "ZIP"


def test_a_tar_whose_first_member_looks_like_a_bitmap_is_a_tar(tmp_path: Path) -> None:
    path = tmp_path / "材料.tar"
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as t:
        data = b"x" * 100
        info = tarfile.TarInfo("BMP-readme.txt")  # ASCII: no PAX header first
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    assert (archive_kind(path), detect_kind(path)) == ("tar", "tar")


def test_facts_format_and_classify_kind_agree(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(jpeg_bytes((64, 48)))
    doc = a4_document()
    doc.add_paragraph("正文")
    word = tmp_path / "w.docx"
    doc.save(str(word))
    pdf = tmp_path / "x.pdf"
    pdf.write_bytes(b"\r\n" + PDF)  # junk before the header, which readers accept
    for path, kind, name in ((photo, "jpeg", "JPEG"), (word, "docx", "ZIP"), (pdf, "pdf", "PDF")):
        assert (detect_kind(path), format_of(read_head(path, 2048))) == (kind, name)
