"""Streaming MIME parsing for large mails: memory bounded by a constant, not by the mail's size.

The stdlib parser (``ingest.mail.mime.parse_message``) keeps the whole message, every part's encoded text
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

import pybase64

from ingest.mail.mime import (
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
# Body text (text/plain and text/html parts) kept in memory for the whole mail, all parts together: a mail of
# 1,500 text parts of 200 KB each held 317 MB of bodies, several copies of which (decoded, joined, pickled for the
# rules) took the daemon to 1.1 GB. The rules and link finder need the first pages, not a novel (issue 15 §5).
BODY_TEXT_LIMIT = 8 << 20
MAX_NESTING = 20
UUENCODE = {"x-uuencode", "uuencode", "x-uue", "uue"}
# base64 text is gathered to this size before it is decoded, hashed and written: per-line calls (a 76-byte
# line decodes to 57 bytes) made decoding, hashing and writing cost more than reading the mail.
B64_BATCH = 1 << 20
B64_WHITESPACE = b" \t\n\r\x0b\x0c"  # what bytes.split() splits on
B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class _Lines:
    """Binary lines with one line of push-back; ``at_start`` tells whether a piece starts a line.

    Reads the file in large blocks of its own, so that ``bulk()`` can hand over many lines of a base64
    body at once: a line-by-line loop in Python cost more than everything else the parser does."""

    READ_SIZE = 1 << 20

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self._back: list[tuple[bytes, bool]] = []
        self._at_start = True
        self._buf = b""
        self._pos = 0
        self._eof = False

    def _fill(self) -> bool:
        """Append the next block to what is left unread; False at the end of the file."""
        if self._eof:
            return False
        data = self.fh.read(self.READ_SIZE)
        if not data:
            self._eof = True
            return False
        self._buf = self._buf[self._pos:] + data
        self._pos = 0
        return True

    def _readline(self) -> bytes:
        """Like ``readline(LINE_LIMIT)``: up to and including the next newline, at most LINE_LIMIT bytes."""
        while True:
            end = self._buf.find(b"\n", self._pos, self._pos + LINE_LIMIT)
            if end >= 0:
                line = self._buf[self._pos:end + 1]
                self._pos = end + 1
                return line
            if len(self._buf) - self._pos >= LINE_LIMIT or not self._fill():
                line = self._buf[self._pos:self._pos + LINE_LIMIT]
                self._pos += len(line)
                return line

    def next(self) -> tuple[bytes, bool] | None:
        if self._back:
            return self._back.pop()
        line = self._readline()
        if not line:
            return None
        at_start = self._at_start
        self._at_start = line.endswith(b"\n")
        return line, at_start

    def bulk(self) -> bytes:
        """Complete lines up to the next line that starts with "--" (the only lines that can be a boundary),
        in one piece. Empty when that line comes next, at the end, after a push-back or in a long line's
        middle: the caller then reads one line with ``next()``."""
        if self._back or not self._at_start:
            return b""
        while len(self._buf) - self._pos < 2:
            if not self._fill():
                return b""
        if self._buf.startswith(b"--", self._pos):
            return b""
        cut = self._buf.find(b"\n--", self._pos)
        end = cut + 1 if cut >= 0 else self._buf.rfind(b"\n", self._pos) + 1
        if end <= self._pos:
            return b""
        block = self._buf[self._pos:end]
        self._pos = end
        return block

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

    def __init__(self, cte: str, target: Path | None, keep: int = BODY_TEXT_LIMIT) -> None:
        self.cte = cte
        self.keep = keep  # bytes of a body part kept in memory (what is left of the mail's body budget)
        self.fh = target.open("wb") if target is not None else None
        self.mem = bytearray()
        self.hash = hashlib.sha256()
        self.size = 0
        self.truncated = False
        self._b64 = b""
        self._b64_pending = bytearray()  # raw base64 lines not decoded yet (see B64_BATCH)
        self._column = 0  # bytes of the current physical line already decoded (it may span batches)
        self._held = b""  # the line ending before a boundary belongs to the boundary, not the part

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        self.hash.update(data)
        if self.fh is not None:
            self.fh.write(data)
        elif len(self.mem) + len(data) <= self.keep:
            self.mem += data
        elif len(self.mem) < self.keep:
            self.mem += data[:self.keep - len(self.mem)]
            self.truncated = True
        else:
            self.truncated = True

    def feed(self, line: bytes) -> None:
        if self.cte in UUENCODE:
            self._feed_uu(line)
        elif self.cte == "base64":
            if not self._b64_pending and len(line) >= B64_BATCH and self._decode_clean(line):
                return  # a large block of well-formed base64: decoded as it is, no copy
            self._b64_pending += line
            if len(self._b64_pending) >= B64_BATCH:
                self._decode_pending()
        else:
            self._emit(self._held)
            body = line.rstrip(b"\r\n")
            self._held = line[len(body):]
            if self.cte == "quoted-printable":
                if body.endswith(b"="):  # soft line break: the line ending is not content
                    body, self._held = body[:-1], b""
                body = binascii.a2b_qp(body)
            self._emit(body)

    def _decode_clean(self, block: bytes | bytearray) -> bool:
        """Decode ``block`` in one SIMD call if it is well-formed base64 that no lenient rule can touch: whole
        lines (CRLF or LF) of alphabet letters, a multiple of 4 of them, padding only at its very end, nothing
        carried over from the block before. False (nothing consumed) otherwise.

        The check costs no extra pass over the letters: ``pybase64.b64decode`` without validation drops what
        is not an alphabet letter (as ``binascii.a2b_base64`` does) and refuses padding inside the data, so a
        stray character, a space or a shorter line makes the output shorter than the letter count predicts.
        With only letters and final padding every decoder gives the same bytes, the stdlib's ``a2b_base64``
        over the joined lines included."""
        if self._b64 or not block.endswith(b"\n"):
            return False
        # Line ends as the first line has them: a line that differs (or a stray character) changes the real
        # letter count, which the output length below then betrays. One pass, where counting CRs too was two.
        newlines = block.count(b"\n")
        first = block.find(b"\n")
        letters = len(block) - newlines * (2 if first > 0 and block[first - 1] == 13 else 1)
        if letters % 4:
            return False
        tail = block[-16:].rstrip(b"\r\n")  # mailers often end the body with an empty line
        pad = len(tail) - len(tail.rstrip(b"="))
        try:
            data = pybase64.b64decode(block, validate=False)
        except binascii.Error:
            return False
        if len(data) != letters // 4 * 3 - pad or pad > 2:
            return False
        self._column = 0  # the block ends a line
        self._emit(data)
        return True

    def _decode_pending(self) -> None:
        if self._decode_clean(self._b64_pending):
            self._b64_pending.clear()
            return
        pending = bytes(self._b64_pending)
        self._b64_pending.clear()
        compact = pending.translate(None, B64_WHITESPACE)
        column = self._column
        last_newline = pending.rfind(b"\n")
        self._column = len(pending) - last_newline - 1 if last_newline >= 0 else column + len(pending)
        if not compact.translate(None, B64_ALPHABET) and not self._b64.translate(None, B64_ALPHABET):
            # Only base64 letters (carried-over ones included): one call gives what line by line gives.
            self._take_b64(compact)
            return
        # Padding or stray characters: lenient decoding depends on where each call starts, so decode in the
        # pieces the line reader yields (a physical line, cut every LINE_LIMIT bytes), as it always did.
        for line in pending.split(b"\n"):
            start = 0
            while start < len(line):
                end = start + LINE_LIMIT - column % LINE_LIMIT
                self._take_b64(line[start:end].translate(None, B64_WHITESPACE))
                column += end - start
                start = end
            column = 0

    def _take_b64(self, letters: bytes) -> None:
        self._b64 += letters
        cut = len(self._b64) - len(self._b64) % 4
        if cut:
            self._emit(_a2b64(self._b64[:cut]))
            self._b64 = self._b64[cut:]

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
        elif self._b64_pending:
            self._decode_pending()
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
        self.body_left = BODY_TEXT_LIMIT

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
        if boundary is not None and depth < MAX_NESTING:  # boundary="" is legal-ish: "--" and "----"
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
        sink = _Sink(cte, target, keep=self.body_left)
        term = self._drain(sink, boundaries)
        sink.close()
        if name is None:
            self.body_left -= len(sink.mem)
            if sink.truncated:
                note = f"邮件正文超过 {BODY_TEXT_LIMIT >> 20} MB，超出部分未读取"
                if note not in self.c.defects:
                    self.c.defects.append(note)
            if sink.mem:
                body = decode_bytes(bytes(sink.mem), msg.get_content_charset(), self.c.defects, f"正文({ctype})")
                (self.c.text if ctype == "text/plain" else self.c.html).append(body)
        else:
            self.c.attachments.append(AttachmentPart(name=name, content_type=ctype, size=sink.size,
                                                     sha256=sink.hash.hexdigest(), inline=inline, path=target))
        return term

    def _drain(self, sink: _Sink | None, boundaries: list[bytes]) -> bytes | None:
        # base64 lines never start with "--", and base64 decoding ignores line ends: such a body goes to the
        # sink in blocks of many lines. Other encodings keep their line ends, so they go line by line.
        in_blocks = sink is None or sink.cte == "base64"
        while True:
            if in_blocks:
                block = self.lines.bulk()
                if block:
                    if sink is not None:
                        sink.feed(block)
                    continue
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
