"""Issue 7 acceptance: 10,000 generated cases on SQLite and PostgreSQL; statistics, lists and the
汇总表 workbook checked against what the generator wrote (computed here, independently of the SQL)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from checks.domain import SubmissionStatus, SubmitterKind
from checks.rules.quota import Quota, QuotaGroup
from ingest.staff.export import ALL_CASES_SHEET, COLUMNS, export_workbook
from ingest.staff.output import quota_overruns
from servers import create_database, drop_database
from staff_factory import CATEGORIES, GeneratedCase, GeneratedData, fill_cases
from store import Store
from store.queries import (
    CaseFilter,
    campaign_stats,
    count_cases,
    list_cases,
)

TZ = ZoneInfo("Asia/Shanghai")
N = 10_000


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def big(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, GeneratedData]]:
    """One database of 10,000 cases per backend, shared by the read-only tests of this module."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('big') / 'intake.db'}"
    else:
        url = create_database(request.getfixturevalue("postgres_server"))
    store = Store.open(url)
    data = fill_cases(store.engine, N, seed=2025)
    try:
        yield store, data
    finally:
        store.close()
        if request.param != "sqlite":
            drop_database(url)


def test_statistics_match_independent_counts(big: tuple[Store, GeneratedData]) -> None:
    store, data = big
    cases = data.cases
    stats = campaign_stats(store, data.campaign_id, tz=TZ, top_reasons=None)

    assert stats.total == N
    assert {c.key: c.count for c in stats.by_category} == dict(Counter(
        "" if c.category_no is None else str(c.category_no) for c in cases))
    assert {c.label for c in stats.by_category} >= {name for _, name in CATEGORIES}
    assert {c.key: c.count for c in stats.by_province} == dict(Counter(c.province or "" for c in cases))
    assert {c.key: c.count for c in stats.by_status} == dict(Counter(c.effective_status for c in cases))
    assert {c.key: c.label for c in stats.by_status} == {k: SubmissionStatus(k).label for k in Counter(
        c.effective_status for c in cases)}
    assert {c.key: c.count for c in stats.by_submitter_kind} == dict(Counter(c.submitter_kind or "" for c in cases))
    # Days in Beijing time: a case at 17:30 UTC belongs to the next local day.
    assert {c.key: c.count for c in stats.by_day} == dict(Counter(
        c.first_received_at.astimezone(TZ).date().isoformat() for c in cases))
    assert [c.key for c in stats.by_day] == sorted(c.key for c in stats.by_day)
    expected_reasons: Counter[tuple[str, str, str]] = Counter()
    for c in cases:
        for rule, clause, severity in {(r, cl, s) for r, cl, s, _ in c.failed}:  # current version only
            expected_reasons[(rule, clause, severity)] += 1
    assert {(r.rule, r.clause, r.severity): r.cases for r in stats.failure_reasons} == dict(expected_reasons)
    counts = [r.cases for r in stats.failure_reasons]
    assert counts == sorted(counts, reverse=True)


def test_older_versions_do_not_count(big: tuple[Store, GeneratedData]) -> None:
    """A rule that failed only on a superseded version is not among the current failure reasons."""
    store, data = big
    stats = campaign_stats(store, data.campaign_id, tz=TZ, top_reasons=None)
    reasons = {(r.rule, r.clause): r.cases for r in stats.failure_reasons}
    including_old = Counter(r for c in data.cases for r, _, _, _ in set(c.failed) | set(c.older_failed))
    assert any(including_old[rule] > reasons.get((rule, clause), 0) for rule, clause in reasons)


