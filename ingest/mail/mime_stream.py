"""Streaming MIME parsing for large mails: memory bounded by a constant, not by the mail's size.

The stdlib parser (``ingest.mail.mime.parse_message``) keeps the whole message, every part's encoded text
and its decoded bytes in memory at once: about four times the mail. No well-kept library streams MIME
parts to disk (python-multipart handles form-data, not mail: it refuses preambles and nested
multiparts), so this module splits the message on its boundaries line by line and decodes each
attachment into a file while reading (``ingest.mail.transfer_decoding``). Headers of the message and of each part
are still parsed by the stdlib, and bodies, names and the summary are handled by the same functions as the
in-memory path.

Malformed input is tolerated as the stdlib tolerates it: a missing close boundary or a part that ends
early becomes a defect, never an exception.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
from io import BufferedIOBase
from pathlib import Path
from typing import Sequence

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
from ingest.mail.transfer_decoding import BODY_TEXT_LIMIT, LINE_LIMIT, PartSink

HEADER_LIMIT = 1 << 20  # header blocks beyond this are cut (defect)
MAX_NESTING = 20


# Boundaries searched for one by one in ``_Lines.bulk``; with more, the search is for any line starting with "--".
_LONG_SEARCHES = 4
# Dashes checked one by one in ``_find_delimiter`` before it searches for the delimiters themselves.
_DASH_PROBES = 16


class _Lines:
    """Binary lines with one line of push-back; ``at_start`` tells whether a piece starts a line.

    Reads the file in large blocks of its own, so that ``bulk()`` can hand over many lines of a base64
    body at once: a line-by-line loop in Python cost more than everything else the parser does. One buffer
    serves the whole mail, refilled in place (``readinto``): the line left over from a block moves to its
    front, where joining it to the next block copied the whole block, and ``bulk()`` hands out views of it."""

    READ_SIZE = 1 << 20

    def __init__(self, fh: BufferedIOBase) -> None:
        self.fh = fh
        self._back: list[tuple[bytes, bool]] = []
        self._at_start = True
        # Room for a block and what is left of the one before: less than a line, LINE_LIMIT at most (_fill).
        self._buf = bytearray(LINE_LIMIT + self.READ_SIZE)
        self._view = memoryview(self._buf)  # never resized, so views of it may be held while it is refilled
        self._pos = 0
        self._end = 0  # the bytes read are _buf[:_end]; _buf[_pos:_end] is what is left unread
        self._eof = False

    def _fill(self) -> bool:
        """Read the next block behind what is left unread (moved to the buffer's front); False at the end of
        the file. Called only with less than LINE_LIMIT bytes left unread."""
        if self._eof:
            return False
        left = self._end - self._pos
        self._buf[:left] = self._view[self._pos:self._end]
        read = self.fh.readinto(self._view[left:left + self.READ_SIZE])
        self._pos, self._end = 0, left + (read or 0)
        if not read:
            self._eof = True
            return False
        return True

    def _readline(self) -> bytes:
        """Like ``readline(LINE_LIMIT)``: up to and including the next newline, at most LINE_LIMIT bytes."""
        while True:
            end = self._buf.find(b"\n", self._pos, min(self._end, self._pos + LINE_LIMIT))
            if end >= 0:
                line = bytes(self._view[self._pos:end + 1])
                self._pos = end + 1
                return line
            if self._end - self._pos >= LINE_LIMIT or not self._fill():
                stop = min(self._end, self._pos + LINE_LIMIT)
                line = bytes(self._view[self._pos:stop])
                self._pos = stop
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

    def bulk(self, boundaries: Sequence[bytes] = ()) -> memoryview | bytes:
        """Complete lines up to the next line that starts with "--" and one of ``boundaries`` (the only lines
        that can end the part), in one piece: a view of the buffer, valid until the next read (the caller
        decodes or copies it at once). Empty when such a line comes next, at the end, after a push-back or in
        a long line's middle: the caller then reads one line with ``next()``.

        Only each whole delimiter ("\\n--" and a boundary) ends the block (``_find_delimiter``): another line
        starting with "--" is content either way (the base64 decoder takes blocks and lines alike). Past a few
        nested boundaries (a hostile mail nests hundreds) the search is for any "\\n--", one needle, not many."""
        if self._back or not self._at_start:
            return b""
        while self._end - self._pos < 2:
            if not self._fill():
                return b""
        if self._buf.startswith(b"--", self._pos, self._end):
            return b""
        delimiters = [b"\n--" + b for b in boundaries] if 0 < len(boundaries) <= _LONG_SEARCHES else [b"\n--"]
        cut = _find_delimiter(self._buf, self._pos, self._end, delimiters)
        end = cut + 1 if cut >= 0 else self._buf.rfind(b"\n", self._pos, self._end) + 1
        if end <= self._pos:
            return b""
        block = self._view[self._pos:end]
        self._pos = end
        return block

    def push(self, item: tuple[bytes, bool]) -> None:
        self._back.append(item)


def _find_delimiter(buf: bytearray, start: int, stop: int, delimiters: list[bytes]) -> int:
    """The first index in ``buf[start:stop]`` where one of ``delimiters`` (each "\\n--…") begins, or -1.

    base64 has no "-": a search for the dash alone is a ``memchr`` over the block, several times faster than
    ``bytes.find`` of a longer needle, which compares at nearly every byte. Each dash found is checked for a
    delimiter; a body full of dashes (text, or a hostile mail) leaves after ``_DASH_PROBES`` of them for the
    needle searches, from the first dash not yet checked."""
    probe = start
    for _ in range(_DASH_PROBES):
        dash = buf.find(b"-", probe, stop)
        if dash < 0:
            return -1
        line = dash - 1  # where the delimiter would start (its newline)
        if line >= start and any(buf.startswith(d, line, stop) for d in delimiters):
            return line
        probe = dash + 1
    # Every delimiter starting before probe - 1 has its first dash before probe: checked above.
    found = [buf.find(d, max(start, probe - 1), stop) for d in delimiters]
    return min((f for f in found if f >= 0), default=-1)


def _boundary_of(line: bytes, at_start: bool, boundaries: list[bytes]) -> bytes | None:
    """The boundary this line opens or closes (``--b`` or ``--b--``), innermost first."""
    if not at_start or not line.startswith(b"--"):
        return None
    stripped = line.rstrip(b"\r\n \t")
    for b in reversed(boundaries):
        if stripped == b"--" + b or stripped == b"--" + b + b"--":
            return stripped
    return None


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
        sink = PartSink(cte, target, keep=self.body_left)
        try:
            term = self._drain(sink, boundaries)
        except BaseException:
            sink.abort()
            raise
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
                                                     sha256=sink.sha256, inline=inline, path=target))
        return term

    def _drain(self, sink: PartSink | None, boundaries: list[bytes]) -> bytes | None:
        # base64 lines never start with "--", and base64 decoding ignores line ends: such a body goes to the
        # sink in blocks of many lines. Other encodings keep their line ends, so they go line by line.
        in_blocks = sink is None or sink.cte == "base64"
        while True:
            if in_blocks:
                block = self.lines.bulk(boundaries)
                if block:
                    if sink is not None:
                        sink.feed_block(block)
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
