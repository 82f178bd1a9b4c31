"""Issue 9.3: two daemons on the same PostgreSQL database and mailbox process every mail once, because of a
database lease (not luck), and a slow cycle never overlaps the next one."""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from servers import bench_module
from sqlalchemy import create_engine, func, select

from store import Store
from store.models import Event, OutboxMail

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres]

REPO = Path(__file__).resolve().parent.parent


def _crash_suite() -> ModuleType:
    return bench_module("crash_suite")


suite = _crash_suite()


def _count(db_url: str, query: Any) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one() or 0)
    except Exception:  # noqa: BLE001 - before the first migration
        return -1
    finally:
        engine.dispose()


def test_lease_has_one_holder_across_connections(pg_url: str) -> None:
    a, b = Store.open(pg_url), Store.open(pg_url)
    try:
        assert a.acquire_lease("cycle:x", "host:1", 60)
        assert not b.acquire_lease("cycle:x", "host:2", 60)
        assert a.acquire_lease("cycle:x", "host:1", 60)  # renewal by the holder
        a.release_lease("cycle:x", "host:2")  # not the holder: nothing happens
        assert not b.acquire_lease("cycle:x", "host:2", 60)
        a.release_lease("cycle:x", "host:1")
        assert b.acquire_lease("cycle:x", "host:2", 60)
        assert not a.acquire_lease("cycle:x", "host:1", 60)
        # An expired lease (its holder stopped renewing) can be taken.
        assert b.acquire_lease("cycle:y", "host:2", -1)
        assert a.acquire_lease("cycle:y", "host:1", 60)
    finally:
        a.close()
        b.close()


def test_two_daemons_one_mailbox_every_mail_once(tmp_path, dovecot, smtp_sink, pg_url):  # type: ignore[no-untyped-def]
    backlog = suite.make_backlog(12, tmp_path / "files", seed=93)
    user = dovecot.new_user()
    for m in backlog:
        dovecot.append(user, "INBOX", m.raw)
    # Both daemons share the database and the mailbox, each has its own spool (two hosts).
    configs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        configs.append(suite.write_config(tmp_path / name, imap_port=dovecot.port, user=user,
                                          smtp_port=smtp_sink.port, db_url=pg_url))
    cfg_a, cfg_b = configs
    a = suite.Daemon(cfg_a, dovecot.password, tmp_path / "a.log")
    b = suite.Daemon(cfg_b, dovecot.password, tmp_path / "b.log")
    a.start()
    b.start()
    try:
        deadline = time.monotonic() + 240
        sent = select(func.count()).select_from(OutboxMail).where(OutboxMail.status == "sent")
        while time.monotonic() < deadline and _count(pg_url, sent) < len(backlog):
            time.sleep(0.2)
        time.sleep(3)  # several more cycles of both: nothing may be fetched, filed or sent again
        assert a.alive() and b.alive()
    finally:
        a.stop()
        b.stop()
    logs = (tmp_path / "a.log").read_text(encoding="utf-8") + (tmp_path / "b.log").read_text(encoding="utf-8")
    # The lease did the excluding: one daemon found the mailbox taken at least once.
    assert "另一个进程正在处理该邮箱，本轮跳过" in logs
    # The 1 s interval is shorter than the first cycle: APScheduler skipped the overlapping runs.
    assert "maximum number of running instances reached" in logs
    assert "Traceback" not in logs
    result = suite.CrashResult(mails=len(backlog), kills_requested=0, database="postgresql")
    suite.verify(result, backlog, pg_url, smtp_sink, tmp_path / "a" / "spool")
    assert result.problems == [] and result.duplicate_receipts == 0
    assert len(smtp_sink.messages) == len(backlog)
    filed = select(func.count()).select_from(Event).where(Event.action == "case.version_filed")
    assert _count(pg_url, filed) == len(backlog)


def test_daemons_starting_together_on_a_fresh_database_both_start(pg_url: str) -> None:
    """Found by the two-daemon test: both ran the first migration at once and one died on a unique
    violation (CREATE TABLE alembic_version). The migration is now serialised."""
    import threading

    errors: list[BaseException] = []
    stores: list[Store] = []
    gate = threading.Barrier(4)

    def start() -> None:
        gate.wait()
        try:
            stores.append(Store.open(pg_url))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for s in stores:
        s.close()
    assert errors == [] and len(stores) == 4
