"""Real archives and documents for the unpack/classify tests, made with real tools.

ZIPs "as Chinese Windows makes them" come from bsdtar with ``hdrcharset=CP936`` (names converted to the OEM code
page, no UTF-8 flag) or from Info-ZIP run in the C locale over GBK-named files; 7z from py7zr; tar from tarfile;
encrypted ZIP from Info-ZIP ``-P`` and 7-Zip AES; encrypted DOCX from msoffcrypto-tool.  RAR cannot be written
here (no RAR writer exists on these machines): RAR samples come from the libarchive corpus in tests/data/corpus.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import docx
import py7zr
from docx.shared import Mm
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = REPO_ROOT / "tests" / "data" / "corpus"  # copied from shared/corpus, licences kept


def write_tree(root: Path, members: dict[str, bytes]) -> Path:
    """Files named by "/"-joined UTF-8 paths under root."""
    for name, data in members.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def windows_gbk_zip(target: Path, members: dict[str, bytes], work: Path) -> Path:
    """A ZIP with CP936 (GBK) names and no UTF-8 flag, made by bsdtar converting names to the OEM code page."""
    source = write_tree(work / f"{target.stem}_src", members)
    subprocess.run(["bsdtar", "-c", "--format", "zip", "--options", "zip:hdrcharset=CP936", "-f", str(target),
                    *sorted(os.listdir(source))], cwd=source, check=True)
    return target


def infozip_raw_names(target: Path, members: dict[bytes, bytes], work: Path, *extra: str) -> Path:
    """Info-ZIP in the C locale over files whose names are raw bytes: stored byte for byte, no UTF-8 flag."""
    source = work / f"{target.stem}_raw"
    source.mkdir(parents=True, exist_ok=True)
    for raw_name, data in members.items():
        path = os.path.join(os.fsencode(source), raw_name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
    env = {**os.environ, "LC_ALL": "C"}
    subprocess.run(["zip", "-q", "-r", *extra, str(target), "."], cwd=source, check=True, env=env)
    return target


def utf8_zip(target: Path, members: dict[str, bytes]) -> Path:
    """What Python, 7-Zip and recent WinRAR write: UTF-8 names with flag bit 11."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def seven_zip(target: Path, members: dict[str, bytes], password: str | None = None,
              encrypt_header: bool = False) -> Path:
    with py7zr.SevenZipFile(target, "w", password=password, header_encryption=encrypt_header) as archive:
        for name, data in members.items():
            archive.writestr(data, name)
    return target


def tar_archive(target: Path, members: dict[str, bytes], mode: str = "w:gz", encoding: str = "utf-8",
                tar_format: int = tarfile.PAX_FORMAT) -> Path:
    work = target.parent / f"{target.name}_src"
    write_tree(work, members)
    with tarfile.open(target, mode, format=tar_format, encoding=encoding) as archive:  # type: ignore[call-overload]
        for name in members:
            archive.add(work / name, arcname=name)
    shutil.rmtree(work)
    return target


def sevenzip_cli_zip(target: Path, members: dict[str, bytes], work: Path, *options: str) -> Path:
    """A ZIP written by the 7-Zip command line (used for AES-256 encryption)."""
    source = write_tree(work / f"{target.stem}_7zsrc", members)
    subprocess.run(["7z", "a", "-tzip", *options, str(target), "."], cwd=source, check=True,
                   stdout=subprocess.DEVNULL)
    return target


def a4_document() -> docx.document.Document:
    document = docx.Document()
    for section in document.sections:
        section.page_width, section.page_height = Mm(210), Mm(297)
    return document


def application_form_docx(target: Path, organisation: str = "北京市海淀区实验小学",
                          case_name: str = "“AI+劳动”课程群建设", category: str = "人工智能教育") -> Path:
    """An application form (申报表) as the call's annex: a table of label/value rows, no telling title needed."""
    document = a4_document()
    document.add_paragraph("附件")
    table = document.add_table(rows=0, cols=2)
    for label, value in (("申报单位", organisation), ("案例名称", case_name), ("类别", f"☑{category}  □教师队伍建设"),
                         ("联系人", "王老师"), ("联系电话", "13800138000"), ("案例简介", "（300字以内）")):
        cells = table.add_row().cells
        cells[0].text, cells[1].text = label, value
    document.save(str(target))
    return target


def case_text_docx(target: Path) -> Path:
    """Text material: prose under the six headings the call asks for (四.4(3))."""
    document = a4_document()
    document.add_heading("以劳树德：一所乡村小学的劳动教育实践", level=1)
    for heading in ("一、案例基本情况", "二、创新亮点和做法", "三、实践中遇到的问题及破解办法", "四、取得的成效",
                    "五、可提炼的经验与启示", "六、下一步发展计划"):
        document.add_heading(heading, level=2)
        document.add_paragraph("学校立足乡村实际，把劳动教育融入课程、活动和家校协同之中。" * 3)
    document.save(str(target))
    return target


def plain_docx(target: Path, text: str) -> Path:
    document = a4_document()
    document.add_paragraph(text)
    document.save(str(target))
    return target


def jpeg_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def encrypted_docx(target: Path, work: Path) -> Path:
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = application_form_docx(work / "plain_for_encryption.docx")
    with plain.open("rb") as source, target.open("wb") as out:
        OOXMLFile(source).encrypt("secret", out)
    return target


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def all_paths_inside(root: Path, paths: list[Path]) -> bool:
    resolved = root.resolve()
    return all(resolved in p.resolve().parents for p in paths)
