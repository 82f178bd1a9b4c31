"""Text helpers of the subject parser: width folding, numbers, separators and brackets (pure).

Every helper works on a width-folded copy of the subject where one character stands for one, so a span found
here is also a span of what the sender wrote.
"""

from __future__ import annotations

import re

_WIDTH_FOLD = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20, 0x00A0: 0x20}


def fold_width(text: str) -> str:
    """Full-width ASCII and ideographic space → half-width, one character for one (spans stay aligned)."""
    return text.translate(_WIDTH_FOLD)


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
NUMBER_PATTERN = r"(?:\d{1,2}|[一二三四五六七八九十两]{1,3})"


def parse_number(text: str) -> int | None:
    """1–99 written as digits or as a Chinese numeral (六, 十, 十二, 二十三); None otherwise."""
    if text.isdigit() and text.isascii():
        return int(text)
    if not text or any(ch not in _CN_DIGITS and ch != "十" for ch in text):
        return None
    if "十" not in text:
        return _CN_DIGITS[text] if len(text) == 1 else None
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        return None
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


# Characters that separate the parts of a subject (after width folding). "\x1f" marks a removed span.
SEPARATORS = "/\\|+_:;~、—–―-－ \x1f，,。；·•"
OPENERS = "【[(《“\"「『〈<‘〔〖"
CLOSERS = "】])》”\"」』〉>’〕〗"
BOUNDARY = set(SEPARATORS + OPENERS + CLOSERS)
REMOVED = "\x1f"
QUOTES_AND_SPACES = re.compile(r"[\s“”\"'‘’「」『』《》〈〉·•]")


def strip_edges(text: str) -> str:
    """The text without separators, brackets and dots at its ends."""
    return text.strip(SEPARATORS + OPENERS + CLOSERS + ".")


def unwrap(text: str) -> str:
    """Drop separators at both ends and brackets that enclose the whole text (《AI赋能课堂》 → AI赋能课堂)."""
    while True:
        unwrapped = _unwrap_once(text)
        if unwrapped == text:
            return text
        text = unwrapped


def _unwrap_once(text: str) -> str:
    text = text.strip(SEPARATORS)
    while len(text) >= 2 and text[0] in OPENERS:
        close = CLOSERS[OPENERS.index(text[0])]
        if text[-1] != close or matching_close(text, 0) != len(text) - 1:
            break
        text = text[1:-1].strip(SEPARATORS)
    # Unbalanced leftovers at the edges (a bracket whose partner was removed with the category).
    while text and text[0] in CLOSERS:
        text = text[1:].strip(SEPARATORS)
    while text and text[-1] in OPENERS:
        text = text[:-1].strip(SEPARATORS)
    if text and text[-1] in CLOSERS and CLOSERS[CLOSERS.index(text[-1])] not in _opened(text):
        text = text[:-1].strip(SEPARATORS)
    if text and text[0] in OPENERS and matching_close(text, 0) is None:
        text = text[1:].strip(SEPARATORS)
    return text


def _opened(text: str) -> str:
    return "".join(CLOSERS[OPENERS.index(ch)] for ch in text if ch in OPENERS)


def matching_close(text: str, start: int) -> int | None:
    """Index of the mark that closes the opening mark at ``start`` (nesting counted), or None."""
    opener = text[start]
    close = CLOSERS[OPENERS.index(opener)]
    if opener == close:  # straight quotes: the next one closes
        nxt = text.find(close, start + 1)
        return nxt if nxt >= 0 else None
    depth = 0
    for index in range(start, len(text)):
        if text[index] == opener:
            depth += 1
        elif text[index] == close:
            depth -= 1
            if depth == 0:
                return index
    return None


def name_key(text: str) -> str:
    """The form category names are compared in: width-folded, lower case, no quotes or spaces."""
    return QUOTES_AND_SPACES.sub("", fold_width(text)).lower()


def quoted_title(token: str) -> bool:
    """《…》 and “…” hold case names, never categories."""
    core = token.strip(SEPARATORS)
    return bool(core) and core[0] in "《“\"「『" and matching_close(core, 0) == len(core) - 1


def skip_marks(w: str, i: int, chars: str = SEPARATORS + OPENERS + CLOSERS) -> int:
    """The first index at or after ``i`` whose character is not one of ``chars``."""
    while i < len(w) and w[i] in chars:
        i += 1
    return i


_ABOUT_CASE = re.compile(r"^关于(.+?)的?(?:案例)?(?:申报|报送|推荐|投稿)$")
_NOISE_WORDS = ("申报材料", "报送材料", "案例申报", "案例材料", "申报", "报送", "推荐", "投稿", "参评", "材料", "案例")


def clean_case_name(text: str) -> str | None:
    """The case name in what is left of a subject (or a file name): the longest piece between removed spans,
    without noise words (申报材料 …) and enclosing marks."""
    pieces = [unwrap(piece) for piece in text.split(REMOVED)]
    pieces = [p for p in pieces if p and strip_edges(p)]
    if not pieces:
        return None
    name = max(pieces, key=len)
    for _ in range(3):
        before = name
        for word in _NOISE_WORDS:
            if name.startswith(word) and (len(name) == len(word) or name[len(word)] in BOUNDARY):
                name = unwrap(name[len(word):])
            if name.endswith(word) and (len(name) == len(word) or name[-len(word) - 1] in BOUNDARY):
                name = unwrap(name[: -len(word)])
        # 《AI赋能课堂》案例: the title is what the marks enclose
        title = re.fullmatch(r"《([^《》]+)》(?:案例|实践案例|创新案例|创新实践案例)?", name)
        if title:
            name = title.group(1).strip()
        about = _ABOUT_CASE.match(name)  # 关于AI赋能课堂的案例申报
        if about:
            name = unwrap(about.group(1))
        if name == before:
            break
    name = re.sub(r"\s+", " ", name).strip()
    return name or None
