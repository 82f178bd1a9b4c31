"""Word's 字数 (Review → Word Count → "字数" in Chinese Word), so our count matches what the sender sees.

Word counts each East Asian character as one (Han ideographs, kana and full-width punctuation such as
，。、“”（）—…), each Korean word as one, and each run of other non-space characters as one word, where a run
made only of half-width punctuation does not count ("如果是半角的，那么不算字数"): "AI" is 1, "2025年" is 2
(the number and 年), "，" is 1, " - " is 0. The counts Word shows as 中文字符和朝鲜语单词 and 非中文单词 are
returned separately as well. (Rules taken from descriptions of Word's 字数统计; no Word installation here to
measure against.)
"""

from __future__ import annotations

from dataclasses import dataclass

# Punctuation that Chinese input methods type and Word counts as East Asian, though Unicode files it under General
# Punctuation/Latin-1: curly quotes, em dash, ellipsis, middle dot (in minority names: 阿卜杜·热合曼).
_EAST_ASIAN_PUNCTUATION = frozenset("‘’“”—…·―‖")

_EAST_ASIAN_RANGES: tuple[tuple[int, int], ...] = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x2FF0, 0x2FFF),  # ideographic description
    (0x3000, 0x303F),  # CJK symbols and punctuation: 、。〈〉《》「」【】〔〕
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x31BF),  # Bopomofo, Hangul compatibility Jamo, Kanbun
    (0x31C0, 0x31FF),  # CJK strokes, Katakana extensions
    (0x3200, 0x33FF),  # enclosed CJK letters, CJK compatibility
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA960, 0xA97F),  # Hangul Jamo extended A
    (0xAC00, 0xD7FF),  # Hangul syllables and Jamo extended B
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFE10, 0xFE1F),  # vertical forms
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # half-width and full-width forms: ，！？：；（）０-９Ａ-Ｚ
    (0x20000, 0x3FFFF),  # CJK extensions B onwards
)


def is_east_asian(char: str) -> bool:
    if char in _EAST_ASIAN_PUNCTUATION:
        return True
    code = ord(char)
    if code < 0x1100:
        return False
    return any(lo <= code <= hi for lo, hi in _EAST_ASIAN_RANGES)


@dataclass(frozen=True)
class WordCount:
    east_asian: int  # 中文字符和朝鲜语单词
    other_words: int  # 非中文单词

    @property
    def total(self) -> int:  # 字数
        return self.east_asian + self.other_words


def _is_hangul(char: str) -> bool:
    code = ord(char)
    return 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F


def count_words(text: str) -> WordCount:
    east_asian = 0
    other_words = 0
    in_word = False  # inside a run of non-space, non-East-Asian characters
    word_has_alnum = False
    in_korean_word = False  # Word counts Korean by words (朝鲜语单词), not by syllables

    def close_word() -> None:
        nonlocal other_words, in_word, word_has_alnum
        if in_word and word_has_alnum:
            other_words += 1
        in_word = False
        word_has_alnum = False

    for char in text:
        if char.isspace() or char == "\u200b":  # U+3000 ideographic space included: Word does not count it
            close_word()
            in_korean_word = False
        elif _is_hangul(char):
            close_word()
            if not in_korean_word:
                east_asian += 1
            in_korean_word = True
        elif is_east_asian(char):
            close_word()
            in_korean_word = False
            east_asian += 1
        else:
            in_korean_word = False
            in_word = True
            word_has_alnum = word_has_alnum or char.isalnum()
    close_word()
    return WordCount(east_asian=east_asian, other_words=other_words)


def word_count(text: str) -> int:
    """Word's 字数 of ``text``."""
    return count_words(text).total
