"""Streaming MIME parsing for large mails: memory bounded by a constant, not by the mail's size.

The stdlib parser (``ingest.mime.parse_message``) keeps the whole message, every part's encoded text
and its decoded bytes in memory at once: about four times the mail. No well-kept library streams MIME
parts to disk (python-multipart handles form-data, not mail: it refuses preambles and nested
multiparts), so this module splits the message on its boundaries line by line and decodes each
attachment into a file while reading. Headers of the message and of each part are still parsed by the
stdlib, and bodies, names and the summary are handled by the same functions as the in-memory path.

Malformed input is tolerated as the stdlib tolerates it: a missing close boundary or a part that ends
early becomes a defect, never an exception.
"""

from __future__ import annotations

import binascii
import email.message
import email.parser
import email.policy
import hashlib
from pathlib import Path
from typing import BinaryIO

from ingest.mime import (
    MAX_PARTS,
    AttachmentPart,
    ParsedMail,
    _Collector,
    check_not_outlook,
    decode_bytes,
    part_kind,
    summarise,
)

LINE_LIMIT = 1 << 16  # a physical line longer than this is read in pieces
HEADER_LIMIT = 1 << 20  # header blocks beyond this are cut (defect)
BODY_TEXT_LIMIT = 8 << 20  # text/plain and text/html bodies kept in memory up to this
MAX_NESTING = 20
UUENCODE = {"x-uuencode", "uuencode", "x-uue", "uue"}


class _Lines:
    """Binary lines with one line of push-back; ``at_start`` tells whether a piece starts a line."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self._back: list[tuple[bytes, bool]] = []
        self._at_start = True

    def next(self) -> tuple[bytes, bool] | None:
        if self._back:
            return self._back.pop()
        line = self.fh.readline(LINE_LIMIT)
        if not line:
            return None
        at_start = self._at_start
        self._at_start = line.endswith(b"\n")
        return line, at_start

    def push(self, item: tuple[bytes, bool]) -> None:
        self._back.append(item)


def _boundary_of(line: bytes, at_start: bool, boundaries: list[bytes]) -> bytes | None:
    """The boundary this line opens or closes (``--b`` or ``--b--``), innermost first."""
    if not at_start or not line.startswith(b"--"):
        return None
    stripped = line.rstrip(b"\r\n \t")
    for b in reversed(boundaries):
        if stripped == b"--" + b or stripped == b"--" + b + b"--":
            return stripped
    return None


class _Sink:
    """Decodes one part's transfer encoding into a file (attachments) or memory (bodies)."""

    def __init__(self, cte: str, target: Path | None) -> None:
        self.cte = cte
        self.fh = target.open("wb") if target is not None else None
        self.mem = bytearray()
        self.hash = hashlib.sha256()
        self.size = 0
        self.truncated = False
        self._b64 = b""
        self._held = b""  # the line ending before a boundary belongs to the boundary, not the part

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        self.hash.update(data)
        if self.fh is not None:
            self.fh.write(data)
        elif len(self.mem) < BODY_TEXT_LIMIT:
            self.mem += data
        else:
            self.truncated = True

    def feed(self, line: bytes) -> None:
        if self.cte in UUENCODE:
            self._feed_uu(line)
        elif self.cte == "base64":
            self._b64 += b"".join(line.split())
            cut = len(self._b64) - len(self._b64) % 4
            if cut:
                self._emit(_a2b64(self._b64[:cut]))
                self._b64 = self._b64[cut:]
        else:
            self._emit(self._held)
            body = line.rstrip(b"\r\n")
            self._held = line[len(body):]
            if self.cte == "quoted-printable":
                if body.endswith(b"="):  # soft line break: the line ending is not content
                    body, self._held = body[:-1], b""
                body = binascii.a2b_qp(body)
            self._emit(body)

    def _feed_uu(self, line: bytes) -> None:
        body = line.strip()
        if self._b64 != b"begun":
            if body.startswith(b"begin "):
                self._b64 = b"begun"
            return
        if body == b"end" or not body:
            return
        try:
            self._emit(binascii.a2b_uu(body))
        except binascii.Error:
            # Some encoders pad lines wrongly; decode the length the line announces (as the stdlib does).
            nbytes = (((body[0] - 32) & 63) * 4 + 5) // 3
            self._emit(binascii.a2b_uu(body[:nbytes]))

    def close(self) -> None:
        if self.cte in UUENCODE:
            self._b64 = b""
        if self._b64:
            self._emit(_a2b64(self._b64 + b"=" * (-len(self._b64) % 4)))
        if self.fh is not None:
            self.fh.close()


def _a2b64(data: bytes) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        return b""  # invalid base64 quantum: dropped, like the stdlib's lenient decoder


