"""Document layout of the text material (版式): paper size, margins, the fonts and sizes of the title, the subtitle
and the body, and line spacing, all read from the DOCX itself (``w:eastAsia`` fonts, styles resolved through their
``basedOn`` chain and ``w:docDefaults``; see ``ingest.files.readers.word.read_docx``).

Calls write fonts the way Word's Chinese menus name them: 三号黑体 is 16 pt SimHei, 小三号楷体 15 pt KaiTi, 小四宋体
12 pt SimSun. A document may name the same font in English (SimSun) or by an older name (楷体_GB2312); both count.
A font given only through the document theme ("theme:minorEastAsia") cannot be told from the DOCX alone: it is
reported as a milder finding for staff rather than as a fault.
"""

from __future__ import annotations

import re

from typing import Iterator

from checks.domain import FileRole, Severity
from checks.facts import DocFacts, FileFacts, ParagraphFacts, SubmissionFacts
from checks.registry import REGISTRY, Check, Params
from checks.rules.common import listing, quoted

# Chinese font names and the other names the same font goes by in DOCX files.
_FONT_NAMES: dict[str, tuple[str, ...]] = {
    "宋体": ("宋体", "simsun", "新宋体", "nsimsun"),
    "黑体": ("黑体", "simhei"),
    "楷体": ("楷体", "kaiti", "楷体_gb2312", "kaiti_gb2312", "stkaiti", "华文楷体"),
    "仿宋": ("仿宋", "fangsong", "仿宋_gb2312", "fangsong_gb2312", "stfangsong", "华文仿宋"),
    "微软雅黑": ("微软雅黑", "microsoft yahei"),
}

# Word's Chinese size names (字号) for the messages: senders set sizes from this menu.
_SIZE_NAMES = {42.0: "初号", 36.0: "小初", 26.0: "一号", 24.0: "小一", 22.0: "二号", 18.0: "小二", 16.0: "三号",
               15.0: "小三", 14.0: "四号", 12.0: "小四", 10.5: "五号", 9.0: "小五", 7.5: "六号"}

_PAPER = {"A4": (210.0, 297.0), "A3": (297.0, 420.0), "B5": (176.0, 250.0), "16K": (184.0, 260.0)}


def _size_text(pt: float | None) -> str:
    if pt is None:
        return "未设置字号"
    name = _SIZE_NAMES.get(pt)
    return f"{name}（{pt:g}磅）" if name else f"{pt:g}磅"


def _same_font(found: str | None, wanted: str) -> bool:
    if not found:
        return False
    names = _FONT_NAMES.get(wanted, (wanted.lower(),))
    return found.strip().lower() in names


def _validate(params: Params) -> None:
    if params["paper"] and params["paper"].upper() not in _PAPER:
        raise ValueError(f"paper 只能是 {'、'.join(_PAPER)} 之一或 \"\"，实际是 {params['paper']!r}")
    if params["margins_mm"] and len(params["margins_mm"]) != 4:
        raise ValueError("margins_mm 应为四个数：上、下、左、右（或留空）")
    for key in ("title_size_pt", "subtitle_size_pt", "body_size_pt", "line_spacing", "tolerance_mm"):
        if params[key] < 0:
            raise ValueError(f"{key} 不能为负数")


def _texts(facts: SubmissionFacts) -> tuple[FileFacts, ...]:
    return tuple(f for f in facts.with_role(FileRole.TEXT) if f.doc is not None and f.doc.paragraphs)


def _lines(doc: DocFacts) -> list[ParagraphFacts]:
    return [p for p in doc.paragraphs if not p.in_table and p.text.strip()]


