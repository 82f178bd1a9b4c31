"""The test servers are real: each check below talks the actual protocol to the actual program."""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from email.header import Header, decode_header, make_header
from email.message import Message
from email.utils import make_msgid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from servers import DovecotServer, SmtpSink, create_database, drop_database, port_answers

SUBJECT = "湖北省武汉市育才小学/“双减”背景下的作业设计创新+教育教学改革"


def gbk_mail(subject: str, body: str = "附件为申报材料，请查收。") -> bytes:
    """A mail as 163 webmail writes it: GBK body and a =?GBK?B?…?= subject."""
    message = Message()
    message["From"] = str(Header("育才小学", "gbk")) + " <yucai@163.com>"
    message["To"] = "jcjyzj2025@163.com"
    message["Subject"] = Header(subject, "gbk").encode()
    message["Message-ID"] = make_msgid(domain="163.com")
    message.set_payload(body.encode("gbk"))
    message.set_charset("gbk")
    return message.as_bytes()


def test_append_then_read_gbk_subjects_read_only(dovecot: DovecotServer, imap_user: str) -> None:
    when = datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    raw = gbk_mail(SUBJECT)
    assert b"=?gbk?b?" in raw.lower()
    uids = [dovecot.append(imap_user, "INBOX", raw, internaldate=when),
            dovecot.append(imap_user, "INBOX", gbk_mail(SUBJECT + "二"))]
    assert uids == [1, 2]
    with dovecot.connect(imap_user) as client:
        assert b"ID" in client.capabilities()
        server_id = dict(client.id_({"name": "case-intake-test", "version": "0"}))
        assert server_id[b"name"] == b"Dovecot"
        selected = client.select_folder("INBOX", readonly=True)
        assert selected[b"EXISTS"] == 2 and b"READ-ONLY" in selected
        fetched = client.fetch([1, 2], ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]", "INTERNALDATE", "FLAGS", "RFC822.SIZE"])
        subjects = [str(make_header(decode_header(
            fetched[uid][b"BODY[HEADER.FIELDS (SUBJECT)]"].decode("ascii").split(":", 1)[1].strip())))
            for uid in (1, 2)]
        assert subjects == [SUBJECT, SUBJECT + "二"]
        assert fetched[1][b"INTERNALDATE"].replace(tzinfo=None) == when.astimezone().replace(tzinfo=None)
        assert fetched[1][b"RFC822.SIZE"] == len(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        assert all(b"\\Seen" not in fetched[uid][b"FLAGS"] for uid in (1, 2))


def test_each_user_sees_only_its_own_mail(dovecot: DovecotServer) -> None:
    first, second = dovecot.new_user(), dovecot.new_user()
    dovecot.append(first, "INBOX", gbk_mail(SUBJECT))
    with dovecot.connect(second) as client:
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 0


def test_flags_are_stored(dovecot: DovecotServer, imap_user: str) -> None:
    dovecot.append(imap_user, "INBOX", gbk_mail(SUBJECT), flags=["\\Seen"])
    with dovecot.connect(imap_user) as client:
        client.select_folder("INBOX", readonly=True)
        assert b"\\Seen" in client.get_flags([1])[1]


@pytest.mark.parametrize("folder", ["INBOX", "案例归档"])
def test_delete_and_recreate_gives_new_uidvalidity_and_empty_folder(
        dovecot: DovecotServer, imap_user: str, folder: str) -> None:
    dovecot.append(imap_user, folder, gbk_mail(SUBJECT))
    dovecot.append(imap_user, folder, gbk_mail(SUBJECT))
    before = dovecot.uidvalidity(imap_user, folder)
    after = dovecot.delete_and_recreate_folder(imap_user, folder)
    assert after != before
    assert dovecot.uidvalidity(imap_user, folder) == after
    with dovecot.connect(imap_user) as client:
        assert client.select_folder(folder, readonly=True)[b"EXISTS"] == 0
    # UIDs count from 1 again: the same UID now names a different message, which is why UIDVALIDITY matters.
    assert dovecot.append(imap_user, folder, gbk_mail("新邮件")) == 1


def test_idle_announces_new_mail(dovecot: DovecotServer, imap_user: str) -> None:
    dovecot.append(imap_user, "INBOX", gbk_mail(SUBJECT))
    with dovecot.connect(imap_user) as client:
        client.select_folder("INBOX", readonly=True)
        client.idle()
        try:
            dovecot.append(imap_user, "INBOX", gbk_mail(SUBJECT + "二"))
            responses = []
            for _ in range(20):
                responses += client.idle_check(timeout=1)
                if (2, b"EXISTS") in responses:
                    break
        finally:
            client.idle_done()
    assert (2, b"EXISTS") in responses


@pytest.mark.slow
def test_restart_keeps_the_mail_store_and_port() -> None:
    server = DovecotServer()
    server.start()
    try:
        user = server.new_user()
        server.append(user, "INBOX", gbk_mail(SUBJECT))
        validity, port = server.uidvalidity(user), server.port
        server.stop()
        assert not port_answers(server.host, port)
        server.start()
        assert server.port == port
        assert server.uidvalidity(user) == validity
        with server.connect(user) as client:
            assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 1
        server.restart()
        assert server.uidvalidity(user) == validity
    finally:
        server.cleanup()
    assert not server.root.exists()


def send(sink: SmtpSink, raw: bytes, sender: str, recipients: list[str],
         login: tuple[str, str] | None = None) -> None:
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        if login is not None:
            client.login(*login)
        client.sendmail(sender, recipients, raw)


def test_smtp_sink_keeps_envelope_and_exact_bytes(smtp_sink: SmtpSink) -> None:
    raw = gbk_mail("回执：已收到您的申报材料").replace(b"\n", b"\r\n")
    send(smtp_sink, raw, "jcjyzj2025@163.com", ["yucai@163.com", "copy@126.com"])
    [mail] = smtp_sink.wait_for(1, timeout=10)
    assert mail.mail_from == "jcjyzj2025@163.com"
    assert mail.rcpt_tos == ("yucai@163.com", "copy@126.com")
    assert mail.raw.rstrip(b"\r\n") == raw.rstrip(b"\r\n")
    assert mail.message_id is not None and mail.message_id.endswith("@163.com>")


def test_smtp_sink_goes_down_and_comes_back_on_the_same_port(smtp_sink: SmtpSink) -> None:
    send(smtp_sink, gbk_mail("第一封"), "a@163.com", ["b@163.com"])
    port = smtp_sink.port
    smtp_sink.stop()
    with pytest.raises(OSError):
        send(smtp_sink, gbk_mail("发不出去"), "a@163.com", ["b@163.com"])
    smtp_sink.start()
    assert smtp_sink.port == port
    send(smtp_sink, gbk_mail("第二封"), "a@163.com", ["b@163.com"])
    assert len(smtp_sink.wait_for(2, timeout=10)) == 2


def test_smtp_sink_wait_for_reports_shortfall(smtp_sink: SmtpSink) -> None:
    with pytest.raises(TimeoutError, match="0 of 1"):
        smtp_sink.wait_for(1, timeout=0.2)


def test_smtp_sink_with_auth_accepts_right_password_only() -> None:
    sink = SmtpSink(auth=("jcjyzj2025@163.com", "QWERTYASDFGH2025"))
    sink.start()
    try:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            send(sink, gbk_mail("错"), "a@163.com", ["b@163.com"], login=("jcjyzj2025@163.com", "wrong"))
        with pytest.raises(smtplib.SMTPSenderRefused):
            send(sink, gbk_mail("未登录"), "a@163.com", ["b@163.com"])
        send(sink, gbk_mail("对"), "a@163.com", ["b@163.com"], login=("jcjyzj2025@163.com", "QWERTYASDFGH2025"))
        assert len(sink.wait_for(1, timeout=10)) == 1
    finally:
        sink.stop()


def create_table_and_roundtrip(url: str) -> list[tuple[int, str]]:
    engine = sa.create_engine(url)
    try:
        metadata = sa.MetaData()
        cases = sa.Table("cases", metadata, sa.Column("id", sa.Integer, primary_key=True),
                         sa.Column("subject", sa.Text, nullable=False))
        with engine.begin() as conn:
            assert sa.inspect(conn).get_table_names() == []
            metadata.create_all(conn)
            conn.execute(cases.insert(), [{"subject": SUBJECT}])
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.select(cases.c.id, cases.c.subject))]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_pg_url_is_a_fresh_database_that_takes_a_table(pg_url: str) -> None:
    assert pg_url.startswith("postgresql+psycopg://")
    assert create_table_and_roundtrip(pg_url) == [(1, SUBJECT)]


