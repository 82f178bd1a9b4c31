"""Pure MIME parsing: raw message bytes in, a ``ParsedMail`` dataclass out.

Chinese mail as it arrives (shared KNOWLEDGE.md, checked in tests against mails built as 163, QQ Mail
and Foxmail build them):
- labels ``gb2312``/``gbk`` often carry GBK/GB18030-only characters (镕, 堃): every GB label is decoded as
  gb18030, its superset;
- QQ Mail puts RFC 2047 encoded words *inside quoted* filenames; 163 uses RFC 2231 ``filename*=``;
  some clients send raw 8-bit GBK bytes in headers.
The stdlib parser with ``compat32`` keeps raw header text (8-bit bytes as surrogate escapes), so every
header is decoded here once, by ``decode_header_text``. Problems are recorded as defects, never raised.
mail-parser is used for what it does well on the header block only: parsing ``Date`` and ``Received``
(it keeps whole messages and base64 attachments in memory, so it never sees the bodies).
"""

from __future__ import annotations

import email.header
import email.message
import email.parser
import email.policy
import email.utils
import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import mailparser

log = logging.getLogger(__name__)
# mail-parser warns about every multipart it is not asked to walk (we give it headers only).
logging.getLogger("mailparser").setLevel(logging.ERROR)

MAX_PARTS = 2000
# Real subjects are well under 200 characters. A megabyte subject took 47 s to answer (header folding of the
# receipt) and seconds in the subject parser: it is cut here, once, with a defect staff can see.
MAX_SUBJECT_CHARS = 1000
GB_LABELS = {"gb2312", "gbk", "x-gbk", "cp936", "euc-cn", "csgb2312", "gb_2312-80", "x-euc-cn", "936", "ms936"}
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Headers the pipeline looks at for mail hygiene (auto replies, bounces, lists, authentication).
KEPT_HEADERS = (
    "auto-submitted", "x-autoreply", "x-autorespond", "x-auto-response-suppress", "precedence", "list-id",
    "list-unsubscribe", "return-path", "authentication-results", "x-mailer", "content-type", "sender",
    "x-failed-recipients", "delivered-to",
)


class NotAMimeMessage(ValueError):
    """The bytes are not an Internet message at all (e.g. an Outlook .msg file)."""


@dataclass(frozen=True)
class AttachmentPart:
    """One attachment: its bytes in ``payload`` (in-memory parser) or in the file ``path``
    (streaming parser, for large mails)."""

    name: str
    content_type: str
    payload: bytes = field(repr=False, default=b"")
    size: int = 0
    sha256: str = ""
    inline: bool = False
    path: Path | None = None

    def save_to(self, target: Path) -> Path:
        """The attachment as a file: the streamed file itself, or ``target`` written from memory."""
        if self.path is not None:
            return self.path
        target.write_bytes(self.payload)
        return target


@dataclass(frozen=True)
class ParsedMail:
    """A parsed mail: decoded headers and addresses, body texts, attachment parts and the parser's defects in
    Chinese."""

    subject: str
    from_addr: str | None
    from_name: str
    reply_to: str | None
    to: tuple[str, ...]
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    date: datetime | None
    text: str
    html: str
    attachments: tuple[AttachmentPart, ...]
    headers: dict[str, str]
    defects: tuple[str, ...]
    received_hops: int = 0
    content_type: str = "text/plain"


def codec_for(label: str | None) -> str:
    """The codec to decode a declared charset with (GB labels widened to gb18030)."""
    if not label:
        return "utf-8"
    lab = label.strip().strip('"').lower()
    if lab in GB_LABELS or lab.startswith("gb2312"):
        return "gb18030"
    return lab


