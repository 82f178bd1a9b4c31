"""What staff hand on: the 汇总表 workbook (XlsxWriter) and the accepted cases' files for the expert panel.

Workbook: one sheet of every case and one per category, header frozen, filters on, widths fitted
to Chinese text, received times as real Excel datetimes in the campaign's local time (naive: Excel
has no time zones), video length as an Excel duration. Text from mail subjects is written as text,
never as a formula (a case name starting with "=" must not run in Excel/WPS). XlsxWriter in its
constant-memory mode streams each row to disk as it is written: 10,000 cases (20,000 rows) take about half
the time openpyxl's write-only mode took, and memory stays flat.

Files: ``类别/省份/单位-案例名称/<original name>``; every path component is sanitised and the
result is checked to lie inside the target folder.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Sequence

import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from checks.domain import Severity, SubmissionStatus, SubmitterKind
from store.queries.lists import CaseFilter, CaseRow, failed_findings_by_case, list_cases
from store.queries.names import UNKNOWN_CATEGORY, UNKNOWN_PROVINCE

if TYPE_CHECKING:  # the workbook reads plain SQL (store.queries.lists); the panel's files go through the ORM
    from store import Store
    from store.queries.cases import CaseFile
    from store.reader import Reader

ALL_CASES_SHEET = "全部案例"
# (header, minimum width, maximum width) in Excel character units; a CJK character takes two.
COLUMNS: tuple[tuple[str, int, int], ...] = (
    ("受理编号", 16, 18), ("省份", 8, 18), ("市/县", 8, 16), ("单位", 12, 36), ("案例名称", 16, 48),
    ("类别", 10, 20), ("报送方式", 9, 10), ("状态", 9, 18), ("收件时间", 17, 17), ("照片数", 7, 8),
    ("视频时长", 9, 10), ("审查意见", 20, 70), ("人工改判理由", 12, 40), ("版本", 5, 6), ("发件人", 16, 32),
)
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DURATION_FORMAT = "[m]:ss"
MAX_CELL_CHARS = 32767  # Excel's limit for one cell
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
# Control characters XML 1.0 (and so a workbook) cannot hold.
_ILLEGAL_CHARACTERS = re.compile(r"[\000-\010\013\014\016-\037]")


@dataclass(frozen=True)
class WorkbookReport:
    """The workbook written: its path, how many cases and which sheets."""

    path: Path
    cases: int
    sheets: tuple[str, ...]


_WIDE = frozenset(("W", "F"))


def display_width(text: str) -> int:
    """Width in Excel character units: East Asian wide/full-width characters count two. (C iterators only:
    the export measures every line of every cell.)"""
    return len(text) + sum(map(_WIDE.__contains__, map(unicodedata.east_asian_width, text)))


def sheet_title(name: str, taken: set[str]) -> str:
    """A legal, unique sheet name: ≤31 characters, none of []:*?/\\, no leading/trailing apostrophe."""
    base = _SHEET_FORBIDDEN.sub("", name).strip().strip("'") or "类别"
    title = base[:31]
    n = 2
    while title.lower() in {t.lower() for t in taken}:
        suffix = f"({n})"
        title = base[:31 - len(suffix)] + suffix
        n += 1
    taken.add(title)
    return title


def _text(value: str | None) -> str:
    if not value:
        return ""
    return _ILLEGAL_CHARACTERS.sub("", value)[:MAX_CELL_CHARS]


def findings_text(findings: Sequence[tuple[str, str, str]]) -> str:
    """Failed findings as lines like '【退回】四.4(4) 照片“活动1.jpg”小于 2 MB'."""
    return "\n".join(f"【{Severity.label_of(sev)}】{clause} {message}".strip()
                     for sev, clause, message in findings)


def row_values(row: CaseRow, findings: Sequence[tuple[str, str, str]], tz: tzinfo) -> list[Any]:
    """One case as the cells of a summary row (same order as COLUMNS)."""
    video = timedelta(seconds=round(row.video_seconds)) if row.video_seconds is not None else None
    who = row.identity
    return [
        row.case_no, _text(who.province), _text(who.city), _text(who.organization), _text(who.case_name),
        _text(who.category), SubmitterKind.label_of(who.submitter_kind, ""),
        SubmissionStatus.label_of(row.status), row.first_received_at.astimezone(tz).replace(tzinfo=None), row.photos, video,
        _text(findings_text(findings)), _text(row.override_reason), row.current_version, _text(row.sender),
    ]


def text_widths(values: Sequence[Any]) -> tuple[int, ...]:
    """Per cell, the width of its longest line of text (0 for numbers, times and empty cells)."""
    out = []
    for value in values:
        if isinstance(value, str) and value:
            lines = value.splitlines() or [value]
            out.append(max(len(line) if line.isascii() else display_width(line) for line in lines))
        else:
            out.append(0)
    return tuple(out)


def _column_widths(widths: Sequence[tuple[int, ...]]) -> list[int]:
    """Widths fitted to the longest line of text per column, within each column's bounds."""
    fitted = [display_width(c[0]) + 2 for c in COLUMNS]
    for row in widths:
        fitted = [max(f, w + 1) for f, w in zip(fitted, row)]
    return [max(lo, min(hi, w)) for w, (_, lo, hi) in zip(fitted, COLUMNS)]


