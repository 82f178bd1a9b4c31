"""Word documents as python-docx writes them (A4, Chinese fonts set on ``w:eastAsia``) or as LibreOffice converts
them (legacy .doc/.rtf, text boxes, footnotes): application forms, text material of an exact Word 字数, caption
lists, and text laid out as a call prescribes."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Mapping, Sequence

from docx import Document
from docx.document import Document as DocxDocument
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

from checks.wordcount import word_count
from ingest.samples import A4_MM, file_seed

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
    rng = random.Random(file_seed(path, seed))
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

    rng = random.Random(file_seed(path, None))
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
    rng = random.Random(file_seed(path, seed))
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
