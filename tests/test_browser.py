"""End-to-end: the real app in a real (headless) Chromium, driven by Playwright.

Starts `streamlit run streamlit_app.py` on a free port, opens every page, uploads an
embedded sample DICOM and a corrupt file, and saves screenshots to tests/screenshots/.
Skipped with a reason when Playwright or Debian's chromium is missing
(`apt-get install -y chromium`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from browser_kit import REPO, SHOTS, settle, streamlit_server

# url path, page title, screenshot name, an element the page must end up showing
# (the last thing each page draws, so the screenshot is of the finished page)
PAGES = [("", "Mammography AI workbench", "overview", "text=The dotted line is chance"),
         ("compare", "Compare models", "compare", ".js-plotly-plot"),
         ("model_cards", "Model cards", "model_cards", '[data-testid="stTabs"]'),
         ("explore", "Explore the data", "explore", "text=Map layer")]


def _live_cards() -> list[dict]:
    """Cards of the models the app can run (`$MAMMO_MODELS_DIR`, else models/), as the app sees them."""
    from core.dashboard import cards as dcards
    from core.models import registry

    root = os.environ.get("MAMMO_MODELS_DIR") or None
    return [c for c in registry.discover(root) if dcards.is_shipped(c) and registry.weights_available(c)]


def _live_models() -> list[str]:
    return [c["name"] for c in _live_cards()]


def _default_models() -> list[str]:
    """Live models the pages run on their own (a model slower than the on-demand budget, such
    as the rebuilt hierarchy, waits to be picked): one card each, with its map layers (Grad-CAM,
    gradient saliency, dense patch scores, U-Net segmentation, stage maps)."""
    from core.dashboard import cards as dcards

    return [c["name"] for c in _live_cards() if not dcards.on_demand(c)]


@pytest.fixture(scope="module")
def app_url():
    with streamlit_server(SHOTS / "server.log", healthy_within_s=60) as url:
        yield url




def _shoot(page, name: str) -> None:
    """Screenshot the whole page: Streamlit scrolls inside stMain, so grow the viewport to fit it."""
    height = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]'); return m ? m.scrollHeight : document.body.scrollHeight; }")
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": int(min(max(height, 1000), 8000))})
    page.wait_for_timeout(700)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": width, "height": 1000})


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator('[data-testid="stException"]').first.inner_text()
    assert "Traceback" not in page.content()


def _shoot_judging_tabs(page) -> None:
    """Compare's judging parts for the default models, out of fold: each tab drawn, no exception."""
    tabs = page.locator('[data-testid="stTabs"]').filter(has=page.get_by_role("tab", name="Decision curves"))
    tabs.first.wait_for(timeout=120_000)
    for name, must in (("Slices", '[data-testid="stDataFrame"]'), ("Disagreements", "text=Films a model is confidently wrong on"),
                       ("Operating points", "text=other folds"), ("Decision curves", ".js-plotly-plot"),
                       ("Recalibration", "text=No recalibration in this session")):
        page.get_by_role("tab", name=name).click()
        tabs.first.locator(f'[role="tabpanel"]:visible >> {must}').first.wait_for(timeout=60_000)
        settle(page)
        _no_exception(page)
        tabs.first.screenshot(path=str(SHOTS / f"compare_{name.lower().replace(' ', '_')}.png"))
    button = page.get_by_role("button", name="Download report (HTML)")  # the report: built when clicked, one self-contained file
    with page.expect_download(timeout=120_000) as download:
        button.click()
    html = Path(download.value.path()).read_text()
    assert html.startswith("<!DOCTYPE html>") and "Plotly" in html and str(REPO) not in html


def _one_table_row_per_model(page, models) -> None:
    """One comparison table on the page, with a row for each model (and its conformal set at 90 %)."""
    table = page.locator('[data-testid="stDataFrame"]').filter(has_text="set at 90%")
    assert table.count() == 1
    for name in models:
        assert table.filter(has_text=name).count() == 1


def _details(page):
    """Each model's detail expander (keyed `<page>_detail_<model>`, so Streamlit gives it an
    `st-key-…` class), drawn collapsed."""
    return page.locator('[class*="st-key-"][class*="_detail_"]')


def _viewer(page):
    return page.locator('[data-testid="stVerticalBlock"]').filter(has_text="The mammogram, with any model").filter(has=page.locator(".js-plotly-plot")).last


def _open_layer_list(page):
    """Open the viewer's layer combobox; a click that lands while the page reruns only focuses it."""
    combo = page.locator('input[aria-label="Map layer"]').first
    options = page.locator('[role="option"]')
    for _ in range(4):
        combo.click()
        try:
            options.first.wait_for(timeout=2_000)
            return options
        except Exception:  # noqa: BLE001 - focused but not opened: click again
            page.keyboard.press("Escape")
    raise AssertionError("the layer list did not open")


def _pick_layer(page, index: int | None = None, text: str | None = None) -> str:
    """Pick a layer in the one viewer (by position, or by typing a piece of its label into the
    combobox, which filters the virtualised list); returns its label."""
    options = _open_layer_list(page)
    if text is not None:
        page.keyboard.type(text)
        option = options.filter(has_text=text).first
    else:
        option = options.nth(index)
    label = option.inner_text()
    option.click()
    settle(page, 300)
    _no_exception(page)
    return label


