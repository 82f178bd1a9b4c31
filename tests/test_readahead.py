"""The next mail parsed while this one is analysed (issue 21 §3, ingest/pipeline/readahead.py): the parse of mail
N+1 runs beside the analysis of mail N, and nothing about the order of the versions, a bad mail's isolation or a
stop between mails changes. Real Dovecot, real SMTP sink, real daemon cycle."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from sqlalchemy import create_engine, text

from ingest.config import load_config
from ingest.mail.fetch import fetch_new
from ingest.mail.imap import MailboxClient
from ingest.pipeline import process, readahead
from ingest.pipeline.daemon import CycleReport, Daemon
from ingest.runtime import Runtime
from ingest.samples.submissions import SCHOOLS, submission_mail
from servers import write_intake_config

WAIT_SECONDS = 60  # only a bound for a failure: the wait ends as soon as the next mail is parsed


def _rows(db_url: str, sql: str) -> list[Any]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def _mailbox(tmp_path: Path, dovecot, smtp_sink, count: int) -> tuple[Path, str, list[int]]:  # type: ignore[no-untyped-def]
    """``count`` versions of one school's case in a fresh mailbox, and a config pointing at it."""
    school = SCHOOLS[0]
    user = dovecot.new_user()
    uids = [dovecot.append(user, "INBOX", submission_mail(school, photos=1 + i % 2, video_seconds=None,
                                                          subject=school.subject + "（更正版）" * i))
            for i in range(count)]
    db_url = f"sqlite:///{tmp_path / 'intake.db'}"
    cfg = write_intake_config(tmp_path, imap_port=dovecot.port, user=user, smtp_port=smtp_sink.port,
                              db_url=db_url, spool_dir=str(tmp_path / "spool"))
    return cfg, db_url, uids


def _runtime(cfg: Path, dovecot) -> Runtime:  # type: ignore[no-untyped-def]
    return Runtime(load_config(str(cfg), env={"TEST_IMAP_PASSWORD": dovecot.password}))


def _spooled_runtime(cfg: Path, dovecot) -> Runtime:  # type: ignore[no-untyped-def]
    """A runtime whose mailbox is already fetched: the cycle's queue then holds every mail from its start (with
    the fetch beside it, the first mail could be alone in it, with no next mail to parse ahead)."""
    rt = _runtime(cfg, dovecot)
    assert rt.config.imap is not None
    mailbox = MailboxClient(rt.config.imap)
    try:
        mailbox.connect()
        fetch_new(mailbox, rt.store, rt.spool)
    finally:
        mailbox.close()
    return rt


def _cycle(cfg: Path, dovecot, daemons: list[Daemon] | None = None,  # type: ignore[no-untyped-def]
           fetched_first: bool = True) -> CycleReport:
    """One daemon cycle on a fresh runtime (its daemon appended to ``daemons``, for a test that stops it)."""
    rt = _spooled_runtime(cfg, dovecot) if fetched_first else _runtime(cfg, dovecot)
    try:
        daemon = Daemon(rt)
        if daemons is not None:
            daemons.append(daemon)
        return daemon.cycle()
    finally:
        rt.close()


def _versions(db_url: str) -> list[tuple[int, int]]:
    return [(v, uid) for v, uid in _rows(db_url, "SELECT s.version, m.uid FROM submissions s "
                                                 "JOIN messages m ON m.id = s.message_row_id ORDER BY s.version")]


