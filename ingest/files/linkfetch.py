"""Files added to a filed submission afterwards: the file behind a 163 超大附件 / QQ 文件中转站 link, downloaded by
staff (``intake attach``, the console's upload) or, when ``[links] fetch = true``, by the daemon.

Links are strangers' input, so the automatic download is fenced: http/https only; the link and every redirect
must point to a host of ``[links] allowed_hosts`` (the webmails' own by default); at most ``max_bytes`` and
``timeout_seconds`` in all; the result must really be a video (a webmail's login or captcha page is not); the file
is written under the spool (``supplied/<message row>/``) with a name of our own, never the sender's. Any failure is
a ``FetchFailed`` with a plain Chinese reason, and the submission keeps the "请工作人员下载" warning.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    import httpx

from checks.facts import LinkFacts
from ingest.files.classify import VIDEO_KINDS
from ingest.files.sniff import detect_kind
from ingest.config import LinkSettings
from ingest.files.links import find_large_attachment_links
from ingest.mail.mime import ParsedMail
from ingest.mail.spool import FileStore

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
_CHUNK = 1 << 16


@dataclass(frozen=True)
class SuppliedFile:
    """A file of the submission that did not come with its mail."""

    name: str  # what staff and receipts call it (the link's name, or the uploaded file's name)
    path: Path  # inside the spool
    size: int
    sha256: str
    url: str | None  # the link it stands for, if any


class FetchFailed(Exception):
    """The file behind a link could not be downloaded; the message is plain Chinese for staff."""


def supplied_dir(spool: FileStore, message_row_id: int) -> Path:
    """Where files downloaded from a message's links (or added by staff) are kept."""
    return spool.root / "supplied" / str(message_row_id)


def _stored_name(sha256: str, name: str) -> str:
    suffix = re.sub(r"[^A-Za-z0-9.]", "", Path(name).suffix)[:12].lower()
    return f"{sha256[:24]}{suffix}"


def _place(spool: FileStore, message_row_id: int, tmp: Path, name: str, sha256: str, size: int,
           url: str | None) -> SuppliedFile:
    target_dir = supplied_dir(spool, message_row_id)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / _stored_name(sha256, name)
    os.replace(tmp, target)  # same file system: tmp is the spool's own tmp dir
    return SuppliedFile(name=name, path=target, size=size, sha256=sha256, url=url)


def add_local_file(spool: FileStore, message_row_id: int, source: BinaryIO, name: str, url: str | None) -> SuppliedFile:
    """Copy a file staff downloaded (an open file or an upload) into the spool, beside the message it belongs to."""
    tmp = spool.tmp_dir / f"supplied-{uuid.uuid4().hex}.part"
    digest = hashlib.sha256()
    size = 0
    try:
        with tmp.open("wb") as out:
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
                out.write(block)
        return _place(spool, message_row_id, tmp, name, digest.hexdigest(), size, url)
    finally:
        tmp.unlink(missing_ok=True)


def fetch_link(spool: FileStore, message_row_id: int, url: str, name: str, settings: LinkSettings) -> SuppliedFile:
    """Download the video behind ``url`` into the spool, within ``settings``' hosts, size and time."""
    import httpx  # here: only a mail with a video link needs it, and it weighs ~9 MB in the daemon

    deadline = time.monotonic() + settings.timeout_seconds
    tmp = spool.tmp_dir / f"fetch-{uuid.uuid4().hex}.part"
    current = url
    try:
        # trust_env=False: no proxy or netrc from the environment decides where a stranger's link goes.
        with httpx.Client(follow_redirects=False, trust_env=False) as client:
            for _hop in range(MAX_REDIRECTS + 1):
                _allowed(current, settings)
                with client.stream("GET", current, timeout=_timeout(deadline)) as response:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        if not location:
                            raise FetchFailed(f"服务器要求跳转（{response.status_code}）但没有给出地址")
                        current = urljoin(current, location)
                        continue
                    if response.status_code != 200:
                        raise FetchFailed(f"服务器回复 {response.status_code}（链接可能已过期或需要登录）")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > settings.max_bytes:
                        raise FetchFailed(f"文件大小 {int(declared):,} 字节，超过自动下载上限 {settings.max_bytes:,} 字节")
                    digest, size = _receive(response, tmp, settings, deadline)
                break
            else:
                raise FetchFailed(f"跳转超过 {MAX_REDIRECTS} 次")
    except httpx.TimeoutException as exc:
        tmp.unlink(missing_ok=True)
        raise FetchFailed(f"下载超时（限时 {settings.timeout_seconds:g} 秒）") from exc
    except httpx.HTTPError as exc:
        tmp.unlink(missing_ok=True)
        raise FetchFailed(f"下载失败：{type(exc).__name__}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    kind = detect_kind(tmp)
    if kind not in VIDEO_KINDS:
        tmp.unlink(missing_ok=True)
        what = "网页（可能需要登录或输入验证码）" if kind == "html" else f"{kind} 文件"
        raise FetchFailed(f"下载到的不是视频，而是{what}")
    return _place(spool, message_row_id, tmp, name, digest, size, url)


def _allowed(url: str, settings: LinkSettings) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchFailed(f"链接不是 http/https 地址（{parts.scheme or '无协议'}），不下载")
    if not settings.host_allowed(parts.hostname):
        raise FetchFailed(f"链接指向的主机 {parts.hostname or '（空）'} 不在允许下载的列表中（[links] allowed_hosts）")


def _timeout(deadline: float) -> httpx.Timeout:
    import httpx

    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise httpx.ReadTimeout("deadline reached")
    return httpx.Timeout(min(remaining, 60.0))


def _receive(response: httpx.Response, tmp: Path, settings: LinkSettings, deadline: float) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with tmp.open("wb") as out:
        for block in response.iter_bytes(_CHUNK):
            size += len(block)
            if size > settings.max_bytes:
                raise FetchFailed(f"文件超过自动下载上限 {settings.max_bytes:,} 字节，已停止下载")
            if time.monotonic() > deadline:  # a server dribbling bytes keeps each read short but not the whole
                raise FetchFailed(f"下载超时（限时 {settings.timeout_seconds:g} 秒）")
            digest.update(block)
            out.write(block)
    return digest.hexdigest(), size



def fetch_video_links(spool: FileStore, message_row_id: int, mail: ParsedMail,
                      settings: LinkSettings) -> tuple[list[SuppliedFile], list[tuple[str, str, str]]]:
    """With ``[links] fetch = true``: download each video link of the mail. Returns the files fetched and the
    failures as (name, url, plain Chinese reason); a failed link stays a link (its warning stands)."""
    if not settings.fetch:
        return [], []
    fetched: list[SuppliedFile] = []
    failures: list[tuple[str, str, str]] = []
    for link in find_large_attachment_links(mail.html, mail.text, settings.allowed_hosts):
        if not LinkFacts(name=link.name, url=link.url).is_video:
            continue
        try:
            fetched.append(fetch_link(spool, message_row_id, link.url, link.name, settings))
        except FetchFailed as exc:
            log.warning("邮件 %d：链接 %s 未能下载：%s", message_row_id, link.url, exc)
            failures.append((link.name, link.url, str(exc)))
    return fetched, failures
