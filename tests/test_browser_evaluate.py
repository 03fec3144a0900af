"""Real browser: Explore's "Evaluate the chosen models on this data" on a class-folder dataset
(a synthetic archive given as the server's start-up data root), opened by a shared link with
two models. Screenshot in tests/screenshots/explore_evaluate.png.

Skipped with a reason when Playwright or Debian's chromium is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.models import registry

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "tests" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update"]
MODELS = ["patch-lite0-dense", "s2-mobilenet-keras"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    from core.score.synthetic import make_archive

    if not all(n in registry.names() and registry.weights_available(registry.card(n)) for n in MODELS):
        pytest.skip("the shipped torch / Keras models are not in this checkout")
    root = tmp_path_factory.mktemp("evaluate-root")
    make_archive(root, 9)
    return root


@pytest.fixture(scope="module")
def app_url(archive, tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the python playwright package is not installed")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    port = _free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1", MAMMO_DATA_ROOTS=str(archive), MAMMO_SHARED_DATA=str(tmp_path_factory.mktemp("no-shared") / "none"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    log_path = SHOTS / "server_evaluate.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        proc.terminate()
        pytest.fail("streamlit did not become healthy within 60 s")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield url, browser, log_path
        browser.close()
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _settle(page, timeout_s: float = 400) -> None:
    deadline = time.time() + timeout_s
    quiet = 0
    while time.time() < deadline:
        busy = page.locator('[data-testid="stStatusWidget"], [data-testid="stSpinner"], [data-stale="true"]').count() > 0
        quiet = 0 if busy else quiet + 1
        if quiet >= 6:
            page.wait_for_timeout(800)
            return
        page.wait_for_timeout(250)
    raise AssertionError("the app kept running for too long")


def test_explore_evaluation_in_a_browser(app_url, archive):
    url, browser, log_path = app_url
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/explore?dataset=folder&models={','.join(MODELS)}")
    page.get_by_text("Evaluate the chosen models on this data").first.wait_for(timeout=120_000)
    _settle(page)
    page.get_by_text("Evaluate the chosen models on this data").first.click()
    page.get_by_role("button", name="Run").click()
    page.get_by_text("Predictions (Parquet)").first.wait_for(timeout=400_000)
    _settle(page)
    page.locator('[data-testid="stButtonGroup"]').get_by_text("stage2", exact=True).first.click()
    _settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator(".js-plotly-plot").count() >= 3 + len(MODELS)  # ROC, PR, calibration, a confusion matrix per model
    text = page.inner_text("body")
    assert "ROC AUC" in text and str(archive) not in text
    section = page.locator('[data-testid="stExpander"]').filter(has_text="Evaluate the chosen models on this data")
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": int(min(max(height, 1000), 8000))})
    page.wait_for_timeout(800)
    section.screenshot(path=str(SHOTS / "explore_evaluate.png"))
    assert str(archive) not in log_path.read_text()