def test_the_next_mail_is_parsed_while_this_one_is_analysed(tmp_path: Path, dovecot, smtp_sink,  # type: ignore[no-untyped-def]
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, db_url, uids = _mailbox(tmp_path, dovecot, smtp_sink, 3)
    parsed: dict[int, str] = {}  # message row id → the thread that parsed it
    parsed_changed = threading.Condition()
    real_parse: Callable[..., Any] = readahead.parse
    real_analyse: Callable[..., Any] = process.analyse
    seen: list[bool] = []

    def recording_parse(spool_path: Path, parts_dir: Path, spec: Any) -> Any:
        result = real_parse(spool_path, parts_dir, spec)
        with parsed_changed:
            parsed[int(parts_dir.parent.name)] = threading.current_thread().name
            parsed_changed.notify_all()
        return result

    def analyse_once_the_next_is_parsed(message: Any, *, work_dir: Path, **kwargs: Any) -> Any:
        # One after the other, the next mail is parsed only after this analysis returns: the wait would time out.
        this = int(work_dir.name)
        if not seen:
            with parsed_changed:
                seen.append(parsed_changed.wait_for(lambda: any(m > this for m in parsed), WAIT_SECONDS))
        return real_analyse(message, work_dir=work_dir, **kwargs)

    monkeypatch.setattr(readahead, "parse", recording_parse)
    monkeypatch.setattr(process, "analyse", analyse_once_the_next_is_parsed)
    report = _cycle(cfg, dovecot)
    assert seen == [True]  # the second mail was parsed while the first was being analysed
    assert report.error is None, report.error
    assert (report.processed.stored, report.processed.failed) == (3, 0)
    assert report.sent.sent == 3
    assert _versions(db_url) == [(1, uids[0]), (2, uids[1]), (3, uids[2])]
    ids = sorted(parsed)
    assert parsed[ids[1]].startswith("parse-ahead"), parsed  # parsed ahead, in the thread, once each
    assert len(parsed) == 3


def test_a_parse_that_fails_ahead_fails_only_its_own_mail(tmp_path: Path, dovecot, smtp_sink,  # type: ignore[no-untyped-def]
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """What the parse of mail N+1 raises in the thread is raised on N+1's own turn: mail N is filed, N+1 is
    recorded as failed with that error, N+2 is filed."""
    cfg, db_url, uids = _mailbox(tmp_path, dovecot, smtp_sink, 3)
    rows = {}
    real_parse: Callable[..., Any] = readahead.parse

    def failing_parse(spool_path: Path, parts_dir: Path, spec: Any) -> Any:
        if not rows:
            rows.update({row_id: uid for row_id, uid in _rows(db_url, "SELECT id, uid FROM messages")})
        if rows.get(int(parts_dir.parent.name)) == uids[1]:
            raise RuntimeError("坏邮件")
        return real_parse(spool_path, parts_dir, spec)

    monkeypatch.setattr(readahead, "parse", failing_parse)
    report = _cycle(cfg, dovecot)
    assert (report.processed.stored, report.processed.failed) == (2, 1)
    status = {uid: (s, err) for uid, s, err in _rows(db_url, "SELECT uid, status, error FROM messages")}
    assert status[uids[0]][0] in ("stored", "notified") and status[uids[2]][0] in ("stored", "notified")
    assert status[uids[1]][0] == "failed" and "坏邮件" in status[uids[1]][1]
    assert [uid for _v, uid in _versions(db_url)] == [uids[0], uids[2]]


def test_a_stop_between_mails_drops_the_parse_ahead_and_the_next_cycle_files_it(  # type: ignore[no-untyped-def]
        tmp_path: Path, dovecot, smtp_sink, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stop after mail 1: mail 2, parsed ahead, is left spooled with no work directory; the next cycle
    parses and files it as version 2."""
    cfg, db_url, uids = _mailbox(tmp_path, dovecot, smtp_sink, 2)
    real_analyse: Callable[..., Any] = process.analyse
    daemon_box: list[Daemon] = []
    parse_started = threading.Event()
    real_parse: Callable[..., Any] = readahead.parse

    def noting_parse(spool_path: Path, parts_dir: Path, spec: Any) -> Any:
        if threading.current_thread().name.startswith("parse-ahead"):
            parse_started.set()
        return real_parse(spool_path, parts_dir, spec)

    def analyse_then_stop(message: Any, *, work_dir: Path, **kwargs: Any) -> Any:
        result = real_analyse(message, work_dir=work_dir, **kwargs)
        deadline = time.monotonic() + WAIT_SECONDS
        while not parse_started.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        daemon_box[0].request_stop()
        return result

    monkeypatch.setattr(readahead, "parse", noting_parse)
    monkeypatch.setattr(process, "analyse", analyse_then_stop)
    first = _cycle(cfg, dovecot, daemon_box)
    assert parse_started.is_set()
    assert first.processed.stored == 1
    status = dict(_rows(db_url, "SELECT uid, status FROM messages"))
    assert status[uids[1]] == "spooled"
    second_id = _rows(db_url, f"SELECT id FROM messages WHERE uid = {uids[1]}")[0][0]
    assert not (tmp_path / "spool" / "work" / str(second_id)).exists()  # the parse ahead left nothing behind

    monkeypatch.setattr(process, "analyse", real_analyse)
    again = _cycle(cfg, dovecot, fetched_first=False)
    assert again.error is None and again.processed.stored == 1
    assert _versions(db_url) == [(1, uids[0]), (2, uids[1])]
