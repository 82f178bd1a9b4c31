"""Word's 字数 (checks.wordcount), checked against the counts Chinese Word shows."""

from __future__ import annotations

import pytest

from checks.wordcount import count_words, word_count


@pytest.mark.parametrize(("text", "east_asian", "other"), [
    ("基础教育创新案例", 8, 0),  # each Han character one
    ("立德树人，五育并举。", 10, 0),  # full-width punctuation counts
    ("“大思政课”（一体化）——实践…", 16, 0),  # curly quotes, dashes, ellipsis typed by a Chinese IME
    ("AI教育", 2, 1),  # a Latin word is one
    ("2025年12月10日", 3, 3),  # digits form words of their own
    ("Hello, world! ChatGPT-4o", 0, 3),  # half-width punctuation belongs to the word
    ("A - B", 0, 2),  # a lone half-width dash is not a word
    ("ＡＩ　教育", 4, 0),  # full-width letters are East Asian; U+3000 is a space
    ("STEM教育与K12课程", 5, 2),
    ("ひらがな", 4, 0),  # kana one each
    ("한국어 교육", 2, 0),  # Korean by words (朝鲜语单词)
    ("", 0, 0),
])
def test_word_count_matches_word(text: str, east_asian: int, other: int) -> None:
    counted = count_words(text)
    assert (counted.east_asian, counted.other_words) == (east_asian, other)
    assert word_count(text) == east_asian + other


def test_mixed_paragraphs_and_line_breaks() -> None:
    text = "一、基本情况\n学校开设AI课程 30 节。\r\n\t二、成效"
    # 一、基本情况 (6) + 学校开设 (4) + AI (1) + 课程 (2) + 30 (1) + 节。(2) + 二、成效 (4)
    assert word_count(text) == 20
