"""Hostile and broken mails for issue 9.4, each made by the tool that makes such bytes in the wild.

Archives come from zipfile/tarfile/libarchive, documents from python-docx/reportlab/pypdf, images from
Pillow, video from ffmpeg; the MIME around them is written the way broken or malicious senders write it
(missing boundaries, 10,000 parts, deep message/rfc822 nesting, invalid base64, megabyte headers, unknown
and lying charsets, CR/LF smuggled into encoded names). ``hostile_cases()`` yields at least 200 of them:
payload cases in every client encoding of ``ingest.samples.mails`` plus MIME-level cases in several sizes.
"""

from __future__ import annotations

import base64
import io
import random
import tarfile
import uuid
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

from PIL import Image
from pypdf import PdfWriter

from ingest.samples import files as samples
from ingest.samples.mails import STYLES, Attachment, build_mail

MAILBOX = "jcjyzj2025@163.com"
SUBJECT = "浙江省/杭州市文三街小学课程建设+人工智能教育"
MiB = 1 << 20


@dataclass(frozen=True)
class HostileCase:
    name: str
    raw: bytes
    # Where a traversal payload would land if it escaped; the suite checks these never exist.
    escape_markers: tuple[str, ...] = ()


def _mail(style: str, attachments: list[Attachment], *, tag: str, subject: str = SUBJECT,
          sender: str | None = None) -> bytes:
    return build_mail(style=style, sender=sender or f"h{uuid.uuid4().hex[:8]}@163.com", to=MAILBOX,
                      subject=subject, body=f"附件为申报材料（{tag}）", attachments=attachments,
                      message_id=f"<hostile.{tag}.{uuid.uuid4().hex[:10]}@163.com>")


# ---- payloads (bytes of one attachment, made by real tools) ------------------------------------------------

