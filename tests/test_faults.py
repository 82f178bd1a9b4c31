"""Issue 9.2, the fault suite: the real daemon against real servers that fail. Dovecot restarted mid-fetch, a
refused login (wrong 授权码), SMTP down for a while, PostgreSQL restarted mid-processing, the spool disk full.
Each time: the daemon keeps running (or `poll --once` exits with one clear line), retries by itself, loses
nothing, processes nothing twice, and recovers once the fault is gone. Repeated failures raise one alert
mail per kind and day to the organisers and show in `intake health`."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import create_engine, func, select

from checks.domain import MessageStatus
from ingest.pipeline.alerts import current_alerts, enqueue_alerts
from ingest.config import load_config
from ingest.runtime import Runtime
from servers import DOVEADM_BINARY, SelfStartedPostgres, bench_module, create_database, run_intake
from store.models import Event, Message, OutboxMail

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
ORGANIZER = "jcjyzj2025@163.com"  # campaign.organizer_email of the example campaign


def _crash_suite() -> ModuleType:
    return bench_module("crash_suite")


suite = _crash_suite()


@pytest.fixture(scope="module")
def backlog(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    return list(suite.make_backlog(8, tmp_path_factory.mktemp("backlog"), seed=92))


def intake(cfg: Path, *args: str, password: str) -> subprocess.CompletedProcess[str]:
    return run_intake(cfg, *args, password=password, check=False)  # these tests read the exit code


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for: {what}")


def scalar(db_url: str, query: Any) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one() or 0)
    except Exception:  # noqa: BLE001 - the schema may not exist yet, or the server is down on purpose
        return -1
    finally:
        engine.dispose()


def n_messages(db_url: str) -> int:
    return scalar(db_url, select(func.count()).select_from(Message))


def n_replies_sent(db_url: str) -> int:
    return scalar(db_url, select(func.count()).select_from(OutboxMail)
                  .where(OutboxMail.status == "sent", OutboxMail.kind != "alert"))


def assert_all_once(backlog: list[Any], db_url: str, smtp_sink: Any, spool: Path) -> None:
    result = suite.CrashResult(mails=len(backlog), kills_requested=0, database=db_url.split(":")[0])
    suite.verify(result, backlog, db_url, smtp_sink, spool)
    assert result.problems == []
    assert result.duplicate_receipts == 0


def receipts(smtp_sink: Any) -> list[Any]:
    return [m for m in smtp_sink.messages if ORGANIZER not in m.rcpt_tos]


def alerts_received(smtp_sink: Any) -> list[Any]:
    return [m for m in smtp_sink.messages if ORGANIZER in m.rcpt_tos]


@contextlib.contextmanager
def running_daemon(cfg: Path, password: str, log: Path) -> Iterator[Any]:
    daemon = suite.Daemon(cfg, password, log)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def big_mail(workdir: Path) -> Any:
    """A submission with a 12 MB video-sized file: its download takes long enough to be cut."""
    from ingest.samples.mails import Attachment, build_mail

    form = workdir / "big申报表.docx"
    from ingest.samples import files as samples
    samples.make_form_docx(form, {"申报单位": "云南省大附件学校", "案例名称": "大附件课程"})
    blob = os.urandom(12 * 1024 * 1024)
    raw = build_mail(style="163", sender="big@163.com", to=ORGANIZER, subject="云南省/大附件学校大附件课程+教师队伍建设",
                     body="附件较大", attachments=[Attachment.from_file(form), Attachment("课堂实录原始数据.dat", blob)])
    return suite.BacklogMail("big@163.com", raw, frozenset({suite._sha(form.read_bytes()), suite._sha(blob)}))


def test_dovecot_restart_mid_fetch_and_smtp_down_then_back(tmp_path, dovecot, smtp_sink, backlog):  # type: ignore[no-untyped-def]
    user = dovecot.new_user()
    backlog = [big_mail(tmp_path), *backlog]
    for m in backlog:
        dovecot.append(user, "INBOX", m.raw)
    db_url = f"sqlite:///{tmp_path / 'intake.db'}"
    cfg = suite.write_config(tmp_path, imap_port=dovecot.port, user=user, smtp_port=smtp_sink.port, db_url=db_url)
    smtp_sink.stop()
    log = tmp_path / "daemon.log"
    with running_daemon(cfg, dovecot.password, log) as daemon:
        partial = tmp_path / "spool" / "tmp"
        wait_until(lambda: any(p.stat().st_size > 1 << 20 for p in partial.glob("*.part")), 120,
                   "the big message half downloaded")
        # A restart as a crash or `systemctl restart` does it: the sessions are cut, then the server is away
        # for a moment. (`dovecot -F` stopped with SIGTERM lets a running FETCH finish first, so the session
        # is kicked explicitly.)
        subprocess.run([DOVEADM_BINARY, "-c", str(dovecot.config_path), "kick", user], check=True,
                       capture_output=True)
        dovecot.restart()
        fetched_before_restart = n_messages(db_url)
        wait_until(lambda: scalar(db_url, select(func.count()).select_from(OutboxMail)) == len(backlog), 180,
                   "every submission filed and its reply queued while SMTP is down")
        # SMTP comes back only after a send has failed: the cycle that queues the last reply also dispatches, so
        # starting the sink as soon as everything is queued raced that dispatch (seen once in 2 runs).
        wait_until(lambda: scalar(db_url, select(func.count()).select_from(OutboxMail)
                                  .where(OutboxMail.attempts > 0, OutboxMail.status != "sent")) > 0, 120,
                   "a reply tried and not sent while SMTP is down")
        assert daemon.alive()
        assert n_replies_sent(db_url) == 0
        smtp_sink.start()
        wait_until(lambda: n_replies_sent(db_url) == len(backlog), 120, "the queued replies sent once SMTP is back")
        time.sleep(2)  # a few more cycles: nothing may be fetched or sent twice
        assert daemon.alive()
    text = log.read_text(encoding="utf-8")
    assert fetched_before_restart < len(backlog), "Dovecot was restarted only after the whole fetch"
    assert any(w in text for w in ("收信中断", "无法登录邮箱", "无法连接邮箱服务器")), "the cut connection was not reported"
    assert "未发出" in text  # the SMTP outage was seen and retried (the daemon logs in Chinese since 62c105a)
    assert "Traceback" not in text
    assert_all_once(backlog, db_url, smtp_sink, tmp_path / "spool")


def test_refused_login_exits_with_one_line_alerts_once_and_recovers(tmp_path, dovecot, smtp_sink, backlog):  # type: ignore[no-untyped-def]
    user = dovecot.new_user()
    for m in backlog[:3]:
        dovecot.append(user, "INBOX", m.raw)
    db_url = f"sqlite:///{tmp_path / 'intake.db'}"
    cfg = suite.write_config(tmp_path, imap_port=dovecot.port, user=user, smtp_port=smtp_sink.port, db_url=db_url,
                      intake_extra="alert_after_failures = 2")
    for attempt in range(2):
        proc = intake(cfg, "poll", "--once", password="wrong-authorization-code")
        assert proc.returncode == 1
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        assert len(lines) == 1 and "无法登录邮箱" in lines[0], proc.stdout
        assert "Traceback" not in proc.stderr
    # The second failure met the threshold: one alert mail (later ones the same day are not sent again,
    # see test_no_successful_poll_and_stalled_cycle_are_alerts).
    smtp_sink.wait_for(1, timeout=30)
    alerts = alerts_received(smtp_sink)
    assert len(alerts) == 1
    assert "告警" in _subject(alerts[0].raw) and "登录被拒绝" in _subject(alerts[0].raw)
    health = intake(cfg, "health", "--json", password="wrong-authorization-code")
    assert health.returncode == 1
    data = json.loads(health.stdout)
    assert data["failed_polls_since"] == 2 and data["last_successful_poll"] is None
    assert [a["kind"] for a in data["alerts"]] == ["login_refused"]
    text_health = intake(cfg, "health", password="wrong-authorization-code").stdout
    assert "告警：邮箱登录被拒绝" in text_health
    # The organiser fixes the 授权码: the next poll takes everything, health is clean again.
    proc = intake(cfg, "poll", "--once", password=dovecot.password)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    smtp_sink.wait_for(4, timeout=30)
    health = intake(cfg, "health", "--json", password=dovecot.password)
    assert health.returncode == 0 and json.loads(health.stdout)["alerts"] == []
    assert_all_once(backlog[:3], db_url, smtp_sink, tmp_path / "spool")
    assert len(alerts_received(smtp_sink)) == 1


def _subject(raw: bytes) -> str:
    from email import message_from_bytes
    from email.policy import default

    return str(message_from_bytes(raw, policy=default)["Subject"])


def test_no_successful_poll_and_stalled_cycle_are_alerts(tmp_path, dovecot, smtp_sink):  # type: ignore[no-untyped-def]
    user = dovecot.new_user()
    db_url = f"sqlite:///{tmp_path / 'intake.db'}"
    cfg = suite.write_config(tmp_path, imap_port=dovecot.port, user=user, smtp_port=smtp_sink.port, db_url=db_url,
                      intake_extra="alert_no_poll_minutes = 20")
    assert intake(cfg, "poll", "--once", password=dovecot.password).returncode == 0
    rt = Runtime(load_config(str(cfg), env={"TEST_IMAP_PASSWORD": dovecot.password}))
    try:
        now = datetime.now(timezone.utc)
        assert current_alerts(rt, now=now) == []
        later = now + timedelta(minutes=21)
        kinds = [a.kind for a in current_alerts(rt, now=later)]
        assert kinds == ["no_recent_poll"]
        stuck = current_alerts(rt, now=later, cycle_running_since=now)
        assert [a.kind for a in stuck] == ["no_recent_poll", "scheduler_stalled"]
        idle = current_alerts(rt, now=later, last_cycle_finished=now)
        assert "定时任务停止运行" in [a for a in idle if a.kind == "scheduler_stalled"][0].title
        queued = enqueue_alerts(rt, stuck, now=later)
        assert len(queued) == 2 and enqueue_alerts(rt, stuck, now=later) == []  # once per kind and day
        assert enqueue_alerts(rt, stuck, now=later + timedelta(days=1)) != []
    finally:
        rt.close()
    # `health --send-alerts` (cron) hands the queued alerts to SMTP even with no daemon running.
    proc = intake(cfg, "health", "--send-alerts", password=dovecot.password)
    assert proc.returncode == 0  # the real clock: the last poll was seconds ago
    smtp_sink.wait_for(4, timeout=30)
    assert len(alerts_received(smtp_sink)) == 4
    assert scalar(db_url, select(func.count()).select_from(Event).where(Event.action == "alert.raised")) == 4


@pytest.fixture
def own_postgres() -> Iterator[SelfStartedPostgres]:
    """A PostgreSQL cluster of this test's own, so it can be restarted without disturbing anyone."""
    try:
        server = SelfStartedPostgres()
        server.start()
    except Exception as problem:  # noqa: BLE001 - no pg_ctl on this machine
        pytest.skip(f"cannot start a PostgreSQL cluster of our own: {problem}")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.postgres
