"""The role of each unpacked file in a submission, from its name, its real type (magic bytes) and its content.

Roles (as ``intake inspect --json`` shows them): form_word, form_pdf, text, photo, video, audio, auxiliary, link,
unknown.  The call (四.3, 四.4) asks for the application form as Word and as a stamped PDF scan, text material,
photos (JPG) and auxiliary material (one MP4 video, media reports).  Format rules (JPG only, MP4 only, sizes) are
checked elsewhere; here a PNG photo is still a photo and an AVI is still a video.

Legacy .doc/.wps/.rtf are read through LibreOffice (``soffice --headless --convert-to docx``, installed by
scripts/install-system-deps.sh) with a fresh profile per job and a timeout, inside the file-reading worker
(ingest/files/isolation.py); on a machine without it, the finding says so plainly.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import signal
import resource
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from checks.domain import FileRole
from ingest.files.sniff import detect_kind
from ingest.files.unpack import Finding, office_encryption

log = logging.getLogger(__name__)

PHOTO_KINDS = {"jpeg", "png", "heic", "webp", "gif", "bmp", "tiff", "avif"}
VIDEO_KINDS = {"mp4", "mov", "avi", "mkv", "wmv", "flv", "mpeg", "3gp"}
AUDIO_KINDS = {"mp3", "wav", "m4a", "flac", "aac", "amr", "ogg"}
WORD_KINDS = {"docx", "doc", "wps", "odt", "rtf"}
OTHER_DOCUMENT_KINDS = {"xlsx", "xls", "pptx", "ppt", "odp", "ods", "txt", "html", "ooxml", "ole"}
ARCHIVE_KINDS = {"zip", "rar", "7z", "tar", "gzip", "bzip2", "xz"}

MIME = {"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "doc": "application/msword", "wps": "application/vnd.ms-works", "xls": "application/vnd.ms-excel",
        "ppt": "application/vnd.ms-powerpoint", "odt": "application/vnd.oasis.opendocument.text",
        "rtf": "application/rtf", "pdf": "application/pdf", "jpeg": "image/jpeg", "png": "image/png",
        "heic": "image/heic", "webp": "image/webp", "gif": "image/gif", "bmp": "image/bmp", "tiff": "image/tiff",
        "avif": "image/avif", "mp4": "video/mp4", "mov": "video/quicktime", "avi": "video/x-msvideo",
        "mkv": "video/x-matroska", "wmv": "video/x-ms-asf", "flv": "video/x-flv", "mpeg": "video/mpeg",
        "3gp": "video/3gpp", "mp3": "audio/mpeg", "wav": "audio/wav", "m4a": "audio/mp4", "flac": "audio/flac",
        "aac": "audio/aac", "amr": "audio/amr", "ogg": "audio/ogg", "zip": "application/zip",
        "rar": "application/vnd.rar", "7z": "application/x-7z-compressed", "tar": "application/x-tar",
        "gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz",
        "txt": "text/plain", "html": "text/html", "office_encrypted": "application/x-ole-storage"}


@dataclass(frozen=True)
class Classification:
    """The role a file plays in a submission (form, text, photo…), its real type, and why, in Chinese."""

    role: str
    kind: str  # real type by magic bytes: "docx", "pdf", "jpeg", "mp4", ...
    mime: str
    reason: str  # why this role, in Chinese, for staff
    converted: Path | None = None  # DOCX made from a legacy .doc/.wps, when LibreOffice is installed
    findings: tuple[Finding, ...] = ()


class NamedFile(Protocol):
    """What classify needs of an unpacked file (ingest.files.unpack.ExtractedFile fits)."""

    @property
    def name(self) -> str:
        """The file's name as sent."""

    @property
    def path(self) -> Path:
        """Where the file is on disk."""


# ---------------------------------------------------------------------------------------------------------------
# Legacy Word through LibreOffice
# ---------------------------------------------------------------------------------------------------------------

# Seconds LibreOffice gets to convert one legacy .doc/.wps.
CONVERT_SECONDS = 120.0


