"""Every URL runs streamlit_app.py and its `st.navigation`, also as a fresh server's first
request, with nothing in Streamlit replaced (`ui/entry_navigation.py` says why it is needed).

Streamlit 1.67 starts an app with a `pages/` folder in its legacy pages-folder mode: a first
request for `/upload` would run pages/upload.py alone under an automatic menu of file names.
`AppTest` starts every run in that mode, so the AppTest check below goes through the same
hand-over as a fresh server's first request. The browser check is tests/test_direct_links.py:
it opens a freshly started server at each page's URL and watches every change of the page
(`PROBE` here) for the file-name menu.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "streamlit_app.py")
HEADINGS = {"pages/overview.py": "Mammography AI workbench", "pages/upload.py": "Upload a mammogram or a study",
            "pages/model_cards.py": "Model cards"}
# notes when the app's own menu, Streamlit's file-name menu ("streamlit app, compare, ...") and
# the page's heading are first in the page, from before the page's own scripts run
PROBE = """
(() => {
  const t = {};
  const seen = (k) => { if (!(k in t)) t[k] = performance.now() / 1000; };
  new MutationObserver(() => {
    const nav = document.querySelector('[data-testid="stSidebarNav"]');
    const menu = nav ? nav.innerText.toLowerCase() : '';
    if (menu.includes('streamlit app') || menu.includes('model_cards')) seen('file_menu');
    if (menu.includes('upload a mammogram') && menu.includes('model cards')) seen('app_nav');
    for (const h of document.querySelectorAll('h1')) { if (h.innerText.trim() === window.__heading) seen('heading'); }
  }).observe(document, {subtree: true, childList: true, characterData: true});
  window.__seen = t;
})();
"""


def test_nothing_in_streamlit_is_replaced():
    """The app reads and writes none of Streamlit's internals for its navigation."""
    sources = [REPO / "streamlit_app.py", *sorted((REPO / "pages").glob("*.py")), *sorted((REPO / "ui").glob("*.py"))]
    for path in sources:
        text = path.read_text()
        for internal in ("PagesManager", "uses_pages_directory", "_mpa_v1", "script_runner", "scriptrunner._"):
            assert internal not in text, f"{path.relative_to(REPO)} uses {internal}"
    assert (REPO / "pages").is_dir()  # the layout keeps its pages/ folder


@pytest.mark.parametrize("page", sorted(HEADINGS))
def test_each_page_runs_inside_the_entry_script(page):
    """AppTest runs each page in the legacy mode (as a fresh server's first request does): the
    page hands over to streamlit_app.py, so it has the app's title and sidebar, once."""
    from streamlit.testing.v1 import AppTest
    from streamlit.runtime.scriptrunner import script_runner

    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["chosen_models"] = []
    at.run()
    if page != "pages/overview.py":
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [HEADINGS[page]]  # once (a page drawn twice would also repeat its widget keys)
    assert [m.label for m in at.sidebar.multiselect] == ["Models for live predictions"]
    assert script_runner._mpa_v1.__module__ == "streamlit.runtime.scriptrunner.script_runner"  # Streamlit's own
