"""Issue 15.1–15.3 below the end-to-end tests (tests/test_e2e_strangers.py): normalised addresses, case ownership
and linked addresses in the store, the generated Message-ID key, alerts behind a backlog (real aiosmtpd), and the
console's action to link an address."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from console.app import create_app
from checks.domain import CaseIdentity
from store import Store, address_key
from store.records import CaseFields, VersionRecord
from servers import SmtpSink, write_intake_config
from test_console import filled, login, settings  # noqa: F401 - the fixture is used by name

NOW = datetime.now(timezone.utc)


def test_addresses_compare_without_case_and_tag() -> None:
    assert address_key(" Flood+1@QQ.com ") == address_key("<flood@qq.com>") == "flood@qq.com"
    assert address_key("a.b@163.com") != address_key("ab@163.com")  # dots are a different 163 account
    assert address_key("+x@qq.com") == "+x@qq.com" and address_key("") == ""


def _file(store: Store, message_no: int, sender: str, case_id: int | None = None) -> int:
    msg = store.record_spooled(account="a", folder="INBOX", uidvalidity=1, uid=message_no, message_id=None,
                               sha256=f"{message_no:064d}", size=1, spool_path="/dev/null", internaldate=NOW)
    assert msg is not None
    fields = CaseFields(identity=CaseIdentity(submitter_kind="unit", province="浙江省", city=None, organization="某小学",
                                              case_name="课程建设", category_no=6, category="人工智能教育"),
                        part=None, confidence=0.9)
    record = VersionRecord(message_row_id=msg.id, campaign_id="c", sender=sender, received_at=NOW, raw_subject="s",
                           fields=fields, status="accepted", attachments=(), findings=(), case_id=case_id)
    return store.file_version(record, "JCJY2025").case_id


def test_only_the_sender_or_a_linked_address_continues_a_case(db_url: str) -> None:
    store = Store.open(db_url, campaign_id="jcjy2025")
    try:
        case_id = _file(store, 1, "wsj@163.com")
        assert store.may_continue_case(case_id, "WSJ+fix@163.com")
        assert not store.may_continue_case(case_id, "other@163.com") and not store.may_continue_case(case_id, None)
        assert store.find_case("c", "Wsj@163.com", "课程建设") == case_id
        assert store.find_case("c", "other@163.com", "课程建设") is None
        assert store.link_address("JCJY2025-000001", "Office+x@163.com", actor="王老师", reason="办公室")
        assert not store.link_address("JCJY2025-000001", "office@163.com", actor="王老师")  # already linked
        assert store.may_continue_case(case_id, "office@163.com")
        assert store.find_case("c", "office@163.com", "课程建设") == case_id
        assert store.linked_addresses(case_id) == ["Office+x@163.com"]
        assert store.unlink_address("JCJY2025-000001", "OFFICE@163.com", actor="王老师")
        assert not store.may_continue_case(case_id, "office@163.com")
        with pytest.raises(LookupError):
            store.link_address("JCJY2025-999999", "a@b.cn", actor="x")
        # The per-sender reply limit counts every spelling of one mailbox.
        for i, to in enumerate(("Flood+1@QQ.com", "flood+2@qq.com")):
            store.enqueue_mail(message_id=f"<r{i}@x>", kind="receipt", recipient=to, subject="s", raw=b"x")
        assert store.replies_sent_since("FLOOD@qq.com", NOW - timedelta(minutes=1)) == 2
        assert store.automatic_replies_since(NOW - timedelta(minutes=1)) == 2
        # The generated Message-ID key is made once and is the same for every process of this database.
        key = store.app_secret("reply_message_id_key", lambda: "first")
        assert key == "first" and store.app_secret("reply_message_id_key", lambda: "second") == "first"
    finally:
        store.close()


def test_an_alert_behind_a_backlog_of_replies_goes_out(tmp_path: Path) -> None:
    """Before the fix the alert sender read only the first 100 due mails and skipped all but alerts: an alert
    queued behind 150 receipts (SMTP slow, a flood) never went out from the watchdog or cron."""
    from ingest.pipeline.alerts import send_now
    from ingest.config import load_config
    from ingest.runtime import Runtime

    sink = SmtpSink()
    sink.start()
    try:
        cfg = write_intake_config(tmp_path, imap_port=1, user="u", smtp_port=sink.port,
                                  db_url=f"sqlite:///{tmp_path / 'intake.db'}")
        rt = Runtime(load_config(cfg, env={**os.environ, "TEST_IMAP_PASSWORD": "x"}))
        try:
            for i in range(150):
                rt.store.enqueue_mail(message_id=f"<r{i}@x>", kind="receipt", recipient=f"s{i}@school.cn",
                                      subject="回执", raw=b"Subject: x\r\n\r\nx\r\n")
            rt.store.enqueue_mail(message_id="<alert.1@x>", kind="alert", recipient="org@163.com", subject="告警",
                                  raw=b"Subject: alert\r\n\r\nx\r\n")
            assert send_now(rt) == 1
            [mail] = sink.wait_for(1)
            assert mail.rcpt_tos == ("org@163.com",)
            assert rt.store.outbox_counts() == {"pending": 150, "sent": 1}
        finally:
            rt.close()
    finally:
        sink.stop()


def test_a_reviewer_links_an_address_in_the_console(filled) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    store, _ = filled
    viewer = TestClient(create_app(store, settings()))
    token = login(viewer, "zhao")
    r = viewer.post("/cases/JCJY2025-000003/addresses", data={"address": "office@school.cn", "csrf": token})
    assert r.status_code == 403
    reviewer = TestClient(create_app(store, settings()))
    token = login(reviewer, "li")
    r = reviewer.post("/cases/JCJY2025-000003/addresses", data={"address": "office@school.cn", "reason": "办公室",
                                                                 "csrf": token}, follow_redirects=True)
    assert r.status_code == 200 and "已登记 office@school.cn" in r.text and "也可更新本案例：office@school.cn" in r.text
    case_id = store.case_id_by_no("JCJY2025-000003")
    assert case_id is not None and store.may_continue_case(case_id, "Office+a@school.cn")
    r = reviewer.post("/cases/JCJY2025-000003/addresses", data={"address": "not an address", "csrf": token},
                      follow_redirects=True)
    assert "未登记" in r.text


def test_hygiene_judges_the_address_we_would_answer() -> None:
    """Issue 15.3: From is answered; a Reply-To only inside the From's domain; the own-address, robot and
    Authentication-Results checks hold for the address answered."""
    from ingest.mail.hygiene import answer_address, assess, foreign_reply_to
    from ingest.samples.mails import build_mail
    from ingest.mail.mime import parse_message

    own = frozenset({"jcjyzj2025@163.com"})

    def mail(reply_to: str | None = None, results: str | None = None, sender: str = "head@school.cn") -> object:
        headers = [("Reply-To", reply_to)] if reply_to else []
        if results:
            headers.append(("Authentication-Results", results))
        return parse_message(build_mail(style="163", sender=sender, to="jcjyzj2025@163.com",
                                        subject="浙江省/某小学案例+德育", body="x", extra_headers=headers))

    same = mail("Office@School.cn")
    assert answer_address(same) == "office@school.cn" and foreign_reply_to(same) is None  # type: ignore[arg-type]
    other = mail("victim@other.org")
    assert answer_address(other) == "head@school.cn"  # type: ignore[arg-type]
    assert foreign_reply_to(other) == "victim@other.org"  # type: ignore[arg-type]
    # A 163.com sender whose Reply-To is our own 163.com mailbox: we would mail ourselves.
    assert assess(mail("jcjyzj2025@163.com", sender="x@163.com"), own).kind == "own_reply_to"  # type: ignore[arg-type]
    assert assess(mail("mailer-daemon@school.cn"), own).kind == "robot_reply_to"  # type: ignore[arg-type]
    vouched_other = mail(results="mx.163.com; spf=pass smtp.mailfrom=school.cn; dmarc=pass header.from=evil.cn")
    assert assess(vouched_other, own).kind == "auth_other_domain"  # type: ignore[arg-type]
    vouched = mail(results="mx.163.com; spf=pass smtp.mailfrom=school.cn; dmarc=pass header.from=school.cn")
    assert assess(vouched, own).reply  # type: ignore[arg-type]


def test_a_reply_stuck_in_sending_is_raised(tmp_path: Path) -> None:
    """Issue 15.2: a reply whose SMTP attempt began more than 15 minutes ago and never ended, and a failed
    reply, are alerts (`intake health`, the alert mail, the console)."""
    from sqlalchemy import update

    from ingest.pipeline.alerts import reply_alerts
    from ingest.config import load_config
    from ingest.runtime import Runtime
    from store.models import OutboxMail

    cfg = write_intake_config(tmp_path, imap_port=1, user="u", smtp_port=1, db_url=f"sqlite:///{tmp_path / 'i.db'}")
    rt = Runtime(load_config(cfg, env={**os.environ, "TEST_IMAP_PASSWORD": "x"}))
    try:
        for i in range(2):
            rt.store.enqueue_mail(message_id=f"<r{i}@x>", kind="receipt", recipient=f"s{i}@school.cn", subject="回执",
                                  raw=b"x")
        [first, second] = rt.store.due_mail()
        rt.store.mark_sending(first.id)
        rt.store.mark_sending(second.id)
        rt.store.mark_send_failed(second.id, "SMTP: 550 no such user", permanent=True)
        assert [a.kind for a in reply_alerts(rt, datetime.now(timezone.utc))] == ["replies_failed"]
        with rt.store.session() as s, s.begin():
            s.execute(update(OutboxMail).where(OutboxMail.id == first.id)
                      .values(sending_at=datetime.now(timezone.utc) - timedelta(minutes=20)))
        alerts = reply_alerts(rt, datetime.now(timezone.utc))
        assert [a.kind for a in alerts] == ["replies_failed", "replies_stuck"]
        assert "550 no such user" in alerts[0].detail and "s0@school.cn" in alerts[1].detail
    finally:
        rt.close()