def test_db_url_works_on_both_backends(db_url: str) -> None:
    assert create_table_and_roundtrip(db_url) == [(1, SUBJECT)]


@pytest.mark.postgres
def test_dropped_database_is_gone(postgres_server: str) -> None:
    url = create_database(postgres_server)
    libpq_url = url.replace("postgresql+psycopg://", "postgresql://")
    left_open = psycopg.connect(libpq_url)  # a connection a test forgot must not stop the drop
    try:
        drop_database(url)
    finally:
        left_open.close()
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(libpq_url, connect_timeout=5)


@pytest.mark.slow
@pytest.mark.postgres
def test_self_started_postgres_when_forced(tmp_path: Path) -> None:
    """INTAKE_TEST_PG_SELFSTART=1 makes a fresh process start its own cluster instead of using port 5432."""
    script = textwrap.dedent("""
        import json, sys
        import sqlalchemy as sa
        import servers
        base = servers.postgres_server_url()
        db = servers.create_database(base)
        engine = sa.create_engine(db)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x text)"))
            conn.execute(sa.text("INSERT INTO t VALUES ('案例')"))
            value = conn.execute(sa.text("SELECT x FROM t")).scalar_one()
        engine.dispose()
        servers.drop_database(db)
        root = str(servers._self_started.root)
        servers.stop_self_started_postgres()
        print(json.dumps({"base": base, "value": value, "root": root}))
    """)
    env = {**os.environ, "INTAKE_TEST_PG_SELFSTART": "1", "PYTHONPATH": str(Path(__file__).parent)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    import json

    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert ":5432/" not in result["base"]
    assert result["value"] == "案例"
    assert not Path(result["root"]).exists()
