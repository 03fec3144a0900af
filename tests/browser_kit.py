"""What the real-browser tests share: Debian's chromium driven by Playwright, a Streamlit
server of this checkout on a free port, and waiting for a script run to finish."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "tests" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# a script run in flight, as the app's root says it (its states: initial, rerunRequested, running, notRunning, ...)
RUNNING = '[data-testid="stApp"]:not([data-test-script-state="notRunning"])'
BUSY = '[data-testid="stStatusWidget"], [data-testid="stSkeleton"], [data-testid="stSpinner"], [data-testid="stProgress"], [data-stale="true"]'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def chromium() -> Iterator[object]:
    """A headless chromium (skips the test where Playwright or chromium is missing)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the python playwright package is not installed")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@contextmanager
def streamlit_server(log_path: Path, *script_args: str, env: dict[str, str] | None = None, healthy_within_s: float = 90) -> Iterator[str]:
    """`streamlit run streamlit_app.py` of this checkout; yields its URL once it is healthy."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
           "--server.port", str(port), "--browser.gatherUsageStats", "false"]
    if script_args:
        cmd += ["--", *script_args]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})), stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + healthy_within_s
            while time.time() < deadline:
                try:
                    with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.3)
            else:
                pytest.fail(f"streamlit did not become healthy within {healthy_within_s:.0f} s")
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def settle(page, timeout_s: float = 240, busy: str = BUSY, then_ms: int = 500, quiet_s: float = 0.45) -> None:
    """Wait until the script run finished, then `then_ms` more for plotly to finish drawing.

    Finished: Streamlit's own run state on the app's root is `notRunning` (the browser sets
    `rerunRequested` the moment a widget asks for a run, before the server answers, so a click
    just made already counts as running) and nothing `busy` is on the page, for `quiet_s`.
    Streamlit's status widget alone shows a run only after a delay, so waiting on it needed
    1.5 s of quiet per call."""
    deadline = time.time() + timeout_s
    busy = f"{busy}, {RUNNING}"
    poll_ms = 150
    needed = max(1, round(quiet_s * 1000 / poll_ms))
    quiet = 0
    while time.time() < deadline:
        quiet = 0 if page.locator(busy).count() > 0 else quiet + 1
        if quiet >= needed:
            page.wait_for_timeout(then_ms)
            return
        page.wait_for_timeout(poll_ms)
    raise AssertionError("the app kept running for too long")
