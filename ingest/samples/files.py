"""Generators of REAL sample files for the tests, the demo and the benchmarks.

Every file is made by the tool that makes such files in the wild: python-docx documents (A4, Chinese fonts set on
``w:eastAsia``), Pillow page scans saved as image-only PDFs, reportlab text PDFs, Pillow JPEGs of a target size,
and ffmpeg (the ``imageio-ffmpeg`` wheel's binary) MP4s. Nothing here writes hand-made bytes.
"""

from __future__ import annotations

import math
import random
import subprocess
import zlib
from io import BytesIO
from pathlib import Path
from typing import Mapping, Sequence

import imageio_ffmpeg
from docx import Document
from docx.document import Document as DocxDocument
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from checks.wordcount import word_count

SECTIONS: tuple[str, ...] = ("基本情况", "创新亮点和做法", "问题及破解办法", "取得的成效", "经验与启示", "下一步发展计划")

# Prose to fill text material with; only CJK characters and full-width punctuation, so every character is one 字.
_PROSE = (
    "学校坚持立德树人根本任务，围绕课程建设、教师发展和评价改革三个方面系统推进育人方式变革。",
    "我们以问题为导向，组建跨学科教研团队，每周开展集体备课和课堂观察，形成了可复制的经验。",
    "在实践中，学生的学习兴趣明显提高，家长满意度持续上升，区域内多所学校前来交流学习。",
    "针对师资不足、场地有限等困难，学校统筹校内外资源，与高校和企业共建实践基地。",
    "通过数据分析及时发现学生学习中的薄弱环节，教师据此调整教学策略，实现精准施策。",
    "劳动教育与学科教学深度融合，学生在真实情境中提出问题、分析问题、解决问题。",
)

A4_MM = (210.0, 297.0)


def _seed(path: Path, seed: int | None) -> int:
    """Files of different names differ (two schools' sample photos must not look like one file sent twice);
    the same name gives the same file."""
    return seed if seed is not None else zlib.crc32(path.name.encode("utf-8"))


# ---------------------------------------------------------------------------------------------------------------
# Word documents
# ---------------------------------------------------------------------------------------------------------------


def _a4_document(body_font: str = "宋体", size_pt: float = 12.0) -> DocxDocument:
    """python-docx's default template is US Letter; Chinese calls expect A4 with a Chinese body font."""
    doc = Document()
    for section in doc.sections:
        section.page_width, section.page_height = Mm(A4_MM[0]), Mm(A4_MM[1])
        section.left_margin = section.right_margin = Mm(26)
        section.top_margin = section.bottom_margin = Mm(25)
    normal = doc.styles["Normal"]
    normal.font.size = Pt(size_pt)
    normal.font.name = "Times New Roman"
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), body_font)
    normal.paragraph_format.line_spacing = 1.5
    return doc


def make_form_docx(path: Path, fields: Mapping[str, str]) -> Path:
    """An application form (实践创新案例申报表) as the call's attachment: a title and a two-column table."""
    doc = _a4_document()
    title = doc.add_paragraph()
    run = title.add_run("2025年中国基础教育创新案例申报表")
    run.bold = True
    run.font.size = Pt(18)
    run.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "黑体")
    rows = dict(fields)
    rows.setdefault("案例简介（300字以内）", "本案例围绕育人方式变革开展实践探索，取得了较好成效。")
    rows.setdefault("申报单位意见", "同意推荐。（盖章）")
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in rows.items():
        cells = table.add_row().cells
        cells[0].text, cells[1].text = label, value
    doc.save(str(path))
    return path


def _prose(n_chars: int, rng: random.Random) -> str:
    out: list[str] = []
    total = 0
    while total < n_chars:
        sentence = rng.choice(_PROSE)
        out.append(sentence)
        total += len(sentence)
    return "".join(out)[:n_chars]