def decode_bytes(data: bytes, label: str | None, defects: list[str], what: str) -> str:
    """Decode text bytes by their label; on a wrong or unknown label fall back sensibly and say so."""
    codec = codec_for(label)
    try:
        return data.decode(codec)
    except LookupError:
        defects.append(f"{what}: 未知字符集 {label!r}")
    except UnicodeDecodeError:
        defects.append(f"{what}: 内容与声明的字符集 {label!r} 不符")
    for fallback in ("utf-8", "gb18030"):
        try:
            return data.decode(fallback)
        except UnicodeDecodeError:
            continue
    return data.decode("gb18030", errors="replace")


def _raw_to_bytes(value: str) -> bytes:
    return value.encode("ascii", "surrogateescape") if _has_surrogates(value) else value.encode("utf-8")


def _has_surrogates(s: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in s)


def _decode_8bit(value: str, defects: list[str], what: str) -> str:
    """A raw header value that may hold undeclared 8-bit bytes (surrogate-escaped by compat32)."""
    if not _has_surrogates(value):
        return value
    raw = value.encode("ascii", "surrogateescape")
    try:
        text = raw.decode("utf-8")
        defects.append(f"{what}: 未声明字符集的 8 位字节，按 UTF-8 解码")
        return text
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
        defects.append(f"{what}: 未声明字符集的 8 位字节，按 GB18030 解码")
        return text
    except UnicodeDecodeError:
        # Neither fits whole: keep what decodes as GB18030, drop only the bytes that do not (never U+FFFD).
        defects.append(f"{what}: 部分 8 位字节无法解码，已略去")
        return raw.decode("gb18030", errors="ignore")


def raw_header(msg: email.message.Message, name: str) -> str | None:
    """A header's value as received (8-bit bytes surrogate-escaped). compat32's ``get()`` turns such a value into
    a Header whose text is U+FFFD for every 8-bit byte; the raw value lets us decode it by evidence."""
    return next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)


def raw_headers_all(msg: email.message.Message, name: str) -> list[str]:
    """Every raw (undecoded) value of one header, in order."""
    return [v for k, v in msg.raw_items() if k.lower() == name.lower()]


_HEADER_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _without_controls(text: str, defects: list[str], what: str) -> str:
    """Header text never carries control characters (NUL, terminal escapes) or bidi overrides."""
    if not _HEADER_CONTROLS.search(text):
        return text
    defects.append(f"{what}: 含控制字符，已删除")
    return _HEADER_CONTROLS.sub("", text)


_EW = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def decode_header_text(value: Any, defects: list[str] | None = None, what: str = "header") -> str:
    """Decode a header value: RFC 2047 words (GB labels as gb18030), raw 8-bit bytes, folding."""
    defects = [] if defects is None else defects
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        value = str(value)
    text = _decode_8bit(str(value), defects, what)
    if not _EW.search(text):
        text = " ".join(text.split()) if "\n" in text else text.strip()
        return _without_controls(text, defects, what)
    try:
        pieces = email.header.decode_header(text)
    except (ValueError, email.errors.HeaderParseError):
        defects.append(f"{what}: 编码字（RFC 2047）格式错误")
        return _without_controls(text.strip(), defects, what)
    out: list[str] = []
    for chunk, charset in pieces:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(decode_bytes(chunk, charset or "utf-8", defects, what))
    return _without_controls("".join(out).strip(), defects, what)


def _param(part: email.message.Message, name: str, header: str) -> str | None:
    """A filename-like parameter: RFC 2231 (any charset, GB widened) or quoted text with encoded words."""
    defects: list[str] = []
    raw_value = next((v for k, v in part.raw_items() if k.lower() == header), None)
    if raw_value is not None and _has_surrogates(raw_value):
        # compat32 turns raw 8-bit header bytes into U+FFFD when asked for parameters: decode the
        # raw bytes ourselves (UTF-8, else GB18030) and read the parameters from the decoded text.
        holder = email.message.Message()
        holder[header] = _decode_8bit(raw_value, defects, name)
        part = holder
    value = part.get_param(name, header=header)
    if value is None:
        return None
    if isinstance(value, tuple):  # RFC 2231: (charset, language, %-decoded latin-1 text)
        charset, _lang, text = value
        if not isinstance(text, str):
            return decode_bytes(bytes(text), charset or "utf-8", defects, name)
        try:
            raw = text.encode("latin-1", "surrogateescape")
        except UnicodeEncodeError:  # raw 8-bit bytes in the value (filename*=utf-8''<bytes>): decoded above
            return text
        return decode_bytes(raw, charset or "utf-8", defects, name)
    return decode_header_text(email.utils.unquote(value), defects, name)


