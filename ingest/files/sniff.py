"""What a file is by its first bytes: the one place that knows magic bytes.

``magic_kind`` reads a file's first bytes (no I/O); ``detect_kind`` adds what ZIP and OLE2 containers hold (DOCX,
XLSX, ODT, DOC/WPS …) and tells text from HTML; ``archive_kind`` says which files unpacking opens; ``format_of``
gives the upper-case format names the file facts and the rules' messages use ("JPEG", "MP4" …). Also: encrypted
Office files and archives. Reads only headers and directories (never whole members), so it is safe to run on any
attachment before opening it.
"""

from __future__ import annotations

import logging
import re
import struct
import zipfile
from pathlib import Path

import olefile

log = logging.getLogger(__name__)

_OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_OFFICE_ZIP_MARKERS = ("[Content_Types].xml", "mimetype", "META-INF/manifest.xml")


def read_head(path: Path, size: int = 512) -> bytes:
    """The first ``size`` bytes of a file (fewer when it is shorter)."""
    with path.open("rb") as handle:
        return handle.read(size)


UNKNOWN_KIND = "unknown"  # a file whose bytes say nothing we know (also an unknown RIFF type)
ARCHIVE_KINDS = frozenset({"zip", "rar", "7z", "tar", "gzip", "bzip2", "xz"})

_ISO_BRANDS = {"heic": "heic", "heix": "heic", "heim": "heic", "heis": "heic", "hevc": "heic", "hevx": "heic",
               "mif1": "heic", "msf1": "heic", "avif": "avif", "avis": "avif", "qt  ": "mov", "M4A ": "m4a",
               "M4B ": "m4a", "F4A ": "m4a"}
_LEADING: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "pdf"), (b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"), (b"PK\x07\x08", "zip"), (_OLE_MAGIC, "ole"))
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"Rar!\x1a\x07", "rar"), (b"7z\xbc\xaf\x27\x1c", "7z"), (b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"),
    (b"GIF87a", "gif"), (b"GIF89a", "gif"), (b"BM", "bmp"), (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"),
    (b"\x1aE\xdf\xa3", "mkv"), (bytes.fromhex("3026B2758E66CF11"), "wmv"), (b"FLV\x01", "flv"),
    (b"\x00\x00\x01\xba", "mpeg"), (b"\x00\x00\x01\xb3", "mpeg"), (b"ID3", "mp3"), (b"fLaC", "flac"),
    (b"#!AMR", "amr"), (b"OggS", "ogg"), (b"{\\rtf", "rtf"))
# The format names the file facts and the rules' messages use.
_FORMAT_NAMES = {kind: kind.upper() for kind in ("jpeg", "png", "gif", "webp", "bmp", "tiff", "heic", "pdf", "zip",
                                                  "ole", "mp4", "mov", "avi", "mkv", "flv", "wmv", "3gp", "mp3",
                                                  "m4a", "wav")}


def magic_kind(head: bytes) -> str | None:
    """The kind a file's first bytes show, in lower case ("pdf", "jpeg", "mp4", "zip", "ole", "rar" …); None when
    they show none. A ZIP or OLE2 container is only "zip" / "ole" here: ``detect_kind`` looks inside."""
    found = (_first(head, _LEADING) or _structured_kind(head) or _first(head, _SIGNATURES) or _stream_kind(head))
    if found is None and b"%PDF-" in head[:1024]:
        return "pdf"  # junk before the header, which PDF readers accept; last, so a ZIP holding a PDF stays a ZIP
    return found


def _first(head: bytes, table: tuple[tuple[bytes, str], ...]) -> str | None:
    return next((kind for magic, kind in table if head.startswith(magic)), None)


def _structured_kind(head: bytes) -> str | None:
    """ISO boxes (MP4, MOV, HEIC …), RIFF (AVI, WAV, WebP) and tar, whose marks are not at the very start. Before
    the signatures: a tar starts with its first member's name, which may well be "BM…" or "ID3…"."""
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("latin-1")
        return _ISO_BRANDS.get(brand, "3gp" if brand.startswith("3g") else "mp4")
    if head.startswith(b"RIFF") and len(head) >= 12:
        return {b"AVI ": "avi", b"WAVE": "wav", b"WEBP": "webp"}.get(head[8:12], UNKNOWN_KIND)
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


def _stream_kind(head: bytes) -> str | None:
    """Formats known by a sync pattern rather than a fixed signature."""
    if head.startswith(b"BZh") and head[3:4].isdigit():
        return "bzip2"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "aac"  # ADTS sync word, layer 0
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "mp3"  # MPEG audio frame sync
    if len(head) > 376 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return "mpeg"  # MPEG transport stream (camcorders, .mts)
    return None


def format_of(head: bytes) -> str | None:
    """The upper-case format name of these first bytes ("JPEG", "PDF", "ZIP", "MP4" …), or None."""
    kind = magic_kind(head)
    return _FORMAT_NAMES.get(kind) if kind is not None else None


def detect_kind(path: Path) -> str:
    """The real type of a file from its first bytes (and, for ZIP and OLE2 containers, their member names)."""
    head = read_head(path, 512)
    kind = magic_kind(head)
    if kind == "zip":
        return _zip_kind(path)
    if kind == "ole":
        return _ole_kind(path)
    if kind is not None:
        return kind
    try:
        sample = head.decode("utf-8")
    except UnicodeDecodeError:
        try:
            sample = head.decode("gb18030")
        except UnicodeDecodeError:
            return UNKNOWN_KIND
    if not sample.strip():
        return UNKNOWN_KIND
    return "html" if re.search(r"<\s*(html|!doctype html)", sample, re.I) else "txt"


def archive_kind(path: Path, max_zip_directory_bytes: int = 32 << 20) -> str | None:
    """The archive format of a file by its magic bytes, or None for anything we do not open.

    OOXML/ODF documents are ZIPs too; they are documents, not archives, and are left whole.
    """
    head = read_head(path, 512)
    kind = magic_kind(head)
    if kind == "zip":
        return None if _is_office_zip(path, head, max_zip_directory_bytes) else "zip"
    return kind if kind in ARCHIVE_KINDS else None


def _is_office_zip(path: Path, head: bytes, max_directory_bytes: int) -> bool:
    if head.startswith(b"PK\x03\x04") and len(head) >= 30:
        name_length = struct.unpack_from("<H", head, 26)[0]
        first_name = head[30:30 + name_length].decode("cp437")
        if first_name in _OFFICE_ZIP_MARKERS:
            return True
    directory = zip_directory_size(path)
    if directory is None or directory > max_directory_bytes:
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, UnicodeDecodeError, NotImplementedError):
        return False
    return "[Content_Types].xml" in names or "mimetype" in names and "META-INF/manifest.xml" in names