def test_postgresql_restart_mid_processing(tmp_path, dovecot, smtp_sink, backlog, own_postgres):  # type: ignore[no-untyped-def]
    db_url = create_database(own_postgres.url)
    user = dovecot.new_user()
    for m in backlog:
        dovecot.append(user, "INBOX", m.raw)
    cfg = suite.write_config(tmp_path, imap_port=dovecot.port, user=user, smtp_port=smtp_sink.port, db_url=db_url)
    log = tmp_path / "daemon.log"
    with running_daemon(cfg, dovecot.password, log) as daemon:
        wait_until(lambda: scalar(db_url, select(func.count()).select_from(Message)
                                  .where(Message.status.in_(("stored", "notified")))) >= 1, 180,
                   "the first submission filed")
        executor = own_postgres._executor
        executor.stop()
        # The daemon meets the dead database (it says so in its log) and lives on.
        wait_until(lambda: "数据库不可用" in log.read_text(encoding="utf-8"), 120, "the daemon to meet the dead database")
        assert daemon.alive()
        executor.start()
        wait_until(lambda: n_replies_sent(db_url) == len(backlog), 240, "every reply sent after the restart")
        time.sleep(2)
        assert daemon.alive()
    text = log.read_text(encoding="utf-8")
    assert "数据库不可用" in text
    assert_all_once(backlog, db_url, smtp_sink, tmp_path / "spool")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs: the spool fills up after a few mails. Needs root (mount)."""
    mount_point = tmp_path / "spool"
    mount_point.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs for the disk-full test: {proc.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_spool_disk_full_pauses_then_resumes(tmp_path, dovecot, smtp_sink, backlog, small_disk):  # type: ignore[no-untyped-def]
    user = dovecot.new_user()
    for m in backlog:
        dovecot.append(user, "INBOX", m.raw)
    assert sum(len(m.raw) for m in backlog) > 3 * 1024 * 1024
    db_url = f"sqlite:///{tmp_path / 'intake.db'}"
    cfg = suite.write_config(tmp_path, imap_port=dovecot.port, user=user, smtp_port=smtp_sink.port, db_url=db_url,
                      spool_dir=str(small_disk))
    proc = intake(cfg, "poll", "--once", password=dovecot.password)
    assert proc.returncode == 1
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and "存储空间已满" in lines[0], proc.stdout
    spooled = n_messages(db_url)
    assert 0 < spooled < len(backlog)
    # Processing runs beside the fetch: mails filed before the disk filled up count their attempt; one whose
    # processing met the full disk gets its attempt back, and none is marked failed.
    wasted = scalar(db_url, select(func.count()).select_from(Message).where(
        Message.attempts > 0, Message.status.not_in((MessageStatus.STORED, MessageStatus.NOTIFIED))))
    assert wasted == 0, "messages used up attempts while the disk was full"
    # The operator frees space (here: the filesystem grows); the next cycle picks up where it stopped.
    subprocess.run(["mount", "-o", "remount,size=200m", str(small_disk)], check=True)
    proc = intake(cfg, "poll", "--once", password=dovecot.password)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    smtp_sink.wait_for(len(backlog), timeout=60)
    assert_all_once(backlog, db_url, smtp_sink, small_disk)