_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]+")


def attachment_name(part: email.message.Message) -> str | None:
    """The decoded file name. Control characters (an encoded word may hide CR/LF) become spaces: a name is
    shown to staff, written into replies and used for roles, and must stay one line."""
    name = _param(part, "filename", "content-disposition") or _param(part, "name", "content-type")
    if name is None:
        return None
    return _CONTROL_CHARS.sub(" ", name).strip() or None


def _addresses(values: list[str], defects: list[str]) -> list[tuple[str, str]]:
    """Addresses are split BEFORE encoded words are decoded (RFC 2047 §5): a display name like
    ``=?UTF-8?B?<"School\r\nBcc: victim@example.com">?= <a@163.com>`` must stay a name. Decoding first made
    victim@example.com the sender, so the receipt went there while DMARC had vouched for 163.com."""
    raw = [_decode_8bit(str(v), defects, "address") for v in values]
    out = []
    for name, addr in email.utils.getaddresses(raw):
        # RFC 5321 bounds a path at 256 octets; a longer "address" would overflow the address columns.
        if addr and ("@" not in addr or "=?" in addr or any(ch.isspace() for ch in addr) or len(addr) > 254):
            defects.append(f"地址无效，已忽略：{addr[:80]}")  # e.g. an encoded word where an address belongs
            addr = ""
        if addr or name:
            out.append((decode_header_text(name, defects, "address"), addr))
    return out


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(re.findall(r"<[^<>\s]+>", value or ""))


def _header_meta(raw_headers: bytes, defects: list[str]) -> tuple[datetime | None, int]:
    """Date and Received hops via mail-parser, on the header block only."""
    try:
        mp = mailparser.parse_from_bytes(raw_headers + b"\r\n\r\n")
    except Exception as exc:  # noqa: BLE001 - third-party parser on hostile input: isolate, record
        defects.append(f"mail-parser 无法解析信头：{type(exc).__name__}")
        return None, 0
    date = mp.date
    if isinstance(date, datetime):
        date = date.replace(tzinfo=timezone.utc) if date.tzinfo is None else date
    else:
        date = None
    return date, len(mp.received or [])


def _header_block(raw: bytes) -> bytes:
    m = re.search(rb"\r?\n\r?\n", raw)
    return raw[: m.start()] if m else raw


@dataclass
class _Collector:
    """Bodies and attachments gathered while walking a message, shared by both parsers."""

    defects: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[AttachmentPart] = field(default_factory=list)


