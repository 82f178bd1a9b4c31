"""Exports for the expert panel (real DOCX/PDF/JPEG/MP4 files), workbook safety, and the chart PNG."""

from __future__ import annotations

import csv
import hashlib
import warnings
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from PIL import Image
from sqlalchemy import update

from checks.domain import ACCEPTED_STATUSES
from ingest.staff.chart import find_cjk_font, render_chart
from ingest.staff.export import (
    ALL_CASES_SHEET,
    MANIFEST_NAME,
    display_width,
    export_accepted_files,
    export_workbook,
    safe_component,
    sheet_title,
    workbook_bytes,
)
from staff_factory import CAMPAIGN_ID, CATEGORIES, FileMaker, GeneratedData, fill_cases
from store import Store
from store.models import Attachment, Submission
from store.queries import campaign_stats, correct_fields

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def with_files(tmp_path: Path) -> Iterator[tuple[Store, GeneratedData]]:
    store = Store.open(f"sqlite:///{tmp_path / 'intake.db'}")
    data = fill_cases(store.engine, 14, seed=5, files=FileMaker(tmp_path / "spool"))
    try:
        yield store, data
    finally:
        store.close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_accepted_files_laid_out_for_the_panel(with_files: tuple[Store, GeneratedData], tmp_path: Path) -> None:
    store, data = with_files
    out = tmp_path / "评审材料"
    report = export_accepted_files(store, CAMPAIGN_ID, out)
    accepted = [c for c in data.cases if c.effective_status in ACCEPTED_STATUSES]
    assert accepted and len(accepted) < len(data.cases)
    assert report.problems == () and report.cases == len(accepted)
    expected: set[Path] = set()
    source_of: dict[Path, Path] = {}
    for c in accepted:
        folder = out / (c.category or "未识别类别") / (c.province or "未识别省份") / f"{c.organization}-{c.case_name}"
        for name, stored in c.files:
            target = folder / name  # "照片/活动1.jpg" keeps its folder
            assert stored is not None and _sha(target) == _sha(Path(stored)), target
            expected.add(target)
            source_of[target] = Path(stored)
    exported = {p for p in out.rglob("*") if p.is_file() and p.name != MANIFEST_NAME}
    assert exported == expected
    assert report.files == len(expected) and report.bytes == sum(p.stat().st_size for p in expected)
    with (out / MANIFEST_NAME).open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["受理编号", "原始文件名", "导出路径", "字节数"]
    assert {out / r[2] for r in rows[1:]} == expected
    photo = next(p for p in expected if p.suffix == ".jpg")
    with Image.open(photo) as im:
        assert im.format == "JPEG"

    again = export_accepted_files(store, CAMPAIGN_ID, out, link=True)  # re-export replaces, here by hard links
    assert again.files == report.files and again.linked == report.files
    assert all(target.stat().st_ino == source_of[target].stat().st_ino for target in expected)


def test_hostile_names_stay_inside_and_missing_files_are_reported(with_files: tuple[Store, GeneratedData],
                                                                 tmp_path: Path) -> None:
    store, data = with_files
    case = next(c for c in data.cases if c.effective_status in ACCEPTED_STATUSES and len(c.files) >= 4)
    correct_fields(store, CAMPAIGN_ID, case.case_no, {"organization": "../../上级目录", "case_name": "a/b\\c:d*?"},
                   actor="test")
    with store.session() as s, s.begin():
        sub_id = s.scalar(Submission.__table__.select().with_only_columns(Submission.id)
                          .where(Submission.case_id == case.id, Submission.version == case.current_version))
        ids = list(s.scalars(Attachment.__table__.select().with_only_columns(Attachment.id)
                             .where(Attachment.submission_id == sub_id, Attachment.kind == "file")
                             .order_by(Attachment.id)))
        s.execute(update(Attachment).where(Attachment.id == ids[0]).values(name="../../../../evil.docx"))
        s.execute(update(Attachment).where(Attachment.id == ids[1]).values(name="/etc/passwd.pdf"))
        s.execute(update(Attachment).where(Attachment.id == ids[2]).values(name="..\\..\\win.docx"))
    missing = Path(case.files[3][1] or "")
    missing.unlink()
    out = tmp_path / "out"
    report = export_accepted_files(store, CAMPAIGN_ID, out)
    root = out.resolve()
    for p in tmp_path.rglob("*"):
        if p.is_file() and "out" in p.parts and not p.resolve().is_relative_to(root):
            pytest.fail(f"written outside the export folder: {p}")
    folder = out / (case.category or "未识别类别") / (case.province or "未识别省份") / ".._.._上级目录-a_b_c_d__"
    names = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert {"evil.docx", "etc/passwd.pdf", "win.docx"} <= names
    assert [p for p in report.problems if case.case_no in p and "找不到" in p]
    assert not (tmp_path / "evil.docx").exists() and not (tmp_path.parent / "evil.docx").exists()