def _lift_memory_limit() -> None:
    """LibreOffice maps far more address space than it uses; the limit our file-reading worker runs under
    (ingest/files/isolation.py) would make it fail, so its child lifts the soft limit again (the timeout bounds it)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


# Real types read through LibreOffice. No filter is forced: LibreOffice tells a WPS Office .wps (an OLE Word file)
# from a Microsoft Works one by content.
LEGACY_WORD_KINDS = ("doc", "wps", "rtf")


def convert_legacy_word(source: Path, out_dir: Path, timeout_seconds: float = CONVERT_SECONDS) -> tuple[Path | None,
                                                                                            Finding | None]:
    """Convert a .doc/.wps/.rtf to DOCX with LibreOffice; (docx path, None) or (None, finding in Chinese)."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        return None, Finding("office.converter_missing", f"“{source.name}”是旧版 Word/WPS 文件，本机未安装 LibreOffice，"
                             "无法自动读取其内容，请工作人员人工查看；也可请申报单位改发 .docx 文件。", None)
    # A folder per source: "案例.doc" and "案例.wps" side by side would both become "案例.docx".
    out_dir = out_dir / hashlib.sha1(str(source).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:
        # A profile of its own per job: concurrent soffice runs sharing one profile block or fail silently.
        command = [soffice, f"-env:UserInstallation={Path(profile).as_uri()}", "--headless", "--norestore",
                   "--convert-to", "docx", "--outdir", str(out_dir), str(source)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   start_new_session=True, preexec_fn=_lift_memory_limit)
        try:
            _, stderr = process.communicate(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # soffice forks soffice.bin: end the whole group
            process.communicate()
            return None, Finding("office.convert_timeout", f"“{source.name}”转换超时（{timeout_seconds:.0f} 秒），"
                                 "未能读取内容，请工作人员人工查看。", None)
    target = out_dir / f"{source.stem}.docx"
    if process.returncode != 0 or not target.is_file():
        log.warning("LibreOffice（soffice）转换 %s 失败：%s", source, stderr.decode("utf-8", "replace")[-500:])
        return None, Finding("office.convert_failed", f"“{source.name}”无法转换为 .docx（文件可能已损坏），"
                             "未能读取内容，请工作人员人工查看。", None)
    return target, None


# ---------------------------------------------------------------------------------------------------------------
# Content
# ---------------------------------------------------------------------------------------------------------------

FORM_WORDS = ("申报表", "推荐表", "报名表", "申请表", "登记表")
AUXILIARY_WORDS = ("媒体报道", "新闻", "报道", "简报", "获奖", "证书", "证明", "宣传")
TEXT_WORDS = ("文字材料", "案例材料", "案例文本", "正文", "案例")
# The six parts text material must contain (四.4(3)); any three headings make a document read as text material.
TEXT_HEADINGS = (("基本情况",), ("创新亮点", "做法"), ("问题", "破解"), ("成效",), ("经验", "启示"),
                 ("下一步", "发展计划"))
MAX_DOCUMENT_XML_BYTES = 64 << 20  # a DOCX whose text part inflates beyond this is not parsed (bomb guard)
FIELD_LABELS = {"申报单位": "申报单位", "推荐单位": "申报单位", "单位名称": "申报单位", "学校名称": "申报单位",
                "案例名称": "案例名称", "项目名称": "案例名称", "类别": "类别", "申报类别": "类别", "案例类别": "类别",
                "征集类别": "类别", "征集方向": "类别", "联系人": "联系人", "联系电话": "电话", "电话": "电话", "手机": "电话"}


def _compact(text: str) -> str:
    return re.sub(r"[\s\u3000:：]+", "", text)


def _docx_texts(path: Path) -> tuple[list[str], list[list[str]]] | None:
    """(paragraph texts, table rows as cell texts) of a DOCX, or None when it cannot be read."""
    try:
        with zipfile.ZipFile(path) as archive:
            if archive.getinfo("word/document.xml").file_size > MAX_DOCUMENT_XML_BYTES:
                return None
    except (KeyError, zipfile.BadZipFile, OSError):
        return None
    # Isolation boundary: python-docx/lxml reading a submitter's file raise many types on malformed input.
    try:
        import docx  # here, not at the top: the daemon imports this module, only the worker reads files

        document = docx.Document(str(path))
        paragraphs = [p.text for p in document.paragraphs]
        rows = [[cell.text for cell in row.cells] for table in document.tables for row in table.rows]
    except Exception:  # noqa: BLE001 - see the isolation boundary note above
        log.info("Word 文件（DOCX）无法读取：%s", path, exc_info=True)
        return None
    return paragraphs, rows


def _pdf_text(path: Path, pages: int = 3) -> tuple[str, bool] | None:
    """(text of the first pages, encrypted) of a PDF, or None when it cannot be read."""
    # Isolation boundary: pypdf on hostile PDFs raises a wide, undocumented set of exceptions.
    try:
        import pypdf  # see docx above

        reader = pypdf.PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            return "", True
        return "".join((page.extract_text() or "") for page in reader.pages[:pages]), False
    except Exception:  # noqa: BLE001 - see the isolation boundary note above
        log.info("PDF 文件无法读取：%s", path, exc_info=True)
        return None


def _heading_count(text: str) -> int:
    return sum(any(word in text for word in words) for words in TEXT_HEADINGS)


def _looks_like_form(paragraphs: list[str], rows: list[list[str]]) -> bool:
    labels = {_compact(cell) for row in rows for cell in row}
    if {"申报单位", "案例名称"} <= labels or ("案例名称" in labels and labels & {"推荐单位", "学校名称", "单位名称"}):
        return True
    return any(word in _compact(p) for p in paragraphs[:5] for word in FORM_WORDS)


def _role_from_name(name: str, form_role: str) -> tuple[str, str] | None:
    parts = name.split("/")
    for part in [parts[-1], *reversed(parts[:-1])]:  # the file's own name first, then its folders
        stem = part.rsplit(".", 1)[0]
        for words, role, what in ((FORM_WORDS, form_role, "申报表"), (AUXILIARY_WORDS, FileRole.AUXILIARY, "辅助材料"),
                                  (TEXT_WORDS, FileRole.TEXT, "文字材料")):
            word = next((w for w in words if w in stem), None)
            if word:
                return role, f"名称含“{word}”，判为{what}"
    return None


# A scanned certificate or newspaper clipping sent among the photos is supporting material, not a photo of the
# case (it need not be a 2 MB original): said so by its name, its folder's, or the picture's own description.
AUXILIARY_PICTURE_WORDS = ("证书", "奖状", "报道", "剪报", "聘书", "辅助材料", "辅助资料")
# EXIF ImageDescription, and the XPTitle/XPComment/XPKeywords/XPSubject that Windows' file properties write.
_DESCRIPTION_TAGS = (0x010E, 0x9C9B, 0x9C9C, 0x9C9E, 0x9C9F)


def _auxiliary_picture(name: str, path: Path) -> str:
    """Why a picture is supporting material ("名称含“证书”"), or "" when it is taken as a photo."""
    parts = name.split("/")
    for part in [parts[-1], *reversed(parts[:-1])]:
        word = next((w for w in AUXILIARY_PICTURE_WORDS if w in part.rsplit(".", 1)[0]), None)
        if word:
            return f"名称含“{word}”"
    description = _picture_description(path)
    word = next((w for w in AUXILIARY_PICTURE_WORDS if w in description), None)
    return f"说明（文件属性）含“{word}”" if word else ""


def _picture_description(path: Path) -> str:
    from PIL import Image  # see docx above

    try:
        with Image.open(path) as image:
            exif = image.getexif()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return ""  # an unreadable picture: the photo rules say so
    texts = []
    for tag in _DESCRIPTION_TAGS:
        value = exif.get(tag)
        if isinstance(value, bytes):
            value = value.decode("utf-16-le", errors="ignore").rstrip("\x00")
        if isinstance(value, str):
            texts.append(value)
    return " ".join(texts)


def read_form_fields(docx_path: Path) -> dict[str, str]:
    """申报单位, 案例名称, 类别 (and 联系人, 电话 when present) from an application-form DOCX, for the subject
    cross-check.  Labels are matched in table rows (label cell, then the next cell with other text) and in
    "标签：内容" lines; a 类别 cell with check boxes gives the ticked category."""
    texts = _docx_texts(docx_path)
    if texts is None:
        return {}
    paragraphs, rows = texts
    fields: dict[str, str] = {}
    for row in rows:
        for index, cell in enumerate(row):
            key = FIELD_LABELS.get(_compact(cell))
            if key is None or key in fields:
                continue
            value = next((c.strip() for c in row[index + 1:] if _compact(c) and _compact(c) != _compact(cell)), "")
            if value:
                fields[key] = _ticked(value) if key == "类别" else value
    for line in [*paragraphs, *(cell for row in rows for cell in row)]:
        match = re.match(r"\s*([^:：]{2,6})\s*[:：]\s*(\S.*)$", line)
        if match and FIELD_LABELS.get(_compact(match.group(1))) and FIELD_LABELS[_compact(match.group(1))] not in fields:
            key = FIELD_LABELS[_compact(match.group(1))]
            fields[key] = _ticked(match.group(2).strip()) if key == "类别" else match.group(2).strip()
    return fields


_TICKS = "☑✔✓√■☒"


def _ticked(value: str) -> str:
    """"☑人工智能教育  □教师队伍建设" -> "人工智能教育"; text without check boxes is returned as is."""
    for tick in _TICKS:
        if tick in value:
            return re.split(r"[□☐\s]", value.split(tick, 1)[1].strip(), maxsplit=1)[0].strip("，,、；;")
    return value


# ---------------------------------------------------------------------------------------------------------------
# Roles
# ---------------------------------------------------------------------------------------------------------------

def classify(file: NamedFile | tuple[str, Path], *, convert_dir: Path | None = None,
             timeout_seconds: float = CONVERT_SECONDS) -> Classification:
    """Role of one file.  Legacy .doc/.wps are converted (into ``convert_dir``, default a "converted" folder next
    to the file) so their content can be read; the DOCX made is returned as ``converted``."""
    name, path = file if isinstance(file, tuple) else (file.name, file.path)
    kind = detect_kind(path)
    mime = MIME.get(kind, "application/octet-stream")

    def result(role: str, reason: str, converted: Path | None = None,
               findings: tuple[Finding, ...] = ()) -> Classification:
        return Classification(role, kind, mime, reason, converted, findings)

    if kind in PHOTO_KINDS:
        said = _auxiliary_picture(name, path)
        if said:
            return result(FileRole.AUXILIARY, f"图片{said}，判为辅助资料（不计入照片，不按照片要求检查）")
        return result(FileRole.PHOTO, f"图片（{kind.upper()}）")
    if kind in VIDEO_KINDS:
        return result(FileRole.VIDEO, f"视频（{kind.upper()}）")
    if kind in AUDIO_KINDS:
        return result(FileRole.AUDIO, f"音频（{kind.upper()}）")
    if kind in ARCHIVE_KINDS:
        return result(FileRole.UNKNOWN, "压缩包未能解开（见压缩包相关提示）")
    if kind == "office_encrypted" or (kind in ("doc", "wps") and office_encryption(path)):
        return result(FileRole.UNKNOWN, "Office 文件设有打开密码，无法读取")
    if kind == "pdf":
        return _classify_pdf(name, path, result)
    if kind in WORD_KINDS:
        return _classify_word(name, path, kind, convert_dir or path.parent / "converted", timeout_seconds, result)
    if kind in OTHER_DOCUMENT_KINDS:
        return result(FileRole.AUXILIARY, f"其他文档（{kind}），作为辅助材料")
    return result(FileRole.UNKNOWN, "无法识别的文件类型")


class _Result(Protocol):
    def __call__(self, role: str, reason: str, converted: Path | None = None,
                 findings: tuple[Finding, ...] = ()) -> Classification: ...


def _classify_pdf(name: str, path: Path, result: _Result) -> Classification:
    by_name = _role_from_name(name, FileRole.FORM_PDF)
    if by_name:
        return result(*by_name)
    content = _pdf_text(path)
    if content is None:
        return result(FileRole.AUXILIARY, "PDF 无法读取，名称也未说明用途，作为辅助材料")
    text, encrypted = content
    if encrypted:
        return result(FileRole.UNKNOWN, "PDF 设有打开密码，无法读取", findings=(Finding(
            "pdf.encrypted", f"文件“{name}”设有打开密码，无法审核。请取消密码后重新发送。", name),))
    compact = _compact(text)
    if any(word in compact for word in FORM_WORDS) or ("申报单位" in compact and "案例名称" in compact):
        return result(FileRole.FORM_PDF, "PDF 内容含申报表栏目")
    if _heading_count(text) >= 3:
        return result(FileRole.TEXT, "PDF 内容含文字材料的各部分标题")
    if not compact:
        return result(FileRole.AUXILIARY, "扫描版 PDF（无文字层），名称未说明用途，作为辅助材料")
    return result(FileRole.AUXILIARY, "PDF 名称与内容均非申报表或文字材料，作为辅助材料")


def _classify_word(name: str, path: Path, kind: str, convert_dir: Path, timeout_seconds: float,
                   result: _Result) -> Classification:
    converted: Path | None = None
    findings: tuple[Finding, ...] = ()
    readable: Path | None = path if kind == "docx" else None
    if kind in LEGACY_WORD_KINDS:
        converted, problem = convert_legacy_word(path, convert_dir, timeout_seconds)
        if problem is not None:
            findings = (Finding(problem.code, problem.message.replace(f"“{path.name}”", f"“{name}”"), name),)
        readable = converted
    by_name = _role_from_name(name, FileRole.FORM_WORD)
    if by_name:
        return result(*by_name, converted=converted, findings=findings)
    texts = _docx_texts(readable) if readable is not None else None
    if texts is not None:
        paragraphs, rows = texts
        if _looks_like_form(paragraphs, rows):
            return result(FileRole.FORM_WORD, "Word 内容为申报表（表格含申报单位、案例名称）", converted, findings)
        if _heading_count("\n".join(paragraphs)) >= 3:
            return result(FileRole.TEXT, "Word 内容含文字材料的各部分标题", converted, findings)
        return result(FileRole.AUXILIARY, "Word 名称与内容均非申报表或文字材料，作为辅助材料", converted, findings)
    if kind in LEGACY_WORD_KINDS and converted is None:
        return result(FileRole.AUXILIARY, "旧版 Word/WPS 文件未能转换，名称未说明用途，暂作辅助材料，请人工查看",
                      None, findings)
    return result(FileRole.AUXILIARY, f"{kind} 文件无法读取内容，名称未说明用途，作为辅助材料", converted, findings)
