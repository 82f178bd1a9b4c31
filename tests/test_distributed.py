"""Issue 20 §2: distributed mode on PostgreSQL with procrastinate, as real processes. The reduced size of
bench/distributed.py (300 mails, 20 kills): two campaigns with a mailbox each, `intake run --workers 2` plus one
`intake worker`, a worker killed with SIGKILL while it works, then every mail filed once under its campaign and
answered once, and a second run changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from servers import TEST_MAILBOX, bench_module, run_intake, write_intake_config

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.postgres
def test_workers_on_two_hosts_file_every_mail_once_through_a_kill(dovecot, smtp_sink, pg_url, tmp_path):  # type: ignore[no-untyped-def]
    suite = bench_module("distributed")
    result = suite.run_distributed(dovecot=dovecot, smtp_sink=smtp_sink, db_url=pg_url, workdir=tmp_path,
                                   mails=40, kills=1, workers=2, extra=1, seed=20)
    print(f"\ndistributed: {len(result.kills)} kill(s) {[k.landed_in for k in result.kills]}, "
          f"{result.receipts_received} receipts, {result.duplicate_receipts} duplicate(s), {result.seconds} s")
    assert len(result.kills) == 1, "the run finished before a worker could be killed"
    assert result.problems == []
    assert result.messages == result.cases == 40
    assert result.campaigns == {"jcjy2025": 20, "jcjy2025b": 20}
    assert result.statuses == {"notified": 40}
    assert result.second_run_changes == []
    # intake health while they worked: three workers with fresh heartbeats, the queue, the lag of the campaign.
    health = result.health_during
    assert health["queue"]["workers_alive"] == 3, health
    assert all(w["alive"] and w["last_heartbeat"] for w in health["queue"]["workers"])
    assert set(health["campaigns"]) == {"jcjy2025", "jcjy2025b"}
    assert all(c["lag_seconds"] >= 0 for c in health["campaigns"].values())
    code, words = result.single_beside_workers
    assert code == 2 and "多进程模式的工作进程在运行" in words
    assert result.duplicate_receipts <= result.kills_inside_smtp_send


@pytest.mark.postgres
def test_queue_schema_is_applied_once_through_procrastinates_migrations(pg_url):  # type: ignore[no-untyped-def]
    from procrastinate.schema import SchemaManager

    from ingest.distributed.queue import SCHEMA_TABLE, ensure_schema, libpq_url

    first, second = ensure_schema(pg_url), ensure_schema(pg_url)
    assert first.created and not second.created and second.migrated == ()
    shipped = sorted(p.name for p in Path(SchemaManager.get_migrations_path()).glob("*.sql"))
    with psycopg.connect(libpq_url(pg_url)) as conn:
        recorded = [r[0] for r in conn.execute(f"SELECT name FROM {SCHEMA_TABLE} ORDER BY name")]
        assert conn.execute("SELECT count(*) FROM procrastinate_jobs").fetchone() == (0,)
        # A newer procrastinate ships one more migration: it is applied at the next start, once.
        conn.execute(f"DELETE FROM {SCHEMA_TABLE} WHERE name = %s", (shipped[-1],))
    assert recorded == shipped
    third = ensure_schema(pg_url)
    assert third.migrated == (shipped[-1],)


def test_sqlite_refuses_workers_with_one_clear_line(dovecot, smtp_sink, imap_user, tmp_path):  # type: ignore[no-untyped-def]
    cfg = write_intake_config(tmp_path, imap_port=dovecot.port, user=imap_user, smtp_port=smtp_sink.port,
                              db_url=f"sqlite:///{tmp_path / 'intake.db'}")
    for args in (("run", "--workers", "2"), ("worker",)):
        proc = run_intake(cfg, *args, password=dovecot.password, check=False, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert "需要 PostgreSQL" in proc.stderr and "Traceback" not in proc.stderr


def test_single_process_mode_never_imports_procrastinate() -> None:
    """The embedded default needs no task queue at run time: the daemon, the CLI and every pipeline module
    load without it."""
    code = ("import sys, ingest.cli, ingest.pipeline.daemon, ingest.cli.mailbox, ingest.distributed; "
            "ingest.cli.main(['--help'], standalone_mode=False); "
            "sys.exit(1 if any(m.startswith('procrastinate') for m in sys.modules) else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sender_read_from_the_header_block_is_the_parsed_sender() -> None:
    from ingest.distributed.queue import sender_lock
    from ingest.mail.mime import parse_message, sender_address

    raw = (b"From: =?GBK?B?1cXI/Q==?= <Zhang.San+x@QQ.com>\r\nTo: " + TEST_MAILBOX.encode() +
           b"\r\nSubject: test\r\n\r\nbody\r\n")
    assert sender_address(raw) == parse_message(raw).from_addr == "zhang.san+x@qq.com"
    assert sender_lock("c", sender_address(raw)) == sender_lock("c", "zhang.san@qq.com")
    assert sender_address(b"Subject: no sender\r\n\r\n") == ""


def test_health_shows_the_lag_and_alerts_past_the_threshold(tmp_path):  # type: ignore[no-untyped-def]
    """A mail received two hours ago and still not processed (no daemon, no worker running): `intake health`
    shows the campaign's lag and raises the processing_lag alert (exit 1); single-process mode has no queue."""
    import json
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import update

    from store import Store
    from store.models import Message

    db_url = f"sqlite:///{tmp_path / 'intake.db'}"
    cfg = write_intake_config(tmp_path, imap_port=1, user="nobody", smtp_port=2, db_url=db_url,
                              intake_extra="alert_lag_minutes = 30")
    run_intake(cfg, "check-config", password="x")
    quiet = run_intake(cfg, "health", "--json", password="x", check=False)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    lag = json.loads(quiet.stdout)["campaigns"]["jcjy2025"]  # each campaign's health, its lag among it
    assert (lag["oldest_unprocessed"], lag["lag_seconds"]) == (None, 0)
    store = Store.open(db_url, campaign_id="jcjy2025")
    try:
        spooled = store.record_spooled(account="a", folder="INBOX", uidvalidity=1, uid=1, message_id="<m@x>",
                                       sha256="0" * 64, size=10, spool_path=str(tmp_path / "1.eml"),
                                       internaldate=None)
        assert spooled is not None
        with store.session() as s, s.begin():
            s.execute(update(Message).values(created_at=datetime.now(timezone.utc) - timedelta(hours=2)))
    finally:
        store.close()
    late = run_intake(cfg, "health", "--json", password="x", check=False)
    assert late.returncode == 1, late.stdout + late.stderr
    report = json.loads(late.stdout)
    assert report["campaigns"]["jcjy2025"]["lag_seconds"] >= 7000 and report["queue"] is None
    assert [a["kind"] for a in report["alerts"]] == ["processing_lag"]
    text = run_intake(cfg, "health", password="x", check=False).stdout
    assert "处理积压（jcjy2025）：最早一封未处理的邮件" in text and "已等待 2 小时" in text
    assert "告警：邮件处理积压超过 30 分钟" in text


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.postgres
def _one_worker(tmp_path, dovecot, smtp_sink, imap_user, pg_url):  # type: ignore[no-untyped-def]
    """A configuration on PostgreSQL and one real `intake worker` on it (heartbeat every second), its output in
    worker.log: (the configuration and environment to run more commands with, the worker's process, the log)."""
    cfg = write_intake_config(tmp_path, imap_port=dovecot.port, user=imap_user, smtp_port=smtp_sink.port,
                              db_url=pg_url)
    env = {**os.environ, "TEST_IMAP_PASSWORD": dovecot.password, "INTAKE_CONFIG": str(cfg),
           "PYTHONPATH": str(REPO)}
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ingest.cli", "worker", "--heartbeat-seconds", "1"],
                                env=env, cwd=REPO, stdout=log, stderr=log)
    return cfg, env, proc, log_path


