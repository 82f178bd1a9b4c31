"""Messages download side by side over more than one IMAP connection (imap.fetch_connections, issue 21), while
what counts as received still advances in UID order. A real Dovecot, the product's own fetch."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Iterator

import pytest

from ingest.config import ImapSettings
from ingest.mail.fetch import fetch_new
from ingest.mail.imap import MailboxClient
from ingest.mail.spool import Spool
from ingest.samples.mails import Attachment, build_mail
from servers import DovecotServer
from store import Store


def _mail(index: int, attachment_bytes: int) -> bytes:
    return build_mail(style="163", sender=f"school{index}@163.com", to="jcjyzj2025@163.com",
                      subject=f"浙江省第{index}小学+案例+人工智能教育", body="见附件",
                      attachments=[Attachment("申报表.pdf", os.urandom(attachment_bytes), "application/pdf")])


def _settings(server: DovecotServer, user: str, connections: int) -> ImapSettings:
    # Small chunks: the large message takes hundreds of round trips, so the small ones finish beside it.
    return ImapSettings(host=server.host, port=server.port, security="plain", username=user,
                        password=server.password, fetch_chunk_bytes=16 << 10, fetch_connections=connections,
                        use_idle=False)


def _fetch(server: DovecotServer, user: str, tmp_path: Path, connections: int) -> tuple[Store, Spool]:
    store = Store.open(f"sqlite:///{tmp_path / 'intake.db'}", campaign_id="jcjy2025")
    spool = Spool(tmp_path / "spool")
    mailbox = MailboxClient(_settings(server, user, connections))
    try:
        mailbox.connect()
        fetch_new(mailbox, store, spool)
    finally:
        mailbox.close()
    return store, spool


def _recorded(store: Store) -> list[tuple[int, str, str]]:
    """(uid, sha256, spool path) of each message row, in the order the rows were written."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT uid, sha256, spool_path FROM messages ORDER BY id")).all()
    return [(int(uid), sha, path) for uid, sha, path in rows]


@pytest.fixture
def mailbox_of_four(dovecot: DovecotServer) -> Iterator[tuple[str, list[bytes]]]:
    user = dovecot.new_user()
    mails = [_mail(0, 6 << 20)] + [_mail(i, 20 << 10) for i in range(1, 4)]
    for raw in mails:
        dovecot.append(user, "INBOX", raw)
    yield user, mails


def test_small_mails_arrive_beside_a_large_one_and_are_recorded_in_uid_order(
        dovecot: DovecotServer, mailbox_of_four: tuple[str, list[bytes]], tmp_path: Path) -> None:
    user, mails = mailbox_of_four
    store, _spool = _fetch(dovecot, user, tmp_path, connections=2)
    recorded = _recorded(store)
    assert [uid for uid, _, _ in recorded] == [1, 2, 3, 4]  # rows in UID order, whatever finished first
    for (_uid, sha, path), raw in zip(recorded, mails):
        assert Path(path).read_bytes() == raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha
    # Side by side: the small mails were in the spool before the large first one was complete.
    done = {uid: Path(path).stat().st_mtime_ns for uid, _, path in recorded}
    assert done[2] < done[1] and done[3] < done[1], done
    assert store.mailbox_last_uid(f"{user}@{dovecot.host}", "INBOX", dovecot.uidvalidity(user)) == 4
    store.close()


def test_one_connection_downloads_one_message_after_another(
        dovecot: DovecotServer, mailbox_of_four: tuple[str, list[bytes]], tmp_path: Path) -> None:
    user, _mails = mailbox_of_four
    store, _spool = _fetch(dovecot, user, tmp_path, connections=1)
    recorded = _recorded(store)
    done = [Path(path).stat().st_mtime_ns for _, _, path in recorded]
    assert [uid for uid, _, _ in recorded] == [1, 2, 3, 4] and done == sorted(done)
    store.close()


def test_a_server_that_refuses_a_second_connection_is_read_over_one(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    server = DovecotServer(extra_config="mail_max_userip_connections = 1")
    server.start()
    try:
        user = server.new_user()
        mails = [_mail(0, 2 << 20), _mail(1, 20 << 10), _mail(2, 20 << 10)]
        for raw in mails:
            server.append(user, "INBOX", raw)
        with caplog.at_level(logging.WARNING, logger="ingest.mail.downloads"):
            store, _spool = _fetch(server, user, tmp_path, connections=2)
        assert [uid for uid, _, _ in _recorded(store)] == [1, 2, 3]
        assert any("拒绝再开一个连接" in r.getMessage() for r in caplog.records), caplog.text
        store.close()
    finally:
        server.cleanup()
