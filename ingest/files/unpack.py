"""Unpack one saved attachment into safely named files on disk, with findings instead of exceptions.

Library choice, per format:

* ZIP goes through the stdlib ``zipfile``: it exposes each entry's raw name bytes, flag bit 11, extra fields
  (the Info-ZIP Unicode Path field 0x7075), encryption bit and compressed size, so names from Chinese Windows
  (GBK without the UTF-8 flag) are decoded by us, independent of the process locale, and the per-entry ratio is
  measured against the compressed bytes zipfile really reads.
* RAR4/RAR5, 7z, tar and gzip/bzip2/xz streams go through libarchive (libarchive-c): it streams every entry through
  a fixed buffer and lets us force the format found by magic bytes (with "all" formats, libarchive 3.6 lets its
  ZIP reader win on a RAR that stores a ZIP, corpus ``rar5_zip_in_rar``).  py7zr is not used for reading: its
  ``read()`` keeps whole members in memory and ``extract()`` chooses the on-disk names itself.
* libarchive 3.6 does not mark RAR5 entries as encrypted (it fails later with a misleading decoder error), so RAR
  headers are listed first with ``rarfile`` (a pure-Python header parser; listing needs no unrar binary).

Archive names are kept as logical names only; on disk every file is ``NNNNN.ext`` directly inside ``dest_dir``,
so no path from an archive ever reaches the filesystem.  Limits are enforced on the bytes actually written.
Member names are decoded and cleaned in ``ingest.files.archive_names``; formats and encryption are recognised by their
bytes in ``ingest.files.sniff``.
"""

from __future__ import annotations

import copy
import ctypes
import hashlib
import logging
import os
import re
import shutil
import stat
import struct
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import libarchive.read
from libarchive import ffi
from libarchive.exception import ArchiveError

from ingest.files.archive_names import clean_member_name, decode_legacy_name, strip_compression_suffix, zip_entry_name
from ingest.files.sniff import (
    archive_kind,
    first_local_header_encrypted,
    office_encryption,
    rar_encryption,
    read_head,
    zip_directory_size,
)

# The public entry, and the sniffing and naming helpers callers (ingest.files.classify, tests) import from here.
__all__ = ["ExtractedFile", "Finding", "UnpackLimits", "archive_kind", "clean_member_name", "decode_legacy_name",
           "office_encryption", "read_head", "unpack_attachment", "zip_directory_size"]

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class UnpackLimits:
    max_entries: int = 10_000
    max_total_bytes: int = 1 << 30
    max_file_bytes: int = 512 << 20
    # Decompressed/compressed, per entry and for the whole attachment, on bytes actually written.
    max_ratio: float = 200.0
    # Ratios are judged only past this many written bytes: a small file of spaces compresses 1000:1 harmlessly.
    ratio_grace_bytes: int = 8 << 20
    # Archive levels below the attachment whose members are still taken (1 = members of the attachment itself).
    max_depth: int = 3
    # zipfile loads the whole central directory into memory; bigger directories are refused before opening.
    max_zip_directory_bytes: int = 32 << 20


@dataclass(frozen=True)
class Finding:
    code: str
    message: str  # plain Chinese, read by the submitter and by staff
    path: str | None


@dataclass(frozen=True)
class ExtractedFile:
    name: str  # decoded original path; nested archive levels joined by "/"
    path: Path  # the safely named file on disk, inside dest_dir
    size: int
    sha256: str
    archive: str | None  # outermost-first path of the archive it came from, e.g. "材料.zip/照片.rar"
    depth: int  # 0 = the attachment itself, 1 = member of the attachment, ...