class _Formats:
    """Cell formats, made once per workbook."""

    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        self.header = wb.add_format({"bold": True, "pattern": 1, "bg_color": "#DDEBF7", "align": "center",
                                     "valign": "vcenter"})
        self.wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        self.datetime = wb.add_format({"num_format": DATETIME_FORMAT})
        self.duration = wb.add_format({"num_format": DURATION_FORMAT})


def _fill_sheet(ws: Worksheet, rows: Sequence[tuple[list[Any], tuple[int, ...]]], formats: _Formats) -> None:
    """Stream the rows into the sheet, one after another (constant-memory mode writes each row to disk as the
    next begins). Text is always written as text, never as a formula; empty cells are not written."""
    for i, width in enumerate(_column_widths([w for _, w in rows])):
        ws.set_column(i, i, width)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, len(rows), len(COLUMNS) - 1)
    for col, (title, _, _) in enumerate(COLUMNS):
        ws.write_string(0, col, title, formats.header)
    for r, (values, _) in enumerate(rows, 1):
        for c, value in enumerate(values):
            if value is None or value == "":
                continue
            if isinstance(value, str):
                ws.write_string(r, c, value, formats.wrap if "\n" in value else None)
            elif isinstance(value, (datetime, timedelta)):
                ws.write_datetime(r, c, value, formats.datetime if isinstance(value, datetime) else formats.duration)
            else:
                ws.write_number(r, c, value)


def write_workbook(target: str | IO[bytes], rows: Sequence[CaseRow], findings: dict[int, list[tuple[str, str, str]]],
                   categories: Sequence[tuple[int, str]], tz: tzinfo) -> tuple[str, ...]:
    """Write the 汇总表 to ``target`` (a path or a binary stream): every case, then one sheet per configured
    category (in the call's order), then cases whose category was not recognised. Returns the sheet names."""
    in_memory = not isinstance(target, str)
    wb = xlsxwriter.Workbook(target, {"constant_memory": not in_memory, "in_memory": in_memory,
                                      "strings_to_numbers": False, "strings_to_formulas": False,
                                      "strings_to_urls": False})
    formats = _Formats(wb)
    taken: set[str] = set()
    values = {}
    for r in rows:  # each case's cells and their text widths, once for both sheets it appears on
        cells = row_values(r, findings.get(r.case_id, ()), tz)
        values[r.case_id] = (cells, text_widths(cells))
    sheets = [(ALL_CASES_SHEET, [values[r.case_id] for r in rows])]
    known = {no for no, _ in categories}
    sheets += [(name, [values[r.case_id] for r in rows if r.identity.category_no == no]) for no, name in categories]
    unknown = [values[r.case_id] for r in rows if r.identity.category_no not in known]
    if unknown:
        sheets.append((UNKNOWN_CATEGORY, unknown))
    for name, sheet_rows in sheets:
        _fill_sheet(wb.add_worksheet(sheet_title(name, taken)), sheet_rows, formats)
    wb.close()
    return tuple(ws.get_name() for ws in wb.worksheets())


def workbook_bytes(store: Reader, campaign_id: str, *, tz: tzinfo, categories: Sequence[tuple[int, str]],
                   filt: CaseFilter = CaseFilter()) -> bytes:
    """The 汇总表 of the cases matching `filt` (all by default) as .xlsx bytes (a download in the web console)."""
    buf = io.BytesIO()
    write_workbook(buf, list_cases(store, campaign_id, filt, tz=tz), failed_findings_by_case(store, campaign_id),
                   categories, tz)
    return buf.getvalue()


def export_workbook(store: Reader, campaign_id: str, out: Path, *, tz: tzinfo,
                    categories: Sequence[tuple[int, str]], filt: CaseFilter = CaseFilter()) -> WorkbookReport:
    """Write the 汇总表 of the cases matching `filt` to `out` atomically (a half-written file never replaces a
    good one)."""
    rows = list_cases(store, campaign_id, filt, tz=tz)
    findings = failed_findings_by_case(store, campaign_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".汇总表-", suffix=".xlsx", dir=out.parent)
    os.close(fd)
    try:
        sheets = write_workbook(tmp, rows, findings, categories, tz)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return WorkbookReport(out, len(rows), sheets)


# ---- files for the expert panel -----------------------------------------------------------------

MANIFEST_NAME = "清单.csv"
_PATH_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f-\x9f]')  # also what Windows refuses
# Bidi controls make "图1\u202egpj.exe" show as "图1exe.jpg" in a file manager: never in an exported name.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Names Windows reserves for devices, with any suffix ("CON.docx" cannot be created or opened there).
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$", re.I)
MAX_COMPONENT_CHARS = 80
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def formula_safe(value: Any) -> Any:
    """A spreadsheet cell that Excel/WPS would run as a formula (=, +, -, @, or a tab/CR before one) gets a
    leading apostrophe; every CSV the project writes goes through this (issue 15 §6)."""
    if isinstance(value, str) and value.lstrip(" ")[:1] in _FORMULA_START:
        return "'" + value
    return value


