"""Issue 15 §4, end to end: a stranger's SVG/HTML/XML files and a crafted javascript: link arrive through a real
Dovecot and `intake poll --once` (receipt to a real aiosmtpd), on SQLite and PostgreSQL; a staff member then opens
the case in a real Chromium. No script of the stranger's may run: the browser console shows none of its messages
and the marker server it would call receives nothing. Also over HTTP: headers, sign-out, throttling, bad queries."""

from __future__ import annotations

import http.server
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import uvicorn
from starlette.testclient import TestClient

from console.app import create_app
from console.auth import LoginLimiter
from hostile_factory import console_script_mail
from servers import run_intake, write_intake_config
from store import Store, queries
from test_console import PASSWORD, _free_port, settings

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium")


class _Marker(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        _Marker.hits.append(self.path)
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def marker() -> Iterator[tuple[str, list[str]]]:
    _Marker.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Marker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Marker.hits
    server.shutdown()


@pytest.fixture
def polled(tmp_path: Path, dovecot, imap_user, smtp_sink, db_url, marker):  # type: ignore[no-untyped-def]
    marker_url, _hits = marker
    cfg = write_intake_config(tmp_path, imap_port=dovecot.port, user=imap_user, smtp_port=smtp_sink.port,
                              db_url=db_url)
    dovecot.append(imap_user, "INBOX", console_script_mail(marker_url))
    run_intake(cfg, "poll", "--once", password=dovecot.password)
    assert smtp_sink.wait_for(1, timeout=30)  # the sender got an answer like anyone else
    store = Store.open(db_url)
    yield store, settings().campaign_id
    store.close()


def _serve(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (scripts/install-system-deps.sh)")
def test_strangers_files_and_links_run_no_script_in_chromium(polled, marker) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    store, _ = polled
    _marker_url, hits = marker
    campaign_id = settings().campaign_id
    [row] = queries.list_cases(store, campaign_id, queries.CaseFilter(), tz=settings().tz, limit=5, offset=0)
    detail = queries.case_detail(store, campaign_id, row.case_no)
    files = [a for v in detail.versions for a in v.attachments if a.kind == "file"]
    links = [a for v in detail.versions for a in v.attachments if a.kind == "link"]
    assert {a.name.rsplit("/", 1)[-1] for a in files} >= {"图1：活动现场.svg", "申报表.html", "说明.xml"}
    gen = _serve(create_app(store, settings()))
    base = next(gen)
    logged: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
            page = browser.new_page(accept_downloads=True)
            page.on("console", lambda m: logged.append(m.text))
            page.on("popup", lambda popup: popup.on("console", lambda m: logged.append(m.text)))
            page.goto(base + "/login")
            page.fill("input[name=username]", "li")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.goto(f"{base}/cases/{row.case_no}")
            # Every anchor the page shows for a link taken from the mail body: click it.
            for anchor in page.query_selector_all("[data-testid=link]"):
                href = anchor.get_attribute("href") or ""
                if not href.startswith("http"):
                    anchor.click()
                    page.wait_for_timeout(300)
            # Every file as a staff member could reach it: the download URL, the old inline form, the preview.
            for a in files:
                for url in (f"/attachments/{a.id}", f"/attachments/{a.id}?inline=1", f"/attachments/{a.id}/preview"):
                    try:
                        page.goto(base + url, wait_until="load", timeout=5000)
                    except PlaywrightError:
                        pass  # "Download is starting": the browser saved the file instead of rendering it
                    page.wait_for_timeout(200)
            page.goto(f"{base}/cases/{row.case_no}")
            page.wait_for_timeout(500)
            hrefs = [a.get_attribute("href") or "" for a in page.query_selector_all("a")]
            shown = page.inner_text("body")
            browser.close()
    finally:
        next(gen, None)
    assert [m for m in logged if "XSS-" in m] == []
    assert hits == [], f"a stranger's script called the marker server: {hits}"
    # Only our own pages and the recognised webmails are anchors; the crafted links are shown as text.
    assert all(h.startswith("/") or re.match(r"https://[^/]*(163|126|qq)\.com/", h) for h in hrefs), hrefs
    assert "javascript" not in shown or "未识别的链接" in shown


def test_headers_signout_throttle_and_bad_queries(polled) -> None:  # type: ignore[no-untyped-def]
    store, _ = polled
    client = TestClient(create_app(store, settings()))
    page = client.get("/login")
    csp = page.headers["content-security-policy"]
    assert "script-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["referrer-policy"]
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert client.post("/login", data={"username": "li", "password": PASSWORD, "csrf": token},
                       follow_redirects=False).status_code == 303
    campaign_id = settings().campaign_id
    [row] = queries.list_cases(store, campaign_id, queries.CaseFilter(), tz=settings().tz, limit=5, offset=0)
    detail = queries.case_detail(store, campaign_id, row.case_no)
    svg = next(a for v in detail.versions for a in v.attachments if a.name.endswith(".svg"))
    for url in (f"/attachments/{svg.id}", f"/attachments/{svg.id}?inline=1"):
        r = client.get(url)
        assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
        assert r.headers["content-type"] == "application/octet-stream" and "sandbox" in r.headers[
            "content-security-policy"]
    assert client.get(f"/attachments/{svg.id}/preview").status_code == 404  # SVG is never drawn
    for bad in ("/cases?page=abc", "/cases?page=99999999999999999999", "/cases?from=2025-13-45",
                "/cases?status=%00", "/cases?q=%00abc", "/cases?category=99999999999999999999",
                "/attachments/99999999999999999999", "/attachments/-1", "/cases?region=" + "x" * 5000):
        assert client.get(bad).status_code in (400, 404), bad
    # Signing out ends the session on the server: a saved copy of the cookie no longer works.
    saved = dict(client.cookies)
    home = client.get("/")
    token = re.search(r'name="csrf" value="([^"]+)"', home.text).group(1)  # type: ignore[union-attr]
    assert client.post("/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
    client.cookies.update(saved)
    r = client.get("/cases", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_a_stranger_guessing_cannot_lock_staff_out() -> None:
    now = [1000.0]
    limiter = LoginLimiter(clock=lambda: now[0])
    for _ in range(20):
        if limiter.wait_seconds("li", "203.0.113.9") == 0:
            limiter.failed("li", "203.0.113.9")
        now[0] += 0.1
    assert limiter.wait_seconds("li", "203.0.113.9") > 0  # the guesser waits
    assert limiter.wait_seconds("li", "10.0.0.5") == 0  # li at her own desk does not
    delays = [limiter.delay(n) for n in range(5, 10)]
    assert delays == sorted(delays) and delays[-1] > delays[0]  # growing
