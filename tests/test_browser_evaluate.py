"""Real browser: Explore's "Evaluate the chosen models on this data" on a class-folder dataset
(a synthetic archive given as the server's start-up data root), opened by a shared link with
two models. Screenshot in tests/screenshots/explore_evaluate.png.

Skipped with a reason when Playwright or Debian's chromium is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_kit import SHOTS, chromium, settle, streamlit_server
from core.models import registry

MODELS = ["patch-lite0-dense", "s2-mobilenet-keras"]


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
    log_path = SHOTS / "server_evaluate.log"
    env = {"MAMMO_DATA_ROOTS": str(archive), "MAMMO_SHARED_DATA": str(tmp_path_factory.mktemp("no-shared") / "none")}
    with chromium() as browser, streamlit_server(log_path, env=env, healthy_within_s=60) as url:
        yield url, browser, log_path


def _settle(page, timeout_s: float = 400) -> None:
    """The evaluation page keeps its finished progress bar, so only a running script is busy."""
    settle(page, timeout_s, busy='[data-testid="stStatusWidget"], [data-testid="stSpinner"], [data-stale="true"]', then_ms=800)


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