@lru_cache(maxsize=None)
def zip_bomb() -> bytes:
    """1 GiB of zeros deflated into ~1 MB."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("申报材料.docx", "w", force_zip64=True) as member:
            chunk = bytes(MiB)
            for _ in range(1024):
                member.write(chunk)
    return buf.getvalue()


@lru_cache(maxsize=None)
def nested_zip(depth: int = 12) -> bytes:
    data = b"innermost"
    for level in range(depth):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(f"第{level}层.zip" if level else "文字材料.txt", data)
        data = buf.getvalue()
    return data


def traversal_zip(marker: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in (f"../../../../tmp/{marker}-a.txt", f"/tmp/{marker}-b.txt", f"..\\..\\{marker}-c.txt",
                     f"ok/../../{marker}-d.txt", f"C:/Windows/{marker}-e.txt", "正常/申报表.txt"):
            z.writestr(name, b"escape attempt")
    return buf.getvalue()


def traversal_tar(marker: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name in (f"../../{marker}-t.txt", f"/tmp/{marker}-u.txt"):
            info = tarfile.TarInfo(name)
            info.size = 6
            t.addfile(info, io.BytesIO(b"escape"))
        link = tarfile.TarInfo("link-to-etc")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc"
        t.addfile(link)
        through = tarfile.TarInfo(f"link-to-etc/{marker}-v.txt")
        through.size = 6
        t.addfile(through, io.BytesIO(b"escape"))
        hard = tarfile.TarInfo("hard-passwd")
        hard.type, hard.linkname = tarfile.LNKTYPE, "/etc/passwd"
        t.addfile(hard)
        dev = tarfile.TarInfo("dev-null")
        dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 3
        t.addfile(dev)
    return buf.getvalue()


@lru_cache(maxsize=None)
def many_entries_zip(count: int = 12_000) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for i in range(count):
            z.writestr(f"f{i}.txt", b"")
    return buf.getvalue()


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: max(1, int(len(data) * keep))]


@lru_cache(maxsize=None)
def docx_bytes() -> bytes:
    path = _tmp() / "申报表.docx"
    samples.make_form_docx(path, {"申报单位": "浙江省杭州市文三街小学", "案例名称": "课程建设"})
    return path.read_bytes()


@lru_cache(maxsize=None)
def pdf_bytes() -> bytes:
    path = _tmp() / "申报表.pdf"
    samples.make_scanned_pdf(path, with_seal=True)
    return path.read_bytes()


@lru_cache(maxsize=None)
def pdf_with_javascript() -> bytes:
    writer = PdfWriter()
    writer.append(io.BytesIO(pdf_bytes()))
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    action = DictionaryObject({NameObject("/S"): NameObject("/JavaScript"),
                               NameObject("/JS"): TextStringObject("app.alert('x'); this.exportDataObject({cName: 'a', nLaunch: 2});")})
    writer.add_open_action(action)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


@lru_cache(maxsize=None)
def pdf_operator_bomb(operators: int = 150_000, pages: int = 20) -> bytes:
    """A small PDF (~20 KB) whose pages share one Flate-compressed content stream repeating a text operator in
    a standard font. Each page stays under pypdf's own limit of tokens per stream, so nothing stops the reader
    but time: ~12 s per page for the facts (text, operators, images), ~6 s for the role (text of 3 pages)."""
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 12 Tf 0 0 Td (a) Tj ET\n" * operators)
    shared = writer._add_object(stream.flate_encode())
    font = writer._add_object(DictionaryObject({NameObject("/Type"): NameObject("/Font"),
                                                NameObject("/Subtype"): NameObject("/Type1"),
                                                NameObject("/BaseFont"): NameObject("/Helvetica")}))
    resources = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    for _ in range(pages):
        page = writer.add_blank_page(595, 842)
        page[NameObject("/Contents")] = shared
        page[NameObject("/Resources")] = resources
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


@lru_cache(maxsize=None)
def jpeg_bytes() -> bytes:
    path = _tmp() / "图1.jpg"
    samples.make_jpeg(path, 200_000)
    return path.read_bytes()


@lru_cache(maxsize=None)
def png_pixel_bomb() -> bytes:
    """30000 × 30000 one-bit pixels (900 megapixels) in a few hundred kilobytes."""
    buf = io.BytesIO()
    Image.new("1", (30000, 30000)).save(buf, "PNG", optimize=True)
    return buf.getvalue()


@lru_cache(maxsize=None)
def gif_pixel_bomb() -> bytes:
    buf = io.BytesIO()
    Image.new("P", (20000, 20000)).save(buf, "GIF")
    return buf.getvalue()


@lru_cache(maxsize=None)
def mp4_bytes() -> bytes:
    path = _tmp() / "视频.mp4"
    samples.make_mp4(path, 1.0, 320, 180)
    return path.read_bytes()


@lru_cache(maxsize=None)
def _tmp() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="intake-hostile-"))


def _noise(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def payload_cases() -> list[tuple[str, Callable[[str], list[Attachment]]]]:
    """(name, marker → attachments). Each runs in every mail client encoding."""
    return [
        ("zip-bomb", lambda m: [Attachment("申报材料.zip", zip_bomb(), "application/zip")]),
        ("nested-zip-12", lambda m: [Attachment("套娃.zip", nested_zip(12), "application/zip")]),
        ("zip-traversal", lambda m: [Attachment("申报材料.zip", traversal_zip(m), "application/zip")]),
        ("tar-traversal-links-devices", lambda m: [Attachment("申报材料.tar.gz", traversal_tar(m))]),
        ("zip-12000-entries", lambda m: [Attachment("很多文件.zip", many_entries_zip(), "application/zip")]),
        ("zip-truncated", lambda m: [Attachment("申报材料.zip", truncated(traversal_zip(m)), "application/zip")]),
        ("docx-truncated", lambda m: [Attachment("申报表.docx", truncated(docx_bytes()))]),
        ("docx-noise", lambda m: [Attachment("申报表.docx", _noise(50_000, 1))]),
        ("pdf-truncated", lambda m: [Attachment("申报表.pdf", truncated(pdf_bytes()), "application/pdf")]),
        ("pdf-noise-header", lambda m: [Attachment("申报表.pdf", b"%PDF-1.7\n" + _noise(40_000, 2))]),
        ("pdf-operator-bomb", lambda m: [Attachment("申报表（盖章）.pdf", pdf_operator_bomb(), "application/pdf")]),
        ("pdf-javascript", lambda m: [Attachment("申报表（盖章）.pdf", pdf_with_javascript(), "application/pdf")]),
        ("jpeg-truncated", lambda m: [Attachment("图1：活动现场.jpg", truncated(jpeg_bytes(), 0.3), "image/jpeg")]),
        ("jpeg-noise", lambda m: [Attachment("图2：活动现场.jpg", b"\xff\xd8\xff\xe0" + _noise(30_000, 3))]),
        ("png-pixel-bomb-as-jpg", lambda m: [Attachment("图3：活动现场.jpg", png_pixel_bomb(), "image/jpeg")]),
        ("gif-pixel-bomb", lambda m: [Attachment("图4：活动现场.gif", gif_pixel_bomb(), "image/gif")]),
        ("mp4-truncated", lambda m: [Attachment("案例视频.mp4", truncated(mp4_bytes(), 0.4), "video/mp4")]),
        ("mp4-noise", lambda m: [Attachment("案例视频.mp4", _noise(80_000, 4), "video/mp4")]),
        ("name-header-injection", lambda m: [Attachment("申报表.docx\r\nBcc: victim@example.com\r\nX-Evil: 1",
                                                        docx_bytes())]),
        ("name-traversal", lambda m: [Attachment(f"../../../../tmp/{m}-n.docx", docx_bytes())]),
        ("name-nul-and-controls", lambda m: [Attachment("申报\x00表\x07\x1b[31m.docx", docx_bytes())]),
        ("name-4000-chars", lambda m: [Attachment("长" * 4000 + ".docx", docx_bytes())]),
        ("everything-at-once", lambda m: [Attachment("申报材料.zip", zip_bomb(), "application/zip"),
                                          Attachment("申报表（盖章）.pdf", pdf_with_javascript()),
                                          Attachment("图1.jpg", png_pixel_bomb()),
                                          Attachment(f"../{m}-x.docx", truncated(docx_bytes()))]),
    ]


# ---- MIME-level cases (raw bytes, no well-behaved encoder would write them) --------------------------------

def _head(tag: str, content_type: str, extra: str = "", subject: str | None = None) -> bytes:
    subject_value = subject if subject is not None else "=?GBK?B?" + base64.b64encode(SUBJECT.encode("gbk")).decode() + "?="
    return (f"From: h{uuid.uuid4().hex[:8]}@163.com\r\nTo: {MAILBOX}\r\nSubject: {subject_value}\r\n"
            f"Date: Thu, 20 Nov 2025 09:30:00 +0800\r\nMessage-ID: <hostile.{tag}.{uuid.uuid4().hex[:10]}@163.com>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n{extra}\r\n").encode("utf-8", "surrogateescape")


def _b64(data: bytes) -> bytes:
    enc = base64.b64encode(data)
    return b"\r\n".join(enc[i:i + 76] for i in range(0, len(enc), 76))


def _att(name: str, data: bytes, cte: str = "base64") -> bytes:
    body = _b64(data) if cte == "base64" else data
    return (f"Content-Type: application/octet-stream; name=\"{name}\"\r\nContent-Transfer-Encoding: {cte}\r\n"
            f"Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n").encode() + body + b"\r\n"


def mime_cases() -> Iterator[tuple[str, bytes]]:
    b = "BOUNDARY-hostile"
    docx = docx_bytes()
    # Missing or wrong boundaries.
    yield "no-close-boundary", _head("nc", f'multipart/mixed; boundary="{b}"') + f"--{b}\r\n".encode() + _att("申报表.docx", docx)
    yield "boundary-param-missing", _head("bm", "multipart/mixed") + f"--{b}\r\n".encode() + _att("申报表.docx", docx)
    yield "boundary-never-used", _head("bn", f'multipart/mixed; boundary="{b}"') + b"just text\r\n" + _att("x.docx", docx)
    yield "empty-boundary", _head("eb", 'multipart/mixed; boundary=""') + b"--\r\n" + _att("x.docx", docx) + b"----\r\n"
    yield "boundary-inside-base64", (_head("bi", f'multipart/mixed; boundary="{b}"') + f"--{b}\r\n".encode()
                                     + _att("申报表.docx", docx)[:400] + f"\r\n--{b}\r\n".encode()
                                     + _att("申报表.docx", docx)[400:] + f"--{b}--\r\n".encode())
    # Thousands of parts.
    for count in (3000, 10_000):
        parts = b"".join(f"--{b}\r\nContent-Type: text/plain\r\n\r\n{i}\r\n".encode() for i in range(count))
        yield f"{count}-parts", _head(f"p{count}", f'multipart/mixed; boundary="{b}"') + parts + f"--{b}--\r\n".encode()
    parts = b"".join(f"--{b}\r\n".encode() + _att(f"f{i}.txt", b"x") for i in range(2500))
    yield "2500-attachments", _head("a2500", f'multipart/mixed; boundary="{b}"') + parts + f"--{b}--\r\n".encode()
    # Deep nesting: multiparts and message/rfc822, as a forwarding loop between two auto-forwarders makes it.
    for depth in (25, 200):
        inner = _head("in", "text/plain") + b"innermost\r\n"
        for level in range(depth):
            inner = (_head(f"n{level}", "message/rfc822") + inner) if level % 2 else (
                _head(f"m{level}", f'multipart/mixed; boundary="L{level}"') + f"--L{level}\r\n".encode()
                + b"Content-Type: message/rfc822\r\n\r\n" + inner + f"\r\n--L{level}--\r\n".encode())
        yield f"nested-rfc822-{depth}", inner
    yield "same-boundary-nested", (_head("sb", f'multipart/mixed; boundary="{b}"') + f"--{b}\r\n".encode()
                                   + f'Content-Type: multipart/mixed; boundary="{b}"\r\n\r\n--{b}\r\n'.encode()
                                   + _att("申报表.docx", docx) + f"--{b}--\r\n--{b}--\r\n".encode())
    # Transfer encodings that lie.
    yield "invalid-base64", (_head("ib", f'multipart/mixed; boundary="{b}"') + f"--{b}\r\n".encode()
                             + _att("申报表.docx", b"", cte="base64")[:-2] + b"!!!!****not base64 at all====\r\n@@@\r\n"
                             + f"--{b}--\r\n".encode())
    yield "base64-odd-padding", (_head("op", f'multipart/mixed; boundary="{b}"') + f"--{b}\r\n".encode()
                                 + _att("申报表.docx", b"", cte="base64")[:-2] + base64.b64encode(docx)[:-3] + b"\r\n"
                                 + f"--{b}--\r\n".encode())
    yield "unknown-cte", (_head("uc", f'multipart/mixed; boundary="{b}"') + f"--{b}\r\n".encode()
                          + _att("申报表.docx", docx, cte="x-rot13-gzip") + f"--{b}--\r\n".encode())
    yield "uuencode-garbage", (_head("uu", f'multipart/mixed; boundary="{b}"') + f"--{b}\r\n".encode()
                               + _att("a.docx", b"begin 644 a.docx\r\nM!!!!\r\nend\r\n", cte="x-uuencode")
                               + f"--{b}--\r\n".encode())
    # Absurd headers.
    for size in (100_000, 2_000_000):
        yield f"subject-{size}-bytes", _head(f"s{size}", "text/plain", subject="案" * (size // 3)) + b"body\r\n"
    yield "header-line-10MB-no-newline", _head("hl", "text/plain", extra="X-Long: " + "A" * (10 * MiB) + "\r\n") + b"x\r\n"
    yield "100000-header-lines", _head("hn", "text/plain", extra="".join(f"X-H{i}: v\r\n" for i in range(100_000))) + b"x"
    yield "no-header-separator", _head("ns", "text/plain").rstrip(b"\r\n") + b"\r\nbody without blank line"
    yield "binary-garbage", _noise(200_000, 5)
    yield "empty-message", b""
    # Unknown and lying charsets.
    gbk_subject = "=?GBK?B?" + base64.b64encode("浙江省/镕堃小学课程+德育".encode("gb18030")).decode() + "?="
    lies = {
        "unknown-charset": ("x-klingon", "你好".encode("gbk")),
        "utf8-label-gbk-bytes": ("utf-8", "附件为申报材料，镕堃".encode("gb18030")),
        "gb2312-label-big5-bytes": ("gb2312", "附件為申報材料".encode("big5")),
        "ascii-label-8bit": ("us-ascii", "附件".encode("utf-8")),
        "utf7-label": ("utf-7", b"+ZeVnLA-"),
        "charset-with-quotes-nul": ('"utf-8\x00"', "附件".encode("utf-8")),
    }
    for name, (charset, body) in lies.items():
        yield name, _head(name[:6], f"text/plain; charset={charset}") + body + b"\r\n"
        yield f"{name}-subject", _head(name[:6] + "s", "text/plain",
                                       subject=f"=?{charset}?B?" + base64.b64encode(body).decode() + "?=") + b"x\r\n"
    yield "gbk-subject-unlabelled-8bit", _head("g8", "text/plain", subject="") .replace(
        b"Subject: ", b"Subject: " + "浙江省/课程+德育".encode("gbk")) + b"x\r\n"
    yield "encoded-word-crlf-subject", _head("cr", "text/plain", subject="=?UTF-8?B?" + base64.b64encode(
        "申报\r\nBcc: victim@example.com\r\nX-Evil: 1".encode()).decode() + "?=") + b"x\r\n"
    yield "gbk-subject-multiple-broken-words", _head("mb", "text/plain", subject=gbk_subject[:-5] + " " + gbk_subject) + b"x"
    yield "from-display-name-crlf", (_head("fd", "text/plain").replace(
        b"From: ", b"From: =?UTF-8?B?" + base64.b64encode(b"School\r\nBcc: victim@example.com") + b"?= <fd@163.com>\r\nX-Old-From: ", 1)
        + b"x\r\n")
    yield "reply-to-crlf", _head("rt", "text/plain", extra="Reply-To: =?UTF-8?B?" + base64.b64encode(
        b"a@b.com\r\nBcc: victim@example.com").decode() + "?=\r\n") + b"x\r\n"


# ==== Strangers acting for others, bad reply addresses, headers echoed unbounded (issue 15.1–15.3, secmail) ====

def stranger_cases() -> Iterator[tuple[str, bytes]]:
    """Mails that try to change another sender's case, aim our reply elsewhere, or make us echo unbounded
    headers. The suite checks: no case holds versions of two senders, no reply goes to another domain or
    victim@example.com, every reply's headers stay bounded, every reply ends sent, failed or held with a reason."""
    guessed = " ".join(f"<{kind}.JCJY2025-{n:06d}.v1@163.com>" for n in range(1, 6)
                       for kind in ("receipt", "rejection", "needs_review"))
    yield "takeover-guessed-receipt-ids", _head("tg", "text/plain", extra=f"In-Reply-To: <receipt.JCJY2025-000001.v1@"
                                                f"163.com>\r\nReferences: {guessed}\r\n", subject="回复：修改稿") + b"x\r\n"
    yield "takeover-case-number-in-subject", _head("tn", "text/plain", subject="JCJY2025-000001 JCJY2025-000002 修改稿") + b"x\r\n"
    yield "reply-to-other-domain", _head("ro", "text/plain", extra="Reply-To: victim@example.com\r\n") + b"x\r\n"
    yield "from-raw-8bit-address", _head("fa", "text/plain").replace(b"From: ", "From: 校长@学校.cn\r\nX-Old-From: ".encode(), 1) + b"x\r\n"
    yield "references-3000-ids", _head("rf", "text/plain", extra="References: " + " ".join(
        f"<t{i}@school.cn>" for i in range(3000)) + "\r\n") + b"x\r\n"
    yield "message-id-5000-chars", _head("mi", "text/plain").replace(
        b"Message-ID: <", b"Message-ID: <" + b"m" * 5000, 1) + b"x\r\n"
    yield "from-name-3000-chars", _head("fn", "text/plain").replace(
        b"From: ", b"From: =?UTF-8?B?" + base64.b64encode("校长".encode() * 1000) + b"?= <fn@163.com>\r\nX-Old-From: ", 1) + b"x\r\n"
    links = "\r\n".join(f"https://mail.qq.com/cgi-bin/ftnExs_download?t=exs_ftn_download&k={i:032x}&code=7c"
                         for i in range(500))
    yield "large-attachment-links-500", _head("ln", "text/plain; charset=utf-8") + links.encode() + b"\r\n"


