"""Word documents (.docx): the text as Word's 字数统计 counts it (text boxes once, footnotes and endnotes
included), tables, page size and margins, and each paragraph's formatting resolved through the styles (for the
font, size and spacing rules)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any, Iterator

from docx import Document
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml.ns import qn
from lxml import etree

from checks.facts import DocFacts, ParagraphFacts
from checks.wordcount import count_words
from ingest.files.readers import MAX_TEXT_CHARS, Unreadable


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
        """The style and the styles it is based on, nearest first (a loop in basedOn ends the chain)."""
        seen: set[str] = set()
        while style_id and style_id in self.by_id and style_id not in seen:
            seen.add(style_id)
            style = self.by_id[style_id]
            yield style
            based = style.find(qn("w:basedOn"))
            style_id = based.get(qn("w:val")) if based is not None else None

    def name(self, style_id: str | None) -> str | None:
        """The style's display name (e.g. "heading 1"), None for an unknown id."""
        style = self.by_id.get(style_id or "")
        el = style.find(qn("w:name")) if style is not None else None
        return el.get(qn("w:val")) if el is not None else None


def _first(elements: Iterator[Any], path: str, attr: str) -> str | None:
    """``attr`` of the element at ``path`` in the first of ``elements`` that sets it."""
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
    """Text and effective formatting of one paragraph: its dominant run, then its styles, then the defaults."""
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
    multiple, points = _line_spacing(line, rule)
    return ParagraphFacts(
        text=text, style=style_name, heading_level=_heading_level(outline, style_name), east_asian_font=east,
        latin_font=latin, size_pt=int(size) / 2 if size and size.isdigit() else None, bold=bold,
        line_spacing=multiple, line_spacing_pt=points, in_table=in_table)


def _heading_level(outline: str | None, style_name: str | None) -> int | None:
    """The heading level: from the outline level (0–8 → 1–9), else from a heading/标题 style's name (Title → 0)."""
    level = int(outline) + 1 if outline is not None and outline.isdigit() and int(outline) < 9 else None
    if level is None and style_name:
        m = re.match(r"(?i)^(?:heading|标题)\s*(\d)$", style_name.strip())
        level = int(m.group(1)) if m else (0 if style_name.lower() == "title" else None)
    return level


def _line_spacing(line: str | None, rule: str) -> tuple[float | None, float | None]:
    """``w:spacing``'s line as (a multiple of single spacing, for lineRule auto) or (exact or at-least points)."""
    if not line or not line.lstrip("-").isdigit():
        return None, None
    return (round(int(line) / 240, 3), None) if rule == "auto" else (None, int(line) / 20)


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
    """Text, word counts, paragraphs with their resolved formatting, tables and page setup of a .docx."""
    try:
        document = Document(str(path))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise Unreadable("Word文档已损坏或不是有效的.docx文件") from exc
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
        raise Unreadable("Word文档内容损坏，无法读取") from exc
    text = "\n".join(lines)[:MAX_TEXT_CHARS]
    counted = count_words(text)
    width, height, margins = _page_setup(document)
    return DocFacts(text=text, word_count=counted.total, cjk_chars=counted.east_asian,
                    latin_words=counted.other_words, paragraphs=tuple(paragraphs), tables=tuple(tables),
                    page_width_mm=width, page_height_mm=height, margins_mm=margins)


def _page_setup(document: Any) -> tuple[float | None, float | None, tuple[float, float, float, float] | None]:
    """Page width, height and margins (top, bottom, left, right) in mm of the first section, where it states them."""
    width = height = None
    margins: tuple[float, float, float, float] | None = None
    if document.sections:
        sect = document.sections[0]
        width = round(sect.page_width.mm, 1) if sect.page_width is not None else None
        height = round(sect.page_height.mm, 1) if sect.page_height is not None else None
        top, bottom, left, right = sect.top_margin, sect.bottom_margin, sect.left_margin, sect.right_margin
        if top is not None and bottom is not None and left is not None and right is not None:
            margins = (round(top.mm, 1), round(bottom.mm, 1), round(left.mm, 1), round(right.mm, 1))
    return width, height, margins


def _table_rows(tbl: Any) -> tuple[tuple[str, ...], ...]:
    """The cell texts of a table, row by row (text boxes in cells left out: they are counted on their own)."""
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