def make_text_docx(path: Path, n_chars: int, parts: Sequence[str] = SECTIONS, *, title: str = "案例文字材料",
                   latin_words: Sequence[str] = (), numbered: bool = True, seed: int | None = None) -> int:
    """Text material whose Word 字数 is exactly ``n_chars``: a title, one heading per part ("一、基本情况"), prose.

    ``latin_words`` are mixed into the first paragraph (each counts one). Returns the 字数 as Word counts it."""
    rng = random.Random(_seed(path, seed))
    doc = _a4_document()
    numerals = "一二三四五六七八九十"
    headings = [f"{numerals[i]}、{p}" if numbered and i < 10 else p for i, p in enumerate(parts)]
    fixed = word_count(title) + sum(word_count(h) for h in headings) + len(latin_words)
    if n_chars < fixed:
        raise ValueError(f"{n_chars} 字 is too few for the title and {len(parts)} headings ({fixed})")
    body = n_chars - fixed
    per_part = [body // max(1, len(parts)) + (1 if i < body % max(1, len(parts)) else 0)
                for i in range(max(1, len(parts)))]
    doc.add_heading(title, level=1)
    for i, count in enumerate(per_part):
        if i < len(headings):
            doc.add_heading(headings[i], level=2)
        text = _prose(count, rng)
        if i == 0 and latin_words:
            text = " ".join(latin_words) + " " + text
        doc.add_paragraph(text)
    doc.save(str(path))
    return n_chars


def libreoffice_convert(source: Path, to: str, out_dir: Path, timeout_seconds: float = 180.0) -> Path:
    """``source`` saved by LibreOffice itself as ``to`` ("doc", "rtf", "docx"): real legacy Word files, as an office
    suite writes them. A fresh profile per run (parallel runs sharing one block each other)."""
    import shutil
    import tempfile

    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        raise RuntimeError("LibreOffice is not installed: run scripts/install-system-deps.sh")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lo-sample-") as profile:
        subprocess.run([soffice, f"-env:UserInstallation={Path(profile).as_uri()}", "--headless", "--norestore",
                        "--convert-to", to, "--outdir", str(out_dir), str(source)],
                       check=True, capture_output=True, timeout=timeout_seconds)
    target = out_dir / f"{source.stem}.{to}"
    if not target.is_file():
        raise RuntimeError(f"LibreOffice did not write {target}")
    return target


