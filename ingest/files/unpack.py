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

import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ingest.files.archive_names import clean_member_name, decode_legacy_name
from ingest.files.sniff import archive_kind, office_encryption, read_head, zip_directory_size
from ingest.files.unpack_budget import (
    CHUNK_BYTES,
    Budget,
    Finding,
    LimitExceeded,
    UnpackLimits,
    corrupt_finding,
    write_stream,
)
from ingest.files.unpack_libarchive import read_libarchive
from ingest.files.unpack_zip import read_zip

# The public entry, and the sniffing and naming helpers callers (ingest.files.classify, tests) import from here.
__all__ = ["ExtractedFile", "Finding", "UnpackLimits", "archive_kind", "clean_member_name", "decode_legacy_name",
           "office_encryption", "read_head", "unpack_attachment", "zip_directory_size"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractedFile:
    """One leaf file taken from an attachment, saved under a safe name."""

    name: str  # decoded original path; nested archive levels joined by "/"
    path: Path  # the safely named file on disk, inside dest_dir
    size: int
    sha256: str
    archive: str | None  # outermost-first path of the archive it came from, e.g. "材料.zip/照片.rar"
    depth: int  # 0 = the attachment itself, 1 = member of the attachment, ...


# ---------------------------------------------------------------------------------------------------------------
# One member: name checks, then either a leaf or a nested archive (the format readers call back here)
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Level:
    """Where we are: the outermost-first archive path and the member path prefix (names of nested archives)."""

    archive: str
    name_prefix: str
    depth: int  # depth of the members of this archive


class Unpacker:
    """The files and findings of one attachment so far; the format readers (``unpack_zip``, ``unpack_libarchive``)
    hand each member to ``member``, which keeps it or opens it as a nested archive."""

    def __init__(self, budget: Budget, known_sha256: dict[Path, str] | None = None) -> None:
        self.budget = budget
        # Files whose SHA-256 the caller already took (the parser hashes each attachment as it writes it).
        self.known_sha256 = known_sha256 or {}
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
        level = Level(archive=display, name_prefix=f"{name}/" if depth else "", depth=depth + 1)
        taken_before = len(self.files)
        blocked = self._open(kind, source, level)
        if blocked and len(self.files) == taken_before:
            # Nothing came out: keep the archive itself so staff can still see and store what was sent.
            self._keep(name, source, archive, depth)
            return True
        return False

    def _open(self, kind: str, source: Path, level: Level) -> bool:
        """Read one archive; returns True when it could not be read through (encrypted, corrupt, unsupported)."""
        # Isolation boundary: zipfile, libarchive and rarfile parse hostile bytes and raise many undocumented
        # exception types on malformed input.  Limits (LimitExceeded) pass through; anything else becomes a
        # "corrupt archive" finding for this archive, logged with its traceback so real bugs stay visible.
        try:
            if kind == "zip":
                return read_zip(self, source, level)
            return read_libarchive(self, kind, source, level)
        except LimitExceeded:
            raise
        except Exception as error:  # noqa: BLE001 - see the isolation boundary note above
            log.warning("压缩包 %s 无法读取：%s", level.archive, error, exc_info=True)
            self.findings.append(corrupt_finding(level.archive, type(error).__name__))
            return True

    def take_whole(self, name: str, source: Path) -> None:
        """Keep the attachment itself, unopened (after a limit stopped its unpacking before any file came out)."""
        self._keep(name, source, None, 0)

    # -- leaves -------------------------------------------------------------------------------------------

    def _keep(self, name: str, path: Path, archive: str | None, depth: int) -> None:
        """Record a leaf file (linked or copied into dest_dir first when it lives elsewhere) with its hash."""
        known = self.known_sha256.get(path)
        if path.parent != self.budget.dest_dir:
            target = self.budget.next_path(name)
            try:
                os.link(path, target)
            except OSError:
                shutil.copyfile(path, target)
            path = target
        if known:  # a loose attachment: not read a second time (30 MB a mail, ~4 % of a backlog's CPU)
            size, sha256 = path.stat().st_size, known
        else:
            size, sha256 = _hash_file(path)
        self.files.append(ExtractedFile(name=name, path=path, size=size, sha256=sha256,
                                        archive=archive, depth=depth))
        if office_encryption(path):
            self.findings.append(Finding("office.encrypted", f"文件“{name}”设有打开密码，无法审核。"
                                         "请取消密码（另存为不加密的文件）后重新发送。", name))

    def member(self, level: Level, raw_name: str, decoded_ok: bool, chunks: Iterable[bytes],
               compressed: Callable[[], int] | int | None) -> None:
        """Write one archive member (its name cleaned, the limits checked on every chunk), then take it."""
        member, unsafe = clean_member_name(raw_name)
        name = level.name_prefix + member
        if not decoded_ok:
            self.findings.append(Finding("name.undecodable", f"压缩包“{level.archive}”中有文件名无法识别编码，"
                                         f"已按“{member}”记录。建议用中文 Windows 或 7-Zip 重新打包。", name))
        if unsafe:
            self.findings.append(Finding("archive.unsafe_path", f"压缩包“{level.archive}”中的路径“{raw_name}”"
                                         "含有绝对路径、盘符或“..”等不安全成分，已改为安全路径解开。", name))
        written = write_stream(chunks, self.budget.next_path(member), self.budget, level.archive, compressed)
        kept = False
        try:
            kept = self.take(name, written.path, level.archive, level.depth, f"{level.archive}/{member}")
        finally:
            if not kept:
                # A nested archive whose members were taken: the container itself is not needed on disk.  Its
                # bytes stay counted in the budget, which bounds the peak disk use of the whole attachment.
                written.path.unlink(missing_ok=True)

    def skip_link(self, level: Level, raw_name: str, target: str | None) -> None:
        """Report a symbolic or hard link member, which is never followed."""
        member, _ = clean_member_name(raw_name)
        self.findings.append(Finding("archive.symlink", f"压缩包“{level.archive}”中的“{member}”是链接"
                                     f"（指向“{target or ''}”），不是文件，已跳过。请打包文件本身。",
                                     level.name_prefix + member))

    def skip_special(self, level: Level, raw_name: str) -> None:
        """Report a device, pipe or socket member, which is never written."""
        member, _ = clean_member_name(raw_name)
        self.findings.append(Finding("archive.special_file", f"压缩包“{level.archive}”中的“{member}”是设备或管道等"
                                     "特殊文件，已跳过。", level.name_prefix + member))


# ---------------------------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------------------------

def _hash_file(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def unpack_attachment(name: str, source: Path, dest_dir: Path, limits: UnpackLimits = UnpackLimits(),
                      sha256: str = "") -> tuple[list[ExtractedFile], list[Finding]]:
    """Turn one saved attachment into its leaf files inside dest_dir, plus findings. ``sha256``: the
    attachment's own hash when the caller has it (the parser's), so a loose file is not read again.

    Archives yield their members (recursively, up to ``limits.max_depth``); anything else yields itself, hard-linked
    or copied into dest_dir under a safe name.  Bad input never raises: it becomes findings.  Raises ValueError only
    for programming errors (dest_dir not empty of our own names is fine; a source that does not exist is not).
    """
    if not source.is_file():
        raise ValueError(f"attachment file does not exist: {source}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    unpacker = Unpacker(Budget(limits, dest_dir, source.stat().st_size), {source: sha256} if sha256 else None)
    try:
        unpacker.take(name, source, None, 0, name)
    except LimitExceeded as stop:
        unpacker.findings.append(stop.finding)
        if not unpacker.files:
            unpacker.take_whole(name, source)
    return unpacker.files, unpacker.findings