# ==== end of the secmail block ==================================================================================


def hostile_cases(limit: int | None = None, *, styles: tuple[str, ...] = STYLES) -> list[HostileCase]:
    """Every payload case in each mail client encoding, then every MIME-level case (≥ 200 in all).
    ``limit`` takes a spread sample (every category represented) for the default test run."""
    cases: list[HostileCase] = []
    for name, make in payload_cases():
        for style in styles:
            marker = f"intake-escape-{uuid.uuid4().hex[:10]}"
            cases.append(HostileCase(f"{name}/{style}", _mail(style, make(marker), tag=name), (marker,)))
    for name, raw in mime_cases():
        cases.append(HostileCase(f"mime/{name}", raw))
    for name, raw in stranger_cases():
        cases.append(HostileCase(f"stranger/{name}", raw))
    # Repeat the payload set in the two encodings real schools use most, with the hostility in a second,
    # otherwise valid attachment beside a good application form (the common real-world shape).
    for name, make in payload_cases():
        for style in ("163", "qq", "foxmail"):
            marker = f"intake-escape-{uuid.uuid4().hex[:10]}"
            cases.append(HostileCase(f"{name}/with-form/{style}",
                                     _mail(style, [Attachment("申报表.docx", docx_bytes()), *make(marker)],
                                           tag=name + "-f"), (marker,)))
    if limit is not None and limit < len(cases):
        step = len(cases) / limit
        cases = [cases[int(i * step)] for i in range(limit)]
    return cases