def make_textbox_docx(path: Path, body_chars: int, box_text: str, *, footnote: str = "", endnote: str = "",
                      parts: Sequence[str] = SECTIONS, in_table: bool = False) -> Path:
    """Text material as LibreOffice writes it to .docx (the same ``mc:AlternateContent`` text box, DrawingML
    choice plus VML fallback, that Word 2010+ writes): ``body_chars`` 字 of headings and prose (in a one-cell
    table when ``in_table``), a text box holding ``box_text``, and optionally a footnote and an endnote."""
    from xml.sax.saxutils import escape

    rng = random.Random(_seed(path, None))
    headings = [f"{'一二三四五六七八九十'[i]}、{p}" for i, p in enumerate(parts)]
    body = body_chars - sum(word_count(h) for h in headings)
    per = [body // len(parts) + (1 if i < body % len(parts) else 0) for i in range(len(parts))]
    paragraphs = []
    for i, heading in enumerate(headings):
        paragraphs.append(f"<text:p>{escape(heading)}</text:p>")
        prose = escape(_prose(per[i], rng))
        if i == 0 and footnote:
            prose += (f'<text:note text:note-class="footnote"><text:note-body><text:p>{escape(footnote)}'
                      "</text:p></text:note-body></text:note>")
        if i == 1 and endnote:
            prose += (f'<text:note text:note-class="endnote"><text:note-body><text:p>{escape(endnote)}'
                      "</text:p></text:note-body></text:note>")
        paragraphs.append(f"<text:p>{prose}</text:p>")
    content = "".join(paragraphs)
    if in_table:
        content = ("<table:table><table:table-column/><table:table-row><table:table-cell>"
                   f"{content}</table:table-cell></table:table-row></table:table>")
    box = ('<text:p><draw:frame text:anchor-type="paragraph" svg:width="6cm" svg:height="3cm"><draw:text-box>'
           f"<text:p>{escape(box_text)}</text:p></draw:text-box></draw:frame></text:p>") if box_text else ""
    fodt = f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
 xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" office:version="1.2"
 office:mimetype="application/vnd.oasis.opendocument.text"><office:body><office:text>{box}{content}</office:text>
</office:body></office:document>"""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fodt-") as tmp:
        source = Path(tmp) / f"{path.stem}.fodt"
        source.write_text(fodt, encoding="utf-8")
        made = libreoffice_convert(source, "docx", Path(tmp) / "out")
        path.write_bytes(made.read_bytes())
    return path


def make_caption_docx(path: Path, captions: Sequence[str], title: str = "图片说明") -> Path:
    """A caption list (图片说明) with one line per photo, e.g. "图1：学生在劳动基地种植蔬菜"."""
    doc = _a4_document()
    doc.add_heading(title, level=1)
    for line in captions:
        doc.add_paragraph(line)
    doc.save(str(path))
    return path


# ---------------------------------------------------------------------------------------------------------------
# PDFs
# ---------------------------------------------------------------------------------------------------------------


def _page_scan(rng: random.Random, dpi: int, with_seal: bool, red_header: bool) -> Image.Image:
    """A page as a flatbed scanner gives it: off-white paper with noise, a table, text-like strokes, and
    optionally a red round seal (ring, star, text along the ring) stamped over the signature area."""
    w, h = int(A4_MM[0] / 25.4 * dpi), int(A4_MM[1] / 25.4 * dpi)
    paper = Image.merge("RGB", [Image.effect_noise((w, h), 6).point(lambda v, o=o: min(255, v + o))
                                for o in (118, 116, 110)])
    draw = ImageDraw.Draw(paper)
    ink = (35, 35, 40)
    margin = int(w * 0.1)
    if red_header:  # a 红头 title line: red, wide and flat, not a seal
        draw.rectangle([margin, int(h * 0.05), w - margin, int(h * 0.075)], fill=(200, 30, 30))
        draw.line([margin, int(h * 0.09), w - margin, int(h * 0.09)], fill=(200, 30, 30), width=max(2, dpi // 40))
    top, rows = int(h * 0.12), 12
    row_h = int(h * 0.055)
    for r in range(rows + 1):
        y = top + r * row_h
        draw.line([margin, y, w - margin, y], fill=ink, width=max(1, dpi // 60))
    for x in (margin, int(w * 0.32), w - margin):
        draw.line([x, top, x, top + rows * row_h], fill=ink, width=max(1, dpi // 60))
    glyph = max(4, dpi // 8)
    for r in range(rows):
        y = top + r * row_h + row_h // 3
        columns = ((margin + glyph, int(w * 0.32) - glyph), (int(w * 0.32) + glyph, w - margin - glyph))
        for col_start, col_end in columns:
            x = col_start
            for _ in range(rng.randint(3, 20)):
                if x + glyph > col_end:
                    break
                for _ in range(3):  # three strokes per "character"
                    x0, y0 = x + rng.randint(0, glyph // 2), y + rng.randint(0, glyph // 2)
                    draw.line([x0, y0, x0 + rng.randint(1, glyph // 2), y0 + rng.randint(1, glyph // 2)], fill=ink,
                              width=max(1, dpi // 100))
                x += glyph + glyph // 4
    if with_seal:
        _stamp_seal(paper, (int(w * 0.68), int(h * 0.82)), int(w * 0.11), rng)
    return paper.filter(ImageFilter.GaussianBlur(0.6))


def _stamp_seal(page: Image.Image, centre: tuple[int, int], radius: int, rng: random.Random) -> None:
    """A red official seal: outer ring, a five-pointed star, short strokes along the ring for the unit's name;
    drawn on its own layer with uneven ink, then multiplied onto the page like a stamp."""
    size = radius * 2 + 8
    layer = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(layer)
    c = size / 2
    ring = max(3, radius // 12)
    d.ellipse([c - radius, c - radius, c + radius, c + radius], outline=255, width=ring)
    star = [(c + radius * 0.32 * math.cos(math.radians(-90 + k * 36)) * (1 if k % 2 == 0 else 0.4),
             c + radius * 0.32 * math.sin(math.radians(-90 + k * 36)) * (1 if k % 2 == 0 else 0.4))
            for k in range(10)]
    d.polygon(star, fill=255)
    for k in range(14):
        angle = math.radians(200 + k * 10)
        r0, r1 = radius * 0.62, radius * 0.8
        d.line([c + r0 * math.cos(angle), c + r0 * math.sin(angle), c + r1 * math.cos(angle), c + r1 * math.sin(angle)],
               fill=255, width=max(2, radius // 20))
    ink = Image.effect_noise((size, size), 40).point(lambda v: 255 if v > 90 else 150)
    alpha = Image.composite(ink, Image.new("L", (size, size), 0), layer)
    red = Image.new("RGB", (size, size), (205 + rng.randint(0, 30), 25, 35))
    box = (centre[0] - size // 2, centre[1] - size // 2)
    region = page.crop((box[0], box[1], box[0] + size, box[1] + size))
    stamped = ImageChops.multiply(region, red)
    page.paste(Image.composite(stamped, region, alpha), box)


def make_scanned_pdf(path: Path, with_seal: bool = True, pages: int = 1, *, dpi: int = 100,
                     red_header: bool = False, grayscale: bool = False, seed: int | None = None) -> Path:
    """An image-only PDF as a scanner writes it (each page one JPEG image, no text, no fonts), made by Pillow."""
    rng = random.Random(_seed(path, seed))
    images = [_page_scan(rng, dpi, with_seal and i == pages - 1, red_header) for i in range(pages)]
    if grayscale:
        images = [im.convert("L") for im in images]
    images[0].save(str(path), "PDF", resolution=float(dpi), save_all=True, append_images=images[1:], quality=80)
    return path


def make_ocr_pdf(path: Path, text: str = "2025年中国基础教育创新案例申报表 申报单位 示例小学", *, with_seal: bool = True,
                 dpi: int = 100, seed: int | None = None) -> Path:
    """A scan with an OCR layer, as scanner software's "searchable PDF" writes it: the page image, and the
    recognised text drawn invisibly (render mode 3) over it (reportlab)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    page = _page_scan(random.Random(_seed(path, seed)), dpi, with_seal, red_header=False)
    buf = BytesIO()
    page.save(buf, "JPEG", quality=80)
    buf.seek(0)
    c = canvas.Canvas(str(path), pagesize=A4)
    c.drawImage(ImageReader(buf), 0, 0, width=A4[0], height=A4[1])
    layer = c.beginText(72, A4[1] - 100)
    layer.setTextRenderMode(3)
    layer.setFont("STSong-Light", 12)
    layer.textLine(text)
    c.drawText(layer)
    c.showPage()
    c.save()
    return path


def make_text_pdf(path: Path, text: str = "2025年中国基础教育创新案例申报表\n申报单位：示例小学", pages: int = 1,
                  *, seal_image: bool = False) -> Path:
    """A born-digital PDF (reportlab, the built-in Chinese CID font STSong-Light): text a reader can select.
    ``seal_image`` places a red seal picture on the last page, as an electronic seal pasted in Word would be."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path), pagesize=A4)
    for page in range(pages):
        c.setFont("STSong-Light", 14)
        y = A4[1] - 80
        for line in text.splitlines():
            c.drawString(72, y, line)
            y -= 24
        if seal_image and page == pages - 1:
            seal = Image.new("RGB", (300, 300), (255, 255, 255))
            _stamp_seal(seal, (150, 150), 140, random.Random(3))
            buf = BytesIO()
            seal.save(buf, "PNG")
            buf.seek(0)
            c.drawImage(ImageReader(buf), A4[0] - 230, 120, width=140, height=140)
        c.showPage()
    c.save()
    return path


# ---------------------------------------------------------------------------------------------------------------
# Photos
# ---------------------------------------------------------------------------------------------------------------


def _photo_like(size: tuple[int, int], detail: float, seed: int) -> Image.Image:
    """A photo-like picture: a smooth sky-to-ground gradient, shapes, and sensor noise whose strength (``detail``)
    sets how well the JPEG compresses."""
    w, h = size
    rng = random.Random(seed)
    gradient = Image.linear_gradient("L").resize((w, h))
    base = Image.merge("RGB", (gradient.point(lambda v: 90 + v // 3), gradient.point(lambda v: 140 - v // 4),
                               gradient.point(lambda v: 200 - v // 2)))
    d = ImageDraw.Draw(base)
    for _ in range(12):
        x, y = rng.randint(0, w), rng.randint(0, h)
        r = rng.randint(w // 30, w // 6)
        d.ellipse([x - r, y - r, x + r, y + r], fill=(rng.randint(40, 220), rng.randint(40, 220), rng.randint(40, 220)))
    noise = Image.merge("RGB", [Image.effect_noise((w, h), 64) for _ in range(3)])
    return Image.blend(base, noise, max(0.0, min(1.0, detail)))


def _encode(image: Image.Image, quality: int) -> bytes:
    buf = BytesIO()
    image.save(buf, "JPEG", quality=quality, optimize=False)
    return buf.getvalue()


def make_jpeg(path: Path, target_bytes: int, size: tuple[int, int] = (1600, 1200), *, seed: int | None = None,
              tolerance: float = 0.03) -> int:
    """A real JPEG within ``tolerance`` of ``target_bytes``. The quality is searched first; the picture's height is
    then trimmed (JPEG size grows with the pixel count) to land inside the tolerance. Returns the file's size."""
    w, h = size
    detail = 0.25
    for _ in range(8):
        image = _photo_like((w, h), detail, _seed(path, seed))
        if len(_encode(image, 95)) >= target_bytes:
            break
        detail = min(1.0, detail * 1.8)
        if detail >= 1.0:
            w, h = int(w * 1.4), int(h * 1.4)  # noise alone is not enough: more pixels
    lo, hi = 5, 95
    while lo < hi:  # the lowest quality whose file is at least the target
        mid = (lo + hi) // 2
        if len(_encode(image, mid)) >= target_bytes:
            hi = mid
        else:
            lo = mid + 1
    quality = lo
    data = _encode(image, quality)
    crop_h = image.height
    for _ in range(12):
        if abs(len(data) - target_bytes) <= target_bytes * tolerance:
            break
        crop_h = max(16, min(image.height, int(crop_h * target_bytes / len(data))))
        data = _encode(image.crop((0, 0, image.width, crop_h)), quality)
    path.write_bytes(data)
    return len(data)


def make_png(path: Path, size: tuple[int, int] = (1600, 1200), *, seed: int | None = None) -> int:
    """A real PNG (for "a PNG renamed .jpg": pass a path ending in .jpg). Returns its size."""
    _photo_like(size, 0.5, _seed(path, seed)).save(str(path), "PNG")
    return path.stat().st_size


def make_truncated_jpeg(path: Path, target_bytes: int, keep: float = 0.7, **kwargs: object) -> int:
    """A real JPEG cut short, as an interrupted transfer leaves it (its header is intact)."""
    make_jpeg(path, target_bytes, **kwargs)  # type: ignore[arg-type]
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path.stat().st_size


# ---------------------------------------------------------------------------------------------------------------
# Video and audio (ffmpeg from the imageio-ffmpeg wheel)
# ---------------------------------------------------------------------------------------------------------------


def _ffmpeg(args: Sequence[str], timeout: float = 300) -> None:
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    proc = subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-y", *args], capture_output=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {proc.stderr.decode(errors='replace')[-500:]}")


