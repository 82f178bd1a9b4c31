"""What keeps strangers' content from running in a staff browser (issue 15 §4).

Everything the console shows comes from public mail: names, subjects, bodies, files. The defences are layered so
that one slip in a template is not enough:

* every response carries a strict Content-Security-Policy (no script at all: the console needs none; styles
  from our own stylesheet only; no framing), ``X-Content-Type-Options: nosniff`` and a Referrer-Policy;
* links from mail bodies become anchors only when they are http(s) to a provider we recognise;
* sessions live on the server too, so signing out ends them for every copy of the cookie.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from checks.domain import WEBMAIL_HOSTS, host_in, http_host

# No script source at all: the console is plain HTML forms. form-action keeps a injected <form> from posting
# staff data elsewhere; base-uri stops a <base> tag from re-pointing relative links.
CSP = ("default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; font-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
# A stranger's file, if a browser ever renders it, runs in a sandbox without script or same-origin rights.
DOWNLOAD_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"

_HEADERS = {
    b"content-security-policy": CSP.encode(),
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
    b"cross-origin-opener-policy": b"same-origin",
}


class SecurityHeaders:
    """ASGI middleware: the headers above on every response (a handler's own CSP, e.g. the stricter one on
    downloads, is kept)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in _HEADERS.items() if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def safe_link(url: str | None) -> str | None:
    """``url`` when it may be an anchor's href (http(s) to a recognised webmail host), else None: shown as text."""
    if not url:
        return None
    host = http_host(url)
    if host is None or not host_in(host, tuple(h for hosts in WEBMAIL_HOSTS.values() for h in hosts)):
        return None
    return url.strip()


@dataclass
class _Session:
    user: str
    expires: float


class SessionRegistry:
    """Server-side record of signed-in sessions. The signed cookie alone cannot be revoked (a copy of it would
    stay valid until it expires), so it carries only a random id that must be found here."""

    def __init__(self, max_age_seconds: int) -> None:
        self.max_age = max_age_seconds
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def start(self, user: str) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._sessions = {k: s for k, s in self._sessions.items() if s.expires > now}
            self._sessions[sid] = _Session(user, now + self.max_age)
        return sid

    def user(self, sid: object) -> str | None:
        if not isinstance(sid, str):
            return None
        with self._lock:
            found = self._sessions.get(sid)
            if found is None or found.expires <= time.monotonic():
                self._sessions.pop(sid, None)
                return None
            return found.user

    def end(self, sid: object) -> None:
        if isinstance(sid, str):
            with self._lock:
                self._sessions.pop(sid, None)
