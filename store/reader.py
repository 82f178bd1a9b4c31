"""Reading the database without the ORM: what read-only commands open, and the schema-version check.

``intake stats`` runs from cron and from staff's shells one call at a time; SQLAlchemy's ORM and models cost
about 0.2 s of CPU to import and its Core another 0.16 s, several times the queries themselves. So a read-only
command opens a ``Database``: on SQLite the standard library's ``sqlite3``, on PostgreSQL psycopg directly (both
without SQLAlchemy: ``store.pg_url`` reads the URL), and a SQLAlchemy Core engine, never the ORM, only for a URL of
an unusual form. The statistics' SQL (``store.queries.stats``) is written once and runs on this and on ``Store``
(which reads through its own engine) alike.

Nothing here imports SQLAlchemy or psycopg at module level.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Protocol
from urllib.parse import quote

from checks.errors import IntakeError
from store.pg_url import parse as parse_pg_url

if TYPE_CHECKING:
    import psycopg
    from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_SECONDS = 30  # wait on a writer instead of failing (as the engine's busy_timeout)

# Runs one statement of a read (":name" parameters, on either database) and returns its rows.
Query = Callable[[str, Mapping[str, Any]], list[tuple[Any, ...]]]


def _newest_migration() -> str:
    """The newest revision, from the file names (``NNNN_what.py`` whose revision is ``NNNN``; a test keeps this
    equal to Alembic's head). Read-only commands compare the database with it instead of loading Alembic
    (0.3–0.5 s of start-up)."""
    names = [p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")]
    return max(names, default="")


SCHEMA_HEAD = _newest_migration()


class SchemaMismatch(IntakeError):
    """The database's schema is not the one this code reads; worded as one line for the operator."""


def schema_mismatch(found: str | None, where: str) -> SchemaMismatch | None:
    """What is wrong with a database at revision ``found`` (None: without our tables), or None when it is at
    ``SCHEMA_HEAD``. ``where``: the database's address without its password."""
    if found == SCHEMA_HEAD:
        return None
    if found is None:
        return SchemaMismatch(f"数据库 {where} 中还没有收件数据表：请先运行 intake check-config（或启动 intake run）建立")
    if found < SCHEMA_HEAD:
        return SchemaMismatch(f"数据库 {where} 的结构版本 {found} 比本程序（{SCHEMA_HEAD}）旧：请先运行 intake "
                              "check-config 升级（守护进程启动时也会升级）")
    return SchemaMismatch(f"数据库 {where} 的结构版本 {found} 比本程序（{SCHEMA_HEAD}）新：请升级 case-intake")


def unreadable(where: str, exc: BaseException) -> SchemaMismatch:
    """"无法打开数据库 …：<the driver's first line>" (no traceback, no password)."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return SchemaMismatch(f"无法打开数据库 {where}：{detail[0] if detail else type(exc).__name__}")


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision of the database behind a SQLAlchemy engine; None for a database without our tables."""
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def utc_datetime(value: datetime | str) -> datetime:
    """A stored time read without the ORM's types, as an aware UTC datetime (what ``models.UTCDateTime`` gives):
    SQLite hands back SQLAlchemy's text ('2025-11-03 08:12:33.000000', UTC without offset), PostgreSQL an aware
    datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Reader(Protocol):
    """Something the read-side queries run on: ``Database`` (read-only commands) or ``Store``."""

    @property
    def dialect(self) -> str:
        """"sqlite" or "postgresql": the few SQL functions that differ are chosen by it."""
        ...

    def reading(self) -> Any:
        """A context giving a ``Query``; every statement run through it sees one snapshot of the database."""
        ...


@contextmanager
def engine_reading(engine: Engine) -> Iterator[Query]:
    """A ``Query`` on a SQLAlchemy engine, its statements in one transaction (one snapshot)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # READ COMMITTED, the default, gives each statement a snapshot
            conn = conn.execution_options(isolation_level=_PG_ISOLATION, postgresql_readonly=True)
        with conn.begin():
            if conn.dialect.name == "sqlite":  # pysqlite starts no transaction for a SELECT: each saw the newest
                conn.exec_driver_sql("BEGIN")
            yield lambda sql, params: [tuple(row) for row in conn.execute(text(sql), dict(params))]


# What psycopg reads as a placeholder, outside quoted literals and identifiers: a ":name" parameter where
# SQLAlchemy's text() takes one (not after ":", a letter or a backslash, not before ":" or a letter: "::type" casts
# stay) and "%".
_PG_TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|(?<![:\w\\]):(\w+)(?![:\w])|%""")


@lru_cache(maxsize=256)
def pyformat(sql: str) -> str:
    """The SQL with its ":name" parameters as psycopg's "%(name)s" and every literal "%" doubled (psycopg reads "%"
    inside quotes too): the statement SQLAlchemy's text() hands psycopg for it. Colons inside quotes stay (text()
    would take ":x" in a literal for a parameter; the shared SQL has none, tests/test_reader.py checks every
    statement the commands run against text())."""
    return _PG_TOKENS.sub(lambda m: f"%({m[1]})s" if m[1] else m[0].replace("%", "%%"), sql)


def sqlite_file(url: str) -> str | None:
    """The file of a plain SQLite URL (``sqlite:///relative``, ``sqlite:////absolute``), or None for any other
    URL (a driver, query options, memory): those are opened through SQLAlchemy, which reads every form."""
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            path = url[len(prefix):]
            return path if path and path != ":memory:" and "?" not in path else None
    return None


# Whether our tables exist (the check that comes before the revision), in each database's own catalogue.
_HAS_VERSION_TABLE = {"sqlite": "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'",
                      "postgresql": "SELECT 1 WHERE to_regclass('alembic_version') IS NOT NULL"}
# A read on PostgreSQL is one REPEATABLE READ, READ ONLY transaction: every statement of a ``reading()`` sees the
# snapshot of its first (READ COMMITTED, the server's default, takes one per statement), and a read-only
# transaction at that level never fails for a concurrent write.
_PG_ISOLATION = "REPEATABLE READ"


def _pg_connect(conninfo: str) -> psycopg.Connection[tuple[Any, ...]]:
    """A psycopg connection for reads (the default loaders: the values SQLAlchemy's psycopg dialect hands back)."""
    import psycopg

    conn = psycopg.connect(conninfo)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    return conn


class Database:
    """A database opened for reading by a read-only command, its schema checked (``SchemaMismatch`` otherwise).

    ``driver`` says how it reads: "sqlite3", "psycopg", or "sqlalchemy" (Core; a URL ``store.pg_url`` does not
    translate)."""

    def __init__(self, url: str) -> None:
        self._file = sqlite_file(url)
        self._conn: sqlite3.Connection | None = None
        self._pg: psycopg.Connection[tuple[Any, ...]] | None = None
        self._engine: Engine | None = None
        self.dialect, self.driver = "sqlite", "sqlite3"
        pg = parse_pg_url(url) if self._file is None else None
        conninfo = pg.conninfo() if pg is not None else None
        if self._file is not None:
            self._where = url  # a SQLite URL holds no password
            if Path(self._file).exists():  # a read never creates the file (sqlite3 would)
                try:
                    self._conn = sqlite3.connect(f"file:{quote(self._file)}?mode=rw", uri=True,
                                                 timeout=SQLITE_BUSY_SECONDS, isolation_level=None)
                except sqlite3.Error as exc:
                    raise unreadable(self._where, exc) from exc
        elif pg is not None and conninfo is not None:
            self._where = pg.render_as_string(hide_password=True)
            self.dialect, self.driver = "postgresql", "psycopg"
        else:
            from sqlalchemy import create_engine
            from sqlalchemy.engine import make_url

            self._where = make_url(url).render_as_string(hide_password=True)
            self._engine = create_engine(url)  # engine_reading gives its reads psycopg's path's transactions
            self.dialect, self.driver = self._engine.dialect.name, "sqlalchemy"
        try:
            if conninfo is not None:
                self._pg = _pg_connect(conninfo)
            problem = schema_mismatch(self._revision(), self._where)
        except (sqlite3.Error, IntakeError):
            self.close()
            raise
        except Exception as exc:  # the driver's own errors (PostgreSQL down, refused, unknown database)
            self.close()
            raise unreadable(self._where, exc) from exc
        if problem is not None:
            self.close()
            raise problem

    def _revision(self) -> str | None:
        """The database's Alembic revision; None without our tables."""
        if self._engine is not None:
            return schema_revision(self._engine)
        if self._conn is None and self._pg is None:
            return None  # no SQLite file
        try:
            with self.reading() as query:
                if not query(_HAS_VERSION_TABLE[self.dialect], {}):
                    return None
                found = query("SELECT version_num FROM alembic_version", {})
        except sqlite3.Error as exc:
            raise unreadable(self._where, exc) from exc
        return str(found[0][0]) if found else None

    @contextmanager
    def reading(self) -> Iterator[Query]:
        """A ``Query`` whose statements all see one snapshot (one read transaction)."""
        if self._engine is not None:
            with engine_reading(self._engine) as query:
                yield query
            return
        if self._pg is not None:
            pg = self._pg
            try:  # psycopg begins the transaction at the first statement
                yield lambda sql, params: pg.execute(pyformat(sql), dict(params)).fetchall()
            finally:
                pg.rollback()  # nothing was written: end the read transaction
            return
        conn = self._conn
        if conn is None:
            raise SchemaMismatch(f"数据库 {self._where} 不存在")
        conn.execute("BEGIN")
        try:
            yield lambda sql, params: conn.execute(sql, dict(params)).fetchall()
        finally:
            conn.execute("ROLLBACK")  # nothing was written: end the read transaction

    def close(self) -> None:
        """Close the connection (or dispose of the engine); closing twice does nothing."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._pg is not None:
            self._pg.close()
            self._pg = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