def make_mp4(path: Path, seconds: float, width: int, height: int, rotate: int | None = None, *,
             container: str = "mp4", fps: int = 2, with_audio: bool = False) -> Path:
    """A real H.264 video of the given length and coded size. Kept tiny and fast: a test pattern at a low frame
    rate and the lowest quality (a 7-minute 720p file is a few hundred KB). ``rotate`` writes display-matrix
    rotation metadata as phones do (the frames stay ``width``×``height``). ``container``: mp4, mov, avi, mkv."""
    # A still colour field with a moving box: real frames, but they compress to almost nothing. The colours come
    # from the file name, so two samples of different names are different files.
    tint = _seed(path, None)
    src = (f"color=c=0x{tint & 0xFFFFFF:06x}:size={width}x{height}:rate={fps},"
           f"drawbox=x='mod(t*40,{max(1, width - 64)})':y={height // 3}:w=64:h=64:"
           f"color=0x{(tint >> 8) & 0xFFFFFF ^ 0xFFFFFF:06x}:t=fill")
    args = ["-f", "lavfi", "-i", src]
    if with_audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050"]
    args += ["-t", f"{seconds:.3f}", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "51", "-g", str(fps * 60),
             "-pix_fmt", "yuv420p"]
    if with_audio:
        args += ["-c:a", "aac", "-b:a", "32k", "-shortest"]
    fmt = {"mp4": "mp4", "mov": "mov", "avi": "avi", "mkv": "matroska"}[container]
    if rotate is None:
        _ffmpeg([*args, "-f", fmt, str(path)])
        return path
    plain = path.with_name(path.stem + ".unrotated." + container)
    _ffmpeg([*args, "-f", fmt, str(plain)])
    try:
        # -display_rotation is counter-clockwise; phones store "rotate 90" meaning turn clockwise on playback.
        _ffmpeg(["-display_rotation", str(-rotate), "-i", str(plain), "-c", "copy", "-f", fmt, str(path)])
    finally:
        plain.unlink(missing_ok=True)
    return path