def test_sigterm_lets_a_worker_finish_the_mail_in_hand(dovecot, smtp_sink, imap_user, pg_url, tmp_path):  # type: ignore[no-untyped-def]
    """SIGTERM while a worker is inside a message (status 'parsed'): that message is filed before the worker
    exits (code 0), no job is left running, the worker unregisters; what it had not started waits for the next."""
    import signal
    import time

    from sqlalchemy import create_engine, select, text
    from sqlalchemy.exc import ProgrammingError

    from store.models import Message

    suite = bench_module("crash_suite")
    backlog = suite.make_backlog(6, tmp_path / "files", 7)
    for m in backlog:
        dovecot.append(imap_user, "INBOX", m.raw)
    cfg, env, proc, log_path = _one_worker(tmp_path, dovecot, smtp_sink, imap_user, pg_url)
    engine = create_engine(pg_url)
    try:
        in_hand = None
        deadline = time.monotonic() + 240
        while in_hand is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with engine.connect() as conn:
                    in_hand = conn.execute(select(Message.id).where(Message.status == "parsed")).scalar()
            except ProgrammingError:
                pass  # before the worker's first migration
            time.sleep(0.05)
        assert in_hand is not None, log_path.read_text(errors="replace")[-3000:]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=240) == 0, log_path.read_text(errors="replace")[-3000:]
        with engine.connect() as conn:
            status = conn.execute(select(Message.status).where(Message.id == in_hand)).scalar()
            doing = conn.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'")).scalar()
            workers = conn.execute(text("SELECT count(*) FROM procrastinate_workers")).scalar()
    finally:
        if proc.poll() is None:
            proc.kill()
        engine.dispose()
    assert status in ("stored", "notified")
    assert doing == 0 and workers == 0


