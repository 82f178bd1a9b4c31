"""Plain text files (.txt): decoded as UTF-8 or GB18030 and counted as Word counts words."""

from __future__ import annotations

from checks.facts import DocFacts
from checks.wordcount import count_words
from ingest.files.readers import MAX_TEXT_CHARS


def decode_text(data: bytes) -> str:
    """The text of ``data``: UTF-8 (with or without BOM), else GB18030, else UTF-8 with replacement characters."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def text_doc(text: str) -> DocFacts:
    """Document facts of a plain text: its (capped) text and word counts, no paragraphs, tables or page size."""
    text = text[:MAX_TEXT_CHARS]
    counted = count_words(text)
    return DocFacts(text=text, word_count=counted.total, cjk_chars=counted.east_asian, latin_words=counted.other_words,
                    paragraphs=(), tables=(), page_width_mm=None, page_height_mm=None)
