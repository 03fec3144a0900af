"""Under load, in a real (headless) Chromium: three visitors click "Try a sample image" at once on
a server with one model-run slot (`MAMMO_RUN_SLOTS=1`). Those behind see how many are ahead
(the queue message), every one gets the table; the viewer switches its layer in a fragment
rerun (nothing outside the viewer is redrawn) and draws a layer computed when picked (a
backward pass). Screenshots go to tests/screenshots/load_*.png.
"""

from __future__ import annotations

import time

import pytest

from browser_kit import SHOTS, settle, streamlit_server
from test_browser import _live_cards, _no_exception, _one_table_row_per_model, _pick_layer, _viewer

VISITORS = 3
# Records, from the moment it is installed, whether anything outside the viewer (the comparison
# table, each model's detail) was marked stale, i.e. redrawn by a run of the whole page.
WATCH_STALE = """
() => {
  window.__staleOutside = 0;
  const outside = (el) => el.querySelector && (el.querySelector('[data-testid="stDataFrame"]') || el.querySelector('[data-testid="stExpander"]'))
                          && !el.querySelector('.js-plotly-plot');
  new MutationObserver((changes) => {
    for (const c of changes) {
      if (c.target.getAttribute && c.target.getAttribute('data-stale') === 'true' && outside(c.target)) window.__staleOutside += 1;
    }
  }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['data-stale']});
}
"""


def _two_quick_classifiers() -> list[str]:
    """Two live torch classifiers with a forward Grad-CAM (quick; each lists guided
    back-propagation as computed when picked)."""
    names = [c["name"] for c in _live_cards() if c.get("kind", "classifier") in (None, "classifier") and c["name"].startswith("s1-") and "torch" in c["name"]]
    if len(names) < 2:
        pytest.skip("fewer than two live torch classifiers")
    return sorted(names)[:2]


def _traces(page) -> list[str]:
    """The viewer figure's trace types (the mammogram, then the layer's heatmap)."""
    return _viewer(page).locator(".js-plotly-plot").first.evaluate("g => g.data.map(t => t.type)")


@pytest.fixture(scope="module")
def one_slot_url():
    with streamlit_server(SHOTS / "server_load.log", env={"MAMMO_RUN_SLOTS": "1"}, healthy_within_s=60) as url:
        yield url


def test_three_visitors_at_once_queue_viewer_fragment_and_backward_map(browser, one_slot_url):
    models = _two_quick_classifiers()
    contexts = [browser.new_context(viewport={"width": 1440, "height": 1000}) for _ in range(VISITORS)]
    pages = [c.new_page() for c in contexts]
    for page in pages:
        page.goto(f"{one_slot_url}/upload?models={','.join(models)}")
    buttons = [page.get_by_role("button", name="Try a sample image") for page in pages]
    for b in buttons:
        b.wait_for(timeout=120_000)
    for b in buttons:  # at once
        b.click(no_wait_after=True)

    # the visitors behind the first one are told how many are ahead, while they wait
    seen = None
    deadline = time.time() + 120
    while seen is None and time.time() < deadline:
        for page in pages:
            if page.get_by_text("ahead of you").count():
                seen = page
                break
        else:
            time.sleep(0.05)
    assert seen is not None, "no visitor saw the queue message"
    text = seen.get_by_text("ahead of you").first.inner_text()
    assert "visitor" in text and "ahead of you" in text, text
    seen.screenshot(path=str(SHOTS / "load_queue_message.png"))

    for page in pages:  # everyone gets the table
        page.get_by_role("heading", name="The mammogram, with any model").first.wait_for(timeout=180_000)
    for page in pages:
        settle(page, 180)
        _no_exception(page)
        _one_table_row_per_model(page, models)
    a = pages[-1]
    a.screenshot(path=str(SHOTS / "load_table.png"))

    # a layer switch reruns the viewer alone: nothing outside it is marked stale
    viewer = _viewer(a)
    viewer.scroll_into_view_if_needed()
    a.evaluate(WATCH_STALE)
    first = _pick_layer(a, 1)
    assert a.evaluate("() => window.__staleOutside") == 0, "a layer switch redrew the page outside the viewer"
    assert "heatmap" in _traces(a)
    _viewer(a).screenshot(path=str(SHOTS / "load_layer_switched.png"))

    # a layer computed when picked: a backward pass (guided back-propagation: torch is imported
    # now, the graphs served the rest), under a spinner, then drawn
    later = _pick_layer(a, text="Guided backprop")
    _viewer(a).screenshot(path=str(SHOTS / "load_layer_on_demand.png"))
    assert later != first
    caption = _viewer(a).get_by_text("original resolution").first.inner_text()
    assert "sent at" not in caption and "shown at" in caption  # the display-size picture, not the original
    assert a.evaluate("() => window.__staleOutside") == 0
    assert "heatmap" in _traces(a)
    for c in contexts:
        c.close()
