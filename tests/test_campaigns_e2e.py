"""Issue 10 acceptance, end to end: every call of the seeds as a campaign profile (campaigns/*.toml), a compliant and
a faulty submission each, through the real Dovecot, the real CLI (`intake poll --once`) and the real SMTP sink.

The mails carry real files (python-docx, openpyxl, Pillow, ffmpeg) encoded as Chinese mail clients encode them.
With INTAKE_WRITE_RECEIPTS=1 the receipts' text is written to docs/receipts/<profile>-{ok,faulty}.txt.
"""

from __future__ import annotations

import email
import email.policy
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import openpyxl
import pytest
from docx import Document
from sqlalchemy import create_engine, select

from ingest.samples import files as samples
from ingest.samples.mails import Attachment, build_mail
from ingest.samples.submissions import RECEIVED, SCHOOLS, submission_mail
from store.models import Case
from servers import run_intake, write_intake_config

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
BEIJING = timezone(timedelta(hours=8))
MB = 1024 * 1024


@dataclass(frozen=True)
class Mail:
    sender: str
    raw: bytes
    received_at: datetime


def _mail(style: str, sender: str, to: str, subject: str, files: list[Path], received_at: datetime) -> Mail:
    raw = build_mail(style=style, sender=sender, to=to, subject=subject, body="您好！附件为申报材料，请查收。",
                     attachments=[Attachment.from_file(f) for f in files], received_at=received_at)
    return Mail(sender, raw, received_at)


# --- 2025 basic-education innovation cases (the default call) ----------------------------------------------------


def jcjy2025(work: Path) -> tuple[Mail, Mail]:
    ok, bad = SCHOOLS[0], SCHOOLS[1]
    faulty = submission_mail(bad, photos=2, photo_bytes=int(1.5 * MB), video_seconds=2.0, with_pdf=False,
                             text_chars=3400)
    return (Mail(ok.sender, submission_mail(ok, photos=2, video_seconds=2.0), RECEIVED),
            Mail(bad.sender, faulty, RECEIVED))


# --- Xinhua 2024 -------------------------------------------------------------------------------------------------

XINHUA_PARTS = ("申报单位简介与案例名称", "案例背景", "主要做法", "主要成效", "经验启示")


def xinhua2024(work: Path) -> tuple[Mail, Mail]:
    to = "xhweducation@news.cn"
    at = datetime(2024, 9, 2, 10, 0, tzinfo=BEIJING)
    ok_dir, bad_dir = work / "ok", work / "bad"
    ok_dir.mkdir(), bad_dir.mkdir()
    form = samples.make_form_docx(ok_dir / "申报表.docx", {"申报单位": "北京市海淀区教师进修学校",
                                                          "案例名称": "区域教研数字化转型", "征集方向": "数字教育"})
    text = ok_dir / "区域教研数字化转型案例.docx"
    samples.make_text_docx(text, 2000, XINHUA_PARTS, title="区域教研数字化转型")
    photos = []
    for i, label in enumerate(("主图：教师在智慧教室开展教研", "副图1", "副图2", "副图3", "副图4")):
        photos.append(ok_dir / f"{label}.jpg")
        samples.make_jpeg(photos[-1], int(2.3 * MB), size=(2400, 1800))
    video = samples.make_mp4(ok_dir / "案例视频.mp4", 200, 1920, 1080)
    ok = _mail("163", "hdjx@163.com", to, "2024新华网教育优秀案例征集+北京市海淀区教师进修学校+区域教研数字化转型+数字教育",
               [form, text, *photos, video], at)

    bad_text = bad_dir / "乡村教师成长计划案例.docx"
    samples.make_text_docx(bad_text, 800, XINHUA_PARTS[:3], title="乡村教师成长计划")
    bad_photos = [bad_dir / "主图.jpg", bad_dir / "副图1.jpg", bad_dir / "副图2.jpg"]
    samples.make_jpeg(bad_photos[0], int(2.3 * MB), size=(2400, 1800))
    samples.make_jpeg(bad_photos[1], int(2.3 * MB), size=(2400, 1800))
    samples.make_jpeg(bad_photos[2], int(1.2 * MB), size=(1600, 1200))
    bad_video = samples.make_mp4(bad_dir / "成长计划视频.mp4", 60, 1280, 720)
    bad_form = samples.make_form_docx(bad_dir / "申报表.docx", {"申报单位": "北京市第十一学校", "案例名称": "乡村教师成长计划"})
    bad = _mail("qq", "bj11@qq.com", to, "2024新华网教育优秀案例征集-北京市第十一学校-乡村教师成长计划-公益教育",
                [bad_form, bad_text, *bad_photos, bad_video], at)
    return ok, bad