@pytest.mark.e2e
@pytest.mark.postgres
def test_import_beside_workers_leaves_the_mail_to_them(dovecot, smtp_sink, imap_user, pg_url, tmp_path):  # type: ignore[no-untyped-def]
    """`intake import` processes in its own process: beside a live worker it refuses before importing anything
    (as `intake poll` does) and names --no-process; `intake import --no-process` imports, the worker's tick
    queues the mail, and it is filed and answered exactly once (imported again it is known; two more ticks change
    nothing)."""
    import signal
    import time

    from sqlalchemy import create_engine, func, select, text
    from sqlalchemy.exc import ProgrammingError

    from ingest.samples.submissions import SCHOOLS, submission_mail
    from store.models import MailboxState, Message, OutboxMail, Submission

    school = SCHOOLS[6]
    mail = tmp_path / "补录.eml"
    mail.write_bytes(submission_mail(school, photos=1, video_seconds=None))
    cfg, env, proc, log_path = _one_worker(tmp_path, dovecot, smtp_sink, imap_user, pg_url)
    engine = create_engine(pg_url)

    def scalar(query):  # type: ignore[no-untyped-def]
        try:
            with engine.connect() as conn:
                return conn.execute(query).scalar()
        except ProgrammingError:
            return None  # before the worker created the tables

    def wait_until(done, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + 180
        while not done():
            assert proc.poll() is None and time.monotonic() < deadline, \
                f"{what}:\n{log_path.read_text(errors='replace')[-3000:]}"
            time.sleep(0.1)

    def polled_at():  # type: ignore[no-untyped-def]
        return scalar(select(func.max(MailboxState.last_poll_at)))

    try:
        wait_until(lambda: scalar(text("SELECT count(*) FROM procrastinate_workers")), "the worker never registered")
        refused = run_intake(cfg, "import", str(mail), password=dovecot.password, check=False, timeout=120)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "1 个多进程模式的工作进程在运行" in refused.stderr and "intake import --no-process" in refused.stderr
        assert "Traceback" not in refused.stderr and scalar(select(func.count()).select_from(Message)) == 0
        poll = run_intake(cfg, "poll", password=dovecot.password, check=False, timeout=120)
        assert poll.returncode == 2 and "请不要同时运行单进程的 intake run 或 intake poll" in poll.stderr, poll.stderr

        imported = run_intake(cfg, "import", "--no-process", str(mail), password=dovecot.password, timeout=120)
        assert "新邮件 1 封" in imported.stdout and "交给在运行的 1 个工作进程" in imported.stdout, imported.stdout
        wait_until(lambda: scalar(select(Message.status)) == "notified", "the worker never answered the mail")
        again = run_intake(cfg, "import", "--no-process", str(mail), password=dovecot.password, timeout=120)
        assert "新邮件 0 封，已存在 1 封" in again.stdout, again.stdout
        # Each tick queues a poll, which stamps the mailbox: two more ticks would have queued the mail again
        # were it not done.
        for _ in range(2):
            mark = polled_at()
            wait_until(lambda mark=mark: polled_at() != mark, "the worker stopped ticking")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0, log_path.read_text(errors="replace")[-3000:]
        with engine.connect() as conn:
            statuses = list(conn.execute(select(Message.status)).scalars())
        filed = scalar(select(func.count()).select_from(Submission))
        replies = scalar(select(func.count()).select_from(OutboxMail))
    finally:
        if proc.poll() is None:
            proc.kill()
        engine.dispose()
    assert statuses == ["notified"] and filed == 1 and replies == 1, (statuses, filed, replies)
    assert [r.rcpt_tos for r in smtp_sink.messages] == [(school.sender,)]