def _shoot_map_layers(page) -> None:
    """Explore: the one viewer with its default layer, then other layers of other models
    (patch scores, segmentation with its outline, Grad-CAM) and one computed when picked."""
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": 1800})
    viewer = _viewer(page)
    viewer.wait_for(timeout=300_000)
    viewer.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(800)
    viewer.screenshot(path=str(SHOTS / "explore_layer_1.png"))
    n = _open_layer_list(page).count()
    page.keyboard.press("Escape")
    # every model's maps in one picker (the list is virtualised: only the rendered rows count here;
    # test_pages checks the full list)
    assert n >= min(len(_default_models()) + 1, 10), n
    for shot, i in enumerate(sorted({1, n // 3, n // 2}), start=2):
        _pick_layer(page, i)
        viewer.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(800)
        viewer.screenshot(path=str(SHOTS / f"explore_layer_{shot}.png"))
    page.set_viewport_size({"width": width, "height": 1000})


def test_every_page_and_upload(browser, app_url):
    from core.datasets import load_dataset

    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = ctx.new_page()
    has_models = bool(_live_models())
    for path, title, shot, must in PAGES:
        page.goto(f"{app_url}/{path}")
        page.get_by_role("heading", name=title).first.wait_for(timeout=120_000)
        if has_models:
            page.locator(must).first.wait_for(timeout=300_000)
        settle(page)
        _no_exception(page)
        _shoot(page, shot)
        if path == "explore" and has_models:
            _shoot_map_layers(page)
        if path == "compare" and has_models:
            _shoot_judging_tabs(page)
        if path == "model_cards" and has_models:
            page.get_by_role("tab", name="Training curves").click()
            page.wait_for_timeout(1500)
            _no_exception(page)
            _shoot(page, "model_cards_training")

    # upload a real sample DICOM: one decision and one map-layer selector per model
    dicom = Path(load_dataset("sample")[0].path)
    page.goto(f"{app_url}/upload")
    page.get_by_role("heading", name="Upload a mammogram").first.wait_for(timeout=60_000)
    page.locator('input[type="file"]').set_input_files(str(dicom))
    models = _default_models()
    if models:
        page.get_by_role("heading", name="The mammogram, with any model").first.wait_for(timeout=300_000)
        settle(page, 300)
        _no_exception(page)
        # one comparison table, one row a model, with the conformal set; one viewer; each model's detail collapsed
        _one_table_row_per_model(page, models)
        assert page.locator('[data-testid="stSelectbox"]').filter(has_text="Map layer").count() == 1
        assert _details(page).count() >= len(models)
        assert page.locator('[data-testid="stImage"]:not([data-testid="stExpander"] *)').count() <= 1  # no mammogram per model (inputs sit in the detail expanders)
        _shoot(page, "upload_dicom_table")
        # a conformal "uncertain" reading: a set with both classes in the table, said on that model's detail
        # label; the detail is drawn when opened (a rerun from the session's runs), with the warning in it
        uncertain = page.locator('[data-testid="stExpander"]').filter(has_text="· uncertain at 90%")
        assert uncertain.count() >= 1, "no model is uncertain on this sample at 90 %"
        assert uncertain.first.locator('[data-testid="stMetric"]').count() == 0, "a collapsed detail is not drawn"
        uncertain.first.locator("summary").click()
        uncertain.first.get_by_text("Uncertain at 90% coverage: both").wait_for(timeout=60_000)
        settle(page, 300)
        _no_exception(page)
        uncertain.first.screenshot(path=str(SHOTS / "upload_uncertain_detail.png"))
        # switch the viewer's layer (a layer computed when picked, a backward pass under a spinner, is
        # tests/test_browser_load.py's, under load)
        first = _pick_layer(page, 2)
        page.wait_for_timeout(500)
        assert "layer=" in page.url
        _viewer(page).screenshot(path=str(SHOTS / "upload_layer_switched.png"))
        assert first != _pick_layer(page, 1)
        assert page.get_by_text("De-identified metadata").count() == 1
    _shoot(page, "upload_dicom")

    # the sample's four-view study: the views in order, per view, then per breast and bilateral readings;
    # with the study models and one other (a link's `models=`), as each model runs on all four views
    # (tests/test_study_pages.py checks the study's figures)
    study_models = [c["name"] for c in _live_cards() if c.get("kind") == "study" and c["name"] in models]
    page.goto(f"{app_url}/upload" + (f"?models={','.join(study_models + [n for n in models if n not in study_models][:1])}" if models else ""))
    page.get_by_role("heading", name="Upload a mammogram").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Try a sample four-view study").click()
    if models:
        page.get_by_role("heading", name="Per breast, and each breast against the other").first.wait_for(timeout=300_000)
        settle(page, 300)
        _no_exception(page)
        captions = [page.get_by_text(f"{slot} · ").first for slot in ("R-CC", "L-CC", "R-MLO", "L-MLO")]
        xs = [c.bounding_box()["x"] for c in captions]
        assert xs == sorted(xs), xs  # the views side by side in conventional order
        breast = page.locator('[data-testid="stDataFrame"]').filter(has_text="both breasts")
        if study_models:
            assert breast.count() == 1
            for name in study_models:
                assert breast.filter(has_text=name).count() == 1
        _shoot(page, "upload_study")

    # a corrupt file: a friendly message, no traceback
    page.goto(f"{app_url}/upload")
    page.get_by_role("heading", name="Upload a mammogram").first.wait_for(timeout=60_000)
    page.locator('input[type="file"]').set_input_files({"name": "broken.dcm", "mimeType": "application/dicom", "buffer": b"DICM? no, just some bytes" * 20})
    page.get_by_text("could not be read as a mammogram").first.wait_for(timeout=120_000)
    settle(page)
    _no_exception(page)
    _shoot(page, "upload_corrupt")
    ctx.close()


def _luminance(png: bytes) -> float:
    import io

    import numpy as np
    from PIL import Image

    return float(np.asarray(Image.open(io.BytesIO(png)).convert("L"), np.float32).mean())


def _zoom_range(chart) -> float:
    """Width of the x range the zoomable mammogram shows now (plotly's own layout state)."""
    return float(chart.evaluate("g => { const r = g._fullLayout.xaxis.range; return r[1] - r[0]; }"))


def test_shared_link_zoom_dark_theme_and_two_sessions(browser, app_url):
    """A colleague's link opens the same view (dark theme, charts dark too); the mammogram zooms
    at original resolution; a second, concurrent session sees nothing of the first one's upload."""
    from core.datasets import load_dataset

    models = _live_models()
    if not models:
        pytest.skip("no live model: the viewer needs a prediction")
    ids = [r.image_id for r in load_dataset("sample")]
    dark = browser.new_context(viewport={"width": 1440, "height": 1000}, color_scheme="dark")
    a = dark.new_page()
    a.goto(f"{app_url}/explore?dataset=sample&image={ids[1]}&models={models[0]}")
    a.get_by_role("heading", name="The mammogram, with any model").first.wait_for(timeout=300_000)
    settle(a, 300)
    _no_exception(a)
    assert a.locator('[data-testid="stMarkdown"]').filter(has_text=ids[1]).count() >= 1  # the linked image is the analysed one
    assert f"image={ids[1]}" in a.url and f"models={models[0]}" in a.url
    assert _details(a).count() == 1  # the link's model only
    assert _luminance(a.screenshot()) < 90  # the dark theme
    chart = a.locator('[data-testid="stPlotlyChart"]').last.locator(".js-plotly-plot").first
    chart.scroll_into_view_if_needed()
    a.wait_for_timeout(800)
    before = _zoom_range(chart)
    box = chart.bounding_box()
    a.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(6):
        a.mouse.wheel(0, -240)
        a.wait_for_timeout(150)
    a.wait_for_timeout(800)
    after = _zoom_range(chart)
    assert after < 0.8 * before, (before, after)  # zoomed in
    chart.screenshot(path=str(SHOTS / "explore_zoomed_dark.png"))
    _shoot(a, "explore_shared_link_dark")

    # Compare in the dark: its charts follow the theme (no white plot on a dark page)
    a.goto(f"{app_url}/compare?task=stage1")
    a.locator(".js-plotly-plot").first.wait_for(timeout=300_000)
    settle(a)
    _no_exception(a)
    assert "task=stage1" in a.url
    roc = a.locator('[data-testid="stPlotlyChart"]').filter(has=a.locator(".js-plotly-plot")).first
    assert _luminance(roc.screenshot()) < 110
    _shoot(a, "compare_dark")

    # two concurrent sessions: A uploads, B (another visitor) sees an empty Upload page
    light = browser.new_context(viewport={"width": 1440, "height": 1000})
    b = light.new_page()
    a.goto(f"{app_url}/upload?models={models[0]}")
    a.get_by_role("heading", name="Upload a mammogram").first.wait_for(timeout=60_000)
    a.locator('input[type="file"]').set_input_files(str(Path(load_dataset("sample")[2].path)))
    b.goto(f"{app_url}/upload")
    b.get_by_role("heading", name="Upload a mammogram").first.wait_for(timeout=60_000)
    a.get_by_role("heading", name="The mammogram, with any model").first.wait_for(timeout=300_000)
    settle(a, 300)
    settle(b)
    _no_exception(a)
    _no_exception(b)
    assert _details(a).count() == 1
    assert _details(b).count() == 0
    assert b.get_by_text("Drop a mammogram above").count() == 1
    _shoot(a, "upload_session_a_dark")
    _shoot(b, "upload_session_b")
    # B tries the sample button: its own result, A's stays A's
    b.get_by_role("button", name="Try a sample image").click()
    b.get_by_role("heading", name="The mammogram, with any model").first.wait_for(timeout=300_000)
    settle(b, 300)
    _no_exception(b)
    assert "dataset=sample" in b.url
    _shoot(b, "upload_sample_button")
    dark.close()
    light.close()
