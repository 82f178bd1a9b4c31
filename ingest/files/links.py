"""Large-attachment links in a mail body: 163/126 超大附件 and QQ Mail 文件中转站.  Pure: text in, records out.

Webmails send a file too big to attach as a download link with its name, size and expiry (about 30 days).  Staff
must fetch it before it expires, so each link becomes an attachment of kind "link".

What the webmails write (from mails seen in the wild):

* 163/126/yeah.net: ``<div id="divNeteaseBigAttach">`` holding, per file, an anchor to
  ``https://mail.163.com/large-attachment-download/index.html?p=X-NETEASE-HUGE-ATTACHMENT&file=…`` with attributes
  ``filename``, ``filesize`` (bytes) and ``expiretime`` (epoch milliseconds), followed by a grey span
  ``(3.61M, 2022年11月25日 13:35 到期)``; the plain-text part repeats name, size and expiry above the URL.
* QQ Mail: ``https://mail.qq.com/cgi-bin/ftnExs_download?…`` (classic) or ``https://wx.mail.qq.com/ftn/download?…``
  inside ``<div class="bigatt_bt" title="NAME\\n文件大小：3.61M\\n到期时间：2024年08月22日 17:33">``.

Anchors are found with the stdlib HTML parser; regular expressions only read the size/expiry wording of text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from urllib.parse import parse_qs, unquote, urlsplit

from checks.domain import WEBMAIL_HOSTS, host_in, http_host

CHINA_TIME = timezone(timedelta(hours=8), "Asia/Shanghai")  # webmails print expiry in Beijing time


@dataclass(frozen=True)
class LargeAttachmentLink:
    """A 163 超大附件 or QQ 文件中转站 link found in a mail: the file's name, size, URL, provider and expiry."""

    name: str
    size_bytes: int | None
    size_text: str  # as the webmail wrote it, e.g. "3.61M"
    url: str
    provider: str  # "163" (also 126/yeah.net) or "qq"
    expires_at: datetime | None  # timezone-aware


def link_provider(url: str, also_hosts: tuple[str, ...] = ()) -> str | None:
    """"163" or "qq" for an http(s) link to those webmails' large-attachment downloads, else None. The scheme
    and host decide, never words elsewhere in the URL: a stranger's ``javascript:…X-NETEASE-HUGE-ATTACHMENT``
    or ``https://evil163.com/…`` is not a link we show staff. ``also_hosts``: hosts the operator trusts as well
    (``[links] allowed_hosts``, e.g. a mirror, or the tests' loopback server), where either webmail's URL shape
    is recognised."""
    host = http_host(url)
    if host is None:
        return None
    parts = urlsplit(url.strip())
    extra = tuple(h.lower() for h in also_hosts)
    if host_in(host, (*WEBMAIL_HOSTS["163"], *extra)) and (
            "large-attachment-download" in parts.path or "X-NETEASE-HUGE-ATTACHMENT" in parts.query):
        return "163"
    if host_in(host, (*WEBMAIL_HOSTS["qq"], *extra)) and (parts.path.startswith("/cgi-bin/ftnExs_download")
                                               or parts.path.startswith("/ftn/download")):
        return "qq"
    return None


_SIZE = r"(\d+(?:\.\d+)?)\s*([KMGT]i?B?|字节|B)"
_DATE = r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*(\d{1,2}):(\d{2})"
_NETEASE_NOTE = re.compile(r"[(（]\s*" + _SIZE + r"\s*[,，]\s*" + _DATE + r"\s*到期\s*[)）]", re.I)
_QQ_SIZE = re.compile(r"文件大小\s*[：:]\s*" + _SIZE, re.I)
_QQ_EXPIRY = re.compile(r"到期时间\s*[：:]\s*" + _DATE)
_UNITS = {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(number: str, unit: str) -> int:
    """"3.61", "M" -> bytes (webmails count in binary units)."""
    key = "B" if unit == "字节" else unit.upper().rstrip("B").rstrip("I") or "B"
    return int(float(number) * _UNITS[key])


def _china_date(match: re.Match[str], first_group: int) -> datetime | None:
    year, month, day, hour, minute = (int(match.group(first_group + i)) for i in range(5))
    try:
        return datetime(year, month, day, hour, minute, tzinfo=CHINA_TIME)
    except ValueError:
        return None


@dataclass
class _Anchor:
    href: str
    attrs: dict[str, str]
    titles: list[str]  # title attributes of the enclosing elements, innermost first
    text: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)  # text following the anchor, until the next link


