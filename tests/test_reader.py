"""store.reader: the read-only ``Database`` of commands that read with plain SQL (``intake stats``), on SQLite (the
standard library's sqlite3) and PostgreSQL (SQLAlchemy Core): the schema-version check instead of migrating, and
the same rows as the ORM reads, and the same statistics and lists as through the Store."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from staff_factory import fill_cases
from store import CaseSummary, SchemaMismatch, Store
from store.db import SCHEMA_HEAD, alembic_config, make_engine
from store.models import Attachment, Case, Submission
from store.queries.lists import CaseFilter, failed_findings_by_case, list_cases
from store.queries.stats import campaign_stats
from store.reader import Database, sqlite_file
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
