"""Decoding one MIME part's Content-Transfer-Encoding (base64, quoted-printable, uuencode, 7bit/8bit/binary) while
it streams, into a file (attachments, with their SHA-256) or into memory up to a budget (body text), with its size.

Used by the streaming parser (``ingest.mail.mime_stream``), which splits the mail on its boundaries and feeds each
part's lines here. Lenient as the stdlib is: a stray character or an invalid quantum is dropped, never raised.
"""

from __future__ import annotations

import binascii
from pathlib import Path

import pybase64

from ingest.mail.write_behind import HashingWriter

LINE_LIMIT = 1 << 16  # a physical line longer than this is read in pieces
# Body text (text/plain and text/html parts) kept in memory for the whole mail, all parts together: a mail of
# 1,500 text parts of 200 KB each held 317 MB of bodies, several copies of which (decoded, joined, pickled for the
# rules) took the daemon to 1.1 GB. The rules and link finder need the first pages, not a novel (issue 15 §5).
BODY_TEXT_LIMIT = 8 << 20
UUENCODE = {"x-uuencode", "uuencode", "x-uue", "uue"}
# base64 text is gathered to this size before it is decoded, hashed and written: per-line calls (a 76-byte
# line decodes to 57 bytes) made decoding, hashing and writing cost more than reading the mail.
B64_BATCH = 1 << 20
B64_WHITESPACE = b" \t\n\r\x0b\x0c"  # what bytes.split() splits on
B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_FIRST_LINE_PROBE = 1024  # bytes of a view copied to find its first line's end (base64 lines are 76)


