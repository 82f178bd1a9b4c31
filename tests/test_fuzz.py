"""Hypothesis fuzzing of the entry points hostile bytes reach first: the MIME parsers (in memory and
streaming), the subject as it arrives (encoded words in any charset → parser) and archive unpacking.
No input may raise (other than the documented NotAMimeMessage), hang, or write outside its directory.

Example counts are small for the default run; INTAKE_FUZZ_EXAMPLES=2000 runs a long session."""

from __future__ import annotations

import base64
import io
import os
import shutil
import tempfile
import tomllib
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from checks.subject import ParsedSubject, SubjectSpec, parse_subject
from ingest.mail.mime import NotAMimeMessage, ParsedMail, parse_message
from ingest.mail.mime_stream import parse_file
from ingest.files.unpack import UnpackLimits, unpack_attachment

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("INTAKE_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

with open(ROOT / "config.example.toml", "rb") as _f:
    SPEC = SubjectSpec.from_campaign(tomllib.load(_f)["campaign"])

# Fragments of real and broken mail, so generated messages reach deep into the parsers.
HEADER_NAMES = st.sampled_from(["Subject", "From", "To", "Content-Type", "Content-Transfer-Encoding",
                                "Content-Disposition", "Message-ID", "In-Reply-To", "References", "Reply-To",
                                "Date", "MIME-Version", "X-Mailer", "Received"])
CHARSETS = st.sampled_from(["utf-8", "gbk", "gb2312", "gb18030", "big5", "x-unknown", "utf-7", "us-ascii",
                            "iso-8859-1", "", "\"utf-8\"", "utf-16"])
CTYPES = st.sampled_from(["multipart/mixed", "multipart/alternative", "message/rfc822", "text/plain",
                          "text/html", "application/octet-stream", "application/zip", "image/jpeg", "multipart/",
                          "/", ""])
CTES = st.sampled_from(["base64", "quoted-printable", "7bit", "8bit", "binary", "x-uuencode", "bogus", ""])
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@st.composite
def encoded_word(draw: st.DrawFn) -> str:
    text = draw(TEXT)
    charset = draw(st.sampled_from(["utf-8", "gbk", "gb18030", "big5", "x-unknown"]))
    codec = {"x-unknown": "utf-8"}.get(charset, charset)
    data = text.encode(codec, errors="replace")
    if draw(st.booleans()):
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    return f"=?{charset}?Q?{''.join(f'={b:02X}' for b in data)}?="


@st.composite
def part(draw: st.DrawFn, depth: int = 0) -> bytes:
    boundary = draw(st.sampled_from(["b1", "b2", "b1", "=_x", ""]))
    ctype = draw(CTYPES)
    params = f'; boundary="{boundary}"' if ctype.startswith("multipart") and draw(st.booleans()) else ""
    name = draw(st.one_of(encoded_word(), TEXT, st.just("../../x.zip")))
    head = (f"Content-Type: {ctype}{params}; charset={draw(CHARSETS)}; name=\"{name}\"\r\n"
            f"Content-Transfer-Encoding: {draw(CTES)}\r\n"
            f"Content-Disposition: {draw(st.sampled_from(['attachment', 'inline', '']))}; filename*={draw(CHARSETS)}''"
            f"{draw(TEXT)}\r\n")
    body = draw(st.binary(max_size=300))
    if ctype.startswith("multipart") and depth < 3:
        children = draw(st.lists(part(depth + 1), max_size=3))
        body = b"".join(f"--{boundary}\r\n".encode() + c for c in children)
        if draw(st.booleans()):
            body += f"--{boundary}--\r\n".encode()
    elif ctype == "message/rfc822" and depth < 3:
        body = draw(message(depth + 1))
    return head.encode("utf-8", "surrogateescape") + b"\r\n" + body + b"\r\n"


@st.composite
def message(draw: st.DrawFn, depth: int = 0) -> bytes:
    headers = draw(st.lists(st.tuples(HEADER_NAMES, st.one_of(TEXT, encoded_word())), max_size=8))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers).encode("utf-8", "surrogateescape")
    raw = head + draw(part(depth))
    # Now and then raw noise, truncation or stray bytes anywhere: what a broken client or transport does.
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut] + draw(st.binary(max_size=40)) + raw[cut:]
    return raw