# --- Zhuzhou 2021–2022 -------------------------------------------------------------------------------------------

ZHUZHOU_PARTS = ("案例描述", "案例分析", "案例反思")


def zhuzhou2021(work: Path) -> tuple[Mail, Mail]:
    to = "736493757@qq.com"
    at = datetime(2022, 4, 12, 16, 0, tzinfo=BEIJING)
    ok_text = work / "建设小学“作业超市”分层作业管理实践案例.docx"
    samples.make_formatted_docx(ok_text, 2000, ZHUZHOU_PARTS, title="“作业超市”让减负提质落地",
                                subtitle="——芦淞区建设小学分层作业管理实践",
                                lines_before=("主持人：李红", "团队成员：王芳、张伟、刘洋"))
    ok = _mail("qq", "lsjyj@qq.com", to, "株洲市芦淞区/建设小学“作业超市”分层作业管理实践+双减", [ok_text], at)
    bad_text = work / "班主任工作坊建设案例.docx"
    samples.make_formatted_docx(bad_text, 1200, ZHUZHOU_PARTS[:2], title="班主任工作坊建设", title_font="宋体",
                                title_size_pt=12.0, body_font="仿宋", line_spacing=1.0,
                                lines_before=("团队成员：赵敏、钱进",))
    bad = _mail("163", "zz2z@163.com", to, "株洲市第二中学班主任工作坊建设+学校党建", [bad_text], at)
    return ok, bad


# --- MoE 2024 teaching-achievement promotion ---------------------------------------------------------------------


def _xlsx(path: Path, title: str) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([title])
    sheet.append(["序号", "成果名称", "成果持有方", "获奖年度", "获奖等级"])
    sheet.append([1, "大单元教学的区域实践", "北京市海淀区教师进修学校", 2022, "一等奖"])
    book.save(str(path))
    return path


def _docx(path: Path, title: str, achievement: str = "大单元教学的区域实践") -> Path:
    doc = Document()
    doc.add_paragraph(title)
    doc.add_paragraph(f"成果名称：{achievement}。成果主要解决的教学问题、解决方法和推广应用价值……")
    doc.save(str(path))
    return path


def moe2024_achievements(work: Path) -> tuple[Mail, Mail]:
    to = "chenwei@cse.edu.cn"
    ok_dir, bad_dir = work / "ok", work / "bad"
    ok_dir.mkdir(), bad_dir.mkdir()
    ok_files = [_xlsx(ok_dir / "附件1 成果信息一览表.xlsx", "成果信息一览表"), _docx(ok_dir / "附件2 成果简介.docx", "成果简介"),
                _xlsx(ok_dir / "附件3 成果汇总表.xlsx", "成果汇总表")]
    ok = _mail("163", "jcjyc@163.com", to, "北京市教育委员会+基础教育国家级优秀教学成果推广应用+推广应用成果（附件1—3）",
               ok_files, datetime(2024, 9, 5, 10, 0, tzinfo=BEIJING))
    # 附件1 as a PDF, 附件2 named only by its number (its title inside says what it is), 附件3 missing, and late.
    pdf = bad_dir / "附件1 成果信息一览表.pdf"
    samples.make_text_pdf(pdf, "成果信息一览表\n序号 成果名称 成果持有方")
    bad_files = [pdf, _docx(bad_dir / "附件2.docx", "成果简介", "乡村小规模学校复式教学")]
    bad = _mail("qq", "jsjyt@qq.com", to, "江苏省教育厅+基础教育国家级优秀教学成果推广应用+推广应用成果（附件1—3）",
                bad_files, datetime(2024, 9, 12, 9, 0, tzinfo=BEIJING))
    return ok, bad


