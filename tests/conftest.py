"""Shared pytest fixtures: real servers (Dovecot, SMTP sink, PostgreSQL) and generic helpers.

Server classes live in tests/servers.py; this file only wires them into pytest. Engineers adding fixtures of
their own: append them below the marked section at the end of this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Generator, Iterator

import pytest

from servers import (
    DovecotServer,
    SmtpSink,
    create_database,
    drop_database,
    postgres_server_url,
    stop_self_started_postgres,
)

# ===== Server fixtures and generic helpers (tests/servers.py wiring) =========================================


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes seconds (real servers started, big files); run by default")
    config.addinivalue_line("markers", "postgres: needs PostgreSQL (deselect with -m 'not postgres')")
    config.addinivalue_line("markers", "e2e: end to end through the real CLI, Dovecot and SMTP")


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """One real Dovecot for the session. Give each test its own mailbox with the `imap_user` fixture."""
    server = DovecotServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def imap_user(dovecot: DovecotServer) -> str:
    """A user name no other test used: its maildir is empty until the test appends mail."""
    return dovecot.new_user()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server for this test only, collecting every message (no AUTH)."""
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Base URL of a PostgreSQL server for the session (the local one, or one started for the session)."""
    try:
        url = postgres_server_url()
    except RuntimeError as problem:
        pytest.fail(f"PostgreSQL is needed and none could be reached or started: {problem}", pytrace=False)
    try:
        yield url
    finally:
        stop_self_started_postgres()


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty PostgreSQL database, dropped after the test."""
    url = create_database(postgres_server)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on SQLite and on PostgreSQL: an empty database URL of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'intake.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """On failure of a test that used Dovecot, show its log's last lines and keep its files for inspection."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    server = getattr(item, "funcargs", {}).get("dovecot")
    if isinstance(server, DovecotServer):
        server.keep_files = True
        report.sections.append((f"Dovecot log {server.log_path} (last lines)", server.log_tail()))


# ===== Fixtures added by other engineers go below this line ===================================================


@pytest.fixture
def short_task_slack(monkeypatch: pytest.MonkeyPatch) -> float:
    """isolation_items gives a task of N items N x the per-item bound plus 10 s of slack (starting a worker,
    pickling ten thousand prior cases); an item stuck in C code is stopped only when that whole deadline is up.
    Tests that call map_bounded in this process with a few tiny items wait out the slack each time (10-11 s
    per stuck item): 2 s covers their overhead many times over. Only the slack changes: the per-item alarm,
    the task deadline, the kill and the progress file work as in the daemon."""
    from ingest.files import isolation_items

    monkeypatch.setattr(isolation_items, "_SLACK_SECONDS", 2.0)
    return 2.0