def _check_mail(mail: ParsedMail) -> None:
    assert isinstance(mail.subject, str) and isinstance(mail.text, str)
    for a in mail.attachments:
        assert isinstance(a.name, str)
        assert "\r" not in a.name and "\n" not in a.name


@FUZZ
@given(raw=st.one_of(message(), st.binary(max_size=2000)))
# Found by this test: raw UTF-8 bytes in an RFC 2231 filename*= raised UnicodeEncodeError in ingest/mail/mime.py.
@example(raw=b"Content-Type: multipart/mixed; charset=utf-8\r\nContent-Disposition: attachment; "
             b"filename*=utf-8''\xc4\x80\xe7\x94\xb3\r\n\r\n\r\n")
# Found by this test: an encoded word put "\n" into an attachment name (it faked lines in receipts).
@example(raw=b'Content-Type: text/plain; name="=?utf-8?Q?=30=0A=30?="\r\nContent-Disposition: attachment\r\n\r\nx\r\n')
def test_mime_parsers_never_raise(raw: bytes) -> None:
    try:
        in_memory = parse_message(raw)
    except NotAMimeMessage:
        return
    _check_mail(in_memory)
    with tempfile.TemporaryDirectory(prefix="intake-fuzz-") as tmp:
        root = Path(tmp)
        spooled = root / "m.eml"
        spooled.write_bytes(raw)
        streamed = parse_file(spooled, root / "parts")
        _check_mail(streamed)
        # Attachment files go only where they were asked to go.
        assert {p for p in root.rglob("*")} <= {spooled, root / "parts", *(root / "parts").rglob("*")}


@FUZZ
@given(words=st.lists(st.one_of(encoded_word(), TEXT), min_size=1, max_size=6))
def test_encoded_subjects_reach_the_parser_safely(words: list[str]) -> None:
    raw = ("Subject: " + " ".join(words).replace("\r", " ").replace("\n", " ") + "\r\nFrom: a@163.com\r\n\r\nx")
    mail = parse_message(raw.encode("utf-8", "surrogateescape"))
    parsed = parse_subject(mail.subject, SPEC)
    assert isinstance(parsed, ParsedSubject)
    assert 0.0 <= parsed.confidence <= 1.0
    assert not any("parser" in r.lower() and "error" in r.lower() for r in parsed.reasons)


def _valid_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("申报表.txt", "申报单位：示例小学\n" * 50)
        z.writestr("子目录/图1.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 500)
        z.writestr("inner.zip", _inner_zip())
    return buf.getvalue()


def _inner_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../逃逸.txt", b"x")
        z.writestr("a.txt", b"y" * 100)
    return buf.getvalue()


VALID_ZIP = _valid_zip()


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, len(VALID_ZIP) - 1), st.binary(min_size=1, max_size=8)),
                      max_size=12),
       cut=st.integers(1, len(VALID_ZIP)),
       suffix=st.sampled_from([".zip", ".7z", ".rar", ".tar.gz", ".docx", ""]))
def test_mutated_archives_unpack_safely(edits: list[tuple[int, bytes]], cut: int, suffix: str) -> None:
    data = bytearray(VALID_ZIP)
    for offset, patch in edits:
        data[offset:offset + len(patch)] = patch
    with tempfile.TemporaryDirectory(prefix="intake-fuzz-") as tmp:
        root = Path(tmp)
        source = root / f"attachment{suffix}"
        source.write_bytes(bytes(data[:cut]))
        dest = root / "out"
        files, findings = unpack_attachment(f"申报材料{suffix}", source, dest,
                                            UnpackLimits(max_total_bytes=8 << 20, max_file_bytes=4 << 20))
        outside = {p for p in root.rglob("*")} - {source, dest, *dest.rglob("*")}
        assert outside == set(), outside
        for f in files:
            assert f.path.is_file() and dest in f.path.parents
        for finding in findings:
            assert finding.message
        shutil.rmtree(dest, ignore_errors=True)
