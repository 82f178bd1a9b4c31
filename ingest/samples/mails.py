"""Build raw submission mails the way Chinese mail clients really encode them.

Used by the demo, the benchmarks and the tests, so every path is exercised with the encodings seen
in the wild (shared KNOWLEDGE.md):
- ``163``: Coremail webmail; GBK bodies, ``=?GBK?B?…?=`` subject, RFC 2231 ``filename*=GBK''…`` names;
- ``qq``: ``=?gb18030?B?…?=`` subject and encoded words *inside quoted* filenames, no RFC 2231;
- ``foxmail``: ``gb2312`` labels even on text holding GBK-only characters (镕, 堃);
- ``outlook``: Outlook on Chinese Windows: ``gb2312`` labels, quoted-printable bodies, encoded words in quoted
  filenames, ``Thread-Index``;
- ``raw8bit``: undeclared 8-bit GBK bytes in the filename (old clients);
- ``utf8``: a modern client (Python's own encoder: RFC 2047 UTF-8 and RFC 2231 UTF-8).
"""

from __future__ import annotations

import base64
import quopri
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from html import escape as html_escape
from pathlib import Path
from typing import Sequence
from urllib.parse import quote

STYLES = ("163", "qq", "foxmail", "outlook", "raw8bit", "utf8")


@dataclass(frozen=True)
class Attachment:
    """A file to attach to a generated mail."""

    name: str
    data: bytes
    content_type: str = "application/octet-stream"

    @classmethod
    def from_file(cls, path: Path, name: str | None = None, content_type: str = "application/octet-stream") -> Attachment:
        """The file at ``path`` as an attachment (named as the file unless ``name`` is given)."""
        return cls(name or path.name, path.read_bytes(), content_type)


def _b64_lines(data: bytes) -> bytes:
    enc = base64.b64encode(data)
    return b"\r\n".join(enc[i:i + 76] for i in range(0, len(enc), 76))


def _encoded_word(text: str, charset: str) -> str:
    codec = "gb18030" if charset.lower() in {"gb2312", "gbk", "gb18030"} else charset
    return f"=?{charset}?B?{base64.b64encode(text.encode(codec)).decode()}?="


