"""Issue 15 §5, end to end through a real Dovecot, `intake poll --once` and a real aiosmtpd, on SQLite and
PostgreSQL: a whole mail has an unpacked-bytes budget on top of the per-file ones, `intake.max_message_bytes` is
honoured (header only, staff review, an answer to the sender), and the work directory keeps only files the
database points at. A reader stuck in C code is killed once, never run again."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from hostile_factory import budget_mail, oversize_mail
from ingest.config import LimitSettings
from ingest.files.isolation import Overrun
from ingest.files.isolation_items import map_bounded
from servers import run_intake, write_intake_config
from store.models import Attachment, Finding, Message, Submission

pytestmark = pytest.mark.e2e


def _rows(db_url: str):  # type: ignore[no-untyped-def]
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            messages = {m.id: m for m in conn.execute(select(Message)).all()}
            subs = {s.message_row_id: s for s in conn.execute(select(Submission)).all()}
            findings = conn.execute(select(Finding.submission_id, Finding.message)).all()
            paths = [a.stored_path for a in conn.execute(select(Attachment.stored_path)).all() if a.stored_path]
    finally:
        engine.dispose()
    return messages, subs, findings, paths


def test_mail_budgets_size_limit_and_work_directory(tmp_path: Path, dovecot, imap_user, smtp_sink,
                                                  db_url) -> None:  # type: ignore[no-untyped-def]
    cfg = write_intake_config(tmp_path, imap_port=dovecot.port, user=imap_user, smtp_port=smtp_sink.port,
                              db_url=db_url, intake_extra=f"max_message_bytes = {9 << 20}",
                              limits="mail_unpacked_mb = 5")
    budget, big = budget_mail(parts=3, megabytes=2), oversize_mail(9)
    for raw in (budget, big):
        dovecot.append(imap_user, "INBOX", raw)
    run_intake(cfg, "poll", "--once", password=dovecot.password)
    replies = smtp_sink.wait_for(2, timeout=30)
    assert len(replies) == 2  # both senders get an answer
    messages, subs, findings, paths = _rows(db_url)
    assert len(messages) == 2 and {m.status for m in messages.values()} == {"notified"}
    by_size = sorted(messages.values(), key=lambda m: m.size)
    small, large = by_size
    # The whole mail's unpacked-bytes budget: the rest is skipped with a finding, the mail goes to review.
    assert subs[small.id].status == "needs_review"
    said = " ".join(m for sid, m in findings if sid == subs[small.id].id) + " ".join(small.defects or [])
    assert "整封邮件的解压总量超过上限（5 MB）" in said
    # Past max_message_bytes: only the header came onto our disk, the mail is recorded and goes to review.
    assert large.size > 9 << 20 and Path(large.spool_path).stat().st_size < 64 << 10
    assert subs[large.id].status == "needs_review"
    assert any("max_message_bytes" in d for d in large.defects or [])
    # Work directories keep only what the database points at: no streamed copies, no unpacked archives.
    work = tmp_path / "spool" / "work"
    on_disk = {p.resolve() for p in work.rglob("*") if p.is_file()}
    assert on_disk <= {Path(p).resolve() for p in paths}, sorted(str(p) for p in on_disk)[:5]


def _stuck_in_c(item: int, runs: str) -> int:
    """Counts its runs in a file, then, for item 1, blocks the alarm and sleeps: the per-item SIGALRM cannot
    reach it, as with a reader stuck in a C library."""
    with open(runs, "a", encoding="ascii") as fh:
        fh.write(f"{item}\n")
    if item == 1:
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
        time.sleep(600)
    return item * 10


def test_a_reader_stuck_in_c_is_killed_once_not_run_twice(tmp_path: Path, short_task_slack: float) -> None:
    runs = tmp_path / "runs.txt"
    outcomes = map_bounded(LimitSettings(), 1.0, _stuck_in_c, [0, 1, 2], str(runs))
    results = [o[0] for o in outcomes]
    assert results[0] == 0 and results[2] == 20
    assert isinstance(results[1], Overrun) and results[1].kind == "timeout"
    assert runs.read_text().split() == ["0", "1", "2"]  # each item ran once: the stuck one was not re-run


def test_mail_budget_in_time_skips_the_rest(tmp_path: Path, short_task_slack: float) -> None:
    runs = tmp_path / "runs.txt"
    outcomes = map_bounded(LimitSettings(), 30.0, _stuck_in_c, [0, 1, 2, 3], str(runs),
                           deadline=time.monotonic() + 2)
    kinds = [o[0].kind if isinstance(o[0], Overrun) else o[0] for o in outcomes]
    assert kinds == [0, "budget", "budget", "budget"]
    assert runs.read_text().split() == ["0", "1"]
    assert os.getpid()  # the daemon's process was never the one stopped
