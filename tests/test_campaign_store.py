"""One database, several campaigns (issue 20.1): each campaign's view of the store sees and writes only its own
messages, replies and poll state; a single-campaign database made with the previous schema (0004) migrates with
its rows placed in the one campaign. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from store import Store
from store.db import SCHEMA_HEAD, alembic_config, make_engine

NOW = datetime(2025, 11, 1, 2, 0, tzinfo=timezone.utc)


def _spool(store: Store, uid: int, sha: str, account: str = "acct") -> object:
    return store.record_spooled(account=account, folder="INBOX", uidvalidity=7, uid=uid, message_id=f"<m{uid}@x>",
                                sha256=sha, size=100, spool_path=f"/spool/{uid}.eml", internaldate=NOW)


def test_each_campaign_sees_its_own_rows(db_url: str) -> None:
    root = Store.open(db_url)
    try:
        a, b = root.for_campaign("a2025"), root.for_campaign("b2025")
        assert _spool(a, 1, "1" * 64, "a@x") is not None
        # The same bytes reaching the other campaign's mailbox are that campaign's mail too.
        assert _spool(b, 1, "1" * 64, "b@x") is not None
        assert _spool(b, 2, "1" * 64, "b@x") is None  # but only once per campaign
        assert [m.account for m in a.messages_with_status(["spooled"])] == ["a@x"]
        assert a.known_messages(["<m1@x>", "<m2@x>"]) == {"<m1@x>": {100}}
        assert b.message_status_counts() == {"spooled": 1}
        assert root.message_status_counts() == {"spooled": 2}
        assert a.enqueue_mail(message_id="<r1@x>", kind="receipt", recipient="s@school.cn", subject="回执", raw=b"x")
        assert [m.message_id for m in a.due_mail()] == ["<r1@x>"]
        assert b.due_mail() == [] and b.replies_sent_since("s@school.cn", NOW) == 0
        assert a.replies_sent_since("s@school.cn", NOW) == 1
        a.mailbox_last_uid("a@x", "INBOX", 7)
        a.record_poll("a@x", "INBOX", ok=True)
        assert a.last_successful_poll() is not None and b.last_successful_poll() is None
        b.log_event("poll.failed", detail={"error": "登录失败"})
        assert [d["error"] for _, d in b.events_since("poll.failed", None)] == ["登录失败"]
        assert a.events_since("poll.failed", None) == []
        with pytest.raises(RuntimeError):
            _spool(root, 3, "3" * 64)  # a row of no campaign is never written
    finally:
        root.close()


def _fill_0004(engine: sa.Engine) -> None:
    """Rows as the previous release wrote them: one case with its mail and receipt, a skipped mail, an alert."""
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO mailbox_state (id, account, folder, uidvalidity, last_uid, created_at)"
            " VALUES (1, 'jcjyzj2025@163.com', 'INBOX', 7, 2, :t)"), {"t": NOW})
        for mid, sha, status in ((1, "1" * 64, "notified"), (2, "2" * 64, "skipped")):
            conn.execute(sa.text(
                "INSERT INTO messages (id, account, folder, uidvalidity, uid, message_id, sha256, size, spool_path,"
                " status, attempts, defects, created_at, updated_at) VALUES (:id, 'jcjyzj2025@163.com', 'INBOX', 7,"
                " :id, :mid, :sha, 100, '/spool/x.eml', :status, 1, '[]', :t, :t)"),
                {"id": mid, "mid": f"<m{mid}@x>", "sha": sha, "status": status, "t": NOW})
        conn.execute(sa.text(
            "INSERT INTO cases (id, campaign_id, case_no, sender, status, current_version, subject_confidence,"
            " subject_reasons, first_received_at, last_received_at, created_at, updated_at) VALUES (1, 'jcjy2025',"
            " 'JCJY2025-000001', 's@school.cn', 'accepted', 1, 0.9, '[]', :t, :t, :t, :t)"), {"t": NOW})
        conn.execute(sa.text(
            "INSERT INTO submissions (id, case_id, version, message_row_id, batch_index, received_at, status,"
            " created_at) VALUES (1, 1, 1, 1, 0, :t, 'accepted', :t)"), {"t": NOW})
        for oid, case_id, kind in ((1, 1, "receipt"), (2, None, "alert")):
            conn.execute(sa.text(
                "INSERT INTO outbox (id, message_id, case_id, message_row_id, kind, recipient, recipient_key,"
                " subject, raw, status, attempts, next_attempt_at, automatic, created_at) VALUES (:id, :mid,"
                " :case_id, :case_id, :kind, 's@school.cn', 's@school.cn', 's', :raw, 'sent', 1, :t, true, :t)"),
                {"id": oid, "mid": f"<r{oid}@x>", "case_id": case_id, "kind": kind, "raw": b"x", "t": NOW})
        conn.execute(sa.text("INSERT INTO events (id, at, actor, action, case_id, detail) VALUES"
                             " (1, :t, 'daemon', 'case.version_filed', 1, '{}'), (2, :t, 'daemon', 'poll.failed',"
                             " NULL, '{}')"), {"t": NOW})
        if engine.dialect.name == "postgresql":
            for table in ("mailbox_state", "messages", "cases", "submissions", "outbox", "events"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM"
                                     f" {table}))")


def test_a_single_campaign_database_of_the_previous_schema_migrates(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        cfg = alembic_config(db_url)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0004")
        _fill_0004(engine)
    finally:
        engine.dispose()
    # What `intake run` does on start: migrate, the configured campaign named for rows no case places.
    store = Store.open(db_url, campaign_id="jcjy2025")
    try:
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == SCHEMA_HEAD
            for table in ("messages", "mailbox_state", "outbox"):
                found = conn.execute(sa.text(f"SELECT DISTINCT campaign_id FROM {table}")).scalars().all()
                assert found == ["jcjy2025"], table
            events = dict(conn.execute(sa.text("SELECT id, campaign_id FROM events")).all())
            assert events == {1: "jcjy2025", 2: None}
        assert store.message_status_counts() == {"notified": 1, "skipped": 1}
        assert store.case_id_by_reply(["<r1@x>"]) == 1
        assert store.for_campaign("other").case_id_by_reply(["<r1@x>"]) is None
        # The old rows still dedupe in their campaign; the new campaign files the same bytes as its own.
        assert _spool(store, 9, "1" * 64, "jcjyzj2025@163.com") is None
        assert _spool(store.for_campaign("other"), 9, "1" * 64, "other@x") is not None
    finally:
        store.close()


def test_migrations_have_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert heads == [SCHEMA_HEAD]
