"""ZIP members through the stdlib ``zipfile``: raw name bytes, flag bit 11 and the 0x7075 Unicode Path field
decoded by us (GBK names from Chinese Windows), links and device files skipped, encrypted members reported."""

from __future__ import annotations

import copy
import stat
import struct
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.files.archive_names import clean_member_name, decode_legacy_name, zip_entry_name
from ingest.files.sniff import first_local_header_encrypted, zip_directory_size
from ingest.files.unpack_budget import CHUNK_BYTES, Finding, corrupt_finding, count_entry, encrypted_finding

if TYPE_CHECKING:
    from ingest.files.unpack import Level, Unpacker


def read_zip(unpacker: Unpacker, source: Path, level: Level) -> bool:
    """Hand every member of the ZIP at ``source`` to ``unpacker``; True when it could not be read through."""
    directory = zip_directory_size(source)
    if directory is not None and directory > unpacker.budget.limits.max_zip_directory_bytes:
        unpacker.findings.append(Finding("archive.too_many_entries", f"压缩包“{level.archive}”的文件目录过大，"
                                         "未解开。请只打包申报所需的材料。", level.archive))
        return True
    try:
        archive = zipfile.ZipFile(source)
    except zipfile.BadZipFile as error:
        if first_local_header_encrypted(source):
            unpacker.findings.append(encrypted_finding(level.archive, []))
        else:
            unpacker.findings.append(corrupt_finding(level.archive, str(error)))
        return True
    blocked = False
    encrypted: list[str] = []
    with archive:
        for info in archive.infolist():
            count_entry(unpacker.budget, level.archive)
            raw = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
            name, decoded_ok = zip_entry_name(info, raw)
            mode = info.external_attr >> 16 if info.create_system == 3 else 0
            if info.is_dir() or stat.S_ISDIR(mode):
                continue
            if stat.S_ISLNK(mode):
                unpacker.skip_link(level, name, _zip_link_target(archive, info))
                continue
            if stat.S_IFMT(mode) in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
                unpacker.skip_special(level, name)
                continue
            if info.flag_bits & 0x1:
                encrypted.append(clean_member_name(name)[0])
                continue
            try:
                with archive.open(_with_local_name(source, info)) as member:
                    unpacker.member(level, name, decoded_ok, iter(lambda: member.read(CHUNK_BYTES), b""),
                                    info.compress_size)
            except NotImplementedError:
                blocked = True
                unpacker.findings.append(Finding("archive.unsupported", f"压缩包“{level.archive}”中的"
                                                 f"“{name}”使用了不支持的压缩方法，无法解开。请用 ZIP（标准压缩）"
                                                 "重新打包。", level.name_prefix + name))
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
                blocked = True
                unpacker.findings.append(corrupt_finding(level.archive, f"{name}: {error}"))
    if encrypted:
        unpacker.findings.append(encrypted_finding(level.archive, encrypted))
    return blocked or bool(encrypted)


def _zip_link_target(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    """Where a ZIP symlink points (its data is the target path; only a short prefix is read, for the message)."""
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
