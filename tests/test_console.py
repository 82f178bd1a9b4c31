"""The staff console: sign-in, CSRF, roles, and the numbers it shows, over HTTP and in a real Chromium."""

from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import uvicorn
from sqlalchemy import create_engine
from starlette.testclient import TestClient

from checks.rules.quota import Quota, QuotaGroup
from console.app import ConsoleServices, ConsoleSettings, create_app
from console.auth import StaffUser, hash_password
from ingest.staff.output import quota_overruns
from staff_factory import CAMPAIGN_ID, FileMaker, fill_cases
from store import Store, queries

CATEGORIES = ((1, "思政课改革创新"), (3, "“五育并举”育人"), (6, "人工智能教育"))
PASSWORD = "correct horse battery"


@functools.cache
def password_hash() -> str:
    """One real argon2 hash for the module (each costs ~0.3 s of CPU: made once, not per settings())."""
    return hash_password(PASSWORD)


def users() -> dict[str, StaffUser]:
    h = password_hash()
    return {"li": StaffUser("li", "reviewer", h), "zhao": StaffUser("zhao", "viewer", h)}


def settings(**kw: object) -> ConsoleSettings:
    base = dict(campaign_id=CAMPAIGN_ID, campaign_name="2025年中国基础教育创新案例征集", timezone="Asia/Shanghai",
                users=users(), secret_key="s" * 48, https_only=False, categories=CATEGORIES)
    base.update(kw)
    return ConsoleSettings(**base)  # type: ignore[arg-type]


def _fill(db_url: str, files: FileMaker | None) -> tuple[Store, object]:
    store = Store.open(db_url)
    engine = create_engine(db_url)
    data = fill_cases(engine, 120, files=files)
    engine.dispose()
    return store, data


@pytest.fixture
def filled(db_url: str) -> Iterator[tuple[Store, object]]:
    store, data = _fill(db_url, None)
    yield store, data
    store.close()


@pytest.fixture
def filled_with_files(db_url: str, tmp_path: Path) -> Iterator[tuple[Store, object]]:
    """Real files behind the attachments (FileMaker writes real JPEG/DOCX/PDF/MP4), for downloads."""
    store, data = _fill(db_url, FileMaker(tmp_path / "files"))
    yield store, data
    store.close()


