"""Fetch beside processing (issue 21 §3): the next mail downloads while the current one is read, and nothing
about the order of the versions or the nothing-lost, nothing-twice guarantees changes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pytest
from sqlalchemy import create_engine, text

from ingest.config import load_config
from ingest.mail.imap import MailboxClient
from ingest.pipeline.daemon import Daemon
from ingest.runtime import Runtime
from ingest.samples.submissions import SCHOOLS, submission_mail
from servers import write_intake_config

FILED = ("stored", "notified")
WAIT_SECONDS = 180  # only a bound for a failure: the wait ends as soon as the first mail is filed


def _statuses(db_url: str) -> dict[int, str]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return {uid: status for uid, status in conn.execute(text("SELECT uid, status FROM messages"))}
    finally:
        engine.dispose()


def test_the_next_mail_downloads_while_the_first_is_processed(tmp_path: Path, dovecot, smtp_sink,  # type: ignore[no-untyped-def]
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    school = SCHOOLS[0]
    first = submission_mail(school, photos=1, video_seconds=None)
    # The same case again, corrected: its version 2 must follow version 1 whatever ran beside what.
    second = submission_mail(school, photos=2, video_seconds=None, subject=school.subject + "（更正版）")
    user = dovecot.new_user()
    uids = [dovecot.append(user, "INBOX", raw) for raw in (first, second)]
    db_url = f"sqlite:///{tmp_path / 'intake.db'}"
    cfg = write_intake_config(tmp_path, imap_port=dovecot.port, user=user, smtp_port=smtp_sink.port,
                              db_url=db_url, spool_dir=str(tmp_path / "spool"))
    seen_while_waiting: list[str] = []
    real_download: Callable[..., int] = MailboxClient.download

    def download_after_the_first_is_filed(self: MailboxClient, uid: int, size: int,
                                          write: Callable[[bytes], None]) -> int:
        # Run one after the other, the first mail is filed only after this download: the wait would time out.
        if uid == uids[1]:
            deadline = time.monotonic() + WAIT_SECONDS
            while time.monotonic() < deadline and _statuses(db_url).get(uids[0]) not in FILED:
                time.sleep(0.2)
            seen_while_waiting.append(_statuses(db_url).get(uids[0], "absent"))
        return real_download(self, uid, size, write)

    monkeypatch.setattr(MailboxClient, "download", download_after_the_first_is_filed)
    rt = Runtime(load_config(str(cfg), env={"TEST_IMAP_PASSWORD": dovecot.password}))
    try:
        report = Daemon(rt).cycle()
    finally:
        rt.close()
    assert len(seen_while_waiting) == 1 and seen_while_waiting[0] in FILED  # mail 1 was filed while mail 2 was still on the server
    assert report.error is None, report.error
    assert (report.fetched.new, report.processed.stored, report.processed.failed) == (2, 2, 0)
    assert report.sent.sent == 2
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text(
                "SELECT s.case_id, s.version, m.uid FROM submissions s JOIN messages m ON m.id = s.message_row_id "
                "ORDER BY s.version")).all()
    finally:
        engine.dispose()
    assert [(v, uid) for _case, v, uid in versions] == [(1, uids[0]), (2, uids[1])]
    assert len({case for case, _v, _uid in versions}) == 1
