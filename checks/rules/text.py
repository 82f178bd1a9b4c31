"""四.4(2)–(3): the text material (文字材料) is present, within the word limit as Word counts 字数, and covers the
required parts. Parts are matched tolerantly (headings phrased differently, numbered, inline "一、基本情况。…")."""

from __future__ import annotations

import re
from typing import Iterator

from checks.domain import FileRole, Severity
from checks.facts import FileFacts, SubmissionFacts
from checks.registry import REGISTRY, Check, Params
from checks.rules.common import listing, normalise, quoted
from checks.wordcount import word_count


def _words(f: FileFacts) -> int:
    if f.doc is not None:
        return f.doc.word_count
    return word_count(f.pdf.text) if f.pdf is not None else 0


def _readable_texts(facts: SubmissionFacts) -> tuple[FileFacts, ...]:
    return tuple(f for f in facts.with_role(FileRole.TEXT) if f.doc is not None or f.pdf is not None)


@REGISTRY.rule(id="text-present", clause="四.4(2)", severity=Severity.REJECT, title="文字材料",
               params={"min_words": (int, 1)})
def text_present(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    texts = _readable_texts(facts)
    with_words = [f for f in texts if _words(f) >= params["min_words"]]
    if with_words:
        yield Check(True, f"已收到文字材料：{listing(quoted(f.name) for f in with_words)}。",
                    evidence={"files": len(with_words)})
    elif texts:
        yield Check(False, f"文字材料{quoted(texts[0].name)}中没有可读取的文字（可能是图片或扫描件）。"
                           "文字材料必须提供（四.4(2)）。", file=texts[0].name,
                    fix="请提供可编辑的Word版文字材料（.docx），不要只发送图片或扫描件。")
    else:
        yield Check(False, "未找到文字材料。案例材料中的文字材料必须提供（四.4(2)）。",
                    fix="请补充案例文字材料（Word文档，文件名中注明“文字材料”或案例名称）后重新发送。")


def _validate_length(params: Params) -> None:
    if params["min_words"] < 0 or params["max_words"] < 0:
        raise ValueError("字数限制不能为负数")
    if params["max_words"] and params["min_words"] > params["max_words"]:
        raise ValueError("min_words 大于 max_words")


@REGISTRY.rule(id="text-length", clause="四.4(3)", severity=Severity.REJECT, title="文字材料字数",
               params={"min_words": (int, 0), "max_words": (int, 3000)}, validate=_validate_length)
def text_length(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    low, high = params["min_words"], params["max_words"]
    texts = _readable_texts(facts)
    if not texts:
        yield Check(False, "未收到可读取的文字材料，无法统计字数。", milder=Severity.INFO)
    for f in texts:
        n = _words(f)
        evidence = {"measured": n, "min": low, "max": high}
        if high and n > high:
            yield Check(False, f"文字材料{quoted(f.name)}字数为{n}字（按Word“字数”统计），超过{high}字的上限（四.4(3)）。",
                        file=f.name, evidence=evidence,
                        fix=f"请删减到{high}字以内（可在Word“审阅—字数统计”中查看“字数”）后重新发送。")
        elif n < low:
            yield Check(False, f"文字材料{quoted(f.name)}字数为{n}字（按Word“字数”统计），少于要求的{low}字。",
                        file=f.name, evidence=evidence, fix=f"请将文字材料充实到{low}字以上后重新发送。")
        else:
            limit = f"{low}—{high}字" if low and high else (f"{high}字以内" if high else f"不少于{low}字")
            yield Check(True, f"文字材料{quoted(f.name)}字数为{n}字，符合{limit}的要求。", file=f.name,
                        evidence=evidence)


# A heading is a short paragraph, a paragraph in a heading style, or the start of a paragraph ("一、基本情况。…").
_HEADING_PREFIX = 40
_NUMBERING = re.compile(r"^\s*(?:[（(]?[一二三四五六七八九十\d]+[)）、.．:：\s]|第[一二三四五六七八九十\d]+[部分章节]?)")


def _heading_candidates(f: FileFacts) -> list[str]:
    if f.doc is not None and f.doc.paragraphs:
        # Paragraphs in tables too: many schools lay the whole text out in a one-cell table.
        lines = [p.text for p in f.doc.paragraphs]
    else:
        lines = f.text.splitlines()
    out = []
    for line in lines:
        stripped = _NUMBERING.sub("", line.strip())
        out.append(normalise(stripped[:_HEADING_PREFIX]))
    return out


def _alternatives(part: str) -> list[str]:
    return [normalise(a) for a in part.split("|") if a.strip()]


@REGISTRY.rule(id="text-sections", clause="四.4(3)", severity=Severity.WARN, title="文字材料内容要素",
               params={"parts": (list[str], ["基本情况|案例背景|背景情况|基本概况|案例概述",
                                             "创新亮点和做法|创新亮点|亮点和做法|主要做法|创新做法|特色做法|亮点做法",
                                             "问题及破解办法|破解办法|遇到的问题|存在的问题|问题与对策|问题及对策|困难与对策|破解",
                                             "取得的成效|主要成效|实践成效|成效|成果与成效|取得成效",
                                             "经验与启示|经验启示|经验和启示|启示|主要经验|经验与思考",
                                             "下一步发展计划|下一步计划|下一步工作|下一步|发展计划|未来展望|今后打算"])})
def text_sections(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    parts: tuple[str, ...] = params["parts"]
    texts = _readable_texts(facts)
    if not texts:
        yield Check(False, "未收到可读取的文字材料，无法检查内容要素。", milder=Severity.INFO)
        return
    # The parts may be spread over several text files (a sender splitting a long text); judge them together.
    candidates = [c for f in texts for c in _heading_candidates(f)]
    missing = [p.split("|")[0] for p in parts
               if not any(c.startswith(a) or (a in c and len(c) <= 2 * len(a) + 8)
                          for a in _alternatives(p) for c in candidates)]
    names = listing(quoted(f.name) for f in texts)
    if missing:
        yield Check(False, f"文字材料{names}中未找到这些部分的标题：{'、'.join(missing)}（四.4(3)）。",
                    file=texts[0].name, evidence={"missing": "、".join(missing), "required": len(parts)},
                    fix=f"请按“{'、'.join(p.split('|')[0] for p in parts)}”分部分撰写，并给每部分加上小标题。")
    else:
        yield Check(True, f"文字材料{names}包含全部{len(parts)}个部分。", evidence={"required": len(parts)})
