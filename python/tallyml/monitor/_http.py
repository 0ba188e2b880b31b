"""The monitor's HTTP endpoint: ``/metrics`` (Prometheus text format), ``/snapshot.json``
(``Monitor.snapshot()``), and ``/`` from a page callable (the live web page is someone
else's: ``page(monitor) -> str | bytes`` of HTML)."""
from __future__ import annotations

import errno
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["serve"]

_log = logging.getLogger("tallyml.monitor")


def _handler(monitor, registry, page):
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status, ctype, body):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            try:
                if path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
                elif path == "/snapshot.json":
                    body = json.dumps(monitor.snapshot(), default=str).encode()
                    self._send(200, "application/json", body)
                elif path == "/" and page is not None:
                    html = page(monitor)
                    self._send(200, "text/html; charset=utf-8",
                               html.encode() if isinstance(html, str) else bytes(html))
                else:
                    self._send(404, "text/plain", b"not found\n")
            except Exception as e:  # noqa: BLE001 - report, keep serving
                _log.exception("serving %s failed", path)
                self._send(500, "text/plain", f"error: {e!r}\n".encode())

        def log_message(self, *args):  # quiet: a scrape every few seconds
            pass

    return Handler


def serve(monitor, registry, *, port=0, addr="127.0.0.1", page=None):
    from ..export.prometheus import ServerHandle

    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer in [0, 65535]; got {port!r}")
    if page is not None and not callable(page):
        raise TypeError(f"page must be a callable(monitor) -> html; got {page!r}")
    try:
        server = ThreadingHTTPServer((addr, port), _handler(monitor, registry, page))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise OSError(e.errno, f"cannot serve: port {port} on {addr} is already in use") from e
        raise
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="tallyml-monitor-http", daemon=True)
    thread.start()
    return ServerHandle(server, thread, addr)
