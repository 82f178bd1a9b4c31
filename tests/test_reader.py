"""store.reader: the read-only ``Database`` of commands that read with plain SQL (``intake stats``), on SQLite (the
standard library's sqlite3) and PostgreSQL (psycopg; SQLAlchemy Core for URLs of unusual forms): the schema-version
check instead of migrating, one snapshot per reading, the same rows as the ORM reads, and the same statistics and
lists as through the Store; on PostgreSQL the same statements, rows and errors through psycopg as through SQLAlchemy."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Iterator, Mapping
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import make_url

from servers import free_port
from staff_factory import fill_cases
from store import CaseSummary, SchemaMismatch, Store
from store.db import SCHEMA_HEAD, alembic_config, make_engine
from store.models import Attachment, Case, Submission
from store.queries.lists import CaseFilter, count_cases, failed_findings_by_case, list_cases
from store.queries.stats import campaign_stats
from store.reader import Database, Query, pyformat, sqlite_file, unreadable
from store.summaries import case_summaries


def test_old_missing_and_newer_schemas_are_refused(db_url: str) -> None:
    from alembic import command

    with pytest.raises(SchemaMismatch, match="还没有收件数据表"):
        Database(db_url)
    command.upgrade(alembic_config(db_url), "0001")
    with pytest.raises(SchemaMismatch, match=f"结构版本 0001 比本程序（{SCHEMA_HEAD}）旧.*intake check-config"):
        Database(db_url)
    Store.open(db_url).close()  # migrated to the head: readable
    Database(db_url).close()
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaMismatch, match="结构版本 9999 比本程序.*新"):
        Database(db_url)


def test_a_read_creates_no_file(tmp_path: Path) -> None:
    db = tmp_path / "nothing-here" / "intake.db"
    with pytest.raises(SchemaMismatch, match="还没有收件数据表"):
        Database(f"sqlite:///{db}")
    assert not db.parent.exists()


def test_sqlite_urls_read_with_sqlite3_only_when_plain() -> None:
    assert sqlite_file("sqlite:///var/intake.db") == "var/intake.db"
    assert sqlite_file("sqlite:////srv/intake.db") == "/srv/intake.db"
    assert sqlite_file("sqlite+pysqlite:////srv/intake.db") == "/srv/intake.db"
    for other in ("sqlite://", "sqlite:///:memory:", "sqlite:////srv/intake.db?timeout=5",
                  "postgresql+psycopg://intake@db/intake"):
        assert sqlite_file(other) is None  # opened through SQLAlchemy, which reads every form


def _orm_summaries(store: Store, campaign_id: str) -> list[CaseSummary]:
    """The same summaries from ORM objects (the models' UTCDateTime, relationships), independently of the SQL."""
    with store.session() as s:
        hashes: dict[int, list[str]] = {}
        for case_id, sha in s.execute(select(Submission.case_id, Attachment.sha256)
                                      .join(Attachment, Attachment.submission_id == Submission.id)
                                      .join(Case, Case.id == Submission.case_id)
                                      .where(Case.campaign_id == campaign_id,
                                             Submission.version == Case.current_version)):
            if sha is not None:
                hashes.setdefault(case_id, []).append(sha)
        return [CaseSummary(case_id=c.id, case_no=c.case_no or "", sender=c.sender, identity=c.identity,
                            status=c.override_status or c.status, first_received_at=c.first_received_at,
                            file_sha256s=tuple(hashes.get(c.id, ())))
                for c in s.scalars(select(Case).where(Case.campaign_id == campaign_id).order_by(Case.id))]


def test_plain_sql_reads_what_the_orm_reads(db_url: str) -> None:
    store = Store.open(db_url)
    data = fill_cases(store.engine, 300, seed=11)
    tz = ZoneInfo("Asia/Shanghai")
    with store.session() as s, s.begin():  # the generator leaves them empty: the JSON column must be read too
        for case in s.scalars(select(Case).order_by(Case.id).limit(5)):
            case.subject_reasons = ["主题中没有省份", f"类别“{case.category}”不确定"]
    try:
        orm = _orm_summaries(store, data.campaign_id)
        assert len(orm) == 300 and any(s.file_sha256s for s in orm)
        assert all(s.first_received_at.utcoffset() is not None for s in orm)
        db = Database(db_url)
        assert db.driver == {"sqlite": "sqlite3", "postgresql": "psycopg"}[db.dialect]  # no SQLAlchemy to read
        try:
            for reader in (store, db):
                found = case_summaries(reader, data.campaign_id)
                assert [(s.case_id, sorted(s.file_sha256s)) for s in found] == \
                    [(s.case_id, sorted(s.file_sha256s)) for s in orm]
                assert [s.__class__(**{**s.__dict__, "file_sha256s": ()}) for s in found] == \
                    [s.__class__(**{**s.__dict__, "file_sha256s": ()}) for s in orm]
                assert [s.file_sha256s for s in case_summaries(reader, data.campaign_id, files=False)] == [()] * 300
            for top in (None, 3):
                assert campaign_stats(db, data.campaign_id, tz=tz, top_reasons=top) == \
                    campaign_stats(store, data.campaign_id, tz=tz, top_reasons=top)
            rows = list_cases(store, data.campaign_id, tz=tz)
            assert len(rows) == 300 and rows == list_cases(db, data.campaign_id, tz=tz)
            assert all(r.first_received_at == s.first_received_at for r, s in
                       zip(sorted(rows, key=lambda r: r.case_id), orm))  # aware UTC, as the ORM reads them
            assert sum(r.subject_reasons[:1] == ("主题中没有省份",) for r in rows) == 5
            assert any(r.video_seconds for r in rows)
            for filt in (CaseFilter(status="accepted", region="江"), CaseFilter(text="学", received_from=rows[50]
                         .first_received_at.astimezone(tz).date()), CaseFilter(case_nos=(rows[3].case_no,))):
                assert list_cases(db, data.campaign_id, filt, tz=tz) == list_cases(store, data.campaign_id, filt,
                                                                                    tz=tz)
            assert failed_findings_by_case(db, data.campaign_id) == failed_findings_by_case(store, data.campaign_id)
        finally:
            db.close()
    finally:
        store.close()


def _core_form(url: str) -> str:
    """The same PostgreSQL database under a URL store.pg_url leaves to SQLAlchemy (its "host=h:p" option)."""
    parsed = make_url(url)
    return f"{url}?host={parsed.host}:{parsed.port or 5432}"


@pytest.mark.parametrize("driver", ["sqlite3", pytest.param("psycopg", marks=pytest.mark.postgres),
                                    pytest.param("sqlalchemy", marks=pytest.mark.postgres)])
def test_a_reading_sees_one_snapshot(driver: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Every statement of one reading sees the database as the first did: the counts of `intake stats` add up
    while the daemon files cases (READ COMMITTED, PostgreSQL's default, would show the second statement the
    update). On SQLite, on PostgreSQL through psycopg and through SQLAlchemy Core (a URL of an unusual form)."""
    db_url = f"sqlite:///{tmp_path / 'intake.db'}" if driver == "sqlite3" else str(request.getfixturevalue("pg_url"))
    Store.open(db_url).close()
    data = fill_cases(make_engine(db_url), 20, seed=3)
    db = Database(_core_form(db_url) if driver == "sqlalchemy" else db_url)
    writer = make_engine(db_url)
    try:
        assert db.driver == driver
        with db.reading() as query:
            before = query("SELECT count(*) FROM cases WHERE province = :p", {"p": "快照省"})
            with writer.begin() as conn:
                conn.execute(text("UPDATE cases SET province = '快照省' WHERE campaign_id = :c"), {"c": data.campaign_id})
            assert query("SELECT count(*) FROM cases WHERE province = :p", {"p": "快照省"}) == before == [(0,)]
        with db.reading() as query:  # the next reading sees it
            assert query("SELECT count(*) FROM cases WHERE province = :p", {"p": "快照省"}) == [(20,)]
    finally:
        db.close()
        writer.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_the_stores_reading_sees_one_snapshot(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The console and the daemon read statistics through ``Store.reading()``: one snapshot too, on SQLite
    (pysqlite opens no transaction for a SELECT) and on PostgreSQL (READ COMMITTED by default)."""
    db_url = f"sqlite:///{tmp_path / 'intake.db'}" if backend == "sqlite" else str(request.getfixturevalue("pg_url"))
    store = Store.open(db_url)
    data = fill_cases(store.engine, 20, seed=3)
    writer = make_engine(db_url)
    try:
        with store.reading() as query:
            before = query("SELECT count(*) FROM cases WHERE province = :p", {"p": "快照省"})
            with writer.begin() as conn:
                conn.execute(text("UPDATE cases SET province = '快照省' WHERE campaign_id = :c"), {"c": data.campaign_id})
            assert query("SELECT count(*) FROM cases WHERE province = :p", {"p": "快照省"}) == before == [(0,)]
        with store.reading() as query:
            assert query("SELECT count(*) FROM cases WHERE province = :p", {"p": "快照省"}) == [(20,)]
    finally:
        store.close()
        writer.dispose()


@pytest.mark.parametrize("sql, expected", [
    ("SELECT * FROM t WHERE a = :a AND b LIKE '%' || :b || '%' ESCAPE '/'",
     "SELECT * FROM t WHERE a = %(a)s AND b LIKE '%%' || %(b)s || '%%' ESCAPE '/'"),
    ("SELECT x::text, CAST(:n AS int), to_char(t, 'HH24:MI:SS'), 'it''s :not', \"co:l%\" FROM t WHERE c IN (:c_0, :c_1)",
     "SELECT x::text, CAST(%(n)s AS int), to_char(t, 'HH24:MI:SS'), 'it''s :not', \"co:l%%\" FROM t WHERE c IN "
     "(%(c_0)s, %(c_1)s)"),
    ("SELECT 5 % 3, a[1:2], :x", "SELECT 5 %% 3, a[1:2], %(x)s"),
])
def test_parameters_are_written_for_psycopg(sql: str, expected: str) -> None:
    """":name" becomes "%(name)s" and "%" is doubled; casts, slices and text inside quotes stay."""
    assert pyformat(sql) == expected
    if "'it''s :not'" not in sql:  # text() would take ":not" inside the literal for a parameter
        assert pyformat(sql) == str(text(sql).compile(dialect=PGDialect_psycopg()))


class _Recording:
    """A reader that runs every statement on a real ``Database`` and keeps the statement, its parameters and the
    rows (so two ways of reading can be compared statement by statement)."""

    def __init__(self, db: Database) -> None:
        self.db, self.dialect = db, db.dialect
        self.seen: list[tuple[str, dict[str, Any], list[tuple[Any, ...]]]] = []

    @contextmanager
    def reading(self) -> Iterator[Query]:
        with self.db.reading() as query:
            def recorded(sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
                rows = query(sql, params)
                self.seen.append((sql, dict(params), rows))
                return rows
            yield recorded


def _everything_read(reader: _Recording, campaign_id: str, first_day: date) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    case_summaries(reader, campaign_id)
    for top in (None, 3):
        campaign_stats(reader, campaign_id, tz=tz, top_reasons=top)
    for filt in (CaseFilter(), CaseFilter(status="accepted", region="江"), CaseFilter(text="%_学/", category_no=2),
                 CaseFilter(category_text="人工", submitter_kind="unit", received_from=first_day,
                            received_to=first_day), CaseFilter(case_nos=("JCJY2025-000003", "JCJY2025-000004"))):
        list_cases(reader, campaign_id, filt, tz=tz, limit=7, offset=2)
        list_cases(reader, campaign_id, filt, tz=tz)
        count_cases(reader, campaign_id, filt, tz=tz)
    failed_findings_by_case(reader, campaign_id)
    failed_findings_by_case(reader, campaign_id, [1, 2, 3])


@pytest.mark.postgres
def test_psycopg_reads_what_sqlalchemy_reads(pg_url: str) -> None:
    """The same statements, parameters and rows, value by value and type by type (aware times, decoded JSON,
    numbers), through psycopg as through SQLAlchemy Core; and each statement as text() would write it."""
    store = Store.open(pg_url)
    data = fill_cases(store.engine, 150, seed=8)
    with store.session() as s, s.begin():
        for case in s.scalars(select(Case).order_by(Case.id).limit(4)):
            case.subject_reasons = ["主题中没有省份", "50% 的把握"]
    store.close()
    direct, core = Database(pg_url), Database(_core_form(pg_url))
    try:
        assert (direct.driver, core.driver) == ("psycopg", "sqlalchemy")
        runs = [_Recording(direct), _Recording(core)]
        for reader in runs:
            _everything_read(reader, data.campaign_id, min(c.first_received_at for c in data.cases).date())
        ours, theirs = (r.seen for r in runs)
        assert len(ours) == len(theirs) > 30
        for (sql, params, rows), (their_sql, their_params, their_rows) in zip(ours, theirs):
            assert (sql, params) == (their_sql, their_params)
            assert pyformat(sql) == str(text(sql).compile(dialect=PGDialect_psycopg()))
            assert [[(type(v), v) for v in row] for row in rows] == [[(type(v), v) for v in row] for row in their_rows]
        assert any(rows for _, _, rows in ours[5:])
    finally:
        direct.close()
        core.close()


@pytest.mark.postgres
def test_connection_errors_are_sqlalchemys_line_without_the_password(postgres_server: str) -> None:
    """Server down, unknown database, unknown role: psycopg's first line, as the Core path showed it, the
    password as ***."""
    base = make_url(postgres_server)
    for url in (base.set(port=free_port(), password="s3cret-pw"), base.set(database="no_such_db_25a", password="s3cret-pw"),
                base.set(username="no_such_role_25a", password="s3cret-pw")):
        text_url = url.render_as_string(hide_password=False)
        with pytest.raises(SchemaMismatch) as ours:
            Database(text_url)
        engine = create_engine(text_url)
        try:
            with pytest.raises(Exception) as theirs:
                engine.connect()
        finally:
            engine.dispose()
        assert str(ours.value) == str(unreadable(url.render_as_string(hide_password=True), theirs.value))
        assert str(ours.value).startswith(f"无法打开数据库 {url.render_as_string(hide_password=True)}：")
        assert "s3cret-pw" not in str(ours.value) and "\n" not in str(ours.value)
