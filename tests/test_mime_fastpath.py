"""The streaming parser's block decoding (ingest/mail/mime_stream.py) against the stdlib parser: byte-identical
attachments on generated mails whose boundaries, line ends and odd line lengths land on the edges of the
parser's read blocks and decode batches (both made tiny here, so every edge case comes up in small mails)."""

from __future__ import annotations

import base64
import email
import email.policy
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ingest.mail import mime_stream, transfer_decoding
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def _b64_body(data: bytes, line: int, eol: bytes, pad: bool) -> bytes:
    enc = base64.b64encode(data)
    if not pad:
        enc = enc.rstrip(b"=")
    return b"".join(enc[i:i + line] + eol for i in range(0, len(enc), line))


@st.composite
def mails(draw: st.DrawFn, strays: bool = False) -> bytes:
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    boundary = draw(st.sampled_from([b"=_b", b"----=_NextPart_000", b"b"]))
    out = [b"Subject: x", b"MIME-Version: 1.0", b'Content-Type: multipart/mixed; boundary="' + boundary + b'"', b"",
           b"preamble", b"--" + boundary, b"Content-Type: text/plain; charset=utf-8", b"", b"hello"]
    for i in range(draw(st.integers(1, 3))):
        data = draw(st.binary(min_size=0, max_size=3000))
        line = draw(st.sampled_from([76, 76, 64, 72, 73, 75, 77, 4, 1]))
        out += [b"--" + boundary, b"Content-Type: application/octet-stream",
                b"Content-Transfer-Encoding: base64", b'Content-Disposition: attachment; filename="f%d.bin"' % i, b""]
        body = _b64_body(data, line, eol, draw(st.booleans()))
        if strays and body and draw(st.booleans()):
            # A line starting with "--" that is no boundary (a longer token, or another word): content, whether
            # the parser meets it line by line or inside a block searched for the boundaries themselves.
            stray = draw(st.sampled_from([b"--" + boundary + b"x", b"--" + boundary[:-1], b"--not-a-boundary", b"--"]))
            lines = body.split(eol)
            at = draw(st.integers(0, max(0, len(lines) - 2)))
            body = eol.join([*lines[:at], stray, *lines[at:]])
        if draw(st.booleans()):
            body += eol  # an empty line before the boundary, as many mailers write
        out.append(body[: -len(eol)] if body else b"")
    out += [b"--" + boundary + b"--", b""]
    return eol.join(out)


def _stdlib_attachments(raw: bytes) -> list[bytes]:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return [p.get_payload(decode=True) for p in msg.walk() if p.get_filename()]


@SETTINGS
@given(raw=mails(), read_size=st.integers(16, 700), batch=st.sampled_from([64, 77, 300, 1024]))
@example(raw=b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64"
             b'\r\nContent-Disposition: attachment; filename="a"\r\n\r\nQUJD\r\nQUJD\r\n--b--\r\n',
         read_size=16, batch=64)
