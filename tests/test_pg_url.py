"""store.pg_url: PostgreSQL URLs read without SQLAlchemy exactly as SQLAlchemy reads them, or not at all.

Whatever ``parse`` accepts must give SQLAlchemy's parts, SQLAlchemy's rendering (password hidden and shown, and after
``set(password=…)``, which the configuration writes back) and the keyword arguments SQLAlchemy's psycopg dialect
would pass to ``psycopg.connect``; the rest is left to SQLAlchemy (None)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import make_url

from store.pg_url import PgUrl, parse, read_url, shown

# Characters that move the boundaries of a URL's parts, escapes, blanks and a non-ASCII letter.
_TRICKY = "ab1:@/?#[]%+ =&,.-_é\t"
_safe = st.one_of(st.text(alphabet="ab1%+.-_é", max_size=8), st.sampled_from(["%40", "%2F", "%zz", "%E5%BA%93"]))


def _mostly(usual: st.SearchStrategy[str], tricky: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Usual values four times in five: about half the URLs are then of a form that is parsed."""
    return st.integers(0, 4).flatmap(lambda n: tricky if n == 0 else usual)


_piece = _mostly(_safe, st.text(alphabet=_TRICKY, max_size=8))
_option = st.tuples(_mostly(st.sampled_from(["sslmode", "application_name", "connect_timeout", "host", "user"]),
                            st.sampled_from(["port", "plugin", "prepare_threshold", "a b", "é", "host"])), _piece)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(_mostly(st.sampled_from(["postgresql", "postgresql+psycopg", "postgresql+psycopg2"]),
                          st.sampled_from(["postgresql+asyncpg", "postgres", "PostgreSQL", "sqlite"])))
    user = draw(st.one_of(st.none(), st.sampled_from(["intake", "u%40x", ""]), _piece))
    password = draw(st.one_of(st.none(), st.sampled_from(["s3cret", "p%2Fw", ""]), _piece))
    host = draw(_mostly(st.sampled_from(["", "db", "127.0.0.1", "[::1]", "db.example", "h1,h2", "é"]), _piece))
    port = draw(_mostly(st.sampled_from(["", ":5432", ":05432"]),
                        st.one_of(st.sampled_from([":", ":x", ":1:2"]), _piece.map(":{}".format))))
    database = draw(st.one_of(st.sampled_from(["", "/intake", "/", "/a%20b", "/库"]), _piece.map("/{}".format)))
    options = draw(st.lists(_option, max_size=3))
    bare_mark = draw(st.booleans())  # "…/intake?" with nothing after it
    query = "?" + "&".join(f"{k}={v}" for k, v in options) if options or bare_mark else ""
    userinfo = "" if user is None else user + ("" if password is None else ":" + password) + "@"
    return f"{scheme}://{userinfo}{host}{port}{database}{query}"


def _sqlalchemy_connect_params(url: str) -> dict[str, Any]:
    args, params = PGDialect_psycopg().create_connect_args(make_url(url))
    assert args in ([], [""])
    return dict(params)


def _agrees(url: str) -> PgUrl | None:
    found = parse(url)
    if found is None:
        return None
    theirs = make_url(url)  # raises if SQLAlchemy cannot read what was accepted
    assert (found.drivername, found.username, found.password, found.host, found.port, found.database) == \
        (theirs.drivername, theirs.username, theirs.password, theirs.host, theirs.port, theirs.database)
    assert dict(found.query) == dict(theirs.query)
    for hide in (True, False):
        assert found.render_as_string(hide_password=hide) == theirs.render_as_string(hide_password=hide)
    assert found.set(password="p@ss:/w rd+%").render_as_string(hide_password=False) == \
        theirs.set(password="p@ss:/w rd+%").render_as_string(hide_password=False)
    assert found.connect_params() == _sqlalchemy_connect_params(url)
    return found


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(urls())
@example("postgresql://u:p/w@host/db")  # SQLAlchemy: password "p/w"; urlsplit would end the host at "/"
@example("postgresql://u?x@host/db")
@example("postgresql://h?host=a:1&port=2")
@example("postgresql://[::1:5432/db")
def test_what_is_parsed_is_what_sqlalchemy_reads(url: str) -> None:
    event("parsed" if _agrees(url) is not None else "left to SQLAlchemy")


@pytest.mark.parametrize("url", [
    "postgresql://intake@db.example/intake", "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg2://intake:s%3Acret%40x@db:6432/intake?sslmode=verify-full&application_name=intake",
    "postgresql:///intake?host=/var/run/postgresql", "postgresql://intake@[2001:db8::5]:5432/intake",
    "postgresql://intake:@db/intake", "postgresql://intake@db/案例?connect_timeout=5&target_session_attrs=any"])
def test_usual_urls_are_read_without_sqlalchemy(url: str) -> None:
    found = _agrees(url)
    assert found is not None and found.conninfo() is not None


@pytest.mark.parametrize("url", [
    "postgresql+asyncpg://intake@db/intake",  # another driver: its options are not libpq's
    "postgresql://intake@db/intake?host=db:5433", "postgresql://intake@db/intake?port=5433",  # multi-host forms
    "postgresql://intake@:5432/intake?host=db1,db2",
    "postgresql://intake@db/intake?sslmode=require&sslmode=disable",  # a list of values
    "postgresql://in@take:pw@db/intake", "postgresql://intake:pw#1@db/intake", "postgresql://intake@db/in take",
    "sqlite:///var/intake.db", "not a url"])
def test_unusual_urls_are_left_to_sqlalchemy(url: str) -> None:
    assert parse(url) is None


def test_options_libpq_does_not_know_are_not_translated() -> None:
    """SQLAlchemy's dialect hands such an option to psycopg.connect as a keyword (prepare_threshold); the read-only
    path then opens the URL through SQLAlchemy rather than guess."""
    found = parse("postgresql://intake@db/intake?prepare_threshold=0")
    assert found is not None and found.conninfo() is None
    usual = parse("postgresql://intake@db/intake?sslmode=require")
    assert usual is not None and usual.conninfo() == "host=db user=intake dbname=intake sslmode=require"


def test_read_url_falls_back_to_sqlalchemy() -> None:
    from sqlalchemy.engine import URL
    from sqlalchemy.exc import ArgumentError

    assert isinstance(read_url("postgresql://intake:pw@db/intake"), PgUrl)
    assert isinstance(read_url("postgresql://intake:pw@db/intake?port=1"), URL)
    assert shown("postgresql://intake:pw@db/intake?port=1") == "postgresql://intake:***@db/intake?port=1"
    assert shown("postgresql://intake:pw@db/intake") == "postgresql://intake:***@db/intake"
    with pytest.raises(ArgumentError):
        read_url("not a url")
