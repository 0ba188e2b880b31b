"""Test helpers around the real Prometheus tools (``prometheus`` and ``promtool`` on PATH).

Where the binaries are missing, tests skip with the reason, except under ``CI=true`` where they
fail: CI installs them, and a silent skip there would hide the check.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        msg = f"{name} not found on PATH (Debian/Ubuntu: apt-get install prometheus)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + "; CI=true, so this is an error, not a skip")
        pytest.skip(msg)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def promtool_check_metrics(text: str) -> subprocess.CompletedProcess:
    """Run ``promtool check metrics`` on an exposition (it lints, e.g. counters need _total)."""
    promtool = require_binary("promtool")
    return subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )


def promtool_check_rules(path) -> subprocess.CompletedProcess:
    promtool = require_binary("promtool")
    return subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )


class PrometheusServer:
    """A real Prometheus on a loopback port scraping the given targets every ``interval``."""

    def __init__(self, targets, workdir, interval="1s", rule_files=()):
        self.binary = require_binary("prometheus")
        self.workdir = Path(workdir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.targets = list(targets)
        self.interval = interval
        self.rule_files = [str(p) for p in rule_files]
        self.proc = None
        self._log = None

    def _config(self) -> str:
        targets = ", ".join(f'"{t}"' for t in self.targets)
        rules = "".join(f'  - "{p}"\n' for p in self.rule_files)
        return (
            "global:\n"
            f"  scrape_interval: {self.interval}\n"
            f"  evaluation_interval: {self.interval}\n"
            + (f"rule_files:\n{rules}" if rules else "")
            + "scrape_configs:\n"
            "  - job_name: tallyml\n"
            f"    scrape_interval: {self.interval}\n"
            f"    scrape_timeout: {self.interval}\n"
            f"    static_configs:\n      - targets: [{targets}]\n"
        )

    def start(self, timeout=60.0):
        config = self.workdir / "prometheus.yml"
        config.write_text(self._config())
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        self._log = open(self.workdir / "prometheus.log", "w")
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"prometheus not ready after {timeout}s:\n{self.log()}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        try:
            return (self.workdir / "prometheus.log").read_text()[-4000:]
        except OSError:
            return ""

    def api(self, path, **params):
        url = f"{self.url}/api/v1/{path}?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:  # 4xx/5xx carry a JSON error body
            with e:  # the error holds the response's socket until closed
                return json.loads(e.read())

    def query(self, expr: str):
        """Instant query; returns the result list, raises AssertionError on a query error."""
        body = self.api("query", query=expr)
        assert body.get("status") == "success", f"query {expr!r} failed: {body}"
        return body["data"]["result"]

    def query_range(self, expr: str, seconds: float = 60, step: str = "1s"):
        end = time.time()
        body = self.api("query_range", query=expr, start=end - seconds, end=end, step=step)
        assert body.get("status") == "success", f"range query {expr!r} failed: {body}"
        return body["data"]["result"]

    def wait_for(self, expr: str, predicate=bool, timeout: float = 30.0):
        """Poll ``expr`` until ``predicate(result)`` holds; returns that result."""
        deadline = time.monotonic() + timeout
        result = None
        while time.monotonic() < deadline:
            result = self.query(expr)
            if predicate(result):
                return result
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting on {expr!r}; last result {result!r}\n{self.log()}")

    def wait_scrapes(self, n: int = 1, timeout: float = 30.0):
        """Wait until every target has been scraped ``n`` more times, successfully."""
        def scraped():
            r = self.api("targets")["data"]["activeTargets"]
            return r and all(t["health"] == "up" for t in r) and r
        start = time.time()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            targets = scraped()
            if targets and all(_ts(t["lastScrape"]) > start for t in targets):
                if n <= 1:
                    return
                n -= 1
                start = time.time()
            time.sleep(0.2)
        raise AssertionError(f"targets not scraped in {timeout}s: {self.api('targets')}\n{self.log()}")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _ts(text: str) -> float:
    # RFC 3339 with up to nanoseconds, e.g. 2026-11-27T23:50:01.123456789Z or ...+01:00
    from datetime import datetime

    text = text.replace("Z", "+00:00")
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    return datetime.fromisoformat(text).timestamp()


def values(result) -> dict:
    """Instant-query result -> {frozenset(labels without __name__/job/instance): float}."""
    out = {}
    for r in result:
        labels = {k: v for k, v in r["metric"].items() if k not in ("__name__", "job", "instance")}
        out[frozenset(labels.items())] = float(r["value"][1])
    return out
