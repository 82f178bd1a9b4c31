"""RAR, 7z, tar and gzip/bzip2/xz members through libarchive (libarchive-c), streamed through a fixed buffer, with
the format forced to the one the magic bytes named; RAR headers listed first with ``rarfile`` because libarchive
3.6 does not mark RAR5 entries as encrypted."""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import libarchive.read
from libarchive import ffi
from libarchive.exception import ArchiveError

from ingest.files.archive_names import clean_member_name, decode_legacy_name, strip_compression_suffix
from ingest.files.sniff import rar_encryption
from ingest.files.unpack_budget import CHUNK_BYTES, corrupt_finding, count_entry, encrypted_finding

if TYPE_CHECKING:
    from ingest.files.unpack import Level, Unpacker


def read_libarchive(unpacker: Unpacker, kind: str, source: Path, level: Level) -> bool:
    """Hand every member of the archive at ``source`` (of ``kind``, from its magic bytes) to ``unpacker``; True
    when it could not be read through."""
    rar_encrypted: set[str] = set()
    if kind == "rar":
        listing = rar_encryption(source)
        if isinstance(listing, str):  # "headers": the file list itself is encrypted
            unpacker.findings.append(encrypted_finding(level.archive, []))
            return True
        rar_encrypted = listing
    encrypted: list[str] = []
    blocked = False
    try:
        with _libarchive_reader(source, kind) as reader:
            blocked = _read_entries(unpacker, kind, reader, level, rar_encrypted, encrypted)
    except ArchiveError as error:
        if _wants_password(error):
            encrypted.append("")
        else:
            blocked = True
            unpacker.findings.append(corrupt_finding(level.archive, error.msg or "无法识别的格式"))
    if encrypted:
        unpacker.findings.append(encrypted_finding(level.archive, [m for m in encrypted if m]))
    return blocked or bool(encrypted)


def _read_entries(unpacker: Unpacker, kind: str, reader: libarchive.read.ArchiveRead, level: Level,
                  rar_encrypted: set[str], encrypted: list[str]) -> bool:
    """Each entry: directories passed over, links and special files reported, encrypted members added to
    ``encrypted``, files handed to ``unpacker``. True when a member could not be read (a RAR goes on to the next
    member; other formats stop, as the stream behind is lost)."""
    blocked = False
    for entry in reader:
        count_entry(unpacker.budget, level.archive)
        name, decoded_ok = _libarchive_entry_name(entry._entry_p)
        if kind in ("gzip", "bzip2", "xz") and reader.format_name == b"raw":
            name, decoded_ok = strip_compression_suffix(level.archive.rsplit("/", 1)[-1]), True
        if entry.isdir:
            continue
        if entry.issym or entry.islnk:
            unpacker.skip_link(level, name, entry.linkpath)
            continue
        if not entry.isreg:
            unpacker.skip_special(level, name)
            continue
        member = clean_member_name(name)[0]
        if _entry_is_encrypted(entry._entry_p) or member in rar_encrypted:
            encrypted.append(member)
            continue
        try:
            unpacker.member(level, name, decoded_ok, entry.get_blocks(CHUNK_BYTES), _consumed_since(reader))
        except ArchiveError as error:
            if _wants_password(error):
                encrypted.append(member)
            else:
                blocked = True
                unpacker.findings.append(corrupt_finding(level.archive, f"{member}: {error.msg}"))
                if kind != "rar":
                    break
    return blocked


def _wants_password(error: ArchiveError) -> bool:
    """libarchive's way of saying a member (or the archive) is encrypted."""
    return "encrypt" in str(error).lower() or "passphrase" in str(error).lower()


def _consumed_since(reader: libarchive.read.ArchiveRead) -> Callable[[], int]:
    """Compressed bytes libarchive has consumed since now (solid archives state no per-entry compressed size)."""
    start = reader.bytes_read
    return lambda: int(reader.bytes_read - start)


_FORMATS = {"rar": ("rar", "rar5"), "7z": ("7zip",), "tar": ("tar",),
            "gzip": ("tar", "raw"), "bzip2": ("tar", "raw"), "xz": ("tar", "raw")}


@contextmanager
def _libarchive_reader(source: Path, kind: str) -> Iterator[libarchive.read.ArchiveRead]:
    """A libarchive reader restricted to the formats the magic bytes named (never "all": see module doc)."""
    archive_p = ffi.read_new()
    try:
        ffi.get_read_filter_function("all")(archive_p)
        for format_name in _FORMATS[kind]:
            ffi.get_read_format_function(format_name)(archive_p)
        ffi.read_open_filename_w(archive_p, str(source), CHUNK_BYTES)
        yield libarchive.read.ArchiveRead(archive_p)
    finally:
        ffi.read_free(archive_p)


_is_encrypted = ffi.libarchive.archive_entry_is_encrypted
_is_encrypted.argtypes = [ctypes.c_void_p]
_is_encrypted.restype = ctypes.c_int


def _entry_is_encrypted(entry_p: ctypes.c_void_p) -> bool:
    """libarchive's own verdict on an entry's encryption (not set for RAR5 in 3.6: see rar_encryption)."""
    return bool(_is_encrypted(entry_p) > 0)


def _libarchive_entry_name(entry_p: ctypes.c_void_p) -> tuple[str, bool]:
    """The entry's name and whether its encoding was known."""
    # The wide name exists when libarchive knew the encoding (RAR unicode names, RAR5, 7z, pax); otherwise the
    # bytes are whatever the packing machine used (GBK on Chinese Windows) and are decoded heuristically.
    wide = ffi.entry_pathname_w(entry_p)
    if wide:
        return str(wide), True
    raw = ffi.entry_pathname(entry_p) or b""
    return decode_legacy_name(raw)