def make_audio(path: Path, seconds: float, *, bitrate: str = "64k") -> Path:
    """A real audio file (format from the suffix: .mp3, .m4a, .wav) of a sine tone."""
    codecs = {".mp3": ["-c:a", "libmp3lame"], ".m4a": ["-c:a", "aac"], ".wav": ["-c:a", "pcm_s16le"]}
    codec = codecs[path.suffix.lower()]
    _ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", f"{seconds:.3f}", *codec,
             *(["-b:a", bitrate] if path.suffix.lower() != ".wav" else []), str(path)])
    return path


# Word's default page margins (布局—页边距—常规): 2.54 cm top and bottom, 3.18 cm left and right.
WORD_DEFAULT_MARGINS_MM = (25.4, 25.4, 31.8, 31.8)


def make_formatted_docx(path: Path, n_chars: int, parts: Sequence[str], *, title: str, subtitle: str = "",
                        lines_before: Sequence[str] = (), title_font: str = "黑体", title_size_pt: float = 16.0,
                        subtitle_font: str = "楷体", subtitle_size_pt: float = 15.0, body_font: str = "宋体",
                        body_size_pt: float = 12.0, line_spacing: float = 1.5,
                        margins_mm: Sequence[float] = WORD_DEFAULT_MARGINS_MM, paper_mm: tuple[float, float] = A4_MM,
                        seed: int | None = None) -> int:
    """Text material laid out as a call prescribes (e.g. 三号黑体 title, 小三号楷体 subtitle, 小四宋体 body, 1.5 line
    spacing, A4, default margins). The body font and size live only on the Normal style (paragraphs inherit them, as
    in a document typed in Word); title and subtitle fonts are set on their runs, East Asian slot included.
    ``lines_before`` go between the (sub)title and the first part ("主持人：张三"). Returns Word's 字数."""
    rng = random.Random(_seed(path, seed))
    doc = _a4_document(body_font, body_size_pt)
    doc.styles["Normal"].paragraph_format.line_spacing = line_spacing
    for section in doc.sections:
        section.page_width, section.page_height = Mm(paper_mm[0]), Mm(paper_mm[1])
        top, bottom, left, right = margins_mm
        section.top_margin, section.bottom_margin = Mm(top), Mm(bottom)
        section.left_margin, section.right_margin = Mm(left), Mm(right)

    def styled(text: str, font: str, size: float) -> None:
        run = doc.add_paragraph().add_run(text)
        run.font.size = Pt(size)
        run.font.name = font
        run.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), font)

    styled(title, title_font, title_size_pt)
    if subtitle:
        styled(subtitle, subtitle_font, subtitle_size_pt)
    for line in lines_before:
        doc.add_paragraph(line)
    headings = [f"{'一二三四五六七八九十'[i]}、{p}" for i, p in enumerate(parts)]
    fixed = sum(word_count(x) for x in (title, subtitle, *lines_before, *headings))
    if n_chars < fixed:
        raise ValueError(f"{n_chars} 字 is too few for the title, the lines and {len(parts)} headings ({fixed})")
    body = n_chars - fixed
    shares = [body // max(1, len(parts)) + (1 if i < body % max(1, len(parts)) else 0) for i in range(max(1, len(parts)))]
    for i, share in enumerate(shares):
        if i < len(headings):
            doc.add_paragraph(headings[i])
        doc.add_paragraph(_prose(share, rng))
    doc.save(str(path))
    return n_chars
