"""IMAP: the one class that talks to the mailbox, beside pure parsers of what it returns.

Facts this module leans on (see shared KNOWLEDGE.md, verified against imapclient 4.1's source):
- 163/126 (Coremail) refuse SELECT ("Unsafe Login") unless the client sends RFC 2971 ID after LOGIN.
- imapclient sets ``_imap.debug = 5`` so imaplib formats every literal for a logger even when logging
  is off; with multi-MB literals this made FETCH ~9x slower here, so we set it back to 0.
- Tencent Exmail ignores ``<offset.length>`` partial fetches: a reply larger than asked is taken whole.
"""

from __future__ import annotations

import email.parser
import email.policy
import logging
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from checks.errors import LoginRefused, MailboxError, MailboxUnreachable
from ingest.config import ImapSettings

log = logging.getLogger(__name__)

CLIENT_ID = {"name": "case-intake", "version": "0.1", "vendor": "case-intake", "support-email": ""}
HEADER_ITEM = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"


@dataclass(frozen=True)
class MessageHead:
    """What a FETCH of the headers tells before download: UID, size, INTERNALDATE, Message-ID."""

    uid: int
    size: int
    internaldate: datetime | None
    message_id: str | None


# ---- pure parsers ----------------------------------------------------------------------------------

def parse_message_id(header_block: bytes | None) -> str | None:
    """The Message-ID from a ``HEADER.FIELDS (MESSAGE-ID)`` block, normalised (no folding, trimmed)."""
    if not header_block:
        return None
    msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(header_block)
    value = msg.get("Message-ID")
    if value is None:
        return None
    text = " ".join(str(value).split())
    # A stranger's id of thousands of characters stopped every poll on PostgreSQL (messages.message_id is
    # VARCHAR(998), the RFC 5322 line limit): cut, it still tells the same mail again from others.
    return text[:MAX_MESSAGE_ID_CHARS] or None


MAX_MESSAGE_ID_CHARS = 998


def parse_heads(fetched: Mapping[int, Mapping[bytes, Any]]) -> list[MessageHead]:
    """The heads of a FETCH reply (RFC822.SIZE, INTERNALDATE, the Message-ID header), by UID."""
    heads = []
    for uid, data in sorted(fetched.items()):
        internal = data.get(b"INTERNALDATE")
        if isinstance(internal, datetime) and internal.tzinfo is None:
            internal = internal.replace(tzinfo=timezone.utc)
        heads.append(MessageHead(
            uid=int(uid),
            size=int(data.get(b"RFC822.SIZE", 0)),
            internaldate=internal if isinstance(internal, datetime) else None,
            message_id=parse_message_id(data.get(HEADER_ITEM)),
        ))
    return heads


def body_chunk(data: Mapping[bytes, Any], offset: int) -> bytes:
    """The literal of a ``BODY[]<offset>`` reply (servers may echo it as ``BODY[]`` when they ignore
    the partial request)."""
    for key in (f"BODY[]<{offset}>".encode(), b"BODY[]"):
        if key in data and data[key] is not None:
            return bytes(data[key])
    return b""


# ---- I/O ---------------------------------------------------------------------------------------------

def send_client_id(client: IMAPClient) -> dict[bytes, bytes] | None:
    """Send RFC 2971 ``ID`` after LOGIN (163/126 refuse SELECT without it: "Unsafe Login"); returns the
    server's ID fields, or None when the server gave none. A refused ID is logged, never fatal."""
    try:
        if b"ID" in client.capabilities():
            return _id_fields(client.id_(CLIENT_ID))
        return id_without_capability(client)
    except (IMAPClientError, OSError) as exc:
        log.warning("邮箱服务器拒绝了 IMAP ID 命令：%s", exc)
        return None


def id_without_capability(client: IMAPClient) -> dict[bytes, bytes] | None:
    """``ID`` for servers that require it without announcing it (Coremail may omit ID from CAPABILITY).

    imapclient's ``id_()`` refuses without the capability (imapclient #544), so the same command goes
    through imaplib: the one place that uses imapclient's private ``_imap``."""
    from imapclient.response_parser import parse_response

    imap = client._imap
    fields = " ".join(f'"{k}" "{v}"' for k, v in CLIENT_ID.items() if v)
    typ, data = imap._simple_command("ID", f"({fields})")
    if typ != "OK":
        raise IMAPClientError(f"ID: {typ} {data!r}")
    _typ, data = imap._untagged_response(typ, data, "ID")
    return _id_fields(parse_response(data))


def _id_fields(parsed: Any) -> dict[bytes, bytes] | None:
    """The parsed ``* ID ("name" "Dovecot" …)`` reply as a dict (NIL or nothing: None)."""
    items = parsed[0] if parsed and isinstance(parsed[0], tuple) else ()
    return {items[i]: items[i + 1] for i in range(0, len(items) - 1, 2)} or None


def _logout_quietly(client: IMAPClient) -> None:
    try:
        client.logout()
    except (IMAPClientError, OSError):
        pass


