"""PostgreSQL URLs as SQLAlchemy reads them, parsed without importing SQLAlchemy (read-only commands, configuration).

``intake stats`` and the other read-only commands start in a fresh interpreter, and SQLAlchemy's ``make_url`` alone
costs 0.15–0.35 s to import. The usual forms of ``intake.database_url`` on PostgreSQL
(``postgresql[+psycopg|+psycopg2]://user:password@host:port/database?libpq_option=value``) are parsed here with
``urllib.parse``; ``parse`` returns None for anything else (another driver, an ``@``, ``#`` or blank outside its
place, a port in the query, several hosts, repeated options, …), and the callers then use SQLAlchemy, which
reads every form. What ``parse`` accepts it reads as SQLAlchemy does: tests/test_pg_url.py holds the fields, the
rendering (password hidden or not) and the connection parameters equal to SQLAlchemy's for generated URLs.

``PgUrl`` has the three members of SQLAlchemy's ``URL`` the configuration uses (``password``, ``set(password=…)``,
``render_as_string``), so ``read_url(text)`` gives either and the caller does not care which.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

# The drivers whose URL query is handed to libpq as connection options (SQLAlchemy's psycopg and psycopg2
# dialects, the bare "postgresql" being psycopg in SQLAlchemy 2.1): their URLs mean the same connection to psycopg.
SCHEMES = ("postgresql", "postgresql+psycopg", "postgresql+psycopg2")


@dataclass(frozen=True)
class PgUrl:
    """The parts of a PostgreSQL URL as SQLAlchemy's ``URL`` holds them (username, password and database
    percent-decoded; host and query options as written; port as a number)."""

    drivername: str
    username: str | None
    password: str | None
    host: str | None
    port: int | None
    database: str | None
    query: tuple[tuple[str, str], ...]

    def set(self, *, password: str) -> PgUrl:
        """The URL with this password (as ``URL.set(password=…)``)."""
        return replace(self, password=password)

    def render_as_string(self, hide_password: bool = True) -> str:
        """The URL as SQLAlchemy's ``URL.render_as_string`` writes it (the password as *** unless shown)."""
        text = self.drivername + "://"
        if self.username is not None:
            text += quote(self.username, safe=" +")
            if self.password is not None:
                text += ":" + ("***" if hide_password else quote(self.password, safe=" +"))
            text += "@"
        if self.host is not None:
            text += f"[{self.host}]" if ":" in self.host else self.host
        if self.port is not None:
            text += f":{self.port}"
        if self.database is not None:
            text += "/" + quote(self.database, safe=" +/")
        if self.query:
            text += "?" + "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in sorted(self.query))
        return text

    def connect_params(self) -> dict[str, str | int]:
        """The keyword arguments SQLAlchemy's psycopg dialect passes to ``psycopg.connect`` for this URL: the
        parts that are set, then the query options (which win, ``host`` among them)."""
        parts = {"host": self.host, "port": self.port, "user": self.username, "password": self.password,
                 "dbname": self.database}
        params: dict[str, str | int] = {k: v for k, v in parts.items() if v}
        params.update(self.query)
        return params

    def conninfo(self) -> str | None:
        """The libpq connection string of this URL for ``psycopg.connect``; None when a query option is not one
        libpq knows (SQLAlchemy's dialect would hand it to psycopg as a keyword: open such URLs through it)."""
        import psycopg
        from psycopg.conninfo import make_conninfo

        try:
            return make_conninfo("", **self.connect_params())  # checked by libpq's own parser
        except psycopg.ProgrammingError:
            return None


def _split_host(hostport: str) -> tuple[str | None, int | None] | None:
    """(host, port) of "host", "host:5432", "[::1]:5432" or ""; None for anything SQLAlchemy might read otherwise."""
    if hostport.startswith("["):  # an IPv6 address, kept without its brackets
        host, bracket, rest = hostport[1:].partition("]")
        if not bracket or not host:
            return None
    else:
        host, rest = hostport, ""
        if ":" in hostport:
            host, rest = hostport.split(":", 1)
            rest = ":" + rest
    port = rest[1:]
    if rest and not rest.startswith(":") or rest == ":" or port and not (port.isascii() and port.isdigit()):
        return None  # text after "]", an empty or odd port
    if "[" in host or "]" in host:
        return None
    return host or None, int(port) if port else None


def parse(url: str) -> PgUrl | None:
    """The URL's parts when it is a PostgreSQL URL of a usual form, else None (read it with SQLAlchemy)."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in SCHEMES or "#" in url or any(ord(c) <= 0x20 or c == "\x7f" for c in url):
        return None  # urlsplit drops blanks and control characters and cuts a fragment; SQLAlchemy does neither
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.netloc.count("@") != url.count("@") or url.count("@") > 1:
        return None  # an "@" in the password or the path: SQLAlchemy's pattern reads these otherwise
    userinfo, at, hostport = parts.netloc.rpartition("@")
    split = _split_host(hostport)
    if split is None:
        return None
    username, colon, password = userinfo.partition(":")
    query = parse_qsl(parts.query)  # as SQLAlchemy's make_url (blank values dropped)
    names = [k for k, _ in query]
    if len(set(names)) != len(names) or "port" in names or any(k == "host" and (":" in v or "," in v) for k, v in query):
        return None  # lists of options and SQLAlchemy's multi-host forms (it rewrites the port for those)
    return PgUrl(drivername=scheme, username=unquote(username) if at else None,
                 password=unquote(password) if at and colon else None, host=split[0], port=split[1],
                 database=unquote(parts.path[1:]) if parts.path else None, query=tuple(query))


def read_url(url: str) -> PgUrl | URL:
    """The URL parsed here when it has a usual PostgreSQL form, else by SQLAlchemy's ``make_url`` (which raises
    ``sqlalchemy.exc.ArgumentError`` for a text that is no URL)."""
    found = parse(url)
    if found is not None:
        return found
    from sqlalchemy.engine import make_url

    return make_url(url)


def shown(url: str) -> str:
    """The URL as messages show it: the password as ***."""
    return read_url(url).render_as_string(hide_password=True)