@dataclass(frozen=True)
class Profile:
    name: str
    mails: Callable[[Path], tuple[Mail, Mail]]
    ok_status: str
    faulty_problems: tuple[str, ...]  # texts the faulty submission's receipt must list


PROFILES = (
    Profile("jcjy2025", jcjy2025, "accepted",
            ("未找到PDF版申报表", "低于要求的2 MB", "3400字", "超过3000字的上限")),
    Profile("xinhua2024", xinhua2024, "accepted",
            ("字数为800字", "少于要求的1000字", "为1600×", "像素，要求长边不低于2001像素",
             "低于要求的2 MB", "时长为1分钟，短于要求的3分钟", "分辨率为1280×720，要求1920×1080", "五(二)4")),
    Profile("zhuzhou2021", zhuzhou2021, "accepted",
            ("材料中未写明主持人", "标题字体为宋体，字号为小四（12磅），要求三号（16磅）黑体", "正文", "不是小四（12磅）宋体",
             "不是1.5倍行距", "字数为1200字", "案例反思", "四(二)4")),
    Profile("moe2024-achievements", moe2024_achievements, "accepted",
            ("附件1 成果信息一览表“附件1 成果信息一览表.pdf”不是可编辑版本（Word/WPS/Excel），已受理",
             "未找到附件3 成果汇总表", "附件2 成果简介于2024年09月12日 09:00收到，已超过其报送截止时间2024年9月10日",
             "四(一)")),
)


def body_of(raw: bytes) -> tuple[str, str]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    part = msg.get_body(preferencelist=("plain",))
    return str(msg["Subject"]), part.get_content() if part is not None else ""


def statuses(db_url: str) -> dict[str, str]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return {sender: status for sender, status in conn.execute(select(Case.sender, Case.status))}
    finally:
        engine.dispose()


@pytest.mark.parametrize("profile", PROFILES, ids=[p.name for p in PROFILES])
def test_profile_compliant_and_faulty_submissions(profile: Profile, tmp_path: Path, dovecot, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    import tomllib

    mailbox = tomllib.loads((REPO / "campaigns" / f"{profile.name}.toml").read_text(encoding="utf-8"))["campaign"]
    user = f"u{uuid.uuid4().hex[:10]}"
    db_url = f"sqlite:///{tmp_path / 'intake.db'}"
    cfg = write_intake_config(tmp_path, imap_port=dovecot.port, user=user, smtp_port=smtp_sink.port, db_url=db_url,
                              campaign_file=f"campaigns/{profile.name}.toml", sender=mailbox["mailbox"],
                              sender_name=None, fetch_chunk_bytes=8388608)
    work = tmp_path / "mails"
    work.mkdir()
    ok, faulty = profile.mails(work)
    for mail in (ok, faulty):
        dovecot.append(user, "INBOX", mail.raw, internaldate=mail.received_at)
    run_intake(cfg, "poll", "--once", password=dovecot.password)
    smtp_sink.wait_for(2, timeout=60)
    replies = {m.rcpt_tos[0]: body_of(m.raw) for m in smtp_sink.messages}
    assert set(replies) == {ok.sender, faulty.sender}
    assert statuses(db_url) == {ok.sender: profile.ok_status, faulty.sender: "rejected"}
    ok_subject, ok_text = replies[ok.sender]
    bad_subject, bad_text = replies[faulty.sender]
    assert "受理" in ok_subject and "退回" in bad_subject, (ok_subject, bad_subject)
    assert mailbox["case_number_prefix"] in ok_text
    missing = [p for p in profile.faulty_problems if p not in bad_text]
    assert missing == [], bad_text
    if os.environ.get("INTAKE_WRITE_RECEIPTS") == "1":
        out = REPO / "docs" / "receipts"
        out.mkdir(parents=True, exist_ok=True)
        for kind, (subject, text) in (("ok", replies[ok.sender]), ("faulty", replies[faulty.sender])):
            (out / f"{profile.name}-{kind}.txt").write_text(f"主题：{subject}\n\n{text}", encoding="utf-8")
