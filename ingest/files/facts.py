"""Read one received file into the plain facts the rules check (``checks.facts``). The only place DOCX, PDF,
images and media are parsed for checks.

``extract_facts`` never raises on a corrupt or hostile file: what could not be read is explained in plain Chinese
in ``FileFacts.error`` (or ``ImageFacts.error`` for a photo that does not decode). Memory stays bounded: Pillow's
decompression-bomb limit stays on, JPEGs are decoded at reduced scale (libjpeg still reads every byte, so a
truncated file is still caught), and page images are downscaled before the red-seal analysis.
"""

from __future__ import annotations

import logging
import re
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any, Iterator

from docx import Document
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml.ns import qn
from lxml import etree
from PIL import Image, ImageChops, ImageFilter, UnidentifiedImageError
from pymediainfo import MediaInfo
from pypdf import PdfReader
from pypdf.errors import PdfReadError
from pypdf.generic import ContentStream, DictionaryObject, IndirectObject, StreamObject

from checks.domain import FileRole
from checks.facts import (AudioFacts, DocFacts, FileFacts, ImageFacts, ParagraphFacts, PdfFacts, SheetFacts,
                          VideoFacts)
from checks.wordcount import count_words
from ingest.files.sniff import format_of

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 400_000  # text kept per document: ten times the longest text material a call allows
MAX_SEAL_PAGES = 20  # a form is a few pages; a 300-page PDF must not cost 300 page decodes
SEAL_WORK_PX = 700  # long side of the page image the seal analysis looks at
_IMAGE_FORMATS = ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "MPO"]


# ---------------------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------------------


def extract_facts(path: Path, name: str, role: str, size: int, sha256: str, archive: str | None) -> FileFacts:
    """Facts of one file. Never raises on bad content (``OSError`` reading our own spool file does raise)."""
    with path.open("rb") as fh:
        head = fh.read(2048)
    kind = format_of(head)
    base = FileFacts(name=name, role=role, size=size, sha256=sha256, archive=archive)
    suffix = Path(name).suffix.lower()
    try:
        if role == FileRole.PHOTO or (kind in _IMAGE_FORMATS and role in (FileRole.AUXILIARY, FileRole.UNKNOWN)):
            return _replace(base, image=read_image(path, kind))
        if kind == "PDF":
            return _replace(base, pdf=read_pdf(path))
        if kind == "ZIP" and suffix in (".docx", ".docm", ".dotx") or (kind == "ZIP" and _is_docx(path)):
            return _replace(base, doc=read_docx(path))
        if kind == "ZIP" and _zip_has(path, "xl/workbook.xml"):
            return _replace(base, sheet=read_xlsx(path))
        if kind == "OLE" and suffix in (".docx", ".xlsx", ".pptx"):
            # An OOXML file with an open password is an OLE container (EncryptionInfo + EncryptedPackage).
            return _replace(base, doc=DocFacts(text="", word_count=0, cjk_chars=0, latin_words=0, paragraphs=(),
                                              tables=(), page_width_mm=None, page_height_mm=None, encrypted=True))
        if role in (FileRole.VIDEO, FileRole.AUDIO) or kind in ("MP4", "MOV", "AVI", "MKV", "FLV", "WMV", "3GP", "MP3",
                                                                "M4A",
                                                  "WAV"):
            return _media(base, path, kind, role)
        if suffix == ".txt" and size <= 4 << 20:
            return _replace(base, doc=_text_doc(_decode_text(path.read_bytes())))
    except _Unreadable as exc:
        return _replace(base, error=str(exc))
    except MemoryError:
        raise  # our limit, not the sender's fault: the caller records it for staff (ingest/files/isolation.py)
    # Isolation boundary: python-docx, pypdf, Pillow and libmediainfo parse files from strangers, and on hostile
    # input they raise exception types of their own (struct.error, zlib.error, RecursionError, AssertionError…).
    # One unreadable file must not lose the submission: it becomes a recorded error on that file.
    except Exception as exc:  # noqa: BLE001
        log.warning("reading %s (%s) failed: %s: %s", name, role, type(exc).__name__, exc)
        return _replace(base, error="文件内容无法解析，可能已损坏")
    return base