def _expected_quota(cases: tuple[GeneratedCase, ...], rules: QuotaGroup) -> dict[str, dict[str, str | None]]:
    """Per province: case number → None (counts) / "category" / "total", by ranks over arrival order."""
    by_province: dict[str, list[GeneratedCase]] = defaultdict(list)
    for c in cases:
        if c.submitter_kind == rules.submitter_kind and c.province:
            by_province[c.province].append(c)
    out: dict[str, dict[str, str | None]] = {}
    for province, group in by_province.items():
        group.sort(key=lambda c: (c.first_received_at, c.id))
        category_rank = {c.case_no: sum(1 for d in group[:i] if d.category_no == c.category_no and
                                        c.category_no is not None) + 1 for i, c in enumerate(group)}
        within = [c for c in group if c.category_no is None or category_rank[c.case_no] <= rules.per_category_max]
        verdict: dict[str, str | None] = {c.case_no: "category" for c in group if c not in within}
        verdict.update({c.case_no: None if i < rules.total_max else "total" for i, c in enumerate(within)})
        per_cat = Counter(c.category_no for c in group if c.category_no is not None)
        if len(group) > rules.total_max or any(n > rules.per_category_max for n in per_cat.values()):
            out[province] = verdict
    return out


@pytest.mark.parametrize("rules", [QuotaGroup("省级教育行政部门推荐", "province", "province", 2, 10),
                                   QuotaGroup("省级教育行政部门推荐", "province", "province", 1, 5)])
def test_quota_overruns_match_independent_ranking(big: tuple[Store, GeneratedData], rules: QuotaGroup) -> None:
    store, data = big
    overruns = quota_overruns(store, data.campaign_id, Quota((rules,)))
    expected = _expected_quota(data.cases, rules)
    assert expected, "the generator should put some provinces over the quota"
    assert {o.key: {c.case_no: c.exceeds for c in o.cases} for o in overruns} == expected
    for o in overruns:
        assert [c.first_received_at for c in o.cases] == sorted(c.first_received_at for c in o.cases)
        assert len(o.counted) <= rules.total_max
        assert o.total == len(o.cases)


def _filter(cases: tuple[GeneratedCase, ...], **kw: Any) -> set[str]:
    out = set()
    for c in cases:
        local_day = c.first_received_at.astimezone(TZ).date()
        if "status" in kw and c.effective_status != kw["status"]:
            continue
        if "category_no" in kw and c.category_no != kw["category_no"]:
            continue
        if "region" in kw and not any(kw["region"] in (p or "") for p in (c.province, c.city)):
            continue
        if "day_from" in kw and local_day < kw["day_from"]:
            continue
        if "day_to" in kw and local_day > kw["day_to"]:
            continue
        if "text" in kw and not any(kw["text"] in (p or "") for p in (c.case_name, c.organization)):
            continue
        out.add(c.case_no)
    return out


def test_list_filters_match(big: tuple[Store, GeneratedData]) -> None:
    store, data = big
    cid = data.campaign_id
    day_from, day_to = date(2025, 9, 10), date(2025, 9, 20)
    checks: list[tuple[CaseFilter, dict[str, Any]]] = [
        (CaseFilter(status="needs_review"), dict(status="needs_review")),
        (CaseFilter(category_no=6, region="浙江"), dict(category_no=6, region="浙江")),
        (CaseFilter(region="杭州"), dict(region="杭州")),
        (CaseFilter(received_from=day_from, received_to=day_to), dict(day_from=day_from, day_to=day_to)),
        (CaseFilter(text="劳动"), dict(text="劳动")),
        (CaseFilter(text="教育厅", status="accepted"), dict(text="教育厅", status="accepted")),
        (CaseFilter(text="100%_"), dict(text="100%_")),  # LIKE wildcards are plain text
    ]
    for filt, kw in checks:
        got = list_cases(store, cid, filt, tz=TZ)
        assert {r.case_no for r in got} == _filter(data.cases, **kw), filt
        assert count_cases(store, cid, filt, tz=TZ) == len(got)
        assert [(r.first_received_at, r.case_id) for r in got] == sorted((r.first_received_at, r.case_id) for r in got)


def test_list_rows_carry_current_version_figures(big: tuple[Store, GeneratedData]) -> None:
    store, data = big
    rows = {r.case_no: r for r in list_cases(store, data.campaign_id, tz=TZ)}
    assert len(rows) == N
    for c in data.cases:
        r = rows[c.case_no]
        assert (r.photos, r.failed_findings, r.current_version) == (c.photos, len(c.failed), c.current_version)
        assert r.video_seconds == pytest.approx(c.video_seconds) if c.video_seconds is not None else \
            r.video_seconds is None
        assert (r.status, r.checked_status) == (c.effective_status, c.status)
    assert len(list_cases(store, data.campaign_id, limit=25, offset=10)) == 25