class PartSink:
    """Decodes one part's transfer encoding into a file (attachments) or memory (bodies)."""

    def __init__(self, cte: str, target: Path | None, keep: int = BODY_TEXT_LIMIT) -> None:
        self.cte = cte
        self.keep = keep  # bytes of a body part kept in memory (what is left of the mail's body budget)
        self.fh = target.open("wb") if target is not None else None
        # A file's bytes are hashed as they are written, on a second core while the next block is decoded.
        self._out = HashingWriter(self.fh) if self.fh is not None else None
        self.mem = bytearray()
        self.sha256 = ""  # an attachment's, set by close(); a body part has none (nothing compares bodies)
        self.size = 0
        self.truncated = False
        self._b64 = b""
        self._b64_pending = bytearray()  # raw base64 lines not decoded yet (see B64_BATCH)
        self._column = 0  # bytes of the current physical line already decoded (it may span batches)
        self._held = b""  # the line ending before a boundary belongs to the boundary, not the part

    def _emit(self, data: bytes) -> None:
        """Count, hash and keep decoded bytes: to the file, or to memory up to ``keep`` (then ``truncated``)."""
        if not data:
            return
        self.size += len(data)
        if self._out is not None:
            self._out.write(data)
            return
        if len(self.mem) + len(data) <= self.keep:
            self.mem += data
        elif len(self.mem) < self.keep:
            self.mem += data[:self.keep - len(self.mem)]
            self.truncated = True
        else:
            self.truncated = True

    def feed(self, line: bytes) -> None:
        """Decode the next piece of the part: one line (base64: a line or a block of whole lines)."""
        if self.cte in UUENCODE:
            self._feed_uu(line)
        elif self.cte == "base64":
            self.feed_block(line)
        else:
            self._emit(self._held)
            body = line.rstrip(b"\r\n")
            self._held = line[len(body):]
            if self.cte == "quoted-printable":
                if body.endswith(b"="):  # soft line break: the line ending is not content
                    body, self._held = body[:-1], b""
                body = binascii.a2b_qp(body)
            self._emit(body)

    def feed_block(self, block: bytes | memoryview) -> None:
        """Decode the next lines of a base64 part: one or many whole lines, in bytes or a view of the parser's
        buffer (decoded or copied here, before the parser reads on)."""
        # A large block of well-formed base64 is decoded as it is, no copy. Half the batch: the parser's
        # blocks are reads of 1 MB (its READ_SIZE) cut at a line end, so about half of them are a little shorter.
        if not self._b64_pending and len(block) >= B64_BATCH // 2 and self._decode_clean(block):
            return
        self._b64_pending += block
        if len(self._b64_pending) >= B64_BATCH:
            self._decode_pending()

    def _decode_clean(self, block: bytes | bytearray | memoryview) -> bool:
        """Decode ``block`` in one SIMD call if it is well-formed base64 that no lenient rule can touch: whole
        lines (CRLF or LF) of alphabet letters, a multiple of 4 of them, padding only at its very end, nothing
        carried over from the block before. False (nothing consumed) otherwise.

        The check costs no extra pass over the letters: ``pybase64.b64decode`` without validation drops what
        is not an alphabet letter (as ``binascii.a2b_base64`` does) and refuses padding inside the data, so a
        stray character, a space or a shorter line makes the output shorter than the letter count predicts.
        With only letters and final padding every decoder gives the same bytes, the stdlib's ``a2b_base64``
        over the joined lines included."""
        if self._b64 or block[-1:] != b"\n":
            return False
        # Line ends as the first line has them: a line that differs (or a stray character) changes the real
        # letter count, which the output length below then betrays.
        first = _first_newline(block)
        eol = 2 if first > 0 and block[first - 1] == 13 else 1
        letters = len(block) - _line_count(block, first + 1, eol) * eol
        if letters % 4:
            return False
        tail = bytes(block[-16:]).rstrip(b"\r\n")  # mailers often end the body with an empty line
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
        """Decode the gathered base64 lines: in one call when they are only letters, else piece by piece."""
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
        """Decode whole 4-letter quanta of ``letters`` (with what was carried over); carry the rest."""
        self._b64 += letters
        cut = len(self._b64) - len(self._b64) % 4
        if cut:
            self._emit(_a2b64(self._b64[:cut]))
            self._b64 = self._b64[cut:]

    def _feed_uu(self, line: bytes) -> None:
        """One uuencoded line: lines before ``begin`` and the ``end`` line are not data."""
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
        """Decode what is still pending (a short final quantum padded as the stdlib does) and close the file."""
        if self.cte in UUENCODE:
            self._b64 = b""
        elif self._b64_pending:
            self._decode_pending()
        if self._b64:
            self._emit(_a2b64(self._b64 + b"=" * (-len(self._b64) % 4)))
        if self._out is not None and self.fh is not None:
            try:
                self.sha256 = self._out.finish()
            finally:
                self.fh.close()

    def abort(self) -> None:
        """Stop without decoding the rest (the parse failed): wait for a write in flight, close the file."""
        if self._out is not None:
            self._out.abort()
        if self.fh is not None:
            self.fh.close()


def _first_newline(block: bytes | bytearray | memoryview) -> int:
    """The index of the first newline in ``block`` (which holds one); a view is searched in a copy of its first
    line (a view has no ``find``), the whole of it only when that line is long."""
    if not isinstance(block, memoryview):
        return block.find(b"\n")
    first = bytes(block[:_FIRST_LINE_PROBE]).find(b"\n")
    return first if first >= 0 else bytes(block).find(b"\n")


def _line_count(block: bytes | bytearray | memoryview, width: int, eol: int) -> int:
    """The number of line ends in ``block`` (which ends one), where ``width`` is its first line's length, line
    end included. Mailers write lines of one length: then the line ends are every ``width``-th byte (and the
    last, shorter line has one, at its end), and the check reads those bytes only, where counting the newlines
    read every byte (a fifth of the decoding time). A line that is not there, or an extra line end elsewhere,
    is a stray character to the caller, caught by the output length all the same."""
    lines, rest = divmod(len(block), width)
    full = lines * width
    if bytes(block[width - 1:full:width]).count(b"\n") == lines and \
            (eol == 1 or bytes(block[width - 2:full:width]).count(b"\r") == lines) and \
            (not rest or bytes(block[full:]).count(b"\n") == 1):
        return lines + (1 if rest else 0)
    return bytes(block).count(b"\n")


def _a2b64(data: bytes) -> bytes:
    """The stdlib's lenient base64 decoding of whole quanta."""
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        return b""  # invalid base64 quantum: dropped, like the stdlib's lenient decoder