class _Unreadable(Exception):
    """The file's content cannot be read; the message is plain Chinese for the sender."""


def _replace(base: FileFacts, **changes: Any) -> FileFacts:
    from dataclasses import replace

    return replace(base, **changes)


def _decode_text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def _text_doc(text: str) -> DocFacts:
    text = text[:MAX_TEXT_CHARS]
    counted = count_words(text)
    return DocFacts(text=text, word_count=counted.total, cjk_chars=counted.east_asian, latin_words=counted.other_words,
                    paragraphs=(), tables=(), page_width_mm=None, page_height_mm=None)


# ---------------------------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------------------------


def read_image(path: Path, kind: str | None = None) -> ImageFacts:
    """Format by magic bytes, pixel size and EXIF orientation from the headers, and a decode that reads every
    byte of the entropy-coded data (a truncated JPEG passes ``verify()`` but fails ``load()``). JPEGs decode at
    1/8 scale: libjpeg then skips the inverse DCT and the full-size pixel buffer, but still reads every scan
    of a progressive file to its end, so truncation anywhere is still found."""
    if kind is None:
        with path.open("rb") as fh:
            kind = format_of(fh.read(64))
    if kind == "HEIC":
        return ImageFacts(format="HEIC", width=None, height=None, decoded_ok=False,
                          error="苹果手机HEIC格式，无法按常见图片格式打开")
    if kind not in _IMAGE_FORMATS:
        return ImageFacts(format=kind, width=None, height=None, decoded_ok=False, error="不是图片文件")
    try:
        with Image.open(path, formats=_IMAGE_FORMATS) as im:
            width, height = im.size
            orientation = _orientation(im)
            if im.format in ("JPEG", "MPO"):
                im.draft("RGB", (max(1, width // 8), max(1, height // 8)))  # 1/8 scale, every byte still decoded
            im.load()
            return ImageFacts(format=kind, width=width, height=height, decoded_ok=True, orientation=orientation)
    except Image.DecompressionBombError:
        return ImageFacts(format=kind, width=None, height=None, decoded_ok=False,
                          error="图片像素数超出安全上限，拒绝解码")
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as exc:
        detail = "文件被截断，缺少后半部分" if "truncated" in str(exc).lower() else "图片数据损坏，无法解码"
        return ImageFacts(format=kind, width=None, height=None, decoded_ok=False, error=detail)


def _orientation(im: Image.Image) -> int:
    """EXIF Orientation (tag 0x0112), 1 when absent or out of range (a stranger's EXIF may say anything)."""
    try:
        value = im.getexif().get(0x0112, 1)
    except (OSError, SyntaxError, ValueError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


# ---------------------------------------------------------------------------------------------------------------
# Video and audio
# ---------------------------------------------------------------------------------------------------------------


def _rotation(value: Any) -> int:
    try:
        return int(round(float(value))) % 360
    except (TypeError, ValueError):
        return 0


def _media(base: FileFacts, path: Path, kind: str | None, role: str) -> FileFacts:
    try:
        info = MediaInfo.parse(str(path))
    except (OSError, RuntimeError, ValueError) as exc:
        raise _Unreadable("无法读取音视频信息，文件可能已损坏") from exc
    general = info.general_tracks[0] if info.general_tracks else None
    container = kind if kind not in (None, "ZIP") else (getattr(general, "format", None) if general else None)
    duration_ms = getattr(general, "duration", None) if general else None
    duration = float(duration_ms) / 1000 if duration_ms else None
    if info.video_tracks and role != FileRole.AUDIO:
        v = info.video_tracks[0]
        aspect = getattr(v, "display_aspect_ratio", None)
        return _replace(base, video=VideoFacts(
            container=container, duration_s=duration or (float(v.duration) / 1000 if v.duration else None),
            width=int(v.width) if v.width else None, height=int(v.height) if v.height else None,
            display_aspect=float(aspect) if aspect else None, rotation_deg=_rotation(getattr(v, "rotation", 0)),
            size=base.size))
    if info.audio_tracks:
        return _replace(base, audio=AudioFacts(container=container, duration_s=duration, size=base.size))
    raise _Unreadable("文件中没有可播放的音视频内容，可能已损坏或格式不受支持")


# ---------------------------------------------------------------------------------------------------------------
# DOCX: text as Word counts it, tables, and formatting resolved through styles (for font/spacing rules)
# ---------------------------------------------------------------------------------------------------------------


def _is_docx(path: Path) -> bool:
    return _zip_has(path, "word/document.xml")


def _zip_has(path: Path, member: str) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return member in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


MAX_SHEET_CELLS = 200_000  # a form is a few hundred cells; a huge workbook is read this far and no further


def read_xlsx(path: Path) -> SheetFacts:
    """Sheet names and cell texts of an .xlsx (read-only, values not formulas), for recognising a form by content."""
    import openpyxl  # only workbooks need it

    try:
        book = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise _Unreadable("Excel文件已损坏或不是有效的.xlsx文件") from exc
    try:
        names = tuple(book.sheetnames)
        parts: list[str] = []
        rows = cells = 0
        for sheet in book.worksheets:
            for row in sheet.iter_rows(values_only=True):
                texts = ["" if v is None else str(v).strip().replace("\t", " ").replace("\n", " ") for v in row]
                cells += len(row)
                if any(texts):
                    rows += 1
                    # Empty cells kept (trailing ones dropped): a column stays a column for rules reading tables.
                    while texts and not texts[-1]:
                        texts.pop()
                    parts.append("\t".join(texts))
                if cells > MAX_SHEET_CELLS:
                    break
            parts.append("")
    finally:
        book.close()
    return SheetFacts(sheet_names=names, text="\n".join(parts)[:MAX_TEXT_CHARS], rows=rows)


class _Styles:
    """Style lookups with the basedOn chain and docDefaults, as Word resolves them."""

    def __init__(self, styles_element: Any) -> None:
        self.by_id: dict[str, Any] = {}
        self.default_paragraph: str | None = None
        for style in styles_element.findall(qn("w:style")):
            sid = style.get(qn("w:styleId"))
            self.by_id[sid] = style
            if style.get(qn("w:type")) == "paragraph" and style.get(qn("w:default")) in ("1", "true"):
                self.default_paragraph = sid
        defaults = styles_element.find(qn("w:docDefaults"))
        self.default_rpr = defaults.find(f"{qn('w:rPrDefault')}/{qn('w:rPr')}") if defaults is not None else None
        self.default_ppr = defaults.find(f"{qn('w:pPrDefault')}/{qn('w:pPr')}") if defaults is not None else None

    def chain(self, style_id: str | None) -> Iterator[Any]:
        seen: set[str] = set()
        while style_id and style_id in self.by_id and style_id not in seen:
            seen.add(style_id)
            style = self.by_id[style_id]
            yield style
            based = style.find(qn("w:basedOn"))
            style_id = based.get(qn("w:val")) if based is not None else None

    def name(self, style_id: str | None) -> str | None:
        style = self.by_id.get(style_id or "")
        el = style.find(qn("w:name")) if style is not None else None
        return el.get(qn("w:val")) if el is not None else None


def _first(elements: Iterator[Any], path: str, attr: str) -> str | None:
    for el in elements:
        if el is None:
            continue
        found = el.find(path) if path else el
        if found is not None and found.get(attr) is not None:
            return str(found.get(attr))
    return None


def _font(sources: Iterator[Any], slot: str) -> str | None:
    """The font of ``slot`` (eastAsia / ascii) from the first rFonts that sets it. A theme attribute (e.g.
    ``w:eastAsiaTheme="minorEastAsia"``) wins over the plain one in the same element, as in Word; it is returned as
    "theme:minorEastAsia" because the theme part, not the styles, names the real font."""
    for el in sources:
        fonts = el.find(qn("w:rFonts")) if el is not None else None
        if fonts is None:
            continue
        theme = fonts.get(qn(f"w:{slot}Theme"))
        if theme:
            return f"theme:{theme}"
        if fonts.get(qn(f"w:{slot}")):
            return str(fonts.get(qn(f"w:{slot}")))
    return None


def _paragraph_facts(p: Any, styles: _Styles, in_table: bool) -> ParagraphFacts:
    ppr = p.find(qn("w:pPr"))
    style_el = ppr.find(qn("w:pStyle")) if ppr is not None else None
    style_id = style_el.get(qn("w:val")) if style_el is not None else styles.default_paragraph
    style_chain = list(styles.chain(style_id))
    runs = [r for r in p.iter(qn("w:r")) if _own_text(r).strip()]
    text = _own_text(p)
    dominant = max(runs, key=lambda r: len(_own_text(r)), default=None)

    def rpr_sources() -> Iterator[Any]:
        if dominant is not None:
            rpr = dominant.find(qn("w:rPr"))
            yield rpr
            rstyle = rpr.find(qn("w:rStyle")) if rpr is not None else None
            if rstyle is not None:
                yield from (s.find(qn("w:rPr")) for s in styles.chain(rstyle.get(qn("w:val"))))
        yield from (s.find(qn("w:rPr")) for s in style_chain)
        yield styles.default_rpr

    def ppr_sources() -> Iterator[Any]:
        yield ppr
        yield from (s.find(qn("w:pPr")) for s in style_chain)
        yield styles.default_ppr

    east = _font(rpr_sources(), "eastAsia")
    latin = _font(rpr_sources(), "ascii")
    size = _first(rpr_sources(), qn("w:sz"), qn("w:val"))
    bold_el = next((s.find(qn("w:b")) for s in rpr_sources() if s is not None and s.find(qn("w:b")) is not None), None)
    bold = None if bold_el is None else bold_el.get(qn("w:val"), "true") not in ("0", "false")
    line = _first(ppr_sources(), qn("w:spacing"), qn("w:line"))
    rule = _first(ppr_sources(), qn("w:spacing"), qn("w:lineRule")) or "auto"
    outline = _first(ppr_sources(), qn("w:outlineLvl"), qn("w:val"))
    style_name = styles.name(style_id)
    level = int(outline) + 1 if outline is not None and outline.isdigit() and int(outline) < 9 else None
    if level is None and style_name:
        m = re.match(r"(?i)^(?:heading|标题)\s*(\d)$", style_name.strip())
        level = int(m.group(1)) if m else (0 if style_name.lower() == "title" else None)
    return ParagraphFacts(
        text=text, style=style_name, heading_level=level, east_asian_font=east, latin_font=latin,
        size_pt=int(size) / 2 if size and size.isdigit() else None, bold=bold,
        line_spacing=round(int(line) / 240, 3) if line and line.lstrip("-").isdigit() and rule == "auto" else None,
        line_spacing_pt=int(line) / 20 if line and line.lstrip("-").isdigit() and rule != "auto" else None,
        in_table=in_table)


_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"  # python-docx has no "mc"
_TEXTBOX = qn("w:txbxContent")


def _own_text(element: Any) -> str:
    """The text of a paragraph or run without the text boxes anchored in it (they are counted on their own)."""
    return "".join(t.text or "" for t in element.iter(qn("w:t")) if not _inside(t, element, (_TEXTBOX, _FALLBACK)))


def _inside(node: Any, stop: Any, tags: tuple[str, ...]) -> bool:
    """Whether ``node`` lies in an element of one of ``tags`` below ``stop``."""
    for ancestor in node.iterancestors():
        if ancestor is stop:
            return False
        if ancestor.tag in tags:
            return True
    return False


def _text_boxes(body: Any) -> list[Any]:
    """Each text box once. Word 2010+ writes a text box twice, as DrawingML (``mc:Choice``) and as its VML copy
    (``mc:Fallback``): only the first is counted, as Word's 字数统计 does. A VML-only box (older Word,
    LibreOffice's conversion of a .doc) has no Fallback ancestor and is counted."""
    return [box for box in body.iter(_TEXTBOX)
            if not _inside(box, body, (_FALLBACK,)) and not _inside(box, body, (_TEXTBOX,))]


def _notes(document: Any) -> list[str]:
    """Footnote and endnote texts (Word's 字数统计 counts them with 包括文本框、脚注和尾注, its default); the
    separator notes Word writes have no text."""
    texts: list[str] = []
    for rel in document.part.rels.values():
        if rel.is_external or not rel.reltype.endswith(("/footnotes", "/endnotes")):
            continue
        root = etree.fromstring(rel.target_part.blob, parser=etree.XMLParser(resolve_entities=False))
        for p in root.iter(qn("w:p")):
            texts.append(_own_text(p))
    return texts


def read_docx(path: Path) -> DocFacts:
    try:
        document = Document(str(path))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise _Unreadable("Word文档已损坏或不是有效的.docx文件") from exc
    from lxml.etree import XMLSyntaxError  # python-docx parses with lxml

    try:
        styles = _Styles(document.styles.element)
        paragraphs: list[ParagraphFacts] = []
        tables: list[tuple[tuple[str, ...], ...]] = []
        lines: list[str] = []
        body = document.element.body
        for child in body.iterchildren():
            if child.tag == qn("w:p"):
                para = _paragraph_facts(child, styles, in_table=False)
                paragraphs.append(para)
                lines.append(para.text)
            elif child.tag == qn("w:tbl"):
                rows = _table_rows(child)
                tables.append(rows)
                for row in rows:
                    lines.extend(row)
                # Many schools lay the whole text out in a one-cell table: its paragraphs are the text's own.
                for p in child.iter(qn("w:p")):
                    if not _inside(p, child, (_TEXTBOX, _FALLBACK)):
                        paragraphs.append(_paragraph_facts(p, styles, in_table=True))
        for box in _text_boxes(body):
            lines.extend(_own_text(p) for p in box.iter(qn("w:p")) if not _inside(p, box, (_TEXTBOX,)))
        lines.extend(_notes(document))
    except XMLSyntaxError as exc:
        raise _Unreadable("Word文档内容损坏，无法读取") from exc
    text = "\n".join(lines)[:MAX_TEXT_CHARS]
    counted = count_words(text)
    width = height = None
    margins: tuple[float, float, float, float] | None = None
    if document.sections:
        sect = document.sections[0]
        width = round(sect.page_width.mm, 1) if sect.page_width is not None else None
        height = round(sect.page_height.mm, 1) if sect.page_height is not None else None
        top, bottom, left, right = sect.top_margin, sect.bottom_margin, sect.left_margin, sect.right_margin
        if top is not None and bottom is not None and left is not None and right is not None:
            margins = (round(top.mm, 1), round(bottom.mm, 1), round(left.mm, 1), round(right.mm, 1))
    return DocFacts(text=text, word_count=counted.total, cjk_chars=counted.east_asian,
                    latin_words=counted.other_words, paragraphs=tuple(paragraphs), tables=tuple(tables),
                    page_width_mm=width, page_height_mm=height, margins_mm=margins)


def _table_rows(tbl: Any) -> tuple[tuple[str, ...], ...]:
    rows = []
    for tr in tbl.iterchildren(qn("w:tr")):
        cells = []
        for tc in tr.iterchildren(qn("w:tc")):
            cells.append("\n".join(_own_text(p) for p in tc.iter(qn("w:p")) if not _inside(p, tc, (_TEXTBOX, _FALLBACK))))
        rows.append(tuple(cells))
    return tuple(rows)


# ---------------------------------------------------------------------------------------------------------------
# PDF: scan or born-digital, OCR layer, red seal on page images, active content
# ---------------------------------------------------------------------------------------------------------------

_TEXT_SHOWING = {b"Tj", b"TJ", b"'", b'"'}


def _resolve(obj: Any) -> Any:
    return obj.get_object() if isinstance(obj, IndirectObject) else obj


def _text_ops(page: Any, reader: PdfReader) -> tuple[int, int]:
    """(visible, invisible) text-showing operators; render mode 3 (Tr 3) is the invisible text OCR adds."""
    contents = page.get_contents()
    if contents is None:
        return 0, 0
    visible = invisible = 0
    mode = 0
    for operands, operator in ContentStream(contents, reader).operations:
        if operator == b"Tr" and operands:
            mode = int(operands[0])
        elif operator in _TEXT_SHOWING:
            if mode == 3:
                invisible += 1
            else:
                visible += 1
    return visible, invisible


def _page_images(page: Any) -> Iterator[Image.Image]:
    """The page's images, decoded at reduced scale where the format allows."""
    resources = _resolve(page.get("/Resources")) or {}
    xobjects = _resolve(resources.get("/XObject")) or {}
    for key in list(xobjects.keys()):
        xobj = _resolve(xobjects[key])
        if not isinstance(xobj, DictionaryObject) or xobj.get("/Subtype") != "/Image":
            continue
        filters = xobj.get("/Filter")
        filters = [filters] if not isinstance(filters, list) else list(filters)
        if filters and filters[-1] == "/DCTDecode" and isinstance(xobj, StreamObject):
            im = Image.open(BytesIO(xobj.get_data()), formats=["JPEG"])
            im.draft("RGB", (SEAL_WORK_PX, SEAL_WORK_PX))
            yield im
        else:
            for image_file in page.images:
                if image_file.name.rsplit(".", 1)[0].lstrip("/") == str(key).lstrip("/"):
                    yield image_file.image
                    break


def _has_javascript(reader: PdfReader) -> bool:
    root = _resolve(reader.trailer.get("/Root")) or {}
    names = _resolve(root.get("/Names")) or {}
    if "/JavaScript" in names or "/AA" in root:
        return True
    action = _resolve(root.get("/OpenAction"))
    if isinstance(action, DictionaryObject) and ("/JS" in action or action.get("/S") == "/JavaScript"):
        return True
    for page in reader.pages[:MAX_SEAL_PAGES]:
        if "/AA" in page:
            return True
        for annot in _resolve(page.get("/Annots")) or []:
            a = _resolve(_resolve(annot).get("/A"))
            if isinstance(a, DictionaryObject) and (a.get("/S") == "/JavaScript" or "/JS" in a):
                return True
    return False


def read_pdf(path: Path) -> PdfFacts:
    try:
        reader = PdfReader(str(path))
        encrypted = reader.is_encrypted
        if encrypted and not reader.decrypt(""):
            raise _Unreadable("PDF设有打开密码，无法查看")
        pages = list(reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise _Unreadable("PDF文件已损坏或不完整，无法打开") from exc
    chars: list[int] = []
    texts: list[str] = []
    image_only: list[int] = []
    with_fonts: list[int] = []
    scores: list[float] = []
    any_visible = any_invisible = False
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
            visible, invisible = _text_ops(page, reader)
            resources = _resolve(page.get("/Resources")) or {}
            has_font = "/Font" in resources
            images = list(_page_images(page)) if number <= MAX_SEAL_PAGES else []
            n_images = len(images) if number <= MAX_SEAL_PAGES else len(page.images)
            scores.append(max((seal_score(im) for im in images), default=0.0))
        except (PdfReadError, ValueError, KeyError, TypeError, OSError, Image.DecompressionBombError) as exc:
            log.info("PDF page %d of %s unreadable: %s", number, path.name, exc)
            text, visible, invisible, has_font, n_images = "", 0, 0, False, 0
            scores.append(0.0)
        chars.append(len("".join(text.split())))
        texts.append(text)
        any_visible = any_visible or visible > 0
        any_invisible = any_invisible or invisible > 0
        if has_font:
            with_fonts.append(number)
        if n_images and visible == 0:
            image_only.append(number)
    best = max(range(len(scores)), key=lambda i: scores[i], default=None)
    return PdfFacts(
        pages=len(pages), text_chars_per_page=tuple(chars), image_only_pages=tuple(image_only),
        ocr_only_text=any_invisible and not any_visible and len(image_only) == len(pages),
        fonts_on_pages=tuple(with_fonts), seal_scores=tuple(round(s, 3) for s in scores),
        seal_best_page=best + 1 if best is not None and scores[best] > 0 else None,
        has_javascript=_has_javascript(reader), encrypted=encrypted, text="\n".join(texts)[:MAX_TEXT_CHARS])


def _red_mask(im: Image.Image) -> Image.Image:
    """255 where a pixel is seal red: hue ≤ 10 or ≥ 245 (of 255), saturation ≥ 100, value ≥ 80."""
    h, s, v = im.convert("HSV").split()
    hue = h.point(lambda x: 255 if x <= 10 or x >= 245 else 0)
    sat = s.point(lambda x: 255 if x >= 100 else 0)
    val = v.point(lambda x: 255 if x >= 80 else 0)
    return ImageChops.multiply(ImageChops.multiply(hue, sat), val)


def seal_score(image: Image.Image) -> float:
    """Confidence (0..1) that ``image`` carries a red round seal: the red pixels are grouped on a coarse grid, and a
    group scores by being about round (square bounding box, red in all four quadrants) and seal-sized (7–40 % of
    the page width). A red letterhead line or red text is wide and flat and scores near 0."""
    im = image.convert("RGB")
    im.thumbnail((SEAL_WORK_PX, SEAL_WORK_PX))
    mask = _red_mask(im)
    if mask.getbbox() is None:
        return 0.0
    cell = 6
    gw, gh = max(1, im.width // cell), max(1, im.height // cell)
    grid = mask.resize((gw, gh), Image.Resampling.BOX).point(lambda x: 255 if x > 20 else 0)
    joined = grid.filter(ImageFilter.MaxFilter(3))  # bridge the gaps in uneven stamp ink
    on = joined.tobytes()
    red_cells = grid.tobytes()
    seen = bytearray(len(on))
    best = 0.0
    for start in range(len(on)):
        if not on[start] or seen[start]:
            continue
        stack, component = [start], []
        seen[start] = 1
        while stack:
            i = stack.pop()
            component.append(i)
            x, y = i % gw, i // gw
            for nx in (x - 1, x, x + 1):
                for ny in (y - 1, y, y + 1):
                    j = ny * gw + nx
                    if 0 <= nx < gw and 0 <= ny < gh and on[j] and not seen[j]:
                        seen[j] = 1
                        stack.append(j)
        best = max(best, _component_score(component, red_cells, gw, im.width, im.height))
    return best


def _component_score(cells: list[int], red: bytes, gw: int, width: int, height: int) -> float:
    xs = [i % gw for i in cells]
    ys = [i // gw for i in cells]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    w, h = x1 - x0 + 1, y1 - y0 + 1
    if w < 3 or h < 3:
        return 0.0
    aspect = min(w, h) / max(w, h)
    aspect_score = min(1.0, max(0.0, (aspect - 0.5) / 0.3))
    size = max(w, h) * 6 / min(width, height)
    if size < 0.07:
        size_score = (size / 0.07) ** 2
    elif size > 0.4:
        size_score = max(0.0, 1 - (size - 0.4) / 0.2)
    else:
        size_score = 1.0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    quadrants = {(i % gw >= cx, i // gw >= cy) for i in cells if red[i]}
    red_count = sum(1 for i in cells if red[i])
    fill = red_count / (w * h)
    fill_score = 1.0 if 0.12 <= fill <= 0.9 else 0.5
    return aspect_score * size_score * (len(quadrants) / 4) * fill_score