def test_workbook_cell_by_cell(big: tuple[Store, GeneratedData], tmp_path: Path) -> None:
    """The whole 10,000-case workbook on SQLite; on PostgreSQL the same export of one region's cases
    (the queries behind it are the ones checked above on both; writing and re-reading 20,000 rows
    twice would only double the time)."""
    store, data = big
    whole = store.engine.dialect.name == "sqlite"
    filt = CaseFilter() if whole else CaseFilter(region="江")
    cases = tuple(c for c in data.cases if whole or _filter((c,), region="江"))
    out = tmp_path / "汇总表.xlsx"
    report = export_workbook(store, data.campaign_id, out, tz=TZ, categories=CATEGORIES, filt=filt)
    assert report.cases == len(cases) and (len(cases) == N if whole else 500 < len(cases) < N)
    wb = openpyxl.load_workbook(out)  # not read-only: frozen panes and widths are checked too
    names = [name for _, name in CATEGORIES]
    unknown = ["未识别类别"] if any(c.category_no is None for c in cases) else []
    assert wb.sheetnames == [ALL_CASES_SHEET, *names, *unknown] and (unknown or not whole)
    ws = wb[ALL_CASES_SHEET]
    assert [c.value for c in ws[1]] == [c[0] for c in COLUMNS]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:O{len(cases) + 1}"
    assert all(ws.column_dimensions[letter].width >= 5 for letter in "ABCDEFGHIJKLMNO")
    row_of = {ws.cell(row=r, column=1).value: r for r in range(2, ws.max_row + 1)}
    assert set(row_of) == {c.case_no for c in cases}
    rng = random.Random(7)
    sample = rng.sample(cases, 60) + [c for c in cases if c.override_status][:5] + \
        [c for c in cases if c.province is None][:5]
    for c in sample:
        cells = [ws.cell(row=row_of[c.case_no], column=i + 1) for i in range(len(COLUMNS))]
        values = [cell.value for cell in cells]
        expected_findings = "\n".join(f"【{'退回' if s == 'reject' else '提醒'}】{cl} {m}" for _, cl, s, m in c.failed)
        assert values[:8] == [c.case_no, c.province, c.city, c.organization, c.case_name, c.category,
                              SubmitterKind.label_of(c.submitter_kind, "") or None,
                              SubmissionStatus(c.effective_status).label]
        assert values[8] == c.first_received_at.astimezone(TZ).replace(tzinfo=None)
        assert cells[8].number_format == "yyyy-mm-dd hh:mm"
        assert values[9] == c.photos
        if c.video_seconds is None:
            assert values[10] is None
        else:
            assert values[10] == timedelta(seconds=round(c.video_seconds))
        assert (values[11] or "") == expected_findings
        assert values[12] == ("专家组复核后改判" if c.override_status else None)
        assert values[13] == c.current_version
    for no, name in CATEGORIES:
        sheet = wb[name]
        assert sheet.freeze_panes == "A2"
        got = {sheet.cell(row=r, column=1).value for r in range(2, sheet.max_row + 1)}
        assert got == {c.case_no for c in cases if c.category_no == no}
        assert all(sheet.cell(row=r, column=6).value == name for r in range(2, min(sheet.max_row, 50) + 1))


def test_received_time_is_local_naive(big: tuple[Store, GeneratedData]) -> None:
    """A case received at 16:30 UTC shows as 00:30 the next day in Beijing: the list's day filter agrees."""
    store, data = big
    late = next(c for c in data.cases if c.first_received_at.hour >= 16 and c.province)
    local = late.first_received_at.astimezone(TZ)
    assert local.date() == late.first_received_at.date() + timedelta(days=1)
    rows = list_cases(store, data.campaign_id, CaseFilter(received_from=local.date(), received_to=local.date(),
                                                          case_nos=(late.case_no,)), tz=TZ)
    assert [r.case_no for r in rows] == [late.case_no]
    assert isinstance(rows[0].first_received_at, datetime) and rows[0].first_received_at.tzinfo is not None