def login(client: TestClient, user: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    r = client.post("/login", data={"username": user, "password": PASSWORD, "csrf": token.group(1)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    home = client.get("/")
    found = re.search(r'name="csrf" value="([^"]+)"', home.text)
    assert found
    return found.group(1)


def test_nothing_is_visible_without_signing_in(filled) -> None:  # type: ignore[no-untyped-def]
    store, _ = filled
    client = TestClient(create_app(store, settings()))
    for path in ("/", "/cases", "/cases/JCJY2025-000001", "/attachments/1", "/export.xlsx"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path


def test_wrong_password_and_rate_limit(filled) -> None:  # type: ignore[no-untyped-def]
    store, _ = filled
    client = TestClient(create_app(store, settings()))
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    codes = [client.post("/login", data={"username": "li", "password": "nope", "csrf": token}).status_code
             for _ in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]


def test_post_without_csrf_token_is_refused(filled) -> None:  # type: ignore[no-untyped-def]
    store, _ = filled
    client = TestClient(create_app(store, settings()))
    login(client, "li")
    r = client.post("/cases/JCJY2025-000001/override", data={"status": "accepted", "reason": "x"})
    assert r.status_code == 403
    r = client.post("/cases/JCJY2025-000001/override", data={"status": "accepted", "reason": "x", "csrf": "forged"})
    assert r.status_code == 403


def test_viewer_cannot_override_reviewer_can(filled) -> None:  # type: ignore[no-untyped-def]
    store, _ = filled
    viewer = TestClient(create_app(store, settings()))
    token = login(viewer, "zhao")
    r = viewer.post("/cases/JCJY2025-000002/override", data={"status": "accepted", "reason": "复核无误", "csrf": token})
    assert r.status_code == 403
    reviewer = TestClient(create_app(store, settings()))
    token = login(reviewer, "li")
    r = reviewer.post("/cases/JCJY2025-000002/override",
                      data={"status": "rejected", "reason": "照片为网络图片", "csrf": token}, follow_redirects=True)
    assert r.status_code == 200 and "照片为网络图片" in r.text
    detail = queries.case_detail(store, CAMPAIGN_ID, "JCJY2025-000002")
    assert detail.case.status == "rejected"
    assert any(e.action == "case.override" and e.actor == "li" for e in detail.events)


def test_dashboard_numbers_equal_the_database(filled) -> None:  # type: ignore[no-untyped-def]
    store, data = filled
    quota = Quota((QuotaGroup("各省报送", "", "province", 1, 5),))  # every case counts: some provinces are over
    overruns = quota_overruns(store, CAMPAIGN_ID, quota)
    client = TestClient(create_app(store, settings(), ConsoleServices(quota_overruns=lambda: (quota, overruns))))
    login(client, "zhao")
    page = client.get("/").text
    stats = queries.campaign_stats(store, CAMPAIGN_ID, tz=settings().tz)
    assert overruns and "各省报送：超出推荐名额（每类不超过1个，总数不超过5个）" in page
    for o in overruns:
        assert f"<td>{o.key}</td><td>{o.total}</td>" in page
        assert all(f'<a href="/cases/{c.case_no}">' in page for c in o.exceeding)
    assert f'data-testid="total"><div class="muted">案例总数</div><div class="n">{stats.total}</div>' in page
    assert stats.total == len(data.cases)  # type: ignore[attr-defined]
    for c in stats.by_status:
        assert re.search(rf'data-testid="status-{c.key}">.*?<a href="/cases\?status={c.key}">{c.count}</a>', page,
                         re.S)


def test_list_filters_and_paging(filled) -> None:  # type: ignore[no-untyped-def]
    store, _ = filled
    client = TestClient(create_app(store, settings()))
    login(client, "zhao")
    page = client.get("/cases?status=needs_review").text
    expected = queries.count_cases(store, CAMPAIGN_ID, queries.CaseFilter(status="needs_review"))
    assert f'data-testid="total">{expected}</span>' in page
    first = client.get("/cases").text
    assert 'data-testid="next"' in first and "第 1 / 3 页" in first


def test_download_gives_the_original_bytes_and_name(filled_with_files) -> None:  # type: ignore[no-untyped-def]
    store, _ = filled_with_files
    client = TestClient(create_app(store, settings()))
    login(client, "zhao")
    detail = queries.case_detail(store, CAMPAIGN_ID, "JCJY2025-000003")
    att = next(a for v in detail.versions for a in v.attachments if a.kind == "file" and a.stored_path)
    r = client.get(f"/attachments/{att.id}")
    assert r.status_code == 200
    assert r.content == Path(att.stored_path).read_bytes()  # type: ignore[arg-type]
    assert "filename*=utf-8''" in r.headers["content-disposition"].lower()


# ---- a real browser --------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_console(filled_with_files) -> Iterator[tuple[str, Store]]:  # type: ignore[no-untyped-def]
    store, _ = filled_with_files
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store, settings()), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", store
    server.should_exit = True
    thread.join(timeout=10)


CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (scripts/install-system-deps.sh)")
def test_staff_journey_in_chromium(live_console, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    base, store = live_console
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(accept_downloads=True)
        page.goto(base + "/")
        page.fill("input[name=username]", "li")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        stats = queries.campaign_stats(store, CAMPAIGN_ID, tz=settings().tz)
        assert page.inner_text("[data-testid=total] .n") == str(stats.total)
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

        page.goto(base + "/cases")
        page.select_option("select[name=status]", "rejected")
        page.click("form.filters button[type=submit]")
        rejected = queries.count_cases(store, CAMPAIGN_ID, queries.CaseFilter(status="rejected"))
        assert page.inner_text("h1 [data-testid=total]") == str(rejected)

        page.click("table[data-testid=cases] tr:nth-child(2) a")
        case_no = page.inner_text("h1").split()[0]
        with page.expect_download() as dl:
            page.click("[data-testid=download] >> nth=0")
        download = dl.value
        saved = tmp_path / "dl.bin"
        download.save_as(saved)
        detail = queries.case_detail(store, CAMPAIGN_ID, case_no)
        first = next(a for v in reversed(detail.versions) for a in v.attachments if a.kind == "file")
        assert saved.read_bytes() == Path(first.stored_path).read_bytes()  # type: ignore[arg-type]

        page.select_option("[data-testid=override-form] select[name=status]", "accepted")
        page.fill("[data-testid=override-form] input[name=reason]", "专家复核：材料齐全")
        page.click("[data-testid=override-form] button")
        assert "已改判" in page.inner_text(".flash")
        assert "专家复核：材料齐全" in page.inner_text("[data-testid=events]")
        page.screenshot(path=str(tmp_path / "case.png"), full_page=True)
        browser.close()
    shots = os.environ.get("INTAKE_SCREENSHOTS")
    if shots:  # `INTAKE_SCREENSHOTS=docs/screenshots pytest -k chromium` refreshes the pictures in docs/
        Path(shots).mkdir(parents=True, exist_ok=True)
        for name in ("dashboard.png", "case.png"):
            shutil.copy(tmp_path / name, Path(shots) / name)
