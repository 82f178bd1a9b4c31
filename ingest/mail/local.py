"""Local sources: .eml files, an mbox or a Maildir (webmail exports, the demo mailbox), fed through
the same spool → record → pipeline path as IMAP mail. Importing twice changes nothing: the raw
bytes' sha256 is the key."""

from __future__ import annotations

import hashlib
import mailbox
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Iterator

from ingest.mail.imap import parse_message_id
from ingest.mail.spool import FileStore
from store import Store


@dataclass(frozen=True)
class LocalMail:
    """One mail read from a local .eml, mbox or Maildir: its key there, its bytes and when it was received."""

    key: str
    raw: bytes
    received_at: datetime | None


def _received_from_headers(raw: bytes) -> datetime | None:
    """The newest Received header's date (the receiving server's clock), else None."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    for line in head.replace(b"\r\n", b"\n").replace(b"\n ", b" ").replace(b"\n\t", b" ").split(b"\n"):
        if line.lower().startswith(b"received:") and b";" in line:
            try:
                dt = parsedate_to_datetime(line.rsplit(b";", 1)[1].decode("ascii", "replace").strip())
            except (TypeError, ValueError):
                return None
            return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return None


def iter_source(path: Path) -> Iterator[LocalMail]:
    """Yield every mail of a .eml file, a folder of .eml files, a Maildir or an mbox file."""
    if path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir():
        md = mailbox.Maildir(path, factory=None, create=False)
        for key in sorted(md.keys()):
            with md.get_file(key) as fh:
                raw = fh.read()
            msg = md.get_message(key)
            received = datetime.fromtimestamp(msg.get_date(), timezone.utc) if msg.get_date() else None
            yield LocalMail(f"maildir:{key}", raw, _received_from_headers(raw) or received)
    elif path.is_dir():
        for f in sorted(path.rglob("*.eml")):
            raw = f.read_bytes()
            yield LocalMail(str(f.relative_to(path)), raw, _received_from_headers(raw))
    elif path.suffix.lower() == ".eml":
        raw = path.read_bytes()
        yield LocalMail(path.name, raw, _received_from_headers(raw))
    else:
        box = mailbox.mbox(path, create=False)
        for key in box.keys():
            raw = box.get_bytes(key)
            yield LocalMail(f"mbox:{key}", raw, _received_from_headers(raw))


def import_local(source: Path, store: Store, spool: FileStore) -> tuple[int, int]:
    """Spool and record every mail of ``source``; returns (new, already known)."""
    account = f"import:{source.resolve()}"
    new = known = 0
    for item in iter_source(source):
        sha = hashlib.sha256(item.raw).hexdigest()
        if store.message_by_sha(sha) is not None:
            known += 1
            continue
        # A stable pseudo-UID from the content hash keeps re-imports idempotent.
        uid = int(sha[:15], 16)
        spooled = spool.write_bytes(account, 0, uid, item.raw)
        head = item.raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        row = store.record_spooled(account=account, folder="", uidvalidity=0, uid=uid,
                                   message_id=parse_message_id(head), sha256=spooled.sha256, size=spooled.size,
                                   spool_path=str(spooled.path), internaldate=item.received_at)
        if row is None:
            known += 1
        else:
            new += 1
    return new, known
