"""Engine creation and schema migrations (Alembic), for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from store.reader import SCHEMA_HEAD, SchemaMismatch  # noqa: F401  (named here too, where they were)
from store.reader import MIGRATIONS_DIR, schema_mismatch, schema_revision, unreadable

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

# Any constant unique to this application: the PostgreSQL advisory lock held while migrating.
MIGRATION_LOCK_KEY = 0x1A7A_CE00


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets staff commands read while the daemon writes; busy_timeout waits on a writer
    # instead of failing; foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


# C0 controls but tab/newline/CR, DEL, C1 controls. PostgreSQL refuses NUL in text outright (the mail then failed
# on every attempt, for ever); the others are terminal escapes and worse in staff screens and exports.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(value: str) -> str:
    """The text without control characters a database or a staff screen must not receive."""
    return _CONTROL.sub("", value) if _CONTROL.search(value) else value


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_clean(v) for v in value)
    return value


def _clean_parameters(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                      _executemany: bool) -> tuple[str, Any]:
    """Every text value bound to any statement, from any layer, loses control characters: one place that holds
    for strangers' subjects, names and bodies whatever path they take into the database (issue 15 §6)."""
    return statement, _clean(parameters)


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets its directory created, a busy timeout and our pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    event.listen(engine, "before_cursor_execute", _clean_parameters, retval=True)
    return engine


def alembic_config(url: str) -> AlembicConfig:
    """The Alembic configuration of our migrations for this database URL."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' must be escaped for ConfigParser interpolation (PostgreSQL passwords may hold it).
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine, campaign_id: str | None = None) -> None:
    """Bring the schema to the newest revision (idempotent). ``campaign_id``: the campaign the configuration names
    first; rows of an older database that no case places in a campaign go to it (0005)."""
    if schema_revision(engine) == SCHEMA_HEAD:
        # Nearly every start: one query instead of loading Alembic, which the daemon would carry for its life
        # (~5 MB, issue 21 §4).
        return
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    cfg.attributes["campaign_id"] = campaign_id
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            # Batch migrations rebuild a SQLite table (copy, drop, rename): with foreign keys enforced, dropping a
            # table other rows point to fails. Off for the migration (outside a transaction, or SQLite ignores
            # it), checked after it, and on again before the connection goes back to the pool.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    # Two daemons starting together on a fresh database both ran CREATE TABLE and one died on a
                    # unique violation: the migration is serialised by a transaction-scoped advisory lock.
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise SchemaMismatch("数据库迁移后外键不一致，已回滚；请保留数据库文件并报告此问题")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def check_schema(engine: Engine) -> None:
    """Raise ``SchemaMismatch`` unless the database is at ``SCHEMA_HEAD`` (one query, no Alembic): what
    read-only commands do instead of migrating."""
    where = engine.url.render_as_string(hide_password=True)
    try:
        found = schema_revision(engine)
    except SQLAlchemyError as exc:
        raise unreadable(where, exc) from exc
    if (problem := schema_mismatch(found, where)) is not None:
        raise problem


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose rows stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
