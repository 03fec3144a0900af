"""Direct links on a freshly started server, in a real (headless) Chromium.

Each page's URL is the very first request a new `streamlit run streamlit_app.py` server
gets: it must show the real app (our sidebar with the data folder and the model picker,
our navigation) and never Streamlit's automatic pages/ menu, not even for a moment (a probe
watches every change of the page, tests/test_entry_navigation.py says why). On the Upload page a hostile
DICOM (identifiers planted in its header, an identifying markdown file name) is uploaded
through the browser: neither the page nor the server log may show a planted value.
Skipped with a reason when Playwright or Debian's chromium is missing.
"""

from __future__ import annotations

import json

import pytest

from browser_kit import REPO, SHOTS, settle, streamlit_server
from test_browser import _no_exception
from test_entry_navigation import PROBE
from test_privacy import MARK, _dicom, _dicom_bytes

PAGES = [("", "Mammography AI workbench"), ("upload", "Upload a mammogram or a study"), ("explore", "Explore the data"),
         ("compare", "Compare models"), ("model_cards", "Model cards")]


def _real_app(page, title: str) -> None:
    """The page's heading, inside the real app: our sidebar and our navigation."""
    page.get_by_role("heading", name=title).first.wait_for(timeout=180_000)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Models for live predictions").first.wait_for(timeout=60_000)
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Model cards" in nav and "Upload a mammogram" in nav, nav
    assert "streamlit app" not in nav.lower() and "model_cards" not in nav, nav  # the automatic pages/ menu


@pytest.mark.parametrize(("path", "title"), PAGES)
def test_direct_link_on_a_fresh_server(browser, tmp_path, path, title):
    SHOTS.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path / "server.log"
    data_root = tmp_path / "ZQX-start-up-root"
    data_root.mkdir()
    with streamlit_server(log_path, "--data", str(data_root)) as url:
        ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
        ctx.add_init_script(f"window.__heading = {json.dumps(title)};" + PROBE)
        page = ctx.new_page()
        page.goto(f"{url}/{path}")
        _real_app(page, title)
        settle(page, 300)
        _no_exception(page)
        seen = page.evaluate("() => window.__seen")
        assert "app_nav" in seen and "heading" in seen, seen
        assert "file_menu" not in seen, f"Streamlit's file-name menu was shown {seen['file_menu']:.2f} s after opening"
        assert str(data_root) not in page.content()
        page.screenshot(path=str(SHOTS / f"direct_{path or 'overview'}.png"))
        if path == "upload":
            name = "**ZQX Jane Doe** [ZQXlink](http:zqx.example) 19070707.dcm"
            page.locator('input[type="file"]').set_input_files(
                {"name": name, "mimeType": "application/dicom", "buffer": _dicom_bytes(_dicom(RescaleSlope="1.000000000011", RescaleIntercept="0"), {b"1.000000000011": b"ZQXSLOPE987654"})})
            page.get_by_text("could not be read as a mammogram").first.wait_for(timeout=120_000)
            settle(page)
            _no_exception(page)
            # the uploader's own chip shows the user's file name in the user's browser (client-side);
            # everything the app draws must not
            html = page.evaluate("""() => { const b = document.body.cloneNode(true);
                b.querySelectorAll('[data-testid="stFileUploader"]').forEach(e => e.remove());
                return b.innerHTML + b.innerText; }""")
            assert "RescaleSlope" in html and MARK not in html.lower() and "19070707" not in html
            page.screenshot(path=str(SHOTS / "direct_upload_hostile.png"))
        ctx.close()
    log = log_path.read_text()
    assert "Traceback" not in log and MARK not in log.lower() and "19070707" not in log, log[-3000:]
    for noise in ("oneDNN", "cuInit", "cuda", "absl", "Warning", "WARNING", str(REPO)):  # models loaded quietly
        assert noise not in log, log[-3000:]
