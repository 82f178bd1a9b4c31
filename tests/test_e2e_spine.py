"""Issue 2 acceptance, end to end: real Dovecot, real SMTP server, SQLite and PostgreSQL, the real CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from servers import reported_peak_memory_mb, run_intake, write_intake_config
from ingest.samples.submissions import RECEIVED, SCHOOLS, submission_mail
from store.models import Case, Message, OutboxMail

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def five_mails() -> list[bytes]:
    return [submission_mail(case, photos=2, video_seconds=2.0) for case in SCHOOLS[:5]]


def count(db_url: str, model: type, *where: object) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
    finally:
        engine.dispose()


@pytest.fixture
def setup(tmp_path: Path, dovecot, smtp_sink, db_url: str):  # type: ignore[no-untyped-def]
    user = f"u{uuid.uuid4().hex[:10]}"
    cfg = write_intake_config(tmp_path, imap_port=dovecot.port, user=user, smtp_port=smtp_sink.port, db_url=db_url)
    return user, cfg


def test_five_submissions_five_receipts_and_nothing_twice(setup, dovecot, smtp_sink, db_url, five_mails):  # type: ignore[no-untyped-def]
    user, cfg = setup
    for raw in five_mails:
        dovecot.append(user, "INBOX", raw, internaldate=RECEIVED)
    run_intake(cfg, "poll", "--once", password=dovecot.password)
    assert count(db_url, Case) == 5
    smtp_sink.wait_for(5, timeout=30)
    assert len(smtp_sink.messages) == 5
    recipients = sorted(m.rcpt_tos[0] for m in smtp_sink.messages)
    assert recipients == sorted(c.sender for c in SCHOOLS[:5])
    run_intake(cfg, "poll", "--once", password=dovecot.password)
    time.sleep(0.5)
    assert count(db_url, Case) == 5
    assert len(smtp_sink.messages) == 5


def test_kill_9_mid_cycle_then_restart(setup, dovecot, smtp_sink, db_url, five_mails, tmp_path):  # type: ignore[no-untyped-def]
    user, cfg = setup
    for raw in five_mails:
        dovecot.append(user, "INBOX", raw, internaldate=RECEIVED)
    env = {**os.environ, "TEST_IMAP_PASSWORD": dovecot.password, "INTAKE_CONFIG": str(cfg)}
    proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", "poll", "--once"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    # Kill it once at least one message is spooled but before the cycle has finished everything.
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if count(db_url, Message) >= 1:
                break
        except Exception:  # noqa: BLE001 - the schema may not exist yet in the first instants
            pass
        time.sleep(0.05)
    killed_mid_cycle = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_intake(cfg, "poll", "--once", password=dovecot.password)
    assert killed_mid_cycle, "the first run finished before it could be killed"
    assert count(db_url, Case) == 5
    smtp_sink.wait_for(5, timeout=30)
    time.sleep(0.5)
    assert len(smtp_sink.messages) == 5
    assert len({m.message_id for m in smtp_sink.messages}) == 5


def test_new_uidvalidity_processes_nothing_twice(setup, dovecot, smtp_sink, db_url, five_mails):  # type: ignore[no-untyped-def]
    user, cfg = setup
    for raw in five_mails:
        dovecot.append(user, "INBOX", raw, internaldate=RECEIVED)
    run_intake(cfg, "poll", "--once", password=dovecot.password)
    old = dovecot.uidvalidity(user, "INBOX")
    dovecot.delete_and_recreate_folder(user, "INBOX")
    assert dovecot.uidvalidity(user, "INBOX") != old
    for raw in five_mails:
        dovecot.append(user, "INBOX", raw, internaldate=RECEIVED)
    run_intake(cfg, "poll", "--once", password=dovecot.password)
    assert count(db_url, Message) == 5
    assert count(db_url, Case) == 5
    time.sleep(0.5)
    assert len(smtp_sink.messages) == 5


def test_smtp_down_then_back(setup, dovecot, smtp_sink, db_url, five_mails):  # type: ignore[no-untyped-def]
    user, cfg = setup
    for raw in five_mails:
        dovecot.append(user, "INBOX", raw, internaldate=RECEIVED)
    smtp_sink.stop()
    run_intake(cfg, "poll", "--once", password=dovecot.password)
    assert count(db_url, Case) == 5
    assert count(db_url, OutboxMail, OutboxMail.status == "pending") == 5
    smtp_sink.start()
    time.sleep(1.5)  # the configured first retry is after 1 s
    run_intake(cfg, "poll", "--once", password=dovecot.password)
    smtp_sink.wait_for(5, timeout=30)
    run_intake(cfg, "poll", "--once", password=dovecot.password)
    time.sleep(0.5)
    assert len(smtp_sink.messages) == 5
    assert count(db_url, OutboxMail, OutboxMail.status == "sent") == 5


def test_sixty_megabyte_message_is_spooled_and_recorded(setup, dovecot, smtp_sink, db_url, tmp_path):  # type: ignore[no-untyped-def]
    user, cfg = setup
    case = SCHOOLS[0]
    # Pad with a 45 MB attachment (60 MB once base64-encoded in the mail).
    from ingest.samples.mails import Attachment, build_mail

    raw = build_mail(style="163", sender=case.sender, to="jcjyzj2025@163.com", subject=case.subject,
                     body="大附件", attachments=[Attachment("附件材料.zip", os.urandom(45 * 1024 * 1024))])
    assert len(raw) > 60_000_000
    dovecot.append(user, "INBOX", raw, internaldate=RECEIVED)
    out = run_intake(cfg, "poll", "--once", password=dovecot.password).stdout
    # The CLI reports its own VmHWM and its worker's (ru_maxrss would include the forking test process's memory).
    own, worker = reported_peak_memory_mb(out)
    peak = own + worker
    print(f"\npeak RSS of `intake poll --once` on a {len(raw) / 1e6:.0f} MB message: {own:.0f} MB + worker "
          f"{worker:.0f} MB")
    assert peak < 400, "memory must not grow with the message size"
    engine = create_engine(db_url)
    with engine.connect() as conn:
        size, path = conn.execute(select(Message.size, Message.spool_path)).one()
    engine.dispose()
    assert size > 60_000_000 and Path(path).stat().st_size == size