class _LimitExceeded(Exception):
    """Raised inside this module only, to unwind out of every archive level once a limit is hit."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.code)
        self.finding = finding


class _Budget:
    """Mutable counters shared by every archive level of one attachment."""

    def __init__(self, limits: UnpackLimits, dest_dir: Path, source_size: int) -> None:
        self.limits = limits
        self.dest_dir = dest_dir
        self.source_size = max(source_size, 1)
        self.entries = 0
        self.written = 0
        self.sequence = 0

    def next_path(self, logical_name: str) -> Path:
        self.sequence += 1
        return self.dest_dir / f"{self.sequence:05d}{_safe_suffix(logical_name)}"


def _safe_suffix(name: str) -> str:
    suffix = os.path.splitext(name.rsplit("/", 1)[-1])[1].lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,10}", suffix) else ""

# ---------------------------------------------------------------------------------------------------------------
# Messages (plain Chinese)
# ---------------------------------------------------------------------------------------------------------------

def _encrypted(archive: str, members: list[str]) -> Finding:
    listed = "、".join(members[:5]) + ("等" if len(members) > 5 else "")
    what = f"中的文件（{listed}）" if members else "的文件目录"
    return Finding("archive.encrypted",
                   f"压缩包“{archive}”{what}设有密码，无法打开审核。请取消密码后重新打包发送。", archive)


def _corrupt(archive: str, detail: str) -> Finding:
    return Finding("archive.corrupt",
                   f"压缩包“{archive}”已损坏或不完整（{detail}），无法完整解开。请重新打包后发送。", archive)


def _bomb(archive: str) -> Finding:
    return Finding("archive.bomb", f"压缩包“{archive}”解压后的大小与压缩大小相差异常（疑似“压缩炸弹”），已停止解压。"
                   "请直接发送正常打包的材料。", archive)


def _too_large(archive: str, what: str, limit: int) -> Finding:
    return Finding("archive.too_large", f"压缩包“{archive}”解压后{what}超过 {limit // (1 << 20)} MB 的上限，"
                   "已停止解压。请精简材料或分多封邮件发送。", archive)


# ---------------------------------------------------------------------------------------------------------------
# Writing one member, with the limits checked on every chunk
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Written:
    path: Path
    size: int
    sha256: str


def _write_stream(chunks: Iterable[bytes], target: Path, budget: _Budget, archive: str,
                  compressed_size: Callable[[], int] | int | None) -> _Written:
    """Stream chunks into target; raises _LimitExceeded (after removing the partial file) when a limit is hit.

    ``compressed_size`` is the member's compressed size when the format states it per entry (ZIP), or a function
    giving the compressed bytes consumed so far for this member (libarchive), or None.
    """
    limits = budget.limits
    digest = hashlib.sha256()
    size = 0
    try:
        with target.open("xb") as out:
            for chunk in chunks:
                size += len(chunk)
                budget.written += len(chunk)
                if size > limits.max_file_bytes:
                    raise _LimitExceeded(_too_large(archive, "单个文件", limits.max_file_bytes))
                if budget.written > limits.max_total_bytes:
                    raise _LimitExceeded(_too_large(archive, "全部文件", limits.max_total_bytes))
                if size > limits.ratio_grace_bytes:
                    consumed = compressed_size() if callable(compressed_size) else compressed_size
                    if consumed is not None and size / max(consumed, 1) > limits.max_ratio:
                        raise _LimitExceeded(_bomb(archive))
                if budget.written > limits.ratio_grace_bytes and budget.written / budget.source_size > limits.max_ratio:
                    raise _LimitExceeded(_bomb(archive))
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return _Written(target, size, digest.hexdigest())


def _count_entry(budget: _Budget, archive: str) -> None:
    budget.entries += 1
    if budget.entries > budget.limits.max_entries:
        raise _LimitExceeded(Finding(
            "archive.too_many_entries",
            f"压缩包“{archive}”中的文件超过 {budget.limits.max_entries} 个，已停止解压。请只打包申报所需的材料。",
            archive))


# ---------------------------------------------------------------------------------------------------------------
# One member: name checks, then either a leaf or a nested archive
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Level:
    """Where we are: the outermost-first archive path and the member path prefix (names of nested archives)."""

    archive: str
    name_prefix: str
    depth: int  # depth of the members of this archive


class _Unpacker:
    def __init__(self, budget: _Budget) -> None:
        self.budget = budget
        self.files: list[ExtractedFile] = []
        self.findings: list[Finding] = []
        self.too_deep_reported = False

    # -- entry points ---------------------------------------------------------------------------------------

    def take(self, name: str, source: Path, archive: str | None, depth: int, display: str) -> bool:
        """A file on disk: open it if it is an archive, else keep it as a leaf.  Returns True if kept as a leaf.

        ``display`` is the outermost-first path of this file (the archive name its members will carry).
        """
        kind = archive_kind(source, self.budget.limits.max_zip_directory_bytes)
        if kind is None:
            self._keep(name, source, archive, depth)
            return True
        if depth + 1 > self.budget.limits.max_depth:
            if not self.too_deep_reported:  # one finding per attachment, not one per copy (42.zip has thousands)
                self.too_deep_reported = True
                self.findings.append(Finding(
                    "archive.too_deep", f"压缩包“{display}”等嵌套超过 {self.budget.limits.max_depth} 层，未再解开。"
                    "请不要把压缩包层层套装，直接打包所有材料即可。", display))
            self._keep(name, source, archive, depth)
            return True
        level = _Level(archive=display, name_prefix=f"{name}/" if depth else "", depth=depth + 1)
        taken_before = len(self.files)
        blocked = self._open(kind, source, level)
        if blocked and len(self.files) == taken_before:
            # Nothing came out: keep the archive itself so staff can still see and store what was sent.
            self._keep(name, source, archive, depth)
            return True
        return False

    def _open(self, kind: str, source: Path, level: _Level) -> bool:
        """Read one archive; returns True when it could not be read through (encrypted, corrupt, unsupported)."""
        # Isolation boundary: zipfile, libarchive and rarfile parse hostile bytes and raise many undocumented
        # exception types on malformed input.  Limits (_LimitExceeded) pass through; anything else becomes a
        # "corrupt archive" finding for this archive, logged with its traceback so real bugs stay visible.
        try:
            if kind == "zip":
                return self._read_zip(source, level)
            return self._read_libarchive(kind, source, level)
        except _LimitExceeded:
            raise
        except Exception as error:  # noqa: BLE001 - see the isolation boundary note above
            log.warning("archive %s unreadable: %s", level.archive, error, exc_info=True)
            self.findings.append(_corrupt(level.archive, type(error).__name__))
            return True

    def take_whole(self, name: str, source: Path) -> None:
        """Keep the attachment itself, unopened (after a limit stopped its unpacking before any file came out)."""
        self._keep(name, source, None, 0)

    # -- leaves -------------------------------------------------------------------------------------------

    def _keep(self, name: str, path: Path, archive: str | None, depth: int) -> None:
        if path.parent != self.budget.dest_dir:
            target = self.budget.next_path(name)
            try:
                os.link(path, target)
            except OSError:
                shutil.copyfile(path, target)
            path = target
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
        self.files.append(ExtractedFile(name=name, path=path, size=size, sha256=digest.hexdigest(),
                                        archive=archive, depth=depth))
        if office_encryption(path):
            self.findings.append(Finding("office.encrypted", f"文件“{name}”设有打开密码，无法审核。"
                                         "请取消密码（另存为不加密的文件）后重新发送。", name))

    def _member(self, level: _Level, raw_name: str, decoded_ok: bool, chunks: Iterable[bytes],
                compressed: Callable[[], int] | int | None) -> None:
        member, unsafe = clean_member_name(raw_name)
        name = level.name_prefix + member
        if not decoded_ok:
            self.findings.append(Finding("name.undecodable", f"压缩包“{level.archive}”中有文件名无法识别编码，"
                                         f"已按“{member}”记录。建议用中文 Windows 或 7-Zip 重新打包。", name))
        if unsafe:
            self.findings.append(Finding("archive.unsafe_path", f"压缩包“{level.archive}”中的路径“{raw_name}”"
                                         "含有绝对路径、盘符或“..”等不安全成分，已改为安全路径解开。", name))
        written = _write_stream(chunks, self.budget.next_path(member), self.budget, level.archive, compressed)
        kept = False
        try:
            kept = self.take(name, written.path, level.archive, level.depth, f"{level.archive}/{member}")
        finally:
            if not kept:
                # A nested archive whose members were taken: the container itself is not needed on disk.  Its
                # bytes stay counted in the budget, which bounds the peak disk use of the whole attachment.
                written.path.unlink(missing_ok=True)

    def _skip_link(self, level: _Level, raw_name: str, target: str | None) -> None:
        member, _ = clean_member_name(raw_name)
        self.findings.append(Finding("archive.symlink", f"压缩包“{level.archive}”中的“{member}”是链接"
                                     f"（指向“{target or ''}”），不是文件，已跳过。请打包文件本身。",
                                     level.name_prefix + member))

    def _skip_special(self, level: _Level, raw_name: str) -> None:
        member, _ = clean_member_name(raw_name)
        self.findings.append(Finding("archive.special_file", f"压缩包“{level.archive}”中的“{member}”是设备或管道等"
                                     "特殊文件，已跳过。", level.name_prefix + member))

    # -- ZIP ----------------------------------------------------------------------------------------------

    def _read_zip(self, source: Path, level: _Level) -> bool:
        directory = zip_directory_size(source)
        if directory is not None and directory > self.budget.limits.max_zip_directory_bytes:
            self.findings.append(Finding("archive.too_many_entries", f"压缩包“{level.archive}”的文件目录过大，"
                                         "未解开。请只打包申报所需的材料。", level.archive))
            return True
        try:
            archive = zipfile.ZipFile(source)
        except zipfile.BadZipFile as error:
            if first_local_header_encrypted(source):
                self.findings.append(_encrypted(level.archive, []))
            else:
                self.findings.append(_corrupt(level.archive, str(error)))
            return True
        blocked = False
        encrypted: list[str] = []
        with archive:
            for info in archive.infolist():
                _count_entry(self.budget, level.archive)
                raw = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
                name, decoded_ok = zip_entry_name(info, raw)
                mode = info.external_attr >> 16 if info.create_system == 3 else 0
                if info.is_dir() or stat.S_ISDIR(mode):
                    continue
                if stat.S_ISLNK(mode):
                    self._skip_link(level, name, _zip_link_target(archive, info))
                    continue
                if stat.S_IFMT(mode) in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
                    self._skip_special(level, name)
                    continue
                if info.flag_bits & 0x1:
                    encrypted.append(clean_member_name(name)[0])
                    continue
                try:
                    with archive.open(_with_local_name(source, info)) as member:
                        self._member(level, name, decoded_ok, iter(lambda: member.read(CHUNK_BYTES), b""),
                                     info.compress_size)
                except NotImplementedError:
                    blocked = True
                    self.findings.append(Finding("archive.unsupported", f"压缩包“{level.archive}”中的"
                                                 f"“{name}”使用了不支持的压缩方法，无法解开。请用 ZIP（标准压缩）"
                                                 "重新打包。", level.name_prefix + name))
                except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
                    blocked = True
                    self.findings.append(_corrupt(level.archive, f"{name}: {error}"))
        if encrypted:
            self.findings.append(_encrypted(level.archive, encrypted))
        return blocked or bool(encrypted)

    # -- libarchive (RAR, 7z, tar, compressed streams) -------------------------------------------------------

    def _read_libarchive(self, kind: str, source: Path, level: _Level) -> bool:
        rar_encrypted: set[str] = set()
        if kind == "rar":
            listing = rar_encryption(source)
            if isinstance(listing, str):  # "headers": the file list itself is encrypted
                self.findings.append(_encrypted(level.archive, []))
                return True
            rar_encrypted = listing
        encrypted: list[str] = []
        blocked = False
        try:
            with _libarchive_reader(source, kind) as reader:
                for entry in reader:
                    _count_entry(self.budget, level.archive)
                    name, decoded_ok = _libarchive_entry_name(entry._entry_p)
                    if kind in ("gzip", "bzip2", "xz") and reader.format_name == b"raw":
                        name, decoded_ok = strip_compression_suffix(level.archive.rsplit("/", 1)[-1]), True
                    if entry.isdir:
                        continue
                    if entry.issym or entry.islnk:
                        self._skip_link(level, name, entry.linkpath)
                        continue
                    if not entry.isreg:
                        self._skip_special(level, name)
                        continue
                    member = clean_member_name(name)[0]
                    if _entry_is_encrypted(entry._entry_p) or member in rar_encrypted:
                        encrypted.append(member)
                        continue
                    try:
                        self._member(level, name, decoded_ok, entry.get_blocks(CHUNK_BYTES),
                                     _consumed_since(reader))
                    except ArchiveError as error:
                        if "encrypt" in str(error).lower() or "passphrase" in str(error).lower():
                            encrypted.append(member)
                        else:
                            blocked = True
                            self.findings.append(_corrupt(level.archive, f"{member}: {error.msg}"))
                            if kind != "rar":
                                break
        except ArchiveError as error:
            if "encrypt" in str(error).lower() or "passphrase" in str(error).lower():
                encrypted.append("")
            else:
                blocked = True
                self.findings.append(_corrupt(level.archive, error.msg or "无法识别的格式"))
        if encrypted:
            self.findings.append(_encrypted(level.archive, [m for m in encrypted if m]))
        return blocked or bool(encrypted)


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
    return bool(_is_encrypted(entry_p) > 0)


def _libarchive_entry_name(entry_p: ctypes.c_void_p) -> tuple[str, bool]:
    # The wide name exists when libarchive knew the encoding (RAR unicode names, RAR5, 7z, pax); otherwise the
    # bytes are whatever the packing machine used (GBK on Chinese Windows) and are decoded heuristically.
    wide = ffi.entry_pathname_w(entry_p)
    if wide:
        return str(wide), True
    raw = ffi.entry_pathname(entry_p) or b""
    return decode_legacy_name(raw)


def _zip_link_target(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    # A ZIP symlink's data is its target path; read only a short prefix, for the message.
    if info.flag_bits & 0x1:
        return None
    with archive.open(info) as member:
        return decode_legacy_name(member.read(1024))[0]


def _with_local_name(source: Path, info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """The entry as zipfile.open() accepts it when the local header names the file differently.

    zipfile refuses a member whose local-header name differs from the central directory; archivers that add the
    0x7075 field write such pairs (corpus zip_7075_utf8_paths).  The central directory name is the one we record;
    the data is located by the central directory's offset either way, so accepting the local name is harmless.
    """
    with source.open("rb") as handle:
        handle.seek(info.header_offset)
        header = handle.read(30)
        if len(header) < 30 or not header.startswith(b"PK\x03\x04"):
            return info  # zipfile itself reports the damage
        flags, name_length = struct.unpack_from("<H", header, 6)[0], struct.unpack_from("<H", header, 26)[0]
        local = handle.read(name_length)
    try:
        local_name = local.decode("utf-8" if flags & 0x800 else "cp437")
    except UnicodeDecodeError:
        return info
    if local_name == info.orig_filename:
        return info
    patched = copy.copy(info)
    patched.orig_filename = local_name
    return patched


# ---------------------------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------------------------

def unpack_attachment(name: str, source: Path, dest_dir: Path,
                      limits: UnpackLimits = UnpackLimits()) -> tuple[list[ExtractedFile], list[Finding]]:
    """Turn one saved attachment into its leaf files inside dest_dir, plus findings.

    Archives yield their members (recursively, up to ``limits.max_depth``); anything else yields itself, hard-linked
    or copied into dest_dir under a safe name.  Bad input never raises: it becomes findings.  Raises ValueError only
    for programming errors (dest_dir not empty of our own names is fine; a source that does not exist is not).
    """
    if not source.is_file():
        raise ValueError(f"attachment file does not exist: {source}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    unpacker = _Unpacker(_Budget(limits, dest_dir, source.stat().st_size))
    try:
        unpacker.take(name, source, None, 0, name)
    except _LimitExceeded as stop:
        unpacker.findings.append(stop.finding)
        if not unpacker.files:
            unpacker.take_whole(name, source)
    return unpacker.files, unpacker.findings