class _AnchorCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[_Anchor] = []
        self._open: list[tuple[str, str]] = []  # (tag, title) of open elements
        self._in_anchor: _Anchor | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key.lower(): value or "" for key, value in attrs}
        if tag == "a" and values.get("href"):
            titles = [title for _, title in reversed(self._open) if title]
            self._in_anchor = _Anchor(href=values["href"], attrs=values, titles=titles)
            self.anchors.append(self._in_anchor)
        elif tag not in ("br", "img", "hr", "meta", "input", "wbr"):
            self._open.append((tag, values.get("title", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_anchor = None
            return
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                del self._open[index:]
                break

    def handle_data(self, data: str) -> None:
        if self._in_anchor is not None:
            self._in_anchor.text.append(data)
        elif self.anchors:
            self.anchors[-1].after.append(data)


def _from_anchor(anchor: _Anchor, also_hosts: tuple[str, ...]) -> LargeAttachmentLink | None:
    provider = link_provider(anchor.href, also_hosts)
    if provider is None:
        return None
    title = next((t for t in anchor.titles if "文件大小" in t or "到期" in t), "")
    text = " ".join("".join(anchor.text).split())
    name = anchor.attrs.get("filename", "").strip() or _name_from_title(title) or _name_from_text(text) \
        or _name_from_url(anchor.href)
    size_bytes: int | None = None
    size_text = ""
    expires_at: datetime | None = None
    if anchor.attrs.get("filesize", "").isdigit():
        size_bytes = int(anchor.attrs["filesize"])
    if anchor.attrs.get("expiretime", "").isdigit():
        expires_at = datetime.fromtimestamp(int(anchor.attrs["expiretime"]) / 1000, tz=timezone.utc) \
            .astimezone(CHINA_TIME)
    wording = " ".join((title, text, "".join(anchor.after)))
    note = _NETEASE_NOTE.search(wording)
    if note:
        size_text = note.group(1) + note.group(2)
        size_bytes = size_bytes if size_bytes is not None else parse_size(note.group(1), note.group(2))
        expires_at = expires_at or _china_date(note, 3)
    qq_size, qq_expiry = _QQ_SIZE.search(wording), _QQ_EXPIRY.search(wording)
    if qq_size and not size_text:
        size_text = qq_size.group(1) + qq_size.group(2)
        size_bytes = size_bytes if size_bytes is not None else parse_size(qq_size.group(1), qq_size.group(2))
    if qq_expiry and expires_at is None:
        expires_at = _china_date(qq_expiry, 1)
    if not size_text and size_bytes is not None:
        size_text = f"{size_bytes / (1 << 20):.2f}M"
    return LargeAttachmentLink(name=name, size_bytes=size_bytes, size_text=size_text, url=anchor.href.strip(),
                               provider=provider, expires_at=expires_at)


_UNNAMED = "超大附件"
_GENERIC_TEXT = {"下载", "点击下载", "下载文件", "查看", "预览", "收藏", "保存到网盘", "打开"}


def _name_from_title(title: str) -> str:
    first = title.strip().splitlines()[0].strip() if title.strip() else ""
    return "" if "文件大小" in first or "到期" in first else first


def _name_from_text(text: str) -> str:
    cleaned = _NETEASE_NOTE.sub("", text).strip()
    return "" if not cleaned or cleaned in _GENERIC_TEXT or cleaned.startswith("http") else cleaned


def _name_from_url(url: str) -> str:
    query = parse_qs(urlsplit(url).query)
    for key in ("filename", "name", "fname"):
        if query.get(key):
            return unquote(query[key][0])
    return _UNNAMED


_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'）)]+")


def _from_text(text: str, also_hosts: tuple[str, ...]) -> list[LargeAttachmentLink]:
    """Links in the plain-text part: "NAME (SIZE, DATE 到期)" on the line(s) before the URL, as 163 writes."""
    found = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        for match in _URL_IN_TEXT.finditer(line):
            url = match.group(0)
            provider = link_provider(url, also_hosts)
            if provider is None:
                continue
            name, size_text, size_bytes, expires_at = _UNNAMED, "", None, None
            # The closest line above (or the start of this line) that carries the "(SIZE, DATE 到期)" note.
            for context in [line[:match.start()], *reversed(lines[max(0, index - 2):index])]:
                note = _NETEASE_NOTE.search(context)
                if note:
                    size_text = note.group(1) + note.group(2)
                    size_bytes = parse_size(note.group(1), note.group(2))
                    expires_at = _china_date(note, 3)
                    before = re.sub(r"^\s*(附件|文件名)\s*[：:]", "", context[:note.start()]).strip()
                    name = before or _UNNAMED
                    break
            found.append(LargeAttachmentLink(name=name, size_bytes=size_bytes, size_text=size_text, url=url,
                                             provider=provider, expires_at=expires_at))
    return found


def find_large_attachment_links(html: str, text: str, also_hosts: tuple[str, ...] = ()) -> list[LargeAttachmentLink]:
    """Every 163/126 超大附件 and QQ 文件中转站 link in the HTML and plain-text bodies, once per URL
    (``also_hosts``: see ``link_provider``).

    The HTML reading wins over the text reading of the same URL (its anchor carries exact size and expiry).
    """
    collector = _AnchorCollector()
    collector.feed(html or "")
    collector.close()
    links: dict[str, LargeAttachmentLink] = {}
    html_links = [link for link in (_from_anchor(a, also_hosts) for a in collector.anchors) if link is not None]
    for link in html_links + _from_text(text or "", also_hosts):
        links[link.url] = _merge(links[link.url], link) if link.url in links else link
    return list(links.values())


def _merge(first: LargeAttachmentLink, other: LargeAttachmentLink) -> LargeAttachmentLink:
    """One file is linked several times (icon, name, "下载"); each anchor may carry part of what is known."""
    return LargeAttachmentLink(
        name=first.name if first.name != _UNNAMED else other.name,
        size_bytes=first.size_bytes if first.size_bytes is not None else other.size_bytes,
        size_text=first.size_text or other.size_text,
        url=first.url, provider=first.provider,
        expires_at=first.expires_at or other.expires_at)