def _font_problem(p: ParagraphFacts, font: str, size: float) -> tuple[str, bool] | None:
    """(what is wrong, whether it is only unknowable) for one paragraph, or None when it is as asked."""
    wrong: list[str] = []
    unknown = False
    if font:
        found = p.east_asian_font
        if found and found.startswith("theme:"):
            unknown = True
            wrong.append("字体取自文档主题，无法确认是否为" + font)
        elif not _same_font(found, font):
            wrong.append(f"字体为{found or '未设置'}")
    if size and (p.size_pt is None or abs(p.size_pt - size) > 0.25):
        wrong.append(f"字号为{_size_text(p.size_pt)}")
    if not wrong:
        return None
    return "，".join(wrong), unknown and len(wrong) == 1


def _short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= 12 else text[:12] + "…"


def _role_checks(f: FileFacts, role: str, paragraphs: list[ParagraphFacts], font: str,
                 size: float) -> Iterator[Check]:
    if not paragraphs or not (font or size):
        return
    wanted = f"{_size_text(size) if size else ''}{font}"
    problems = [(p, _font_problem(p, font, size)) for p in paragraphs]
    bad = [(p, why) for p, why in problems if why is not None]
    if not bad:
        yield Check(True, f"文字材料{quoted(f.name)}的{role}为{wanted}。", file=f.name)
        return
    only_unknown = all(why[1] for _, why in bad)
    if len(paragraphs) == 1:
        message = f"文字材料{quoted(f.name)}的{role}{bad[0][1][0]}，要求{wanted}。"
    else:
        shown = listing((f"“{_short(p.text)}”（{why[0]}）" for p, why in bad), limit=3)
        message = f"文字材料{quoted(f.name)}的{role}{len(bad)}段不是{wanted}：{shown}。"
    yield Check(False, message, file=f.name,
                evidence={"paragraphs": len(paragraphs), "differing": len(bad), "wanted_font": font,
                          "wanted_size_pt": size},
                fix=f"请将{role}设置为{wanted}（在Word“开始—字体”中选择“中文字体”为{font}）后重新发送。",
                milder=Severity.WARN if only_unknown else None)


@REGISTRY.rule(id="text-format", clause="四.4", severity=Severity.REJECT, title="文字材料版式",
               params={"paper": (str, "A4"), "margins_mm": (list[float], []), "tolerance_mm": (float, 1.0),
                       "title_font": (str, ""), "title_size_pt": (float, 0.0),
                       "subtitle_font": (str, ""), "subtitle_size_pt": (float, 0.0),
                       "subtitle_marks": (list[str], ["——", "—", "--", "－－"]),
                       "body_font": (str, ""), "body_size_pt": (float, 0.0), "line_spacing": (float, 0.0)},
               validate=_validate)