class _Walker:
    def __init__(self, lines: _Lines, parts_dir: Path, c: _Collector) -> None:
        self.lines = lines
        self.parts_dir = parts_dir
        self.c = c
        self.count = 0

    def headers(self, boundaries: list[bytes]) -> tuple[email.message.Message, bytes]:
        buf = bytearray()
        while True:
            item = self.lines.next()
            if item is None:
                break
            line, at_start = item
            if _boundary_of(line, at_start, boundaries):
                self.lines.push(item)
                self.c.defects.append("分段缺少正文（遇到分隔线）")
                break
            if at_start and line in (b"\r\n", b"\n"):
                break
            if len(buf) < HEADER_LIMIT:
                buf += line
            elif "信头过长，超出部分未读取" not in self.c.defects:
                self.c.defects.append("信头过长，超出部分未读取")
        raw = bytes(buf)
        return email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw), raw

    def entity(self, msg: email.message.Message, boundaries: list[bytes], depth: int) -> bytes | None:
        """Read the body of ``msg``; returns the outer boundary line that ended it, or None at EOF."""
        boundary = msg.get_boundary() if msg.get_content_maintype() == "multipart" else None
        if boundary and depth < MAX_NESTING:
            return self.multipart(boundary.encode("latin-1", "replace"), boundaries, depth)
        if msg.get_content_type() == "message/rfc822" and depth < MAX_NESTING and \
                str(msg.get("Content-Transfer-Encoding", "7bit")).lower() in ("7bit", "8bit", "binary"):
            inner, _raw = self.headers(boundaries)
            return self.entity(inner, boundaries, depth + 1)
        return self.leaf(msg, boundaries)

    def multipart(self, b: bytes, outer: list[bytes], depth: int) -> bytes | None:
        mine = outer + [b]
        # Preamble: skip to our first boundary (or give up at an outer one).
        while True:
            item = self.lines.next()
            if item is None:
                self.c.defects.append("StartBoundaryNotFoundDefect")
                return None
            hit = _boundary_of(*item, mine)
            if hit == b"--" + b:
                break
            if hit is not None and hit not in (b"--" + b + b"--",):
                return hit
        while True:
            part, _raw = self.headers(mine)
            term = self.entity(part, mine, depth + 1)
            if term is None:
                self.c.defects.append("CloseBoundaryNotFoundDefect")
                return None
            if term == b"--" + b:
                continue
            if term == b"--" + b + b"--":
                break
            return term  # an outer boundary closed us early
        # Epilogue: skip to the next outer boundary.
        while True:
            item = self.lines.next()
            if item is None:
                return None
            hit = _boundary_of(*item, outer)
            if hit is not None:
                return hit

    def leaf(self, msg: email.message.Message, boundaries: list[bytes]) -> bytes | None:
        index = self.count
        self.count += 1
        if index >= MAX_PARTS:
            if f"邮件分段超过 {MAX_PARTS} 个，其余分段未处理" not in self.c.defects:
                self.c.defects.append(f"邮件分段超过 {MAX_PARTS} 个，其余分段未处理")
            return self._drain(None, boundaries)
        ctype, name, inline = part_kind(msg, index, self.c.defects)
        cte = str(msg.get("Content-Transfer-Encoding", "7bit")).strip().lower()
        target = None if name is None else self.parts_dir / f"stream{index:04d}.bin"
        sink = _Sink(cte, target)
        term = self._drain(sink, boundaries)
        sink.close()
        if name is None:
            body = decode_bytes(bytes(sink.mem), msg.get_content_charset(), self.c.defects, f"正文({ctype})")
            (self.c.text if ctype == "text/plain" else self.c.html).append(body)
        else:
            self.c.attachments.append(AttachmentPart(name=name, content_type=ctype, size=sink.size,
                                                     sha256=sink.hash.hexdigest(), inline=inline, path=target))
        return term

    def _drain(self, sink: _Sink | None, boundaries: list[bytes]) -> bytes | None:
        while True:
            item = self.lines.next()
            if item is None:
                return None
            hit = _boundary_of(*item, boundaries)
            if hit is not None:
                return hit
            if sink is not None:
                sink.feed(item[0])


def parse_file(path: Path, parts_dir: Path) -> ParsedMail:
    """Parse a spooled mail without loading it: attachments are decoded into files in ``parts_dir``."""
    parts_dir.mkdir(parents=True, exist_ok=True)
    with path.open("rb") as fh:
        check_not_outlook(fh.read(8))
        fh.seek(0)
        c = _Collector()
        walker = _Walker(_Lines(fh), parts_dir, c)
        top, raw_headers = walker.headers([])
        walker.entity(top, [], 0)
    return summarise(top, raw_headers, c)
