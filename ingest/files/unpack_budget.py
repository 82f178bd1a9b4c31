"""The limits of unpacking one attachment, enforced on the bytes actually written, and the findings (plain
Chinese, for the submitter and staff) an archive can give. Shared by every archive format's reader."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class UnpackLimits:
    """What one attachment may unpack to: entries, bytes, compression ratio, nesting depth."""

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
    """Something about an archive or its members the submitter or staff should know (a code and its message)."""

    code: str
    message: str  # plain Chinese, read by the submitter and by staff
    path: str | None


class LimitExceeded(Exception):
    """Raised inside unpacking only, to unwind out of every archive level once a limit is hit."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.code)
        self.finding = finding


class Budget:
    """Mutable counters shared by every archive level of one attachment."""

    def __init__(self, limits: UnpackLimits, dest_dir: Path, source_size: int) -> None:
        self.limits = limits
        self.dest_dir = dest_dir
        self.source_size = max(source_size, 1)
        self.entries = 0
        self.written = 0
        self.sequence = 0

    def next_path(self, logical_name: str) -> Path:
        """The next safe file name in dest_dir (``NNNNN.ext``), keeping a harmless extension of the logical name."""
        self.sequence += 1
        return self.dest_dir / f"{self.sequence:05d}{_safe_suffix(logical_name)}"


def _safe_suffix(name: str) -> str:
    """The name's extension, lowercased, if it is a short run of letters and digits; else none."""
    suffix = os.path.splitext(name.rsplit("/", 1)[-1])[1].lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,10}", suffix) else ""


# ---------------------------------------------------------------------------------------------------------------
# Messages (plain Chinese)
# ---------------------------------------------------------------------------------------------------------------

def encrypted_finding(archive: str, members: list[str]) -> Finding:
    """Members (or the whole file list, when ``members`` is empty) behind a password."""
    listed = "、".join(members[:5]) + ("等" if len(members) > 5 else "")
    what = f"中的文件（{listed}）" if members else "的文件目录"
    return Finding("archive.encrypted",
                   f"压缩包“{archive}”{what}设有密码，无法打开审核。请取消密码后重新打包发送。", archive)


def corrupt_finding(archive: str, detail: str) -> Finding:
    """An archive that could not be read through; ``detail`` says where it broke."""
    return Finding("archive.corrupt",
                   f"压缩包“{archive}”已损坏或不完整（{detail}），无法完整解开。请重新打包后发送。", archive)


def bomb_finding(archive: str) -> Finding:
    """Unpacking stopped: the written bytes outgrew the compressed ones past the allowed ratio."""
    return Finding("archive.bomb", f"压缩包“{archive}”解压后的大小与压缩大小相差异常（疑似“压缩炸弹”），已停止解压。"
                   "请直接发送正常打包的材料。", archive)


def too_large_finding(archive: str, what: str, limit: int) -> Finding:
    """Unpacking stopped: ``what`` (one file, or all files) outgrew ``limit`` bytes."""
    return Finding("archive.too_large", f"压缩包“{archive}”解压后{what}超过 {limit // (1 << 20)} MB 的上限，"
                   "已停止解压。请精简材料或分多封邮件发送。", archive)


# ---------------------------------------------------------------------------------------------------------------
# Writing one member, with the limits checked on every chunk
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Written:
    """A member written to disk: where, how many bytes, and their SHA-256."""

    path: Path
    size: int
    sha256: str


def write_stream(chunks: Iterable[bytes], target: Path, budget: Budget, archive: str,
                 compressed_size: Callable[[], int] | int | None) -> Written:
    """Stream chunks into target; raises LimitExceeded (after removing the partial file) when a limit is hit.

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
                    raise LimitExceeded(too_large_finding(archive, "单个文件", limits.max_file_bytes))
                if budget.written > limits.max_total_bytes:
                    raise LimitExceeded(too_large_finding(archive, "全部文件", limits.max_total_bytes))
                if size > limits.ratio_grace_bytes:
                    consumed = compressed_size() if callable(compressed_size) else compressed_size
                    if consumed is not None and size / max(consumed, 1) > limits.max_ratio:
                        raise LimitExceeded(bomb_finding(archive))
                if budget.written > limits.ratio_grace_bytes and budget.written / budget.source_size > limits.max_ratio:
                    raise LimitExceeded(bomb_finding(archive))
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return Written(target, size, digest.hexdigest())


def count_entry(budget: Budget, archive: str) -> None:
    """Count one more entry of the attachment; raises LimitExceeded past ``max_entries``."""
    budget.entries += 1
    if budget.entries > budget.limits.max_entries:
        raise LimitExceeded(Finding(
            "archive.too_many_entries",
            f"压缩包“{archive}”中的文件超过 {budget.limits.max_entries} 个，已停止解压。请只打包申报所需的材料。",
            archive))