# ==== seccon (issue 15 §4–6): strangers' content aimed at the console, per-mail budgets, bad bytes ============
# Kept apart from the cases above (and from the §1–3 block) so parallel additions rebase cleanly.

def script_payloads(marker_url: str) -> list[Attachment]:
    """Files that run script if the console ever renders them: each one fetches ``marker_url`` + its own name and
    logs "XSS-<name>" to the browser console, so a test sees it both on the server and in the browser."""
    def js(tag: str) -> str:
        return f"fetch('{marker_url}/{tag}');console.log('XSS-{tag}')"

    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" onload="{js("svg-onload")}">'
           f'<script>{js("svg")}</script><rect width="100" height="100" fill="red"/></svg>').encode()
    html = f"<html><body><h1>申报表</h1><script>{js('html')}</script></body></html>".encode()
    xml = (f'<?xml version="1.0"?><root xmlns:h="http://www.w3.org/1999/xhtml">'
           f'<h:script>{js("xml")}</h:script></root>').encode()
    return [Attachment("图1：活动现场.svg", svg, "image/svg+xml"),
            Attachment("申报表.html", html, "text/html"),
            Attachment("说明.xml", xml, "text/xml"),
            Attachment("图2：活动现场.jpg", html, "image/jpeg")]  # HTML behind a photo's name (sniffing bait)