class MailboxClient:
    """One IMAP connection to the campaign's mailbox, read-only: login (with the ID 163 wants), select, heads,
    chunked download."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self._client: IMAPClient | None = None
        self.uidvalidity: int = 0
        self.uidnext: int = 0
        self.server_id: dict[bytes, bytes] | None = None

    @property
    def account(self) -> str:
        """The account as recorded with each message (user@host)."""
        return f"{self.settings.username}@{self.settings.host}"

    @property
    def client(self) -> IMAPClient:
        """The connected imapclient client; MailboxError before ``connect``."""
        if self._client is None:
            raise MailboxError("IMAP 连接未建立")
        return self._client

    def connect(self) -> None:
        """Connect, log in, send ID, select the folder; raises ``MailboxUnreachable`` or ``LoginRefused``."""
        s = self.settings
        try:
            context = ssl.create_default_context() if s.security != "plain" else None
            c = IMAPClient(s.host, port=s.port, ssl=s.security == "ssl", ssl_context=context,
                           timeout=s.timeout_seconds)
            c._imap.debug = 0  # see module docstring: imapclient's debug=5 makes big fetches ~9x slower
            c.normalise_times = False  # keep INTERNALDATE's offset instead of converting to naive local time
            if s.security == "starttls":
                c.starttls(context)
        except socket.gaierror as exc:
            raise MailboxUnreachable.unresolved(s.host) from exc
        except (IMAPClientError, OSError) as exc:  # refused, timed out, TLS handshake
            raise MailboxUnreachable.no_connection(s.host, s.port, exc) from exc
        try:
            c.login(s.username, s.password)
        except LoginError as exc:
            _logout_quietly(c)
            raise LoginRefused.for_account(s.username, s.host, exc) from exc
        except (IMAPClientError, OSError) as exc:
            _logout_quietly(c)
            raise MailboxUnreachable.no_connection(s.host, s.port, exc) from exc
        self._client = c
        try:
            self.server_id = send_client_id(c)
            self.select()
        except (IMAPClientError, OSError) as exc:
            self.close()
            raise MailboxError(f"邮箱 {s.username}@{s.host}:{s.port} 无法打开文件夹 {s.folder}：{exc}") from exc

    def select(self) -> None:
        """Select the folder read-only and note its UIDVALIDITY and UIDNEXT."""
        info = self.client.select_folder(self.settings.folder, readonly=True)
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        self.uidnext = int(info.get(b"UIDNEXT", 0))

    def close(self) -> None:
        """Log out (quietly: a dead connection is simply dropped)."""
        if self._client is not None:
            _logout_quietly(self._client)
            self._client = None

    def __enter__(self) -> MailboxClient:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def new_uids(self, after_uid: int) -> list[int]:
        """UIDs greater than ``after_uid``. Uses UIDNEXT from SELECT so an idle poll sends no SEARCH."""
        if self.uidnext and self.uidnext <= after_uid + 1:
            return []
        # "N:*" always matches the highest UID even when it is below N: filter it out.
        return sorted(u for u in self.client.search(["UID", f"{after_uid + 1}:*"]) if u > after_uid)

    def heads(self, uids: Iterable[int], batch: int = 500) -> list[MessageHead]:
        """The heads of ``uids``, fetched in batches."""
        uid_list = list(uids)
        out: list[MessageHead] = []
        for i in range(0, len(uid_list), batch):
            fetched = self.client.fetch(uid_list[i:i + batch],
                                        ["RFC822.SIZE", "INTERNALDATE", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
            out.extend(parse_heads(fetched))
        return out

    def download(self, uid: int, size: int, write: Callable[[bytes], None]) -> int:
        """Stream one message to ``write`` in partial fetches; returns the bytes written."""
        chunk = self.settings.fetch_chunk_bytes
        offset = 0
        while True:
            fetched = self.client.fetch([uid], [f"BODY.PEEK[]<{offset}.{chunk}>"])
            if uid not in fetched:
                raise MailboxError(f"邮件 UID {uid} 已不在邮箱中")
            data = body_chunk(fetched[uid], offset)
            del fetched
            got = len(data)
            if got > chunk:  # the server ignored the partial request and sent everything
                if offset:
                    raise MailboxError(f"服务器对 UID {uid} 的分段下载应答不一致")
                write(data)
                return got
            write(data)
            # Let go of this chunk before the next is read: otherwise two chunks are held at once (the fetch
            # runs beside the processing, so this is the daemon's peak, not only the fetch's).
            del data
            offset += got
            if got < chunk or (size and offset >= size) or not got:
                return offset

    def download_header(self, uid: int, write: Callable[[bytes], None], limit: int = 1 << 20) -> int:
        """Only the header block of one message (for a mail past ``intake.max_message_bytes``): enough to
        record who sent what and answer them, without bringing the body onto our disk."""
        fetched = self.client.fetch([uid], [f"BODY.PEEK[HEADER]<0.{limit}>"])
        if uid not in fetched:
            raise MailboxError(f"邮件 UID {uid} 已不在邮箱中")
        data = next((bytes(v) for k, v in fetched[uid].items() if k.startswith(b"BODY[HEADER]") and v), b"")
        write(data)
        return len(data)

    def copy_to(self, uids: list[int], folder: str) -> None:
        """Copy the messages to another folder (e.g. an archive folder), if one is set."""
        if uids and folder:
            self.client.copy(uids, folder)

    def supports_idle(self) -> bool:
        """Whether the server offers IMAP IDLE."""
        return b"IDLE" in self.client.capabilities()

    def idle_wait(self, timeout: float) -> bool:
        """Wait in IDLE up to ``timeout`` seconds; True when the server announced new mail."""
        c = self.client
        c.idle()
        try:
            responses = list(c.idle_check(timeout=timeout))
        finally:
            # Responses that arrive while DONE is in flight count too (no lost wake-up).
            _text, late = c.idle_done()
            responses += list(late)
        return any(len(r) >= 2 and r[1] in (b"EXISTS", b"RECENT") for r in responses)
