"""Small helpers shared by the rule modules: how sizes, durations, names and lists are written in messages."""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable

from checks.domain import FileRole
from checks.facts import FileFacts, SubmissionFacts

MB = 1024 * 1024  # "2M" as Windows shows file sizes (2.00 MB = 2,097,152 bytes), which is what senders see


def mb(n_bytes: int, limit: int | None = None) -> str:
    """Bytes as MB with one decimal, more when needed so the value never reads as equal to the limit
    (small files in KB)."""
    if n_bytes < MB // 10 and (limit is None or limit >= MB // 10):
        return f"{max(1, round(n_bytes / 1024))} KB"
    for decimals in (1, 2, 3):
        text = f"{n_bytes / MB:.{decimals}f}"
        if limit is None or text != f"{limit / MB:.{decimals}f}" or n_bytes == limit:
            return f"{text} MB"
    return f"{n_bytes:,} 字节"


def limit_mb(n_bytes: int) -> str:
    """A limit as the call writes it: "2 MB", "20 MB", "1.5 MB"."""
    text = f"{n_bytes / MB:.2f}".rstrip("0").rstrip(".")
    return f"{text} MB"


def minutes(seconds: float) -> str:
    """Durations as people say them: "6分钟", "5分30秒", "45秒"."""
    total = int(round(seconds))
    m, s = divmod(total, 60)
    if m and s:
        return f"{m}分{s}秒"
    if m:
        return f"{m}分钟"
    return f"{s}秒"


def quoted(name: str) -> str:
    """A file or case name in Chinese quotes; a name that already has them (“AI+劳动”课程) gets 《》 instead."""
    if "“" in name or "”" in name:
        return f"《{name}》"
    return f"“{name}”"


def listing(items: Iterable[str], limit: int = 6) -> str:
    items = list(items)
    shown = "、".join(items[:limit])
    return shown + (f"等{len(items)}项" if len(items) > limit else "")


_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """For tolerant comparison: full-width forms folded (NFKC), case folded, spaces and punctuation removed."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text)).casefold()


def case_in_form(facts: SubmissionFacts, min_words: int) -> tuple[FileFacts, ...]:
    """Application forms (Word) that carry the case itself: a call that asks only for "the filled 申报表" (Xinhua
    2024 五(一)1) gets cases written inside it; a form of at least ``min_words`` 字 is such a text (0: never)."""
    if min_words <= 0:
        return ()
    return tuple(f for f in facts.with_role(FileRole.FORM_WORD) if f.doc is not None and f.doc.word_count >= min_words)
