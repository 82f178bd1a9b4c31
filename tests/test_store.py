"""The repository on SQLite and PostgreSQL: dedupe, epochs, filing, outbox, leases."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from checks.domain import CaseIdentity
from store import AttachmentRecord, CaseFields, FindingRecord, Store, VersionRecord

NOW = datetime(2025, 11, 1, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(db_url: str) -> Store:
    s = Store.open(db_url, campaign_id="jcjy2025")
    yield s
    s.close()


def spool_row(store: Store, uid: int, sha: str, *, uidvalidity: int = 7, message_id: str | None = "<m@x>"):
    return store.record_spooled(account="acct", folder="INBOX", uidvalidity=uidvalidity, uid=uid,
                                message_id=message_id, sha256=sha, size=100 + uid, spool_path=f"/spool/{uid}.eml",
                                internaldate=NOW)


def record(message_row_id: int, *, case_id: int | None = None, name: str = "AI课程") -> VersionRecord:
    return VersionRecord(
        message_row_id=message_row_id, campaign_id="jcjy2025", sender="a@school.cn", received_at=NOW,
        raw_subject="浙江省/某小学AI课程+人工智能教育",
        fields=CaseFields(CaseIdentity("unit", "浙江省", "杭州市", "某小学", name, 6, "人工智能教育"), None, 0.95, ()),
        status="accepted",
        attachments=(AttachmentRecord("申报表.docx", "form_word", 10, "a" * 64, "/spool/w/1"),),
        findings=(FindingRecord("form.both_versions", "四.3", "reject", True, "申报表 Word 与 PDF 齐全"),),
        case_id=case_id,
    )


def test_schema_migrates_idempotently(db_url: str) -> None:
    Store.open(db_url).close()
    Store.open(db_url).close()


def test_epochs_and_last_uid(store: Store) -> None:
    assert store.mailbox_last_uid("acct", "INBOX", 7) == 0
    store.advance_last_uid("acct", "INBOX", 7, 5)
    store.advance_last_uid("acct", "INBOX", 7, 3)  # never goes backwards
    assert store.mailbox_last_uid("acct", "INBOX", 7) == 5
    assert store.mailbox_last_uid("acct", "INBOX", 8) == 0  # a new UIDVALIDITY is a new epoch


def test_same_bytes_are_recorded_once_even_in_a_new_epoch(store: Store) -> None:
    assert spool_row(store, 1, "1" * 64) is not None
    assert spool_row(store, 1, "1" * 64, uidvalidity=8) is None
    assert store.known_messages(["<m@x>", "<other@x>"]) == {"<m@x>": {101}}


def test_filing_versions_and_idempotent_refile(store: Store) -> None:
    m1 = spool_row(store, 1, "1" * 64)
    m2 = spool_row(store, 2, "2" * 64, message_id="<m2@x>")
    assert m1 and m2
    first = store.file_version(record(m1.id), "JCJY2025")
    again = store.file_version(record(m1.id), "JCJY2025")  # restart after commit: same answer, no new row
    assert first == again
    assert first.case_no == f"JCJY2025-{first.case_id:06d}" and first.version == 1
    second = store.file_version(record(m2.id, case_id=first.case_id), "JCJY2025")
    assert (second.case_id, second.version) == (first.case_id, 2)
    assert store.find_case("jcjy2025", "a@school.cn", "AI课程") == first.case_id
    summaries = store.case_summaries("jcjy2025")
    assert len(summaries) == 1 and summaries[0].file_sha256s == ("a" * 64,)
    assert store.message_status_counts() == {"stored": 2}


def test_outbox_is_at_most_once_and_backs_off(store: Store) -> None:
    assert store.enqueue_mail(message_id="<r.1@x>", kind="receipt", recipient="a@school.cn", subject="回执",
                              raw=b"x")
    assert not store.enqueue_mail(message_id="<r.1@x>", kind="receipt", recipient="a@school.cn",
                                  subject="回执", raw=b"x")
    [due] = store.due_mail()
    store.mark_sending(due.id)
    store.mark_send_failed(due.id, "connection refused", base_seconds=30)
    assert store.due_mail() == []
    assert len(store.due_mail(datetime.now(timezone.utc) + timedelta(seconds=31))) == 1
    store.mark_sending(due.id)
    store.mark_sent(due.id)
    assert store.due_mail(datetime.now(timezone.utc) + timedelta(days=1)) == []
    assert store.outbox_counts() == {"sent": 1}
    assert store.replies_sent_since("a@school.cn", NOW) == 1


def test_lease_excludes_a_second_holder(store: Store) -> None:
    assert store.acquire_lease("cycle", "host:1", 60)
    assert not store.acquire_lease("cycle", "host:2", 60)
    assert store.acquire_lease("cycle", "host:1", 60)  # renew
    store.release_lease("cycle", "host:1")
    assert store.acquire_lease("cycle", "host:2", 60)


def test_expired_lease_can_be_taken_over(store: Store) -> None:
    assert store.acquire_lease("cycle", "dead:1", -1)
    assert store.acquire_lease("cycle", "host:2", 60)