@dataclass(frozen=True)
class FilesReport:
    """The accepted files laid out for the experts: where, how many cases, files and bytes, and what could not be
    placed."""

    out_dir: Path
    cases: int
    files: int
    bytes: int
    linked: int  # hard links instead of copies
    problems: tuple[str, ...]  # plain Chinese, one per file that could not be placed


def safe_component(name: str, fallback: str = "_") -> str:
    """One path component: no separators, no characters Windows refuses, no '.'/'..', not too long
    (keeping the file suffix)."""
    cleaned = _PATH_FORBIDDEN.sub("_", _BIDI.sub("", unicodedata.normalize("NFC", name))).strip().rstrip(". ")
    if cleaned in {"", ".", ".."}:
        cleaned = fallback
    if _WINDOWS_RESERVED.match(cleaned):
        cleaned = "_" + cleaned
    if len(cleaned) > MAX_COMPONENT_CHARS:
        stem, dot, suffix = cleaned.rpartition(".")
        if dot and 0 < len(suffix) <= 10:
            cleaned = stem[:MAX_COMPONENT_CHARS - len(suffix) - 1] + "." + suffix
        else:
            cleaned = cleaned[:MAX_COMPONENT_CHARS]
    return cleaned


def _unique(path: Path, used: set[str]) -> Path:
    """``path``, or "name (2).ext"… when another exported file has that name already; compared case-folded,
    as Windows and macOS compare them (two names that differ in case only would overwrite each other there)."""
    candidate, n = path, 2
    while str(candidate).casefold() in used:
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
        n += 1
    used.add(str(candidate).casefold())
    return candidate


def case_folder(f: CaseFile) -> tuple[str, str, str]:
    """(类别, 省份, 单位-案例名称) folder names of a case."""
    unit_and_name = "-".join(p for p in (f.organization, f.case_name) if p) or f.case_no
    return (safe_component(f.category or UNKNOWN_CATEGORY), safe_component(f.province or UNKNOWN_PROVINCE),
            safe_component(unit_and_name, f.case_no))


def export_case_files(files: Sequence[CaseFile], out_dir: Path, *, link: bool = False) -> FilesReport:
    """Copy (or hard-link) each file under ``类别/省份/单位-案例名称/<original name>`` in `out_dir`,
    keeping folders inside archives as sub-folders, and write 清单.csv (case number → paths).
    A missing stored file is reported and skipped; the rest is exported."""
    root = out_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    folder_owner: dict[Path, str] = {}
    problems: list[str] = []
    manifest: list[tuple[str, str, str, int]] = []
    total_bytes = linked = 0
    cases: set[str] = set()
    for f in files:
        category, province, unit_name = case_folder(f)
        folder = root / category / province / unit_name
        if folder_owner.setdefault(folder, f.case_no) != f.case_no:  # two cases with the same unit and name
            folder = root / category / province / safe_component(f"{unit_name}（{f.case_no}）")
            folder_owner.setdefault(folder, f.case_no)
        # Folders inside archives are kept; "..", "." and empty parts are dropped (never climb out).
        parts = [safe_component(p) for p in f.name.replace("\\", "/").split("/")
                 if p.strip() not in ("", ".", "..")] or ["_"]
        target = _unique(folder.joinpath(*parts), used)
        if not target.resolve().is_relative_to(root):
            problems.append(f"{f.case_no}：文件名“{f.name}”不安全，已跳过")
            continue
        source = Path(f.stored_path) if f.stored_path else None
        if source is None or not source.is_file():
            problems.append(f"{f.case_no}：找不到已保存的文件“{f.name}”（{f.stored_path or '未保存'}）")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.unlink()  # re-export into the same folder replaces the earlier copy
        if link and _hard_link(source, target):
            linked += 1
        else:
            shutil.copy2(source, target)
        total_bytes += target.stat().st_size
        cases.add(f.case_no)
        manifest.append((f.case_no, f.name, str(target.relative_to(root)), target.stat().st_size))
    with (root / MANIFEST_NAME).open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["受理编号", "原始文件名", "导出路径", "字节数"])
        writer.writerows([formula_safe(v) for v in row] for row in manifest)
    return FilesReport(root, len(cases), len(manifest), total_bytes, linked, tuple(problems))


def _hard_link(source: Path, target: Path) -> bool:
    try:
        os.link(source, target)
        return True
    except OSError:  # another file system, or links not allowed: copy instead
        return False


def export_accepted_files(store: Store, campaign_id: str, out_dir: Path, *, link: bool = False) -> FilesReport:
    """Copy (or hard-link) the files of every accepted case into ``out_dir``, one folder per case."""
    from store.queries.cases import accepted_case_files

    return export_case_files(accepted_case_files(store, campaign_id), out_dir, link=link)
