"""Issue 6 acceptance, end to end through Dovecot and a real SMTP server: resubmission by reply, split
submissions, no replies to robots, the per-sender limit, and bounces of our receipts."""

from __future__ import annotations

import email
import email.policy
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from ingest.samples.mails import Attachment, build_mail
from ingest.samples.submissions import MAILBOX, RECEIVED, SCHOOLS, submission_mail
from store.models import Case, Event, Message, OutboxMail, Submission
from servers import run_intake, write_intake_config

pytestmark = pytest.mark.e2e


def q(db_url: str, stmt):  # type: ignore[no-untyped-def]
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(stmt).all()
    finally:
        engine.dispose()


def body_of(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


@pytest.fixture
def env(tmp_path: Path, dovecot, imap_user, smtp_sink, db_url):  # type: ignore[no-untyped-def]
    cfg = write_intake_config(tmp_path, imap_port=dovecot.port, user=imap_user, smtp_port=smtp_sink.port, db_url=db_url,
                       smtp_extra="max_replies_per_sender_per_hour = 3")

    def poll() -> None:
        run_intake(cfg, "poll", "--once", password=dovecot.password)

    def deliver(raw: bytes) -> None:
        dovecot.append(imap_user, "INBOX", raw, internaldate=RECEIVED)

    return poll, deliver


def test_a_fix_sent_as_a_reply_becomes_version_2(env, smtp_sink, db_url) -> None:  # type: ignore[no-untyped-def]
    poll, deliver = env
    school = SCHOOLS[0]
    deliver(submission_mail(school, photos=2, photo_bytes=800_000, video_seconds=None))
    poll()
    [rejection] = smtp_sink.wait_for(1, timeout=30)
    text = body_of(rejection.raw)
    assert "退回修改通知" in email.message_from_bytes(rejection.raw, policy=email.policy.default)["Subject"]
    assert "低于" in text and "四.4(4)" in text
    # The school replies to the rejection with the corrected files (its client keeps the subject with 回复：).
    original = email.message_from_bytes(rejection.raw, policy=email.policy.default)
    fixed = submission_mail(school, photos=2, video_seconds=None, subject=f"回复：{original['Subject']}")
    fixed = fixed.replace(b"\r\nMIME-Version: 1.0", f"\r\nIn-Reply-To: {original['Message-ID']}\r\n"
                          f"References: {original['Message-ID']}\r\nMIME-Version: 1.0".encode(), 1)
    deliver(fixed)
    poll()
    replies = smtp_sink.wait_for(2, timeout=30)
    assert len(q(db_url, select(Case.id))) == 1
    versions = q(db_url, select(Submission.version, Submission.status).order_by(Submission.version))
    assert versions == [(1, "rejected"), (2, "accepted")]
    second = email.message_from_bytes(replies[1].raw, policy=email.policy.default)
    assert "受理回执" in second["Subject"] and "第 2 版" in body_of(replies[1].raw)
    [(case_name,)] = q(db_url, select(Case.case_name))
    assert case_name == school.case_name  # the reply's subject did not rename the case


def test_a_submission_split_over_two_mails_is_one_case(env, smtp_sink, db_url) -> None:  # type: ignore[no-untyped-def]
    poll, deliver = env
    school = SCHOOLS[2]
    first = submission_mail(school, photos=0, video_seconds=None, packed=False, subject=f"{school.subject}(1/2)")
    deliver(first)
    poll()
    photos_only = build_mail(
        style=school.style, sender=school.sender, to=MAILBOX, subject=f"{school.subject}(2/2)", body="照片",
        received_at=RECEIVED,
        attachments=[Attachment(f"图{i}：{school.school}课堂.jpg", _jpeg(i)) for i in (1, 2)])
    deliver(photos_only)
    poll()
    smtp_sink.wait_for(2, timeout=30)
    assert len(q(db_url, select(Case.id))) == 1
    [(status, version)] = q(db_url, select(Case.status, Case.current_version))
    assert version == 2 and status == "accepted"
    roles = q(db_url, select(Submission.version, func.count()).join(Submission.attachments)
              .group_by(Submission.version).order_by(Submission.version))
    assert roles[1][1] == roles[0][1] + 2  # version 2 holds part 1's files and part 2's photos


_JPEGS: dict[int, bytes] = {}


def _jpeg(seed: int) -> bytes:
    if seed not in _JPEGS:
        import tempfile

        from ingest.samples.files import make_jpeg

        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "p.jpg"
            make_jpeg(p, 2_200_000, seed=seed + 100)
            _JPEGS[seed] = p.read_bytes()
    return _JPEGS[seed]


def test_robots_and_ourselves_get_no_reply(env, smtp_sink, db_url) -> None:  # type: ignore[no-untyped-def]
    poll, deliver = env
    school = SCHOOLS[3]
    robots = [
        build_mail(style="163", sender=school.sender, to=MAILBOX, subject="自动回复：我正在休假", body="休假中",
                   extra_headers=(("Auto-Submitted", "auto-replied"),), received_at=RECEIVED),
        build_mail(style="utf8", sender="MAILER-DAEMON@qq.com", to=MAILBOX, subject="系统退信", body="投递失败",
                   received_at=RECEIVED),
        build_mail(style="utf8", sender="news@edu-list.cn", to=MAILBOX, subject="教育资讯周刊", body="订阅",
                   extra_headers=(("List-Id", "<weekly.edu-list.cn>"), ("Precedence", "list")),
                   received_at=RECEIVED),
        build_mail(style="163", sender=MAILBOX, to=MAILBOX, subject="测试邮件", body="自己发给自己",
                   received_at=RECEIVED),
    ]
    for raw in robots:
        deliver(raw)
    poll()
    time.sleep(1.0)
    assert smtp_sink.messages == []
    kinds = sorted(k for (k,) in q(db_url, select(Message.kind)))
    assert kinds == ["auto_reply", "bounce", "list", "own"]
    assert q(db_url, select(func.count()).select_from(OutboxMail)) == [(0,)]


def test_fifty_mails_from_one_sender_get_at_most_the_configured_replies(env, smtp_sink, db_url) -> None:  # type: ignore[no-untyped-def]
    poll, deliver = env
    for i in range(50):
        deliver(build_mail(style="qq", sender="flood@qq.com", to=MAILBOX, subject=f"浙江省/某小学第{i}号案例+人工智能教育",
                           body="无附件", received_at=RECEIVED))
    poll()
    time.sleep(1.0)
    assert len(smtp_sink.messages) == 3
    statuses = dict(q(db_url, select(OutboxMail.status, func.count()).group_by(OutboxMail.status)))
    assert statuses == {"sent": 3, "suppressed": 47}


def test_a_bounce_of_our_receipt_is_shown_on_the_case(env, smtp_sink, db_url) -> None:  # type: ignore[no-untyped-def]
    poll, deliver = env
    deliver(submission_mail(SCHOOLS[4], photos=1, video_seconds=None))
    poll()
    [receipt] = smtp_sink.wait_for(1, timeout=30)
    sent = email.message_from_bytes(receipt.raw, policy=email.policy.default)
    dsn = (f"From: MAILER-DAEMON@sina.com\r\nTo: {MAILBOX}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
           "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
           "--b\r\nContent-Type: text/plain\r\n\r\nThe mailbox is full.\r\n--b\r\n"
           "Content-Type: text/rfc822-headers\r\n\r\n"
           f"Message-ID: {sent['Message-ID']}\r\nSubject: x\r\n--b--\r\n").encode()
    deliver(dsn)
    poll()
    time.sleep(0.5)
    assert len(smtp_sink.messages) == 1  # the bounce itself is never answered
    events = q(db_url, select(Event.action, Event.case_id).where(Event.action == "mail.bounced"))
    assert len(events) == 1 and events[0][1] is not None