def part_kind(part: email.message.Message, index: int, defects: list[str]) -> tuple[str, str | None, bool]:
    """(content type, attachment name or None for a body part, inline?) of one leaf part."""
    ctype = part.get_content_type()
    if part.get_content_maintype() == "multipart":
        # A broken multipart (boundary missing) arrives as one blob: read it as the body.
        ctype = "text/plain"
    disposition = str(part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    name = attachment_name(part)
    if name is None and disposition != "attachment" and ctype in ("text/plain", "text/html"):
        return ctype, None, False
    if name is None:
        if disposition != "attachment" and ctype.startswith("image/"):
            name = f"inline-{index}.{ctype.split('/')[1]}"
        else:
            name = f"attachment-{index}"
            defects.append(f"附件（{ctype}）没有文件名")
    if "\ufffd" in name:
        defects.append(f"附件名无法完整解码：{name}")
    return ctype, name, disposition == "inline"


def summarise(msg: email.message.Message, raw_headers: bytes, c: _Collector) -> ParsedMail:
    """The ParsedMail of a message whose parts were collected into ``c``."""
    defects = c.defects
    subject = decode_header_text(raw_header(msg, "Subject"), defects, "Subject")
    if len(subject) > MAX_SUBJECT_CHARS:
        defects.append(f"邮件主题过长（{len(subject)} 字），只保留前 {MAX_SUBJECT_CHARS} 字")
        subject = subject[:MAX_SUBJECT_CHARS]
    froms = _addresses(raw_headers_all(msg, "From"), defects)
    from_name, from_addr = froms[0] if froms else ("", "")
    reply_to = _addresses(raw_headers_all(msg, "Reply-To"), defects)
    to = tuple(a for _, a in _addresses(raw_headers_all(msg, "To") + raw_headers_all(msg, "Cc"), defects) if a)
    date, hops = _header_meta(raw_headers, defects)
    headers = {h: decode_header_text(raw_header(msg, h), defects, h) for h in KEPT_HEADERS if msg.get(h) is not None}
    return ParsedMail(
        subject=subject,
        from_addr=from_addr.lower() or None,
        from_name=from_name,
        reply_to=reply_to[0][1].lower() if reply_to else None,
        to=to,
        message_id=" ".join(str(msg.get("Message-ID", "")).split()) or None,
        in_reply_to=(_ids(str(msg.get("In-Reply-To") or "")) or (None,))[0],
        references=_ids(str(msg.get("References") or "")),
        date=date,
        text="\n".join(c.text),
        html="\n".join(c.html),
        attachments=tuple(c.attachments),
        headers=headers,
        defects=tuple(dict.fromkeys(defects)),
        received_hops=hops,
        content_type=msg.get_content_type(),
    )


def sender_address(head: bytes) -> str:
    """The From address of a message read from its first bytes (the header block), as ``summarise`` reads it;
    "" when there is none. For work that must know the sender before the whole mail is parsed (the
    per-sender order of distributed mode)."""
    msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(_header_block(head) + b"\r\n\r\n")
    froms = [addr for _name, addr in _addresses(raw_headers_all(msg, "From"), []) if addr]
    return froms[0].lower() if froms else ""


def check_not_outlook(head: bytes) -> None:
    """Refuse an Outlook .msg file (OLE2) given where a mail is expected, with a Chinese hint."""
    if head.startswith(OLE2_MAGIC):
        raise NotAMimeMessage("这是 Outlook .msg 文件（OLE2 格式），不是标准邮件（.eml），请在邮件客户端中另存为 .eml 后再导入")


def parse_message(raw: bytes) -> ParsedMail:
    """Parse one raw message held in memory (the path for ordinary-sized mail).
    Raises ``NotAMimeMessage`` only for non-mail input (e.g. Outlook .msg)."""
    check_not_outlook(raw[:8])
    c = _Collector()
    msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
    c.defects.extend(f"邮件结构缺陷：{type(d).__name__}" for d in msg.defects)
    leaves = 0
    for count, part in enumerate(msg.walk()):
        if count >= MAX_PARTS:
            c.defects.append(f"邮件分段超过 {MAX_PARTS} 个，其余分段未处理")
            break
        if part is not msg:
            c.defects.extend(f"分段结构缺陷：{type(d).__name__}" for d in part.defects)
        if part.is_multipart() or part.get_content_maintype() == "message":
            continue
        ctype, name, inline = part_kind(part, leaves, c.defects)
        leaves += 1
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = b""
        if name is None:
            body = decode_bytes(payload, part.get_content_charset(), c.defects, f"正文({ctype})")
            (c.text if ctype == "text/plain" else c.html).append(body)
            continue
        c.attachments.append(AttachmentPart(name=name, content_type=ctype, payload=payload, size=len(payload),
                                            sha256=hashlib.sha256(payload).hexdigest(), inline=inline))
    return summarise(msg, _header_block(raw), c)