def script_link_html(marker_url: str) -> str:
    """A body that imitates a 163 超大附件 block but whose anchors are a javascript: URL and a stranger's host."""
    js = f"javascript:fetch('{marker_url}/link');console.log('XSS-link')//X-NETEASE-HUGE-ATTACHMENT"
    return (f'<div id="divNeteaseBigAttach"><a href="{js}" filename="案例视频.mp4" filesize="3785359">案例视频.mp4</a>'
            f'<span>(3.61M, 2025年12月25日 13:35 到期)</span>'
            f'<a href="https://evil-163.com.example/large-attachment-download/index.html?'
            f'p=X-NETEASE-HUGE-ATTACHMENT&file=x" filename="案例视频2.mp4">案例视频2.mp4</a></div>')


def console_script_mail(marker_url: str, *, sender: str = "xss@163.com") -> bytes:
    return build_mail(style="163", sender=sender, to=MAILBOX, subject=SUBJECT, body="附件为申报材料",
                      html=script_link_html(marker_url), attachments=script_payloads(marker_url),
                      message_id=f"<hostile.console-script.{uuid.uuid4().hex[:10]}@163.com>")


def incompressible_zip(megabytes: int, seed: int, name: str = "照片.jpg") -> bytes:
    """A zip of random bytes (ratio 1: no bomb rule fires), for the per-mail unpacked-bytes budget."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(name, _noise(megabytes * MiB, seed))
    return buf.getvalue()


def budget_mail(parts: int = 4, megabytes: int = 3) -> bytes:
    """Several archives that together unpack past a small ``limits.mail_unpacked_mb``."""
    return _mail("163", [Attachment(f"材料{i}.zip", incompressible_zip(megabytes, 100 + i), "application/zip")
                         for i in range(parts)], tag="mail-unpacked-budget")


def many_text_parts_mail(parts: int = 1500, part_bytes: int = 200_000) -> bytes:
    """Hundreds of text parts (the daemon kept every one in memory: 317 MB mail → 1.1 GB)."""
    b = "BOUNDARY-many-text"
    line = ("附件为申报材料" * 12 + "\r\n").encode("utf-8")
    body = (line * (part_bytes // len(line) + 1))[:part_bytes]
    chunks = [_head("many-text", f'multipart/mixed; boundary="{b}"')]
    for _ in range(parts):
        chunks.append(f"--{b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                      .encode() + body + b"\r\n")
    chunks.append(f"--{b}--\r\n".encode())
    return b"".join(chunks)


def oversize_mail(megabytes: int) -> bytes:
    """Past ``intake.max_message_bytes``: only its header should come onto our disk."""
    return _mail("163", [Attachment("案例视频.mp4", _noise(megabytes * MiB, 7), "video/mp4")], tag="oversize")


SUITE_MAIL_UNPACKED_MB = 24
SUITE_MAX_MESSAGE = 185 * MiB


def seccon_cases() -> Iterator[tuple[str, bytes]]:
    """The issue-15 §4–6 classes for the hostile suite (each also has its end-to-end test)."""
    yield "console-script-files-and-links", console_script_mail("http://127.0.0.1:9/marker")
    # The suite runs with limits.mail_unpacked_mb = SUITE_MAIL_UNPACKED_MB, intake.max_message_bytes = SUITE_MAX_MESSAGE.
    yield "mail-unpacked-budget", budget_mail(parts=4, megabytes=10)  # 40 MB unpacked, past a 24 MB budget
    yield "many-text-parts-1500x120KB", many_text_parts_mail(1500, 120_000)  # 180 MB, under the size limit
    yield "oversize-message", oversize_mail(140)  # ~190 MB encoded, past the limit: header only
    yield from bad_bytes_cases()


def raw_8bit_header_mail(*, sender: str = "gbk8bit@163.com") -> bytes:
    """Subject and From display name as raw GBK bytes (no encoded words), a NUL and a terminal escape in the
    subject, an attachment name with NUL/escape: what old clients and hostile senders write."""
    subject = "浙江省/杭州市文三街小学\x1b[2J\x1b]0;pwned\x07课程建设\x00+人工智能教育".encode("gb18030")
    name = "文三街小学教务处".encode("gb18030")
    head = (b"From: " + name + b" <" + sender.encode() + b">\r\nTo: " + MAILBOX.encode() + b"\r\nSubject: " + subject
            + b"\r\nDate: Thu, 20 Nov 2025 09:30:00 +0800\r\nMessage-ID: <hostile.raw8bit." + uuid.uuid4().hex[:10].encode()
            + b"@163.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B8\"\r\n\r\n")
    body = ("--B8\r\nContent-Type: text/plain; charset=gbk\r\n\r\n".encode() + "附件为申报材料\x00".encode("gbk")
            + b"\r\n--B8\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\""
            + "申报表\x1b[31m.docx".encode("gb18030") + b"\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + _b64(docx_bytes()) + b"\r\n--B8--\r\n")
    return head + body


def nul_subject_mail(*, sender: str = "nul@163.com") -> bytes:
    """An encoded-word subject and display name holding NUL: PostgreSQL refuses NUL in text, so on every attempt
    the mail failed at the database (and stayed failed)."""
    def word(text: str) -> str:
        return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="

    name, subject = word("文三街\x00小学"), word("浙江省/杭州市文三街小学\x00课程建设+人工智能教育")
    head = (f"From: {name} <{sender}>\r\nTo: {MAILBOX}\r\nSubject: {subject}\r\n"
            f"Date: Thu, 20 Nov 2025 09:30:00 +0800\r\nMessage-ID: <hostile.nul.{uuid.uuid4().hex[:10]}@163.com>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BN\"\r\n\r\n").encode()
    return head + (b"--BN\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + "附件\x00为申报材料".encode()
                   + b"\r\n--BN\r\n" + _att("=?UTF-8?B?" + base64.b64encode("申报\x00表.docx".encode()).decode()
                                                + "?=", docx_bytes()) + b"--BN--\r\n")


def hostile_names_mail(*, sender: str = "names@163.com") -> bytes:
    """Names that collide after sanitising, Windows reserved names, a bidi override and a formula as the case
    name: for `export --files`, 清单.csv and the CLI."""
    names = ["申报表?.docx", "申报表*.docx", "CON.docx", "aux.pdf", "图1\u202egpj.exe",
             "=HYPERLINK(\"http://evil.example\",\"x\").jpg"]
    # Distinct contents: the same bytes twice count once (and are exported once).
    files = [Attachment(name, _noise(2000 + i, 40 + i)) for i, name in enumerate(names)]
    return build_mail(style="163", sender=sender, to=MAILBOX,
                      subject="浙江省/杭州市文三街小学+=HYPERLINK(\"http://evil.example\")课程+人工智能教育",
                      body="附件为申报材料", attachments=files,
                      message_id=f"<hostile.names.{uuid.uuid4().hex[:10]}@163.com>")


def bad_bytes_cases() -> Iterator[tuple[str, bytes]]:
    yield "raw-8bit-gbk-headers-nul-escapes", raw_8bit_header_mail()
    yield "encoded-word-nul-subject-name-filename", nul_subject_mail()
    yield "names-collide-reserved-bidi-formula", hostile_names_mail()
