"""The demo's built-in web page and its HTTP server: one localhost port serves

``/``                 the live page (``static/index.html``; plain HTML, JS and SVG, no CDN)
``/static/<file>``    its script and style sheet
``/metrics``          the Prometheus exposition of the scenario's monitor (what a Prometheus
                      server would scrape; the page reads its headline values from here too)
``/api/snapshot``     the last recorded monitor snapshot plus the demo's state (JSON)
``/api/history``      the recorded time series, events and training curves (JSON)

JSON never holds NaN (not valid JSON for a browser's ``JSON.parse``): undefined values are
``null``.
"""
from __future__ import annotations

import errno
import json
import logging
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

__all__ = ["DemoServer", "json_safe", "STATIC_FILES"]

_log = logging.getLogger("tallyml.demo")

#: the page's files (served from the package; the page loads nothing from elsewhere)
STATIC_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


def json_safe(value):
    """A copy with NaN/inf floats turned into None and numpy scalars into Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _static(name: str) -> bytes:
    return (resources.files("tallyml.demo") / "static" / name).read_bytes()


def _handler(scenario, registry):
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status, ctype, body):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, obj):
            body = json.dumps(json_safe(obj), allow_nan=False, separators=(",", ":")).encode()
            self._send(200, "application/json", body)

        def do_GET(self):  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            try:
                if path in ("/", "/index.html"):
                    self._send(200, STATIC_FILES["index.html"], _static("index.html"))
                elif path.startswith("/static/") and path[8:] in STATIC_FILES:
                    self._send(200, STATIC_FILES[path[8:]], _static(path[8:]))
                elif path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
                elif path == "/api/snapshot":
                    self._json(scenario.snapshot())
                elif path == "/api/history":
                    self._json({"history": scenario.history(), "events": scenario.events(),
                                "training": scenario.training(),
                                "schedule": scenario.snapshot()["demo"]["schedule"]})
                else:
                    self._send(404, "text/plain; charset=utf-8", b"not found\n")
            except Exception as e:  # noqa: BLE001 - report and keep serving
                _log.exception("serving %s failed", path)
                self._send(500, "text/plain; charset=utf-8", f"error: {e!r}\n".encode())

        def log_message(self, *args):  # the page polls every second: keep the terminal clean
            pass

    return Handler


class DemoServer:
    """Serve the page, ``/metrics`` and the JSON API of ``scenario`` in a background thread.

    ``port=0`` picks a free port; ``url`` says where. ``close()`` stops serving (idempotent).
    """

    def __init__(self, scenario, port: int = 0, addr: str = "127.0.0.1"):
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an integer in [0, 65535]; got {port!r}")
        registry = scenario.monitor.exporter().registry
        try:
            self._server = ThreadingHTTPServer((addr, port), _handler(scenario, registry))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise OSError(e.errno, f"port {port} on {addr} is already in use "
                                       "(pass --port 0 to pick a free one)") from e
            raise
        self._server.daemon_threads = True
        self.addr = addr
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="tallyml-demo-http", daemon=True)
        self._thread.start()
        self._closed = False

    @property
    def url(self) -> str:
        return f"http://{self.addr}:{self.port}/"

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