def zip_directory_size(path: Path) -> int | None:
    """Size in bytes of a ZIP's central directory, from its end record (ZIP64 aware); None if none is found."""
    file_size = path.stat().st_size
    tail_size = min(file_size, 22 + 65535 + 20)
    with path.open("rb") as handle:
        handle.seek(file_size - tail_size)
        tail = handle.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    directory_size = struct.unpack_from("<I", tail, at + 12)[0]
    if directory_size == 0xFFFFFFFF:
        locator = tail.rfind(b"PK\x06\x07", 0, at)
        if locator < 0 or locator + 20 > len(tail):
            return None
        record_offset = struct.unpack_from("<Q", tail, locator + 8)[0]
        with path.open("rb") as handle:
            handle.seek(record_offset)
            record = handle.read(56)
        if len(record) < 56 or not record.startswith(b"PK\x06\x06"):
            return None
        directory_size = struct.unpack_from("<Q", record, 40)[0]
    return int(directory_size)


def office_encryption(path: Path) -> bool:
    """True when an Office file is password-protected: an OLE2 container holding EncryptionInfo (encrypted
    DOCX/XLSX/PPTX) or a Word binary whose FIB has fEncrypted set (.doc, and .wps which uses the same layout)."""
    if not read_head(path, 8).startswith(_OLE_MAGIC):
        return False
    # Isolation boundary: olefile parses hostile bytes and documents no closed set of exceptions; a container
    # it cannot read is "not known to be encrypted", and classification reports it as unreadable later.
    try:
        with olefile.OleFileIO(str(path)) as ole:
            if ole.exists("EncryptionInfo") and ole.exists("EncryptedPackage"):
                return True
            if ole.exists("WordDocument"):
                with ole.openstream("WordDocument") as stream:
                    fib = stream.read(12)
                return len(fib) == 12 and bool(struct.unpack_from("<H", fib, 10)[0] & 0x0100)
    except Exception:  # noqa: BLE001 - see the isolation boundary note above
        log.debug("OLE2 container unreadable: %s", path, exc_info=True)
    return False


def rar_encryption(source: Path) -> set[str] | str:
    """Names of encrypted RAR members, or "headers" when the file list itself is encrypted."""
    # Imported here: rarfile loads cryptography (~7 MB per process) and only RAR files need it.
    import rarfile

    try:
        archive = rarfile.RarFile(str(source))
    except (rarfile.Error, OSError):
        return set()  # libarchive reports what is wrong when it reads the file
    if archive.needs_password() and not archive.infolist():
        return "headers"
    return {info.filename.rstrip("/") for info in archive.infolist() if info.needs_password()}


def first_local_header_encrypted(source: Path) -> bool:
    """Whether the ZIP's first local header is encrypted (PKWARE central directory encryption leaves nothing else to
    read)."""
    # PKWARE "central directory encryption" leaves zipfile nothing readable; the first local header still says so.
    head = read_head(source, 30)
    return head.startswith(b"PK\x03\x04") and len(head) == 30 and bool(struct.unpack_from("<H", head, 6)[0] & 1)


def _zip_kind(path: Path) -> str:
    if archive_kind(path) == "zip":
        return "zip"  # a ZIP archive, not an Office/ODF document
    directory = zip_directory_size(path)
    if directory is None or directory > 16 << 20:
        return "zip"
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            mimetype = archive.read("mimetype")[:100].decode("ascii", "replace") if "mimetype" in names else ""
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError):
        return "zip"
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    if mimetype.endswith("opendocument.text"):
        return "odt"
    if mimetype.endswith("opendocument.presentation"):
        return "odp"
    if mimetype.endswith("opendocument.spreadsheet"):
        return "ods"
    return "ooxml" if "[Content_Types].xml" in names else "zip"


def _ole_kind(path: Path) -> str:
    # Isolation boundary: olefile parses hostile bytes without a closed set of exceptions; unreadable = "ole".
    try:
        with olefile.OleFileIO(str(path)) as ole:
            if ole.exists("EncryptionInfo") and ole.exists("EncryptedPackage"):
                return "office_encrypted"
            if ole.exists("WordDocument"):
                return "wps" if path.suffix.lower() == ".wps" else "doc"
            if ole.exists("Workbook") or ole.exists("Book"):
                return "xls"
            if ole.exists("PowerPoint Document"):
                return "ppt"
    except Exception:  # noqa: BLE001 - see the isolation boundary note above
        log.debug("OLE2 container unreadable: %s", path, exc_info=True)
    return "ole"