def build_mail(
    *, style: str, sender: str, to: str, subject: str, body: str, attachments: Sequence[Attachment] = (),
    sender_name: str = "", date: datetime | None = None, message_id: str | None = None,
    extra_headers: Sequence[tuple[str, str]] = (), html: str | None = None,
    received_at: datetime | None = None,
) -> bytes:
    """``received_at`` adds the receiving server's ``Received:`` header (what an export keeps of the
    arrival time); ``date`` is the sender's own clock."""
    if style not in STYLES:
        raise ValueError(f"unknown mail style {style!r}")
    date = date or received_at or datetime.now(timezone.utc)
    if received_at is not None:
        hop = (f"from {sender.rpartition('@')[2] or 'localhost'} (unknown [203.0.113.7]) by mx.163.com "
               f"(Coremail) with SMTP id abc; {format_datetime(received_at)}")
        extra_headers = (("Received", hop), *extra_headers)
    message_id = message_id or f"<{uuid.uuid4().hex}@{sender.rpartition('@')[2] or 'example.com'}>"
    if style == "utf8":
        return _build_utf8(sender=sender, to=to, subject=subject, body=body, attachments=attachments,
                           sender_name=sender_name, date=date, message_id=message_id,
                           extra_headers=extra_headers, html=html)
    charset = {"163": "GBK", "qq": "gb18030", "foxmail": "gb2312", "outlook": "gb2312", "raw8bit": "GBK"}[style]
    boundary = f"----=_Part_{uuid.uuid4().hex[:16]}"
    from_value = f"{_encoded_word(sender_name, charset)} <{sender}>" if sender_name else sender
    head = [
        f"From: {from_value}",
        f"To: {to}",
        f"Subject: {_encoded_word(subject, charset)}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        f"Content-Type: multipart/mixed; boundary=\"{boundary}\"",
    ]
    if style == "163":
        head.append("X-Mailer: Coremail Webmail Server Version XT5.0.13 build 20210104(foo)")
    elif style == "qq":
        head.append("X-QQ-mid: xmsmtpt1700000000tabcdef")
        head.append("X-Mailer: QQMail 2.x")
    elif style == "foxmail":
        head.append("X-Mailer: Foxmail 7.2.25.228[cn]")
    elif style == "outlook":
        head += ["X-Mailer: Microsoft Outlook 16.0", "Content-Language: zh-cn",
                 f"Thread-Index: {base64.b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes[:6]).decode()}"]
    head += [f"{k}: {v}" for k, v in extra_headers]
    out = [("\r\n".join(head) + "\r\n\r\n").encode("ascii")]
    out.append(f"--{boundary}\r\n".encode())
    if html is not None:
        alt = f"----=_Alt_{uuid.uuid4().hex[:16]}"
        out.append(f"Content-Type: multipart/alternative; boundary=\"{alt}\"\r\n\r\n".encode())
        for subtype, text in (("plain", body), ("html", html)):
            out.append(f"--{alt}\r\n".encode() + _text_part(style, subtype, charset, text))
        out.append(f"--{alt}--\r\n".encode())
    else:
        out.append(_text_part(style, "plain", charset, body))
    for att in attachments:
        out.append(f"--{boundary}\r\n".encode())
        out.append(_attachment_head(style, charset, att))
        out.append(_b64_lines(att.data) + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def _text_part(style: str, subtype: str, charset: str, text: str) -> bytes:
    data = text.encode("gb18030")
    if style == "outlook":  # Outlook writes its text parts quoted-printable, quoted charset label
        qp = quopri.encodestring(data.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
        return (f"Content-Type: text/{subtype}; charset=\"{charset}\"\r\n"
                f"Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode() + qp + b"\r\n"
    return (f"Content-Type: text/{subtype}; charset={charset}\r\nContent-Transfer-Encoding: base64\r\n\r\n".encode()
            + _b64_lines(data) + b"\r\n")


def _attachment_head(style: str, charset: str, att: Attachment) -> bytes:
    if style == "163":
        pct = quote(att.name.encode("gb18030"), safe="")
        return (f"Content-Type: {att.content_type}; name=\"{_encoded_word(att.name, charset)}\"\r\n"
                f"Content-Transfer-Encoding: base64\r\n"
                f"Content-Disposition: attachment; filename*={charset}''{pct}\r\n\r\n").encode("ascii")
    if style in {"qq", "foxmail", "outlook"}:
        ew = _encoded_word(att.name, charset)
        return (f"Content-Type: {att.content_type}; name=\"{ew}\"\r\n"
                f"Content-Transfer-Encoding: base64\r\n"
                f"Content-Disposition: attachment; filename=\"{ew}\"\r\n\r\n").encode("ascii")
    raw_name = att.name.encode("gb18030")
    return (f"Content-Type: {att.content_type}\r\nContent-Transfer-Encoding: base64\r\n".encode("ascii")
            + b"Content-Disposition: attachment; filename=\"" + raw_name + b"\"\r\n\r\n")


def _build_utf8(*, sender: str, to: str, subject: str, body: str, attachments: Sequence[Attachment],
                sender_name: str, date: datetime, message_id: str, extra_headers: Sequence[tuple[str, str]],
                html: str | None) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"{sender_name} <{sender}>" if sender_name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    for k, v in extra_headers:
        msg[k] = v
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for att in attachments:
        maintype, _, subtype = att.content_type.partition("/")
        msg.add_attachment(att.data, maintype=maintype, subtype=subtype or "octet-stream", filename=att.name)
    return msg.as_bytes()


@dataclass(frozen=True)
class BigAttachment:
    """A file sent as a webmail large-attachment link (163 超大附件, QQ 文件中转站)."""

    name: str
    size: int  # bytes
    expires_at: datetime  # aware
    url: str


def _size_text(size: int) -> str:
    for unit, factor in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= factor:
            return f"{size / factor:.2f}".rstrip("0").rstrip(".") + unit
    return f"{size}B"


def netease_big_attachment(intro: str, files: Sequence[BigAttachment]) -> tuple[str, str]:
    """(text, html) bodies as 163/126 webmail writes them when files are sent as 超大附件 (shared KNOWLEDGE.md):
    ``<div id="divNeteaseBigAttach">`` with anchors carrying filename/filesize/expiretime (epoch ms), a grey
    "(3.61M, 2025年12月20日 10:00 到期)" note, and the plain-text part repeating name, note and URL."""
    china = timezone(timedelta(hours=8))
    rows, lines = [], [intro, "", "从网易163邮箱发来的超大附件"]
    for f in files:
        when = f.expires_at.astimezone(china).strftime("%Y年%m月%d日 %H:%M")
        note = f"({_size_text(f.size)}, {when} 到期)"
        url = html_escape(f.url)
        rows.append(
            f'<div style="clear:both;height:36px;padding:6px 4px;">'
            f'<a href="{url}" target="_blank"><img width="36" height="36" '
            f'src="https://mimg.127.net/xm/all/fj/ico-bfile-6.gif" border="0"/></a>'
            f'<div style="padding:0px 0px 0px 50px;"><a download href="{url}" filename="{html_escape(f.name)}" '
            f'filesize="{f.size}" expiretime="{int(f.expires_at.timestamp() * 1000)}" '
            f'style="text-decoration:none;color:#000;" target="_blank">{html_escape(f.name)}</a>'
            f'<span style="color:#bbb;">{note}</span><br/>'
            f'<a href="{url}" target="_blank" style="font-size:12px;">下载</a></div></div>')
        lines += [f"{f.name} {note}", f"下载地址: {f.url}"]
    html = (f'<div style="line-height:1.7;color:#000000;font-size:14px;font-family:Arial">{html_escape(intro)}</div>'
            '<div id="divNeteaseBigAttach" style="clear:both;"><div style="padding:4px 8px 4px 8px;'
            'background:#F7F7F7;font-size:12px;"><b style="font-size:14px;">从网易163邮箱发来的超大附件</b></div>'
            f'<div style="padding:4px 8px;background:#fff;line-height:22px;">{"".join(rows)}</div></div>')
    return "\n".join(lines) + "\n", html


def qq_big_attachment(intro: str, files: Sequence[BigAttachment]) -> tuple[str, str]:
    """(text, html) bodies as QQ Mail writes a 文件中转站 file: ``<div class="bigatt_bt" title="NAME\\n文件大小：…
    \\n到期时间：…">`` around the download anchor."""
    china = timezone(timedelta(hours=8))
    blocks, lines = [], [intro, "", "从QQ邮箱发来的超大附件"]
    for f in files:
        when = f.expires_at.astimezone(china).strftime("%Y年%m月%d日 %H:%M")
        title = html_escape(f"{f.name}\n文件大小：{_size_text(f.size)}\n到期时间：{when}")
        blocks.append(f'<div class="bigatt_bt" style="float:left;clear:both;" title="{title}">'
                      f'<a href="{html_escape(f.url)}" target="_blank"><img src="https://rescdn.qqmail.com/zh_CN/'
                      f'images/mo/DEFAULT2/icon/video.gif"/></a><div class="name"><a href="{html_escape(f.url)}" '
                      f'target="_blank">{html_escape(f.name)}</a></div></div>')
        lines += [f"{f.name} (文件大小：{_size_text(f.size)}，到期时间：{when})", f.url]
    html = (f"<div>{html_escape(intro)}</div><div id=\"QQMailBigAttach\" style=\"margin:0 12px;\">"
            f"<div style=\"padding:2px 0 12px 0;\"><b>从QQ邮箱发来的超大附件</b></div>{''.join(blocks)}</div>")
    return "\n".join(lines) + "\n", html
