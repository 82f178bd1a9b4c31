"""The spool writer: chunks written (and hashed) behind the download, a failed write never lost."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from ingest.mail.spool import Spool, SpoolWriter
from ingest.mail.write_behind import BEHIND_MIN_BYTES, HashingWriter


def test_chunks_written_behind_the_download_arrive_whole_and_hashed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    chunks = [os.urandom(n) for n in (1, 4 << 20, 17, 3 << 20, 0, 999)]
    writer = spool.writer("jcjyzj2025@163.com", 7, 42)
    for chunk in chunks:
        writer.write(chunk)
    spooled = writer.commit()
    data = b"".join(chunks)
    assert spooled.path.read_bytes() == data
    assert (spooled.size, spooled.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert list(spool.tmp_dir.iterdir()) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_write_that_fails_behind_the_download_is_raised_and_leaves_nothing(tmp_path: Path) -> None:
    """A full disk: the write running behind fails (ENOSPC, from the real /dev/full); the error comes out of
    the writer's next call, as the fetch needs it to stop the cycle, and abort leaves no partial file."""
    spool = Spool(tmp_path / "spool")
    writer = spool.writer("jcjyzj2025@163.com", 7, 43)
    assert isinstance(writer, SpoolWriter)
    writer._fh.close()
    writer._fh = open("/dev/full", "wb", buffering=0)  # noqa: SIM115 - closed by abort
    writer._out = HashingWriter(writer._fh)
    writer.write(b"x" * BEHIND_MIN_BYTES)  # large enough to be written behind
    with pytest.raises(OSError) as failed:
        writer.write(b"y" * BEHIND_MIN_BYTES)
        writer.commit()
    assert failed.value.errno == errno.ENOSPC
    writer.abort()
    assert list(spool.tmp_dir.iterdir()) == []
    assert list((tmp_path / "spool" / "raw").rglob("*.eml")) == []
