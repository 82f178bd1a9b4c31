"""Issue 16, end to end through Dovecot, the real CLI and a real SMTP server, on SQLite and PostgreSQL: the shapes
real submissions take get the right answer (one mail per shape).

Section 4: legacy Word files are read, not skipped. The text material arrives as a .doc and an .rtf that
LibreOffice itself saved from a DOCX, as a .wps (that .doc renamed: WPS Office's .wps is a Word-compatible OLE file;
no tool here writes one, and many WPS users send exactly this), and as a DOCX whose 65-字 text box Word 2010+ (and
LibreOffice) write twice. Their 字数 is counted on the converted document as Word's 字数统计 counts it.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from docx import Document
from sqlalchemy import create_engine, select

from ingest.samples import files as samples
from ingest.samples.mails import Attachment, build_mail
from ingest.samples.submissions import MAILBOX, RECEIVED, SCHOOLS, submission_mail
from store.models import Case
from servers import run_intake, write_intake_config

pytestmark = pytest.mark.e2e


def plain(raw: bytes) -> tuple[str, str]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    body = msg.get_body(preferencelist=("plain",))
    return str(msg["Subject"]), body.get_content() if body is not None else ""


def case_statuses(db_url: str) -> dict[str, list[str]]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            out: dict[str, list[str]] = {}
            for sender, status in conn.execute(select(Case.sender, Case.status).order_by(Case.case_no)):
                out.setdefault(sender, []).append(status)
            return out
    finally:
        engine.dispose()


@pytest.fixture
def poll(tmp_path: Path, dovecot, imap_user, smtp_sink, db_url):  # type: ignore[no-untyped-def]
    def run(*mails: bytes, campaign_file: str | None = None, received_at: datetime = RECEIVED) -> None:
        kwargs = {"campaign_file": campaign_file} if campaign_file else {}
        cfg = write_intake_config(tmp_path, imap_port=dovecot.port, user=imap_user, smtp_port=smtp_sink.port,
                                  db_url=db_url, **kwargs)
        for raw in mails:
            dovecot.append(imap_user, "INBOX", raw, internaldate=received_at)
        run_intake(cfg, "poll", "--once", password=dovecot.password)

    return run


LEGACY_SHAPES = [(SCHOOLS[0], "doc", 2900), (SCHOOLS[1], "rtf", 3100), (SCHOOLS[2], "wps", 2900),
                 (SCHOOLS[4], "textbox", 2965)]


@pytest.fixture(scope="module")
def legacy_mails() -> list[bytes]:
    """Built once for both databases (each conversion starts LibreOffice)."""
    return [submission_mail(school, photos=2, video_seconds=2.0, text_kind=kind, text_chars=chars)
            for school, kind, chars in LEGACY_SHAPES]


def test_legacy_word_texts_are_read_and_counted(poll, smtp_sink, db_url, legacy_mails) -> None:  # type: ignore[no-untyped-def]
    shapes = LEGACY_SHAPES
    poll(*legacy_mails)
    replies = {m.rcpt_tos[0]: plain(m.raw) for m in smtp_sink.wait_for(len(shapes), timeout=120)}
    assert case_statuses(db_url) == {SCHOOLS[0].sender: ["accepted"], SCHOOLS[1].sender: ["rejected"],
                                     SCHOOLS[2].sender: ["accepted"], SCHOOLS[4].sender: ["accepted"]}
    for school, kind, chars in shapes:
        subject, text = replies[school.sender]
        ext = "docx" if kind == "textbox" else kind
        assert re.search(f"文字材料\\.{ext}[”》]字数为{chars}字", text), (kind, text)
        assert "LibreOffice" not in text and "无法读取" not in text
    assert "超过3000字的上限" in replies[SCHOOLS[1].sender][1]


# --- Section 3: each call's profile says what its notice says, no more ------------------------------------------

XINHUA_AT = datetime(2024, 9, 2, 10, 0, tzinfo=timezone(timedelta(hours=8)))
XINHUA_TO = "xhweducation@news.cn"
PROSE = "学校坚持立德树人根本任务，围绕课程建设、教师发展和评价改革三个方面系统推进育人方式变革。"


@pytest.fixture(scope="module")
def xinhua_mails(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("xinhua")

    def mail(style: str, sender: str, subject: str, files: list[Path]) -> bytes:
        return build_mail(style=style, sender=sender, to=XINHUA_TO, subject=subject, body="您好！附件为申报材料，请查收。",
                          attachments=[Attachment.from_file(f) for f in files], received_at=XINHUA_AT)

    # 1. The subject is exactly the marker 五(一)1 asks for; the case (1,200 字) is written in the filled 申报表 and
    #    comes with a video instead of pictures.
    form = samples.make_form_docx(d / "申报表.docx", {"申报单位": "北京市海淀区教师进修学校", "案例名称": "区域教研数字化转型",
                                                  "征集方向": "数字教育", "案例正文": (PROSE * 30)[:1200]})
    video1 = samples.make_mp4(d / "区域教研案例视频.mp4", 200, 1920, 1080)
    # 2. A text case with a video and no pictures ("需附上图片或视频").
    text = d / "乡村教师成长计划案例.docx"
    samples.make_text_docx(text, 2000, ("申报单位简介", "案例背景", "主要做法", "主要成效", "经验启示"))
    form2 = samples.make_form_docx(d / "申报表2.docx", {"申报单位": "北京市第十一学校", "案例名称": "乡村教师成长计划"})
    video2 = samples.make_mp4(d / "成长计划视频.mp4", 200, 1920, 1080)
    # 3. An audio case without its cover picture (五(二)5).
    form3 = samples.make_form_docx(d / "申报表3.docx", {"申报单位": "浙江广播电视大学", "案例名称": "空中课堂"})
    audio = samples.make_audio(d / "空中课堂音频.mp3", 200)
    return {
        "marker_only": mail("163", "hdjx@163.com", "2024新华网教育优秀案例征集", [form, video1]),
        "text_video": mail("qq", "bnu@qq.com", "2024新华网教育优秀案例征集+北京市第十一学校+乡村教师成长计划+公益教育",
                           [form2, text, video2]),
        "audio_no_cover": mail("foxmail", "zjtvu@126.com", "2024新华网教育优秀案例征集+浙江广播电视大学+空中课堂+数字教育",
                               [form3, audio]),
    }


def test_xinhua_text_or_video_cover_and_case_in_the_form(poll, smtp_sink, db_url, xinhua_mails) -> None:  # type: ignore[no-untyped-def]
    poll(*xinhua_mails.values(), campaign_file="campaigns/xinhua2024.toml", received_at=XINHUA_AT)
    replies = {m.rcpt_tos[0]: plain(m.raw) for m in smtp_sink.wait_for(3, timeout=120)}
    statuses = case_statuses(db_url)
    assert statuses["hdjx@163.com"] == ["accepted"], replies["hdjx@163.com"]
    assert statuses["bnu@qq.com"] == ["accepted"], replies["bnu@qq.com"]
    assert statuses["zjtvu@126.com"] == ["rejected"], replies["zjtvu@126.com"]
    subject, text = replies["hdjx@163.com"]
    assert "区域教研数字化转型" in subject and "北京市海淀区教师进修学校" in text and "（5）数字教育" in text
    assert "可不附5张图片" in replies["bnu@qq.com"][1]
    assert "音频案例未附封面图片" in replies["zjtvu@126.com"][1]


# --- Section 2: one mail carrying several complete cases ---------------------------------------------------------

# Three cases of one category: the third is past the province's 1–2 per category (四.2(1)). The second's photos are
# under 2 MB. Nine photos in all: as one case, more than the 8 one case may carry.
BATCH_SCHOOLS = (("01 夷陵中学", "青年教师成长共同体", "教师队伍建设"), ("02 宜昌一中", "县中青年教师研修", "教师队伍建设"),
                 ("03 枝江市实验小学", "乡村教师“师徒结对”成长计划", "教师队伍建设"))


@pytest.fixture(scope="module")
def batch_mails(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("batch")
    root = d / "湖北省教育厅推荐案例"
    files: list[Path] = []
    for folder, case, category in BATCH_SCHOOLS:
        case_dir = root / folder
        case_dir.mkdir(parents=True)
        school = folder.split(" ", 1)[1]
        files.append(samples.make_form_docx(case_dir / f"{school}申报表.docx", {
            "申报单位": f"湖北省宜昌市{school}", "案例名称": case, "类别": category}))
        files.append(samples.make_scanned_pdf(case_dir / f"{school}申报表（盖章）.pdf", with_seal=True))
        files.append(case_dir / f"{case}文字材料.docx")
        samples.make_text_docx(files[-1], 2000)
        for i in range(1, 4):
            files.append(case_dir / f"图{i}：{school}活动现场.jpg")
            samples.make_jpeg(files[-1], 200_000 if folder.startswith("02") else 2_200_000)
    letter = root / "湖北省教育厅推荐函.docx"
    samples.make_text_docx(letter, 300, ("推荐意见",), title="推荐函")
    files.append(letter)
    archive = d / "batch.zip"
    import zipfile

    with zipfile.ZipFile(archive, "w") as z:
        for f in files:
            z.write(f, f.relative_to(d).as_posix())
    batch = build_mail(style="163", sender="hbjyt@163.com", to=MAILBOX, subject="湖北省教育厅推荐2025年基础教育创新案例（3个）",
                       body="附件为我省推荐的3个案例，请查收。", received_at=RECEIVED,
                       attachments=[Attachment("湖北省推荐案例.zip", archive.read_bytes(), "application/zip")])
    loose = [samples.make_form_docx(d / "甲校申报表.docx", {"申报单位": "湖南省长沙市甲校", "案例名称": "甲案例"}),
             samples.make_form_docx(d / "乙校申报表.docx", {"申报单位": "湖南省长沙市乙校", "案例名称": "乙案例"})]
    ambiguous = build_mail(style="qq", sender="hnjyt@qq.com", to=MAILBOX, subject="湖南省教育厅推荐案例", body="请查收。",
                           received_at=RECEIVED, attachments=[Attachment.from_file(f) for f in loose])
    return {"batch": batch, "ambiguous": ambiguous}


def test_a_mail_of_several_cases_is_never_one_case(poll, smtp_sink, db_url, batch_mails) -> None:  # type: ignore[no-untyped-def]
    """A province's ZIP of 3 case folders (9 photos in all, more than one case may carry) is 3 cases, each checked on
    its own files and counted against the province's quota, with one reply listing the 3 case numbers. Two 申报表
    side by side with nothing to tell their materials apart go to review, never accepted as one case."""
    poll(*batch_mails.values())
    replies = {m.rcpt_tos[0]: plain(m.raw) for m in smtp_sink.wait_for(2, timeout=120)}
    assert len(smtp_sink.messages) == 2
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Case.case_no, Case.sender, Case.status, Case.submitter_kind, Case.province,
                                       Case.organization, Case.case_name, Case.category_no)
                                .order_by(Case.case_no)).all()
    finally:
        engine.dispose()
    batch = [r for r in rows if r.sender == "hbjyt@163.com"]
    assert [(r.organization, r.case_name, r.submitter_kind, r.province) for r in batch] == [
        (f"湖北省宜昌市{folder.split(' ', 1)[1]}", case, "province", "湖北省") for folder, case, _ in BATCH_SCHOOLS]
    assert [r.status for r in batch] == ["accepted", "rejected", "accepted_with_warnings"]
    subject, text = replies["hbjyt@163.com"]
    assert all(r.case_no in subject and r.case_no in text for r in batch), (subject, text)
    assert "每个案例分别计入本省推荐名额" in text and "湖北省教育厅推荐函.docx" in text
    assert "超过每个案例不超过8张" not in text and "低于要求的2 MB" in text  # case 2's own problem
    assert "本案例是第3个，超出每类1—2个的名额" in text, text  # case 3 over the per-category quota
    assert [r.status for r in rows if r.sender == "hnjyt@qq.com"] == ["needs_review"]
    assert "不是每份各在一个文件夹中" in replies["hnjyt@qq.com"][1]
    if os.environ.get("INTAKE_WRITE_RECEIPTS") == "1" and db_url.startswith("sqlite"):
        out = Path(__file__).resolve().parent.parent / "docs" / "receipts" / "jcjy2025-provincial-batch.txt"
        out.write_text(f"主题：{subject}\n\n{text.replace(chr(13), '')}", encoding="utf-8")


MOE_AT = datetime(2024, 9, 5, 10, 0, tzinfo=timezone(timedelta(hours=8)))


def _xlsx(path: Path, rows: list[list[object]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(str(path))
    return path


@pytest.fixture(scope="module")
def moe_mails(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The MoE notice names no subject format and no file format: a department's mail with a subject of its own,
    附件1 as a PDF, 附件3 listing a 2019 三等奖; and 附件4–5 where 苏州市 chose 4 achievements."""
    d = tmp_path_factory.mktemp("moe")
    pdf = samples.make_text_pdf(d / "附件1 成果信息一览表.pdf", "成果信息一览表\n序号 成果名称 成果持有方")
    brief = Document()
    brief.add_paragraph("成果简介")
    brief.add_paragraph("成果名称：大单元教学的区域实践。成果主要解决的教学问题、解决方法和推广应用价值……")
    brief.save(str(d / "附件2 成果简介.docx"))
    summary = _xlsx(d / "附件3 成果汇总表.xlsx", [["成果汇总表"], ["序号", "成果名称", "成果持有方", "获奖年度", "获奖等级"],
                                               [1, "大单元教学的区域实践", "南京市教研室", 2022, "一等奖"],
                                               [2, "劳动课程群建设", "无锡市某小学", 2019, "三等奖"]])
    choices = [["序号", "成果应用方", "拟推广应用的成果"], [1, "南京市", "大单元教学的区域实践"], [2, None, "复式教学"],
               [3, "苏州市", "大单元教学的区域实践"], [4, None, "复式教学"], [5, None, "劳动课程群建设"], [6, None, "科学实验"]]
    table4 = _xlsx(d / "附件4 成果应用方信息一览表.xlsx", [["成果应用方信息一览表"], *choices])
    table5 = _xlsx(d / "附件5 成果应用方汇总表.xlsx", [["成果应用方汇总表"], *choices])

    def mail(style: str, sender: str, subject: str, files: list[Path]) -> bytes:
        return build_mail(style=style, sender=sender, sender_name="江苏省教育厅", to="chenwei@cse.edu.cn",
                          subject=subject, body="陈老师：附件为我省报送材料，请查收。", received_at=MOE_AT,
                          attachments=[Attachment.from_file(f) for f in files])

    return {"set1": mail("foxmail", "jsjyt@126.com", "江苏省教育厅报送材料", [pdf, d / "附件2 成果简介.docx", summary]),
            "set2": mail("qq", "jsjyt2@qq.com", "成果应用方材料", [table4, table5])}


def test_moe_free_subject_pdf_form_and_clauses_read_from_the_forms(poll, smtp_sink, db_url, moe_mails) -> None:  # type: ignore[no-untyped-def]
    poll(*moe_mails.values(), campaign_file="campaigns/moe2024-achievements.toml", received_at=MOE_AT)
    replies = {m.rcpt_tos[0]: plain(m.raw) for m in smtp_sink.wait_for(2, timeout=120)}
    assert case_statuses(db_url) == {"jsjyt@126.com": ["accepted_with_warnings"],
                                     "jsjyt2@qq.com": ["accepted_with_warnings"]}, replies
    text1, text2 = replies["jsjyt@126.com"][1], replies["jsjyt2@qq.com"][1]
    assert "不是可编辑版本（Word/WPS/Excel），已受理" in text1 and "“劳动课程群建设”（2019，三等奖）" in text1
    assert "苏州市（4个）" in text2 and "南京市（" not in text2
