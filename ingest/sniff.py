"""What a file is by its first bytes: the archive format, Office documents inside ZIPs, encrypted contents.

Reads only headers and directories (never whole members), so it is safe to run on any attachment before opening it.
"""

from __future__ import annotations

import logging
import struct
import zipfile
from pathlib import Path

import olefile
import rarfile

log = logging.getLogger(__name__)

_OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_OFFICE_ZIP_MARKERS = ("[Content_Types].xml", "mimetype", "META-INF/manifest.xml")


def read_head(path: Path, size: int = 512) -> bytes:
    """The first ``size`` bytes of a file (fewer when it is shorter)."""
    with path.open("rb") as handle:
        return handle.read(size)


def archive_kind(path: Path, max_zip_directory_bytes: int = 32 << 20) -> str | None:
    """The archive format of a file by its magic bytes, or None for anything we do not open.

    OOXML/ODF documents are ZIPs too; they are documents, not archives, and are left whole.
    """
    head = read_head(path, 512)
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return None if _is_office_zip(path, head, max_zip_directory_bytes) else "zip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and len(head) >= 4 and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return None


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
    try:
        archive = rarfile.RarFile(str(source))
    except (rarfile.Error, OSError):
        return set()  # libarchive reports what is wrong when it reads the file
    if archive.needs_password() and not archive.infolist():
        return "headers"
    return {info.filename.rstrip("/") for info in archive.infolist() if info.needs_password()}


def first_local_header_encrypted(source: Path) -> bool:
    # PKWARE "central directory encryption" leaves zipfile nothing readable; the first local header still says so.
    head = read_head(source, 30)
    return head.startswith(b"PK\x03\x04") and len(head) == 30 and bool(struct.unpack_from("<H", head, 6)[0] & 1)
