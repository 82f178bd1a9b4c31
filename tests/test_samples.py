"""The sample generators make what they promise, checked with independent readers (zipfile, pypdf, Pillow,
pymediainfo), not with ingest.files.facts alone."""

from __future__ import annotations

import zipfile
from pathlib import Path

from docx import Document
from PIL import Image
from pymediainfo import MediaInfo
from pypdf import PdfReader

from checks.wordcount import word_count
from ingest.samples import files as samples
from test_rules_support import made


def test_jpeg_hits_target_size_within_three_percent(tmp_path: Path) -> None:
    for target, size in ((300_000, (1024, 768)), (2_500_000, (1600, 1200))):
        path = tmp_path / f"{target}.jpg"
        written = samples.make_jpeg(path, target, size=size)
        assert written == path.stat().st_size
        assert abs(written - target) <= 0.03 * target
        with Image.open(path, formats=["JPEG"]) as im:
            im.load()
            assert im.format == "JPEG"


def test_text_docx_word_count_is_exact_and_parts_are_headings(tmp_path: Path) -> None:
    path = tmp_path / "t.docx"
    assert samples.make_text_docx(path, 1234, latin_words=["AI", "STEM"]) == 1234
    doc = Document(str(path))
    assert word_count("\n".join(p.text for p in doc.paragraphs)) == 1234
    headings = [p.text for p in doc.paragraphs if p.style is not None and p.style.name == "Heading 2"]
    assert headings == [f"{n}、{part}" for n, part in zip("一二三四五六", samples.SECTIONS)]
    section = doc.sections[0]
    assert section.page_width is not None and section.page_height is not None
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)


def test_form_docx_is_a_real_word_file_with_a_table(tmp_path: Path) -> None:
    path = samples.make_form_docx(tmp_path / "f.docx", {"申报单位": "示例小学"})
    with zipfile.ZipFile(path) as zf:
        assert "word/document.xml" in zf.namelist()
    assert Document(str(path)).tables[0].cell(0, 0).text == "申报单位"


def red_pixels(image: Image.Image) -> int:
    """Seal red as KNOWLEDGE.md measures it: HSV hue ≤ 10 or ≥ 245, saturation ≥ 100, value ≥ 80."""
    h, s, v = (band.tobytes() for band in image.convert("RGB").convert("HSV").split())
    return sum(1 for hh, ss, vv in zip(h, s, v) if (hh <= 10 or hh >= 245) and ss >= 100 and vv >= 80)


def test_scanned_pdf_is_image_only_with_red_where_the_seal_is() -> None:
    reader = PdfReader(str(made("scan_sealed.pdf")))
    assert len(reader.pages) == 2
    for page in reader.pages:
        assert not (page.extract_text() or "").strip()
        assert "/Font" not in page["/Resources"].get_object()  # type: ignore[operator]
        assert len(page.images) == 1
    sealed = reader.pages[1].images[0].image
    unsealed = PdfReader(str(made("scan_unsealed.pdf"))).pages[0].images[0].image
    assert sealed is not None and unsealed is not None
    assert red_pixels(sealed) > 1000
    assert red_pixels(unsealed) == 0


def test_mp4s_have_the_asked_size_length_and_rotation() -> None:
    for kind, width, height, seconds, rotation in (("video_16x9_720p_7min.mp4", 1280, 720, 420, 0),
                                                   ("video_4x3.mp4", 960, 720, 5, 0),
                                                   ("video_phone_rotated.mp4", 1920, 1080, 5, 90)):
        info = MediaInfo.parse(str(made(kind)))
        v = info.video_tracks[0]
        assert (v.width, v.height) == (width, height)
        assert abs(info.general_tracks[0].duration / 1000 - seconds) < 1
        assert round(float(v.rotation or 0)) == rotation
    assert made("video_16x9_720p_7min.mp4").stat().st_size < 2_000_000  # kept small for the tests


def test_mov_container_is_quicktime() -> None:
    assert made("video_720p.mov").read_bytes()[4:12] == b"ftypqt  "
