"""MIME parsing of mail as 163, QQ Mail, Foxmail and old clients really encode it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.samples.mails import STYLES, Attachment, build_mail
from ingest.mail.mime import NotAMimeMessage, codec_for, decode_header_text, parse_message

CORPUS = Path(__file__).resolve().parent / "data" / "corpus" / "mail-parser"

NAMES = ["朱镕基中学申报表.docx", "堃园幼儿园案例文字材料.pdf", "照片1：学生在实验室.jpg", "视频（3分钟）.mp4"]
SUBJECT = "浙江省/杭州市朱镕基实验学校“AI+劳动”课程群建设+人工智能教育"


@pytest.mark.parametrize("style", STYLES)
def test_subject_and_names_decode_in_every_client_style(style: str) -> None:
    raw = build_mail(style=style, sender="school@163.com", to="jcjyzj2025@163.com", subject=SUBJECT,
                     body="老师您好，附件是我校申报材料。镕", sender_name="朱镕基实验学校",
                     attachments=[Attachment(n, n.encode("utf-8") * 3) for n in NAMES])
    mail = parse_message(raw)
    assert mail.subject == SUBJECT
    assert [a.name for a in mail.attachments] == NAMES
    assert all("\ufffd" not in a.name for a in mail.attachments)
    assert mail.attachments[0].payload == NAMES[0].encode("utf-8") * 3
    assert "镕" in mail.text
    assert mail.from_addr == "school@163.com"
    assert mail.from_name == "朱镕基实验学校"


def test_gb2312_label_with_gbk_only_character_is_read_as_gb18030() -> None:
    assert codec_for("GB2312") == "gb18030"
    assert codec_for("gbk") == "gb18030"
    word = "=?gb2312?B?" + __import__("base64").b64encode("朱镕基".encode("gbk")).decode() + "?="
    defects: list[str] = []
    assert decode_header_text(word, defects) == "朱镕基"
    assert defects == []


def test_unknown_charset_falls_back_and_records_a_defect() -> None:
    defects: list[str] = []
    word = "=?x-unknown?B?" + __import__("base64").b64encode("案例".encode("utf-8")).decode() + "?="
    assert decode_header_text(word, defects) == "案例"
    assert defects and "未知字符集" in defects[0]


def test_outlook_msg_is_refused_with_one_clear_line() -> None:
    msg = CORPUS / "mail_outlook_1.msg"
    with pytest.raises(NotAMimeMessage) as err:
        parse_message(msg.read_bytes())
    assert "\n" not in str(err.value) and ".eml" in str(err.value)


def test_corpus_mails_parse_without_crash() -> None:
    files = sorted(CORPUS.glob("*.eml"))
    assert len(files) == 22  # tests/data/corpus/mail-parser, copied with the repository
    for f in files:
        mail = parse_message(f.read_bytes())
        assert all("\ufffd" not in a.name for a in mail.attachments), f
    # a known malformed one records its defect
    bad = parse_message((CORPUS / "mail_malformed_1.eml").read_bytes())
    assert any("StartBoundaryNotFound" in d for d in bad.defects)
    # raw 8-bit UTF-8 attachment name (mail_test_1) is recovered, not U+FFFD
    m1 = parse_message((CORPUS / "mail_test_1.eml").read_bytes())
    assert m1.attachments[0].name == "ФНС_РФ558.zip"


def _factory_mails(tmp_path: Path) -> list[Path]:
    out = []
    for style in STYLES:
        p = tmp_path / f"{style}.eml"
        p.write_bytes(build_mail(style=style, sender="a@b.cn", to="c@d.cn", subject=SUBJECT, body="正文镕\n第二行",
                                 html="<p>镕</p>", attachments=[Attachment(n, bytes(range(256)) * 40) for n in NAMES]))
        out.append(p)
    return out


def test_streaming_parser_matches_the_in_memory_parser(tmp_path: Path) -> None:
    from ingest.mail.mime_stream import parse_file

    files = _factory_mails(tmp_path) + [f for f in sorted(CORPUS.glob("*.eml")) if "malformed" not in f.name]
    for f in files:
        a = parse_message(f.read_bytes())
        b = parse_file(f, tmp_path / f"parts-{f.stem}")
        assert [(x.name, x.sha256, x.size) for x in a.attachments] == \
            [(x.name, x.sha256, x.size) for x in b.attachments], f.name
        assert (a.subject, a.from_addr, a.text.strip(), a.html.strip()) == \
            (b.subject, b.from_addr, b.text.strip(), b.html.strip()), f.name
        for part in b.attachments:
            assert part.path is not None and part.path.stat().st_size == part.size


def test_streaming_parser_recovers_what_the_stdlib_loses_in_malformed_mail(tmp_path: Path) -> None:
    from ingest.mail.mime_stream import parse_file

    f = CORPUS / "mail_malformed_1.eml"
    b = parse_file(f, tmp_path / "parts")
    assert [a.name for a in b.attachments] == ["20160523_916527.jpg_.zip"]
    assert b.attachments[0].path is not None and b.attachments[0].path.read_bytes()[:2] == b"PK"


def test_streaming_parser_on_truncated_and_boundaryless_input(tmp_path: Path) -> None:
    from ingest.mail.mime_stream import parse_file

    raw = build_mail(style="qq", sender="a@qq.com", to="c@d.cn", subject=SUBJECT, body="正文",
                     attachments=[Attachment("申报表.docx", b"x" * 5000)])
    cut = tmp_path / "cut.eml"
    cut.write_bytes(raw[: len(raw) // 2])
    mail = parse_file(cut, tmp_path / "p1")
    assert mail.subject == SUBJECT and any("CloseBoundaryNotFound" in d for d in mail.defects)
    assert mail.attachments and mail.attachments[0].name == "申报表.docx"
    nob = tmp_path / "noboundary.eml"
    nob.write_bytes(b"Subject: x\r\nContent-Type: multipart/mixed\r\n\r\nhello\r\n")
    assert parse_file(nob, tmp_path / "p2").subject == "x"


def test_empty_boundary_parameter_still_yields_the_attachment(tmp_path: Path) -> None:
    """boundary="" makes "--" and "----" the delimiters; the stdlib reads it so, and the streaming parser used
    to take the whole body for text and lose the attachment without a word (hostile case "empty-boundary")."""
    from hostile_factory import mime_cases

    from ingest.mail.mime_stream import parse_file

    raw = dict(mime_cases())["empty-boundary"]
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    streamed = parse_file(path, tmp_path / "parts")
    assert [a.name for a in streamed.attachments] == [a.name for a in parse_message(raw).attachments] == ["x.docx"]