def test_block_decoding_gives_the_stdlib_bytes(raw: bytes, read_size: int, batch: int) -> None:
    workdir = Path(tempfile.mkdtemp())
    try:
        path = workdir / "m.eml"
        path.write_bytes(raw)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(mime_stream._Lines, "READ_SIZE", read_size)
            mp.setattr(transfer_decoding, "B64_BATCH", batch)
            parsed = mime_stream.parse_file(path, workdir / "parts")
        got = [a.path.read_bytes() if a.path is not None else b"" for a in parsed.attachments]
        assert got == _stdlib_attachments(raw)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_stray_character_or_inner_padding_leaves_the_fast_path(tmp_path: Path) -> None:
    """Malformed base64 is decoded as before (leniently, as the stdlib does), never by the block decoder."""
    good = base64.b64encode(bytes(range(256)) * 8)
    lines = [good[i:i + 76] for i in range(0, len(good), 76)]
    for bad in (lines[3][:10] + b"*" + lines[3][11:], lines[3][:40] + b"==" + lines[3][42:]):
        body = b"\r\n".join(lines[:3] + [bad] + lines[4:]) + b"\r\n"
        sink = transfer_decoding.PartSink("base64", None)
        assert not sink._decode_clean(body)
        assert sink.size == 0 and not sink._b64
    clean = b"\r\n".join(lines) + b"\r\n"
    sink = transfer_decoding.PartSink("base64", None)
    assert sink._decode_clean(clean) and bytes(sink.mem) == bytes(range(256)) * 8


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_a_line_end_inside_lines_of_one_length_leaves_the_fast_path(eol: bytes) -> None:
    """The fast path finds the line ends of equal lines at every line's width, reading those bytes only; an
    extra line end (or a whole quantum of them) inside a line, the width kept, must still be caught."""
    good = base64.b64encode(bytes(range(256)) * 12)  # 4096 letters
    lines = [good[i:i + 76] for i in range(0, 76 * 40, 76)]  # 40 lines of 76: no short last line, no padding
    clean = eol.join(lines) + eol
    assert transfer_decoding._line_count(clean, 76 + len(eol), len(eol)) == 40
    for filler in (b"\n", b"\n" * 4, b"\r\n" * 2):
        bad = lines[5][:20] + filler + lines[5][20 + len(filler):]
        body = eol.join(lines[:5] + [bad] + lines[6:]) + eol
        assert len(body) == len(clean)
        sink = transfer_decoding.PartSink("base64", None)
        assert not sink._decode_clean(body)
        sink.feed(body)
        sink.close()
        mail = (b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Transfer-Encoding: base64\n'
                b'Content-Disposition: attachment; filename="a"\n\n' + body + b"--b--\n")
        assert bytes(sink.mem) == _stdlib_attachments(mail)[0]


def test_letters_carried_over_from_an_odd_line_are_not_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A line of 5 letters leaves one letter for the next quantum; the next block, clean on its own, must not
    be decoded without it."""
    monkeypatch.setattr(transfer_decoding, "B64_BATCH", 4)
    data = bytes(range(200))
    enc = base64.b64encode(data)
    sink = transfer_decoding.PartSink("base64", None)
    sink.feed(enc[:5] + b"\r\n")
    rest = enc[5:]
    for i in range(0, len(rest), 76):
        sink.feed(rest[i:i + 76] + b"\r\n")
    sink.close()
    assert bytes(sink.mem) == data


@SETTINGS
@given(raw=mails(strays=True), read_size=st.integers(16, 700), batch=st.sampled_from([64, 77, 300, 1024]))
def test_searching_for_the_boundaries_themselves_gives_what_the_search_for_dashes_gave(raw: bytes, read_size: int,
                                                                                        batch: int) -> None:
    """``_Lines.bulk`` searches for each open boundary's delimiter; with more than ``_LONG_SEARCHES`` open it
    searches for any line starting with "--", as it always did. Either search looks at the dashes one by one
    first and, past ``_DASH_PROBES`` of them, for the delimiters themselves. All must cut the same parts, whatever
    lines starting with "--" (no boundary) the bodies hold and wherever the blocks end."""
    workdir = Path(tempfile.mkdtemp())
    try:
        path = workdir / "m.eml"
        path.write_bytes(raw)
        got = []
        for long_searches, dash_probes in ((mime_stream._LONG_SEARCHES, mime_stream._DASH_PROBES),
                                           (0, mime_stream._DASH_PROBES), (mime_stream._LONG_SEARCHES, 0),
                                           (mime_stream._LONG_SEARCHES, 1), (0, 2)):
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(mime_stream._Lines, "READ_SIZE", read_size)
                mp.setattr(transfer_decoding, "B64_BATCH", batch)
                mp.setattr(mime_stream, "_LONG_SEARCHES", long_searches)
                mp.setattr(mime_stream, "_DASH_PROBES", dash_probes)
                parsed = mime_stream.parse_file(path, workdir / f"parts{long_searches}-{dash_probes}")
            got.append([(a.name, a.path.read_bytes() if a.path is not None else b"") for a in parsed.attachments])
        assert all(g == got[0] for g in got[1:])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
