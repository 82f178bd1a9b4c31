"""The spool: raw messages on disk, written atomically and durably before anything else happens.

Layout under ``spool_dir``::

    raw/<account-slug>/<uidvalidity>/<uid>.eml    the bytes exactly as the server sent them
    tmp/                                          partial downloads (same filesystem, for rename)
    work/<message-row-id>/                        unpacked files of one message (re-creatable)

A message counts as received only once its file is fsynced and renamed into place and its
directory entry is fsynced too: the same durability as a Maildir delivery.

``FileStore`` is what the pipeline asks of the spool; ``Spool`` is its one implementation, a directory: a local
disk, or in distributed mode a shared mount at the same path on every host. docs/distributed.md says how an
S3-compatible store would implement it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Protocol

from ingest.mail.write_behind import HashingWriter


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "account"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class SpooledFile:
    """A message committed to the spool: its final path, size and SHA-256."""

    path: Path
    size: int
    sha256: str


class SpoolWriter:
    """One raw message being written: feed chunks, then ``commit()`` (or ``abort()``).

    Each chunk is written and hashed while the caller receives the next one (``HashingWriter``). An error of the
    write (a full disk) is raised by the next ``write`` or by ``commit``."""

    def __init__(self, final_path: Path, tmp_dir: Path) -> None:
        self.final_path = final_path
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, suffix=".part")
        self._tmp = Path(tmp)
        self._fh: BinaryIO = os.fdopen(fd, "wb")
        self._out = HashingWriter(self._fh)

    @property
    def size(self) -> int:
        """Bytes received so far."""
        return self._out.size

    def write(self, chunk: bytes) -> None:
        """Append a chunk of the message, hashing as it goes (written while the next chunk arrives)."""
        self._out.write(chunk)

    def commit(self) -> SpooledFile:
        """Make the message durable: fsync, rename into place, fsync the directory; returns what was written."""
        digest = self._out.finish()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self.final_path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._tmp, self.final_path)
        _fsync_dir(self.final_path.parent)
        return SpooledFile(self.final_path, self.size, digest)

    def abort(self) -> None:
        """Drop the partial download."""
        self._out.abort()
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)


class RawWriter(Protocol):
    """One raw message being stored: chunks in, then committed (durable and visible) or aborted (nothing left)."""

    @property
    def size(self) -> int:
        """Bytes written so far."""

    def write(self, chunk: bytes) -> None:
        """Append the next bytes of the message."""

    def commit(self) -> SpooledFile:
        """Make the message durable and visible under its final name."""

    def abort(self) -> None:
        """Drop what was written."""


class FileStore(Protocol):
    """Where raw messages and the files unpacked from them are kept, for every step and every host (see module doc).
    Paths handed out are local paths the readers open (an object store would stage files in a local scratch)."""

    root: Path
    tmp_dir: Path

    def writer(self, account: str, uidvalidity: int, uid: int) -> RawWriter:
        """A writer for one raw message of a mailbox epoch."""

    def write_bytes(self, account: str, uidvalidity: int, uid: int, data: bytes) -> SpooledFile:
        """Store one raw message held in memory."""

    def fresh_work_dir(self, message_row_id: int) -> Path:
        """An empty working directory for one message (what an earlier attempt left is removed)."""

    def work_dir(self, message_row_id: int) -> Path:
        """The working directory of one message."""

    def prune_work_dir(self, message_row_id: int, keep: Iterable[Path]) -> int:
        """Keep only the files the database points at; returns the bytes freed."""

    def drop_work_dir(self, message_row_id: int) -> None:
        """Remove everything unpacked for a message that is not filed."""

    def clean_tmp(self, older_than_seconds: float = 0) -> int:
        """Remove partial writes left by killed processes; returns how many."""

    def contains(self, path: Path) -> bool:
        """Whether a path lies inside the store."""


class Spool:
    """The spool directory: raw messages by account, UIDVALIDITY and UID, partial downloads, per-message work dirs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        (root / "raw").mkdir(exist_ok=True)
        (root / "work").mkdir(exist_ok=True)

    def raw_path(self, account: str, uidvalidity: int, uid: int) -> Path:
        """Where the raw message of this mailbox position is kept."""
        return self.root / "raw" / _slug(account) / str(uidvalidity) / f"{uid}.eml"

    def writer(self, account: str, uidvalidity: int, uid: int) -> SpoolWriter:
        """A writer that downloads the message to a temporary file and commits it to its raw path."""
        return SpoolWriter(self.raw_path(account, uidvalidity, uid), self.tmp_dir)

    def write_bytes(self, account: str, uidvalidity: int, uid: int, data: bytes) -> SpooledFile:
        """Write a whole message at once (local import, tests), with the same commit as a download."""
        w = self.writer(account, uidvalidity, uid)
        try:
            w.write(data)
            return w.commit()
        except BaseException:
            w.abort()
            raise

    def fresh_work_dir(self, message_row_id: int) -> Path:
        """An empty working directory for one message: leftovers of a killed run are removed first."""
        d = self.root / "work" / str(message_row_id)
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        return d

    def work_dir(self, message_row_id: int) -> Path:
        """The working directory of one message (parts, unpacked files)."""
        return self.root / "work" / str(message_row_id)

    def prune_work_dir(self, message_row_id: int, keep: Iterable[Path]) -> int:
        """Remove what nobody needs once a version is stored (streamed parts, unpacked archives, intermediate
        copies): only ``keep`` (the files the database points at) stays. Returns the bytes freed. Everything
        removed can be made again from the raw message."""
        d = self.work_dir(message_row_id)
        wanted = {p.resolve() for p in keep}
        freed = 0
        for path in sorted(d.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir() and not path.is_symlink():
                if not any(path.iterdir()):
                    path.rmdir()
            elif path.resolve() not in wanted:
                st = path.lstat()
                if st.st_nlink <= 1:
                    freed += st.st_size
                path.unlink()
        return freed

    def drop_work_dir(self, message_row_id: int) -> None:
        """A message that is not filed (skipped, not mail) keeps nothing unpacked."""
        shutil.rmtree(self.work_dir(message_row_id), ignore_errors=True)

    def clean_tmp(self, older_than_seconds: float = 0) -> int:
        """Remove partial downloads left by a killed process; returns how many were removed. With
        ``older_than_seconds`` only those untouched that long: other processes (distributed mode, one spool
        shared by every host) may be downloading into the same directory now."""
        removed = 0
        cutoff = time.time() - older_than_seconds
        for p in self.tmp_dir.glob("*.part"):
            try:
                if older_than_seconds and p.stat().st_mtime > cutoff:
                    continue
            except FileNotFoundError:
                continue
            p.unlink(missing_ok=True)
            removed += 1
        return removed

    def contains(self, path: Path) -> bool:
        """Whether ``path`` lies inside the spool (after resolving links)."""
        try:
            path.resolve().relative_to(self.root.resolve())
            return True
        except ValueError:
            return False


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def iter_file(path: Path, chunk: int = 1 << 20) -> Iterator[bytes]:
    """A file's bytes in chunks."""
    with path.open("rb") as fh:
        yield from iter(lambda: fh.read(chunk), b"")