def test_path_and_sheet_names_are_sanitised() -> None:
    assert safe_component("..") == "_" and safe_component("  ") == "_"
    assert safe_component('a/b\\c:d*e?f"g<h>i|j') == "a_b_c_d_e_f_g_h_i_j"
    long = safe_component("很" * 200 + ".docx")
    assert len(long) == 80 and long.endswith(".docx")
    taken: set[str] = set()
    assert sheet_title("“五育并举”育人", taken) == "“五育并举”育人"
    weird = sheet_title("[思政]:课*改革?创新/一体化\\" * 3, taken)
    assert len(weird) <= 31 and not set(weird) & set("[]:*?/\\")
    assert sheet_title("“五育并举”育人", taken) == "“五育并举”育人(2)"
    assert display_width("浙江省abc") == 9


def test_workbook_writes_subject_text_as_text(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'intake.db'}")
    data = fill_cases(store.engine, 8, seed=3)
    first, second = data.cases[0], data.cases[1]
    correct_fields(store, CAMPAIGN_ID, first.case_no, {"case_name": '=HYPERLINK("http://x.example","点我")'},
                   actor="test")
    correct_fields(store, CAMPAIGN_ID, second.case_no, {"organization": "响铃\x07学校"}, actor="test")
    out = tmp_path / "汇总表.xlsx"
    export_workbook(store, CAMPAIGN_ID, out, tz=TZ, categories=CATEGORIES)
    store.close()
    ws = openpyxl.load_workbook(out)[ALL_CASES_SHEET]
    rows = {ws.cell(row=r, column=1).value: r for r in range(2, ws.max_row + 1)}
    cell = ws.cell(row=rows[first.case_no], column=5)
    assert cell.data_type == "s" and cell.value == '=HYPERLINK("http://x.example","点我")'
    assert ws.cell(row=rows[second.case_no], column=4).value == "响铃学校"
    widths = {k: v.width for k, v in ws.column_dimensions.items()}
    # Excel stores a width of n characters with its 5 px of padding (7 px a digit): n + 5/7
    assert widths["A"] >= 16 and widths["L"] <= 70 + 5 / 7


def test_chart_png_with_chinese_font_and_fallback(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'intake.db'}")
    fill_cases(store.engine, 300, seed=9)
    stats = campaign_stats(store, CAMPAIGN_ID, tz=TZ, top_reasons=1)
    store.close()
    font = find_cjk_font()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = render_chart(stats.by_day, stats.by_category, tmp_path / "收件统计.png", title="2025年案例征集")
    assert report.font == font and report.days == len(stats.by_day) and report.categories == len(stats.by_category)
    if font is not None:  # every Chinese glyph was found (no tofu boxes)
        assert not [w for w in caught if "missing from font" in str(w.message)]
    english = render_chart(stats.by_day, stats.by_category, tmp_path / "en.png", title="2025年案例征集",
                           use_cjk=False)
    assert english.font is None
    for path in (report.path, english.path):
        with Image.open(path) as im:
            assert im.format == "PNG" and im.size == (1320, 1100)
            assert len(im.convert("L").getcolors(256) or []) > 20  # something was drawn
    empty = render_chart((), (), tmp_path / "empty.png", title="x")
    assert empty.path.stat().st_size > 0 and (empty.days, empty.categories) == (0, 0)


def test_chart_day_axis_has_one_labelled_tick_per_day_and_whole_counts() -> None:
    import matplotlib.pyplot as plt

    from ingest.staff.chart import ENGLISH, _per_category, _per_day
    from store.queries import Count

    days = [Count("2025-11-30", "11-30", 1), Count("2025-12-01", "12-01", 2), Count("2025-12-02", "12-02", 1)]
    fig, (ax, ax_cat) = plt.subplots(2, 1)
    try:
        _per_day(ax, days, ENGLISH)
        _per_category(ax_cat, [Count("1", "思政课改革创新", 3), Count("2", "教育数字化", 1)], ENGLISH, chinese=False)
        fig.canvas.draw()
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert labels == ["11-30", "12-01", "12-02"]
        assert all(float(t).is_integer() for t in ax.get_yticks())
        assert all(float(t).is_integer() for t in ax_cat.get_xticks())
        single, ax1 = plt.subplots()
        _per_day(ax1, days[:1], ENGLISH)
        single.canvas.draw()
        assert [t.get_text() for t in ax1.get_xticklabels() if t.get_text()] == ["11-30"]
        plt.close(single)
    finally:
        plt.close(fig)


def test_console_download_is_the_same_workbook(tmp_path: Path) -> None:
    """The web console's download (written in memory) holds the sheets and cells of `intake export --xlsx`."""
    import io

    store = Store.open(f"sqlite:///{tmp_path / 'intake.db'}")
    fill_cases(store.engine, 12, seed=5)
    out = tmp_path / "汇总表.xlsx"
    export_workbook(store, CAMPAIGN_ID, out, tz=TZ, categories=CATEGORIES)
    data = workbook_bytes(store, CAMPAIGN_ID, tz=TZ, categories=CATEGORIES)
    store.close()
    on_disk, downloaded = openpyxl.load_workbook(out), openpyxl.load_workbook(io.BytesIO(data))
    assert downloaded.sheetnames == on_disk.sheetnames
    for name in on_disk.sheetnames:
        assert [list(r) for r in downloaded[name].iter_rows(values_only=True)] == \
            [list(r) for r in on_disk[name].iter_rows(values_only=True)]
    assert downloaded[ALL_CASES_SHEET].max_row == 13 and downloaded[ALL_CASES_SHEET].freeze_panes == "A2"
