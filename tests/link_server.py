"""A real HTTP server on loopback standing in for the webmail's download host (163 超大附件, QQ 文件中转站).

The stdlib's ThreadingHTTPServer serves the routes the tests need: the file itself, a redirect that stays on the
server, a redirect to a host that is not allowed, a login page instead of the file, a file without a declared
length (for the size cap) and one dribbled slowly (for the time cap). The paths carry the 163 link marker so
``ingest.files.links`` recognises them as large-attachment links on any host.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

MARK = "?p=X-NETEASE-HUGE-ATTACHMENT&file="


class LinkServer:
    def __init__(self, video: Path) -> None:
        self.video = video.read_bytes()
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                path = urlsplit(self.path).path
                server.hits.append(path)
                route = getattr(server, "_route_" + path.strip("/").replace("-", "_"), None)
                if route is None:
                    self.send_error(404)
                    return
                route(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, route: str, key: str = "abc") -> str:
        return f"http://127.0.0.1:{self.port}/{route}{MARK}{key}"

    def start(self) -> LinkServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # ---- routes -------------------------------------------------------------------------------------------
    def _route_video(self, h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(self.video)))
        h.end_headers()
        h.wfile.write(self.video)

    def _route_hop(self, h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", "/video" + MARK + "hop")
        h.end_headers()

    def _route_away(self, h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", "http://files.example.net/video.mp4")
        h.end_headers()

    def _route_login(self, h: BaseHTTPRequestHandler) -> None:
        page = "<!DOCTYPE html><html><body>请登录后下载</body></html>".encode()
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(len(page)))
        h.end_headers()
        h.wfile.write(page)

    def _route_unsized(self, h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)  # no Content-Length: the body ends when the connection closes
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(self.video)
        h.close_connection = True

    def _route_slow(self, h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(self.video)))
        h.end_headers()
        try:
            for i in range(0, len(self.video), 512):
                h.wfile.write(self.video[i:i + 512])
                h.wfile.flush()
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should
