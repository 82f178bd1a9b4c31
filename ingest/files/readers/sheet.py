"""Excel workbooks (.xlsx): sheet names and cell texts, for recognising a form by its content."""

from __future__ import annotations

import zipfile
from pathlib import Path

from checks.facts import SheetFacts
from ingest.files.readers import MAX_TEXT_CHARS, Unreadable

MAX_SHEET_CELLS = 200_000  # a form is a few hundred cells; a huge workbook is read this far and no further


def read_xlsx(path: Path) -> SheetFacts:
    """Sheet names and cell texts of an .xlsx (read-only, values not formulas), for recognising a form by content."""
    import openpyxl  # only workbooks need it

    try:
        book = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise Unreadable("Excel文件已损坏或不是有效的.xlsx文件") from exc
    try:
        names = tuple(book.sheetnames)
        parts: list[str] = []
        rows = cells = 0
        for sheet in book.worksheets:
            for row in sheet.iter_rows(values_only=True):
                texts = ["" if v is None else str(v).strip().replace("\t", " ").replace("\n", " ") for v in row]
                cells += len(row)
                if any(texts):
                    rows += 1
                    # Empty cells kept (trailing ones dropped): a column stays a column for rules reading tables.
                    while texts and not texts[-1]:
                        texts.pop()
                    parts.append("\t".join(texts))
                if cells > MAX_SHEET_CELLS:
                    break
            parts.append("")
    finally:
        book.close()
    return SheetFacts(sheet_names=names, text="\n".join(parts)[:MAX_TEXT_CHARS], rows=rows)