def text_format(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    texts = _texts(facts)
    if not texts:
        yield Check(False, "未收到可读取的Word版文字材料（.docx），无法检查版式。", milder=Severity.INFO)
        return
    for f in texts:
        assert f.doc is not None
        yield from _page_checks(f, f.doc, params)
        lines = _lines(f.doc)
        if not lines:
            continue
        title, rest = lines[0], lines[1:]
        subtitle = None
        if rest and any(rest[0].text.strip().startswith(m) for m in params["subtitle_marks"]):
            subtitle, rest = rest[0], rest[1:]
        yield from _role_checks(f, "标题", [title], params["title_font"], params["title_size_pt"])
        if subtitle is not None:
            yield from _role_checks(f, "副标题", [subtitle], params["subtitle_font"], params["subtitle_size_pt"])
        body = [p for p in rest if not _is_section_heading(p)]
        yield from _role_checks(f, "正文", body, params["body_font"], params["body_size_pt"])
        if params["line_spacing"] and body:
            yield _spacing_check(f, body, params["line_spacing"])


# "一、案例描述", "（二）做法", "3. 反思", "第一部分": numbered lines that open a section.
_SECTION_NUMBER = re.compile(r"^\s*(?:[（(]?[一二三四五六七八九十\d]{1,3}[)）、.．]|第[一二三四五六七八九十\d]+[部分章节])")
_HEADING_MAX_CHARS = 30


def _is_section_heading(p: ParagraphFacts) -> bool:
    """Section headings are not 正文 (the call sets fonts for 标题, 副标题 and 正文 only): a paragraph in a heading
    style or outline level, or a short line without a full stop that is numbered or set in bold, as schools type
    their headings."""
    if p.heading_level is not None:
        return True
    text = p.text.strip()
    if len(text) > _HEADING_MAX_CHARS or text.endswith(("。", "；", ";", "！", "？")):
        return False
    return bool(_SECTION_NUMBER.match(text)) or p.bold is True


def _page_checks(f: FileFacts, doc: DocFacts, params: Params) -> Iterator[Check]:
    tolerance = params["tolerance_mm"]
    paper = params["paper"].upper()
    if paper:
        want_w, want_h = _PAPER[paper]
        w, h = doc.page_width_mm, doc.page_height_mm
        if w is None or h is None:
            yield Check(False, f"文字材料{quoted(f.name)}未设置纸张大小，无法确认是否为{paper}。", file=f.name,
                        milder=Severity.WARN, fix=f"请在Word“布局—纸张大小”中选择{paper}后重新发送。")
        elif abs(min(w, h) - want_w) > tolerance or abs(max(w, h) - want_h) > tolerance:
            yield Check(False, f"文字材料{quoted(f.name)}的纸张为{w:g}×{h:g}毫米，不是{paper}（{want_w:g}×{want_h:g}毫米）。",
                        file=f.name, evidence={"width_mm": w, "height_mm": h, "paper": paper},
                        fix=f"请在Word“布局—纸张大小”中选择{paper}后重新发送。")
        else:
            yield Check(True, f"文字材料{quoted(f.name)}为{paper}纸张。", file=f.name)
    wanted = tuple(params["margins_mm"])
    if wanted:
        found = doc.margins_mm
        names = ("上", "下", "左", "右")
        if found is None:
            yield Check(False, f"文字材料{quoted(f.name)}未记录页边距。", file=f.name, milder=Severity.WARN,
                        fix="请在Word“布局—页边距”中选择默认页边距后重新发送。")
        elif any(abs(a - b) > tolerance for a, b in zip(found, wanted)):
            shown = "，".join(f"{n}{v / 10:g}厘米" for n, v in zip(names, found))
            asked = "，".join(f"{n}{v / 10:g}厘米" for n, v in zip(names, wanted))
            yield Check(False, f"文字材料{quoted(f.name)}的页边距为{shown}，要求默认页边距（{asked}）。", file=f.name,
                        evidence={"margins_mm": ",".join(f"{v:g}" for v in found)},
                        fix="请在Word“布局—页边距”中选择“常规”（默认）页边距后重新发送。")
        else:
            yield Check(True, f"文字材料{quoted(f.name)}为默认页边距。", file=f.name)


def _spacing_check(f: FileFacts, body: list[ParagraphFacts], wanted: float) -> Check:
    def spacing(p: ParagraphFacts) -> str:
        if p.line_spacing_pt is not None:
            return f"固定值{p.line_spacing_pt:g}磅"
        return f"{p.line_spacing or 1.0:g}倍行距"

    bad = [p for p in body if p.line_spacing_pt is not None or abs((p.line_spacing or 1.0) - wanted) > 0.05]
    if not bad:
        return Check(True, f"文字材料{quoted(f.name)}的正文为{wanted:g}倍行距。", file=f.name)
    shown = listing((f"“{_short(p.text)}”（{spacing(p)}）" for p in bad), limit=3)
    return Check(False, f"文字材料{quoted(f.name)}的正文{len(bad)}段不是{wanted:g}倍行距：{shown}。", file=f.name,
                 evidence={"paragraphs": len(body), "differing": len(bad), "wanted": wanted},
                 fix=f"请全选正文，在Word“段落—行距”中选择“{wanted:g}倍行距”后重新发送。")
