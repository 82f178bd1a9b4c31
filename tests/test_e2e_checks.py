"""End to end through Dovecot and a real SMTP server: the subject in every encoding senders use parses to
the same fields (issue 3), and the checks' verdict reaches the sender (issue 5): a compliant submission gets
a receipt listing what was checked, one with three faults a rejection listing exactly those three."""

from __future__ import annotations

import email
import email.policy
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from ingest.samples import files as samples
from ingest.samples.mails import Attachment, build_mail
from ingest.samples.submissions import MAILBOX, RECEIVED, SCHOOLS, submission_mail, zip_gbk
from store.models import Case
from servers import run_intake, write_intake_config

pytestmark = pytest.mark.e2e

SUBJECT = "浙江省/杭州市朱镕基实验学校“AI+劳动”课程群建设+人工智能教育"


def cases(db_url: str) -> list[tuple[str, ...]]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(Case.sender, Case.province, Case.city, Case.organization, Case.case_name,
                                   Case.category_no, Case.category).order_by(Case.sender)).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def plain(raw: bytes) -> tuple[str, str]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    body = msg.get_body(preferencelist=("plain",))
    return str(msg["Subject"]), body.get_content() if body is not None else ""


@pytest.fixture
def poll(tmp_path: Path, dovecot, imap_user, smtp_sink, db_url):  # type: ignore[no-untyped-def]
    cfg = write_intake_config(tmp_path, imap_port=dovecot.port, user=imap_user, smtp_port=smtp_sink.port, db_url=db_url)

    def run(*mails: bytes) -> None:
        for raw in mails:
            dovecot.append(imap_user, "INBOX", raw, internaldate=RECEIVED)
        run_intake(cfg, "poll", "--once", password=dovecot.password)

    return run


def test_subject_in_gbk_gb18030_gb2312_label_and_utf8_parses_the_same(poll, db_url) -> None:  # type: ignore[no-untyped-def]
    # 镕 is not in GB2312: the Foxmail-style mail labels GBK bytes as gb2312, as real clients do.
    mails = [build_mail(style=style, sender=f"{style}@school.cn", to=MAILBOX, subject=SUBJECT, body="见附件",
                        received_at=RECEIVED) for style in ("163", "qq", "foxmail", "utf8")]
    assert b"=?gb2312?B?" in mails[2]
    poll(*mails)
    rows = cases(db_url)
    assert len(rows) == 4
    fields = {r[1:] for r in rows}
    assert fields == {("浙江省", "杭州市", "杭州市朱镕基实验学校", "“AI+劳动”课程群建设", 6, "人工智能教育")}


def test_compliant_receipt_lists_the_checks_and_three_faults_are_listed_exactly(poll, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    good, bad = SCHOOLS[5], SCHOOLS[6]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        samples.make_form_docx(d / f"{bad.school}申报表.docx", {"申报单位": bad.school, "案例名称": bad.case_name,
                                                             "类别": bad.category})
        samples.make_scanned_pdf(d / f"{bad.school}申报表（盖章）.pdf", with_seal=True)
        samples.make_text_docx(d / f"{bad.case_name}文字材料.docx", 3400)          # fault 1: over 3000 字
        samples.make_jpeg(d / f"图1：{bad.school}升旗仪式.jpg", 2_200_000)
        samples.make_png(d / f"图2：{bad.school}科技节.jpg", (1600, 1200))          # fault 2: a PNG named .jpg
        samples.make_mp4(d / f"{bad.school}案例视频.mp4", 3.0, 960, 720)           # fault 3: 4:3, not 16:9
        faulty = build_mail(style=bad.style, sender=bad.sender, to=MAILBOX, subject=bad.subject, body="请查收",
                            received_at=RECEIVED,
                            attachments=[Attachment(f"{bad.school}.zip", zip_gbk(sorted(d.iterdir()), bad.school))])
    poll(submission_mail(good, photos=2, video_seconds=2.0), faulty)
    replies = {m.rcpt_tos[0]: plain(m.raw) for m in smtp_sink.wait_for(2, timeout=30)}

    subject, text = replies[good.sender]
    assert subject.startswith("【受理回执】")
    for checked in ("四.1", "四.3", "四.4(1)", "四.4(3)", "四.4(4)", "四.4(5)", "检测到红色公章", "3000字以内"):
        assert checked in text

    subject, text = replies[bad.sender]
    assert subject.startswith("【退回修改通知】")
    assert "有以下 3 项不符合" in text
    problems = text.split("需要修改的问题：")[1].split("已通过的检查项目")[0]
    numbered = [line for line in problems.splitlines() if line.strip()[:2] in ("1.", "2.", "3.", "4.")]
    assert len(numbered) == 3, problems
    assert "3000" in problems and "PNG" in problems and "16:9" in problems
    assert problems.count("修改方法：") == 3
